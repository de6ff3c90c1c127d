"""Parse and check one experiment's payloads (local UI and simulated) into its own Parquet file."""

from pathlib import Path

import pandas as pd

from unitpsych.io import atomic_path, setup_logging, write_json
from unitpsych.responses import (
    ExperimentInfo,
    empty_responses,
    list_payload_files,
    parse_payloads,
    report_of,
)


def main(snakemake) -> None:
    """Parse every payload of the experiment; write its responses and its report."""
    log = setup_logging(snakemake.log[0])
    exp = ExperimentInfo(**snakemake.params.experiment)
    trials = pd.read_csv(Path(snakemake.input.experiment) / "trials.csv")
    kinds = {}
    for manifest in snakemake.input.simulated_participants:
        table = pd.read_csv(manifest, dtype={"participant_id": str})
        kinds.update(zip(table["participant_id"], table["kind"], strict=True))
    tables, reports = [], []
    for source in snakemake.params.sources:
        if source == "simulated":
            files = [f for d in snakemake.input.simulated for f in list_payload_files(d)]
        else:
            files = [Path(f) for f in snakemake.input.local]
        parsed = parse_payloads([(source, f) for f in files], exp, trials, snakemake.params.checks)
        for part in parsed.participations:
            part["simulated_kind"] = kinds.get(part["participant_id"], "")
        tables.append(parsed.rows)
        reports.append(report_of(source, parsed))
        log.info(
            "%s/%s: %d files, %d rows; %d participations, %d rejected files",
            exp.name,
            source,
            parsed.n_files,
            parsed.n_rows,
            len(parsed.participations),
            len(parsed.rejected),
        )
        for rej in parsed.rejected:
            log.warning("rejected %s/%s: %s", source, rej["file"], rej["reason"])
    frames = [t for t in tables if len(t)]
    responses = pd.concat(frames, ignore_index=True) if frames else empty_responses()
    with atomic_path(snakemake.output.responses) as tmp:
        responses.to_parquet(tmp, index=False)
    write_json(snakemake.output.report, {"experiment": exp.name, "reports": reports})


if __name__ == "__main__":
    main(snakemake)  # noqa: F821

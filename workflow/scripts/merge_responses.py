"""Concatenate the parsed responses; flag multi-participation; write the tables and the
accounting."""

import pandas as pd

from unitpsych.io import atomic_path, read_json, setup_logging, write_json
from unitpsych.responses import merge
from unitpsych.responses.release import release_tables


def main(snakemake) -> None:
    """Write responses.parquet, exclusions.csv, participants.csv, summary.json and the three
    release-layout CSVs (responses_{all,main,lower_quality}.csv)."""
    log = setup_logging(snakemake.log[0])
    tables = [pd.read_parquet(p) for p in snakemake.input.responses]
    reports = [rep for p in snakemake.input.reports for rep in read_json(p)["reports"]]
    responses, exclusions, participants, summary = merge(tables, reports)
    with atomic_path(snakemake.output.responses) as tmp:
        responses.to_parquet(tmp, index=False)
    for frame, path in (
        (exclusions, snakemake.output.exclusions),
        (participants, snakemake.output.participants),
    ):
        with atomic_path(path) as tmp:
            frame.to_csv(tmp, index=False)
    write_json(snakemake.output.summary, summary)
    for path, frame in zip(
        snakemake.output.released, release_tables(responses).values(), strict=True
    ):
        with atomic_path(path) as tmp:
            frame.to_csv(tmp, index=False)
    log.info("rows %s; files %s", summary["rows"], summary["files"])
    log.info("excluded participations by reason: %s", summary["excluded_participations_by_reason"])


if __name__ == "__main__":
    main(snakemake)  # noqa: F821

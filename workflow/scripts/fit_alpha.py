"""The α of one similarity backend: fitted to human responses, given in config, or none (rule
fit_alpha)."""

import logging
from pathlib import Path

import pandas as pd

from unitpsych.io import setup_logging, write_json
from unitpsych.observer import resolve_alpha

COLUMNS = [
    "source",
    "experiment",
    "task",
    "task_number",
    "trial",
    "corrected_trial_index",
    "correct",
    "kept",
    "is_demo",
    "catch_trial",
]


def main(snakemake) -> None:
    """Read only the human rows and columns needed, join them to the per-trial d, fit α."""
    setup_logging(snakemake.log[0])
    log = logging.getLogger("unitpsych")
    sources = list(snakemake.params.sources)
    responses, trials = None, {}
    if sources:
        import pyarrow.parquet as pq

        names = set(pq.read_schema(snakemake.input.responses).names)
        responses = pd.read_parquet(
            snakemake.input.responses,
            columns=[c for c in COLUMNS if c in names],
            filters=[("source", "in", sources)],
        )
        trials = {Path(p).stem: pd.read_csv(p) for p in snakemake.input.trials}
    record = resolve_alpha(
        snakemake.params.backend["name"], snakemake.params.alpha, sources, responses, trials
    )
    log.info("%s: α = %s (%s)", record["backend"], record["alpha"], record["alpha_source"])
    write_json(snakemake.output.json, record)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821

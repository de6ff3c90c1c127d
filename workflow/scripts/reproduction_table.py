"""Our scores from the released IMI responses next to the paper's (rule reproduction_table)."""

import logging

import pandas as pd

from unitpsych.analysis import Settings, reproduction_table
from unitpsych.io import atomic_path, setup_logging


def main(snakemake) -> None:
    """Read responses.parquet and resources/paper_scores.csv; write reproduction.csv."""
    setup_logging(snakemake.log[0])
    p = snakemake.params
    table = reproduction_table(
        pd.read_parquet(snakemake.input.responses),
        pd.read_csv(snakemake.input.paper),
        p.experiments,
        p.models,
        Settings.from_config(p.analysis, p.seed),
    )
    with atomic_path(snakemake.output.csv) as tmp:
        table.to_csv(tmp, index=False)
    compared = table.dropna(subset=["score"])
    logging.getLogger("unitpsych").info(
        "reproduction: %d published scores, %d with released responses; largest |difference| %s",
        len(table),
        len(compared),
        f"{compared['difference'].abs().max():.4f}" if len(compared) else "-",
    )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821

"""Spearman correlations of unit scores with unit statistics and the MIS (rule baselines_table)."""

import logging

import pandas as pd

from unitpsych.analysis import baseline_correlations
from unitpsych.io import atomic_path, setup_logging


def main(snakemake) -> None:
    """Read the unit scores, unit statistics and MIS tables; write baselines.csv."""
    setup_logging(snakemake.log[0])
    p = snakemake.params
    unit_scores = pd.read_csv(snakemake.input.unit_scores)
    statistics = {
        m: pd.read_csv(f)
        for m, f in zip(p.statistics_models, snakemake.input.statistics, strict=True)
    }
    mis = {m: None for m in p.models}
    mis |= {m: pd.read_csv(f) for m, f in zip(p.mis_models, snakemake.input.mis, strict=True)}
    table = baseline_correlations(unit_scores, statistics, mis)
    with atomic_path(snakemake.output.csv) as tmp:
        table.to_csv(tmp, index=False)
    logging.getLogger("unitpsych").info("baselines: %d rows", len(table))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821

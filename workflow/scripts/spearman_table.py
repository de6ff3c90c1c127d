"""Spearman correlations: layer depth, natural vs synthetic, unit statistics, MIS (rule spearman_table)."""

import logging

import pandas as pd

from unitpsych import stats
from unitpsych.io import atomic_path, setup_logging


def main(snakemake) -> None:
    """Read the unit and layer scores, unit statistics and MIS tables; write spearman.csv."""
    setup_logging(snakemake.log[0])
    p = snakemake.params
    unit_scores = pd.read_csv(snakemake.input.unit_scores)
    layer_scores = pd.read_csv(snakemake.input.layer_scores)
    statistics = {
        m: pd.read_csv(f) for m, f in zip(p.statistics_models, snakemake.input.statistics, strict=True)
    }
    mis = {m: None for m in p.models}
    mis |= {m: pd.read_csv(f) for m, f in zip(p.mis_models, snakemake.input.mis, strict=True)}
    table = stats.spearman_table(unit_scores, layer_scores, statistics, mis)
    with atomic_path(snakemake.output.csv) as tmp:
        table.to_csv(tmp, index=False)
    logging.getLogger("unitpsych").info("spearman: %d rows", len(table))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821

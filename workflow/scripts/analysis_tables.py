"""Every score table, the tests across models and the scale regression (rule analysis_tables)."""

import logging

import pandas as pd

from unitpsych.analysis import Settings, score_tables
from unitpsych.io import atomic_path, setup_logging
from unitpsych.models.card import extend_model_table, model_cards_by_name


def main(snakemake) -> None:
    """Read responses.parquet and the models' units.csv, write the tables of unitpsych.analysis."""
    setup_logging(snakemake.log[0])
    log = logging.getLogger("unitpsych")
    p = snakemake.params
    settings = Settings.from_config(p.analysis, p.seed)
    responses = pd.read_parquet(snakemake.input.responses)
    units = {m: pd.read_csv(f) for m, f in zip(p.unit_models, snakemake.input.units, strict=True)}
    tables = score_tables(
        responses,
        p.experiments,
        p.models,
        settings,
        units=units,
        model_table=extend_model_table(
            pd.read_csv(snakemake.input.models),
            p.models,
            model_cards_by_name(getattr(snakemake.input, "model_cards", [])),
        ),
    )
    for name, table in tables.items():
        with atomic_path(snakemake.output[name]) as tmp:
            table.to_csv(tmp, index=False)
        log.info("%s: %d rows", name, len(table))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821

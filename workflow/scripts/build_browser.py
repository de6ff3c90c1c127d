"""Build the unit browser: the models page, a page per model and per shown unit (rule
build_browser)."""

import json
from pathlib import Path

import pandas as pd

from unitpsych.browser import Settings, build_site
from unitpsych.figures import model_properties
from unitpsych.io import log_stream, setup_logging


def main(snakemake) -> None:
    """Read the config slices, look up each model's reported top-1, build the site."""
    log = setup_logging(snakemake.log[0])
    models = snakemake.params.models
    props = model_properties(models, pd.read_csv(snakemake.input.models_table)).set_index("model")
    info = {
        name: dict(cfg, reported_accuracy=props.loc[name, "top1_accuracy"])
        for name, cfg in models.items()
    }
    settings = Settings.from_config(snakemake.params.browser, snakemake.params.exemplars)
    results = str(Path(snakemake.input.image_index).parents[1])  # <results>/images/index.csv
    with log_stream(snakemake.log[0]) as stream:
        summary = build_site(
            results,
            snakemake.output.index,
            info,
            dict(snakemake.params.experiments),
            snakemake.params.image_root,
            settings,
            stream,
        )
    log.info("browser built: %s", json.dumps(summary))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821

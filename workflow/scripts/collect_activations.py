"""Cache every sampled unit's activation over the image set in one pass (rule
collect_activations)."""

import pandas as pd

from unitpsych.activations import ImagePass, collect_activations
from unitpsych.images import loader_workers
from unitpsych.io import log_stream, setup_logging
from unitpsych.models import load_job_model
from unitpsych.units import read_units


def main(snakemake) -> None:
    """Load the model, run the images through it once, write activations.h5 and the unreadable
    list."""
    log = setup_logging(snakemake.log[0])
    cfg, images = snakemake.params.model, snakemake.params.images
    units = read_units(snakemake.input.units)  # inputs before the model: bad ones fail fast
    table = pd.read_csv(snakemake.input.images, keep_default_na=False)
    model = load_job_model(cfg, snakemake.threads, snakemake.params.seed)
    speed = snakemake.config["images"]  # worker count and block size: speed only, not params
    image_pass = ImagePass(
        batch_size=cfg.get("batch_size") or images["batch_size"],
        num_workers=loader_workers(speed, snakemake.threads),
        block_size=speed["block_size"],
    )
    log.info(
        "%s on %s: %d units, %d images, %d workers",
        cfg["name"],
        model.device,
        len(units),
        len(table),
        image_pass.num_workers,
    )
    with log_stream(snakemake.log[0]) as progress:
        result = collect_activations(
            model,
            units,
            images["root"],
            list(table["path"]),
            snakemake.output.h5,
            snakemake.output.unreadable,
            image_pass,
            progress=progress,
        )
    log.info("cached %d images (%d unreadable)", result.n_images, result.n_unreadable)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821

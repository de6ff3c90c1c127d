"""Pixel sparsity, channel sparsity and local contrast per sampled unit (rule unit_statistics)."""

from dataclasses import replace

import pandas as pd

from unitpsych.activations import DEFAULT_PASS
from unitpsych.analysis import compute_unit_statistics, select_images
from unitpsych.images import index_images, loader_workers
from unitpsych.io import log_stream, setup_logging
from unitpsych.models import load_job_model
from unitpsych.units import read_units


def main(snakemake) -> None:
    """Load the model, run the image set through it once, write unit_statistics.csv."""
    log = setup_logging(snakemake.log[0])
    cfg, images = snakemake.params.model, snakemake.params.images
    units = read_units(snakemake.input.units)  # inputs before the model: bad ones fail fast
    index = list(snakemake.input.images)  # the activation image set's index, or none
    if index:
        paths = list(pd.read_csv(index[0], keep_default_na=False)["path"])
    else:
        paths = list(
            index_images(images["root"], images.get("list"), tuple(images["extensions"]))["path"]
        )
    paths = select_images(paths, images.get("n_images"))
    model = load_job_model(cfg, snakemake.threads, snakemake.params.seed)
    workers = loader_workers(snakemake.config["images"], snakemake.threads)  # speed only
    image_pass = replace(DEFAULT_PASS, batch_size=images["batch_size"], num_workers=workers)
    log.info(
        "%s on %s: %d units, %d images from %s",
        cfg["name"],
        model.device,
        len(units),
        len(paths),
        images["root"],
    )
    with log_stream(snakemake.log[0]) as progress:
        table = compute_unit_statistics(
            model,
            units,
            images["root"],
            paths,
            snakemake.output.csv,
            image_pass,
            progress=progress,
        )
    log.info("unit statistics of %d units:\n%s", len(table), table.describe().to_string())


if __name__ == "__main__":
    main(snakemake)  # noqa: F821

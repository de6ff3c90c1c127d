"""Embed every image of the image set once with the observer's similarity backend (rule
embed_images)."""

import logging

import pandas as pd

from unitpsych.activations import ImagePass
from unitpsych.images import loader_workers
from unitpsych.io import log_stream, setup_logging
from unitpsych.models import job_device
from unitpsych.observer import embed_image_set, load_backend


def main(snakemake) -> None:
    """Load the backend, embed the image set block by block (resumable), write embeddings.h5."""
    setup_logging(snakemake.log[0])
    log = logging.getLogger("unitpsych")
    backend_cfg, images, cut = (
        snakemake.params.backend,
        snakemake.params.images,
        snakemake.params.exemplars,
    )
    device = job_device(snakemake.threads)
    backend = load_backend(backend_cfg["name"], device=device, weights=backend_cfg["weights"])
    paths = list(pd.read_csv(snakemake.input.images, keep_default_na=False)["path"])
    speed = snakemake.config["images"]  # worker count and block size: speed only, not params
    image_pass = ImagePass(
        batch_size=images["batch_size"],
        num_workers=loader_workers(speed, snakemake.threads),
        block_size=speed["block_size"],
    )
    log.info(
        "%s on %s: %d images, %d workers",
        backend_cfg["name"],
        device,
        len(paths),
        image_pass.num_workers,
    )
    with log_stream(snakemake.log[0]) as progress:
        result = embed_image_set(
            backend,
            images["root"],
            paths,
            snakemake.output.h5,
            resize=cut["resize"],
            image_size=cut["image_size"],
            image_pass=image_pass,
            progress=progress,
        )
    log.info(
        "embedded %d images (%d unreadable), %d dimensions",
        result.n_images,
        result.n_unreadable,
        result.dim,
    )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821

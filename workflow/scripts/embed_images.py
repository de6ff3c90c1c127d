"""Embed every image of the image set once with the observer's similarity backend (rule embed_images)."""

import logging

import pandas as pd
import torch

from unitpsych.embeddings import embed_image_set
from unitpsych.io import log_stream, setup_logging
from unitpsych.similarity import load_backend


def main(snakemake) -> None:
    """Load the backend, embed the image set block by block (resumable), write embeddings.h5."""
    setup_logging(snakemake.log[0])
    log = logging.getLogger("unitpsych")
    backend_cfg, images, cut = (
        snakemake.params.backend,
        snakemake.params.images,
        snakemake.params.exemplars,
    )
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.set_num_threads(max(1, snakemake.threads))
    backend = load_backend(backend_cfg["name"], device=device, weights=backend_cfg["weights"])
    paths = list(pd.read_csv(snakemake.input.images, keep_default_na=False)["path"])
    speed = snakemake.config["images"]  # worker count and block size: speed only, not params
    workers = snakemake.threads if speed.get("num_workers") is None else speed["num_workers"]
    log.info("%s on %s: %d images, %d workers", backend_cfg["name"], device, len(paths), workers)
    with log_stream(snakemake.log[0]) as progress:
        result = embed_image_set(
            backend, images["root"], paths, snakemake.output.h5,
            resize=cut["resize"], image_size=cut["image_size"], batch_size=images["batch_size"],
            num_workers=workers, block_size=speed["block_size"], progress=progress,
        )  # fmt: skip
    log.info("embedded %d images (%d unreadable), %d dimensions", result.n_images,
             result.n_unreadable, result.dim)  # fmt: skip


if __name__ == "__main__":
    main(snakemake)  # noqa: F821

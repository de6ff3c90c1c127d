"""Every channel of every layer of interest: its per-image spatial mean in one pass (rule collect_channel_means)."""

import pandas as pd

from unitpsych.activations import ImagePass, bounded_block, collect_activations, slab_chunks
from unitpsych.images import loader_workers
from unitpsych.io import log_stream, setup_logging
from unitpsych.models import load_job_model
from unitpsych.units import make_unit


def main(snakemake) -> None:
    """Load the model, hook all its layers of interest, write channel_means.h5 (the activation
    cache's format with one column per channel, chunked in slabs of channels)."""
    log = setup_logging(snakemake.log[0])
    cfg, images = snakemake.params.model, snakemake.params.images
    table = pd.read_csv(snakemake.input.images, keep_default_na=False)
    model = load_job_model(cfg, snakemake.threads, snakemake.params.seed)
    sizes = model.layer_sizes()
    units = [make_unit(layer, c) for layer, size in sizes.items() for c in range(size)]
    speed = snakemake.config["images"]  # worker count and block size: speed only, not params
    image_pass = bounded_block(ImagePass(
        batch_size=cfg.get("batch_size") or images["batch_size"],
        num_workers=loader_workers(speed, snakemake.threads),
        block_size=speed["block_size"],
    ), len(units))  # fmt: skip
    log.info("%s on %s: %d layers of interest, %d channels, %d images, blocks of %d images",
             cfg["name"], model.device, len(sizes), len(units), len(table),
             image_pass.resume_block)  # fmt: skip
    with log_stream(snakemake.log[0]) as progress:
        result = collect_activations(model, units, images["root"], list(table["path"]),
                                     snakemake.output.h5, None, image_pass, progress=progress,
                                     chunk=slab_chunks(len(units)))  # fmt: skip
    log.info("cached %d channels on %d images (%d unreadable)", len(units), result.n_images,
             result.n_unreadable)  # fmt: skip


if __name__ == "__main__":
    main(snakemake)  # noqa: F821

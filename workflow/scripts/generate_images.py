"""Generate the offline demo image set (rule generate_images)."""

import logging

from unitpsych.images import generate_image_set
from unitpsych.io import atomic_dir, derive_seed, setup_logging


def main(snakemake) -> None:
    """Write the generated images into the output folder, atomically."""
    setup_logging(snakemake.log[0])
    gen = snakemake.params.images["generate"]
    seed = derive_seed(snakemake.params.seed, "images")
    with atomic_dir(snakemake.output[0]) as tmp:
        table = generate_image_set(tmp, gen["n_images"], gen["size"], gen["n_classes"], seed)
    logging.getLogger("unitpsych").info(
        "generated %d images: %s", len(table), table["source"].value_counts().to_dict()
    )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821

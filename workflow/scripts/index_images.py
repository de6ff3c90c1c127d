"""Index the image set: sorted relative paths and classes (rule index_images)."""

import logging

from unitpsych.images import index_images
from unitpsych.io import atomic_path, setup_logging


def main(snakemake) -> None:
    """Scan images.root (or read images.list) and write results/images/index.csv."""
    setup_logging(snakemake.log[0])
    images = snakemake.params.images
    if not images.get("root"):
        raise ValueError("images.root is not set in the config; point it at the image set")
    table = index_images(images["root"], images.get("list"), tuple(images["extensions"]))
    with atomic_path(snakemake.output.csv) as tmp:
        table.to_csv(tmp, index=False)
    logging.getLogger("unitpsych").info(
        "%d images in %d classes under %s", len(table), table["class"].nunique(), images["root"]
    )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821

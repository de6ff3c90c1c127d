"""List every stimulus file of a model with its checksum (rule index_stimuli)."""

import logging

from unitpsych.exemplars import stimulus_index
from unitpsych.io import atomic_path, setup_logging


def main(snakemake) -> None:
    """Write results/{model}/stimuli/index.csv."""
    setup_logging(snakemake.log[0])
    table = stimulus_index(list(snakemake.input))
    with atomic_path(snakemake.output.csv) as tmp:
        table.to_csv(tmp, index=False)
    logging.getLogger("unitpsych").info(
        "%d stimulus files of %d units", len(table), table["unit"].nunique()
    )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821

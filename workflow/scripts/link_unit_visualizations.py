"""A unit's feature visualisations, hard-linked from its group's folder into its stimulus folder
(rule link_unit_visualizations)."""

import logging

from unitpsych.io import setup_logging
from unitpsych.paths import unit_in
from unitpsych.visualizations.groups import link_unit_folder


def main(snakemake) -> None:
    """Link <group>/<unit>/* into the unit's synthetic folder."""
    setup_logging(snakemake.log[0])
    source = unit_in(str(snakemake.input.group), snakemake.wildcards.unit)
    n = link_unit_folder(source, snakemake.output.folder)
    logging.getLogger("unitpsych").info("%d files from %s", n, source)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821

"""Natural exemplars of every unit of a model at one difficulty: references and queries per batch
(rule extract_exemplars, protocol §4)."""

from unitpsych.exemplars import extract_unit_exemplars
from unitpsych.io import atomic_dir, log_stream, setup_logging
from unitpsych.paths import unit_in


def main(snakemake) -> None:
    """Select each unit's references and queries from the activation cache and save them as PNGs,
    a folder per unit."""
    log = setup_logging(snakemake.log[0])
    model, difficulty = snakemake.wildcards.model, snakemake.wildcards.difficulty
    units = list(snakemake.params.units)
    with log_stream(snakemake.log[0]) as progress, atomic_dir(snakemake.output.folder) as tmp:
        for unit in units:
            table, _ = extract_unit_exemplars(
                snakemake.input.h5,
                model,
                unit,
                difficulty,
                unit_in(str(tmp), unit),
                snakemake.params.exemplars,
                progress=progress,
            )
            log.info("%s: %d exemplars (%s)", unit, len(table), difficulty)
    log.info("saved the exemplars of %d units to %s", len(units), snakemake.output.folder)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821

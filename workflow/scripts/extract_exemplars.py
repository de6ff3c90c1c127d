"""Natural exemplars of one unit at one difficulty: references and queries per batch (protocol
§4)."""

from unitpsych.exemplars import extract_unit_exemplars
from unitpsych.io import atomic_dir, log_stream, setup_logging


def main(snakemake) -> None:
    """Select the unit's references and queries from the activation cache and save them as PNGs."""
    log = setup_logging(snakemake.log[0])
    model, unit = snakemake.wildcards.model, snakemake.wildcards.unit
    difficulty = snakemake.wildcards.difficulty
    with log_stream(snakemake.log[0]) as progress, atomic_dir(snakemake.output.folder) as tmp:
        table, _ = extract_unit_exemplars(
            snakemake.input.h5,
            model,
            unit,
            difficulty,
            tmp,
            snakemake.params.exemplars,
            progress=progress,
        )
    log.info(
        "saved %d exemplars of %s (%s) to %s", len(table), unit, difficulty, snakemake.output.folder
    )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821

"""A unit's preview sheet: natural references and queries, and its feature visualisations."""

from unitpsych.exemplars import preview_title, unit_preview_sheet
from unitpsych.io import atomic_path, setup_logging
from unitpsych.paths import unit_in


def main(snakemake) -> None:
    """Compose the sheet from the unit's natural-exemplar folders (and FV folder) and save it."""
    log = setup_logging(snakemake.log[0])
    model, unit = snakemake.wildcards.model, snakemake.wildcards.unit
    difficulties = list(snakemake.params.difficulties)
    sets = zip(difficulties, snakemake.input.natural, strict=True)
    natural = {difficulty: unit_in(str(folder), unit) for difficulty, folder in sets}
    synthetic = next(iter(snakemake.input.synthetic), None)  # only models with FVs have one
    sheet = unit_preview_sheet(natural, synthetic, preview_title(model, unit))
    with atomic_path(snakemake.output.png) as tmp:
        sheet.save(tmp, format="PNG")
    log.info("preview of %s: %dx%d px", unit, *sheet.size)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821

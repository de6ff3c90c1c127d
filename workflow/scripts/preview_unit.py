"""A unit's preview sheet: natural references and queries, and its feature visualisations."""

from pathlib import Path

from unitpsych.exemplars import unit_preview_sheet
from unitpsych.io import atomic_path, setup_logging
from unitpsych.units import split_unit


def main(snakemake) -> None:
    """Compose the sheet from the unit's natural-exemplar folders (and FV folder) and save it."""
    log = setup_logging(snakemake.log[0])
    model, unit = snakemake.wildcards.model, snakemake.wildcards.unit
    difficulties = list(snakemake.params.difficulties)
    folders = list(snakemake.input.natural)
    if len(folders) != len(difficulties):
        raise ValueError(f"{len(folders)} natural folders for difficulties {difficulties}")
    synthetic = None
    given = list(getattr(snakemake.input, "synthetic", []) or [])
    if given:
        synthetic = Path(given[0])
        synthetic = synthetic.parent if synthetic.is_file() else synthetic
    layer, channel = split_unit(unit)
    title = f"{model} · unit {unit} (layer {layer}, channel {channel})"
    sheet = unit_preview_sheet(dict(zip(difficulties, folders, strict=True)), synthetic, title)
    with atomic_path(snakemake.output.png) as tmp:
        sheet.save(tmp, format="PNG")
    log.info("preview of %s: %dx%d px", unit, *sheet.size)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821

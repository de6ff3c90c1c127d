"""A unit's preview sheet: its natural references and queries and its feature visualisations.

A per-unit view of the stimuli (it reads exemplars.csv and fv.json), one tiny job per unit.
Composing thumbnails with Pillow takes a fraction of the time a Matplotlib figure with dozens of
axes would; the analysis figures live elsewhere.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
from PIL import Image

from unitpsych.exemplars.natural import exemplar_path, read_exemplars
from unitpsych.paths import SIDES, stimulus_file
from unitpsych.units.sampling import split_unit
from unitpsych.visualizations.featureviz import read_fv

log = logging.getLogger("unitpsych.preview")

THUMB = 112
GAP = 6
CAPTION = 16
ROW_TITLE = 22


def _font(size: int):
    """DejaVu Sans (shipped with Matplotlib) at `size` px, or Pillow's default font."""
    from PIL import ImageFont

    try:
        import matplotlib.font_manager as fm

        return ImageFont.truetype(fm.findfont("DejaVu Sans"), size)
    except Exception:  # noqa: BLE001 - any font problem falls back to the built-in font
        return ImageFont.load_default(size)


def _fmt(value: float) -> str:
    """An activation in four significant digits."""
    return f"{value:.4g}"


def unit_preview_sheet(
    natural: dict[str, str | Path],
    synthetic: str | Path | None = None,
    title: str = "",
    batch: int = 0,
) -> Image.Image:
    """One image to eyeball a unit: natural batch `batch` and both FV rows, activations underneath.

    Columns, from the left: the min references (most extreme first), the min and max queries, the
    max references (most extreme last). Rows: the first difficulty in `natural` (easy) with its
    references; every further difficulty's queries; the feature visualisations (min_8 ... min_0 |
    max_0 ... max_8) with α and success when `synthetic` (a folder with fv.json) is given.
    """
    from PIL import ImageDraw

    if not natural:
        raise ValueError("the preview sheet needs at least one natural-exemplar folder")
    tables = {d: read_exemplars(folder) for d, folder in natural.items()}
    first = next(iter(natural))
    main = tables[first]
    n_refs = int(main["index"].max())
    if batch not in set(main["batch"]):
        raise ValueError(f"batch {batch} is not among the batches 0..{main['batch'].max()}")
    n_cols = 2 * n_refs + 2
    sep = 3 * GAP  # extra space around the query columns
    width = GAP + n_cols * (THUMB + GAP) + 2 * sep
    cell_h = THUMB + CAPTION
    fv = read_fv(synthetic) if synthetic is not None else None
    n_rows = len(tables) + (fv is not None)
    header = 46
    height = header + n_rows * (ROW_TITLE + cell_h + GAP) + GAP
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    font, small, big = _font(13), _font(11), _font(17)
    draw.text((GAP, 6), title, fill="black", font=big)
    all_values = pd.concat(tables.values())["activation"]
    draw.text(
        (GAP, 27),
        f"dataset range of the unit's activation: {_fmt(all_values.min())} … "
        f"{_fmt(all_values.max())}"
        f" · batch {batch} · min references (most extreme at the left) | queries | max references "
        "(most extreme at the right)",
        fill="dimgray",
        font=small,
    )

    def x_of(col: int) -> int:
        shift = sep if col >= n_refs else 0
        shift += sep if col >= n_refs + 2 else 0
        return GAP + col * (THUMB + GAP) + shift

    def paste(path: Path, col: int, y: int, caption: str, colour: str = "black") -> None:
        with Image.open(path) as img:
            sheet.paste(
                img.convert("RGB").resize((THUMB, THUMB), Image.Resampling.LANCZOS), (x_of(col), y)
            )
        draw.text((x_of(col) + 2, y + THUMB + 1), caption, fill=colour, font=small)

    y = header
    for row, (difficulty, table) in enumerate(tables.items()):
        part = table[table["batch"] == batch].set_index(["side", "index"])
        folder = Path(natural[difficulty])
        ranks = table[table["role"] == "query"].groupby("side")["rank"].agg(["min", "max"])
        label = (
            f"natural, {difficulty}: queries at ranks {ranks.loc['min', 'min']}–"
            f"{ranks.loc['min', 'max']} (min) and "
            f"{ranks.loc['max', 'min']}–{ranks.loc['max', 'max']}"
            " (max) of the ascending sort"
        )
        draw.text((GAP, y + 3), label, fill="black", font=font)
        y += ROW_TITLE
        if row == 0:
            for i in range(n_refs):
                for side, col in (("min", n_refs - 1 - i), ("max", n_refs + 2 + i)):
                    act = part.loc[(side, i), "activation"]
                    paste(exemplar_path(folder, batch, side, i), col, y, _fmt(act))
        for side, col, colour in (("min", n_refs, "navy"), ("max", n_refs + 1, "darkred")):
            act = part.loc[(side, n_refs), "activation"]
            paste(
                exemplar_path(folder, batch, side, n_refs), col, y, f"{side} q {_fmt(act)}", colour
            )
        y += cell_h + GAP
    if fv is not None:
        alphas = {s: "–" if (a := fv.sides[s].alpha) is None else _fmt(a) for s in SIDES}
        status = "successful" if fv.success else f"unsuccessful: {fv.reason}"
        draw.text(
            (GAP, y + 3),
            f"feature visualisations ({status}); α min = {alphas['min']}, α max = {alphas['max']}; "
            "index 8 = the strongest non-diverse image (outermost)",
            fill="black" if fv.success else "darkred",
            font=font,
        )
        y += ROW_TITLE
        for side in SIDES:
            acts = fv.sides[side].activations
            n = len(acts)
            for i, act in enumerate(acts):
                col = (n_refs - 1 - i) if side == "min" else (n_refs + 2 + i)
                if 0 <= col < n_cols and (side == "min" or col >= n_refs + 2):
                    paste(Path(stimulus_file(str(synthetic), side, i)), col, y, _fmt(act))
            if n != n_refs:
                log.warning("%d %s feature visualisations, %d reference bins", n, side, n_refs)
    return sheet


def preview_title(model: str, unit: str) -> str:
    """The sheet's title: model, unit, layer and channel."""
    layer, channel = split_unit(unit)
    return f"{model} · unit {unit} (layer {layer}, channel {channel})"

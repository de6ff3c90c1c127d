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


class _Sheet:
    """The canvas of a preview sheet: its layout (reference columns left and right of the two
    query columns), fonts, and pasting a captioned thumbnail."""

    def __init__(self, n_refs: int, n_rows: int) -> None:
        from PIL import ImageDraw

        self.n_refs = n_refs
        self.n_cols = 2 * n_refs + 2
        self.sep = 3 * GAP  # extra space around the query columns
        width = GAP + self.n_cols * (THUMB + GAP) + 2 * self.sep
        self.cell_h = THUMB + CAPTION
        self.header = 46
        height = self.header + n_rows * (ROW_TITLE + self.cell_h + GAP) + GAP
        self.image = Image.new("RGB", (width, height), "white")
        self.draw = ImageDraw.Draw(self.image)
        self.font, self.small, self.big = _font(13), _font(11), _font(17)

    def x_of(self, col: int) -> int:
        """The left edge of column `col`."""
        shift = self.sep if col >= self.n_refs else 0
        shift += self.sep if col >= self.n_refs + 2 else 0
        return GAP + col * (THUMB + GAP) + shift

    def paste(self, path: Path, col: int, y: int, caption: str, colour: str = "black") -> None:
        """The image at `path` as a thumbnail in column `col` at height `y`, captioned below."""
        with Image.open(path) as img:
            thumb = img.convert("RGB").resize((THUMB, THUMB), Image.Resampling.LANCZOS)
            self.image.paste(thumb, (self.x_of(col), y))
        self.draw.text((self.x_of(col) + 2, y + THUMB + 1), caption, fill=colour, font=self.small)


def _draw_title(sheet: _Sheet, title: str, values: pd.Series, batch: int) -> None:
    """The title and, below it, the unit's activation range and how the columns are ordered."""
    sheet.draw.text((GAP, 6), title, fill="black", font=sheet.big)
    sheet.draw.text(
        (GAP, 27),
        f"dataset range of the unit's activation: {_fmt(values.min())} … "
        f"{_fmt(values.max())}"
        f" · batch {batch} · min references (most extreme at the left) | queries | max references "
        "(most extreme at the right)",
        fill="dimgray",
        font=sheet.small,
    )


def _draw_natural_row(
    sheet: _Sheet,
    y: int,
    difficulty: str,
    table: pd.DataFrame,
    folder: Path,
    batch: int,
    refs: bool,
) -> int:
    """One difficulty's row (its queries; with `refs`, its references too); returns the next y."""
    n_refs = sheet.n_refs
    part = table[table["batch"] == batch].set_index(["side", "index"])
    ranks = table[table["role"] == "query"].groupby("side")["rank"].agg(["min", "max"])
    label = (
        f"natural, {difficulty}: queries at ranks {ranks.loc['min', 'min']}–"
        f"{ranks.loc['min', 'max']} (min) and "
        f"{ranks.loc['max', 'min']}–{ranks.loc['max', 'max']}"
        " (max) of the ascending sort"
    )
    sheet.draw.text((GAP, y + 3), label, fill="black", font=sheet.font)
    y += ROW_TITLE
    if refs:
        for i in range(n_refs):
            for side, col in (("min", n_refs - 1 - i), ("max", n_refs + 2 + i)):
                act = part.loc[(side, i), "activation"]
                sheet.paste(exemplar_path(folder, batch, side, i), col, y, _fmt(act))
    for side, col, colour in (("min", n_refs, "navy"), ("max", n_refs + 1, "darkred")):
        act = part.loc[(side, n_refs), "activation"]
        path = exemplar_path(folder, batch, side, n_refs)
        sheet.paste(path, col, y, f"{side} q {_fmt(act)}", colour)
    return y + sheet.cell_h + GAP


def _draw_fv_row(sheet: _Sheet, y: int, fv, synthetic: str | Path) -> None:
    """The feature visualisations (min_8 ... min_0 | max_0 ... max_8), with α and success."""
    n_refs = sheet.n_refs
    alphas = {s: "–" if (a := fv.sides[s].alpha) is None else _fmt(a) for s in SIDES}
    status = "successful" if fv.success else f"unsuccessful: {fv.reason}"
    sheet.draw.text(
        (GAP, y + 3),
        f"feature visualisations ({status}); α min = {alphas['min']}, α max = {alphas['max']}; "
        "index 8 = the strongest non-diverse image (outermost)",
        fill="black" if fv.success else "darkred",
        font=sheet.font,
    )
    y += ROW_TITLE
    for side in SIDES:
        acts = fv.sides[side].activations
        n = len(acts)
        for i, act in enumerate(acts):
            col = (n_refs - 1 - i) if side == "min" else (n_refs + 2 + i)
            if 0 <= col < sheet.n_cols and (side == "min" or col >= n_refs + 2):
                sheet.paste(Path(stimulus_file(str(synthetic), side, i)), col, y, _fmt(act))
        if n != n_refs:
            log.warning("%d %s feature visualisations, %d reference bins", n, side, n_refs)


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
    if not natural:
        raise ValueError("the preview sheet needs at least one natural-exemplar folder")
    tables = {d: read_exemplars(folder) for d, folder in natural.items()}
    main = tables[next(iter(natural))]
    if batch not in set(main["batch"]):
        raise ValueError(f"batch {batch} is not among the batches 0..{main['batch'].max()}")
    fv = read_fv(synthetic) if synthetic is not None else None
    sheet = _Sheet(int(main["index"].max()), len(tables) + (fv is not None))
    _draw_title(sheet, title, pd.concat(tables.values())["activation"], batch)
    y = sheet.header
    for row, (difficulty, table) in enumerate(tables.items()):
        folder = Path(natural[difficulty])
        y = _draw_natural_row(sheet, y, difficulty, table, folder, batch, refs=row == 0)
    if fv is not None:
        _draw_fv_row(sheet, y, fv, synthetic)
    return sheet.image


def preview_title(model: str, unit: str) -> str:
    """The sheet's title: model, unit, layer and channel."""
    layer, channel = split_unit(unit)
    return f"{model} · unit {unit} (layer {layer}, channel {channel})"

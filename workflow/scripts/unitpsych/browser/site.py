"""Render the browser: the models page, one page per model with its paged unit table, one page
per shown unit, thumbnails and assets, into a folder that opens from disk (no fetch of data
files: the unit table's data is a script, file:// pages may load scripts but not fetch JSON)."""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from unitpsych import paths
from unitpsych.browser.data import ModelData, extreme_units, finite, read_csv
from unitpsych.io import atomic_path
from unitpsych.units.sampling import split_unit

log = logging.getLogger("unitpsych.browser")

PACKAGE = Path(__file__).parent
STATIC = "static"
DATA_DIGITS = 4  # decimals of scores in the unit table's data


@dataclass(frozen=True)
class Settings:
    """The `browser` config slice and the exemplar crop that thumbnails repeat."""

    extremes_per_layer: int
    images_per_side: int
    thumbnail_size: int
    resize: int
    crop: int
    page_size: int

    @classmethod
    def from_config(cls, browser: Mapping, exemplars: Mapping) -> Settings:
        """Read the browser and exemplars slices of the config."""
        return cls(
            int(browser["extremes_per_layer"]),
            int(browser["images_per_side"]),
            int(browser["thumbnail_size"]),
            int(exemplars["resize"]),
            int(exemplars["image_size"]),
            int(browser["page_size"]),
        )


def environment() -> Environment:
    """The Jinja2 environment of the browser's templates (HTML autoescaped, strict)."""
    env = Environment(
        loader=FileSystemLoader(PACKAGE / "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters["num"] = fmt_number
    env.filters["pct"] = lambda v: "—" if finite(v) is None else f"{100 * float(v):.1f} %"
    return env


def fmt_number(value: Any, digits: int = 3) -> str:
    """A number with `digits` decimals, or an em dash where it is missing."""
    v = finite(value)
    return "—" if v is None else f"{v:.{digits}f}"


def write_page(path: Path, html: str) -> None:
    """Write one page atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(html, encoding="utf-8")


def rel(target: str | Path, page: str | Path) -> str:
    """`target` relative to the folder of `page` (both relative to one root), with `/`."""
    return os.path.relpath(target, Path(page).parent).replace(os.sep, "/")


def _column(values: Iterable[Any]) -> list[Any]:
    """A column of the unit table's data: rounded finite numbers, null for missing ones."""
    out = []
    for v in values:
        f = finite(v)
        out.append(None if f is None else round(f, DATA_DIGITS))
    return out


def table_data(m: ModelData, pages: Mapping[str, str]) -> dict[str, Any]:
    """The unit table of a model page as columns (compact for 40,000+ units)."""
    t = m.table
    layers = [layer["layer"] for layer in m.layers]
    index = {name: i for i, name in enumerate(layers)}
    return {
        "model": m.name,
        "layers": layers,
        "unit": t["unit"].tolist(),
        "layer": [index[x] for x in t["layer"]],
        "channel": [int(c) for c in t["channel"]],
        "score": _column(t["score"]),
        "accuracy": _column(t["accuracy"]),
        "sampled": [int(bool(s)) for s in t["sampled"]],
        "human": _column(t["human"]),
        "simulated": _column(t["simulated"]),
        "page": [pages.get(u, "") for u in t["unit"]],
    }


def write_data_script(path: Path, name: str, data: Any) -> None:
    """A data file the pages load with <script> (works from file://, unlike fetch)."""
    text = json.dumps(data, separators=(",", ":"), allow_nan=False)
    write_page(path, f"window.{name} = {text};\n")


def copy_static(site: Path) -> None:
    """The pages' CSS and JavaScript."""
    shutil.copytree(PACKAGE / STATIC, site / STATIC, dirs_exist_ok=True)


def shown_units(m: ModelData, per_layer: int) -> list[str]:
    """The units that get a page: every sampled unit, then each layer's MIS extremes."""
    chosen = m.units["unit"].tolist()
    sampled = set(chosen)
    return chosen + [u for u in extreme_units(m.table, per_layer) if u not in sampled]


def histogram_bars(counts: Sequence[int], width: int = 200, height: int = 40) -> list[dict]:
    """SVG bars of a histogram on [0, 1] (x, y, width, height), scaled to the fullest bin."""
    top = max(max(counts, default=0), 1)
    w = width / max(len(counts), 1)
    return [
        {"x": round(i * w, 2), "w": round(w - 1, 2), "h": round(height * c / top, 2), "c": c}
        for i, c in enumerate(counts)
    ]


def read_trials(results: str, experiments: Mapping[str, str], model: str) -> pd.DataFrame | None:
    """trials.csv of every experiment of a model, stacked (None without experiments)."""
    from unitpsych.ui_layout import TRIALS_TABLE

    parts = [
        read_csv(Path(paths.experiment_dir(name, results)) / TRIALS_TABLE)
        for name, owner in experiments.items()
        if owner == model
    ]
    parts = [p for p in parts if p is not None]
    return pd.concat(parts, ignore_index=True) if parts else None


def unit_label(unit: str) -> tuple[str, int]:
    """(layer, channel) of a unit name."""
    layer, channel = split_unit(unit)
    return layer, int(channel)

"""Build the whole browser: read every model, render the unit pages, the model pages and the
models page, and report what was written (pages, thumbnails, bytes)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pandas as pd
from jinja2 import Environment

from unitpsych import paths
from unitpsych.browser import units as unit_data
from unitpsych.browser.data import ModelData, ModelSummary, load_model, read_csv
from unitpsych.browser.site import (
    Settings,
    copy_static,
    environment,
    histogram_bars,
    read_trials,
    rel,
    shown_units,
    table_data,
    unit_label,
    write_data_script,
    write_page,
)
from unitpsych.browser.thumbs import Thumbnails
from unitpsych.io import atomic_dir
from unitpsych.paths import SIDES

log = logging.getLogger("unitpsych.browser")

TABLE_DATA = "units.js"  # next to a model page: its unit table (window.UNIT_DATA)
SITE_DIR = Path(paths.browser_site("")).name  # the site folder, next to index.html


@dataclass
class ModelContext:
    """What the pages of one model share while they are written."""

    m: ModelData
    results: str
    difficulties: list[str]
    trials: pd.DataFrame | None
    tasks: unit_data.TaskImages | None
    statistics: pd.DataFrame | None
    mis_tasks: pd.DataFrame | None  # the sampled units' MIS tasks (without the every-unit pass)
    results_from_site: str  # the results folder relative to the site folder (trial links)


def _thumbs(thumbs: Thumbnails, sources: Sequence[str], page: str) -> list[str]:
    """Thumbnail links (relative to `page`) of image-set images."""
    return [rel(thumbs.natural(s), page) for s in sources]


def _fv_context(fv: dict | None, thumbs: Thumbnails, key: str, page: str) -> dict | None:
    """A unit's feature visualisations with thumbnail links, or None."""
    if fv is None:
        return None
    out = dict(fv)
    for side in SIDES:
        files = fv[side]["files"]
        links = [rel(thumbs.file(f, f"fv/{key}/{side}_{i}"), page) for i, f in enumerate(files)]
        out[side] = dict(fv[side], links=links)
    return out


def _row(table: pd.DataFrame | None, unit: str) -> dict | None:
    """The row of a unit in a per-unit table, or None."""
    if table is None:
        return None
    rows = table[table["unit"] == unit]
    return rows.iloc[0].to_dict() if len(rows) else None


def unit_context(ctx: ModelContext, unit: str, thumbs: Thumbnails, settings: Settings) -> dict:
    """Everything a unit's page shows, with links relative to the page."""
    m, results, n = ctx.m, ctx.results, settings.images_per_side
    layer, channel = unit_label(unit)
    page = paths.browser_unit_page(m.name, layer, channel)
    sampled = unit in m.sampled
    extremes, queries = {}, []
    if sampled:
        extremes, queries = unit_data.natural_images(results, m.name, unit, ctx.difficulties, n)
    source = "natural exemplars (references of the experiments)"
    if not extremes and ctx.tasks is not None:
        extremes = ctx.tasks.extremes(unit, n)
        source = "images of its MIS tasks (every-unit pass), the most extreme of each task first"
    fv = unit_data.feature_visualisations(results, m.name, unit)
    return {
        "root": rel(".", page),
        "home": rel("../index.html", page),
        "model": m,
        "model_href": rel(paths.browser_model_page(m.name), page),
        "unit": unit,
        "layer": layer,
        "channel": channel,
        "sampled": sampled,
        "row": m.row(unit),
        "mis_sampled": m.mis_rows.get(unit) if sampled else None,
        "tasks": unit_data.mis_tasks(m, unit, ctx.mis_tasks),
        "extremes": {s: _thumbs(thumbs, v, page) for s, v in extremes.items()},
        "extremes_source": source,
        "queries": [
            {"difficulty": q["difficulty"]} | {s: _thumbs(thumbs, q[s], page) for s in SIDES}
            for q in queries
        ],
        "fv": _fv_context(fv, thumbs, f"{m.name}/{layer}/{channel}", page),
        "scores": m.unit_scores.get(unit, []),
        "statistics": _row(ctx.statistics, unit),
        "trials": unit_data.unit_trials(ctx.trials, unit, page, ctx.results_from_site),
    }


def model_context(
    m: ModelData,
    results: str,
    browser_dir: Path,
    difficulties: Sequence[str],
    experiments: Mapping[str, str],
) -> ModelContext:
    """Read what a model's unit pages share: trials, the every-unit tasks, unit statistics."""
    return ModelContext(
        m=m,
        results=results,
        difficulties=list(difficulties),
        trials=read_trials(results, experiments, m.name),
        tasks=unit_data.TaskImages.read(paths.mis_all_tasks(m.name, root=results)),
        statistics=read_csv(paths.unit_statistics(m.name, root=results)),
        mis_tasks=None
        if m.mis_all is not None
        else read_csv(paths.mis_tasks(m.name, root=results)),
        results_from_site=os.path.relpath(results, browser_dir / SITE_DIR),
    )


def write_model(
    env: Environment,
    ctx: ModelContext,
    site: Path,
    thumbs: Thumbnails,
    settings: Settings,
    stream: IO[str] | None = None,
) -> dict[str, str]:
    """Write a model's unit pages (a tqdm bar on `stream`, the rule's log), its page and its unit
    table's data; returns unit -> page."""
    from tqdm import tqdm

    m = ctx.m
    pages: dict[str, str] = {}
    template = env.get_template("unit.html")
    shown = shown_units(m, settings.extremes_per_layer)
    bar = tqdm(shown, file=stream, disable=stream is None, mininterval=5, desc=f"{m.name} pages")
    for unit in bar:
        page = paths.browser_unit_page(m.name, *unit_label(unit))
        write_page(site / page, template.render(**unit_context(ctx, unit, thumbs, settings)))
        pages[unit] = page
    model_page = paths.browser_model_page(m.name)
    links = {u: rel(p, model_page) for u, p in pages.items()}
    write_data_script(
        site / Path(model_page).parent / TABLE_DATA, "UNIT_DATA", table_data(m, links)
    )
    html = env.get_template("model.html").render(
        root=rel(".", model_page),
        home=rel("../index.html", model_page),
        model=m,
        layers=[dict(layer, bars=histogram_bars(layer["histogram"])) for layer in m.layers],
        n_pages=len(pages),
        n_units=len(m.table),
        page_size=settings.page_size,
        data=TABLE_DATA,
    )
    write_page(site / model_page, html)
    return pages


def build_site(
    results: str,
    index: str | Path,
    models: Mapping[str, Mapping[str, Any]],
    experiments: Mapping[str, str],
    image_root: str,
    settings: Settings,
    stream: IO[str] | None = None,
) -> dict[str, Any]:
    """Build the site: `index` (the models page) and the site folder next to it, written
    atomically; `models` maps a model to its label, scale_rank, reported_accuracy and the
    difficulties of its exemplars, `experiments` an experiment to its model."""
    index = Path(index)
    env = environment()
    unit_scores = read_csv(paths.table("unit_scores", root=results))
    model_scores = read_csv(paths.table("model_scores", root=results))
    summary: dict[str, Any] = {"models": {}}
    loaded = []
    with atomic_dir(index.parent / SITE_DIR) as site:
        copy_static(site)
        thumbs = Thumbnails(
            site, image_root, settings.resize, settings.crop, settings.thumbnail_size
        )
        for name, info in models.items():
            m = load_model(results, name, info, unit_scores, model_scores)
            ctx = model_context(m, results, index.parent, info["difficulties"], experiments)
            pages = write_model(env, ctx, site, thumbs, settings, stream)
            log.info("%s: %d unit pages of %d units", name, len(pages), len(m.table))
            summary["models"][name] = {"unit_pages": len(pages), "units": len(m.table)}
            loaded.append(ModelSummary.of(m))
        summary["thumbnails"] = len(thumbs.written)
        summary["thumbnail_bytes"] = thumbs.bytes_written()
    html = env.get_template("index.html").render(
        root=SITE_DIR,
        home=index.name,
        models=loaded,
        model_page=paths.browser_model_page,
        site=SITE_DIR,
    )
    write_page(index, html)
    return summary

"""The machine interpretability score (MIS) of a unit: N tasks sampled from its activations, scored.

Per task K+1 images are drawn from the unit's top and bottom activation quantiles; the K most
extreme are the references and the least extreme the query (Zimmermann, Klindt & Brendel, NeurIPS
2024, §3). Each task is scored by the observer's decision rule (`unitpsych.observer.scoring`) on the
image-set embeddings (`unitpsych.observer.embeddings`); MIS = mean σ(α·d) over the tasks, and mean(d
> 0)
is the α-free accuracy.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import IO, Any

import numpy as np
import pandas as pd

from unitpsych.activations.image_pass import DEFAULT_PASS, ImagePass
from unitpsych.io import derive_seed
from unitpsych.observer.embeddings import EmbeddingCache
from unitpsych.observer.mis_all_tasks import (
    CONSTANT,
    QuantileSlab,
    mis_all_subset,
    one_cpu_thread,
    set_size,
    slab_from_activations,
    stream_quantile_sets,
    write_task_file,
)
from unitpsych.observer.mis_all_tasks import excluded_reasons as unusable
from unitpsych.observer.scoring import decision_variable, p_correct, similarity_matrix

log = logging.getLogger("unitpsych.mis")


def mis_seed(seed: int, model: str, unit: str) -> int:
    """A unit's task-sampling seed: depends only on the seed, model and unit."""
    return derive_seed(seed, "mis", model, unit)


def draw_subsets(uniforms: np.ndarray, size: int) -> np.ndarray:
    """Distinct positions < `size` from uniforms (..., m) in [0, 1): Floyd's algorithm, vectorised.

    Every m-subset is equally likely; the draws of one row depend only on that row's uniforms.
    """
    m = uniforms.shape[-1]
    out = np.empty(uniforms.shape, dtype=np.int64)
    for i in range(m):
        j = size - m + i
        t = np.minimum((uniforms[..., i] * (j + 1)).astype(np.int64), j)
        taken = (out[..., :i] == t[..., None]).any(-1)
        out[..., i] = np.where(taken, j, t)
    return out


def task_uniforms(
    seed: int, model: str, units: Sequence[str], n_tasks: int, n_references: int
) -> np.ndarray:
    """The random numbers of each unit's tasks, (U, 2, N, K+1): from the unit's own seed only."""
    out = np.empty((len(units), 2, n_tasks, n_references + 1))
    for u, unit in enumerate(units):
        out[u] = np.random.default_rng(mis_seed(seed, model, unit)).random(out.shape[1:])
    return out


def quantile_size(n: int, n_references: int, quantile: float) -> int:
    """Images in a unit's top (bottom) quantile; an error when fewer than K+1."""
    size = math.ceil(n * quantile)
    if size < n_references + 1:
        raise ValueError(
            f"the {quantile} quantile of {n} images holds {size} < K+1 = {n_references + 1} images"
        )
    return size


def draw_task_rows(slab: QuantileSlab, uniforms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Image rows of every unit's tasks from its quantile sets: (top, bottom), each (U, N, K+1).

    `uniforms` (U, 2, N, K+1) from `task_uniforms` pick K+1 distinct positions per task in the
    unit's top (bottom) set; the picks are ordered most extreme first, so the K most extreme are
    the references and the least extreme the query (as the MIS reimplementation orders them).
    """
    n_units, _, n_tasks, m = uniforms.shape
    pick = draw_subsets(uniforms, slab.top.shape[1]).reshape(n_units, 2, n_tasks * m)
    sides = []
    for side, (rows, values) in enumerate(
        [(slab.top, slab.top_values), (slab.bottom, slab.bottom_values)]
    ):
        r = np.take_along_axis(rows, pick[:, side], axis=1).reshape(n_units, n_tasks, m)
        a = np.take_along_axis(values, pick[:, side], axis=1).reshape(n_units, n_tasks, m)
        order = np.argsort(-a if side == 0 else a, axis=-1, kind="stable")
        sides.append(np.take_along_axis(r, order, axis=-1))
    return sides[0], sides[1]


def sample_task_rows(
    acts: np.ndarray, uniforms: np.ndarray, quantile: float
) -> tuple[np.ndarray, np.ndarray]:
    """Image rows of every unit's tasks, from activations [n_images, U]: `draw_task_rows` on the
    top and bottom `quantile` of each column (`mis_all_tasks.slab_from_activations`)."""
    size = quantile_size(len(acts), uniforms.shape[-1] - 1, quantile)
    return draw_task_rows(slab_from_activations(acts, size), uniforms)


def sample_tasks(
    acts: np.ndarray, n_tasks: int, n_references: int, quantile: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Image rows of one unit's N tasks: (top, bottom), each (N, K+1), most extreme first."""
    uniforms = rng.random((1, 2, n_tasks, n_references + 1))
    top, bottom = sample_task_rows(np.asarray(acts)[:, None], uniforms, quantile)
    return top[0], bottom[0]


def excluded_reasons(acts: np.ndarray) -> list[str | None]:
    """Why each unit (column of [n_images, U]) cannot be scored, or None."""
    finite = np.isfinite(acts).all(axis=0)
    safe = np.where(np.isfinite(acts), acts, 0.0)
    return unusable(finite, safe.min(axis=0), safe.max(axis=0))


def excluded_reason(acts: np.ndarray) -> str | None:
    """Why a unit cannot be scored, or None."""
    return excluded_reasons(np.asarray(acts)[:, None])[0]


GRAM_LIMIT = 8192  # distinct images up to which d is read off one similarity matrix (256 MB)


def task_d(
    top: np.ndarray,
    bottom: np.ndarray,
    cache: EmbeddingCache,
    n_references: int,
    gram_limit: int = GRAM_LIMIT,
    slab: int = 64,
) -> np.ndarray:
    """d of every task from embedding-cache rows top, bottom (..., N, K+1), most extreme first.

    Up to `gram_limit` distinct images, the similarities of all their pairs are computed once and
    the observer's decision rule reads them off that matrix; beyond it, the embeddings of `slab`
    units at a time are gathered. Both apply `observer.decision_variable`.
    """
    k = n_references
    lead = top.shape[:-2]
    top = top.reshape(-1, *top.shape[-2:])
    bottom = bottom.reshape(-1, *bottom.shape[-2:])
    uniq, pos = np.unique(np.stack([top, bottom], axis=1), return_inverse=True)
    pos = pos.reshape(len(top), 2, *top.shape[1:])
    if len(uniq) == 0:
        return np.zeros((*lead, top.shape[1]))
    emb = cache.rows(uniq)  # each needed embedding read once
    if len(uniq) <= gram_limit:
        gram = similarity_matrix(emb, emb, cache.similarity)

        def lookup(q: np.ndarray, refs: np.ndarray) -> np.ndarray:
            return gram[q[..., None], refs]

        t, b = pos[:, 0], pos[:, 1]
        d = decision_variable(t[..., k], b[..., k], t[..., :k], b[..., :k], lookup)
    else:
        d = np.empty(top.shape[:2])
        for s in range(0, len(top), slab):
            t, b = emb[pos[s : s + slab, 0]], emb[pos[s : s + slab, 1]]  # (S, N, K+1, D)
            d[s : s + slab] = decision_variable(
                t[:, :, k], b[:, :, k], t[:, :, :k], b[:, :, :k], cache.similarity
            )
    return d.reshape(*lead, top.shape[1])


def mis_tasks(
    activations: np.ndarray,
    units: Sequence[str],
    images: Sequence[str],
    cache: EmbeddingCache,
    model: str,
    seed: int,
    n_tasks: int = 20,
    n_references: int = 9,
    quantile: float = 0.2,
) -> pd.DataFrame:
    """d of N sampled tasks per unit (α-free); an excluded unit gets one row with its reason.

    Columns: unit, task (1..N; 0 for an excluded unit), d, max_query, min_query, excluded.
    """
    rows_of = image_rows(cache, images)
    acts = np.asarray(activations, dtype=np.float64)
    reasons = excluded_reasons(acts)
    try:
        quantile_size(len(acts), n_references, quantile)
    except ValueError as err:
        reasons = [r or str(err) for r in reasons]
    excluded = {u: r for u, r in zip(units, reasons, strict=True) if r is not None}
    for unit, reason in excluded.items():
        log.info("unit %s kept out of MIS: %s", unit, reason)
    keep = [i for i, r in enumerate(reasons) if r is None]
    d, draws = {}, {}
    if keep:
        kept_units = [units[i] for i in keep]
        uniforms = task_uniforms(seed, model, kept_units, n_tasks, n_references)
        top, bottom = sample_task_rows(acts[:, keep], uniforms, quantile)
        dd = task_d(rows_of[top], rows_of[bottom], cache, n_references)
        for i, unit in enumerate(kept_units):
            draws[unit], d[unit] = (top[i], bottom[i]), dd[i]
    img = np.asarray(images, dtype=object)
    frames = [
        _unit_task_frame(unit, draws.get(unit), d.get(unit), img, n_references, excluded)
        for unit in units
    ]
    return pd.concat(frames, ignore_index=True)


def _unit_task_frame(
    unit: str,
    draw: tuple[np.ndarray, np.ndarray] | None,
    d: np.ndarray | None,
    img: np.ndarray,
    n_references: int,
    excluded: dict[str, str],
) -> pd.DataFrame:
    """One unit's rows of `mis_tasks`: its N tasks, or one row with the reason it was kept out."""
    if draw is None:
        return pd.DataFrame(
            {
                "unit": [unit],
                "task": [0],
                "d": [np.nan],
                "max_query": [""],
                "min_query": [""],
                "excluded": [excluded[unit]],
            }
        )
    top_i, bottom_i = draw
    return pd.DataFrame(
        {
            "unit": unit,
            "task": np.arange(1, len(d) + 1),
            "d": d,
            "max_query": img[top_i[:, n_references]],
            "min_query": img[bottom_i[:, n_references]],
            "excluded": "",
        }
    )


def image_rows(cache: EmbeddingCache, images: Sequence[str]) -> np.ndarray:
    """The embedding-cache row of every activation image; an error naming images without one."""
    rows_of = np.array([cache.row.get(p, -1) for p in images], dtype=np.int64)
    if (rows_of < 0).any():
        missing = [p for p, r in zip(images, rows_of, strict=True) if r < 0][:3]
        raise KeyError(f"{(rows_of < 0).sum()} activation images lack an embedding, e.g. {missing}")
    return rows_of


def mis_table(
    tasks: pd.DataFrame, model: str, backend: str, alpha: float | None, alpha_source: str
) -> pd.DataFrame:
    """One row per unit: MIS = mean σ(α·d), α-free accuracy mean(d > 0), and the score used."""
    from unitpsych.units.sampling import split_unit

    rows = []
    for unit, group in tasks.groupby("unit", sort=False):
        layer, channel = split_unit(unit)
        row = {"model": model, "unit": unit, "layer": layer, "channel": channel}
        reason = str(group["excluded"].fillna("").iloc[0])
        if not reason:
            d = group["d"].to_numpy(float)
            mis = float(p_correct(d, alpha).mean()) if alpha is not None else np.nan
            acc = float((d > 0).mean())
            row |= {
                "n_tasks": len(d),
                "mis": mis,
                "accuracy": acc,
                "mean_d": float(d.mean()),
                "score": acc if alpha is None else mis,
                "score_kind": "accuracy" if alpha is None else "mis",
                "excluded": "",
            }
        else:
            row |= {
                "n_tasks": 0,
                "mis": np.nan,
                "accuracy": np.nan,
                "mean_d": np.nan,
                "score": np.nan,
                "score_kind": "",
                "excluded": reason,
            }
        rows.append(
            row
            | {
                "backend": backend,
                "alpha": np.nan if alpha is None else alpha,
                "alpha_source": alpha_source,
            }
        )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- every unit


MIS_ALL_COLUMNS = [
    "model",
    "layer",
    "channel",
    "unit",
    "layer_index",
    "relative_depth",
    "n_tasks",
    "mis",
    "accuracy",
    "mean_d",
    "score",
    "score_kind",
    "constant",
    "excluded",
    "backend",
    "alpha",
    "alpha_source",
    "scores_itself",
    "d",
]


def layer_layout(units: Sequence[str]) -> pd.DataFrame:
    """unit, layer, channel, layer_index, relative_depth of every unit (layers in first-seen order).

    relative_depth = layer_index / (number of layers − 1): 0 the first layer of interest, 1 the
    last.
    """
    from unitpsych.units.sampling import split_unit

    split = [split_unit(u) for u in units]
    index: dict[str, int] = {}
    for layer, _ in split:
        index.setdefault(layer, len(index))
    t = pd.DataFrame(
        {
            "unit": list(units),
            "layer": [s[0] for s in split],
            "channel": np.array([s[1] for s in split], dtype=np.int64),
        }
    )
    t["layer_index"] = t["layer"].map(index).astype(np.int64)
    t["relative_depth"] = t["layer_index"] / max(len(index) - 1, 1)
    return t


def draw_every_unit(
    read_slab: Callable[[int, int], QuantileSlab],
    units: Sequence[str],
    n_images: int,
    model: str,
    seed: int,
    n_tasks: int = 20,
    n_references: int = 9,
    quantile: float = 0.2,
    width: int = 1024,
    progress: Callable[[int], Any] | None = None,
) -> tuple[np.ndarray, np.ndarray, list[str | None]]:
    """Every unit's tasks from its quantile sets, `width` units at a time: (top, bottom, excluded).

    `read_slab(start, stop)` returns the quantile sets of those units, ceil(n · quantile) images
    each (`mis_all_tasks`: the streaming pass, or `slab_from_activations`). top and bottom are
    [U, N, K+1] image ids, most extreme first (−1 for a unit kept out, with its reason). A unit's
    tasks depend only on its own seed, so each gets exactly the tasks `mis_tasks` draws for it.
    """
    try:
        size, too_few = quantile_size(n_images, n_references, quantile), None
    except ValueError as err:
        size, too_few = 0, str(err)
    n_units = len(units)
    top = np.full((n_units, n_tasks, n_references + 1), -1, dtype=np.int64)
    bottom = top.copy()
    reasons: list[str | None] = []
    for s in range(0, n_units, width):
        slab = read_slab(s, min(s + width, n_units))
        if too_few is None and slab.top.shape[1] != size:
            raise ValueError(
                f"quantile sets of {slab.top.shape[1]} images, but the {quantile} "
                f"quantile of {n_images} images holds {size}"
            )
        why = [r or too_few for r in slab.excluded]
        reasons += why
        keep = np.array([i for i, r in enumerate(why) if r is None], dtype=np.int64)
        if len(keep):
            uniforms = task_uniforms(
                seed, model, [units[s + i] for i in keep], n_tasks, n_references
            )
            kept = QuantileSlab(
                slab.top[keep],
                slab.top_values[keep],
                slab.bottom[keep],
                slab.bottom_values[keep],
                [None] * len(keep),
            )
            top[s + keep], bottom[s + keep] = draw_task_rows(kept, uniforms)
        if progress is not None:
            progress(len(why))
    return top, bottom, reasons


def score_every_unit(
    top: np.ndarray,
    bottom: np.ndarray,
    excluded: Sequence[str | None],
    units: Sequence[str],
    images: Sequence[str],
    cache: EmbeddingCache,
    memory_mb: int = 256,
    progress: Callable[[int], Any] | None = None,
) -> pd.DataFrame:
    """mean_d, accuracy and the per-task d of every unit from its drawn tasks (α-free).

    `top`, `bottom` [U, N, K+1] ids into `images` from `draw_every_unit`; the tasks of a slab of
    units (as many as `memory_mb` allows) are scored at once by `task_d`. Returns one row per
    unit: unit, n_tasks, accuracy, mean_d, constant, excluded, and `d` (N values, NaN if kept out).
    """
    rows_of = image_rows(cache, images)
    n_units, n_tasks, m = top.shape
    width = max(1, (memory_mb << 20) // (n_tasks * m * 2 * 8 * 8))  # ids, rows, pairs of lookups
    scored = np.array([r is None for r in excluded], dtype=bool)
    d_all = np.full((n_units, n_tasks), np.nan)
    for s in range(0, n_units, width):
        keep = s + np.flatnonzero(scored[s : s + width])
        if len(keep):
            d_all[keep] = task_d(rows_of[top[keep]], rows_of[bottom[keep]], cache, m - 1)
        if progress is not None:
            progress(min(width, n_units - s))
    with np.errstate(invalid="ignore"):
        accuracy = np.where(scored, (d_all > 0).mean(1), np.nan)
    return pd.DataFrame(
        {
            "unit": list(units),
            "n_tasks": np.where(scored, n_tasks, 0),
            "accuracy": accuracy,
            "mean_d": np.where(scored, d_all.mean(1), np.nan),
            "constant": [r == CONSTANT for r in excluded],
            "excluded": [r or "" for r in excluded],
            "d": list(d_all),
        }
    )


def _task_file_attrs(
    model: Any, image_root: str, seed: int, draw: tuple[int, int, float]
) -> dict[str, Any]:
    """The attributes of `mis_all_tasks.h5` that say how its tasks were drawn."""
    n_tasks, n_references, quantile = draw
    return {
        "model": model.name,
        "arch": model.arch,
        "image_root": str(image_root),
        "preprocessing": repr(model.transform()),
        "seed": seed,
        "n_tasks": n_tasks,
        "n_references": n_references,
        "quantile": quantile,
    }


def collect_mis_all_tasks(
    model: Any,
    image_root: str,
    paths: list[str],
    out: str,
    seed: int,
    n_tasks: int = 20,
    n_references: int = 9,
    quantile: float = 0.2,
    max_images: int | None = None,
    image_pass: ImagePass = DEFAULT_PASS,
    progress: IO[str] | None = None,
) -> dict[str, int]:
    """Stream the image set (or its `max_images` subset) once, draw every unit's MIS tasks from
    the quantile sets and write `mis_all_tasks.h5`; returns the counts for the log."""
    subset = mis_all_subset(len(paths), max_images, seed)
    if len(subset) < len(paths):
        log.info(
            "every-unit MIS on a fixed random subset of %d of %d images (mis_all.max_images)",
            len(subset),
            len(paths),
        )
    units, images, state, n_bad = stream_quantile_sets(
        model, image_root, [paths[i] for i in subset], quantile, image_pass, progress
    )
    size = set_size(len(images), quantile)
    with one_cpu_thread(model.device):
        top, bottom, reasons = draw_every_unit(
            lambda a, b: state.slab(a, b, size),
            units,
            len(images),
            model.name,
            seed,
            n_tasks,
            n_references,
            quantile,
        )
    attrs = _task_file_attrs(model, image_root, seed, (n_tasks, n_references, quantile))
    attrs |= {"n_image_set": len(paths), "n_unreadable": n_bad}
    write_task_file(out, top, bottom, reasons, units, images, attrs)
    return {
        "n_units": len(units),
        "n_images": len(images),
        "n_image_set": len(paths),
        "n_unreadable": n_bad,
        "set_size": size,
        "n_excluded": sum(r is not None for r in reasons),
    }


def given_alpha_source(alpha: float | None) -> str:
    """Where the every-unit MIS takes its α from: the config, never a fit to responses."""
    if alpha is not None:
        return "given in config (observer.alpha)"
    return (
        "none given in config (observer.alpha): the score is the α-free accuracy; a fitted α "
        "is not applied here, so every-unit scores never wait for responses (d per task kept)"
    )


def mis_all_table(
    scores: pd.DataFrame,
    model: str,
    backend: str,
    alpha: float | None,
    alpha_source: str,
    scores_itself: bool,
) -> pd.DataFrame:
    """The every-unit MIS table (MIS_ALL_COLUMNS) from `score_every_unit` and the backend's α."""
    t = layer_layout(list(scores["unit"])).merge(scores, on="unit", how="left", validate="1:1")
    d = np.stack(t["d"].to_numpy()) if len(t) else np.zeros((0, 1))
    mis = p_correct(d, alpha).mean(1) if alpha is not None else np.full(len(t), np.nan)
    t["mis"] = np.where(t["excluded"] == "", mis, np.nan)
    t["score"] = t["accuracy"] if alpha is None else t["mis"]
    t["score_kind"] = np.where(t["excluded"] == "", "accuracy" if alpha is None else "mis", "")
    t["model"], t["backend"], t["alpha_source"] = model, backend, alpha_source
    t["alpha"] = np.nan if alpha is None else float(alpha)
    t["scores_itself"] = bool(scores_itself)
    return t[MIS_ALL_COLUMNS]

"""The machine interpretability score (MIS) of a unit: N tasks sampled from its activations, scored.

Per task K+1 images are drawn from the unit's top and bottom activation quantiles; the K most
extreme are the references and the least extreme the query (Zimmermann, Klindt & Brendel, NeurIPS
2024, §3). Each task is scored by the observer's decision rule (`unitpsych.observer.scoring`) on the
image-set embeddings (`unitpsych.observer.embeddings`); MIS = mean σ(α·d) over the tasks, and mean(d > 0)
is the α-free accuracy.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from unitpsych.io import derive_seed
from unitpsych.observer.embeddings import EmbeddingCache
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


def task_uniforms(seed: int, model: str, units: Sequence[str], n_tasks: int,
                  n_references: int) -> np.ndarray:  # fmt: skip
    """The random numbers of each unit's tasks, (U, 2, N, K+1): from the unit's own seed only."""
    out = np.empty((len(units), 2, n_tasks, n_references + 1))
    for u, unit in enumerate(units):
        out[u] = np.random.default_rng(mis_seed(seed, model, unit)).random(out.shape[1:])
    return out


def quantile_size(n: int, n_references: int, quantile: float) -> int:
    """Images in a unit's top (bottom) quantile; an error when fewer than K+1."""
    size = math.ceil(n * quantile)
    if size < n_references + 1:
        raise ValueError(f"the {quantile} quantile of {n} images holds {size} < K+1 = "
                         f"{n_references + 1} images")  # fmt: skip
    return size


def sample_task_rows(acts: np.ndarray, uniforms: np.ndarray,
                     quantile: float) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Image rows of every unit's tasks, vectorised over units: (top, bottom), each (U, N, K+1).

    `acts` is [n_images, U]; `uniforms` (U, 2, N, K+1) from `task_uniforms`. Per task K+1 images are
    drawn without replacement from the top (bottom) `quantile` of the unit's activations and
    ordered most extreme first: the K most extreme are the references and the least extreme the
    query (as the MIS reimplementation orders them).
    """
    n, n_units = acts.shape
    _, _, n_tasks, m = uniforms.shape
    size = quantile_size(n, m - 1, quantile)
    order = np.argsort(acts, axis=0, kind="stable")
    bottom_set, top_set = order[:size].T, order[::-1][:size].T  # (U, size)
    pick = draw_subsets(uniforms, size).reshape(n_units, 2, n_tasks * m)
    top = np.take_along_axis(top_set, pick[:, 0], axis=1).reshape(n_units, n_tasks, m)
    bottom = np.take_along_axis(bottom_set, pick[:, 1], axis=1).reshape(n_units, n_tasks, m)
    cols = acts.T
    a_top = np.take_along_axis(cols, top.reshape(n_units, -1), axis=1).reshape(top.shape)
    a_bot = np.take_along_axis(cols, bottom.reshape(n_units, -1), axis=1).reshape(bottom.shape)
    top = np.take_along_axis(top, np.argsort(-a_top, axis=-1, kind="stable"), axis=-1)
    bottom = np.take_along_axis(bottom, np.argsort(a_bot, axis=-1, kind="stable"), axis=-1)
    return top, bottom


def sample_tasks(acts: np.ndarray, n_tasks: int, n_references: int, quantile: float,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Image rows of one unit's N tasks: (top, bottom), each (N, K+1), most extreme first."""
    uniforms = rng.random((1, 2, n_tasks, n_references + 1))
    top, bottom = sample_task_rows(np.asarray(acts)[:, None], uniforms, quantile)
    return top[0], bottom[0]


def excluded_reasons(acts: np.ndarray) -> list[str | None]:
    """Why each unit (column of [n_images, U]) cannot be scored, or None."""
    finite = np.isfinite(acts).all(axis=0)
    safe = np.where(np.isfinite(acts), acts, 0.0)
    constant = safe.max(axis=0) == safe.min(axis=0)
    return [None if f and not c else
            ("non-finite activations" if not f else "constant activation over the image set")
            for f, c in zip(finite, constant, strict=True)]  # fmt: skip


def excluded_reason(acts: np.ndarray) -> str | None:
    """Why a unit cannot be scored, or None."""
    return excluded_reasons(np.asarray(acts)[:, None])[0]


GRAM_LIMIT = 8192  # distinct images up to which d is read off one similarity matrix (256 MB)


def task_d(top: np.ndarray, bottom: np.ndarray, cache: EmbeddingCache, n_references: int,
           gram_limit: int = GRAM_LIMIT, slab: int = 64) -> np.ndarray:  # fmt: skip
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
            d[s : s + slab] = decision_variable(t[:, :, k], b[:, :, k], t[:, :, :k], b[:, :, :k],
                                                cache.similarity)  # fmt: skip
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
    frames = []
    for unit in units:
        if unit in draws:
            top_i, bottom_i = draws[unit]
            frames.append(pd.DataFrame({
                "unit": unit, "task": np.arange(1, n_tasks + 1), "d": d[unit],
                "max_query": img[top_i[:, n_references]], "min_query": img[bottom_i[:, n_references]],
                "excluded": "",
            }))  # fmt: skip
        else:
            frames.append(pd.DataFrame({"unit": [unit], "task": [0], "d": [np.nan], "max_query": [""],
                                        "min_query": [""], "excluded": [excluded[unit]]}))  # fmt: skip
    return pd.concat(frames, ignore_index=True)


def image_rows(cache: EmbeddingCache, images: Sequence[str]) -> np.ndarray:
    """The embedding-cache row of every activation image; an error naming images without one."""
    rows_of = np.array([cache.row.get(p, -1) for p in images], dtype=np.int64)
    if (rows_of < 0).any():
        missing = [p for p, r in zip(images, rows_of, strict=True) if r < 0][:3]
        raise KeyError(f"{(rows_of < 0).sum()} activation images lack an embedding, e.g. {missing}")
    return rows_of


def mis_table(tasks: pd.DataFrame, model: str, backend: str, alpha: float | None,
              alpha_source: str) -> pd.DataFrame:  # fmt: skip
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
            row |= {"n_tasks": len(d), "mis": mis, "accuracy": acc, "mean_d": float(d.mean()),
                    "score": acc if alpha is None else mis,
                    "score_kind": "accuracy" if alpha is None else "mis", "excluded": ""}  # fmt: skip
        else:
            row |= {"n_tasks": 0, "mis": np.nan, "accuracy": np.nan, "mean_d": np.nan,
                    "score": np.nan, "score_kind": "", "excluded": reason}  # fmt: skip
        rows.append(row | {"backend": backend, "alpha": np.nan if alpha is None else alpha,
                           "alpha_source": alpha_source})  # fmt: skip
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- every unit


MIS_ALL_COLUMNS = [
    "model", "layer", "channel", "unit", "layer_index", "relative_depth", "n_tasks", "mis",
    "accuracy", "mean_d", "score", "score_kind", "constant", "excluded", "backend", "alpha",
    "alpha_source", "scores_itself", "d",
]  # fmt: skip


def layer_layout(units: Sequence[str]) -> pd.DataFrame:
    """unit, layer, channel, layer_index, relative_depth of every unit (layers in first-seen order).

    relative_depth = layer_index / (number of layers − 1): 0 the first layer of interest, 1 the last.
    """
    from unitpsych.units.sampling import split_unit

    split = [split_unit(u) for u in units]
    index: dict[str, int] = {}
    for layer, _ in split:
        index.setdefault(layer, len(index))
    t = pd.DataFrame({"unit": list(units), "layer": [s[0] for s in split],
                      "channel": np.array([s[1] for s in split], dtype=np.int64)})  # fmt: skip
    t["layer_index"] = t["layer"].map(index).astype(np.int64)
    t["relative_depth"] = t["layer_index"] / max(len(index) - 1, 1)
    return t


def score_every_unit(
    read_columns: Callable[[int, int], np.ndarray],
    units: Sequence[str],
    images: Sequence[str],
    cache: EmbeddingCache,
    model: str,
    seed: int,
    n_tasks: int = 20,
    n_references: int = 9,
    quantile: float = 0.2,
    memory_mb: int = 256,
    progress: Callable[[int], Any] | None = None,
) -> pd.DataFrame:
    """mean_d, accuracy and the per-task d of every unit, a slab of columns at a time (α-free).

    `read_columns(start, stop)` returns the activations [n_images, stop − start] of those units.
    Slabs are as wide as `memory_mb` allows for the images, the tasks are drawn and scored for the
    whole slab at once (`sample_task_rows`, `task_d`), and a unit's tasks depend only on its own
    seed, so every unit gets exactly the tasks and d that `mis_tasks` gives it. Returns one row
    per unit: unit, n_tasks, accuracy, mean_d, constant, excluded, and `d` (N values, or empty).
    """
    rows_of = image_rows(cache, images)
    n, n_units = len(images), len(units)
    width = max(1, (memory_mb << 20) // (max(n, 1) * 8 * 4))  # acts, order and gathers (float64)
    try:
        quantile_size(n, n_references, quantile)
        too_few = None
    except ValueError as err:
        too_few = str(err)
    d_all = np.full((n_units, n_tasks), np.nan)
    reasons: list[str | None] = []
    for s in range(0, n_units, width):
        acts = np.asarray(read_columns(s, min(s + width, n_units)), dtype=np.float64)
        slab = excluded_reasons(acts)
        slab = [r or too_few for r in slab]
        reasons += slab
        keep = np.array([i for i, r in enumerate(slab) if r is None], dtype=np.int64)
        if len(keep):
            uniforms = task_uniforms(seed, model, [units[s + i] for i in keep], n_tasks,
                                     n_references)  # fmt: skip
            top, bottom = sample_task_rows(acts[:, keep], uniforms, quantile)
            d_all[s + keep] = task_d(rows_of[top], rows_of[bottom], cache, n_references)
        if progress is not None:
            progress(acts.shape[1])
    scored = np.array([r is None for r in reasons])
    with np.errstate(invalid="ignore"):
        accuracy = np.where(scored, (d_all > 0).mean(1), np.nan)
    return pd.DataFrame({
        "unit": list(units), "n_tasks": np.where(scored, n_tasks, 0), "accuracy": accuracy,
        "mean_d": np.where(scored, d_all.mean(1), np.nan),
        "constant": [r == "constant activation over the image set" for r in reasons],
        "excluded": [r or "" for r in reasons], "d": list(d_all),
    })  # fmt: skip


def given_alpha_source(alpha: float | None) -> str:
    """Where the every-unit MIS takes its α from: the config, never a fit to responses."""
    if alpha is not None:
        return "given in config (observer.alpha)"
    return ("none given in config (observer.alpha): the score is the α-free accuracy; a fitted α "
            "is not applied here, so every-unit scores never wait for responses (d per task kept)")  # fmt: skip


def mis_all_table(scores: pd.DataFrame, model: str, backend: str, alpha: float | None,
                  alpha_source: str, scores_itself: bool) -> pd.DataFrame:  # fmt: skip
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

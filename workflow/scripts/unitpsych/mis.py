"""The machine interpretability score (MIS) of a unit: N tasks sampled from its activations, scored.

Per task K+1 images are drawn from the unit's top and bottom activation quantiles; the K most
extreme are the references and the least extreme the query (Zimmermann, Klindt & Brendel, NeurIPS
2024, §3). Each task is scored by the observer's decision rule (`unitpsych.observer`) on the
image-set embeddings (`unitpsych.embeddings`); MIS = mean σ(α·d) over the tasks, and mean(d > 0)
is the α-free accuracy.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from unitpsych.embeddings import EmbeddingCache
from unitpsych.io import derive_seed
from unitpsych.observer import decision_variable, p_correct

log = logging.getLogger("unitpsych.mis")


def mis_seed(seed: int, model: str, unit: str) -> int:
    """A unit's task-sampling seed: depends only on the seed, model and unit."""
    return derive_seed(seed, "mis", model, unit)


def sample_tasks(acts: np.ndarray, n_tasks: int, n_references: int, quantile: float,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Image rows of N tasks: (top, bottom), each (N, K+1), most extreme first.

    Per task K+1 images are drawn without replacement from the top (bottom) `quantile` of the
    unit's activations; the K most extreme are the references and the least extreme the query
    (as the MIS reimplementation orders them).
    """
    n = len(acts)
    size = math.ceil(n * quantile)
    if size < n_references + 1:
        raise ValueError(f"the {quantile} quantile of {n} images holds {size} < K+1 = "
                         f"{n_references + 1} images")  # fmt: skip
    order = np.argsort(acts, kind="stable")
    bottom_set, top_set = order[:size], order[::-1][:size]
    top = np.stack(
        [top_set[rng.choice(size, n_references + 1, replace=False)] for _ in range(n_tasks)]
    )
    bottom = np.stack([bottom_set[rng.choice(size, n_references + 1, replace=False)]
                       for _ in range(n_tasks)])  # fmt: skip
    top = np.take_along_axis(top, np.argsort(-acts[top], axis=1, kind="stable"), axis=1)
    bottom = np.take_along_axis(bottom, np.argsort(acts[bottom], axis=1, kind="stable"), axis=1)
    return top, bottom


def excluded_reason(acts: np.ndarray) -> str | None:
    """Why a unit cannot be scored, or None."""
    if not np.isfinite(acts).all():
        return "non-finite activations"
    if acts.max() == acts.min():
        return "constant activation over the image set"
    return None


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
    rows_of = np.array([cache.row.get(p, -1) for p in images])
    if (rows_of < 0).any():
        missing = [p for p, r in zip(images, rows_of, strict=True) if r < 0][:3]
        raise KeyError(f"{(rows_of < 0).sum()} activation images lack an embedding, e.g. {missing}")
    draws, excluded = {}, {}
    for u, unit in enumerate(units):
        acts = activations[:, u].astype(np.float64)
        reason = excluded_reason(acts)
        if reason is None:
            try:
                rng = np.random.default_rng(mis_seed(seed, model, unit))
                draws[unit] = sample_tasks(acts, n_tasks, n_references, quantile, rng)
            except ValueError as err:
                reason = str(err)
        if reason is not None:
            excluded[unit] = reason
            log.info("unit %s kept out of MIS: %s", unit, reason)
    d = {}
    if draws:
        drawn = np.stack([np.stack(pair) for pair in draws.values()])  # (U, 2, N, K+1) image rows
        uniq, pos = np.unique(rows_of[drawn], return_inverse=True)
        emb = cache.rows(uniq)  # each needed embedding read once
        pos = pos.reshape(drawn.shape)
        k = n_references
        for i, unit in enumerate(draws):
            top, bottom = emb[pos[i, 0]], emb[pos[i, 1]]  # (N, K+1, D), most extreme first
            d[unit] = decision_variable(top[:, k], bottom[:, k], top[:, :k], bottom[:, :k],
                                        cache.similarity)  # fmt: skip
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


def mis_table(tasks: pd.DataFrame, model: str, backend: str, alpha: float | None,
              alpha_source: str) -> pd.DataFrame:  # fmt: skip
    """One row per unit: MIS = mean σ(α·d), α-free accuracy mean(d > 0), and the score used."""
    from unitpsych.units import split_unit

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

"""What the browser knows of each model and unit, read from the pipeline's result files.

Every reader takes the results folder and a model name and asks `unitpsych.paths` where the file
lies; a file the config does not make (no experiments, no every-unit pass, no feature
visualisations) reads as missing, and the pages say so instead of failing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from unitpsych import paths
from unitpsych.io import read_json

SIMULATED = "simulated"  # the response source of machine observers standing in for humans
TABLE_COLUMNS = ["unit", "layer", "channel", "layer_index", "score", "accuracy", "sampled"]


def read_csv(path: str | Path) -> pd.DataFrame | None:
    """A CSV table, or None where the file does not exist."""
    return pd.read_csv(path) if Path(path).is_file() else None


def read_parquet(path: str | Path) -> pd.DataFrame | None:
    """A Parquet table, or None where the file does not exist."""
    return pd.read_parquet(path) if Path(path).is_file() else None


def finite(value: Any) -> float | None:
    """A float for a finite number, None for NaN, None or anything else."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def source_kind(sources: str) -> str:
    """`human`, `simulated` or `mixed` for a `+`-joined list of response sources."""
    names = {s for s in str(sources).split("+") if s}
    if names == {SIMULATED}:
        return SIMULATED
    return "mixed" if SIMULATED in names else "human"


def wilson_ci(n_correct: int, n: int, level: float = 0.95) -> tuple[float | None, float | None]:
    """The Wilson score interval of a proportion (scipy), or (None, None) without responses."""
    from scipy.stats import binomtest

    if n <= 0:
        return None, None
    ci = binomtest(int(n_correct), int(n)).proportion_ci(confidence_level=level, method="wilson")
    return float(ci.low), float(ci.high)


def unit_experiment_scores(unit_scores: pd.DataFrame | None, model: str) -> pd.DataFrame:
    """A model's per-unit experiment scores with the source kind and a 95 % Wilson interval."""
    cols = ["unit", "experiment", "condition", "difficulty", "n_responses", "proportion_correct"]
    if unit_scores is None or unit_scores.empty:
        return pd.DataFrame(columns=[*cols, "sources", "kind", "ci_low", "ci_high"])
    t = unit_scores[unit_scores["model"] == model].copy()
    t["kind"] = [source_kind(s) for s in t["sources"]]
    n = t["n_responses"].astype(int)
    k = (t["proportion_correct"] * n).round().astype(int)
    cis = [wilson_ci(a, b) for a, b in zip(k, n, strict=True)]
    t["ci_low"] = [c[0] for c in cis]
    t["ci_high"] = [c[1] for c in cis]
    return t[[*cols, "sources", "kind", "ci_low", "ci_high"]].reset_index(drop=True)


def _sampled_table(units: pd.DataFrame, mis: pd.DataFrame | None) -> pd.DataFrame:
    """The table of the sampled units alone (no every-unit pass): units.csv with mis.csv."""
    t = units[["unit", "layer", "channel", "layer_index"]].copy()
    if mis is not None:
        t = t.merge(mis[["unit", "score", "accuracy"]], on="unit", how="left")
    else:
        t["score"], t["accuracy"] = np.nan, np.nan
    return t


def unit_table(
    units: pd.DataFrame,
    mis: pd.DataFrame | None,
    mis_all: pd.DataFrame | None,
    scores: pd.DataFrame,
) -> pd.DataFrame:
    """One row per unit of the model page: every unit of the every-unit pass (or the sampled
    ones), its MIS and α-free accuracy, whether it was sampled, its mean human and simulated
    score."""
    if mis_all is not None:
        t = mis_all[["unit", "layer", "channel", "layer_index", "score", "accuracy"]].copy()
        extra = units[~units["unit"].isin(t["unit"])]
        if len(extra):
            t = pd.concat([t, _sampled_table(extra, mis)], ignore_index=True)
    else:
        t = _sampled_table(units, mis)
    t["sampled"] = t["unit"].isin(set(units["unit"]))
    for kind in ("human", SIMULATED):
        part = scores[scores["kind"] == kind]
        mean = part.groupby("unit")["proportion_correct"].mean()
        t[kind] = t["unit"].map(mean)
    return t.sort_values(["layer_index", "channel"], kind="stable", ignore_index=True)


def extreme_units(table: pd.DataFrame, per_layer: int) -> list[str]:
    """The `per_layer` least and most interpretable units by MIS of every layer (ties: the lower
    channel first, as the model page's table sorts them)."""
    chosen: list[str] = []
    scored = table.dropna(subset=["score"])
    for _, grp in scored.groupby("layer_index", sort=True):
        low = grp.sort_values(["score", "channel"], kind="stable")["unit"].tolist()
        high = grp.sort_values(["score", "channel"], ascending=[False, True], kind="stable")
        for unit in low[:per_layer] + high["unit"].tolist()[:per_layer]:
            if unit not in chosen:
                chosen.append(unit)
    return chosen


def layer_summary(table: pd.DataFrame, n_channels: Mapping[str, int], bins: int = 20) -> list[dict]:
    """Per layer in depth order: channel count, units scored, median MIS and a histogram on
    [0, 1]."""
    out = []
    edges = np.linspace(0.0, 1.0, bins + 1)
    for (index, layer), grp in table.groupby(["layer_index", "layer"], sort=True):
        s = grp["score"].dropna().to_numpy(float)
        counts = np.histogram(np.clip(s, 0, 1), bins=edges)[0] if len(s) else np.zeros(bins)
        out.append(
            {
                "layer": layer,
                "layer_index": int(index),
                "n_channels": int(n_channels.get(layer, len(grp))),
                "n_scored": len(s),
                "n_sampled": int(grp["sampled"].sum()),
                "median": finite(np.median(s)) if len(s) else None,
                "histogram": [int(c) for c in counts],
            }
        )
    return out


@dataclass
class ModelData:
    """Everything the browser shows of one model."""

    name: str
    label: str
    scale_rank: Any
    accuracy: float | None
    accuracy_source: str
    backend: str | None
    score_kind: str | None
    table: pd.DataFrame
    scores: pd.DataFrame
    model_scores: list[dict]
    layers: list[dict]
    mis_all: pd.DataFrame | None = None
    units: pd.DataFrame = field(default_factory=pd.DataFrame)
    mis: pd.DataFrame | None = None
    sampled: set[str] = field(init=False, repr=False)
    mis_rows: dict[str, dict] = field(init=False, repr=False)
    unit_scores: dict[str, list[dict]] = field(init=False, repr=False)
    _position: dict[str, int] = field(init=False, repr=False)
    _task_position: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        """Per-unit look-ups for the unit pages (built once, not searched once per page)."""
        self.sampled = set(self.units["unit"]) if len(self.units) else set()
        self.mis_rows = (
            {r["unit"]: r for r in self.mis.to_dict("records")} if self.mis is not None else {}
        )
        self.unit_scores = {u: g.to_dict("records") for u, g in self.scores.groupby("unit")}
        self._position = {u: i for i, u in enumerate(self.table["unit"])}
        every = self.mis_all["unit"] if self.mis_all is not None else []
        self._task_position = {u: i for i, u in enumerate(every)}

    def row(self, unit: str) -> dict | None:
        """A unit's row of the unit table, or None."""
        i = self._position.get(unit)
        return None if i is None else self.table.iloc[i].to_dict()

    def task_d(self, unit: str) -> list[float] | None:
        """The d of a unit's MIS tasks in the every-unit pass, or None."""
        i = self._task_position.get(unit)
        return None if i is None else list(self.mis_all["d"].iloc[i])

    def mean_score(self, sampled: bool) -> float | None:
        """Mean MIS of the sampled units (mis.csv) or of every unit of the every-unit pass."""
        if sampled:
            return finite(self.mis["score"].mean()) if self.mis is not None else None
        return finite(self.mis_all["score"].mean()) if self.mis_all is not None else None


def model_accuracy(results: str, name: str, reported: float | None) -> tuple[float | None, str]:
    """Top-1 measured by the accuracy check, else the reported one (resources/models.csv)."""
    path = Path(paths.accuracy(name, root=results))
    if path.is_file():
        return finite(read_json(path).get("top1")), "measured (accuracy check)"
    if reported is not None:
        return reported, "reported (resources/models.csv)"
    return None, ""


def model_score_rows(model_scores: pd.DataFrame | None, model: str) -> list[dict]:
    """A model's experiment scores with 95 % CIs, each labelled by its response sources."""
    if model_scores is None or model_scores.empty:
        return []
    rows = model_scores[model_scores["model"] == model]
    return [
        {
            "experiment": r.experiment,
            "condition": r.condition,
            "difficulty": r.difficulty,
            "score": finite(r.score),
            "ci_low": finite(r.ci_low),
            "ci_high": finite(r.ci_high),
            "n_units": int(r.n_units),
            "n_responses": int(r.n_responses),
            "sources": r.sources,
            "kind": source_kind(r.sources),
        }
        for r in rows.itertuples(index=False)
    ]


def load_model(
    results: str,
    name: str,
    info: Mapping[str, Any],
    unit_scores: pd.DataFrame | None,
    model_scores: pd.DataFrame | None,
) -> ModelData:
    """Read one model's units, scores and every-unit MIS; `info` holds label, scale_rank and the
    reported top-1 (`reported_accuracy`)."""
    units = pd.read_csv(paths.units_csv(name, root=results))
    mis = read_csv(paths.mis(name, root=results))
    mis_all = read_parquet(paths.mis_all(name, root=results))
    if mis_all is not None and "backend" in mis_all and mis_all["backend"].nunique() > 1:
        mis_all = mis_all[mis_all["backend"] == mis_all["backend"].iloc[0]]
    scores = unit_experiment_scores(unit_scores, name)
    table = unit_table(units, mis, mis_all, scores)
    n_channels = dict(zip(units["layer"], units["n_channels"], strict=True))
    accuracy, accuracy_source = model_accuracy(results, name, finite(info.get("reported_accuracy")))
    source = mis_all if mis_all is not None else mis
    return ModelData(
        name=name,
        label=str(info.get("label") or name),
        scale_rank=info.get("scale_rank"),
        accuracy=accuracy,
        accuracy_source=accuracy_source,
        backend=str(source["backend"].iloc[0]) if source is not None and len(source) else None,
        score_kind=_score_kind(source),
        table=table,
        scores=scores,
        model_scores=model_score_rows(model_scores, name),
        layers=layer_summary(table, n_channels),
        mis_all=mis_all,
        units=units,
        mis=mis,
    )


def _score_kind(table: pd.DataFrame | None) -> str | None:
    """`mis` or `accuracy` (α-free) as the MIS table says, None without a table."""
    if table is None or "score_kind" not in table:
        return None
    kinds = [k for k in table["score_kind"].dropna().unique() if k]
    return str(kinds[0]) if kinds else None


@dataclass(frozen=True)
class ModelSummary:
    """What the models page shows of a model (kept after its pages are written)."""

    name: str
    label: str
    scale_rank: Any
    accuracy: float | None
    accuracy_source: str
    backend: str | None
    score_kind: str | None
    model_scores: list[dict]
    mean_sampled: float | None
    mean_every: float | None
    n_units: int

    @classmethod
    def of(cls, m: ModelData) -> ModelSummary:
        """The summary of a model's data."""
        return cls(
            m.name,
            m.label,
            m.scale_rank,
            m.accuracy,
            m.accuracy_source,
            m.backend,
            m.score_kind,
            m.model_scores,
            m.mean_score(True),
            m.mean_score(False),
            len(m.table),
        )

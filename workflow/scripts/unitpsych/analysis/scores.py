"""Scores of units, layers and models from the 2-AFC responses (protocol §8.4, §8.5).

The data are the rows of `responses.parquet` that protocol §8.4 analyses: kept (passed every
exclusion check), not practice (`is_demo`), not catch trials, no multi-participation, from the
configured sources. The tables and their columns are listed in `unitpsych.analysis.tables`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from unitpsych.io import derive_seed

log = logging.getLogger("unitpsych.stats")

EXPERIMENT_KEYS = ["experiment", "model", "label", "scale_rank", "condition", "difficulty"]
CONFIDENCE_LEVELS = (1, 2, 3)


@dataclass(frozen=True)
class Settings:
    """The `analysis` config slice the tables read (defaults live in the schema only)."""

    sources: tuple[str, ...]
    n_resamples: int
    confidence_level: float
    seed: int
    regression_scale: str
    regression_cluster: tuple[str, ...]

    @classmethod
    def from_config(cls, analysis: Mapping, seed: int) -> Settings:
        """Read the analysis slice of the config."""
        boot = analysis["bootstrap"]
        reg = analysis["regression"]
        return cls(
            sources=tuple(analysis["sources"]),
            n_resamples=int(boot["n_resamples"]),
            confidence_level=float(boot["confidence_level"]),
            seed=int(seed),
            regression_scale=str(reg["scale"]),
            regression_cluster=tuple(reg["cluster"]),
        )


# --------------------------------------------------------------------------------------------
# Selecting the responses


def _flag(df: pd.DataFrame, column: str, default: bool) -> pd.Series:
    """A boolean column with missing values (or a missing column) read as `default`."""
    if column not in df:
        return pd.Series(default, index=df.index)
    return df[column].astype("boolean").fillna(default).astype(bool)


def analysis_rows(responses: pd.DataFrame, sources: Iterable[str]) -> pd.DataFrame:
    """The responses protocol §8.4 scores: kept, non-demo, non-catch, no multi-participation."""
    sources = list(sources)
    missing = {"source", "experiment", "unit", "correct", "kept"} - set(responses.columns)
    if missing:
        raise ValueError(f"the response table lacks the columns {sorted(missing)}")
    keep = (
        _flag(responses, "kept", False)
        & ~_flag(responses, "is_demo", False)
        & ~_flag(responses, "catch_trial", False)
        & ~_flag(responses, "multi_participation", False)
        & responses["source"].isin(sources).fillna(False).astype(bool)
        & responses["correct"].notna()
    )
    rows = responses.loc[keep].copy()
    rows["correct"] = rows["correct"].astype(bool).astype(float)
    log.info(
        "%d of %d responses analysed (kept, non-demo, non-catch, sources %s)",
        len(rows),
        len(responses),
        "+".join(sources),
    )
    return rows


def experiment_table(experiments: Iterable[Mapping], models: Mapping[str, Mapping]) -> pd.DataFrame:
    """One row per configured experiment: experiment, model, label, scale_rank, condition,
    difficulty."""
    from unitpsych.experiments.design import experiment_name

    out = []
    for exp in experiments:
        model, condition = exp["model"], exp["condition"]
        difficulty = exp.get("difficulty", "easy")
        info = models.get(model, {})
        rank = info.get("scale_rank")
        out.append(
            {
                "experiment": experiment_name(model, condition, difficulty),
                "model": model,
                "label": info.get("label") or model,
                "scale_rank": np.nan if rank is None else float(rank),
                "condition": condition,
                "difficulty": difficulty,
            }
        )
    return pd.DataFrame(out, columns=EXPERIMENT_KEYS)


def attach_experiments(rows: pd.DataFrame, experiments: pd.DataFrame) -> pd.DataFrame:
    """Give each response its experiment's model, label, condition and difficulty (config wins).

    Responses of experiments the config does not list are left out (and logged).
    """
    known = rows["experiment"].isin(experiments["experiment"])
    if (~known).any():
        log.warning(
            "left out %d responses of unconfigured experiments: %s",
            int((~known).sum()),
            sorted(rows.loc[~known, "experiment"].unique())[:10],
        )
    drop = [c for c in EXPERIMENT_KEYS[1:] if c in rows.columns]
    return rows.loc[known].drop(columns=drop).merge(experiments, on="experiment", how="left")


def join_sources(values: pd.Series) -> str:
    """The sources of a group of rows as one string (`imi+local`)."""
    return "+".join(sorted(set(values.dropna().astype(str))))


# --------------------------------------------------------------------------------------------
# Scores


def unit_scores(
    rows: pd.DataFrame, units: Mapping[str, pd.DataFrame] | None = None
) -> pd.DataFrame:
    """Per-unit score: the mean `correct` of the unit's responses in each experiment (§8.4)."""
    cols = [
        *EXPERIMENT_KEYS,
        "unit",
        "layer",
        "channel",
        "layer_index",
        "relative_depth",
        "n_responses",
        "proportion_correct",
        "sources",
    ]
    if rows.empty:
        return pd.DataFrame(columns=cols)
    grouped = rows.groupby([*EXPERIMENT_KEYS, "unit"], sort=True, dropna=False)
    out = grouped.agg(
        n_responses=("correct", "size"),
        proportion_correct=("correct", "mean"),
        sources=("source", join_sources),
    ).reset_index()
    split = out["unit"].str.rsplit("__", n=1, expand=True)
    out["layer"] = split[0]
    out["channel"] = pd.to_numeric(split[1], errors="coerce").astype("Int64")
    depth = unit_depths(units or {})
    out = out.merge(depth, on=["model", "unit"], how="left")
    known = set(depth["model"])
    missing = out[out["model"].isin(known) & out["layer_index"].isna()]
    for model, grp in missing.groupby("model"):
        log.warning(
            "%d of %d scored units of %s are not in its units.csv, so they have no layer depth "
            "(e.g. %s); list the units that were shown in models.%s.units.list",
            grp["unit"].nunique(),
            out.loc[out["model"] == model, "unit"].nunique(),
            model,
            grp["unit"].iloc[0],
            model,
        )
    return out[cols].sort_values(
        ["scale_rank", "model", "condition", "difficulty", "unit"], kind="stable", ignore_index=True
    )


def unit_depths(units: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """model, unit, layer_index, relative_depth from each model's units.csv."""
    parts = [
        t.assign(model=m).reindex(columns=["model", "unit", "layer_index", "relative_depth"])
        for m, t in units.items()
    ]
    if not parts:
        return pd.DataFrame(columns=["model", "unit", "layer_index", "relative_depth"])
    return pd.concat(parts, ignore_index=True).drop_duplicates(["model", "unit"])


def bootstrap_ci(
    values: np.ndarray, seed: int, n_resamples: int = 10_000, confidence_level: float = 0.95
) -> tuple[float, float]:
    """95 % BCa bootstrap CI of the mean (scipy.stats.bootstrap, as the paper; seeded).

    Fewer than 2 values give NaN; identical values give the degenerate interval [mean, mean].
    """
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if len(values) < 2:
        return math.nan, math.nan
    if np.all(values == values[0]):
        return float(values[0]), float(values[0])
    res = stats.bootstrap(
        (values,),
        np.mean,
        n_resamples=n_resamples,
        confidence_level=confidence_level,
        method="BCa",
        vectorized=True,
        rng=np.random.default_rng(seed),
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def _score_groups(
    units: pd.DataFrame, keys: list[str], settings: Settings, tag: str
) -> pd.DataFrame:
    """Score (mean of unit scores) and BCa CI per group of unit scores."""
    rows = []
    for key, grp in units.groupby(keys, sort=False, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        values = grp["proportion_correct"].to_numpy(dtype=float)
        seed = derive_seed(settings.seed, tag, *map(str, key))
        low, high = bootstrap_ci(values, seed, settings.n_resamples, settings.confidence_level)
        rows.append(
            dict(zip(keys, key, strict=True))
            | {
                "n_units": len(values),
                "n_responses": int(grp["n_responses"].sum()),
                "score": float(values.mean()),
                "ci_low": low,
                "ci_high": high,
                "sources": "+".join(sorted(set("+".join(grp["sources"]).split("+")) - {""})),
            }
        )
    return pd.DataFrame(rows)


def model_scores(units: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """Model score per experiment: the unweighted mean of unit scores with a BCa CI over units."""
    cols = [*EXPERIMENT_KEYS, "n_units", "n_responses", "score", "ci_low", "ci_high", "sources"]
    if units.empty:
        return pd.DataFrame(columns=cols)
    return _score_groups(units, EXPERIMENT_KEYS, settings, "model_score")[cols]


def confidence_scores(
    rows: pd.DataFrame, settings: Settings, levels: tuple[int, ...] = (1, 3)
) -> pd.DataFrame:
    """Model scores from only the responses given with each confidence level (§8.5 item 9)."""
    cols = [
        *EXPERIMENT_KEYS,
        "confidence",
        "n_units",
        "n_responses",
        "score",
        "ci_low",
        "ci_high",
        "sources",
    ]
    if rows.empty or "confidence" not in rows:
        return pd.DataFrame(columns=cols)
    conf = pd.to_numeric(rows["confidence"], errors="coerce")
    parts = []
    for level in levels:
        units = unit_scores(rows.loc[conf == level])
        if units.empty:
            continue
        units["confidence"] = level
        parts.append(_score_groups(units, [*EXPERIMENT_KEYS, "confidence"], settings, "confidence"))
    if not parts:
        return pd.DataFrame(columns=cols)
    return pd.concat(parts, ignore_index=True)[cols].sort_values(
        ["scale_rank", "model", "condition", "difficulty", "confidence"],
        kind="stable",
        ignore_index=True,
    )


def confidence_distribution(rows: pd.DataFrame) -> pd.DataFrame:
    """Fraction of each experiment's responses at confidence 1, 2 and 3 (§8.5 item 10)."""
    cols = [*EXPERIMENT_KEYS, "confidence", "fraction", "n_responses", "n_total", "sources"]
    if rows.empty or "confidence" not in rows:
        return pd.DataFrame(columns=cols)
    conf = pd.to_numeric(rows["confidence"], errors="coerce")
    out = []
    for key, grp in rows.groupby(EXPERIMENT_KEYS, sort=False, dropna=False):
        c = conf.loc[grp.index]
        total = int(c.notna().sum())
        src = join_sources(grp["source"])
        for level in CONFIDENCE_LEVELS:
            n = int((c == level).sum())
            out.append(
                dict(zip(EXPERIMENT_KEYS, key, strict=True))
                | {
                    "confidence": level,
                    "fraction": n / total if total else math.nan,
                    "n_responses": n,
                    "n_total": total,
                    "sources": src,
                }
            )
    return pd.DataFrame(out, columns=cols)


def layer_scores(units: pd.DataFrame) -> pd.DataFrame:
    """Unit scores pooled per layer (mean over the layer's units), with the layer's depth (§8.4)."""
    cols = [
        *EXPERIMENT_KEYS,
        "layer",
        "layer_index",
        "relative_depth",
        "score",
        "n_units",
        "sources",
    ]
    if units.empty:
        return pd.DataFrame(columns=cols)
    out = (
        units.groupby([*EXPERIMENT_KEYS, "layer"], sort=False, dropna=False)
        .agg(
            layer_index=("layer_index", "first"),
            relative_depth=("relative_depth", "first"),
            score=("proportion_correct", "mean"),
            n_units=("unit", "size"),
            sources=("sources", join_sources),
        )
        .reset_index()
    )
    return out[cols].sort_values(
        ["scale_rank", "model", "condition", "difficulty", "layer_index"],
        kind="stable",
        ignore_index=True,
    )

"""Tests across models (Kruskal–Wallis, Conover–Holm) and Spearman correlations (§8.4, §9)."""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
from scipy import stats

from unitpsych.analysis.scores import EXPERIMENT_KEYS, join_sources

log = logging.getLogger("unitpsych.stats")

STATISTICS = ("pixel_sparsity", "channel_sparsity", "local_contrast")


def _model_groups(units: pd.DataFrame) -> Iterable[tuple[str, str, pd.DataFrame]]:
    """(condition, difficulty, unit scores) per condition and difficulty."""
    for (condition, difficulty), grp in units.groupby(["condition", "difficulty"], sort=True):
        yield condition, difficulty, grp


def kruskal_wallis(units: pd.DataFrame) -> pd.DataFrame:
    """Kruskal–Wallis H test across models on unit scores, per condition and difficulty (§8.4)."""
    cols = [
        "condition",
        "difficulty",
        "statistic",
        "p_value",
        "n_models",
        "n_units",
        "models",
        "sources",
    ]
    out = []
    for condition, difficulty, grp in _model_groups(units):
        samples = {m: g["proportion_correct"].to_numpy() for m, g in grp.groupby("model")}
        if len(samples) < 2:
            continue
        try:
            res = stats.kruskal(*samples.values())
            stat, p = float(res.statistic), float(res.pvalue)
        except ValueError as err:  # every value identical
            log.warning("Kruskal-Wallis %s %s: %s", condition, difficulty, err)
            stat, p = math.nan, math.nan
        out.append(
            {
                "condition": condition,
                "difficulty": difficulty,
                "statistic": stat,
                "p_value": p,
                "n_models": len(samples),
                "n_units": len(grp),
                "models": "+".join(samples),
                "sources": join_sources(grp["sources"]),
            }
        )
    return pd.DataFrame(out, columns=cols)


def conover_holm(units: pd.DataFrame) -> pd.DataFrame:
    """Conover post-hoc test with Holm correction between models on unit scores (§8.4)."""
    import scikit_posthocs as sp

    cols = ["condition", "difficulty", "model_a", "model_b", "p_value", "sources"]
    out = []
    for condition, difficulty, grp in _model_groups(units):
        if grp["model"].nunique() < 2:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # identical scores: NaN p-values
            mat = sp.posthoc_conover(
                grp, val_col="proportion_correct", group_col="model", p_adjust="holm"
            )
        long = mat.rename_axis(index="model_a", columns="model_b").stack(future_stack=True)
        part = long.rename("p_value").reset_index()
        part.insert(0, "difficulty", difficulty)
        part.insert(0, "condition", condition)
        part["sources"] = join_sources(grp["sources"])
        out.append(part)
    if not out:
        return pd.DataFrame(columns=cols)
    return pd.concat(out, ignore_index=True)[cols]


# --------------------------------------------------------------------------------------------
# Spearman correlations


def spearman(x: Iterable[float], y: Iterable[float]) -> tuple[float, float, int]:
    """Spearman's rho, its p-value and n over the pairs without NaN (NaN when undefined)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = ~(np.isnan(x) | np.isnan(y))
    x, y = x[ok], y[ok]
    n = int(ok.sum())
    if n < 3 or np.all(x == x[0]) or np.all(y == y[0]):
        return math.nan, math.nan, n
    res = stats.spearmanr(x, y)
    return float(res.statistic), float(res.pvalue), n


SPEARMAN_COLUMNS = [
    "analysis",
    "experiment",
    "model",
    "condition",
    "difficulty",
    "x",
    "y",
    "rho",
    "p_value",
    "n",
    "sources",
    "note",
]


def _row(analysis, exp, model, condition, difficulty, x, y, xs, ys, sources, note="") -> dict:
    """One Spearman row."""
    rho, p, n = spearman(xs, ys)
    return {
        "analysis": analysis,
        "experiment": exp,
        "model": model,
        "condition": condition,
        "difficulty": difficulty,
        "x": x,
        "y": y,
        "rho": rho,
        "p_value": p,
        "n": n,
        "sources": sources,
        "note": note,
    }


def score_correlations(units: pd.DataFrame, layers: pd.DataFrame) -> pd.DataFrame:
    """Spearman correlations of protocol §8.4 that need only the scores (spearman.csv).

    - layer_depth: relative layer depth vs layer-pooled score, per experiment;
    - natural_vs_synthetic: a unit's natural vs synthetic score, per model and difficulty (units
      in both experiments).
    """
    out: list[dict] = []
    for key, grp in layers.groupby(EXPERIMENT_KEYS, sort=False, dropna=False):
        exp, model, _, _, condition, difficulty = key
        out.append(
            _row(
                "layer_depth",
                exp,
                model,
                condition,
                difficulty,
                "relative_depth",
                "layer_score",
                grp["relative_depth"],
                grp["score"],
                join_sources(grp["sources"]),
            )
        )
    for (model, difficulty), grp in units.groupby(["model", "difficulty"], sort=False):
        if set(grp["condition"]) >= {"natural", "synthetic"}:
            wide = grp.pivot_table(index="unit", columns="condition", values="proportion_correct")
            src = join_sources(grp["sources"])
            out.append(
                _row(
                    "natural_vs_synthetic",
                    "",
                    model,
                    "both",
                    difficulty,
                    "natural_score",
                    "synthetic_score",
                    wide["natural"],
                    wide["synthetic"],
                    src,
                )
            )
    return pd.DataFrame(out, columns=SPEARMAN_COLUMNS)


def baseline_correlations(
    units: pd.DataFrame,
    unit_statistics: Mapping[str, pd.DataFrame] | None = None,
    mis: Mapping[str, pd.DataFrame | None] | None = None,
) -> pd.DataFrame:
    """Spearman correlations of the unit scores with measures of the units (baselines.csv).

    - pixel_sparsity / channel_sparsity / local_contrast (protocol §9): the unit statistic vs the
      unit score, per experiment (models without unit statistics are left out);
    - mis_vs_human: the unit's machine interpretability score vs its score, per experiment
      (models without mis.csv get a row with a note).
    """
    out: list[dict] = []
    for key, grp in units.groupby(EXPERIMENT_KEYS, sort=False, dropna=False):
        exp, model, _, _, condition, difficulty = key
        src = join_sources(grp["sources"])
        table = (unit_statistics or {}).get(model)
        if table is not None:
            joined = grp.merge(table, on="unit", how="left")
            for stat in STATISTICS:
                if stat in joined:
                    out.append(
                        _row(
                            stat,
                            exp,
                            model,
                            condition,
                            difficulty,
                            stat,
                            "unit_score",
                            joined[stat],
                            joined["proportion_correct"],
                            src,
                        )
                    )
        if mis is not None and model in mis:
            out.append(_mis_row(exp, model, condition, difficulty, grp, mis[model], src))
    return pd.DataFrame(out, columns=SPEARMAN_COLUMNS)


def spearman_table(
    units: pd.DataFrame,
    layers: pd.DataFrame,
    unit_statistics: Mapping[str, pd.DataFrame] | None = None,
    mis: Mapping[str, pd.DataFrame | None] | None = None,
) -> pd.DataFrame:
    """Every Spearman correlation: score_correlations, then baseline_correlations."""
    return pd.concat(
        [score_correlations(units, layers), baseline_correlations(units, unit_statistics, mis)],
        ignore_index=True,
    )


def _mis_row(exp, model, condition, difficulty, grp, table, sources) -> dict:
    """MIS vs human unit score for one experiment; a note row when no MIS table exists."""
    if table is None:
        return _row(
            "mis_vs_human",
            exp,
            model,
            condition,
            difficulty,
            "mis",
            "unit_score",
            [],
            [],
            sources,
            note=f"no mis.csv for {model}",
        )
    # `score` is the observer's score of the unit (MIS, or its α-free accuracy without a fitted α)
    value = next(
        (c for c in ("score", "mis", "accuracy") if c in table and table[c].notna().any()), None
    )
    if value is None or "unit" not in table:
        return _row(
            "mis_vs_human",
            exp,
            model,
            condition,
            difficulty,
            "mis",
            "unit_score",
            [],
            [],
            sources,
            note="mis.csv has no unit or score values",
        )
    x = value
    if value == "score" and "score_kind" in table:
        kinds = sorted(set(table["score_kind"].dropna().astype(str)) - {""})
        x = "+".join(kinds) or value
    keys = ["unit"] + [k for k in ("experiment", "condition", "difficulty") if k in table]
    mine = grp[["unit", "experiment", "condition", "difficulty", "proportion_correct"]]
    joined = mine.merge(table[[*keys, value]].drop_duplicates(keys), on=keys, how="left")
    return _row(
        "mis_vs_human",
        exp,
        model,
        condition,
        difficulty,
        x,
        "unit_score",
        joined[value],
        joined["proportion_correct"],
        sources,
    )

"""Scores and statistics of the 2-AFC responses (protocol §8.4), and a model of single responses.

Every function takes tidy DataFrames and returns a tidy DataFrame; nothing here plots. The data are
the rows of `responses.parquet` that protocol §8.4 analyses: kept (passed every exclusion check),
not practice (`is_demo`), not catch trials, no multi-participation, from the configured sources.

Tables (`results/tables/<name>.csv`) and their columns; `sources` names the response sources a row
used (e.g. `simulated`, `imi+local`), `label`/`scale_rank` come from the config (figures only):

- `unit_scores`: experiment, model, label, scale_rank, condition, difficulty, unit, layer, channel,
  layer_index, relative_depth, n_responses, proportion_correct (mean `correct` of the unit's
  responses), sources.
- `model_scores`: experiment, model, label, scale_rank, condition, difficulty, n_units, n_responses,
  score (unweighted mean of unit scores), ci_low, ci_high (95 % BCa bootstrap over units,
  10,000 resamples, seeded per experiment), sources.
- `confidence_scores`: as model_scores, on the responses given with one confidence (1 = low,
  3 = high; protocol §8.5 item 9), with a `confidence` column.
- `confidence_distribution`: experiment, model, label, scale_rank, condition, difficulty,
  confidence (1, 2, 3), fraction, n_responses (at that confidence), n_total, sources.
- `layer_scores`: experiment, model, label, scale_rank, condition, difficulty, layer, layer_index,
  relative_depth, score (mean of the layer's unit scores), n_units, sources.
- `kruskal_wallis`: condition, difficulty, statistic, p_value, n_models, n_units, models, sources
  (across models on unit scores; one row per condition and difficulty with at least 2 models).
- `conover_holm`: condition, difficulty, model_a, model_b, p_value (Conover post-hoc test on unit
  scores, Holm-adjusted; every ordered pair including the diagonal), sources.
- `spearman`: analysis (layer_depth | natural_vs_synthetic | pixel_sparsity | channel_sparsity |
  local_contrast | mis_vs_human), experiment, model, condition, difficulty, x, y, rho, p_value, n,
  sources, note.
- `regression`: term, coef, ci_low, ci_high, p_value, odds_ratio, model_type, scale, n_responses,
  n_models, n_units, n_participants, sources, interpretation (see `scale_regression`).
"""

from __future__ import annotations

import logging
import math
import re
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from unitpsych.io import derive_seed

log = logging.getLogger("unitpsych.stats")

EXPERIMENT_KEYS = ["experiment", "model", "label", "scale_rank", "condition", "difficulty"]
CONFIDENCE_LEVELS = (1, 2, 3)
STATISTICS = ("pixel_sparsity", "channel_sparsity", "local_contrast")
TABLES = (
    "unit_scores",
    "model_scores",
    "confidence_scores",
    "confidence_distribution",
    "layer_scores",
    "kruskal_wallis",
    "conover_holm",
    "spearman",
    "regression",
)
REFUTATION = (
    "The claim 'scale does not improve interpretability' is refuted if the coefficient of the "
    "scale term is positive with its 95% CI above 0 (more parameters or more training data -> "
    "higher odds of a correct response, holding condition, difficulty, layer depth and "
    "confidence fixed)."
)


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
        len(rows), len(responses), "+".join(sources),
    )  # fmt: skip
    return rows


def experiment_table(experiments: Iterable[Mapping], models: Mapping[str, Mapping]) -> pd.DataFrame:
    """One row per configured experiment: experiment, model, label, scale_rank, condition, difficulty."""
    from unitpsych.experiments import experiment_name

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
            int((~known).sum()), sorted(rows.loc[~known, "experiment"].unique())[:10],
        )  # fmt: skip
    drop = [c for c in EXPERIMENT_KEYS[1:] if c in rows.columns]
    return rows.loc[known].drop(columns=drop).merge(experiments, on="experiment", how="left")


def _sources(values: pd.Series) -> str:
    """The sources of a group of rows as one string (`imi+local`)."""
    return "+".join(sorted(set(values.dropna().astype(str))))


# --------------------------------------------------------------------------------------------
# Scores


def unit_scores(
    rows: pd.DataFrame, units: Mapping[str, pd.DataFrame] | None = None
) -> pd.DataFrame:
    """Per-unit score: the mean `correct` of the unit's responses in each experiment (§8.4)."""
    cols = [*EXPERIMENT_KEYS, "unit", "layer", "channel", "layer_index", "relative_depth",
            "n_responses", "proportion_correct", "sources"]  # fmt: skip
    if rows.empty:
        return pd.DataFrame(columns=cols)
    grouped = rows.groupby([*EXPERIMENT_KEYS, "unit"], sort=True, dropna=False)
    out = grouped.agg(
        n_responses=("correct", "size"),
        proportion_correct=("correct", "mean"),
        sources=("source", _sources),
    ).reset_index()
    split = out["unit"].str.rsplit("__", n=1, expand=True)
    out["layer"] = split[0]
    out["channel"] = pd.to_numeric(split[1], errors="coerce").astype("Int64")
    depth = _unit_depths(units or {})
    out = out.merge(depth, on=["model", "unit"], how="left")
    return out[cols].sort_values(["scale_rank", "model", "condition", "difficulty", "unit"],
                                 kind="stable", ignore_index=True)  # fmt: skip


def _unit_depths(units: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
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
    cols = [*EXPERIMENT_KEYS, "confidence", "n_units", "n_responses", "score", "ci_low",
            "ci_high", "sources"]  # fmt: skip
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
        ["scale_rank", "model", "condition", "difficulty", "confidence"], kind="stable",
        ignore_index=True,
    )  # fmt: skip


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
        src = _sources(grp["source"])
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
                }  # fmt: skip
            )
    return pd.DataFrame(out, columns=cols)


def layer_scores(units: pd.DataFrame) -> pd.DataFrame:
    """Unit scores pooled per layer (mean over the layer's units), with the layer's depth (§8.4)."""
    cols = [*EXPERIMENT_KEYS, "layer", "layer_index", "relative_depth", "score", "n_units",
            "sources"]  # fmt: skip
    if units.empty:
        return pd.DataFrame(columns=cols)
    out = (
        units.groupby([*EXPERIMENT_KEYS, "layer"], sort=False, dropna=False)
        .agg(
            layer_index=("layer_index", "first"),
            relative_depth=("relative_depth", "first"),
            score=("proportion_correct", "mean"),
            n_units=("unit", "size"),
            sources=("sources", _sources),
        )
        .reset_index()
    )
    return out[cols].sort_values(
        ["scale_rank", "model", "condition", "difficulty", "layer_index"], kind="stable",
        ignore_index=True,
    )  # fmt: skip


# --------------------------------------------------------------------------------------------
# Tests across models


def _model_groups(units: pd.DataFrame) -> Iterable[tuple[str, str, pd.DataFrame]]:
    """(condition, difficulty, unit scores) per condition and difficulty."""
    for (condition, difficulty), grp in units.groupby(["condition", "difficulty"], sort=True):
        yield condition, difficulty, grp


def kruskal_wallis(units: pd.DataFrame) -> pd.DataFrame:
    """Kruskal–Wallis H test across models on unit scores, per condition and difficulty (§8.4)."""
    cols = ["condition", "difficulty", "statistic", "p_value", "n_models", "n_units", "models",
            "sources"]  # fmt: skip
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
                "sources": _sources(grp["sources"]),
            }  # fmt: skip
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
        part["sources"] = _sources(grp["sources"])
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


SPEARMAN_COLUMNS = ["analysis", "experiment", "model", "condition", "difficulty", "x", "y", "rho",
                    "p_value", "n", "sources", "note"]  # fmt: skip


def _row(analysis, exp, model, condition, difficulty, x, y, xs, ys, sources, note="") -> dict:
    """One Spearman row."""
    rho, p, n = spearman(xs, ys)
    return {"analysis": analysis, "experiment": exp, "model": model, "condition": condition,
            "difficulty": difficulty, "x": x, "y": y, "rho": rho, "p_value": p, "n": n,
            "sources": sources, "note": note}  # fmt: skip


def spearman_table(
    units: pd.DataFrame,
    layers: pd.DataFrame,
    unit_statistics: Mapping[str, pd.DataFrame] | None = None,
    mis: Mapping[str, pd.DataFrame | None] | None = None,
) -> pd.DataFrame:
    """Spearman correlations of protocol §8.4 and §9, plus MIS vs human per unit.

    - layer_depth: relative layer depth vs layer-pooled score, per experiment;
    - natural_vs_synthetic: a unit's natural vs synthetic score, per model and difficulty (units
      in both experiments);
    - pixel_sparsity / channel_sparsity / local_contrast: the unit statistic vs the unit score,
      per experiment (models without unit statistics are left out);
    - mis_vs_human: the unit's machine interpretability score vs its score, per experiment
      (models without mis.csv get a row with a note).
    """
    out: list[dict] = []
    for key, grp in layers.groupby(EXPERIMENT_KEYS, sort=False, dropna=False):
        exp, model, _, _, condition, difficulty = key
        out.append(_row("layer_depth", exp, model, condition, difficulty, "relative_depth",
                        "layer_score", grp["relative_depth"], grp["score"],
                        _sources(grp["sources"])))  # fmt: skip
    for (model, difficulty), grp in units.groupby(["model", "difficulty"], sort=False):
        if set(grp["condition"]) >= {"natural", "synthetic"}:
            wide = grp.pivot_table(index="unit", columns="condition", values="proportion_correct")
            src = _sources(grp["sources"])
            out.append(_row("natural_vs_synthetic", "", model, "both", difficulty,
                            "natural_score", "synthetic_score", wide["natural"],
                            wide["synthetic"], src))  # fmt: skip
    for key, grp in units.groupby(EXPERIMENT_KEYS, sort=False, dropna=False):
        exp, model, _, _, condition, difficulty = key
        src = _sources(grp["sources"])
        table = (unit_statistics or {}).get(model)
        if table is not None:
            joined = grp.merge(table, on="unit", how="left")
            for stat in STATISTICS:
                if stat in joined:
                    out.append(_row(stat, exp, model, condition, difficulty, stat, "unit_score",
                                    joined[stat], joined["proportion_correct"], src))  # fmt: skip
        if mis is not None and model in mis:
            out.append(_mis_row(exp, model, condition, difficulty, grp, mis[model], src))
    return pd.DataFrame(out, columns=SPEARMAN_COLUMNS)


def _mis_row(exp, model, condition, difficulty, grp, table, sources) -> dict:
    """MIS vs human unit score for one experiment; a note row when no MIS table exists."""
    if table is None:
        return _row("mis_vs_human", exp, model, condition, difficulty, "mis", "unit_score",
                    [], [], sources, note=f"no mis.csv for {model}")  # fmt: skip
    # `score` is the observer's score of the unit (MIS, or its α-free accuracy without a fitted α)
    value = next((c for c in ("score", "mis", "accuracy")
                  if c in table and table[c].notna().any()), None)  # fmt: skip
    if value is None or "unit" not in table:
        return _row("mis_vs_human", exp, model, condition, difficulty, "mis", "unit_score",
                    [], [], sources, note="mis.csv has no unit or score values")  # fmt: skip
    x = value
    if value == "score" and "score_kind" in table:
        kinds = sorted(set(table["score_kind"].dropna().astype(str)) - {""})
        x = "+".join(kinds) or value
    keys = ["unit"] + [k for k in ("experiment", "condition", "difficulty") if k in table]
    mine = grp[["unit", "experiment", "condition", "difficulty", "proportion_correct"]]
    joined = mine.merge(table[[*keys, value]].drop_duplicates(keys), on=keys, how="left")
    return _row("mis_vs_human", exp, model, condition, difficulty, x, "unit_score",
                joined[value], joined["proportion_correct"], sources)  # fmt: skip


# --------------------------------------------------------------------------------------------
# Beyond the paper: a model of single responses


REGRESSION_COLUMNS = ["term", "coef", "ci_low", "ci_high", "p_value", "odds_ratio", "model_type",
                      "scale", "n_responses", "n_models", "n_units", "n_participants", "sources",
                      "interpretation"]  # fmt: skip


def model_scales(models: Mapping[str, Mapping], table: pd.DataFrame, scale: str) -> pd.DataFrame:
    """model, scale value (n_parameters or dataset_size) and trained flag from resources/models.csv.

    A model is looked up by its config name, then by its `arch`. Untrained models (`weights:
    random`) have dataset size 0 and are left out of the scale model (no log scale).
    """
    if scale not in ("n_parameters", "dataset_size"):
        raise ValueError(
            f"analysis.regression.scale: {scale!r} is not n_parameters or dataset_size"
        )
    by_id = table.set_index("model")
    out = []
    for name, info in models.items():
        key = name if name in by_id.index else info.get("arch")
        row = by_id.loc[key] if key in by_id.index else None
        value = math.nan if row is None else float(row.get(scale, math.nan))
        trained = info.get("weights", "pretrained") != "random"
        if not trained and scale == "dataset_size":
            value = 0.0
        out.append({"model": name, "scale_value": value, "trained": trained})
    return pd.DataFrame(out, columns=["model", "scale_value", "trained"])


def scale_regression(
    rows: pd.DataFrame,
    units: Mapping[str, pd.DataFrame],
    scales: pd.DataFrame,
    scale: str = "n_parameters",
    cluster: Iterable[str] = ("participant_id", "unit"),
) -> pd.DataFrame:
    """Binomial GLM of `correct` on log10(scale), condition, difficulty, depth and confidence.

    One row per response of a trained model with a known scale. Standard errors are cluster-robust
    over participants and units (two-way where both are given), since responses of one participant
    or one unit are not independent. Returns one row per term; the scale term's `interpretation`
    says whether the data refute "scale does not improve interpretability" (see REFUTATION).
    """
    import statsmodels.api as sm
    import statsmodels.formula.api as smf

    term = f"log10_{scale}"
    data = rows.merge(scales, on="model", how="left")
    data = data.merge(_unit_depths(units), on=["model", "unit"], how="left")
    usable = data["trained"].fillna(False).astype(bool) & (data["scale_value"] > 0)
    left_out = sorted(set(data.loc[~usable, "model"]))
    data = data.loc[usable].copy()
    data[term] = np.log10(data["scale_value"].astype(float))
    if "confidence" not in data:
        data["confidence"] = np.nan
    # patsy needs plain numpy dtypes (not pandas' nullable Int64 / string)
    data["confidence"] = pd.to_numeric(data["confidence"], errors="coerce").astype(float)
    data["relative_depth"] = pd.to_numeric(data["relative_depth"], errors="coerce").astype(float)
    data["correct"] = data["correct"].astype(float)
    for column in ("condition", "difficulty"):
        data[column] = data[column].astype(str).astype(object)
    predictors = [term]
    if data["condition"].nunique() > 1:
        predictors.append("C(condition)")
    if data["difficulty"].nunique() > 1:
        ref = "easy" if "easy" in set(data["difficulty"]) else sorted(set(data["difficulty"]))[0]
        predictors.append(f"C(difficulty, Treatment('{ref}'))")
    if data["relative_depth"].notna().all() and data["relative_depth"].nunique() > 1:
        predictors.append("relative_depth")
    if data["confidence"].notna().all() and data["confidence"].nunique() > 1:
        data["confidence"] = data["confidence"].astype(np.int64)
        predictors.append("C(confidence)")
    cluster = [c for c in cluster if c in data]
    info = {
        "model_type": "binomial GLM (logit), cluster-robust SE by "
        + " & ".join(cluster or ["none"]),
        "scale": scale,
        "n_responses": len(data),
        "n_models": data["model"].nunique(),
        "n_units": data.groupby(["model", "unit"]).ngroups if len(data) else 0,
        "n_participants": data["participant_id"].nunique() if "participant_id" in data else 0,
        "sources": _sources(data["source"]) if len(data) else "",
    }
    note = f" Left out (untrained or no {scale}): {', '.join(left_out)}." if left_out else ""
    if info["n_models"] < 2 or data[term].nunique() < 2:
        why = f"not fitted: needs trained models of at least 2 different {scale}." + note
        return pd.DataFrame([{"term": term} | info | {"interpretation": why + " " + REFUTATION}],
                            columns=REGRESSION_COLUMNS)  # fmt: skip
    formula = "correct ~ " + " + ".join(predictors)
    fit_kw: dict = {}
    if cluster:
        groups = np.column_stack([pd.factorize(data[c].astype(str))[0] for c in cluster])
        fit_kw = {"cov_type": "cluster", "cov_kwds": {"groups": groups if groups.shape[1] > 1
                                                      else groups[:, 0]}}  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = smf.glm(formula, data, family=sm.families.Binomial()).fit(**fit_kw)
    ci = fit.conf_int(0.05)
    table = pd.DataFrame(
        {
            "term": fit.params.index,
            "coef": fit.params.to_numpy(),
            "ci_low": ci[0].to_numpy(),
            "ci_high": ci[1].to_numpy(),
            "p_value": fit.pvalues.to_numpy(),
        }
    )
    table["term"] = table["term"].map(_term_name)
    table = pd.concat(
        [table[table["term"] == term], table[table["term"] != term]], ignore_index=True
    )
    table["odds_ratio"] = np.exp(table["coef"])
    for k, v in info.items():
        table[k] = v
    table["interpretation"] = ""
    row = table["term"] == term
    low, high = float(table.loc[row, "ci_low"].iloc[0]), float(table.loc[row, "ci_high"].iloc[0])
    if low > 0:
        verdict = "Refuted here: the scale coefficient's 95% CI lies above 0."
    elif high < 0:
        verdict = "Not refuted: larger scale goes with lower odds of a correct response here."
    else:
        verdict = "Not refuted: the scale coefficient's 95% CI includes 0."
    table.loc[row, "interpretation"] = f"{verdict} {REFUTATION}{note} Formula: {formula}."
    return table[REGRESSION_COLUMNS]


def _term_name(term: str) -> str:
    """Readable patsy term names: `C(difficulty, Treatment('easy'))[T.hard95]` -> `difficulty[hard95]`."""
    m = re.fullmatch(r"C\((\w+).*\)\[T\.(.+)\]", term)
    return f"{m.group(1)}[{m.group(2)}]" if m else term


# --------------------------------------------------------------------------------------------
# Everything at once


SCORE_TABLES = tuple(t for t in TABLES if t != "spearman")


def score_tables(
    responses: pd.DataFrame,
    experiments: Iterable[Mapping],
    models: Mapping[str, Mapping],
    settings: Settings,
    units: Mapping[str, pd.DataFrame] | None = None,
    model_table: pd.DataFrame | None = None,
) -> dict[str, pd.DataFrame]:
    """Every table except `spearman` (name -> DataFrame) from the response table and units.csv."""
    units = dict(units or {})
    exps = experiment_table(experiments, models)
    rows = attach_experiments(analysis_rows(responses, settings.sources), exps)
    per_unit = unit_scores(rows, units)
    tables = {
        "unit_scores": per_unit,
        "model_scores": model_scores(per_unit, settings),
        "confidence_scores": confidence_scores(rows, settings),
        "confidence_distribution": confidence_distribution(rows),
        "layer_scores": layer_scores(per_unit),
        "kruskal_wallis": kruskal_wallis(per_unit),
        "conover_holm": conover_holm(per_unit),
    }
    if model_table is not None:
        scales = model_scales(models, model_table, settings.regression_scale)
        tables["regression"] = scale_regression(
            rows, units, scales, settings.regression_scale, settings.regression_cluster
        )
    else:
        tables["regression"] = pd.DataFrame(columns=REGRESSION_COLUMNS)
    return tables


def build_tables(
    responses: pd.DataFrame,
    experiments: Iterable[Mapping],
    models: Mapping[str, Mapping],
    settings: Settings,
    units: Mapping[str, pd.DataFrame] | None = None,
    unit_statistics: Mapping[str, pd.DataFrame] | None = None,
    mis: Mapping[str, pd.DataFrame | None] | None = None,
    model_table: pd.DataFrame | None = None,
) -> dict[str, pd.DataFrame]:
    """Every analysis table, `spearman` included (the two rules' work in one call)."""
    tables = score_tables(responses, experiments, models, settings, units, model_table)
    tables["spearman"] = spearman_table(
        tables["unit_scores"], tables["layer_scores"], unit_statistics, mis
    )
    return tables

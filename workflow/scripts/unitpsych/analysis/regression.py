"""Beyond the paper: a binomial GLM of single responses on model scale (statsmodels)."""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from unitpsych.analysis.scores import join_sources, unit_depths
from unitpsych.responses.merge import anonymized, participant_key

PARTICIPANT = "participant"  # the clustering column: participant, or participation if anonymized

REFUTATION = (
    "The claim 'scale does not improve interpretability' is refuted if the coefficient of the "
    "scale term is positive with its 95% CI above 0 (more parameters or more training data -> "
    "higher odds of a correct response, holding condition, difficulty, layer depth and "
    "confidence fixed)."
)
REGRESSION_COLUMNS = [
    "term",
    "coef",
    "ci_low",
    "ci_high",
    "p_value",
    "odds_ratio",
    "model_type",
    "scale",
    "n_responses",
    "n_models",
    "n_units",
    "n_participants",
    "sources",
    "interpretation",
]


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


def _regression_data(
    rows: pd.DataFrame, units: Mapping[str, pd.DataFrame], scales: pd.DataFrame, term: str
) -> tuple[pd.DataFrame, list[str]]:
    """The responses of trained models with a known scale, with `term` = log10(scale) and plain
    numpy dtypes (patsy needs them, not pandas' nullable Int64 / string); and the models left
    out."""
    data = rows.merge(scales, on="model", how="left")
    data = data.merge(unit_depths(units), on=["model", "unit"], how="left")
    usable = data["trained"].fillna(False).astype(bool) & (data["scale_value"] > 0)
    left_out = sorted(set(data.loc[~usable, "model"]))
    data = data.loc[usable].copy()
    data[term] = np.log10(data["scale_value"].astype(float))
    if "confidence" not in data:
        data["confidence"] = np.nan
    data["confidence"] = pd.to_numeric(data["confidence"], errors="coerce").astype(float)
    data["relative_depth"] = pd.to_numeric(data["relative_depth"], errors="coerce").astype(float)
    data["correct"] = data["correct"].astype(float)
    for column in ("condition", "difficulty"):
        data[column] = data[column].astype(str).astype(object)
    return data, left_out


def _predictors(data: pd.DataFrame, term: str) -> list[str]:
    """The scale term and every control that varies in the data (confidence made integer)."""
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
    return predictors


def _fit_info(data: pd.DataFrame, scale: str, clustered_by: str) -> dict:
    """The columns every row of the table repeats: the model, its scale and the counts."""
    return {
        "model_type": f"binomial GLM (logit), cluster-robust SE by {clustered_by}",
        "scale": scale,
        "n_responses": len(data),
        "n_models": data["model"].nunique(),
        "n_units": data.groupby(["model", "unit"]).ngroups if len(data) else 0,
        "n_participants": data[PARTICIPANT].nunique() if PARTICIPANT in data else 0,
        "sources": join_sources(data["source"]) if len(data) else "",
    }


def _fit_terms(data: pd.DataFrame, formula: str, cluster: list[str], term: str) -> pd.DataFrame:
    """The fitted GLM's terms (the scale term first): coef, 95% CI, p and odds ratio."""
    import statsmodels.api as sm
    import statsmodels.formula.api as smf

    fit_kw: dict = {}
    if cluster:
        groups = np.column_stack([pd.factorize(data[c].astype(str))[0] for c in cluster])
        fit_kw = {
            "cov_type": "cluster",
            "cov_kwds": {"groups": groups if groups.shape[1] > 1 else groups[:, 0]},
        }
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
    return table


def _verdict(low: float, high: float) -> str:
    """What the scale coefficient's 95% CI says about the claim."""
    if low > 0:
        return "Refuted here: the scale coefficient's 95% CI lies above 0."
    if high < 0:
        return "Not refuted: larger scale goes with lower odds of a correct response here."
    return "Not refuted: the scale coefficient's 95% CI includes 0."


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
    term = f"log10_{scale}"
    data, left_out = _regression_data(rows, units, scales, term)
    predictors = _predictors(data, term)
    cluster, clustered_by = cluster_columns(data, cluster)
    info = _fit_info(data, scale, clustered_by)
    note = f" Left out (untrained or no {scale}): {', '.join(left_out)}." if left_out else ""
    if info["n_models"] < 2 or data[term].nunique() < 2:
        why = f"not fitted: needs trained models of at least 2 different {scale}." + note
        return pd.DataFrame(
            [{"term": term} | info | {"interpretation": why + " " + REFUTATION}],
            columns=REGRESSION_COLUMNS,
        )
    formula = "correct ~ " + " + ".join(predictors)
    table = _fit_terms(data, formula, cluster, term)
    for k, v in info.items():
        table[k] = v
    table["interpretation"] = ""
    row = table["term"] == term
    low, high = float(table.loc[row, "ci_low"].iloc[0]), float(table.loc[row, "ci_high"].iloc[0])
    verdict = _verdict(low, high)
    table.loc[row, "interpretation"] = f"{verdict} {REFUTATION}{note} Formula: {formula}."
    return table[REGRESSION_COLUMNS]


def cluster_columns(data: pd.DataFrame, cluster: Iterable[str]) -> tuple[list[str], str]:
    """The columns to cluster by, and the words that say so in the output.

    `participant_id` clusters by participant where a source tells who answered and by
    participation where it does not (the IMI release's ids are all `anonymized`; one group would
    make the robust covariance degenerate). A column with a single group is left out, and named.
    """
    columns, names, single = [], [], []
    for c in cluster:
        name = c
        if c == "participant_id" and c in data:
            data[PARTICIPANT] = participant_key(data)
            hidden = anonymized(data[c])
            c, name = PARTICIPANT, "participant"
            if hidden.any():
                sources = "+".join(sorted(set(data.loc[hidden, "source"].astype(str))))
                name = (
                    f"participation (participant ids anonymized: {sources})"
                    if hidden.all()
                    else f"participant (participation where ids are anonymized: {sources})"
                )
        if c not in data:
            continue
        if data[c].nunique() < 2:
            single.append(name)
            continue
        columns.append(c)
        names.append(name)
    words = " & ".join(names or ["none"])
    if single:
        words += f" (not by {', '.join(single)}: a single group)"
    return columns, words


def _term_name(term: str) -> str:
    """Readable patsy term names: `C(difficulty, Treatment('easy'))[T.hard95]` ->
    `difficulty[hard95]`."""
    m = re.fullmatch(r"C\((\w+).*\)\[T\.(.+)\]", term)
    return f"{m.group(1)}[{m.group(2)}]" if m else term

"""Reproduction: our scores from the released IMI responses next to the paper's published ones."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from unitpsych.analysis.scores import (
    Settings,
    analysis_rows,
    attach_experiments,
    experiment_table,
    model_scores,
    unit_scores,
)
from unitpsych.experiments.design import experiment_name

#: The source whose scores are compared with the paper's.
SOURCE = "imi"
COLUMNS = [
    "experiment",
    "model",
    "label",
    "scale_rank",
    "condition",
    "difficulty",
    "paper_score",
    "paper_ci_low",
    "paper_ci_high",
    "score",
    "ci_low",
    "ci_high",
    "difference",
    "paper_inside_our_ci",
    "ours_inside_paper_ci",
    "n_units",
    "n_responses",
    "sources",
    "note",
]


def _inside(value: pd.Series, low: pd.Series, high: pd.Series) -> pd.Series:
    """value within [low, high] (NA where any of them is missing)."""
    known = value.notna() & low.notna() & high.notna()
    inside = (value >= low) & (value <= high)
    return inside.astype("boolean").where(known, pd.NA)


def reproduction_table(
    responses: pd.DataFrame,
    paper: pd.DataFrame,
    experiments: Iterable[Mapping],
    models: Mapping[str, Mapping],
    settings: Settings,
) -> pd.DataFrame:
    """One row per published score: the paper's value and CI, ours from the released responses
    alone (kept, non-practice, non-catch; BCa CI over units), their difference and whether each
    lies inside the other's CI. Published scores of experiments the config lacks, or without
    released responses, keep their row with a note."""
    imi = Settings(**{**settings.__dict__, "sources": (SOURCE,)})
    exps = experiment_table(experiments, models)
    ours = model_scores(
        unit_scores(attach_experiments(analysis_rows(responses, imi.sources), exps)), imi
    )
    p = paper.rename(
        columns={
            "proportion_correct": "paper_score",
            "ci_low": "paper_ci_low",
            "ci_high": "paper_ci_high",
        }
    )
    p["difficulty"] = p["difficulty"].fillna("easy")
    p["experiment"] = [
        experiment_name(m, c, d)
        for m, c, d in zip(p["model"], p["condition"], p["difficulty"], strict=True)
    ]
    scored = ["score", "ci_low", "ci_high", "n_units", "n_responses", "sources"]
    table = p.merge(ours[["experiment", *scored]], on="experiment", how="left")
    configured = exps.set_index("experiment")
    table["label"] = table["experiment"].map(configured["label"]).fillna(table["label"])
    table["scale_rank"] = table["experiment"].map(configured["scale_rank"])
    table["difference"] = table["score"] - table["paper_score"]
    table["paper_inside_our_ci"] = _inside(table["paper_score"], table["ci_low"], table["ci_high"])
    table["ours_inside_paper_ci"] = _inside(
        table["score"], table["paper_ci_low"], table["paper_ci_high"]
    )
    table["note"] = np.select(
        [~table["experiment"].isin(configured.index), table["score"].isna()],
        ["not a configured experiment", "no released responses of this experiment"],
        "",
    )
    table["sources"] = table["sources"].fillna("")
    return table[COLUMNS].sort_values(["condition", "scale_rank"], kind="stable", ignore_index=True)

"""The other figures: model properties, significance matrices and exclusion criteria (protocol §8.5
items 11–15), the unit-statistic baselines (§9) and, beyond the paper, the machine
interpretability score (MIS) per model and vs humans.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import scikit_posthocs as sp
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from unitpsych.figures_base import (
    CONDITION_COLOR,
    CONDITION_LABEL,
    CONDITIONS,
    EASY,
    ROLE_COLOR,
    SCALE_LABEL,
    SCORE_LABEL,
    FigureInputError,
    add_note,
    chance_line,
    ci_errors,
    grid,
    join_notes,
    label_rows,
    model_labels,
    model_order,
    require,
    score_ylim,
    select,
    sources_text,
    spearman_title,
)

CHECKS = (
    "catch_trials",
    "row_variability",
    "total_response_time",
    "instruction_time",
    "demo_trials",
)
CHECK_LABEL = {
    "catch_trials": "Catch Trials",
    "row_variability": "Row Variability",
    "total_response_time": "Total Response Time",
    "instruction_time": "Instruction Time",
    "demo_trials": "Practice Attempts",
}
UPPER_COLUMNS = [
    "row_variability_upper",
    "n_upper_row",
    "row_variability_details_details_upper_extracted",
]
LOWER_COLUMNS = [
    "row_variability_lower",
    "n_lower_row",
    "row_variability_details_details_lower_extracted",
]
BASELINES = {  # figure name: (unit-statistics column, x label)
    "imi_pixel_sparsity_natural": ("pixel_sparsity", "Pixel Sparsity"),
    "imi_channel_sparsity_natural": ("channel_sparsity", "Channel Sparsity"),
    "imi_local_contrast": ("local_contrast", "Local Contrast"),
}


def property_vs_score(
    model_scores: pd.DataFrame, properties: pd.DataFrame, column: str, xlabel: str
) -> Figure:
    """Items 11–12: model score (with CI) vs a model property (top-1 accuracy, mean rank)."""
    t = select(model_scores, difficulty=EASY).merge(
        properties[["model", column]], on="model", how="inner"
    )
    t = require(t.dropna(subset=[column]), f"models with a {column} in resources/models.csv")
    labels = model_labels(t)
    fig, ax = plt.subplots(figsize=(4.2, 3.2), layout="constrained")
    for cond in [c for c in CONDITIONS if c in set(t["condition"])]:
        rows = select(t, condition=cond)
        ax.errorbar(rows[column], rows["score"], yerr=ci_errors(rows), fmt="o", color=CONDITION_COLOR[cond],
                    markeredgecolor="0.2", label=CONDITION_LABEL[cond], zorder=3)  # fmt: skip
        if cond == "natural" or "natural" not in set(t["condition"]):
            for _, r in rows.iterrows():
                ax.annotate(labels[r["model"]], (r[column], r["score"]), xytext=(4, 3),
                            textcoords="offset points", fontsize=6.5)  # fmt: skip
    chance_line(ax)
    ax.set_ylim(*score_ylim(t["ci_low"], t["ci_high"]))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(SCORE_LABEL)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    add_note(fig, sources_text([t]))
    return fig


def model_accuracy_vs_performance(model_scores: pd.DataFrame, properties: pd.DataFrame) -> Figure:
    """Item 11: model score vs ImageNet top-1 accuracy."""
    return property_vs_score(model_scores, properties, "top1_accuracy", "ImageNet Top-1 Accuracy")


def model_human_likeness_vs_performance(
    model_scores: pd.DataFrame, properties: pd.DataFrame
) -> Figure:
    """Item 12: model score vs mean rank (inverse human-likeness)."""
    return property_vs_score(
        model_scores, properties, "mean_rank", "Mean Rank (Inverse Human-Likeness)"
    )


def significance_matrix(
    conover_holm: pd.DataFrame, model_scores: pd.DataFrame, condition: str
) -> Figure:
    """Item 13: Conover–Holm p-values between models as a significance matrix."""
    t = require(
        select(conover_holm, condition=condition, difficulty=EASY), f"{condition} post-hoc tests"
    )
    ms = select(model_scores, difficulty=EASY, condition=condition)
    present = set(t["model_a"]) | set(t["model_b"])
    models = [m for m in model_order(ms) if m in present] + sorted(present - set(ms["model"]))
    labels = model_labels(ms)
    names = [labels.get(m, m) for m in models]
    p = pd.DataFrame(np.ones((len(models), len(models))), index=names, columns=names)
    for _, r in t.iterrows():
        a, b = labels.get(r["model_a"], r["model_a"]), labels.get(r["model_b"], r["model_b"])
        p.loc[a, b] = p.loc[b, a] = float(r["p_value"])
    size = 1.0 + 0.45 * len(models)
    fig, ax = plt.subplots(figsize=(size + 2.2, size))
    fig.subplots_adjust(left=0.3, bottom=0.24, right=0.78, top=0.9)
    sp.sign_plot(
        p, ax=ax, linewidths=0.5, linecolor="0.5", square=True, cbar_ax_bbox=(0.82, 0.35, 0.04, 0.4)
    )
    ax.set_title(f"Conover–Holm, {CONDITION_LABEL[condition]}")
    plt.setp(ax.get_xticklabels(), rotation=45, ha="right", rotation_mode="anchor")
    ax.tick_params(axis="y", labelrotation=0)
    ax.grid(False)
    add_note(fig, sources_text([ms]), below=ax)
    return fig


def _first_column(table: pd.DataFrame, names: Sequence[str]) -> str | None:
    """The first of `names` that is a column of `table`."""
    return next((n for n in names if n in table.columns), None)


def _check_passed(exclusions: pd.DataFrame, check: str) -> pd.Series:
    """Pass/fail of one check per (participant, task) row, whatever the column is called."""
    col = _first_column(exclusions, [f"{check}_passed", f"{check}_result", f"{check}_pass", check])
    if col is None:
        raise FigureInputError(f"exclusions table has no pass/fail column for {check!r}")
    return exclusions[col].map(lambda v: str(v).strip().lower() in ("true", "1", "pass", "passed"))


def exclusion_decisions(exclusions: pd.DataFrame) -> Figure:
    """Item 14: how many (participant, task) records passed and failed each of the 5 checks."""
    require(exclusions, "(participant, task) records in the exclusions table")
    passed = pd.DataFrame({c: _check_passed(exclusions, c) for c in CHECKS})
    n_pass = passed.sum().to_numpy()
    n_fail = len(passed) - n_pass
    x = np.arange(len(CHECKS))
    fig, ax = plt.subplots(figsize=(5.0, 3.0), layout="constrained")
    ax.bar(x - 0.2, n_pass, 0.4, color=ROLE_COLOR["passed"], label="Passed")
    ax.bar(x + 0.2, n_fail, 0.4, color=ROLE_COLOR["failed"], label="Failed")
    ax.set_xticks(x)
    ax.set_xticklabels([CHECK_LABEL[c] for c in CHECKS], rotation=20, ha="right")
    ax.set_ylabel("Number of Tasks")
    ax.set_xlabel("Exclusion Criterion")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    fig.legend(loc="outside upper center", ncols=2)
    n_all = int(passed.all(axis=1).sum())
    add_note(
        fig, join_notes(_exclusion_note(exclusions), f"{n_all} of {len(passed)} passed every check")
    )
    return fig


def _exclusion_note(exclusions: pd.DataFrame) -> str:
    """Which sources and experiments the exclusion records come from."""
    parts = []
    if "source" in exclusions:
        parts.append(
            "sources: " + ", ".join(sorted(exclusions["source"].dropna().astype(str).unique()))
        )
    if "experiment" in exclusions:
        n = exclusions["experiment"].nunique()
        parts.append(f"{n} experiment{'s' if n != 1 else ''}")
    return "; ".join(parts)


def exclusion_values(exclusions: pd.DataFrame, thresholds: Mapping[str, float | None]) -> Figure:
    """Item 15: 20-bin histograms of the 6 check values with the thresholds as vertical lines."""
    require(exclusions, "(participant, task) records in the exclusions table")
    row_min = thresholds.get("row_variability_min")
    panels = [  # (title, candidate value columns, threshold lines)
        ("Instruction Time [s]", ["instruction_time_value", "instruction_time"],
         [thresholds.get("instruction_time_min_s"), thresholds.get("instruction_time_max_s")]),
        ("Total Response Time [s]", ["total_response_time_value", "total_response_time"],
         [thresholds.get("total_response_time_min_s"), thresholds.get("total_response_time_max_s")]),
        ("Upper Row Presses", UPPER_COLUMNS, [row_min]),
        ("Lower Row Presses", LOWER_COLUMNS, [row_min]),
        ("Catch Trial Ratio", ["catch_trials_value", "catch_trials_ratio", "catch_trials"],
         [thresholds.get("catch_trials_min_ratio")]),
        ("Practice Attempts", ["demo_trials_value", "demo_trials_attempts", "demo_trials"],
         [thresholds.get("demo_trials_max_attempts")]),
    ]  # fmt: skip
    if (
        _first_column(exclusions, UPPER_COLUMNS) is None
        or _first_column(exclusions, LOWER_COLUMNS) is None
    ):
        # only the check's value (the less-used row's count): one panel instead of two
        panels[2:4] = [("Presses of the Less-Used Row", ["row_variability_value"], [row_min])]
    fig, axes = plt.subplots(2, 3, figsize=(8.4, 4.6), layout="constrained")
    for ax in axes.ravel()[len(panels) :]:
        ax.set_visible(False)
    for ax, (title, names, lines) in zip(axes.ravel(), panels, strict=False):
        col = _first_column(exclusions, names)
        if col is None:
            raise FigureInputError(f"exclusions table has none of the columns {names}")
        values = pd.to_numeric(exclusions[col], errors="coerce").dropna()
        bins = _bins(values)
        ax.hist(
            values, bins=bins, color="0.55", rwidth=0.8 if isinstance(bins, np.ndarray) else None
        )
        for t in lines:
            if t is not None:
                ax.axvline(
                    float(t),
                    color=ROLE_COLOR["threshold"],
                    linestyle="--",
                    linewidth=1.2,
                    label="Threshold",
                )
        ax.set_title(title)
        ax.set_ylabel("Number of Tasks")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    labelled = next((ax for ax in axes.ravel() if ax.get_visible() and ax.get_lines()), None)
    if labelled is not None:
        labelled.legend(loc="upper right")
    add_note(fig, _exclusion_note(exclusions))
    return fig


def _bins(values: pd.Series) -> int | np.ndarray:
    """20 bins (protocol §8.5), or one bin per value for counts with fewer than 20 values."""
    if len(values) and np.allclose(values, np.round(values)) and values.max() - values.min() < 20:
        return np.arange(values.min() - 0.5, values.max() + 1.5)
    return 20


def unit_baseline(unit_scores: pd.DataFrame, unit_statistics: pd.DataFrame, spearman: pd.DataFrame | None,
                  measure: str, xlabel: str) -> Figure:  # fmt: skip
    """§9 baselines: per-unit natural score vs a unit statistic, one panel per model, ρ and p."""
    scores = select(unit_scores, condition="natural", difficulty=EASY)
    t = scores.merge(unit_statistics[["model", "unit", measure]], on=["model", "unit"], how="inner")
    t = t.dropna(subset=[measure])
    models = [m for m in model_order(scores) if m in set(t["model"])]
    if not models:
        raise FigureInputError(f"no model has both natural unit scores and a {measure} per unit")
    labels = model_labels(scores)
    fig, axes = grid(len(models))
    for ax, m in zip(axes, models, strict=True):
        rows = select(t, model=m)
        ax.scatter(
            rows[measure],
            rows["proportion_correct"],
            color="C0",
            edgecolor="0.2",
            linewidth=0.5,
            zorder=3,
        )
        chance_line(ax, label=None)
        ax.set_ylim(min(0.0, float(rows["proportion_correct"].min()) - 0.05), 1.02)
        ax.set_title(f"{labels[m]}\n{spearman_title(spearman, measure, m, 'natural')}")
        ax.set_xlabel(xlabel)
    label_rows(axes, "Natural: " + SCORE_LABEL)
    add_note(fig, join_notes(sources_text([scores], unit_col=None), "one point per unit"))
    return fig


def machine_scores(mis: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """model, unit, value of the observer's per-unit score and its axis label.

    mis.csv holds `mis` (needs α fitted to human responses), the α-free `accuracy` and `score`
    (the MIS where there is one, else the accuracy) with `score_kind`; the label says which.
    """
    column = next(
        (c for c in ("score", "mis", "accuracy") if c in mis and mis[c].notna().any()), None
    )
    if column is None:
        raise FigureInputError("mis.csv has no unit with a score, MIS or accuracy value")
    kinds = (
        set(mis["score_kind"].dropna()) if column == "score" and "score_kind" in mis else {column}
    )
    label = {frozenset({"mis"}): "Machine Interpretability Score",
             frozenset({"accuracy"}): "Machine Observer Accuracy (α-free)"}.get(
        frozenset(kinds), "MIS or α-free Observer Accuracy")  # fmt: skip
    t = mis[["model", "unit", column]].rename(columns={column: "value"}).dropna(subset=["value"])
    return t, label


def mis_per_model(mis: pd.DataFrame, unit_scores: pd.DataFrame) -> Figure:
    """Beyond the paper: mean machine score (MIS) per model, with every unit as a dot."""
    values, ylabel = machine_scores(require(mis, "units with a machine interpretability score"))
    meta = unit_scores.groupby("model", sort=False)[["label", "scale_rank"]].first().reset_index()
    t = values.merge(meta, on="model", how="left")
    models, labels = model_order(t), model_labels(t)
    fig, ax = plt.subplots(figsize=(max(4.0, 0.7 * len(models) + 1.6), 3.2), layout="constrained")
    rng = np.random.default_rng(0)  # fixed jitter: the same figure every run
    for i, m in enumerate(models):
        v = select(t, model=m)["value"].to_numpy(float)
        ax.bar(i, v.mean(), 0.7, color=ROLE_COLOR["machine"], alpha=0.6)
        ax.scatter(i + rng.uniform(-0.2, 0.2, len(v)), v, s=10, color="0.2", zorder=3)
    chance_line(ax)
    ax.set_ylim(min(0.45, float(t["value"].min()) - 0.03), 1.02)
    ax.set_xticks(np.arange(len(models)))
    rotate = len(models) > 4
    ax.set_xticklabels([labels[m] for m in models], rotation=30 if rotate else 0,
                       ha="right" if rotate else "center")  # fmt: skip
    ax.set_xlabel(SCALE_LABEL)
    ax.set_ylabel(ylabel)
    fig.legend(loc="outside upper center")
    add_note(fig, f"bars: mean over units; dots: units ({len(t)} units of {len(models)} models)")
    return fig


def mis_vs_human(
    mis: pd.DataFrame, unit_scores: pd.DataFrame, spearman: pd.DataFrame | None = None
) -> Figure:
    """Beyond the paper: per-unit machine score (x) vs the per-unit natural score (y), per model."""
    values, xlabel = machine_scores(require(mis, "units with a machine interpretability score"))
    scores = select(unit_scores, condition="natural", difficulty=EASY)
    t = scores.merge(values, on=["model", "unit"], how="inner")
    models = [m for m in model_order(scores) if m in set(t["model"])]
    if not models:
        raise FigureInputError("no unit has both a natural score and a machine score")
    labels = model_labels(scores)
    fig, axes = grid(len(models))
    for ax, m in zip(axes, models, strict=True):
        rows = select(t, model=m)
        ax.scatter(
            rows["value"],
            rows["proportion_correct"],
            color="C0",
            edgecolor="0.2",
            linewidth=0.5,
            zorder=3,
        )
        ax.plot([0, 1], [0, 1], color="0.6", linewidth=0.8, zorder=1)
        chance_line(ax, label=None)
        ax.set_xlim(min(0.45, float(rows["value"].min()) - 0.03), 1.02)
        ax.set_ylim(min(0.0, float(rows["proportion_correct"].min()) - 0.05), 1.02)
        ax.set_title(f"{labels[m]}\n{spearman_title(spearman, 'mis_vs_human', m, 'natural')}")
        ax.set_xlabel(xlabel)
    label_rows(axes, "Natural: " + SCORE_LABEL)
    add_note(
        fig, join_notes(sources_text([scores], unit_col=None), "one point per unit; grey: identity")
    )
    return fig

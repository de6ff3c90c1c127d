"""The other figures: model properties, significance matrices and exclusion criteria (protocol §8.5
items 11–15), the unit-statistic baselines (§9) and, beyond the paper, the machine
interpretability score (MIS) per model and vs humans.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import scikit_posthocs as sp
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.transforms import ScaledTranslation

from unitpsych.figures import base as fb


def property_vs_score(
    model_scores: pd.DataFrame, properties: pd.DataFrame, column: str, xlabel: str
) -> Figure:
    """Items 11–12: model score (with CI) vs a model property (top-1 accuracy, mean rank)."""
    t = fb.select(model_scores, difficulty=fb.EASY).merge(
        properties[["model", column]], on="model", how="inner"
    )
    t = fb.require(t.dropna(subset=[column]), f"models with a {column} in resources/models.csv")
    labels = fb.model_labels(t)
    number = {m: k for k, m in enumerate(fb.model_order(t), 1)}  # short marks, named in a key
    fig, ax = plt.subplots(figsize=(4.6, 3.6), layout="constrained")
    conds = [c for c in fb.CONDITIONS if c in set(t["condition"])]
    for i, cond in enumerate(conds):
        rows = fb.select(t, condition=cond)
        bars = ax.errorbar(
            rows[column],
            rows["score"],
            yerr=fb.ci_errors(rows),
            fmt="o",
            color=fb.CONDITION_COLOR[cond],
            markeredgecolor="0.2",
            label=fb.CONDITION_LABEL[cond],
            zorder=3,
        )
        dx = 3.0 * (2 * i - (len(conds) - 1))  # points: a model's two conditions side by side
        shift = ax.transData + ScaledTranslation(dx / 72, 0, fig.dpi_scale_trans)
        for artist in bars.get_children():
            artist.set_transform(shift)
        if cond == "natural" or "natural" not in set(t["condition"]):
            for _, r in rows.iterrows():
                ax.annotate(
                    str(number[r["model"]]),
                    (r[column], r["score"]),
                    xytext=(3.0 * len(conds) + 3, 3),
                    textcoords="offset points",
                    fontsize=6.5,
                )
    fb.chance_line(ax)
    ax.set_ylim(*fb.score_ylim(t["ci_low"], t["ci_high"]))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(fb.SCORE_LABEL)
    ax.add_artist(ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0)))
    key = [
        Line2D([], [], linestyle="none", marker=f"${k}$", color="0.2", label=labels[m])
        for m, k in number.items()
    ]
    ax.legend(
        handles=key,
        loc="upper left",
        bbox_to_anchor=(1.0, 0.68),
        title="Models",
        fontsize=7,
        title_fontsize=7,
        handletextpad=0.4,
    )
    fb.add_note(fig, fb.sources_text([t]))
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
    t = fb.require(
        fb.select(conover_holm, condition=condition, difficulty=fb.EASY),
        f"{condition} post-hoc tests",
    )
    ms = fb.select(model_scores, difficulty=fb.EASY, condition=condition)
    present = set(t["model_a"]) | set(t["model_b"])
    models = [m for m in fb.model_order(ms) if m in present] + sorted(present - set(ms["model"]))
    labels = fb.model_labels(ms)
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
    ax.set_title(f"Conover–Holm, {fb.CONDITION_LABEL[condition]}")
    plt.setp(ax.get_xticklabels(), rotation=45, ha="right", rotation_mode="anchor")
    ax.tick_params(axis="y", labelrotation=0)
    ax.grid(False)
    fb.add_note(fig, fb.sources_text([ms]), below=ax)
    return fig


def unit_baseline(
    unit_scores: pd.DataFrame,
    unit_statistics: pd.DataFrame,
    spearman: pd.DataFrame | None,
    measure: str,
    xlabel: str,
) -> Figure:
    """§9 baselines: per-unit natural score vs a unit statistic, one panel per model, ρ and p."""
    scores = fb.select(unit_scores, condition="natural", difficulty=fb.EASY)
    t = scores.merge(unit_statistics[["model", "unit", measure]], on=["model", "unit"], how="inner")
    t = t.dropna(subset=[measure])
    models = [m for m in fb.model_order(scores) if m in set(t["model"])]
    if not models:
        raise fb.FigureInputError(f"no model has both natural unit scores and a {measure} per unit")
    labels = fb.model_labels(scores)
    fig, axes = fb.grid(len(models))
    for ax, m in zip(axes, models, strict=True):
        rows = fb.select(t, model=m)
        fb.unit_dots(ax, rows[measure], rows["proportion_correct"])
        fb.chance_line(ax, label=None)
        ax.set_ylim(min(0.0, float(rows["proportion_correct"].min()) - 0.05), 1.02)
        ax.set_title(f"{labels[m]}\n{fb.spearman_title(spearman, measure, m, 'natural')}")
        ax.set_xlabel(xlabel)
    fb.label_rows(axes, "Natural: " + fb.SCORE_LABEL)
    fb.add_note(fig, fb.join_notes(fb.sources_text([scores], unit_col=None), "one point per unit"))
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
        raise fb.FigureInputError("mis.csv has no unit with a score, MIS or accuracy value")
    kinds = (
        set(mis["score_kind"].dropna()) if column == "score" and "score_kind" in mis else {column}
    )
    label = {
        frozenset({"mis"}): "Machine Interpretability Score",
        frozenset({"accuracy"}): "Machine Observer Accuracy (α-free)",
    }.get(frozenset(kinds), "MIS or α-free Observer Accuracy")
    t = mis[["model", "unit", column]].rename(columns={column: "value"}).dropna(subset=["value"])
    return t, label


def backend_note(mis: pd.DataFrame) -> str:
    """Which backend scored which models: 'scored by X' or 'scored by X (m1, m2), Y (m3)'."""
    if "backend" not in mis or mis["backend"].dropna().empty:
        return ""
    by = mis.dropna(subset=["backend"]).groupby("backend", sort=False)["model"].unique()
    if len(by) == 1:
        return f"scored by {by.index[0]}"
    return "scored by " + ", ".join(f"{b} ({', '.join(ms)})" for b, ms in by.items())


def mis_per_model(mis: pd.DataFrame, unit_scores: pd.DataFrame) -> Figure:
    """Beyond the paper: mean machine score (MIS) per model, with every unit as a dot."""
    values, ylabel = machine_scores(fb.require(mis, "units with a machine interpretability score"))
    meta = unit_scores.groupby("model", sort=False)[["label", "scale_rank"]].first().reset_index()
    t = values.merge(meta, on="model", how="left")
    models, labels = fb.model_order(t), fb.model_labels(t)
    fig, ax = plt.subplots(figsize=(max(4.0, 0.7 * len(models) + 1.6), 3.2), layout="constrained")
    rng = np.random.default_rng(0)  # fixed jitter: the same figure every run
    for i, m in enumerate(models):
        v = fb.select(t, model=m)["value"].to_numpy(float)
        ax.bar(i, v.mean(), 0.7, color=fb.ROLE_COLOR["machine"], alpha=0.6)
        ax.scatter(i + rng.uniform(-0.2, 0.2, len(v)), v, s=10, color="0.2", zorder=3)
    fb.chance_line(ax)
    ax.set_ylim(min(0.45, float(t["value"].min()) - 0.03), 1.02)
    fb.model_ticks(ax, models, labels)
    ax.set_xlabel(fb.SCALE_LABEL)
    ax.set_ylabel(ylabel)
    fig.legend(loc="outside upper center")
    fb.add_note(
        fig,
        fb.join_notes(
            backend_note(mis),
            f"bars: mean over units; dots: units ({len(t)} units of {len(models)} models)",
        ),
    )
    return fig


def mis_vs_human(
    mis: pd.DataFrame, unit_scores: pd.DataFrame, spearman: pd.DataFrame | None = None
) -> Figure:
    """Beyond the paper: per-unit machine score (x) vs the per-unit natural score (y), per model."""
    values, xlabel = machine_scores(fb.require(mis, "units with a machine interpretability score"))
    scores = fb.select(unit_scores, condition="natural", difficulty=fb.EASY)
    t = scores.merge(values, on=["model", "unit"], how="inner")
    models = [m for m in fb.model_order(scores) if m in set(t["model"])]
    if not models:
        raise fb.FigureInputError("no unit has both a natural score and a machine score")
    labels = fb.model_labels(scores)
    fig, axes = fb.grid(len(models))
    for ax, m in zip(axes, models, strict=True):
        rows = fb.select(t, model=m)
        fb.unit_dots(ax, rows["value"], rows["proportion_correct"])
        ax.plot([0, 1], [0, 1], color="0.6", linewidth=0.8, zorder=1)
        fb.chance_line(ax, label=None)
        ax.set_xlim(min(0.45, float(rows["value"].min()) - 0.03), 1.02)
        ax.set_ylim(min(0.0, float(rows["proportion_correct"].min()) - 0.05), 1.02)
        ax.set_title(f"{labels[m]}\n{fb.spearman_title(spearman, 'mis_vs_human', m, 'natural')}")
        ax.set_xlabel(xlabel)
    fb.label_rows(axes, "Natural: " + fb.SCORE_LABEL)
    fb.add_note(
        fig,
        fb.join_notes(
            fb.sources_text([scores], unit_col=None),
            backend_note(mis),
            "one point per unit; grey: identity",
        ),
    )
    return fig


def _reproduction_panel(ax, rows: pd.DataFrame, cond: str, x: dict[str, int]) -> None:
    """One condition's panel: the paper's score and CI beside ours, per model."""
    xs = rows["model"].map(x).to_numpy(float)
    paper = pd.DataFrame(
        {
            "score": rows["paper_score"],
            "ci_low": rows["paper_ci_low"],
            "ci_high": rows["paper_ci_high"],
        }
    )
    ax.errorbar(
        xs - 0.12,
        paper["score"],
        yerr=fb.ci_errors(paper),
        fmt="D",
        color="0.15",
        markersize=4,
        label="Paper",
        zorder=3,
    )
    ours = rows.dropna(subset=["score"])
    ax.errorbar(
        ours["model"].map(x).to_numpy(float) + 0.12,
        ours["score"],
        yerr=fb.ci_errors(ours),
        fmt="o",
        color=fb.CONDITION_COLOR[cond],
        markeredgecolor="0.2",
        label="Released responses (ours)",
        zorder=3,
    )
    fb.chance_line(ax, label=None)


def reproduction(reproduction: pd.DataFrame) -> Figure:
    """Beyond the paper: our score from the released responses next to the paper's, per model."""
    t = reproduction.dropna(subset=["paper_score"])
    t = fb.require(t[t["score"].notna()], "published scores with released responses")
    t = reproduction[reproduction["model"].isin(set(t["model"]))]
    conds = [c for c in fb.CONDITIONS if c in set(t["condition"])]
    models = fb.model_order(t)
    labels = fb.model_labels(t)
    fig, axes = plt.subplots(
        1,
        len(conds),
        figsize=(1.0 + 0.55 * len(models) * len(conds), 3.4),
        layout="constrained",
        squeeze=False,
        sharey=True,
    )
    x = {m: i for i, m in enumerate(models)}
    for ax, cond in zip(axes[0], conds, strict=True):
        _reproduction_panel(ax, fb.select(t, condition=cond), cond, x)
        fb.model_ticks(ax, models, labels)
        ax.set_title(fb.CONDITION_LABEL[cond])
    lows = pd.concat([t["ci_low"], t["paper_ci_low"], t["score"], t["paper_score"]])
    highs = pd.concat([t["ci_high"], t["paper_ci_high"], t["score"], t["paper_score"]])
    axes[0][0].set_ylim(*fb.score_ylim(lows, highs))
    axes[0][0].set_ylabel(fb.SCORE_LABEL)
    axes[0][-1].legend(loc="upper right", fontsize=7)
    diff = t["difference"].abs()
    inside = t["paper_inside_our_ci"].dropna()
    ours = t["ours_inside_paper_ci"].dropna()
    fb.add_note(
        fig,
        fb.join_notes(
            fb.sources_text([t]),
            f"largest |ours − paper| {diff.max():.3f}; paper inside our 95 % CI for "
            f"{int(inside.astype(bool).sum())} of {len(inside)}, ours inside the paper's for "
            f"{int(ours.astype(bool).sum())} of {len(ours)}",
        ),
    )
    return fig

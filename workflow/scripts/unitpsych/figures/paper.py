"""The figures of the paper's comparison notebook (protocol §8.5, items 1–10).

Each function takes the analysis tables (results/tables/*.csv as DataFrames) and returns a
Matplotlib Figure; models come in `scale_rank` order and are named by their `label`.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from unitpsych.figures.base import (
    CONDITION_COLOR,
    CONDITION_LABEL,
    CONDITIONS,
    DIFFICULTY_LABEL,
    DIFFICULTY_ORDER,
    EASY,
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
    model_ticks,
    require,
    score_ylim,
    select,
    shades,
    sources_text,
    spearman_title,
    unit_dots,
)

REVEAL = ("all", "none", "first_natural", "natural")
CONDITION_SHADES = {"natural": "Oranges", "synthetic": "Blues"}


def _bar_figure(n_models: int, height: float = 3.2) -> tuple[Figure, plt.Axes]:
    """One axes sized for `n_models` groups of bars."""
    return plt.subplots(figsize=(max(4.0, 0.75 * n_models + 1.6), height), layout="constrained")


def model_comparison(model_scores: pd.DataFrame, reveal: str = "all") -> Figure:
    """Figure 1 (and the slides 3): model score per model and condition with 95% CIs.

    `reveal` shows all bars, none, only the first model's natural bar, or all natural bars (the
    slides' progressive reveal); hidden bars keep their place so the frames line up.
    """
    if reveal not in REVEAL:
        raise ValueError(f"reveal must be one of {REVEAL}, not {reveal!r}")
    t = require(select(model_scores, difficulty=EASY), "experiments at easy difficulty")
    models, labels = model_order(t), model_labels(t)
    conds = [c for c in CONDITIONS if c in set(t["condition"])]
    width = 0.8 / len(conds)
    fig, ax = _bar_figure(len(models))
    x = np.arange(len(models))
    for i, cond in enumerate(conds):
        rows = select(t, condition=cond).set_index("model").reindex(models)
        has = rows["score"].notna().to_numpy()
        shown = has & _revealed(reveal, cond, models)
        hidden = has & ~shown
        offset = (i - (len(conds) - 1) / 2) * width
        ax.bar(
            x[shown] + offset,
            rows["score"][shown],
            width,
            yerr=ci_errors(rows[shown]),
            color=CONDITION_COLOR[cond],
            label=CONDITION_LABEL[cond],
        )
        if hidden.any():
            for bar in ax.bar(
                x[hidden] + offset, rows["score"][hidden], width, color=CONDITION_COLOR[cond]
            ):
                bar.set_visible(False)
    chance_line(ax)
    ax.set_ylim(*score_ylim(t["ci_low"], t["ci_high"]))
    ax.set_xlim(-0.6, len(models) - 0.4)
    model_ticks(ax, models, labels)
    ax.set_xlabel(SCALE_LABEL)
    ax.set_ylabel(SCORE_LABEL)
    # every frame of the slides keeps the full legend, whichever bars it shows
    swatches = [Patch(facecolor=CONDITION_COLOR[c], label=CONDITION_LABEL[c]) for c in conds]
    chance = [ln for ln in ax.get_lines() if ln.get_label() == "Chance"]
    fig.legend(handles=[*chance, *swatches], loc="outside upper center", ncols=3)
    add_note(fig, sources_text([t]))
    return fig


def _revealed(reveal: str, cond: str, models: Sequence[str]) -> np.ndarray:
    """Which bars of one condition a slide variation shows."""
    n = len(models)
    if reveal == "all":
        return np.ones(n, bool)
    if reveal == "none" or cond != "natural":
        return np.zeros(n, bool)
    return np.arange(n) == 0 if reveal == "first_natural" else np.ones(n, bool)


def comparison_figure_1(model_scores: pd.DataFrame) -> Figure:
    """The small teaser (Figure 1): natural scores only, brown shades, no error bars, 2×2 inches."""
    t = require(
        select(model_scores, difficulty=EASY, condition="natural"),
        "natural experiments at easy difficulty",
    )
    models, labels = model_order(t), model_labels(t)
    rows = t.set_index("model").reindex(models)
    fig, ax = plt.subplots(figsize=(2, 2), layout="constrained")
    ax.bar(
        np.arange(len(models)), rows["score"], 0.8, color=shades(len(models), "YlOrBr", 0.3, 0.9)
    )
    ax.set_ylim(*score_ylim(rows["score"], rows["score"]))
    ax.set_xticks(np.arange(len(models)))
    ax.set_xticklabels([labels[m] for m in models], rotation=90, fontsize=6)
    ax.tick_params(axis="y", labelsize=6)
    ax.set_ylabel("Interpretability Score")
    ax.set_xlabel("Model & Dataset Size")
    return fig


def _series_models(t: pd.DataFrame, condition: str) -> list[str]:
    """Models of `condition` measured at easy and at least one other difficulty, in scale order."""
    c = select(t, condition=condition)
    n = c.groupby("model")["difficulty"].agg(lambda d: EASY in set(d) and d.nunique() > 1)
    return [m for m in model_order(t) if n.get(m, False)]


def difficulty_comparison(model_scores: pd.DataFrame) -> Figure:
    """Item 4: scores at easy, medium (hard99), hard (hard95) and very hard (hard85) queries."""
    panels = [(c, _series_models(model_scores, c)) for c in CONDITIONS]
    panels = [(c, ms) for c, ms in panels if ms]
    if not panels:
        raise FigureInputError("no model has experiments at easy and a harder difficulty")
    labels = model_labels(model_scores)
    fig, axes = plt.subplots(
        1,
        len(panels),
        figsize=(3.4 * len(panels), 3.2),
        squeeze=False,
        sharey=True,
        layout="constrained",
    )
    used = []
    for ax, letter, (cond, models) in zip(axes[0], "abcd", panels, strict=False):
        t = model_scores[(model_scores["condition"] == cond) & model_scores["model"].isin(models)]
        used.append(t)
        diffs = [d for d in DIFFICULTY_ORDER if d in set(t["difficulty"])]
        width = 0.8 / len(models)
        colors = (
            [CONDITION_COLOR[cond]]
            if len(models) == 1
            else shades(len(models), CONDITION_SHADES[cond], 0.4, 0.9)
        )
        for i, m in enumerate(models):
            rows = (
                select(t, model=m).set_index("difficulty").reindex(diffs).dropna(subset=["score"])
            )
            x = np.array([diffs.index(d) for d in rows.index]) + (i - (len(models) - 1) / 2) * width
            ax.bar(x, rows["score"], width, yerr=ci_errors(rows), color=colors[i], label=labels[m])
        ax.set_xticks(np.arange(len(diffs)))
        ax.set_xticklabels([DIFFICULTY_LABEL.get(d, d) for d in diffs])
        ax.set_xlabel("Query Difficulty")
        ax.set_title(f"({letter}) {CONDITION_LABEL[cond]}")
        chance_line(ax)
        # under the panel, so that it never covers a bar (each panel has its own colours)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=min(3, len(models) + 1))
    all_rows = pd.concat(used)
    axes[0][0].set_ylim(*score_ylim(all_rows["ci_low"], all_rows["ci_high"]))
    axes[0][0].set_ylabel(SCORE_LABEL)
    add_note(fig, sources_text(used))
    return fig


def layer_depth(
    layer_scores: pd.DataFrame, model_scores: pd.DataFrame, spearman: pd.DataFrame | None = None
) -> Figure:
    """Item 5: layer-pooled natural score vs relative layer position, one panel per model."""
    ms = require(
        select(model_scores, difficulty=EASY, condition="natural"),
        "natural experiments at easy difficulty",
    )
    t = select(layer_scores, difficulty=EASY, condition="natural")
    models = [m for m in model_order(ms) if m in set(t["model"])]
    require(t[t["model"].isin(models)], "layer scores of natural experiments")
    labels = model_labels(ms)
    fig, axes = grid(len(models))
    lo = min(0.25, float(t["score"].min()) - 0.05)
    for ax, m in zip(axes, models, strict=True):
        rows = select(t, model=m)
        unit_dots(ax, rows["relative_depth"], rows["score"])
        chance_line(ax, label=None)
        ax.set_ylim(lo, 1.02)  # a layer scoring 1.0 keeps its whole dot
        ax.set_xlim(-0.05, 1.05)
        ax.set_title(f"{labels[m]}\n{spearman_title(spearman, 'layer_depth', m, 'natural')}")
        ax.set_xlabel("Relative Layer Position")
    label_rows(axes, SCORE_LABEL)
    add_note(fig, join_notes(sources_text([ms]), "one point per layer (mean over its units)"))
    return fig


def natural_vs_synthetic(unit_scores: pd.DataFrame, spearman: pd.DataFrame | None = None) -> Figure:
    """Item 6: per-unit natural score (x) vs synthetic score (y), one panel per model."""
    t = select(unit_scores, difficulty=EASY)
    both = t.groupby("model")["condition"].nunique()
    models = [m for m in model_order(t) if both.get(m, 0) == 2]
    if not models:
        raise FigureInputError(
            "no model has both a natural and a synthetic experiment at easy difficulty"
        )
    labels = model_labels(t)
    fig, axes = grid(len(models), sharey=True)
    pairs = {m: _pivot_units(select(t, model=m), "condition") for m in models}
    xlo = min(0.35, min(float(p["natural"].min()) for p in pairs.values()) - 0.05)
    for ax, m in zip(axes, models, strict=True):
        p = pairs[m].dropna(subset=["natural", "synthetic"])
        unit_dots(ax, p["natural"], p["synthetic"], color="C1")
        chance_line(ax, label=None)
        ax.axvline(0.5, color="k", linestyle="-.", linewidth=1.0, zorder=1)
        ax.set_xlim(xlo, 1.02)
        ax.set_ylim(0, 1.02)
        ax.set_title(f"{labels[m]}\n{spearman_title(spearman, 'natural_vs_synthetic', m)}")
        ax.set_xlabel("Natural: " + SCORE_LABEL)
    label_rows(axes, "Synthetic: " + SCORE_LABEL)
    add_note(fig, join_notes(sources_text([t], unit_col=None), "one point per unit"))
    return fig


def _pivot_units(t: pd.DataFrame, column: str) -> pd.DataFrame:
    """Per-unit proportion correct with one column per value of `column` (condition/difficulty)."""
    return t.pivot_table(
        index=["unit", "layer_index", "channel"], columns=column, values="proportion_correct"
    ).reset_index()


def _unit_positions(p: pd.DataFrame) -> np.ndarray:
    """Relative layer-unit position: units sorted by (layer index, channel), scaled to 0..1."""
    order = np.lexsort((p["channel"].to_numpy(), p["layer_index"].to_numpy()))
    pos = np.empty(len(p))
    pos[order] = np.arange(len(p)) / max(len(p) - 1, 1)
    return pos


def difficulty_units(
    unit_scores: pd.DataFrame, difficulties: Sequence[str] = ("easy", "hard99", "hard95")
) -> Figure:
    """Item 7: per-unit natural scores at each difficulty (shared units) vs layer-unit position."""
    t = select(unit_scores, condition="natural")
    t = t[t["difficulty"].isin(difficulties)]
    models = _series_models(t, "natural")
    if not models:
        raise FigureInputError(
            f"no model has natural experiments at easy and one of {', '.join(difficulties[1:])}"
        )
    labels = model_labels(t)
    present = [d for d in difficulties if d in set(t["difficulty"])]
    colour = dict(zip(present, shades(len(present), "Oranges", 0.35, 0.95), strict=True))
    fig, axes = plt.subplots(
        1,
        len(models),
        figsize=(3.6 * len(models), 3.0),
        squeeze=False,
        sharey=True,
        layout="constrained",
    )
    for ax, m in zip(axes[0], models, strict=True):
        p = _pivot_units(select(t, model=m), "difficulty")
        diffs = [d for d in difficulties if d in p]
        p = p.dropna(subset=diffs).reset_index(drop=True)  # shared units only
        x = _unit_positions(p)
        vals = p[diffs].to_numpy(float)
        ax.vlines(x, vals.min(axis=1), vals.max(axis=1), color="0.6", linewidth=1.0, zorder=2)
        for d in diffs:
            unit_dots(ax, x, p[d], color=colour[d], label=DIFFICULTY_LABEL.get(d, d))
        chance_line(ax, label=None)
        ax.set_ylim(min(0.0, float(np.nanmin(vals)) - 0.05), 1.02)
        ax.set_title(f"{labels[m]} ({len(p)} shared units)")
        ax.set_xlabel("Relative Layer-Unit Position")
    axes[0][0].set_ylabel(SCORE_LABEL)
    handles = {h.get_label(): h for ax in axes[0] for h in ax.collections[1:]}  # one per difficulty
    fig.legend(handles=list(handles.values()), loc="outside upper center", ncols=len(handles))
    add_note(
        fig, join_notes(sources_text([t], unit_col=None), "vertical lines span each unit's min–max")
    )
    return fig


def difficulty_gaps(
    unit_scores: pd.DataFrame, hard: Sequence[str] = ("hard85", "hard95")
) -> Figure:
    """Item 8: per-unit gap easy − hard vs layer-unit position and vs easy score (rows: models)."""
    t = select(unit_scores, condition="natural")
    hard = [d for d in hard if d in set(t["difficulty"])]
    models = [m for m in _series_models(t[t["difficulty"].isin([EASY, *hard])], "natural")]
    if not models or not hard:
        raise FigureInputError(
            "no model has natural experiments at easy and one of "
            f"{', '.join(hard) or 'hard85, hard95'}"
        )
    labels = model_labels(t)
    ncols = 2 * len(hard)
    fig, axes = plt.subplots(
        len(models),
        ncols,
        figsize=(2.6 * ncols, 2.4 * len(models)),
        squeeze=False,
        sharey="row",
        layout="constrained",
    )
    for r, m in enumerate(models):
        p = _pivot_units(select(t, model=m), "difficulty")
        for k, d in enumerate(hard):
            ax_pos, ax_easy = axes[r][2 * k], axes[r][2 * k + 1]
            if d not in p:
                for ax in (ax_pos, ax_easy):
                    ax.text(
                        0.5,
                        0.5,
                        f"no {d} experiment",
                        ha="center",
                        va="center",
                        transform=ax.transAxes,
                    )
                continue
            q = p.dropna(subset=[EASY, d]).reset_index(drop=True)
            gap = q[EASY] - q[d]
            unit_dots(ax_pos, _unit_positions(q), gap)
            unit_dots(ax_easy, q[EASY], gap)
            for ax in (ax_pos, ax_easy):
                ax.axhline(0, color="k", linewidth=0.8, zorder=1)
                ax.set_title(f"{labels[m]}: Easy − {DIFFICULTY_LABEL.get(d, d)}")
            ax_pos.set_xlabel("Relative Layer-Unit Position")
            ax_easy.set_xlabel("Easy: " + SCORE_LABEL)
        axes[r][0].set_ylabel("Gap in " + SCORE_LABEL)
    add_note(
        fig,
        join_notes(
            sources_text([t], unit_col=None), "one point per unit shared by both difficulties"
        ),
    )
    return fig


def confidence_comparison(confidence_scores: pd.DataFrame, condition: str) -> Figure:
    """Item 9: model score on low-confidence (1) vs high-confidence (3) responses, with CIs."""
    t = require(
        select(confidence_scores, difficulty=EASY, condition=condition),
        f"{condition} experiments at easy difficulty",
    )
    models, labels = model_order(t), model_labels(t)
    fig, ax = _bar_figure(len(models))
    x = np.arange(len(models))
    handles = []
    for i, (conf, name, alpha) in enumerate(
        [(1, "Low Confidence", 0.45), (3, "High Confidence", 1.0)]
    ):
        rows = select(t, confidence=conf).set_index("model").reindex(models)
        has = rows["score"].notna().to_numpy()
        xs = x + (i - 0.5) * 0.4
        ax.bar(
            xs[has],
            rows["score"][has],
            0.4,
            yerr=ci_errors(rows[has]),
            color=CONDITION_COLOR[condition],
            alpha=alpha,
            label=name,
        )
        for xm in xs[~has]:  # a model without responses at this confidence: say so
            ax.text(
                xm,
                0.02,
                "none",
                transform=ax.get_xaxis_transform(),
                ha="center",
                va="bottom",
                fontsize=7,
                color="0.35",
            )
        handles.append(Patch(facecolor=CONDITION_COLOR[condition], alpha=alpha, label=name))
    chance_line(ax)
    ax.set_ylim(*score_ylim(t["ci_low"], t["ci_high"]))
    ax.set_xlim(-0.6, len(models) - 0.4)  # room for both bars (or their 'none') of every model
    model_ticks(ax, models, labels)
    ax.set_xlabel(SCALE_LABEL)
    ax.set_ylabel(SCORE_LABEL)
    ax.set_title(f"{CONDITION_LABEL[condition]} Stimuli")
    chance = [ln for ln in ax.get_lines() if ln.get_label() == "Chance"]
    fig.legend(handles=[*chance, *handles], loc="outside upper center", ncols=3)
    add_note(fig, sources_text([t]))
    return fig


def confidence_distribution(distribution: pd.DataFrame) -> Figure:
    """Item 10: stacked fraction of responses at confidence 1/2/3 per model and condition."""
    t = require(select(distribution, difficulty=EASY), "experiments at easy difficulty")
    models, labels = model_order(t), model_labels(t)
    conds = [c for c in CONDITIONS if c in set(t["condition"])]
    width = 0.8 / len(conds)
    fig, ax = _bar_figure(len(models), height=3.4)
    x = np.arange(len(models))
    for i, cond in enumerate(conds):
        bottom = np.zeros(len(models))
        offset = (i - (len(conds) - 1) / 2) * width
        for conf, color in zip(
            (1, 2, 3), shades(3, CONDITION_SHADES[cond], 0.3, 0.85), strict=True
        ):
            frac = (
                select(t, condition=cond, confidence=conf)
                .set_index("model")["fraction"]
                .reindex(models)
            )
            has = frac.notna().to_numpy()
            ax.bar(
                x[has] + offset,
                frac[has],
                width,
                bottom=bottom[has],
                color=color,
                label=f"{CONDITION_LABEL[cond]}, confidence {conf}",
            )
            bottom[has] += frac[has].to_numpy()
    ax.set_ylim(0, 1.0)
    model_ticks(ax, models, labels)
    ax.set_xlabel(SCALE_LABEL)
    ax.set_ylabel("Fraction of Responses")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    groups = t.groupby(["model", "condition"])
    n = groups["n_total"].first() if "n_total" in t else groups["n_responses"].sum()
    span = f"{int(n.min())}" if n.min() == n.max() else f"{int(n.min())}–{int(n.max())}"
    add_note(fig, join_notes(sources_text([t], unit_col=None), f"{span} responses per bar"))
    return fig

"""Beyond the paper: figures of the every-unit machine interpretability score (mis_all.parquet).

Each panel and series names the backend that scored it; a backend that scores its own model
(`scores_itself`) is drawn hollow and says so.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from unitpsych.figures import base as fb

SCORE_LABELS = {
    "mis": "Machine Interpretability Score",
    "accuracy": "Machine Observer Accuracy (α-free)",
}
SELF = " (scores itself)"


def _scored(mis_all: pd.DataFrame, properties: pd.DataFrame | None) -> pd.DataFrame:
    """Scored units with the model's label, scale rank, parameters and top-1 accuracy."""
    t = fb.require(mis_all, "units with an every-unit machine interpretability score")
    t = t[t["excluded"].fillna("") == ""].drop(columns=["d"], errors="ignore")
    if t.empty:
        raise fb.FigureInputError("no unit of mis_all.parquet could be scored")
    if properties is not None:
        keep = [
            c
            for c in ("model", "label", "scale_rank", "n_parameters", "top1_accuracy")
            if c in properties
        ]
        t = t.merge(properties[keep], on="model", how="left")
    return t


def _score_label(t: pd.DataFrame) -> str:
    """The y label: MIS, α-free accuracy, or both when backends differ."""
    kinds = set(t["score_kind"].dropna())
    return SCORE_LABELS.get(kinds.pop(), "Score") if len(kinds) == 1 else "MIS or α-free Accuracy"


def _backends(t: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(t["backend"]))


def _depth_panel(ax, rows: pd.DataFrame, label: str, backend: str) -> None:
    """One model's units scored by one backend: score vs relative depth, the per-layer median and
    interquartile range (dashed where the backend is the model itself)."""
    own = bool(rows["scores_itself"].iloc[0])
    ax.scatter(
        rows["relative_depth"],
        rows["score"],
        s=2,
        color="0.55",
        alpha=0.08,
        linewidth=0,
        rasterized=True,
        zorder=2,
    )
    per = rows.groupby("relative_depth")["score"].quantile([0.25, 0.5, 0.75]).unstack()
    colour = fb.ROLE_COLOR["machine"]
    ax.fill_between(per.index, per[0.25], per[0.75], color=colour, alpha=0.3, linewidth=0, zorder=3)
    ax.plot(
        per.index,
        per[0.5],
        color=colour,
        linewidth=1.4,
        zorder=4,
        linestyle="--" if own else "-",
    )
    fb.chance_line(ax, label=None)
    ax.set_ylim(min(0.0, float(rows["score"].min()) - 0.02), 1.02)
    ax.set_xlim(-0.02, 1.02)
    ax.set_title(
        f"{label}: mean {rows['score'].mean():.3f}\nscored by {backend}{SELF if own else ''}",
        fontsize=8,
    )
    if ax.get_subplotspec().is_last_row():
        ax.set_xlabel("Relative Layer Depth")


def mis_all_depth(mis_all: pd.DataFrame, properties: pd.DataFrame | None = None) -> Figure:
    """Per model and backend: every unit's score vs its layer's relative depth, per-layer median
    and interquartile range."""
    t = _scored(mis_all, properties)
    models, labels, backends = fb.model_order(t), fb.model_labels(t), _backends(t)
    fig, grid = plt.subplots(
        len(models),
        len(backends),
        figsize=(3.0 * len(backends), 2.3 * len(models)),
        sharex=True,
        sharey=True,
        squeeze=False,
        layout="constrained",
    )
    axes = list(grid.ravel())  # one row per model, one column per backend
    for ax, (m, b) in zip(axes, [(m, b) for m in models for b in backends], strict=True):
        rows = fb.select(t, model=m, backend=b)
        if rows.empty:
            ax.set_visible(False)
            continue
        _depth_panel(ax, rows, labels[m], b)
    fb.label_rows(axes, _score_label(t))
    fb.add_note(
        fig,
        f"every channel of every layer of interest ({len(t)} scored units); grey: units; "
        "line: per-layer median, band: interquartile range; dashed: the backend is the "
        "model itself",
    )
    return fig


def _dodge(x: pd.Series, shift: float, log: bool, span: pd.Series) -> np.ndarray:
    """x moved by `shift` of the data's span (in log10 for a log axis), so series sit side by
    side."""
    x = x.to_numpy(float)
    v = np.log10(span.dropna().to_numpy(float)) if log else span.dropna().to_numpy(float)
    width = (v.max() - v.min()) if len(v) and v.max() > v.min() else 1.0
    return x * 10 ** (shift * width) if log else x + shift * width


def _model_summary(t: pd.DataFrame) -> pd.DataFrame:
    """Per model and backend: mean score, interquartile range, units, self-scoring, and the
    model's parameters and top-1 accuracy."""
    g = t.groupby(["model", "backend"], sort=False)
    return g.agg(
        score=("score", "mean"),
        q25=("score", lambda s: s.quantile(0.25)),
        q75=("score", lambda s: s.quantile(0.75)),
        n=("score", "size"),
        own=("scores_itself", "first"),
        n_parameters=("n_parameters", "first"),
        top1_accuracy=("top1_accuracy", "first"),
    ).reset_index()


def _models_panel(
    ax, summary: pd.DataFrame, col: str, backends: list[str], labels: dict[str, str]
) -> None:
    """Mean score (and interquartile bar) per model vs `col`, one colour per backend (dodged),
    each model named once."""
    named: set[str] = set()
    for i, b in enumerate(backends):
        rows = summary[(summary["backend"] == b) & summary[col].notna()]
        colour, shift = f"C{i}", 0.012 * (i - (len(backends) - 1) / 2)  # dodge the backends
        for own, part in rows.groupby("own"):
            x = _dodge(part[col], shift, log=col == "n_parameters", span=summary[col])
            ax.vlines(x, part["q25"], part["q75"], color=colour, linewidth=1, zorder=2)
            ax.plot(
                x,
                part["score"],
                "o",
                color=colour,
                markersize=6,
                zorder=3,
                markerfacecolor="white" if own else colour,
                label=f"scored by {b}" + (SELF if own else ""),
            )
        for _, r in rows[~rows["model"].isin(named)].iterrows():
            named.add(r["model"])
            ax.annotate(
                labels[r["model"]],
                (r[col], r["q75"]),
                fontsize=6,
                xytext=(0, 3),
                textcoords="offset points",
                color="0.3",
                ha="center",
            )


def mis_all_models(mis_all: pd.DataFrame, properties: pd.DataFrame | None = None) -> Figure:
    """Per model and backend: mean every-unit score vs the number of parameters and vs the
    ImageNet top-1 accuracy; error bars the interquartile range of the units."""
    t = _scored(mis_all, properties)
    for col in ("n_parameters", "top1_accuracy"):
        if col not in t:
            t[col] = np.nan
    labels = fb.model_labels(t)
    summary = _model_summary(t)
    fig, axes = fb.grid(2, panel=(3.4, 2.9))
    for ax, col, xlabel in zip(
        axes,
        ("n_parameters", "top1_accuracy"),
        ("Parameters", "ImageNet Top-1 Accuracy"),
        strict=True,
    ):
        _models_panel(ax, summary, col, _backends(t), labels)
        if col == "n_parameters":
            ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        fb.chance_line(ax, label=None)
    fb.label_rows(axes, "Mean " + _score_label(t))
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside upper center", fontsize=7, ncols=2)
    missing = summary[summary["top1_accuracy"].isna()]["model"].unique()
    note = (
        "mean over every unit of a model; bars: interquartile range; hollow: the backend is the "
        "model itself"
    )
    if len(missing):
        note += "; without a top-1 accuracy (untrained): " + ", ".join(labels[m] for m in missing)
    fb.add_note(fig, note)
    return fig

"""Shared pieces of the figures: model order and labels, condition colours, chance line, notes.

The look (colours, grid, fonts, line patterns) comes from `resources/unitpsych.mplstyle`, which the
figure rules apply; here conditions refer to the style's colour cycle (C0 natural, C1 synthetic).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import matplotlib

matplotlib.use("Agg")  # figures are files; never open a window

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from unitpsych.figures.registry import FigureInputError  # noqa: E402  (re-exported for the drawing modules)

CONDITIONS = ("natural", "synthetic")
CONDITION_COLOR = {"natural": "C0", "synthetic": "C1"}  # the style's cycle: #FFAC74, #47789E
ROLE_COLOR = {"passed": "C2", "failed": "C3", "threshold": "C3", "machine": "C4"}  # style cycle
CONDITION_LABEL = {"natural": "Natural", "synthetic": "Synthetic"}
DIFFICULTY_ORDER = ("easy", "hard99", "hard95", "hard85")
DIFFICULTY_LABEL = {"easy": "Easy", "hard99": "Medium", "hard95": "Hard", "hard85": "Very Hard"}
EASY = "easy"
CHANCE = 0.5
SCORE_LABEL = "Proportion Correct"
SCALE_LABEL = "Model (Ordered by Scale)"


def model_order(table: pd.DataFrame) -> list[str]:
    """Models in scale order (`scale_rank`, then first appearance; models without a rank last)."""
    first = {m: i for i, m in enumerate(dict.fromkeys(table["model"]))}
    ranks = (
        table.groupby("model", sort=False)["scale_rank"].first() if "scale_rank" in table else {}
    )

    def key(m: str) -> tuple[float, int]:
        r = ranks.get(m, np.nan) if len(ranks) else np.nan
        return (math.inf if pd.isna(r) else float(r), first[m])

    return sorted(first, key=key)


def model_labels(table: pd.DataFrame) -> dict[str, str]:
    """The display label of each model (`label`, falling back to the model name)."""
    if "label" not in table:
        return {m: m for m in table["model"].unique()}
    labels = table.groupby("model", sort=False)["label"].first()
    return {m: (m if pd.isna(v) or v == "" else str(v)) for m, v in labels.items()}


def select(table: pd.DataFrame, **values: object) -> pd.DataFrame:
    """Rows whose columns equal the given values."""
    mask = np.ones(len(table), dtype=bool)
    for col, val in values.items():
        mask &= (table[col] == val).to_numpy()
    return table[mask]


def require(table: pd.DataFrame, what: str) -> pd.DataFrame:
    """The table, or a FigureInputError saying what was expected when it is empty."""
    if table.empty:
        raise FigureInputError(f"no rows for {what}")
    return table


def chance_line(ax: Axes, y: float = CHANCE, label: str | None = "Chance") -> None:
    """The dash-dot chance line of the paper's figures."""
    ax.axhline(y, color="k", linestyle="-.", linewidth=1.0, label=label, zorder=1)


def score_ylim(
    lows: Iterable[float], highs: Iterable[float], paper=(0.475, 0.9)
) -> tuple[float, float]:
    """The paper's y range for model scores, widened when a value (or CI) falls outside it."""
    lo = np.nanmin(np.r_[list(lows), paper[0] + 0.025])
    hi = np.nanmax(np.r_[list(highs), paper[1] - 0.02])
    return (min(paper[0], lo - 0.025), max(paper[1], hi + 0.02))


def ci_errors(table: pd.DataFrame) -> np.ndarray:
    """Asymmetric error bars (score − low, high − score), clipped at 0 (protocol §8.4)."""
    lower = (table["score"] - table["ci_low"]).clip(lower=0).fillna(0)
    upper = (table["ci_high"] - table["score"]).clip(lower=0).fillna(0)
    return np.vstack([lower.to_numpy(float), upper.to_numpy(float)])


def sources_text(tables: Sequence[pd.DataFrame], unit_col: str | None = "n_units") -> str:
    """One line naming the responses a figure used: sources and the number of units per model."""
    sources: list[str] = []
    units: list[int] = []
    for t in tables:
        if "sources" in t:
            for s in t["sources"].dropna().astype(str):
                sources += [p.strip() for p in s.replace(";", ",").replace("+", ",").split(",")]
        if unit_col and unit_col in t:
            units += [int(n) for n in t[unit_col].dropna()]
    parts = []
    if sources:
        parts.append("responses: " + ", ".join(sorted(set(p for p in sources if p))))
    if units:
        lo, hi = min(units), max(units)
        parts.append(f"{lo} units per model" if lo == hi else f"{lo}–{hi} units per model")
    return "; ".join(parts)


def join_notes(*parts: str) -> str:
    """Non-empty note parts joined by '; '."""
    return "; ".join(p for p in parts if p)


def add_note(fig: Figure, text: str, below: Axes | None = None) -> None:
    """A small note under the axes (which responses and how many units the figure used).

    `below`: an axes of a figure without a layout engine, whose tick labels the note must clear.
    """
    if not text:
        return
    y = 0.0
    if below is not None:
        box = below.get_tightbbox(fig.canvas.get_renderer()).transformed(fig.transFigure.inverted())
        y = min(0.0, box.y0 - 0.02)
    fig.text(
        0.01, y, text, ha="left", va="top", fontsize=6.5, color="0.35", transform=fig.transFigure
    )


def unit_dots(ax: Axes, x, y, color: str = "C0", **kwargs) -> None:
    """One dot per unit (or layer) with a thin dark edge, above the grid and reference lines."""
    ax.scatter(x, y, color=color, edgecolor="0.2", linewidth=0.5, zorder=3, **kwargs)


def model_ticks(ax: Axes, models: Sequence[str], labels: dict[str, str]) -> None:
    """Model labels under the groups, slanted when there are many or long ones."""
    ax.set_xticks(np.arange(len(models)))
    rotate = len(models) > 4 or max(len(labels[m]) for m in models) > 12
    ax.set_xticklabels(
        [labels[m] for m in models],
        rotation=30 if rotate else 0,
        ha="right" if rotate else "center",
    )


def grid(
    n: int, panel: tuple[float, float] = (2.6, 2.3), sharey: bool = True
) -> tuple[Figure, list[Axes]]:
    """A near-square grid of `n` panels; unused panels are hidden."""
    ncols = min(n, math.ceil(math.sqrt(n)))
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(panel[0] * ncols, panel[1] * nrows),
        sharey=sharey,
        squeeze=False,
        layout="constrained",
    )
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def label_rows(axes: list[Axes], text: str) -> None:
    """The y label on the first panel of every row of a grid."""
    for ax in axes:
        if ax.get_subplotspec().is_first_col():
            ax.set_ylabel(text)


def spearman_title(
    spearman: pd.DataFrame | None, analysis: str, model: str, condition: str | None = None
) -> str:
    """'ρ = 0.12, p = 0.3 (n = 20)' from the Spearman table, or '' when it has no such row."""
    if spearman is None or spearman.empty:
        return ""
    row = select(spearman, analysis=analysis, model=model)
    if "difficulty" in row:
        row = row[(row["difficulty"] == EASY) | row["difficulty"].isna()]
    if condition is not None and "condition" in row:
        row = row[(row["condition"] == condition) | row["condition"].isna()]
    if row.empty or pd.isna(row["rho"].iloc[0]):
        return "ρ = n/a"
    r = row.iloc[0]
    n = f" (n = {int(r['n'])})" if "n" in r and not pd.isna(r["n"]) else ""
    p = format_p(r["p_value"])
    return f"ρ = {r['rho']:.2f}, p {p if p.startswith('<') else '= ' + p}{n}"


def format_p(p: float) -> str:
    """A p-value for a panel title."""
    if pd.isna(p):
        return "n/a"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def shades(n: int, cmap: str = "YlOrBr", lo: float = 0.35, hi: float = 0.95) -> list:
    """`n` colours from light to dark of a sequential colour map."""
    cm = plt.get_cmap(cmap)
    return [cm(x) for x in np.linspace(lo, hi, max(n, 1))][:n]

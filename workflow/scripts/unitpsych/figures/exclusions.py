"""The exclusion-criteria figures (protocol §8.5 items 14–15) from `exclusions.csv`.

One row per (participant, task) with `<check>_result` (pass/fail) and `<check>_value` of the five
checks of §8.2 (`unitpsych.responses.checks`), plus `n_upper_row` and `n_lower_row`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from unitpsych.figures.base import ROLE_COLOR, FigureInputError, add_note, join_notes, require
from unitpsych.responses.checks import CHECKS

CHECK_LABEL = {
    "catch_trials": "Catch Trials",
    "row_variability": "Row Variability",
    "total_response_time": "Total Response Time",
    "instruction_time": "Instruction Time",
    "demo_trials": "Practice Attempts",
}
#: The paper's per-row counts: ours (exclusions.csv) first, then the released IMI table's.
UPPER_COLUMNS = ("n_upper_row", "row_variability_details_details_upper_extracted")
LOWER_COLUMNS = ("n_lower_row", "row_variability_details_details_lower_extracted")


def _first_column(table: pd.DataFrame, names: Sequence[str]) -> str:
    """The first of `names` that is a column of `table`, else a FigureInputError naming them."""
    found = next((n for n in names if n in table.columns), None)
    if found is None:
        raise FigureInputError(f"exclusions table has none of the columns {', '.join(names)}")
    return found


def _check_passed(exclusions: pd.DataFrame, check: str) -> pd.Series:
    """Pass/fail of one check per (participant, task) row (`<check>_result`)."""
    col = _first_column(exclusions, [f"{check}_result", f"{check}_passed"])
    return exclusions[col].map(lambda v: str(v).strip().lower() in ("true", "1", "pass", "passed"))


def exclusion_note(exclusions: pd.DataFrame) -> str:
    """Which sources and experiments the exclusion records come from."""
    parts = []
    if "source" in exclusions:
        sources = sorted(exclusions["source"].dropna().astype(str).unique())
        parts.append("sources: " + ", ".join(sources))
    if "experiment" in exclusions:
        n = exclusions["experiment"].nunique()
        parts.append(f"{n} experiment{'s' if n != 1 else ''}")
    return "; ".join(parts)


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
    note = join_notes(exclusion_note(exclusions), f"{n_all} of {len(passed)} passed every check")
    add_note(fig, note)
    return fig


def _row_limits(exclusions: pd.DataFrame, upper: str, lower: str, row_min: float | None) -> tuple:
    """The row check's pass range: at least `row_min` presses in a row, so at most N − row_min.

    N is the most common number of main trials (upper + lower presses) of a task.
    """
    if row_min is None:
        return (None, None)
    n = (pd.to_numeric(exclusions[upper]) + pd.to_numeric(exclusions[lower])).dropna()
    return (row_min, float(n.mode().iloc[0]) - row_min if len(n) else None)


def _rule(lo: float | None, hi: float | None) -> str:
    """A pass range in words for a panel title: '≥ 15', '≤ 3', '135–2500'."""
    fmt = "{:g}".format
    if lo is not None and hi is not None:
        return f"pass {fmt(lo)}–{fmt(hi)}"
    return (
        f"pass ≥ {fmt(lo)}" if lo is not None else (f"pass ≤ {fmt(hi)}" if hi is not None else "")
    )


def exclusion_values(exclusions: pd.DataFrame, thresholds: Mapping[str, float | None]) -> Figure:
    """Item 15: 20-bin histograms of the 6 check values with the thresholds as vertical lines.

    `thresholds` is the config's `responses.checks`; a threshold of None draws no line. Counts
    shown one bar per value (practice attempts always, other counts below 20 values) get their
    lines on the bar edges, between passing and failing values.
    """
    require(exclusions, "(participant, task) records in the exclusions table")
    th = thresholds.get
    upper = _first_column(exclusions, UPPER_COLUMNS)
    lower = _first_column(exclusions, LOWER_COLUMNS)
    rows = _row_limits(exclusions, upper, lower, th("row_variability_min"))
    panels = [  # (title, value column, (pass from, pass to), bins)
        (
            "Instruction Time [s]",
            "instruction_time_value",
            (th("instruction_time_min_s"), th("instruction_time_max_s")),
            None,
        ),
        (
            "Total Response Time [s]",
            "total_response_time_value",
            (th("total_response_time_min_s"), th("total_response_time_max_s")),
            None,
        ),
        ("Upper Row Presses", upper, rows, None),
        ("Lower Row Presses", lower, rows, None),
        (
            "Catch Trial Ratio",
            "catch_trials_value",
            (th("catch_trials_min_ratio"), None),
            np.linspace(0, 1, 21),
        ),
        (
            "Practice Attempts",
            "demo_trials_value",
            (None, th("demo_trials_max_attempts")),
            "per_value",
        ),
    ]
    fig, axes = plt.subplots(2, 3, figsize=(8.4, 4.6), layout="constrained")
    for ax, (title, col, limits, bins) in zip(axes.ravel(), panels, strict=True):
        values = pd.to_numeric(exclusions[_first_column(exclusions, [col])], errors="coerce")
        _histogram(ax, values.dropna(), limits, bins)
        ax.set_title(f"{title}\n({_rule(*limits)})" if _rule(*limits) else title)
    axes[0][0].set_ylabel("Number of Tasks")
    axes[1][0].set_ylabel("Number of Tasks")
    if any(ax.get_lines() for ax in axes.ravel()):
        fig.legend(
            handles=[next(ax for ax in axes.ravel() if ax.get_lines()).get_lines()[0]],
            loc="outside upper center",
        )
    add_note(fig, join_notes(exclusion_note(exclusions), "catch ratio: tasks with catch trials"))
    return fig


def _histogram(ax: Axes, values: pd.Series, limits: tuple, bins: np.ndarray | str | None) -> None:
    """One panel: the values' histogram and its pass range's ends as lines.

    An end far beyond the data (more than half their span) is named at the panel's edge instead,
    so that the bars keep their width.
    """
    if values.empty:
        ax.text(0.5, 0.5, "no values", ha="center", va="center", transform=ax.transAxes)
        return
    if bins is None or isinstance(bins, str):
        bins = _bins(values, per_value=bins == "per_value")
    per_value = isinstance(bins, np.ndarray) and np.allclose(np.diff(bins), 1)
    ax.hist(values, bins=bins, color="0.55", rwidth=0.8 if isinstance(bins, np.ndarray) else None)
    span = max(float(values.max() - values.min()), 1.0)
    for t, side in zip(limits, (-0.5, 0.5), strict=True):
        if t is None:
            continue
        x = float(t) + (side if per_value else 0.0)
        if x > values.max() + span / 2 or x < values.min() - span / 2:
            ax.text(
                1.0 if side > 0 else 0.0,
                0.97,
                f"{'→' if side > 0 else '←'} {t:g} off scale",
                ha="right" if side > 0 else "left",
                va="top",
                transform=ax.transAxes,
                color=ROLE_COLOR["threshold"],
                fontsize=7,
            )
            continue
        ax.axvline(
            x,
            color=ROLE_COLOR["threshold"],
            linestyle="--",
            linewidth=1.2,
            label="Threshold (config responses.checks)",
        )
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))


def _bins(values: pd.Series, per_value: bool = False) -> int | np.ndarray:
    """20 bins (protocol §8.5), or one bin per value: counts with fewer than 20 values, and any
    counts when `per_value` (small counts with a long tail, where 20 bins would join 3 and 4)."""
    if per_value or (np.allclose(values, np.round(values)) and values.max() - values.min() < 20):
        return np.arange(values.min() - 0.5, values.max() + 1.5)
    return 20

"""One unit's page data: exemplars, queries, feature visualisations, MIS tasks, experiment scores,
unit statistics and the trial folders that show it.

A sampled unit reads its stimulus folders; a unit known only from the every-unit MIS pass shows
the images of its MIS tasks (`mis_all_tasks.h5`: ids into the image set, most extreme of each
task first), so no per-image value is kept for any unit.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from unitpsych import paths
from unitpsych.browser.data import ModelData, finite, read_csv
from unitpsych.io import read_json
from unitpsych.paths import SIDES
from unitpsych.ui_layout import task_folder, trial_folder


def ordered_task_images(ids: np.ndarray, n: int) -> list[int]:
    """Up to `n` distinct image ids of a unit's tasks [N, K+1], the most extreme of every task
    first (column by column), skipping −1 (a unit kept out)."""
    out: list[int] = []
    for i in ids.T.reshape(-1):
        if i >= 0 and int(i) not in out:
            out.append(int(i))
            if len(out) == n:
                break
    return out


@dataclass(frozen=True)
class TaskImages:
    """The image ids of every unit's MIS tasks from `mis_all_tasks.h5`."""

    images: list[str]
    top: np.ndarray
    bottom: np.ndarray
    row: dict[str, int]

    @classmethod
    def read(cls, path: str | Path) -> TaskImages | None:
        """The task file of a model, or None where the every-unit pass did not run."""
        from unitpsych.observer.mis_all_tasks import TaskFile

        if not Path(path).is_file():
            return None
        f = TaskFile.read(path)
        return cls(f.images, f.top, f.bottom, {u: i for i, u in enumerate(f.units)})

    def extremes(self, unit: str, n: int) -> dict[str, list[str]]:
        """A unit's top (`max`) and bottom (`min`) images as image paths (empty if unknown)."""
        if unit not in self.row:
            return {}
        r = self.row[unit]
        return {
            "max": [self.images[i] for i in ordered_task_images(self.top[r], n)],
            "min": [self.images[i] for i in ordered_task_images(self.bottom[r], n)],
        }


def natural_images(
    results: str, model: str, unit: str, difficulties: Sequence[str], n: int
) -> tuple[dict[str, list[str]], list[dict]]:
    """Most and least activating references (by activation) and each difficulty's queries."""
    extremes: dict[str, list[str]] = {}
    queries = []
    for difficulty in difficulties:
        table = read_csv(paths.exemplar_table(paths.natural_dir(model, unit, difficulty, results)))
        if table is None:
            continue
        if not extremes:
            refs = table[table["role"] == "reference"]
            for side in SIDES:
                part = refs[refs["side"] == side]
                part = part.sort_values("activation", ascending=side == "min", kind="stable")
                extremes[side] = part["source"].drop_duplicates().head(n).tolist()
        q = table[table["role"] == "query"].sort_values("batch", kind="stable")
        queries.append(
            {
                "difficulty": difficulty,
                **{s: q[q["side"] == s]["source"].head(n).tolist() for s in SIDES},
            }
        )
    return extremes, queries


def feature_visualisations(results: str, model: str, unit: str) -> dict | None:
    """fv.json of a unit with its image files, or None where it has no feature visualisation."""
    folder = paths.synthetic_dir(model, unit, results)
    record_path = Path(paths.fv_record(folder))
    if not record_path.is_file():
        return None
    record = read_json(record_path)
    out: dict[str, Any] = {"success": bool(record["success"]), "reason": record.get("reason")}
    for side in SIDES:
        acts = record[side]["activations"]
        out[side] = {
            "alpha": record[side].get("alpha"),
            "activations": [finite(a) for a in acts],
            "files": [paths.stimulus_file(folder, side, i) for i in range(len(acts))],
        }
    out["dataset"] = record.get("dataset", {})
    return out


def mis_tasks(m: ModelData, unit: str, tasks: pd.DataFrame | None) -> list[dict]:
    """The unit's MIS tasks: d (α-free decision variable) and whether the task was solved; from
    the every-unit pass, else from the sampled units' tasks (`mis_tasks.csv`)."""
    d: Sequence[float] = m.task_d(unit) or []
    if not d and tasks is not None:
        d = tasks.loc[tasks["unit"] == unit, "d"].tolist()
    return [
        {"task": i + 1, "d": finite(v), "correct": None if finite(v) is None else v > 0}
        for i, v in enumerate(d)
    ]


def unit_trials(trials: pd.DataFrame | None, unit: str, page: str, results: str) -> list[dict]:
    """The main trials that show the unit, each with its trial folder relative to `page`."""
    if trials is None or trials.empty:
        return []
    rows = trials[(trials["unit"] == unit) & ~trials["is_demo"].astype(bool)]
    out = []
    for r in rows.itertuples(index=False):
        task_dir = Path(paths.experiment_dir(r.experiment, results)) / task_folder(int(r.task))
        folder = task_dir / trial_folder(int(r.trial))
        out.append(
            {
                "experiment": r.experiment,
                "task": int(r.task),
                "trial": int(r.trial),
                "difficulty": r.difficulty,
                "href": os.path.relpath(folder, Path(page).parent).replace(os.sep, "/"),
            }
        )
    return out

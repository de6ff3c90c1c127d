"""Writing an experiment folder and its practice folder in the IMI UI format (protocol §6.2, §7).

The layout of the folder and of its practice folder (`demo_<experiment>/`, next to it, because the
UI fetches both from the same parent) is `unitpsych.ui_layout`'s. Stimulus paths in
`structure.json` and `trials.csv` are relative to the results folder (the folder holding
`<model>/stimuli/`).
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from unitpsych import paths, ui_layout
from unitpsych.experiments import instructions
from unitpsych.experiments.design import CATCH_MODE, Experiment, Settings
from unitpsych.experiments.plan import Plan, Task, Trial
from unitpsych.experiments.stimuli import StimulusInfo, StimulusPlacer
from unitpsych.io import atomic_dir
from unitpsych.units.sampling import split_unit

log = logging.getLogger("unitpsych.experiments")

UNITS_CSV = "units.csv"  # every unit of the model: its role in the experiment, or why left out
SELECTION_JSON = "selection.json"  # the counts of the unit selection

TRIAL_COLUMNS = [
    "experiment",
    "task",
    "trial",
    "is_demo",
    "catch_trial",
    "mode",
    "unit",
    "layer",
    "channel",
    "batch",
    "difficulty",
    "queries",
    "references",
    "min_query",
    "max_query",
    "min_query_activation",
    "max_query_activation",
]


def task_index(exp: Experiment, task: Task, n_references: int) -> dict[str, Any]:
    """A task's index.json: exactly task_name, n_reference_images, n_trials, catch_trial_idxs."""
    return {
        "task_name": ui_layout.task_name(exp.name, task.index),
        "n_reference_images": n_references,
        "n_trials": len(task.trials),
        "catch_trial_idxs": task.catch_trial_idxs,
    }


def demo_index(exp: Experiment, settings: Settings, n_trials: int) -> dict[str, Any]:
    """The practice folder's index.json (no task level; `n_obvious_trials` clearest trials
    first)."""
    return {
        "task_name": ui_layout.demo_folder(exp.name),
        "n_reference_images": settings.n_references,
        "n_trials": n_trials,
        "n_obvious_trials": min(settings.n_obvious_demo_trials, n_trials),
    }


def trials_table(plan: Plan, info: StimulusInfo) -> pd.DataFrame:
    """trials.csv: one row per trial (task 0 = practice), with the source image of every stimulus.

    `min_query`/`max_query`/`{min,max}_reference_<i>` hold the source of each shown image: the
    data-set image (relative to the image root) for natural exemplars, the stimulus file (relative
    to the results folder) for feature visualisations.
    """
    n_ref = plan.settings.n_references
    rows = []
    numbered = [(0, i, t) for i, t in enumerate(plan.demo_trials, start=1)]
    numbered += [(task.index, i, t) for task in plan.tasks for i, t in enumerate(task.trials, 1)]
    for task_number, i, trial in numbered:
        layer, channel = split_unit(trial.unit)
        row: dict[str, Any] = {
            "experiment": plan.experiment.name,
            "task": task_number,
            "trial": i,
            "is_demo": task_number == 0,
            "catch_trial": trial.mode == CATCH_MODE,
            "mode": trial.mode,
            "unit": trial.unit,
            "layer": layer,
            "channel": channel,
            "batch": trial.batch,
            "difficulty": trial.difficulty,
            "queries": trial.queries,
            "references": trial.references,
        }
        for side in paths.SIDES:
            source, act = trial.describe(info, "queries", side, trial.query_index)
            row[f"{side}_query"] = source
            row[f"{side}_query_activation"] = act
        for side in paths.SIDES:
            for r in range(n_ref):
                row[f"{side}_reference_{r}"] = trial.describe(info, "references", side, r)[0]
        rows.append(row)
    ref_cols = [f"{side}_reference_{r}" for side in paths.SIDES for r in range(n_ref)]
    table = pd.DataFrame(rows, columns=TRIAL_COLUMNS + ref_cols)
    table["batch"] = table["batch"].astype("Int64")
    return table


def _write_index(path: Path, index: Mapping[str, Any]) -> None:
    """index.json, compact like the authors' `json.dump`."""
    path.write_text(json.dumps(index, separators=(", ", ": ")))


def _write_trials(
    folder: Path, trials: Sequence[Trial], placer: StimulusPlacer, n_references: int
) -> None:
    """The trial folders (numbered from 1) of a task or practice folder, at the UI's image size."""
    for i, trial in enumerate(trials, start=1):
        trial_dir = folder / ui_layout.trial_folder(i)
        for dst, src in trial.files(n_references).items():
            (trial_dir / dst).parent.mkdir(parents=True, exist_ok=True)
            try:
                placer.place(src, trial_dir / dst)
            except FileNotFoundError as err:
                raise FileNotFoundError(f"trial {i} ({trial.unit}): {err}") from err


@dataclass
class BuildReport:
    """What was written."""

    n_tasks: int
    n_trials: int
    n_demo_trials: int
    n_files: int
    n_copies: int  # copied because the file system refused a hard link
    n_resampled: int  # stimuli resampled to the UI's image size (each once)


def log_plan(plan: Plan, fv_checked: bool) -> None:
    """Log the plan: with `fv_checked` the units whose feature visualisations failed, why the
    experiment has fewer units than configured (if so), and its units, tasks and trials."""
    exp, sel, settings = plan.experiment, plan.selection, plan.settings
    if fv_checked:
        log.info(
            "%s: %d of %d units left out (feature visualisations failed the success test; "
            "units.csv says why): %s",
            exp.name,
            len(sel.left_out),
            len(sel.pool),
            ", ".join(u for u, _ in sel.left_out) or "none",
        )
    if sel.shrunk:
        log.warning("%s: %s", exp.name, sel.shrunk)
    log.info(
        "%s: %d units in %d tasks × (%d + %d catch) trials, %d repetitions; catch units %s; "
        "practice units %s",
        exp.name,
        len(sel.units),
        settings.n_tasks,
        settings.n_trials,
        settings.n_catch_trials,
        settings.repetitions,
        ", ".join(sel.catch_units),
        ", ".join(sel.practice_units),
    )


def log_build(report: BuildReport, checked: Mapping[str, Any], pages: str | None) -> None:
    """Log what write_experiment wrote and what the check against the UI's reading counted."""
    log.info("checked against what the experiment UI reads: %s", checked)
    log.info(
        "wrote %d tasks, %d trials, %d practice trials (%d files, %d stimuli resampled to the UI's "
        "size, %d copied instead of linked); instruction pages: %s",
        report.n_tasks,
        report.n_trials,
        report.n_demo_trials,
        report.n_files,
        report.n_resampled,
        report.n_copies,
        pages,
    )


def _write_selection(plan: Plan, out: Path) -> None:
    """units.csv (every unit's role, or why it was left out) and selection.json (the counts)."""
    exp = plan.experiment
    plan.selection.roles().to_csv(out / UNITS_CSV, index=False)
    summary = {"experiment": exp.name, "condition": exp.condition}
    summary |= plan.selection.summary()
    (out / SELECTION_JSON).write_text(json.dumps(summary, indent=1) + "\n")


def _write_instructions(plan: Plan, out: Path, demo: Path, pages: str | None) -> None:
    """The instruction pages: generated around the clearest practice trial, copied from a folder
    of ready pages, or none (`pages` None)."""
    exp, n_ref = plan.experiment, plan.settings.n_references
    if pages == instructions.GENERATED:
        # the clearest practice trial, as written (UI size): its unit is not among the
        # experiment's units, so the pages reveal nothing about a main trial
        example = demo / ui_layout.trial_folder(1)
        files = {name: example / name for name in plan.demo_trials[0].files(n_ref)}
        instructions.write_pages(out / ui_layout.INSTRUCTIONS, exp.condition, files, n_ref)
    elif pages is not None:
        instructions.copy_ready_pages(Path(pages), out / ui_layout.INSTRUCTIONS, exp.condition)


def write_experiment(
    plan: Plan,
    results_dir: Path,
    out_dir: Path,
    demo_dir: Path,
    instruction_pages: str | None = instructions.GENERATED,
    progress: Any = None,
) -> BuildReport:
    """Write the experiment folder and its practice folder atomically (both or neither).

    `instruction_pages` is `generated` (drawn around the clearest practice trial), a folder of
    ready pages, or None to leave `instructions/` out (tests only). Next to structure.json,
    `units.csv` gives every unit of the model its role (or why it was left out) and
    `selection.json` the counts and why the experiment has fewer units than configured, if so.
    """
    results_dir = Path(results_dir)
    exp, s = plan.experiment, plan.settings
    n_ref = s.n_references
    table = trials_table(plan, StimulusInfo(results_dir))
    placer = StimulusPlacer(results_dir)
    with atomic_dir(out_dir) as tmp_out, atomic_dir(demo_dir) as tmp_demo:
        for task in plan.tasks:
            task_dir = tmp_out / ui_layout.task_folder(task.index)
            task_dir.mkdir()
            _write_index(task_dir / ui_layout.INDEX, task_index(exp, task, n_ref))
            _write_trials(task_dir, task.trials, placer, n_ref)
            if progress is not None:
                progress.update(1)
        _write_index(tmp_demo / ui_layout.INDEX, demo_index(exp, s, len(plan.demo_trials)))
        _write_trials(tmp_demo, plan.demo_trials, placer, n_ref)
        (tmp_out / ui_layout.STRUCTURE).write_text(json.dumps(plan.structure(), indent=1) + "\n")
        table.to_csv(tmp_out / ui_layout.TRIALS_TABLE, index=False, quoting=csv.QUOTE_MINIMAL)
        _write_selection(plan, tmp_out)
        _write_instructions(plan, tmp_out, tmp_demo, instruction_pages)
    n_trials = sum(len(t.trials) for t in plan.tasks)
    if placer.n_copies:
        log.warning(
            "%d of %d stimulus files were copied (hard links refused)",
            placer.n_copies,
            placer.n_files,
        )
    return BuildReport(
        len(plan.tasks),
        n_trials,
        len(plan.demo_trials),
        placer.n_files,
        placer.n_copies,
        placer.n_resampled,
    )

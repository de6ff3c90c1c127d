"""2-AFC experiments in the IMI UI format: names, settings and the checks of their counts.

Protocol §6 (task structure and task folders) and §7 (what the experiment UI reads). An experiment
is (model, condition, difficulty). The work is split over four modules:
- `experiments` (this one): names, the counts (`Settings`) and the planning-time count checks;
- `experiment_plan`: unit selection, balanced tasks, catch and practice trials (`Plan`);
- `experiment_folders`: writing the experiment folder, its practice folder and `trials.csv`;
- `experiment_check`: checking a written folder against what the UI reads.
The settings come from the config after schema validation, which fills in every default: the
schema is the only place that holds them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

CONDITIONS = ("natural", "synthetic")
# : The trial `mode` of each condition in structure.json (the authors call the synthetic one
# `optimized`).
MODES = {"natural": "natural", "synthetic": "optimized"}
CATCH_MODE = "catch_trial"
EASY = "easy"
#: Settings read from the `exemplars` config slice; all others come from `experiments`.
EXEMPLAR_KEYS = ("n_references", "n_batches")
SCHEMA_HINT = "validate the config against workflow/schemas/config.schema.yaml (it fills defaults)"


def experiment_name(model: str, condition: str, difficulty: str = EASY) -> str:
    """`<model>_<condition>` or `<model>_<difficulty>_<condition>` for non-easy queries (design.md
    §2)."""
    if condition not in CONDITIONS:
        raise ValueError(f"condition {condition!r} is not one of {', '.join(CONDITIONS)}")
    return f"{model}_{condition}" if difficulty == EASY else f"{model}_{difficulty}_{condition}"


def condition_of(name: str) -> str:
    """The condition of an experiment named `name` (its last `_` part)."""
    condition = name.rsplit("_", 1)[-1]
    if condition not in CONDITIONS:
        raise ValueError(f"experiment name {name!r} does not end in _{' or _'.join(CONDITIONS)}")
    return condition


@dataclass(frozen=True)
class Experiment:
    """One experiment: a model, a condition and the difficulty of its queries."""

    model: str
    condition: str
    difficulty: str = EASY

    @property
    def name(self) -> str:
        """The experiment's folder name and UI task namespace."""
        return experiment_name(self.model, self.condition, self.difficulty)

    @property
    def mode(self) -> str:
        """The structure.json mode of its regular trials (`natural` or `optimized`)."""
        return MODES[self.condition]


def experiment_of(entry: Mapping[str, Any]) -> Experiment:
    """The experiment of a rule's `experiment` param (model, condition, difficulty and name)."""
    exp = Experiment(entry["model"], entry["condition"], entry["difficulty"])
    if exp.name != entry["name"]:
        raise ValueError(f"experiment config {entry} is named {exp.name!r}, not {entry['name']!r}")
    return exp


def list_experiments(exp_cfg: Mapping[str, Any]) -> list[Experiment]:
    """The configured experiments, in config order; unknown conditions and duplicates are errors."""
    experiments: list[Experiment] = []
    seen: set[str] = set()
    for i, item in enumerate(exp_cfg["list"]):
        condition = item["condition"]
        if condition not in CONDITIONS:
            raise ValueError(
                f"experiments.list[{i}].condition: {condition!r} is not one of "
                f"{', '.join(CONDITIONS)}"
            )
        exp = Experiment(item["model"], condition, item["difficulty"])
        if exp.name in seen:
            raise ValueError(f"experiments.list[{i}]: experiment {exp.name!r} is listed twice")
        seen.add(exp.name)
        experiments.append(exp)
    return experiments


def get_experiment(exp_cfg: Mapping[str, Any], name: str) -> Experiment:
    """The configured experiment called `name`."""
    experiments = {exp.name: exp for exp in list_experiments(exp_cfg)}
    if name not in experiments:
        raise ValueError(
            f"experiment {name!r} is not configured; configured: {', '.join(experiments) or 'none'}"
        )
    return experiments[name]


@dataclass(frozen=True)
class Settings:
    """The counts of an experiment (schema-validated `experiments` and `exemplars` slices)."""

    n_units: int
    n_tasks: int
    n_trials: int
    n_catch_trials: int
    n_catch_units: int
    n_practice_units: int
    n_demo_trials: int
    n_obvious_demo_trials: int
    max_batch_id: int
    seed: int
    n_references: int
    n_batches: int

    @classmethod
    def from_config(cls, exp_cfg: Mapping[str, Any], exemplars_cfg: Mapping[str, Any]) -> Settings:
        """Settings from the validated `experiments` and `exemplars` config slices."""
        values = {}
        for f in fields(cls):
            section, slice_ = (
                ("exemplars", exemplars_cfg)
                if f.name in EXEMPLAR_KEYS
                else ("experiments", exp_cfg)
            )
            if f.name not in slice_:
                raise ValueError(f"{section}.{f.name} is missing: {SCHEMA_HINT}")
            values[f.name] = int(slice_[f.name])
        return cls(**values)

    @property
    def repetitions(self) -> int:
        """How many tasks each unit appears in (30 in the paper)."""
        return self.n_tasks * self.n_trials // self.n_units

    @property
    def trials_per_task(self) -> int:
        """Regular plus catch trials per task (45 in the paper)."""
        return self.n_trials + self.n_catch_trials


# --------------------------------------------------------------------------------------------
# Count checks (called at planning time from unitpsych.config)


def _fitting_task_counts(n_units: int, n_trials: int, around: int) -> str:
    """The nearest task counts that balance `n_units` units over tasks of `n_trials` trials."""
    step = n_units // math.gcd(n_units, n_trials)
    below = (around // step) * step
    options = sorted({max(step, below), below + step})
    return " or ".join(str(o) for o in options)


def _model_unit_count(model: str, models_cfg: Mapping[str, Any]) -> int | None:
    """Units a model will have (sampled n, a shared model's n, or a given list's length if
    readable)."""
    units_cfg = models_cfg[model]["units"]
    shared = units_cfg["share_with"]
    if shared:
        return _model_unit_count(shared, models_cfg) if shared in models_cfg else None
    given = units_cfg["list"]
    if given:
        path = Path(given)
        if not path.is_file():
            return None
        from unitpsych.units.sampling import read_units

        return len(read_units(path))
    return int(units_cfg["n"])


def _check_settings(s: Settings) -> None:
    """Raise ValueError when the counts cannot give balanced tasks, catch and practice trials."""
    if s.n_trials > s.n_units:
        raise ValueError(
            f"n_trials = {s.n_trials} regular trials per task need as many distinct units, but "
            f"n_units = {s.n_units}; use n_trials <= {s.n_units} or n_units >= {s.n_trials}"
        )
    total = s.n_tasks * s.n_trials
    if total % s.n_units:
        raise ValueError(
            f"n_tasks × n_trials = {s.n_tasks} × {s.n_trials} = {total} is not a multiple of "
            f"n_units = {s.n_units}, so units cannot appear equally often; with n_trials = "
            f"{s.n_trials}, n_tasks = {_fitting_task_counts(s.n_units, s.n_trials, s.n_tasks)} "
            "would fit"
        )
    if s.n_catch_trials > 0 and s.n_catch_units < 1:
        raise ValueError(
            f"n_catch_trials = {s.n_catch_trials} needs at least one catch unit; set n_catch_units "
            ">= 1 "
            "or n_catch_trials = 0"
        )
    if s.n_obvious_demo_trials > s.n_demo_trials:
        raise ValueError(
            f"n_obvious_demo_trials = {s.n_obvious_demo_trials} exceeds n_demo_trials = "
            f"{s.n_demo_trials}"
        )
    if s.n_batches < s.max_batch_id + 1:
        raise ValueError(
            f"batch ids cycle 0..max_batch_id = 0..{s.max_batch_id}, which needs "
            f"{s.max_batch_id + 1} batches, but exemplars.n_batches = {s.n_batches}; set "
            f"max_batch_id <= {s.n_batches - 1} or exemplars.n_batches >= {s.max_batch_id + 1}"
        )
    if s.n_practice_units * s.n_batches < s.n_demo_trials:
        raise ValueError(
            f"n_demo_trials = {s.n_demo_trials} practice trials need as many (practice unit, "
            "batch) "
            f"pairs, but n_practice_units × exemplars.n_batches = {s.n_practice_units} × "
            f"{s.n_batches}; "
            f"use n_demo_trials <= {s.n_practice_units * s.n_batches} or more practice units"
        )


def check_experiment_counts(
    exp_cfg: Mapping[str, Any],
    models_cfg: Mapping[str, Any],
    exemplars_cfg: Mapping[str, Any],
    featureviz_cfg: Mapping[str, Any],
) -> None:
    """Raise ValueError saying what would fit when the counts cannot give balanced experiments.

    Also checks a folder of ready instruction pages (`experiments.instructions`), so a bad folder
    fails before any job runs.
    """
    s = Settings.from_config(exp_cfg, exemplars_cfg)
    experiments = list_experiments(exp_cfg)
    if not experiments:
        return
    n_fvs = int(featureviz_cfg["n_images"])
    if n_fvs != s.n_references and any(e.condition == "synthetic" for e in experiments):
        raise ValueError(
            f"synthetic trials show the {n_fvs} feature visualisations per side as references, but "
            f"exemplars.n_references = {s.n_references}; "
            f"set visualizations.n_images = {s.n_references}"
        )
    _check_settings(s)
    needed = s.n_units + s.n_catch_units + s.n_practice_units
    for exp in experiments:
        if exp.model not in models_cfg:
            raise ValueError(
                f"experiment {exp.name!r}: model {exp.model!r} is not configured; "
                f"configured: {', '.join(models_cfg)}"
            )
        available = _model_unit_count(exp.model, models_cfg)
        if available is not None and available < needed:
            raise ValueError(
                f"experiment {exp.name!r}: model {exp.model!r} has {available} units, fewer than "
                f"n_units + n_catch_units + n_practice_units = {s.n_units} + {s.n_catch_units} + "
                f"{s.n_practice_units} = {needed}; sample at least {needed} units "
                f"(models.{exp.model}.units.n) or lower these counts"
            )
    from unitpsych.experiments.instructions import GENERATED, check_ready_pages

    if exp_cfg["instructions"] != GENERATED:
        for condition in sorted({e.condition for e in experiments}):
            check_ready_pages(Path(exp_cfg["instructions"]), condition)

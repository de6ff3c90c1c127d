"""2-AFC experiments in the IMI UI format: unit selection, balanced tasks, catch and practice trials.

Protocol §6 (task structure and task folders) and §7 (what the experiment UI reads). An experiment
is (model, condition, difficulty). Its folder `results/experiments/<experiment>/` holds
`structure.json`, `trials.csv`, `task_<k>/index.json` + `task_<k>/trials/trial_<i>/...` and
`instructions/<n>.jpg`; the practice folder `demo_<experiment>/` sits next to it, because the UI
fetches `<exp>/<tns>/task_<k>/index.json` and `<exp>/demo_<tns>/index.json` from the same parent.
Stimulus paths in `structure.json` and `trials.csv` are relative to the results folder (the folder
holding `<model>/stimuli/`). Images in the task folders are hard links to the stimuli (copies where
the file system refuses), never symlinks, so the folder can be uploaded as it is.
"""

from __future__ import annotations

import csv
import errno
import json
import logging
import math
import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from unitpsych.io import atomic_dir, derive_seed, read_json
from unitpsych.units import split_unit

log = logging.getLogger("unitpsych.experiments")

CONDITIONS = ("natural", "synthetic")
#: The trial `mode` of each condition in structure.json (the authors call the synthetic one `optimized`).
MODES = {"natural": "natural", "synthetic": "optimized"}
CATCH_MODE = "catch_trial"
SIDES = ("min", "max")
EASY = "easy"

#: Paper values (protocol §6.1, `make_experiments.sh`), also the schema defaults.
DEFAULTS: dict[str, int] = {
    "n_units": 84,
    "n_tasks": 63,
    "n_trials": 40,
    "n_catch_trials": 5,
    "n_catch_units": 5,
    "n_practice_units": 5,
    "n_demo_trials": 5,
    "n_obvious_demo_trials": 4,
    "max_batch_id": 10,
    "seed": 1,
}
EXEMPLAR_DEFAULTS: dict[str, int] = {"n_batches": 20, "n_references": 9}
UNITS_DEFAULT_N = 100


# --------------------------------------------------------------------------------------------
# Names and settings


def experiment_name(model: str, condition: str, difficulty: str = EASY) -> str:
    """`<model>_<condition>` or `<model>_<difficulty>_<condition>` for non-easy queries (design.md §2)."""
    if condition not in CONDITIONS:
        raise ValueError(f"condition {condition!r} is not one of {', '.join(CONDITIONS)}")
    return f"{model}_{condition}" if difficulty == EASY else f"{model}_{difficulty}_{condition}"


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


def list_experiments(exp_cfg: Mapping[str, Any]) -> list[Experiment]:
    """The configured experiments, in config order; unknown conditions and duplicates are errors."""
    experiments: list[Experiment] = []
    seen: set[str] = set()
    for i, item in enumerate(exp_cfg.get("list", [])):
        condition = item.get("condition")
        if condition not in CONDITIONS:
            raise ValueError(
                f"experiments.list[{i}].condition: {condition!r} is not one of {', '.join(CONDITIONS)}"
            )
        exp = Experiment(item["model"], condition, item.get("difficulty", EASY))
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
    """The counts of an experiment (config `experiments` slice without the list)."""

    n_units: int = DEFAULTS["n_units"]
    n_tasks: int = DEFAULTS["n_tasks"]
    n_trials: int = DEFAULTS["n_trials"]
    n_catch_trials: int = DEFAULTS["n_catch_trials"]
    n_catch_units: int = DEFAULTS["n_catch_units"]
    n_practice_units: int = DEFAULTS["n_practice_units"]
    n_demo_trials: int = DEFAULTS["n_demo_trials"]
    n_obvious_demo_trials: int = DEFAULTS["n_obvious_demo_trials"]
    max_batch_id: int = DEFAULTS["max_batch_id"]
    seed: int = DEFAULTS["seed"]
    n_references: int = EXEMPLAR_DEFAULTS["n_references"]
    n_batches: int = EXEMPLAR_DEFAULTS["n_batches"]

    @classmethod
    def from_config(
        cls, exp_cfg: Mapping[str, Any], exemplars_cfg: Mapping[str, Any] | None = None
    ) -> Settings:
        """Settings from the `experiments` and `exemplars` config slices (defaults filled in)."""
        exemplars_cfg = exemplars_cfg or {}
        values = {key: int(exp_cfg.get(key, default)) for key, default in DEFAULTS.items()}
        for key, default in EXEMPLAR_DEFAULTS.items():
            values[key] = int(exemplars_cfg.get(key, default))
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
# Balance check (called at planning time from unitpsych.config)


def _fitting_task_counts(n_units: int, n_trials: int, around: int) -> str:
    """The nearest task counts that balance `n_units` units over tasks of `n_trials` trials."""
    step = n_units // math.gcd(n_units, n_trials)
    below = (around // step) * step
    options = sorted({max(step, below), below + step})
    return " or ".join(str(o) for o in options)


def _model_unit_count(model: str, models_cfg: Mapping[str, Any]) -> int | None:
    """Units a model will have (sampled n, a shared model's n, or a given list's length if readable)."""
    units_cfg = models_cfg[model].get("units", {}) or {}
    shared = units_cfg.get("share_with")
    if shared:
        return _model_unit_count(shared, models_cfg) if shared in models_cfg else None
    given = units_cfg.get("list")
    if given:
        path = Path(given)
        if not path.is_file():
            return None
        from unitpsych.units import read_units

        return len(read_units(path))
    return int(units_cfg.get("n", UNITS_DEFAULT_N))


def check_experiment_counts(
    exp_cfg: Mapping[str, Any],
    models_cfg: Mapping[str, Any],
    exemplars_cfg: Mapping[str, Any],
    featureviz_cfg: Mapping[str, Any] | None = None,
) -> None:
    """Raise ValueError saying what would fit when the counts cannot give balanced experiments."""
    s = Settings.from_config(exp_cfg, exemplars_cfg)
    experiments = list_experiments(exp_cfg)
    if not experiments:
        return
    n_fvs = int((featureviz_cfg or {}).get("n_images", s.n_references))
    if n_fvs != s.n_references and any(e.condition == "synthetic" for e in experiments):
        raise ValueError(
            f"synthetic trials show the {n_fvs} feature visualisations per side as references, but "
            f"exemplars.n_references = {s.n_references}; set featureviz.n_images = {s.n_references}"
        )
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
            f"{s.n_trials}, n_tasks = {_fitting_task_counts(s.n_units, s.n_trials, s.n_tasks)} would fit"
        )
    if s.n_catch_trials > 0 and s.n_catch_units < 1:
        raise ValueError(
            f"n_catch_trials = {s.n_catch_trials} needs at least one catch unit; set n_catch_units >= 1 "
            "or n_catch_trials = 0"
        )
    if s.n_obvious_demo_trials > s.n_demo_trials:
        raise ValueError(
            f"n_obvious_demo_trials = {s.n_obvious_demo_trials} exceeds n_demo_trials = {s.n_demo_trials}"
        )
    if s.n_batches < s.max_batch_id + 1:
        raise ValueError(
            f"batch ids cycle 0..max_batch_id = 0..{s.max_batch_id}, which needs "
            f"{s.max_batch_id + 1} batches, but exemplars.n_batches = {s.n_batches}; set "
            f"max_batch_id <= {s.n_batches - 1} or exemplars.n_batches >= {s.max_batch_id + 1}"
        )
    if s.n_practice_units * s.n_batches < s.n_demo_trials:
        raise ValueError(
            f"n_demo_trials = {s.n_demo_trials} practice trials need as many (practice unit, batch) "
            f"pairs, but n_practice_units × exemplars.n_batches = {s.n_practice_units} × {s.n_batches}; "
            f"use n_demo_trials <= {s.n_practice_units * s.n_batches} or more practice units"
        )
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


# --------------------------------------------------------------------------------------------
# Units and tasks


@dataclass(frozen=True)
class UnitSelection:
    """The experiment's units and the reserved catch and practice units (disjoint)."""

    units: tuple[str, ...]
    catch_units: tuple[str, ...]
    practice_units: tuple[str, ...]


def select_units(
    units: Iterable[str], n_units: int, n_catch_units: int, n_practice_units: int, seed: int
) -> UnitSelection:
    """Seeded draw of experiment, catch and practice units from a model's units (order-independent).

    The units are sorted before the shuffle, so the draw does not depend on file-system order, and
    the seed does not depend on the model: models sharing a unit list (and both conditions of a
    model) get the same experiment units.
    """
    pool = sorted(set(units))
    needed = n_units + n_catch_units + n_practice_units
    if len(pool) < needed:
        raise ValueError(
            f"{len(pool)} units available, but n_units + n_catch_units + n_practice_units = "
            f"{n_units} + {n_catch_units} + {n_practice_units} = {needed} are needed"
        )
    rng = np.random.default_rng(derive_seed(seed, "select_units"))
    order = [pool[i] for i in rng.permutation(len(pool))]
    chosen = order[:n_units]
    catch = order[n_units : n_units + n_catch_units]
    practice = order[n_units + n_catch_units : needed]
    return UnitSelection(tuple(sorted(chosen)), tuple(sorted(catch)), tuple(sorted(practice)))


def assign_units_to_tasks(
    units: Sequence[str], n_tasks: int, n_trials: int, rng: np.random.Generator
) -> list[list[str]]:
    """Units of every task via the authors' backlog (§6.1 step 5): equal use, at most once per task."""
    if n_trials > len(units):
        raise ValueError(f"n_trials = {n_trials} exceeds the {len(units)} distinct units")
    if (n_tasks * n_trials) % len(units):
        raise ValueError(
            f"n_tasks × n_trials = {n_tasks * n_trials} is not a multiple of {len(units)} units"
        )

    def shuffled() -> list[str]:
        return [units[i] for i in rng.permutation(len(units))]

    backlog = shuffled()
    tasks: list[list[str]] = []
    for _ in range(n_tasks):
        if len(backlog) >= n_trials:
            chosen, backlog = backlog[:n_trials], backlog[n_trials:]
        else:
            # the rest of this cycle, topped up from a fresh cycle with units not already chosen
            chosen, backlog = backlog, shuffled()
            top_up = [u for u in backlog if u not in chosen][: n_trials - len(chosen)]
            backlog = [u for u in backlog if u not in top_up]
            chosen = chosen + top_up
        if not backlog:
            backlog = shuffled()
        tasks.append([chosen[i] for i in rng.permutation(len(chosen))])
    counts: dict[str, int] = {}
    for task in tasks:
        if len(set(task)) != n_trials:
            raise AssertionError("a task holds a unit twice")
        for unit in task:
            counts[unit] = counts.get(unit, 0) + 1
    if len(counts) != len(units) or set(counts.values()) != {n_tasks * n_trials // len(units)}:
        raise AssertionError(f"units are not used equally often: {sorted(set(counts.values()))}")
    return tasks


class BatchCycle:
    """Per-unit batch ids cycling 0..max_batch_id (§6.1 step 4)."""

    def __init__(self, max_batch_id: int) -> None:
        self.max_batch_id = max_batch_id
        self._next: dict[str, int] = {}

    def __call__(self, unit: str) -> int:
        """The next batch id of `unit`."""
        batch = self._next.get(unit, 0)
        self._next[unit] = (batch + 1) % (self.max_batch_id + 1)
        return batch


# --------------------------------------------------------------------------------------------
# Trials


def natural_dir(model: str, unit: str, difficulty: str, batch: int) -> str:
    """A natural-exemplar batch folder, relative to the results folder."""
    return f"{model}/stimuli/{unit}/natural_{difficulty}/batch_{batch}"


def synthetic_dir(model: str, unit: str) -> str:
    """A unit's feature-visualisation folder, relative to the results folder."""
    return f"{model}/stimuli/{unit}/synthetic"


@dataclass(frozen=True)
class Trial:
    """One 2-AFC trial: which unit, which stimulus folders, which images are the queries."""

    unit: str
    mode: str
    queries: str
    references: str
    query_index: int
    batch: int | None
    difficulty: str | None

    def structure(self) -> dict[str, str]:
        """The trial as in the authors' structure JSON (exactly queries, references, mode)."""
        return {"queries": self.queries, "references": self.references, "mode": self.mode}

    def files(self, n_references: int) -> dict[str, str]:
        """Trial-folder file -> stimulus file (relative to the results folder)."""
        out = {
            f"queries/{side}.png": f"{self.queries}/{side}_{self.query_index}.png" for side in SIDES
        }
        for side in SIDES:
            for i in range(n_references):
                out[f"references/{side}_{i}.png"] = f"{self.references}/{side}_{i}.png"
        return out


def regular_trial(
    exp: Experiment, unit: str, batch: int, n_references: int, difficulty: str | None = None
) -> Trial:
    """Natural: queries and references of one batch; synthetic: that batch's queries, FV references."""
    difficulty = difficulty or exp.difficulty
    queries = natural_dir(exp.model, unit, difficulty, batch)
    references = queries if exp.condition == "natural" else synthetic_dir(exp.model, unit)
    return Trial(unit, exp.mode, queries, references, n_references, batch, difficulty)


def catch_trial(exp: Experiment, unit: str, batch: int, n_references: int) -> Trial:
    """Queries are the most extreme reference of each side (natural `_8`, synthetic strongest FV `_8`)."""
    if exp.condition == "natural":
        folder = natural_dir(exp.model, unit, EASY, batch)
        return Trial(unit, CATCH_MODE, folder, folder, n_references - 1, batch, EASY)
    folder = synthetic_dir(exp.model, unit)
    return Trial(unit, CATCH_MODE, folder, folder, n_references - 1, None, None)


@dataclass
class Task:
    """One task (HIT): regular and catch trials and their shuffled order."""

    index: int
    raw_trials: list[Trial]
    raw_catch_trials: list[Trial]
    trials: list[Trial]

    @property
    def catch_trial_idxs(self) -> list[int]:
        """1-based positions of the catch trials."""
        return [i + 1 for i, t in enumerate(self.trials) if t.mode == CATCH_MODE]

    def structure(self) -> dict[str, Any]:
        """The task as in the authors' structure JSON."""
        return {
            "index": self.index,
            "raw_trials": [t.structure() for t in self.raw_trials],
            "raw_catch_trials": [t.structure() for t in self.raw_catch_trials],
            "trials": [t.structure() for t in self.trials],
        }


@dataclass
class Plan:
    """Everything needed to write an experiment folder and its practice folder."""

    experiment: Experiment
    settings: Settings
    selection: UnitSelection
    tasks: list[Task]
    demo_trials: list[Trial] = field(default_factory=list)

    def structure(self) -> dict[str, Any]:
        """structure.json: `{"tasks": [...]}` (§6.1, §10.12)."""
        return {"tasks": [task.structure() for task in self.tasks]}


def plan_tasks(exp: Experiment, selection: UnitSelection, settings: Settings) -> list[Task]:
    """The balanced task structure of one experiment (§6.1), seeded by the experiment's name."""
    rng = np.random.default_rng(derive_seed(settings.seed, exp.name))
    assignment = assign_units_to_tasks(
        list(selection.units), settings.n_tasks, settings.n_trials, rng
    )
    cycle = BatchCycle(settings.max_batch_id)
    catch_cycle = BatchCycle(settings.max_batch_id)
    n_ref = settings.n_references
    tasks = []
    for k, units in enumerate(assignment, start=1):
        raw = [regular_trial(exp, unit, cycle(unit), n_ref) for unit in units]
        raw = [raw[i] for i in rng.permutation(len(raw))]
        catch_units = _draw_catch_units(selection.catch_units, settings.n_catch_trials, rng)
        raw_catch = [catch_trial(exp, unit, catch_cycle(unit), n_ref) for unit in catch_units]
        combined = raw + raw_catch
        trials = [combined[i] for i in rng.permutation(len(combined))]
        tasks.append(Task(k, raw, raw_catch, trials))
    return tasks


def _draw_catch_units(catch_units: Sequence[str], n: int, rng: np.random.Generator) -> list[str]:
    """`n` catch units: without replacement when enough exist, else all once plus random repeats."""
    if n == 0:
        return []
    if len(catch_units) >= n:
        return [catch_units[i] for i in rng.choice(len(catch_units), size=n, replace=False)]
    extra = rng.choice(len(catch_units), size=n - len(catch_units), replace=True)
    return list(catch_units) + [catch_units[i] for i in extra]


# --------------------------------------------------------------------------------------------
# Stimulus metadata (natural exemplars: source image and activation; FVs: activation)


def read_exemplar_meta(folder: Path) -> pd.DataFrame:
    """Metadata of a natural-exemplar folder: one row per image (batch, side, index, source, activation)."""
    from unitpsych.exemplars import read_exemplars

    table = read_exemplars(folder)
    missing = {"batch", "side", "index", "source", "activation"} - set(table.columns)
    if missing:
        raise ValueError(f"{folder}: exemplar metadata lacks the columns {sorted(missing)}")
    return table


class StimulusInfo:
    """Source image and activation of every stimulus file, read lazily from the stimulus metadata."""

    def __init__(self, results_dir: Path) -> None:
        self.results_dir = Path(results_dir)
        self._natural: dict[str, dict[tuple[int, str, int], tuple[str, float]]] = {}
        self._synthetic: dict[str, dict[tuple[str, int], float]] = {}

    def _natural_table(self, folder: str) -> dict[tuple[int, str, int], tuple[str, float]]:
        if folder not in self._natural:
            table = read_exemplar_meta(self.results_dir / folder)
            self._natural[folder] = {
                (int(r.batch), str(r.side), int(r.index)): (str(r.source), float(r.activation))
                for r in table.itertuples(index=False)
            }
        return self._natural[folder]

    def _synthetic_table(self, folder: str) -> dict[tuple[str, int], float]:
        if folder not in self._synthetic:
            path = self.results_dir / folder / "fv.json"
            fv = read_json(path) if path.is_file() else {}
            # fv.json (featureviz.UnitFV.to_json) keeps one block per side: {"min": {"activations": [...]}}
            self._synthetic[folder] = {
                (side, i): float(v)
                for side in SIDES
                for i, v in enumerate(fv.get(side, {}).get("activations", []))
            }
        return self._synthetic[folder]

    def lookup(self, stimulus: str) -> tuple[str, float | None]:
        """(source, activation) of a stimulus file path relative to the results folder."""
        folder, name = stimulus.rsplit("/", 1)
        side, index = name.removesuffix(".png").split("_")
        parent, leaf = folder.rsplit("/", 1)
        if leaf.startswith("batch_"):
            table = self._natural_table(parent)
            key = (int(leaf.removeprefix("batch_")), side, int(index))
            if key not in table:
                raise KeyError(f"{parent}: exemplar metadata has no row for {key}")
            return table[key]
        return stimulus, self._synthetic_table(folder).get((side, int(index)))


def plan_demo(
    exp: Experiment, selection: UnitSelection, settings: Settings, info: StimulusInfo
) -> list[Trial]:
    """Practice trials from the practice units (easy queries), clearest first (largest query gap)."""
    candidates = []
    for unit in selection.practice_units:
        for batch in range(settings.n_batches):
            trial = regular_trial(exp, unit, batch, settings.n_references, difficulty=EASY)
            files = trial.files(settings.n_references)
            _, act_min = info.lookup(files["queries/min.png"])
            _, act_max = info.lookup(files["queries/max.png"])
            candidates.append((-(act_max - act_min), unit, batch, trial))
    candidates.sort(key=lambda c: c[:3])
    return [c[3] for c in candidates[: settings.n_demo_trials]]


def plan_experiment(
    exp: Experiment, units: Iterable[str], settings: Settings, results_dir: Path
) -> Plan:
    """Select units, build the balanced tasks and pick the practice trials."""
    selection = select_units(
        units, settings.n_units, settings.n_catch_units, settings.n_practice_units, settings.seed
    )
    tasks = plan_tasks(exp, selection, settings)
    demo = plan_demo(exp, selection, settings, StimulusInfo(results_dir))
    return Plan(exp, settings, selection, tasks, demo)


def required_stimulus_dirs(exp: Experiment, units: Iterable[str], settings: Settings) -> list[str]:
    """Stimulus folders (relative to the results folder) the experiment reads, for Snakemake inputs."""
    sel = select_units(
        units, settings.n_units, settings.n_catch_units, settings.n_practice_units, settings.seed
    )
    stim = f"{exp.model}/stimuli"
    dirs = [f"{stim}/{u}/natural_{exp.difficulty}" for u in sel.units]
    dirs += [f"{stim}/{u}/natural_{EASY}" for u in sel.practice_units]
    if exp.condition == "natural":
        dirs += [f"{stim}/{u}/natural_{EASY}" for u in sel.catch_units]
    else:
        dirs += [
            f"{stim}/{u}/synthetic" for u in (*sel.units, *sel.catch_units, *sel.practice_units)
        ]
    return sorted(set(dirs))


# --------------------------------------------------------------------------------------------
# Writing


def link_or_copy(src: Path, dst: Path) -> bool:
    """Hard-link `src` to `dst` (True), or copy it where the file system refuses links (False)."""
    try:
        os.link(src, dst)
        return True
    except OSError as err:
        if err.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES):
            raise
        shutil.copyfile(src, dst)
        return False


def _write_index(path: Path, index: Mapping[str, Any]) -> None:
    """index.json, compact like the authors' `json.dump`."""
    path.write_text(json.dumps(index, separators=(", ", ": ")))


def _write_trials(folder: Path, trials: Sequence[Trial], results_dir: Path, n_ref: int) -> int:
    """trials/trial_<i>/{queries,references}/... as links; returns how many files were copied."""
    copies = 0
    for i, trial in enumerate(trials, start=1):
        trial_dir = folder / "trials" / f"trial_{i}"
        (trial_dir / "queries").mkdir(parents=True)
        (trial_dir / "references").mkdir()
        for dst, src in trial.files(n_ref).items():
            source = results_dir / src
            if not source.is_file():
                raise FileNotFoundError(f"stimulus {source} of trial {i} ({trial.unit}) is missing")
            if not link_or_copy(source, trial_dir / dst):
                copies += 1
    return copies


def task_index(exp: Experiment, task: Task, n_references: int) -> dict[str, Any]:
    """A task's index.json: exactly task_name, n_reference_images, n_trials, catch_trial_idxs."""
    return {
        "task_name": f"{exp.name}/task_{task.index}",
        "n_reference_images": n_references,
        "n_trials": len(task.trials),
        "catch_trial_idxs": task.catch_trial_idxs,
    }


def demo_index(exp: Experiment, settings: Settings, n_trials: int) -> dict[str, Any]:
    """The practice folder's index.json (no task level; `n_obvious_trials` clearest trials first)."""
    return {
        "task_name": f"demo_{exp.name}",
        "n_reference_images": settings.n_references,
        "n_trials": n_trials,
        "n_obvious_trials": min(settings.n_obvious_demo_trials, n_trials),
    }


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
    for task_index_, i, trial in numbered:
        layer, channel = split_unit(trial.unit)
        files = trial.files(n_ref)
        row: dict[str, Any] = {
            "experiment": plan.experiment.name,
            "task": task_index_,
            "trial": i,
            "is_demo": task_index_ == 0,
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
        for side in SIDES:
            source, act = info.lookup(files[f"queries/{side}.png"])
            row[f"{side}_query"] = source
            row[f"{side}_query_activation"] = act
        for side in SIDES:
            for r in range(n_ref):
                row[f"{side}_reference_{r}"] = info.lookup(files[f"references/{side}_{r}.png"])[0]
        rows.append(row)
    ref_cols = [f"{side}_reference_{r}" for side in SIDES for r in range(n_ref)]
    table = pd.DataFrame(rows, columns=TRIAL_COLUMNS + ref_cols)
    table["batch"] = table["batch"].astype("Int64")
    return table


@dataclass
class BuildReport:
    """What was written."""

    n_tasks: int
    n_trials: int
    n_demo_trials: int
    n_files: int
    n_copies: int


def write_experiment(
    plan: Plan,
    results_dir: Path,
    out_dir: Path,
    demo_dir: Path,
    render_instructions: bool = True,
    progress: Any = None,
) -> BuildReport:
    """Write the experiment folder and its practice folder atomically (both or neither)."""
    results_dir = Path(results_dir)
    exp, s = plan.experiment, plan.settings
    n_ref = s.n_references
    info = StimulusInfo(results_dir)
    table = trials_table(plan, info)
    copies = 0
    with atomic_dir(out_dir) as tmp_out, atomic_dir(demo_dir) as tmp_demo:
        for task in plan.tasks:
            task_dir = tmp_out / f"task_{task.index}"
            task_dir.mkdir()
            _write_index(task_dir / "index.json", task_index(exp, task, n_ref))
            copies += _write_trials(task_dir, task.trials, results_dir, n_ref)
            if progress is not None:
                progress.update(1)
        _write_index(tmp_demo / "index.json", demo_index(exp, s, len(plan.demo_trials)))
        copies += _write_trials(tmp_demo, plan.demo_trials, results_dir, n_ref)
        (tmp_out / "structure.json").write_text(json.dumps(plan.structure(), indent=1) + "\n")
        table.to_csv(tmp_out / "trials.csv", index=False, quoting=csv.QUOTE_MINIMAL)
        if render_instructions:
            from unitpsych.instructions import write_instructions

            # the clearest practice trial: its unit is not among the experiment's units, so the
            # instructions reveal nothing about a main trial
            example = plan.demo_trials[0]
            example_files = {k: results_dir / v for k, v in example.files(n_ref).items()}
            write_instructions(tmp_out / "instructions", exp.condition, example_files, n_ref)
    n_trials = sum(len(t.trials) for t in plan.tasks)
    n_files = (n_trials + len(plan.demo_trials)) * (2 + 2 * n_ref)
    if copies:
        log.warning("%d of %d stimulus files were copied (hard links refused)", copies, n_files)
    return BuildReport(len(plan.tasks), n_trials, len(plan.demo_trials), n_files, copies)


# --------------------------------------------------------------------------------------------
# Checking a built folder against what the experiment UI reads (protocol §7, §10 items 14-16)


def _same_pixels(a: Path, b: Path) -> bool:
    """Whether two images have identical pixels (hard links are identical without decoding)."""
    if a.samefile(b) or a.read_bytes() == b.read_bytes():
        return True
    from PIL import Image

    with Image.open(a) as img_a, Image.open(b) as img_b:
        return np.array_equal(np.asarray(img_a.convert("RGB")), np.asarray(img_b.convert("RGB")))


def _check_trials(folder: Path, n_trials: int, n_ref: int, problems: list[str]) -> None:
    """Every trial folder holds exactly the two queries and 2·n_ref references."""
    trials_dir = folder / "trials"
    found = sorted(p.name for p in trials_dir.iterdir()) if trials_dir.is_dir() else []
    expected = sorted(f"trial_{i}" for i in range(1, n_trials + 1))
    if found != expected:
        problems.append(f"{trials_dir}: has {len(found)} trial folders, index.json says {n_trials}")
        return
    names = {"queries": {f"{s}.png" for s in SIDES}}
    names["references"] = {f"{s}_{i}.png" for s in SIDES for i in range(n_ref)}
    for i in range(1, n_trials + 1):
        for sub, wanted in names.items():
            path = trials_dir / f"trial_{i}" / sub
            have = {p.name for p in path.iterdir()} if path.is_dir() else set()
            if have != wanted:
                problems.append(f"{path}: expected {sorted(wanted)}, found {sorted(have)}")


def check_experiment_folder(folder: Path, demo_folder: Path | None = None) -> dict[str, int]:
    """Raise ValueError listing what the UI would trip over; return counts of tasks and trials."""
    folder = Path(folder)
    name = folder.name
    demo_folder = Path(demo_folder) if demo_folder else folder.parent / f"demo_{name}"
    problems: list[str] = []
    symlinks = [p for p in (*folder.rglob("*"), *demo_folder.rglob("*")) if p.is_symlink()]
    if symlinks:
        problems.append(f"{len(symlinks)} symlinks, e.g. {symlinks[0]} (use hard links or copies)")
    for required in ("structure.json", "trials.csv"):
        if not (folder / required).is_file():
            problems.append(f"{folder / required} is missing")
    n_pages = 13 if name.endswith("_synthetic") else 12
    pages = {p.name for p in (folder / "instructions").glob("*.jpg")}
    if pages != {f"{i}.jpg" for i in range(1, n_pages + 1)}:
        problems.append(
            f"{folder / 'instructions'}: expected 1.jpg..{n_pages}.jpg, found {sorted(pages)}"
        )
    task_dirs = sorted(folder.glob("task_*"), key=lambda p: int(p.name.split("_")[1]))
    if [p.name for p in task_dirs] != [
        f"task_{k}" for k in range(1, len(task_dirs) + 1)
    ] or not task_dirs:
        problems.append(f"{folder}: task folders are not task_1..task_<n>")
    n_trials = n_catch = 0
    for task_dir in task_dirs:
        index = read_json(task_dir / "index.json")
        keys = {"task_name", "n_reference_images", "n_trials", "catch_trial_idxs"}
        if set(index) != keys:
            problems.append(
                f"{task_dir / 'index.json'}: keys {sorted(index)}, expected {sorted(keys)}"
            )
            continue
        if index["task_name"] != f"{name}/{task_dir.name}":
            problems.append(f"{task_dir / 'index.json'}: task_name {index['task_name']!r}")
        n_ref, n = int(index["n_reference_images"]), int(index["n_trials"])
        _check_trials(task_dir, n, n_ref, problems)
        catch = index["catch_trial_idxs"]
        if not all(1 <= i <= n for i in catch) or len(set(catch)) != len(catch):
            problems.append(
                f"{task_dir / 'index.json'}: catch_trial_idxs {catch} not within 1..{n}"
            )
            continue
        for i in catch:
            trial = task_dir / "trials" / f"trial_{i}"
            for side in SIDES:
                query = trial / "queries" / f"{side}.png"
                refs = [trial / "references" / f"{side}_{r}.png" for r in range(n_ref)]
                if query.is_file() and not any(_same_pixels(query, r) for r in refs if r.is_file()):
                    problems.append(f"{query}: catch query matches no {side} reference")
        n_trials += n
        n_catch += len(catch)
    demo_index_path = demo_folder / "index.json"
    n_demo = 0
    if not demo_index_path.is_file():
        problems.append(f"{demo_index_path} is missing (the UI always fetches it)")
    else:
        demo = read_json(demo_index_path)
        if demo.get("task_name") != demo_folder.name:
            problems.append(f"{demo_index_path}: task_name {demo.get('task_name')!r}")
        n_demo = int(demo.get("n_trials", 0))
        if int(demo.get("n_obvious_trials", n_demo)) > n_demo:
            problems.append(f"{demo_index_path}: n_obvious_trials exceeds n_trials")
        _check_trials(demo_folder, n_demo, int(demo.get("n_reference_images", 9)), problems)
    if problems:
        shown = "\n  ".join(problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise ValueError(f"experiment folder {folder} is not usable by the UI:\n  {shown}{more}")
    return {
        "n_tasks": len(task_dirs),
        "n_trials": n_trials,
        "n_catch_trials": n_catch,
        "n_demo_trials": n_demo,
    }

"""Planning an experiment (protocol §6.1): units, balanced tasks, catch and practice trials.

Stimulus folders are named by `unitpsych.paths` relative to the results folder (`root=""`); that
is how `structure.json` and `trials.csv` refer to them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from unitpsych import paths
from unitpsych.experiment_stimuli import StimulusInfo
from unitpsych.experiments import CATCH_MODE, EASY, Experiment, Settings
from unitpsych.io import derive_seed

NATURAL, SYNTHETIC = "natural", "synthetic"  # where a trial's images come from


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


@dataclass(frozen=True)
class Trial:
    """One 2-AFC trial: which unit, which stimulus folders, which images are the queries."""

    model: str
    unit: str
    mode: str
    queries: str  # folder of the query images, relative to the results folder
    references: str  # folder of the reference images
    query_index: int  # the queries are <queries>/{min,max}_<query_index>.png
    batch: int | None  # natural-exemplar batch (None: a synthetic catch trial)
    difficulty: str | None
    query_kind: str  # natural | synthetic
    reference_kind: str

    def query_file(self, side: str) -> str:
        """The stimulus file shown as the `side` query (relative to the results folder)."""
        return paths.stimulus_file(self.queries, side, self.query_index)

    def structure(self) -> dict[str, Any]:
        """The trial as in the authors' structure JSON plus the exact query files.

        `query_files` names the image each query is, so a reader need not know that regular
        queries are `_9` and catch queries repeat reference `_8` (n_references - 1).
        """
        return {
            "queries": self.queries,
            "references": self.references,
            "mode": self.mode,
            "query_files": {side: self.query_file(side) for side in paths.SIDES},
        }

    def files(self, n_references: int) -> dict[str, str]:
        """Trial-folder file -> stimulus file (relative to the results folder)."""
        out = {f"queries/{side}.png": self.query_file(side) for side in paths.SIDES}
        for side in paths.SIDES:
            for i in range(n_references):
                out[f"references/{side}_{i}.png"] = paths.stimulus_file(self.references, side, i)
        return out

    def describe(
        self, info: StimulusInfo, role: str, side: str, index: int
    ) -> tuple[str, float | None]:
        """(source image, activation) of a query (`role` "queries") or reference image."""
        kind = self.query_kind if role == "queries" else self.reference_kind
        if kind == NATURAL:
            assert self.batch is not None and self.difficulty is not None
            return info.natural(self.model, self.unit, self.difficulty, self.batch, side, index)
        return info.synthetic(self.model, self.unit, side, index)


def regular_trial(
    exp: Experiment, unit: str, batch: int, n_references: int, difficulty: str | None = None
) -> Trial:
    """Natural: queries and references of one batch; synthetic: that batch's queries, FV references."""
    difficulty = difficulty or exp.difficulty
    queries = paths.natural_batch_dir(exp.model, unit, difficulty, batch, root="")
    if exp.condition == NATURAL:
        references, reference_kind = queries, NATURAL
    else:
        references, reference_kind = paths.synthetic_dir(exp.model, unit, root=""), SYNTHETIC
    return Trial(
        exp.model, unit, exp.mode, queries, references, n_references, batch, difficulty,
        NATURAL, reference_kind,
    )  # fmt: skip


def catch_trial(exp: Experiment, unit: str, batch: int, n_references: int) -> Trial:
    """Queries repeat the most extreme reference of each side (`_<n_references-1>`, i.e. `_8`)."""
    last = n_references - 1
    if exp.condition == NATURAL:
        folder = paths.natural_batch_dir(exp.model, unit, EASY, batch, root="")
        return Trial(
            exp.model, unit, CATCH_MODE, folder, folder, last, batch, EASY, NATURAL, NATURAL
        )
    folder = paths.synthetic_dir(exp.model, unit, root="")
    return Trial(
        exp.model, unit, CATCH_MODE, folder, folder, last, None, None, SYNTHETIC, SYNTHETIC
    )


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


def _draw_catch_units(catch_units: Sequence[str], n: int, rng: np.random.Generator) -> list[str]:
    """`n` catch units: without replacement when enough exist, else all once plus random repeats."""
    if n == 0:
        return []
    if len(catch_units) >= n:
        return [catch_units[i] for i in rng.choice(len(catch_units), size=n, replace=False)]
    extra = rng.choice(len(catch_units), size=n - len(catch_units), replace=True)
    return list(catch_units) + [catch_units[i] for i in extra]


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


def plan_demo(
    exp: Experiment, selection: UnitSelection, settings: Settings, info: StimulusInfo
) -> list[Trial]:
    """Practice trials from the practice units (easy queries), clearest first (largest query gap)."""
    candidates = []
    for unit in selection.practice_units:
        for batch in range(settings.n_batches):
            trial = regular_trial(exp, unit, batch, settings.n_references, difficulty=EASY)
            _, act_min = trial.describe(info, "queries", "min", trial.query_index)
            _, act_max = trial.describe(info, "queries", "max", trial.query_index)
            assert act_min is not None and act_max is not None  # natural queries always have one
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


def required_stimulus_dirs(
    exp: Experiment, units: Iterable[str], settings: Settings, root: str = paths.RESULTS
) -> list[str]:
    """Stimulus folders the experiment reads (under `root`), for Snakemake inputs."""
    sel = select_units(
        units, settings.n_units, settings.n_catch_units, settings.n_practice_units, settings.seed
    )
    dirs = [paths.natural_dir(exp.model, u, exp.difficulty, root) for u in sel.units]
    dirs += [paths.natural_dir(exp.model, u, EASY, root) for u in sel.practice_units]
    if exp.condition == NATURAL:
        dirs += [paths.natural_dir(exp.model, u, EASY, root) for u in sel.catch_units]
    else:
        every = (*sel.units, *sel.catch_units, *sel.practice_units)
        dirs += [paths.synthetic_dir(exp.model, u, root) for u in every]
    return sorted(set(dirs))

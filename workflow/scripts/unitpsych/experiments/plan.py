"""Planning an experiment (protocol §6.1): units, balanced tasks, catch and practice trials.

Stimulus folders are named by `unitpsych.paths` relative to the results folder (`root=""`); that
is how `structure.json` and `trials.csv` refer to them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from unitpsych import paths, ui_layout
from unitpsych.experiments.design import CATCH_MODE, EASY, Experiment, Settings
from unitpsych.experiments.stimuli import StimulusInfo
from unitpsych.io import derive_seed

NATURAL, SYNTHETIC = "natural", "synthetic"  # where a trial's images come from


@dataclass(frozen=True)
class UnitSelection:
    """The experiment's units and the reserved catch and practice units (disjoint).

    `left_out`: (unit, reason) of the model's units the experiment may not use (synthetic
    experiments: feature visualisations that failed the success test); `shrunk`: why the
    experiment has fewer than the configured n_units ('' when it has them all).
    """

    units: tuple[str, ...]
    catch_units: tuple[str, ...]
    practice_units: tuple[str, ...]
    left_out: tuple[tuple[str, str], ...] = ()
    shrunk: str = ""
    pool: tuple[str, ...] = ()  # every unit of the model
    n_units_configured: int = 0

    def roles(self) -> pd.DataFrame:
        """One row per unit of the model: unit, role (experiment, catch, practice, left_out,
        not_drawn) and reason (why a unit was left out)."""
        why = dict(self.left_out)
        role = {u: "experiment" for u in self.units}
        role |= {u: "catch" for u in self.catch_units}
        role |= {u: "practice" for u in self.practice_units}
        role |= {u: "left_out" for u in why}
        every = sorted(set(self.pool) | set(role))
        return pd.DataFrame(
            {
                "unit": every,
                "role": [role.get(u, "not_drawn") for u in every],
                "reason": [why.get(u, "") for u in every],
            }
        )

    def summary(self) -> dict[str, Any]:
        """Counts of the selection and why units are missing (selection.json)."""
        return {
            "n_model_units": len(self.pool),
            "n_units_configured": self.n_units_configured,
            "n_units": len(self.units),
            "n_catch_units": len(self.catch_units),
            "n_practice_units": len(self.practice_units),
            "n_left_out": len(self.left_out),
            "left_out": [{"unit": u, "reason": r} for u, r in self.left_out],
            "shrunk": self.shrunk,
        }


def fitting_unit_count(available: int, n_units: int, n_tasks: int, n_trials: int) -> int | None:
    """The most experiment units (<= n_units, <= available) that keep the tasks balanced, or None.

    Balanced: at least n_trials distinct units and n_tasks × n_trials a multiple of the count.
    """
    for n in range(min(n_units, available), n_trials - 1, -1):
        if n > 0 and (n_tasks * n_trials) % n == 0:
            return n
    return None


def _shrink(
    pool: list[str],
    usable: list[str],
    left_out: Mapping[str, str],
    counts: tuple[int, int, int, int | None, int | None],
    experiment: str,
) -> tuple[int, str]:
    """The most experiment units that keep the design balanced when too few units are usable,
    and why (select_units); ValueError when not even n_trials units remain.

    `counts` is (n_units, n_catch_units, n_practice_units, n_tasks, n_trials).
    """
    n_units, n_catch_units, n_practice_units, n_tasks, n_trials = counts
    reserved = n_catch_units + n_practice_units
    if not left_out:
        raise ValueError(
            f"{len(pool)} units available, but n_units + n_catch_units + n_practice_units = "
            f"{n_units} + {n_catch_units} + {n_practice_units} = {n_units + reserved} are needed"
        )
    fit = (
        fitting_unit_count(len(usable) - reserved, n_units, n_tasks, n_trials)
        if n_tasks is not None and n_trials is not None
        else None
    )
    if fit is None:
        example = sorted(left_out)[0]
        raise ValueError(
            f"{experiment}: {len(usable)} of the model's {len(pool)} units are usable "
            f"({len(left_out)} left out, e.g. {example}: {left_out[example]}), but a balanced "
            f"experiment needs at least n_trials + n_catch_units + n_practice_units = "
            f"{n_trials} + {n_catch_units} + {n_practice_units} units; sample more units "
            "(models.<model>.units.n) or lower n_trials"
        )
    shrunk = (
        f"n_units {n_units} -> {fit}: only {len(usable)} of {len(pool)} units usable "
        f"({len(left_out)} left out), {reserved} reserved for catch and practice trials, and "
        f"{fit} is the most that divides n_tasks × n_trials = {n_tasks * n_trials}"
    )
    return fit, shrunk


def select_units(
    units: Iterable[str],
    n_units: int,
    n_catch_units: int,
    n_practice_units: int,
    seed: int,
    left_out: Mapping[str, str] | None = None,
    n_tasks: int | None = None,
    n_trials: int | None = None,
    experiment: str = "the experiment",
) -> UnitSelection:
    """Seeded draw of experiment, catch and practice units from a model's units (order-independent).

    The units are sorted before the shuffle, so the draw does not depend on file-system order, and
    the seed does not depend on the model: models sharing a unit list (and both conditions of a
    model) get the same experiment units. Units in `left_out` (unit -> reason) are skipped in that
    same order, so the others keep their places. When too few units remain for n_units, the
    experiment shrinks to the most units that keep its `n_tasks` × `n_trials` balanced (the reason
    is recorded in `shrunk`); when not even n_trials units remain, ValueError names the counts.
    """
    left_out = dict(left_out or {})
    pool = sorted(set(units))
    unknown = sorted(set(left_out) - set(pool))
    if unknown:
        raise ValueError(f"{experiment}: left-out units {unknown} are not among the model's units")
    usable = [u for u in pool if u not in left_out]
    reserved = n_catch_units + n_practice_units
    configured, shrunk = n_units, ""
    if len(usable) < n_units + reserved:
        counts = (n_units, n_catch_units, n_practice_units, n_tasks, n_trials)
        n_units, shrunk = _shrink(pool, usable, left_out, counts, experiment)
    needed = n_units + reserved
    rng = np.random.default_rng(derive_seed(seed, "select_units"))
    order = [pool[i] for i in rng.permutation(len(pool)) if pool[i] not in left_out]
    chosen = order[:n_units]
    catch = order[n_units : n_units + n_catch_units]
    practice = order[n_units + n_catch_units : needed]
    return UnitSelection(
        tuple(sorted(chosen)),
        tuple(sorted(catch)),
        tuple(sorted(practice)),
        tuple(sorted(left_out.items())),
        shrunk,
        tuple(pool),
        configured,
    )


def assign_units_to_tasks(
    units: Sequence[str], n_tasks: int, n_trials: int, rng: np.random.Generator
) -> list[list[str]]:
    """Units of every task via the authors' backlog (§6.1 step 5): equal use, at most once per
    task."""
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
        out = {ui_layout.query_file(side): self.query_file(side) for side in paths.SIDES}
        for side in paths.SIDES:
            for i in range(n_references):
                out[ui_layout.reference_file(side, i)] = paths.stimulus_file(
                    self.references, side, i
                )
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
    """Natural: queries and references of one batch; synthetic: that batch's queries, FV
    references."""
    difficulty = difficulty or exp.difficulty
    queries = paths.natural_batch_dir(exp.model, unit, difficulty, batch, root="")
    if exp.condition == NATURAL:
        references, reference_kind = queries, NATURAL
    else:
        references, reference_kind = paths.synthetic_dir(exp.model, unit, root=""), SYNTHETIC
    return Trial(
        exp.model,
        unit,
        exp.mode,
        queries,
        references,
        n_references,
        batch,
        difficulty,
        NATURAL,
        reference_kind,
    )


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
    """Practice trials from the practice units (easy queries), clearest first (largest query
    gap)."""
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
    exp: Experiment,
    units: Iterable[str],
    settings: Settings,
    results_dir: Path,
    left_out: Mapping[str, str] | None = None,
) -> Plan:
    """Select units (none of `left_out`), build the balanced tasks and pick the practice trials.

    The plan's settings hold the experiment's own n_units (fewer than configured when it shrank).
    """
    selection = select_units(
        units,
        settings.n_units,
        settings.n_catch_units,
        settings.n_practice_units,
        settings.seed,
        left_out,
        settings.n_tasks,
        settings.n_trials,
        exp.name,
    )
    settings = replace(settings, n_units=len(selection.units))
    tasks = plan_tasks(exp, selection, settings)
    demo = plan_demo(exp, selection, settings, StimulusInfo(results_dir))
    return Plan(exp, settings, selection, tasks, demo)


def required_stimulus_dirs(
    exp: Experiment,
    units: Iterable[str],
    settings: Settings,
    root: str = paths.RESULTS,
    successful_only: bool = True,
) -> list[str]:
    """Stimulus folders the experiment may read (under `root`), for Snakemake inputs: the natural
    sets (every unit's exemplars of a difficulty) and the units' synthetic folders.

    A synthetic experiment that picks its units among those whose feature visualisations
    succeeded (`successful_only`) knows them only once the FVs exist, so it may read every unit's
    folders.
    """
    natural = [paths.natural_set_dir(exp.model, d, root) for d in {exp.difficulty, EASY}]
    if exp.condition == SYNTHETIC and successful_only:
        every = sorted(set(units))
        return sorted({*natural, *(paths.synthetic_dir(exp.model, u, root) for u in every)})
    if exp.condition == NATURAL:
        return sorted(set(natural))
    sel = select_units(
        units, settings.n_units, settings.n_catch_units, settings.n_practice_units, settings.seed
    )
    every = (*sel.units, *sel.catch_units, *sel.practice_units)
    dirs = natural + [paths.synthetic_dir(exp.model, u, root) for u in every]
    return sorted(set(dirs))

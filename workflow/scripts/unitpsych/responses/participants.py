"""Simulated participants: answer an experiment's tasks and write the payload the experiment UI
posts.

An attentive participant picks the upper query with probability

    lapse/2 + (1 − lapse)·σ(±α·d + bias)

where d is the machine observer's decision variable of the trial (positive: the max query looks
more like the max references), the sign is + when the max query is on top, α the sensitivity of
the observer's backend (`participant_alpha`: simulation.alpha, else observer.alpha) and `bias` the
participant's pull toward the upper button row. With bias 0 this is lapse/2 + (1 − lapse)·σ(α·d)
for the max query: the MIS observer's p = σ(α·d) with lapses, on the same scale in every
experiment, so a model whose units give larger d is answered better (nothing is normalised per
experiment). Confidence grows with |α·d|; response times are log-normal on top of the UI's 1.5 s
button lock, and every trial lasts rt + 350 + 1150 ms of feedback + the time to click "Continue".

Careless participants are drawn until they fail exactly the check of their kind (§8.2), attentive
ones until they pass every check; `run_checks` of `unitpsych.responses.payloads` decides, so the
payloads
are exactly what the exclusion stage sees. The raw rows follow the UI's timeline (protocol §7.2):
welcome, instructions, fullscreen, practice attempts (each opened by the call-function row of the
UI's random switch, closed by a "repeat" or "Great!" instructions row), the main 2-AFC rows,
survey-text feedback and the "Press Continue to submit" row.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit

from unitpsych import ui_layout
from unitpsych.io import derive_seed
from unitpsych.responses.payloads import TRIAL_TYPE, failed_checks, run_checks

ATTENTIVE = "attentive"
#: The check each careless kind is built to fail (protocol §8.2).
CARELESS_CHECKS = {
    "random_clicker": "catch_trials",
    "instruction_rusher": "instruction_time",
    "one_row": "row_variability",
    "catch_failer": "catch_trials",
    "practice_repeater": "demo_trials",
    "dawdler": "total_response_time",
}
LOCK_MS = 1500.0  # initial_wait_duration: buttons disabled
FEEDBACK_MS = 350.0 + 1150.0  # feedback_delay_duration + feedback_duration
URL = "https://simulated.unitpsych.invalid/experiments/"  # stands in for the server's tasks URL
MAX_PRACTICE_ATTEMPTS = 50


@dataclass(frozen=True)
class Trial:
    """One trial as a participant sees it: its number, the observer's d, and whether it is a catch
    trial."""

    trial: int
    d: float
    catch_trial: bool = False


@dataclass(frozen=True)
class Participant:
    """A simulated participant assigned to one task of one experiment."""

    participant: str
    experiment: str
    task: int
    kind: str = ATTENTIVE

    @property
    def intended_check(self) -> str:
        """The check this participant is built to fail ('' for attentive participants)."""
        return CARELESS_CHECKS.get(self.kind, "")


def plan_participants(
    experiment: str, tasks: Sequence[int], settings: Mapping[str, Any]
) -> list[Participant]:
    """Attentive participants for every task plus careless ones for a fraction of the tasks."""
    people = []
    index = 0
    for task in tasks:
        for _ in range(int(settings["participants_per_task"])):
            index += 1
            people.append(Participant(f"sim-{experiment}-{index:03d}", experiment, task))
    kinds = list(settings["careless_kinds"])
    n_careless = round(float(settings["careless_fraction"]) * len(tasks)) if kinds else 0
    rng = np.random.default_rng(derive_seed(int(settings["seed"]), experiment, "careless"))
    start = int(rng.integers(len(kinds))) if kinds else 0
    for i in range(n_careless):
        index += 1
        kind = kinds[(start + i) % len(kinds)]
        task = int(tasks[int(rng.integers(len(tasks)))])
        people.append(Participant(f"sim-{experiment}-{index:03d}", experiment, task, kind))
    return people


def participant_alpha(
    simulation: Mapping[str, Any], observer: Mapping[str, Any], backend: str
) -> tuple[float, str]:
    """(α, where it comes from) of the simulated participants on trials `backend` scored.

    simulation.alpha[backend], else observer.alpha[backend]. An α fitted to human responses is
    never used: it is fitted on the merged responses, which hold the simulated ones.
    """
    from unitpsych.config import ConfigError

    for key, given in (
        ("simulation.alpha", simulation.get("alpha", {})),
        ("observer.alpha", observer.get("alpha", {})),
    ):
        if backend in given:
            return float(given[backend]), f"{key}[{backend!r}]"
    raise ConfigError(
        f"simulation.alpha: no α for backend {backend!r}, which scores trials that simulated "
        f"participants answer (p = σ(α·d)); set simulation.alpha[{backend!r}] or "
        f"observer.alpha[{backend!r}]"
    )


def check_simulation_alpha(config: Mapping[str, Any]) -> None:
    """Raise ConfigError when simulated participants answer trials of a backend without an α."""
    from unitpsych.experiments.design import list_experiments
    from unitpsych.observer.scoring import backend_of

    if "simulated" not in list(config["responses"]["sources"]):
        return
    for exp in list_experiments(config["experiments"]):
        participant_alpha(
            config["simulation"], config["observer"], backend_of(config["observer"], exp.model)
        )


def _lognormal(rng: np.random.Generator, median: float, sigma: float) -> float:
    """One log-normal draw with the given median."""
    return float(median * math.exp(sigma * rng.standard_normal()))


class _Timeline:
    """Accumulates jsPsych rows with trial_index, time_elapsed and internal_node_id."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.time = 0.0

    def add(self, trial_type: str, duration_ms: float, node: str, **data: Any) -> dict[str, Any]:
        """Append a row lasting `duration_ms` (time_elapsed is read when the row ends)."""
        self.time += max(duration_ms, 1.0)
        row = {
            **data,
            "trial_type": trial_type,
            "trial_index": len(self.rows),
            "time_elapsed": int(round(self.time)),
            "internal_node_id": node,
        }
        self.rows.append(row)
        return row


def _urls(experiment: str, folder: str, trial: int, rng: np.random.Generator) -> dict[str, Any]:
    """The image URLs of a trial in displayed order: reference _8 first, then _7.._0 shuffled."""
    base = f"{URL}{experiment}/{folder}/{ui_layout.trial_folder(trial)}"
    order = [8] + [int(i) for i in rng.permutation(8)]
    urls: dict[str, Any] = {
        f"{s}_query": f"{base}/{ui_layout.query_file(s)}" for s in ui_layout.SIDES
    }
    for side in ui_layout.SIDES:
        urls[f"{side}_references"] = [f"{base}/{ui_layout.reference_file(side, i)}" for i in order]
    return urls


class _Behaviour:
    """How one draw of a participant answers: sensitivity, bias, lapses and page times."""

    def __init__(
        self,
        kind: str,
        settings: Mapping[str, Any],
        thresholds: Mapping,
        alpha: float,
        rng: np.random.Generator,
    ) -> None:
        self.kind = kind
        self.s = settings
        self.th = thresholds
        self.alpha = alpha
        self.rng = rng
        self.bias = float(settings["row_bias_sd"]) * rng.standard_normal()
        self.row = int(rng.integers(2))  # one_row: 0 upper, 1 lower

    def page(self, median_s: float) -> float:
        """Time on a page in ms."""
        return 1000.0 * _lognormal(self.rng, median_s, float(self.s["response_time_sigma"]))

    def answer(self, trial: Trial, main: bool, wrong: bool) -> tuple[bool, int, bool, float]:
        """(switched_queries, button_pressed, correct, rt in ms) of one trial (`wrong`: miss it)."""
        rng = self.rng
        switched = bool(rng.random() > 0.5)  # max query on top
        z = self.alpha * trial.d
        lapse = float(self.s["lapse"])
        if self.kind == "random_clicker" and main:
            p_upper = 0.5
        else:
            p_upper = lapse / 2 + (1 - lapse) * float(expit((z if switched else -z) + self.bias))
        upper = bool(rng.random() < p_upper)
        if self.kind == "one_row" and main:
            upper = self.row == 0
        if wrong:
            upper = not switched
        correct = upper == switched
        confidence = 1 + int(
            np.clip(round(2 * (1 - math.exp(-abs(z))) + 0.6 * rng.standard_normal()), 0, 2)
        )
        if self.kind == "random_clicker" and main:
            confidence = int(rng.integers(1, 4))
        button = (0 if upper else 3) + confidence - 1
        rt = LOCK_MS + 1000.0 * _lognormal(
            rng, float(self.s["response_time_s"]), float(self.s["response_time_sigma"])
        )
        return switched, button, correct, rt


def _two_afc_row(
    timeline: _Timeline,
    behaviour: _Behaviour,
    trial: Trial,
    urls: dict,
    main: bool,
    node: str,
    wrong: bool = False,
) -> dict:
    """Answer one trial and append its 2-AFC row (every field of protocol §7.3)."""
    switched, button, correct, rt = behaviour.answer(trial, main, wrong)
    duration = rt + FEEDBACK_MS + behaviour.page(float(behaviour.s["continue_time_s"]))
    return timeline.add(
        TRIAL_TYPE,
        duration,
        node,
        rt=round(rt, 1),
        button_pressed=button,
        switched_queries=switched,
        confidence=button % 3 + 1,
        choice="b" if correct else "a",
        correct=correct,
        **urls,
        catch_trial=bool(trial.catch_trial),
        is_demo=not main,
    )


def _simulate_once(
    participant: Participant,
    main_trials: Sequence[Trial],
    demo_trials: Sequence[Trial],
    settings: Mapping[str, Any],
    thresholds: Mapping,
    alpha: float,
    rng: np.random.Generator,
) -> list[dict]:
    """One draw of a participant's raw rows."""
    kind = participant.kind
    b = _Behaviour(kind, settings, thresholds, alpha, rng)
    t = _Timeline()
    exp = participant.experiment
    rusher = kind == "instruction_rusher"
    welcome = b.page(1.0 if rusher else 5.0)
    t.add("instructions", welcome, "0.0-0.0", view_history="[]", rt=round(welcome, 1))
    if rusher:  # skims the pages in a fraction of the shortest allowed time
        instr = 1000.0 * float(thresholds["instruction_time_min_s"]) * rng.uniform(0.2, 0.5)
    else:
        instr = b.page(float(settings["instruction_time_s"]))
    t.add("instructions", instr, "0.0-1.0", view_history="[]", rt=round(instr, 1))
    t.add("fullscreen", b.page(1.0 if rusher else 1.5), "0.0-2.0", success=True)
    attempts = 0
    max_attempts = int(thresholds["demo_trials_max_attempts"] or 0)
    while demo_trials and attempts < MAX_PRACTICE_ATTEMPTS:
        attempts += 1
        t.add("call-function", 5.0, f"0.0-3.0-0.{attempts - 1}", value=0, rt=None)
        order = rng.permutation(len(demo_trials))
        all_correct = True
        for j, i in enumerate(order):
            trial = demo_trials[int(i)]
            urls = _urls(exp, ui_layout.demo_folder(exp), trial.trial, rng)
            node = f"0.0-3.0-1.0-{j}.0-{attempts - 1}"
            wrong = kind == "practice_repeater" and j == 0 and attempts <= max_attempts
            row = _two_afc_row(t, b, trial, urls, False, node, wrong)
            all_correct &= bool(row["correct"])
        page = b.page(2.0 if all_correct else 3.0)  # "Great! ..." or "please repeat them"
        node = f"0.0-3.0-{3 if all_correct else 2}.0-{attempts - 1}"
        t.add("instructions", page, node, view_history="[]", rt=round(page, 1))
        if all_correct:
            break
    if kind == "dawdler":
        limit = thresholds["total_response_time_max_s"]
        pause = 1000.0 * (float(limit) if limit is not None else 0.0) * rng.uniform(1.05, 1.3)
    else:
        pause = 0.0
    pause_at = int(rng.integers(len(main_trials))) if main_trials else 0
    for j, trial in enumerate(main_trials):
        if j == pause_at:
            t.time += pause  # a dawdler leaves the tab open on one trial
        urls = _urls(exp, ui_layout.task_folder(participant.task), trial.trial, rng)
        wrong = kind == "catch_failer" and trial.catch_trial
        _two_afc_row(t, b, trial, urls, True, f"0.0-{4 + j}.0", wrong)
    n = len(main_trials)
    page = b.page(6.0)
    t.add("survey-text", page, f"0.0-{4 + n}.0", responses='{"feedback":""}', rt=round(page, 1))
    page = b.page(2.0)  # "Press Continue to submit": the UI posts during the next row
    t.add("instructions", page, f"0.0-{5 + n}.0", view_history="[]", rt=round(page, 1))
    return t.rows


def _acceptable(participant: Participant, raw: list[dict], thresholds: Mapping) -> bool:
    """Attentive: passes every check; careless: fails exactly its intended check."""
    failed = failed_checks(run_checks(raw, thresholds))
    if participant.kind == ATTENTIVE:
        return not failed
    return failed == [participant.intended_check]


def simulate_participant(
    participant: Participant,
    main_trials: Sequence[Trial],
    demo_trials: Sequence[Trial],
    settings: Mapping[str, Any],
    thresholds: Mapping,
    alpha: float,
) -> dict[str, str]:
    """The payload {main_data, raw_data, task_id} of one simulated participant (protocol §7.3)."""
    seed = derive_seed(int(settings["seed"]), participant.experiment, participant.participant)
    rng = np.random.default_rng(seed)
    for _ in range(int(settings["max_draws"])):
        raw = _simulate_once(
            participant, main_trials, demo_trials, settings, thresholds, alpha, rng
        )
        if _acceptable(participant, raw, thresholds):
            break
    else:
        wanted = (
            "passes every check"
            if participant.kind == ATTENTIVE
            else f"fails only {participant.intended_check}"
        )
        raise ValueError(
            f"simulated participant {participant.participant} ({participant.kind}) never "
            f"{wanted} in {settings['max_draws']} draws; check responses.checks {dict(thresholds)} "
            f"against the experiment's size, or leave {participant.kind!r} out of "
            "simulation.careless_kinds"
        )
    main_rows = [row for row in raw if row["trial_type"] == TRIAL_TYPE]
    return {
        "main_data": json.dumps(main_rows),
        "raw_data": json.dumps(raw),
        "task_id": f"{participant.experiment}-{participant.task}",
    }


def trials_with_d(trials: pd.DataFrame, observer: pd.DataFrame) -> pd.DataFrame:
    """trials.csv joined to the observer's d on (task, trial); every trial must have a d."""
    merged = trials[["task", "trial", "catch_trial", "is_demo"]].merge(
        observer[["task", "trial", "d"]], on=["task", "trial"], how="left", validate="1:1"
    )
    missing = merged[merged["d"].isna()]
    if len(missing):
        raise ValueError(
            f"the observer file has no d for {len(missing)} trial(s), e.g. task "
            f"{missing.iloc[0]['task']} trial {missing.iloc[0]['trial']}"
        )
    return merged


def simulate_experiment(
    experiment: str,
    trials: pd.DataFrame,
    settings: Mapping[str, Any],
    thresholds: Mapping,
    alpha: float,
) -> list[tuple[Participant, dict[str, str]]]:
    """Every simulated participant of one experiment with its payload (trials: task, trial,
    catch_trial, d; task 0 is the practice task), answering with p = σ(α·d) plus lapses."""
    tasks = sorted(int(k) for k in trials["task"].unique() if k > 0)
    demo = [
        Trial(int(r.trial), float(r.d), False)
        for r in trials[trials["task"] == 0].sort_values("trial").itertuples()
    ]
    out = []
    for person in plan_participants(experiment, tasks, settings):
        task_trials = trials[trials["task"] == person.task].sort_values("trial")
        main = [
            Trial(int(r.trial), float(r.d), bool(r.catch_trial)) for r in task_trials.itertuples()
        ]
        out.append((person, simulate_participant(person, main, demo, settings, thresholds, alpha)))
    return out

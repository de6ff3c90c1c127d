"""Simulated participants: the UI's payload shape (protocol §7.3), timings, careless participants
failing their check, p = σ(α·d) with the backend's α on the same scale in every experiment, and
byte-identical reruns."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from script_runner import mock_snakemake, run_script
from unitpsych.responses.participants import (
    CARELESS_CHECKS,
    Participant,
    Trial,
    participant_alpha,
    plan_participants,
    simulate_experiment,
    simulate_participant,
)
from unitpsych.responses.payloads import failed_checks, run_checks, split_blocks

REPO = Path(__file__).resolve().parents[2]
SCHEMA = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())[
    "properties"
]
PAPER = {
    k: v["default"] for k, v in SCHEMA["responses"]["properties"]["checks"]["properties"].items()
}
SIMULATION = {k: v["default"] for k, v in SCHEMA["simulation"]["properties"].items()}
ALPHA = 0.8  # the backend's α of these tests
TT = "2afc-image-confidence-response"
FIELDS_73 = {
    "rt",
    "button_pressed",
    "switched_queries",
    "confidence",
    "choice",
    "correct",
    "min_query",
    "max_query",
    "min_references",
    "max_references",
    "catch_trial",
    "is_demo",
    "trial_type",
    "trial_index",
    "time_elapsed",
    "internal_node_id",
}


def paper_trials(d: float = 0.3, n_demo: int = 5) -> tuple[list[Trial], list[Trial]]:
    """45 main trials (5 catch) and the practice trials of one task."""
    catch = {5, 14, 23, 32, 41}
    main = [Trial(i, 1.0 if i in catch else d, i in catch) for i in range(1, 46)]
    return main, [Trial(i, 5.0) for i in range(1, n_demo + 1)]  # clear practice trials


def simulate(kind: str = "attentive", d: float = 0.3, participant: str = "s1", seed: int = 7):
    main, demo = paper_trials(d)
    person = Participant(participant, "resnet50_natural", 3, kind)
    return simulate_participant(person, main, demo, SIMULATION | {"seed": seed}, PAPER, ALPHA)


def test_payload_has_the_shape_the_ui_posts():
    payload = simulate()
    assert set(payload) == {"main_data", "raw_data", "task_id"}
    assert payload["task_id"] == "resnet50_natural-3"
    assert isinstance(payload["main_data"], str) and isinstance(payload["raw_data"], str)
    raw, main = json.loads(payload["raw_data"]), json.loads(payload["main_data"])
    assert main == [r for r in raw if r["trial_type"] == TT]
    types = [r["trial_type"] for r in raw]
    assert types[:4] == ["instructions", "instructions", "fullscreen", "call-function"]
    assert types[-2:] == ["survey-text", "instructions"]
    for row in main:
        assert set(row) == FIELDS_73
        assert row["choice"] in ("a", "b") and row["correct"] == (row["choice"] == "b")
        assert row["confidence"] == row["button_pressed"] % 3 + 1
        assert len(row["min_references"]) == len(row["max_references"]) == 9
        assert row["max_references"][0].endswith("max_8.png")
        assert sorted(u[-9:] for u in row["min_references"]) == [f"min_{i}.png" for i in range(9)]
    regular = [r for r in main if not r["is_demo"]]
    assert len(regular) == 45 and sum(r["catch_trial"] for r in regular) == 5
    assert all("/task_3/trials/trial_" in r["max_query"] for r in regular)
    assert all("/demo_resnet50_natural/trials/" in r["max_query"] for r in main if r["is_demo"])
    blocks = split_blocks(raw)
    assert blocks.main == regular  # the block split sees the main trials exactly


def test_timings_are_consistent_with_time_elapsed():
    raw = json.loads(simulate()["raw_data"])
    assert [r["trial_index"] for r in raw] == list(range(len(raw)))
    times = [r["time_elapsed"] for r in raw]
    assert all(b > a for a, b in zip(times, times[1:], strict=False))
    for prev, row in zip(raw, raw[1:], strict=False):
        if row["trial_type"] == TT:
            assert row["rt"] >= 1500  # the UI's button lock is part of rt
            assert row["time_elapsed"] - prev["time_elapsed"] >= row["rt"] + 350 + 1150
    rts = np.array([r["rt"] for r in raw if r["trial_type"] == TT]) - 1500
    assert 1.0 < np.median(rts) / 1000 < 5.0  # log-normal around the configured 2.5 s


def test_practice_repeats_until_all_correct():
    raw = json.loads(simulate("practice_repeater")["raw_data"])
    demo = split_blocks(raw).demo
    attempts = 1 + sum(r["trial_type"] == "call-function" for r in demo)
    assert attempts >= 4  # more than the 3 allowed
    rows = [r for r in raw if r.get("is_demo")]
    assert len(rows) == 5 * attempts
    assert all(r["correct"] for r in rows[-5:])  # the block ends when every trial is right
    assert all(not all(r["correct"] for r in rows[5 * i : 5 * i + 5]) for i in range(attempts - 1))


@pytest.mark.parametrize("kind", sorted(CARELESS_CHECKS))
def test_careless_participants_fail_their_check(kind):
    for thresholds, main_n in (
        (PAPER, 45),
        (PAPER | {"row_variability_min": 1, "total_response_time_min_s": 12}, 4),
    ):
        main, demo = paper_trials()
        if main_n < 45:  # the tiny config's task: 3 trials and a catch trial
            main = [Trial(1, 0.3), Trial(2, 1.0, True), Trial(3, 0.3), Trial(4, 0.3)]
        person = Participant("c1", "resnet50_natural", 1, kind)
        payload = simulate_participant(person, main, demo[:2], SIMULATION, thresholds, ALPHA)
        failed = failed_checks(run_checks(json.loads(payload["raw_data"]), thresholds))
        assert failed == [CARELESS_CHECKS[kind]]
    attentive = simulate()
    assert failed_checks(run_checks(json.loads(attentive["raw_data"]), PAPER)) == []


def test_one_row_participant_uses_one_row_and_random_clicker_is_at_chance():
    main = [r for r in json.loads(simulate("one_row")["main_data"]) if not r["is_demo"]]
    rows = {r["button_pressed"] // 3 for r in main}
    assert len(rows) == 1
    correct = [
        np.mean(
            [
                r["correct"]
                for r in json.loads(
                    simulate("random_clicker", d=5.0, participant=f"r{i}")["main_data"]
                )
                if not r["is_demo"] and not r["catch_trial"]
            ]
        )
        for i in range(8)
    ]
    assert 0.3 < np.mean(correct) < 0.7  # ignores d


def test_proportion_correct_grows_with_d_and_confidence_with_abs_d():
    def stats(d: float) -> tuple[float, float]:
        rows = [
            r
            for i in range(6)
            for r in json.loads(simulate(d=d, participant=f"p{i}")["main_data"])
            if not r["is_demo"] and not r["catch_trial"]
        ]
        return np.mean([r["correct"] for r in rows]), np.mean([r["confidence"] for r in rows])

    (p0, c0), (p1, c1), (p2, c2) = stats(0.0), stats(1.0), stats(5.0)
    assert 0.35 < p0 < 0.65 and p0 < p1 < p2 and p2 > 0.9
    assert c0 < c1 < c2
    lapse = SIMULATION["lapse"]
    assert p2 <= 1 - lapse / 2 + 0.05


def test_deterministic_and_seeded():
    assert simulate() == simulate()
    assert simulate(seed=8) != simulate()
    assert simulate(participant="s2") != simulate()


def experiment_tables(tmp_path: Path) -> tuple[Path, Path]:
    """An experiment folder with trials.csv (3 tasks) and a hand-made observer file."""
    folder = tmp_path / "experiments" / "resnet50_natural"
    folder.mkdir(parents=True)
    rows = []
    for task in range(4):
        for trial in range(1, (2 if task == 0 else 5) + 1):
            catch = task > 0 and trial == 3
            rows.append(
                {
                    "experiment": "resnet50_natural",
                    "task": task,
                    "trial": trial,
                    "is_demo": task == 0,
                    "catch_trial": catch,
                    "d": 0.6 if catch else 0.1 * trial,
                }
            )
    table = pd.DataFrame(rows)
    table.drop(columns="d").to_csv(folder / "trials.csv", index=False)
    observer = tmp_path / "observer.csv"
    table[["task", "trial", "d"]].assign(
        unit="u", p_correct=0.5, backend="features:x", alpha=1.0, alpha_source="given"
    ).to_csv(observer, index=False)
    return folder, observer


def simulate_script(tmp_path: Path, folder: Path, observer: Path, out: str) -> Path:
    """Run the simulate_participants script on an experiment folder and its observer file."""
    payloads = tmp_path / out / "simulated"
    snakemake = mock_snakemake(
        input={"experiment": folder, "observer": observer},
        output={"payloads": payloads, "participants": tmp_path / out / "p.csv"},
        log=[tmp_path / out / "log.txt"],
        params={
            "experiment": "resnet50_natural",
            "simulation": SIMULATION | {"careless_fraction": 1.0},
            "alpha": {"alpha": ALPHA, "backend": "features:x", "source": "simulation.alpha"},
            "checks": PAPER | {"row_variability_min": 1, "total_response_time_min_s": 12},
        },
    )
    run_script("simulate_participants", snakemake)
    return payloads


def test_script_writes_byte_identical_payloads(tmp_path):
    folder, observer = experiment_tables(tmp_path)
    first = simulate_script(tmp_path, folder, observer, "a")
    second = simulate_script(tmp_path, folder, observer, "b")
    digest = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in first.iterdir()}
    assert digest == {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in second.iterdir()}
    assert len(digest) == 3 + 3  # one attentive participant per task plus careless_fraction 1.0
    manifest = pd.read_csv(tmp_path / "a" / "p.csv")
    assert (manifest["kind"] == "attentive").sum() == 3
    assert set(manifest["alpha"]) == {ALPHA} and set(manifest["backend"]) == {"features:x"}
    assert set(manifest["intended_check"].dropna()) <= set(CARELESS_CHECKS.values())
    assert (tmp_path / "a" / "p.csv").read_bytes() == (tmp_path / "b" / "p.csv").read_bytes()


def test_plan_participants():
    plan = plan_participants("e_natural", [1, 2, 3, 4], SIMULATION | {"careless_fraction": 0.5})
    assert [p.kind for p in plan[:4]] == ["attentive"] * 4 and len(plan) == 6
    assert len({p.participant for p in plan}) == 6


def attentive_score(d: np.ndarray, alpha: float, experiment: str) -> float:
    """Proportion correct of the attentive participants of an experiment whose trials have `d`."""
    rows = [
        {
            "task": t,
            "trial": i + 1,
            "catch_trial": False,
            "is_demo": t == 0,
            "d": 3.0 if t == 0 else float(d[(t - 1) * 8 + i]),
        }
        for t in range(0, 31)
        for i in range(8)
    ]
    settings = SIMULATION | {
        "participants_per_task": 2,
        "careless_fraction": 0.0,
        "lapse": 0.0,
        "row_bias_sd": 0.0,
    }
    people = simulate_experiment(
        experiment,
        pd.DataFrame(rows),
        settings,
        PAPER
        | {
            "catch_trials_min_ratio": 0.0,
            "row_variability_min": 1,
            "total_response_time_min_s": 12,
        },
        alpha,
    )
    answers = [
        r["correct"] for _, p in people for r in json.loads(p["main_data"]) if not r["is_demo"]
    ]
    return float(np.mean(answers))


def test_accuracy_follows_sigmoid_of_alpha_d_whatever_the_experiments_spread():
    # two experiments whose d differ by a factor 2: the same spread relative to their mean, so a
    # per-experiment normalisation would score them alike; σ(α·d) scores the larger d higher,
    # at the rate the observer's p predicts
    d = np.random.default_rng(0).normal(0.5, 0.25, 240)
    alpha = 2.0
    small, large = (
        attentive_score(d, alpha, "a_natural"),
        attentive_score(2 * d, alpha, "b_natural"),
    )
    expected_small = float(np.mean(1 / (1 + np.exp(-alpha * d))))
    expected_large = float(np.mean(1 / (1 + np.exp(-alpha * 2 * d))))
    assert expected_large - expected_small > 0.1
    se = 0.5 / np.sqrt(480)
    assert abs(small - expected_small) < 4 * se and abs(large - expected_large) < 4 * se
    assert large - small > 0.1
    # α scales d: doubling α on d is doubling d at the same α
    assert abs(attentive_score(d, 2 * alpha, "a_natural") - expected_large) < 4 * se


def test_alpha_comes_from_simulation_then_observer_else_a_config_error():
    from unitpsych.config import ConfigError

    observer = {"alpha": {"dreamsim": 0.16, "features:a": 3.0}}
    assert participant_alpha({"alpha": {"features:a": 5.0}}, observer, "features:a") == (
        5.0,
        "simulation.alpha['features:a']",
    )
    assert participant_alpha({"alpha": {}}, observer, "dreamsim")[0] == 0.16
    with pytest.raises(ConfigError, match=r"simulation\.alpha.*'features:b'"):
        participant_alpha({"alpha": {"features:a": 5.0}}, observer, "features:b")


def test_missing_d_is_named(tmp_path):
    from unitpsych.responses.participants import trials_with_d

    folder, observer = experiment_tables(tmp_path)
    trials = pd.read_csv(folder / "trials.csv")
    obs = pd.read_csv(observer).iloc[:-1]
    with pytest.raises(ValueError, match="no d for 1 trial"):
        trials_with_d(trials, obs)
    assert (
        len(
            simulate_experiment(
                "resnet50_natural",
                trials_with_d(trials, pd.read_csv(observer)),
                SIMULATION,
                PAPER | {"row_variability_min": 1, "total_response_time_min_s": 12},
                ALPHA,
            )
        )
        == 4
    )

"""Property (seeded generator, 600 payloads): a payload the experiment server accepts is always
kept by the response stage's parser (issue 25). Valid payloads with varied values and mutated ones
(wrong types, NaN, missing keys, choice/correct disagreement, truncation, ...)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from test_server import N_TRIALS, make_payload

from unitpsych.responses.payloads import ExperimentInfo, parse_payload_file
from unitpsych.server.guards import check_payload_task, validate_payload
from unitpsych.server.state import Assignment, Refusal

EXP = ExperimentInfo("toy_natural", "toy", "natural")
PAPER = {
    "catch_trials_min_ratio": 0.8,
    "row_variability_min": 5,
    "total_response_time_min_s": 135,
    "total_response_time_max_s": 2500,
    "instruction_time_min_s": 15,
    "instruction_time_max_s": None,
    "demo_trials_max_attempts": 3,
}
BAD_VALUES = [None, "x", -1, 1.5, True, [], {}, float("nan"), float("inf"), 10**30, "y" * 500]


def _mutate(rng: random.Random, payload: dict) -> bytes:
    """One random change to a valid payload (or its bytes)."""
    main, raw = json.loads(payload["main_data"]), json.loads(payload["raw_data"])
    kind = rng.choice(["field", "delete", "choice", "outer", "truncate", "demo", "rows"])
    rows = rng.choice([main, raw])
    row = rng.choice(rows)
    if kind == "field":
        row[rng.choice(list(row))] = rng.choice(BAD_VALUES)
    elif kind == "delete":
        del row[rng.choice(list(row))]
    elif kind == "choice":
        row["choice"] = rng.choice(["a", "b", "c"])
    elif kind == "demo":
        for r in main:
            r["is_demo"] = rng.random() < 0.8
    elif kind == "rows":
        rows[:] = rows[: rng.randrange(len(rows) + 1)]
    elif kind == "outer":
        payload[rng.choice(["main_data", "raw_data", "task_id", "extra"])] = rng.choice(BAD_VALUES)
    body = json.dumps({**payload, "main_data": json.dumps(main), "raw_data": json.dumps(raw)})
    if kind == "outer":
        body = json.dumps(payload)
    data = body.encode()
    return data[: rng.randrange(len(data))] if kind == "truncate" else data


def _valid(rng: random.Random) -> dict:
    """A valid payload with random timing and catch trials."""
    catch = tuple(rng.sample(range(1, N_TRIALS + 1), rng.randrange(4)))
    body = make_payload("toy_natural", 1, trial_ms=rng.uniform(500, 20000), catch=catch)
    return json.loads(body)


def _accepted(body: bytes) -> bool:
    """What the server's submit accepts (before storing): validation and the task check."""
    assignment = Assignment("a" * 24, "p1", "toy_natural", 1, 0.0, None)
    try:
        check_payload_task(validate_payload(body), assignment, N_TRIALS)
    except Refusal:
        return False
    return True


@pytest.mark.parametrize("seed", range(6))
def test_what_the_server_accepts_the_response_stage_keeps(tmp_path: Path, seed: int):
    rng = random.Random(seed)
    n_accepted = n_refused = 0
    for i in range(100):
        payload = _valid(rng)
        body = json.dumps(payload).encode() if i % 4 == 0 else _mutate(rng, payload)
        if not _accepted(body):
            n_refused += 1
            continue
        n_accepted += 1
        path = tmp_path / f"p{i}_task_1.json"
        path.write_bytes(body)
        parse_payload_file(path, "local", EXP, {1: N_TRIALS}, PAPER)  # raises if not kept
    assert n_accepted >= 25 and n_refused >= 25  # both sides of the door are exercised

"""The paper's five exclusion checks (protocol §8.2) on one participant's raw jsPsych rows.

The checks run on a participant's `raw_data` (every jsPsych row of one task, in order). The
rows are split into three blocks as in §8.2:

- instructions: the rows before the first 2-AFC row, from the welcome page on (the authors'
  first row; our page's window-size check and image preload come before it and count nowhere);
- demo (practice) block: from the first 2-AFC row up to the `instructions` row that directly
  precedes a 2-AFC row ("Great! Let's now start with the real trials!");
- main block: the contiguous run of 2-AFC rows after it.

The instruction time and the total response time are measured as the authors'
`verify_instruction_time` and `verify_total_response_time` do: from the welcome page's row (its
`time_elapsed`) to the last row of the instruction block, and to the last row.

Without such an `instructions` row (a task run without practice), the demo block is empty and the
main block starts at the first 2-AFC row.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

TRIAL_TYPE = "2afc-image-confidence-response"
CHECKS = (
    "catch_trials",
    "row_variability",
    "total_response_time",
    "instruction_time",
    "demo_trials",
)
THRESHOLD_KEYS = (
    "catch_trials_min_ratio",
    "row_variability_min",
    "total_response_time_min_s",
    "total_response_time_max_s",
    "instruction_time_min_s",
    "instruction_time_max_s",
    "demo_trials_max_attempts",
)
#: Rows the experiment page marks when run with its `fast` flag (tests): never counted as passing.
TEST_MARK = "test_fast"
#: Rows of our page before the welcome page, where the authors' raw_data starts.
BEFORE_WELCOME = ("browser-check", "preload")
UPPER_ROW = (0, 1, 2)  # buttons under the upper query; 3..5 are above the lower one


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one exclusion check: pass/fail, the value compared, and the paper's
    details."""

    name: str
    passed: bool
    value: float
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Blocks:
    """A participant's raw rows split into instructions, demo and main blocks (protocol §8.2)."""

    instructions: list[dict]
    demo: list[dict]
    main: list[dict]


def split_blocks(raw_data: Sequence[Mapping]) -> Blocks:
    """Split raw jsPsych rows into the instruction, demo and main blocks (protocol §8.2)."""
    rows = list(raw_data)
    rows = rows[welcome_row(rows) :]
    types = [row.get("trial_type") for row in rows]
    first = next((i for i, t in enumerate(types) if t == TRIAL_TYPE), None)
    if first is None:
        return Blocks(rows, [], [])
    bridge = next(
        (
            i
            for i in range(first + 1, len(rows) - 1)
            if types[i] == "instructions" and types[i + 1] == TRIAL_TYPE
        ),
        None,
    )
    if bridge is None:  # no practice block: the first 2-AFC row starts the main block
        demo, start = [], first
    else:
        demo, start = rows[first:bridge], bridge + 1
    end = start
    while end < len(rows) and types[end] == TRIAL_TYPE:
        end += 1
    return Blocks(rows[:first], demo, rows[start:end])


def welcome_row(raw_data: Sequence[Mapping]) -> int:
    """The index of the authors' first row (the welcome page): the first row that is not our
    page's window-size check or preload."""
    types = [row.get("trial_type") for row in raw_data]
    return next((i for i, t in enumerate(types) if t not in BEFORE_WELCOME), len(types))


def _seconds(row: Mapping) -> float:
    """A row's `time_elapsed` in seconds."""
    return float(row["time_elapsed"]) / 1000.0


def check_catch_trials(main: Sequence[Mapping], min_ratio: float) -> CheckResult:
    """Correct catch trials / catch trials ≥ min_ratio; passes when there are no catch trials."""
    answers = [bool(row.get("correct")) for row in main if bool(row.get("catch_trial"))]
    if not answers:
        return CheckResult(
            "catch_trials", True, math.nan, {"ratio": math.nan, "correctly_answered": []}
        )
    ratio = sum(answers) / len(answers)
    return CheckResult(
        "catch_trials", ratio >= min_ratio, ratio, {"ratio": ratio, "correctly_answered": answers}
    )


def check_row_variability(main: Sequence[Mapping], min_per_row: int) -> CheckResult:
    """Both button rows used at least min_per_row times in the main block (passes with 1 trial)."""
    pressed = [row.get("button_pressed") for row in main]
    upper = sum(1 for b in pressed if b in UPPER_ROW)
    lower = sum(1 for b in pressed if b in (3, 4, 5))
    passed = (upper + lower == 1) or (upper >= min_per_row and lower >= min_per_row)
    return CheckResult(
        "row_variability",
        passed,
        float(min(upper, lower)),
        {"n_upper_row": upper, "n_lower_row": lower},
    )


def check_total_response_time(
    rows: Sequence[Mapping], min_s: float, max_s: float | None
) -> CheckResult:
    """(last − first time_elapsed) in seconds within [min_s, max_s] (max None: no maximum); the
    first row is the welcome page's (welcome_row), as the authors' raw_data starts there."""
    rows = rows[welcome_row(rows) :]
    total = _seconds(rows[-1]) - _seconds(rows[0]) if rows else 0.0
    passed = total >= min_s and (max_s is None or total <= max_s)
    return CheckResult("total_response_time", passed, total, {"total_time": total})


def check_instruction_time(
    instructions: Sequence[Mapping], min_s: float, max_s: float | None
) -> CheckResult:
    """(last − first time_elapsed) of the instruction block, whose first row is the welcome
    page's, ≥ min_s (and ≤ max_s if set): the authors' `verify_instruction_time`."""
    total = _seconds(instructions[-1]) - _seconds(instructions[0]) if instructions else 0.0
    passed = total >= min_s and (max_s is None or total <= max_s)
    return CheckResult("instruction_time", passed, total, {"total_time": total})


def check_demo_trials(demo: Sequence[Mapping], max_attempts: int | None) -> CheckResult:
    """Practice attempts = 1 + call-function rows in the demo block, at most max_attempts."""
    attempts = 1 + sum(1 for row in demo if row.get("trial_type") == "call-function")
    passed = max_attempts is None or attempts <= max_attempts
    return CheckResult("demo_trials", passed, float(attempts), {"n_demo_trials_blocks": attempts})


def run_checks(raw_data: Sequence[Mapping], thresholds: Mapping) -> dict[str, CheckResult]:
    """The five exclusion checks of protocol §8.2 on one participant's raw rows of one task.

    `thresholds` is the config's `responses.checks` (keys THRESHOLD_KEYS; a `*_max_*` of None
    means no maximum). Returns {check name: CheckResult} in the order of CHECKS.
    """
    missing = [k for k in THRESHOLD_KEYS if k not in thresholds]
    if missing:
        raise KeyError(f"responses.checks: missing threshold(s) {', '.join(missing)}")
    blocks = split_blocks(raw_data)
    results = [
        check_catch_trials(blocks.main, float(thresholds["catch_trials_min_ratio"])),
        check_row_variability(blocks.main, int(thresholds["row_variability_min"])),
        check_total_response_time(
            list(raw_data),
            float(thresholds["total_response_time_min_s"]),
            thresholds["total_response_time_max_s"],
        ),
        check_instruction_time(
            blocks.instructions,
            float(thresholds["instruction_time_min_s"]),
            thresholds["instruction_time_max_s"],
        ),
        check_demo_trials(blocks.demo, thresholds["demo_trials_max_attempts"]),
    ]
    return {r.name: r for r in results}


def passed(results: Mapping[str, CheckResult]) -> bool:
    """True when every check passed (the paper's `passed_checks`)."""
    return all(r.passed for r in results.values())


def failed_checks(results: Mapping[str, CheckResult]) -> list[str]:
    """Names of the failed checks, in the order of CHECKS."""
    return [name for name in CHECKS if name in results and not results[name].passed]


# The paper's check columns of responses.parquet (protocol §8.3)

EXTRACTED = {
    "instruction_time_details_extracted": "Float64",
    "total_response_time_details_extracted": "Float64",
    "row_variability_details_details_upper_extracted": "Int64",
    "row_variability_details_details_lower_extracted": "Int64",
    "catch_trials_details_ratio_extracted": "Float64",
    "catch_trials_details_correctly_answered_extracted": "string",
    "demo_trials_details_extracted": "Int64",
}
#: The paper's check columns: `<check>_result`, `<check>_details` (JSON) and the extracted values.
CHECK_COLUMNS = {
    **{f"{c}_result": "boolean" for c in CHECKS},
    **{f"{c}_details": "string" for c in CHECKS},
    **EXTRACTED,
    "passed_checks": "boolean",
}


def check_columns(results: Mapping[str, CheckResult]) -> dict[str, Any]:
    """The paper's per-check columns: `<check>_result`, `<check>_details` and `*_extracted`."""
    cols: dict[str, Any] = {}
    for name, r in results.items():
        cols[f"{name}_result"] = bool(r.passed)
        cols[f"{name}_details"] = json.dumps(r.details, allow_nan=True)
    d = {name: r.details for name, r in results.items()}
    cols["instruction_time_details_extracted"] = d["instruction_time"]["total_time"]
    cols["total_response_time_details_extracted"] = d["total_response_time"]["total_time"]
    cols["row_variability_details_details_upper_extracted"] = d["row_variability"]["n_upper_row"]
    cols["row_variability_details_details_lower_extracted"] = d["row_variability"]["n_lower_row"]
    cols["catch_trials_details_ratio_extracted"] = d["catch_trials"]["ratio"]
    cols["catch_trials_details_correctly_answered_extracted"] = json.dumps(
        d["catch_trials"]["correctly_answered"]
    )
    cols["demo_trials_details_extracted"] = d["demo_trials"]["n_demo_trials_blocks"]
    return cols

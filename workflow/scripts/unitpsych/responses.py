"""Responses: the paper's exclusion checks (protocol §8.2), payload parsing (§7.3, §8.3) and merging.

The five checks run on a participant's `raw_data` (every jsPsych row of one task, in order). The
rows are split into three blocks as in §8.2:

- instructions: the rows before the first 2-AFC row;
- demo (practice) block: from the first 2-AFC row up to the `instructions` row that directly
  precedes a 2-AFC row ("Great! Let's now start with the real trials!");
- main block: the contiguous run of 2-AFC rows after it.

Without such an `instructions` row (a task run without practice), the demo block is empty and the
main block starts at the first 2-AFC row.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

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
UPPER_ROW = (0, 1, 2)  # buttons under the upper query; 3..5 are above the lower one


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one exclusion check: pass/fail, the value compared, and the paper's details."""

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
    """(last − first time_elapsed) in seconds within [min_s, max_s] (max None: no maximum)."""
    total = _seconds(rows[-1]) - _seconds(rows[0]) if rows else 0.0
    passed = total >= min_s and (max_s is None or total <= max_s)
    return CheckResult("total_response_time", passed, total, {"total_time": total})


def check_instruction_time(
    instructions: Sequence[Mapping], min_s: float, max_s: float | None
) -> CheckResult:
    """Time from the start to the end of the instruction block ≥ min_s (and ≤ max_s if set)."""
    total = _seconds(instructions[-1]) if instructions else 0.0
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


# Parsing payloads (protocol §7.3, §8.3)

#: `<participant>_task_<k>.json`; a browser's copy suffix ` (n)` is read as the same file name.
PAYLOAD_NAME = re.compile(
    r"^(?P<participant>[A-Za-z0-9][A-Za-z0-9._-]*)_task_(?P<task>\d+)(?P<copy> \(\d+\))?\.json$"
)
#: 2-AFC fields every response row must carry, with a test of a valid value.
ROW_FIELDS: dict[str, Any] = {
    "rt": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0,
    "button_pressed": lambda v: v in (0, 1, 2, 3, 4, 5) and not isinstance(v, bool),
    "switched_queries": lambda v: isinstance(v, bool),
    "confidence": lambda v: v in (1, 2, 3) and not isinstance(v, bool),
    "choice": lambda v: v in ("a", "b"),
    "correct": lambda v: isinstance(v, bool),
    "catch_trial": lambda v: isinstance(v, bool),
    "is_demo": lambda v: isinstance(v, bool),
    "trial_index": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
    "time_elapsed": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
}

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
#: Columns of responses.parquet before the check columns (protocol §10 item 21 plus ours).
DTYPES = {
    "source": "string", "experiment": "string", "participant_id": "string", "task_id": "string",
    "task_number": "Int64", "response_index": "Int64", "trial_index": "Int64",
    "corrected_trial_index": "Int64", "trial": "Int64", "is_demo": "bool", "catch_trial": "bool",
    "correct": "bool", "choice": "string", "confidence": "Int64", "button_pressed": "Int64",
    "switched_queries": "boolean", "rt": "Float64", "time_elapsed": "Float64", "model": "string",
    "condition": "string", "difficulty": "string", "mode": "string", "unit": "string",
    "layer": "string", "channel": "Int64", "batch": "Int64",
}  # fmt: skip


def tidy(table: pd.DataFrame) -> pd.DataFrame:
    """The response columns in order with fixed dtypes (absent columns filled with NA)."""
    out = {}
    for col, dtype in {**DTYPES, **CHECK_COLUMNS}.items():
        values = table[col] if col in table else pd.Series(pd.NA, index=table.index)
        if dtype in ("Int64", "Float64"):
            values = pd.to_numeric(values, errors="coerce")
        elif dtype == "string":
            values = values.astype(object).where(values.notna(), None)
        out[col] = values.astype(dtype)
    return pd.DataFrame(out, index=table.index)


class RejectedFile(ValueError):
    """A payload file that cannot be used; the message is the reason listed in summary.json."""


@dataclass
class Parsed:
    """One source's parsed responses of one experiment: rows, participations, rejections, counts."""

    rows: pd.DataFrame
    participations: list[dict[str, Any]]
    rejected: list[dict[str, Any]]
    n_files: int
    n_rows: int


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


def read_payload(path: Path, data: bytes | None = None) -> dict[str, Any]:
    """Read a payload file (or its bytes): UTF-8 JSON {main_data, raw_data, task_id}, decoding
    the inner strings."""
    data = path.read_bytes() if data is None else data
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise RejectedFile(f"not UTF-8 text (byte {err.start})") from err
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as err:
        raise RejectedFile(f"malformed or truncated JSON ({err.msg} at char {err.pos})") from err
    if not isinstance(payload, dict):
        raise RejectedFile("payload is not a JSON object")
    missing = [k for k in ("main_data", "raw_data", "task_id") if k not in payload]
    if missing:
        raise RejectedFile(f"payload lacks {', '.join(missing)}")
    for key in ("main_data", "raw_data"):
        value = payload[key]
        if isinstance(value, str):  # the UI double-encodes them
            try:
                value = json.loads(value)
            except json.JSONDecodeError as err:
                raise RejectedFile(f"{key} is malformed JSON ({err.msg})") from err
        if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
            raise RejectedFile(f"{key} is not a list of rows")
        payload[key] = value
    return payload


def _validate_rows(rows: Sequence[Mapping]) -> None:
    """Raise RejectedFile naming the first 2-AFC row with a missing or invalid field."""
    for i, row in enumerate(rows):
        if row.get("trial_type", TRIAL_TYPE) != TRIAL_TYPE:
            raise RejectedFile(f"main_data row {i} is a {row.get('trial_type')!r} row")
        for key, ok in ROW_FIELDS.items():
            if key not in row:
                raise RejectedFile(f"main_data row {i} lacks {key}")
            if not ok(row[key]):
                raise RejectedFile(f"main_data row {i} has an invalid {key}: {row[key]!r}")
        if row["correct"] != (row["choice"] == "b"):
            raise RejectedFile(
                f"main_data row {i}: correct disagrees with choice {row['choice']!r}"
            )


@dataclass(frozen=True)
class ExperimentInfo:
    """What parsing needs to know of an experiment: its name, model, condition and difficulty."""

    name: str
    model: str
    condition: str
    difficulty: str = "easy"


def _payload_records(
    payload: Mapping, participant: str, task: int, response_index: int
) -> list[dict[str, Any]]:
    """A payload's 2-AFC rows as plain records with the §8.3 columns (joins come later)."""
    main = payload["main_data"]
    first = min(row["trial_index"] for row in main if not row["is_demo"])
    records = []
    for row in main:
        record = {key: row[key] for key in ROW_FIELDS}
        corrected = None if row["is_demo"] else row["trial_index"] - first
        record.update(
            participant_id=participant,
            task_id=payload["task_id"],
            task_number=task,
            response_index=response_index,
            corrected_trial_index=corrected,
            trial=None if corrected is None else corrected + 1,
        )
        records.append(record)
    return records


def parse_payload_file(
    path: Path,
    source: str,
    exp: ExperimentInfo,
    n_trials: Mapping[int, int],
    thresholds: Mapping,
    data: bytes | None = None,
) -> tuple[dict[str, Any], dict[str, Any], Mapping]:
    """Read, validate and check one payload file: (participation, check columns, payload).

    `n_trials` maps each task of the experiment to its number of main trials. Raises
    RejectedFile with the reason the file cannot be used.
    """
    match = PAYLOAD_NAME.match(path.name)
    if not match:
        raise RejectedFile("file name is not <participant>_task_<k>.json")
    participant, task = match["participant"], int(match["task"])
    payload = read_payload(path, data)
    task_id = str(payload["task_id"])
    name, _, k = task_id.rpartition("-")
    if not k.isdigit():
        raise RejectedFile(f"task_id {task_id!r} is not <experiment>-<k>")
    if name != exp.name:
        raise RejectedFile(f"payload for unknown experiment {name!r} (folder of {exp.name!r})")
    if int(k) != task:
        raise RejectedFile(f"task_id {task_id!r} disagrees with the file name's task {task}")
    if task < 1 or task not in n_trials:
        raise RejectedFile(f"unknown task {task} of experiment {exp.name}")
    main = payload["main_data"]
    _validate_rows(main)
    n_main = sum(1 for row in main if not row["is_demo"])
    if n_main != n_trials[task]:
        raise RejectedFile(f"{n_main} main trials, task {task} has {n_trials[task]}")
    if not payload["raw_data"] or any("time_elapsed" not in r for r in payload["raw_data"]):
        raise RejectedFile("raw_data is empty or lacks time_elapsed")
    try:
        results = run_checks(payload["raw_data"], thresholds)
    except (TypeError, ValueError) as err:
        raise RejectedFile(f"raw_data cannot be checked ({err})") from err
    failed = failed_checks(results)
    if any(row.get(TEST_MARK) for row in payload["raw_data"]):
        failed.append("test_mode")  # the page's `fast` flag: a test run, never a response
    participation = {
        "source": source,
        "experiment": exp.name,
        "participant_id": participant,
        "task_id": task_id,
        "task_number": task,
        "file": path.name,
        "n_rows": len(main),
        **{f"{n}_value": r.value for n, r in results.items()},
        **{f"{n}_result": r.passed for n, r in results.items()},
        "passed_checks": not failed,
        "failed_checks": ";".join(failed),
    }
    checks = {**check_columns(results), "passed_checks": participation["passed_checks"]}
    return participation, checks, payload


def _n_rows_of(path: Path) -> int:
    """How many 2-AFC rows a file holds, as far as it can be read (0 when it cannot)."""
    try:
        return len(read_payload(path)["main_data"])
    except (RejectedFile, OSError):
        return 0


def _file_order(item: tuple[str, Path]) -> tuple[str, str, bool, str]:
    """Sort key of payload files: by source, then name, an original before its ` (n)` copies."""
    source, path = item
    original = re.sub(r" \(\d+\)(?=\.json$)", "", path.name)
    return source, original, original != path.name, path.name


def _join_trials(
    records: list[dict[str, Any]], checks: list[dict[str, Any]], exp: ExperimentInfo,
    trials: pd.DataFrame,
) -> pd.DataFrame:  # fmt: skip
    """One table of all records, joined to trials.csv on (task, trial) and to their checks."""
    rows = pd.DataFrame.from_records(records)
    keys = trials.rename(columns={"task": "task_number"})[
        ["task_number", "trial", "unit", "layer", "mode", "channel", "batch"]
    ]
    rows["trial"] = rows["trial"].astype("Int64")
    keys = keys.astype({"task_number": "int64", "trial": "Int64"})
    rows = rows.merge(keys, on=["task_number", "trial"], how="left", validate="m:1")
    check_table = pd.DataFrame.from_records(checks)
    rows = rows.join(check_table, on="_participation")
    rows["model"] = exp.model
    rows["condition"] = exp.condition
    rows["difficulty"] = exp.difficulty
    return rows


def parse_payloads(
    files: Sequence[tuple[str, Path]], exp: ExperimentInfo, trials: pd.DataFrame,
    thresholds: Mapping,
) -> Parsed:  # fmt: skip
    """Parse every payload file of one experiment; reject unusable and duplicate files with reasons."""
    n_trials = trials[trials["task"] > 0].groupby("task").size().to_dict()
    records: list[dict[str, Any]] = []
    checks: list[dict[str, Any]] = []
    participations, rejected = [], []
    seen: dict[tuple[str, str, int], str] = {}
    digests: dict[str, str] = {}
    per_task: dict[int, int] = {}
    n_rows = 0
    for source, path in sorted(files, key=_file_order):
        label = f"{source}/{path.name}"
        data = path.read_bytes()
        digest = hashlib.md5(data).hexdigest()
        try:
            if digest in digests:
                raise RejectedFile(f"duplicate file: same content as {digests[digest]}")
            digests[digest] = label
            part, check, payload = parse_payload_file(path, source, exp, n_trials, thresholds, data)
            key = (source, part["participant_id"], part["task_number"])
            if key in seen:
                raise RejectedFile(f"duplicate file: participant and task already in {seen[key]}")
            seen[key] = label
        except RejectedFile as err:
            count = _n_rows_of(path)
            n_rows += count
            rejected.append(
                {
                    "source": source,
                    "experiment": exp.name,
                    "file": path.name,
                    "n_rows": count,
                    "reason": str(err),
                }  # fmt: skip
            )
            continue
        task = part["task_number"]
        new = _payload_records(payload, part["participant_id"], task, per_task.get(task, 0))
        per_task[task] = per_task.get(task, 0) + 1
        for record in new:
            record["source"] = source
            record["experiment"] = exp.name
            record["_participation"] = len(checks)
        records.extend(new)
        checks.append(check)
        participations.append(part)
        n_rows += len(new)
    if records:
        table = tidy(_join_trials(records, checks, exp, trials))
    else:
        table = empty_responses()
    return Parsed(table, participations, rejected, len(files), n_rows)


def empty_responses() -> pd.DataFrame:
    """A response table with no rows."""
    return tidy(pd.DataFrame())


def list_payload_files(folder: str | Path) -> list[Path]:
    """Every file in a payload folder (absent folder: none), hidden and temporary files left out."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


# Merging: multi-participation, kept/excluded, the tables and the accounting


def flag_multi_participation(participations: pd.DataFrame) -> pd.Series:
    """True for every participation of a participant who took part in more than one task.

    A participant is (source, participant_id); tasks count across all experiments. Every one of
    their participations is flagged, the first included: the paper allows one participation per
    worker across all experiments (§8.1) and drops each (task, worker) pair of such workers (§8.2),
    since a second task is answered with knowledge of the first and the first cannot be told apart
    from a participant who later came back. Released IMI rows keep the release's own flag.
    """
    if participations.empty:
        return pd.Series(dtype=bool)
    tasks = participations["experiment"] + "-" + participations["task_number"].astype(str)
    by = [participations["source"], participations["participant_id"]]
    flag = tasks.groupby(by).transform("nunique") > 1
    if "multi_participation" in participations:  # released IMI value
        released = participations["multi_participation"]
        flag = flag.where(released.isna(), released.astype("boolean").fillna(False))
    return flag.astype(bool)


def exclusion_reason(failed: str, multi: bool) -> str:
    """`;`-joined failed checks plus multi_participation; empty when the participation is kept."""
    reasons = [r for r in failed.split(";") if r]
    if multi:
        reasons.append("multi_participation")
    return ";".join(reasons)


def merge(
    tables: Sequence[pd.DataFrame], reports: Sequence[Mapping[str, Any]]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Concatenate parsed responses and set multi_participation, kept and exclusion_reason.

    Returns (responses, exclusions, participants, summary); the summary's accounting holds
    kept + excluded + rejected = input, for rows and for payload files.
    """
    parts = pd.DataFrame([p for r in reports for p in r["participations"]])
    key = ["source", "experiment", "participant_id", "task_number"]
    if parts.empty:
        parts = pd.DataFrame(columns=[*key, "task_id", "file", "n_rows", "passed_checks",
                                      "failed_checks"])  # fmt: skip
    parts = parts.sort_values(key, kind="stable").reset_index(drop=True)
    parts["multi_participation"] = flag_multi_participation(parts).to_numpy(bool)
    parts["kept"] = parts["passed_checks"].astype(bool) & ~parts["multi_participation"]
    parts["exclusion_reason"] = [
        exclusion_reason(str(f or ""), bool(m))
        for f, m in zip(parts["failed_checks"], parts["multi_participation"], strict=True)
    ]
    frames = [t for t in tables if len(t)]
    responses = pd.concat(frames, ignore_index=True) if frames else empty_responses()
    flags = parts[[*key, "multi_participation", "kept", "exclusion_reason"]]
    responses = responses.drop(
        columns=[c for c in ("multi_participation", "kept", "exclusion_reason") if c in responses]
    ).merge(flags, on=key, how="left", validate="m:1")
    responses = pd.concat(
        [
            tidy(responses),
            responses["multi_participation"].astype(bool),
            responses["kept"].astype(bool),
            responses["exclusion_reason"].astype("string"),
        ],
        axis=1,
    )
    responses = responses.sort_values(
        ["source", "experiment", "task_number", "participant_id", "trial_index"], kind="stable"
    ).reset_index(drop=True)
    participants = _participants_table(parts)
    summary = _summary(responses, parts, reports)
    return responses, parts, participants, summary


def _participants_table(parts: pd.DataFrame) -> pd.DataFrame:
    """One row per (source, participant): tasks taken, kept, multi-participation, simulated kind."""
    if parts.empty:
        return pd.DataFrame(columns=["source", "participant_id", "n_tasks", "n_kept", "experiments",
                                     "multi_participation", "simulated_kind"])  # fmt: skip
    if "simulated_kind" not in parts:
        parts = parts.assign(simulated_kind="")
    grouped = parts.groupby(["source", "participant_id"], sort=True)
    return grouped.agg(
        n_tasks=("task_number", "size"),
        n_kept=("kept", "sum"),
        experiments=("experiment", lambda e: ";".join(sorted(set(e)))),
        multi_participation=("multi_participation", "any"),
        simulated_kind=(
            "simulated_kind",
            lambda k: ";".join(sorted({str(x) for x in k if x == x and x})),
        ),
    ).reset_index()


def _accounting(kept: int, excluded: int, rejected: int, total: int) -> dict[str, int]:
    """An accounting entry; raises if the identity kept + excluded + rejected = input fails."""
    if kept + excluded + rejected != total:
        raise AssertionError(f"accounting broken: {kept} + {excluded} + {rejected} != {total}")
    return {"input": total, "kept": kept, "excluded": excluded, "rejected": rejected}


def _summary(
    responses: pd.DataFrame, parts: pd.DataFrame, reports: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """The accounting of rows and files per source, the rejections and the exclusion reasons."""
    rejected = [r for rep in reports for r in rep["rejected"]]
    out: dict[str, Any] = {"by_source": {}}
    for source in sorted({rep["source"] for rep in reports}):
        reps = [rep for rep in reports if rep["source"] == source]
        rows = responses[responses["source"] == source]
        prt = parts[parts["source"] == source]
        rej = [r for r in rejected if r["source"] == source]
        n_kept = int(rows["kept"].sum())
        entry = {
            "rows": _accounting(
                n_kept,
                len(rows) - n_kept,
                sum(int(r["n_rows"]) for r in rej),
                sum(int(rep["n_rows"]) for rep in reps),
            ),  # fmt: skip
            "participations": {
                "kept": int(prt["kept"].sum()),
                "excluded": int((~prt["kept"].astype(bool)).sum()),
            },  # fmt: skip
        }
        if source != "imi":  # payload files; the IMI release is one table
            files_rej = sum(1 for r in rej if r.get("file"))
            entry["files"] = _accounting(
                int(prt["kept"].sum()), int((~prt["kept"].astype(bool)).sum()), files_rej,
                sum(int(rep["n_files"]) for rep in reps),
            )  # fmt: skip
        out["by_source"][source] = entry
    totals = {"input": 0, "kept": 0, "excluded": 0, "rejected": 0}
    files = dict(totals)
    for entry in out["by_source"].values():
        for k in totals:
            totals[k] += entry["rows"][k]
            files[k] += entry.get("files", {}).get(k, 0)
    out["rows"] = totals
    out["files"] = files
    reasons: dict[str, int] = {}
    for reason in parts.loc[~parts["kept"].astype(bool), "exclusion_reason"] if len(parts) else []:
        for r in str(reason).split(";"):
            reasons[r] = reasons.get(r, 0) + 1
    out["excluded_participations_by_reason"] = dict(sorted(reasons.items()))
    out["rejected"] = rejected
    out["multi_participation_rule"] = (
        "every participation of a participant (source, participant_id) who took part in more "
        "than one task across all experiments is flagged and excluded; released IMI rows keep "
        "the release's flag"
    )
    return out


def report_of(source: str, parsed: Parsed) -> dict[str, Any]:
    """A source's parse report (participations, rejections, counts) as JSON-ready data."""

    def plain(value: Any) -> Any:
        if isinstance(value, float) and math.isnan(value):
            return None
        return value.item() if hasattr(value, "item") else value

    return {
        "source": source,
        "n_files": parsed.n_files,
        "n_rows": parsed.n_rows,
        "participations": [{k: plain(v) for k, v in p.items()} for p in parsed.participations],
        "rejected": parsed.rejected,
    }

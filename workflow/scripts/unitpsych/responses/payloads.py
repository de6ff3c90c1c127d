"""Responses: parsing and validating the payload files of one experiment (protocol §7.3, §8.3).

The exclusion checks live in `unitpsych.responses.checks`, the merge of all experiments and the
accounting in `unitpsych.responses.merge`; the checks' public names are re-exported here.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from unitpsych.responses.checks import CHECK_COLUMNS, TEST_MARK, check_columns
from unitpsych.responses.checks import CHECKS as CHECKS
from unitpsych.responses.checks import TRIAL_TYPE as TRIAL_TYPE
from unitpsych.responses.checks import CheckResult as CheckResult
from unitpsych.responses.checks import failed_checks as failed_checks
from unitpsych.responses.checks import passed as passed
from unitpsych.responses.checks import run_checks as run_checks
from unitpsych.responses.checks import split_blocks as split_blocks
from unitpsych.responses.schema import RejectedFile as RejectedFile
from unitpsych.responses.schema import validate_payload

#: `<participant>_task_<k>.json`; a browser's copy suffix ` (n)` is read as the same file name.
PAYLOAD_NAME = re.compile(
    r"^(?P<participant>[A-Za-z0-9][A-Za-z0-9._-]*)_task_(?P<task>\d+)(?P<copy> \(\d+\))?\.json$"
)
#: 2-AFC fields every response row carries into the table (validated by responses.schema).
ROW_FIELDS = (
    "rt",
    "button_pressed",
    "switched_queries",
    "confidence",
    "choice",
    "correct",
    "catch_trial",
    "is_demo",
    "trial_index",
    "time_elapsed",
)

#: Columns of responses.parquet before the check columns (protocol §10 item 21 plus ours).
DTYPES = {
    "source": "string",
    "experiment": "string",
    "participation": "string",
    "participant_id": "string",
    "task_id": "string",
    "task_number": "Int64",
    "response_index": "Int64",
    "trial_index": "Int64",
    "corrected_trial_index": "Int64",
    "trial": "Int64",
    "is_demo": "bool",
    "catch_trial": "bool",
    "correct": "bool",
    "choice": "string",
    "confidence": "Int64",
    "button_pressed": "Int64",
    "switched_queries": "boolean",
    "rt": "Float64",
    "time_elapsed": "Float64",
    "model": "string",
    "condition": "string",
    "difficulty": "string",
    "mode": "string",
    "unit": "string",
    "layer": "string",
    "channel": "Int64",
    "batch": "Int64",
}


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


#: The participant id of a release that hides who answered (the IMI release: every row).
ANONYMIZED = "anonymized"


def participation_id(source: str, task_id: str, response_index: int) -> str:
    """One participation of any source: `<source>:<task_id>:<response_index>`.

    The response index counts the responses to one task, so this needs no participant id (the
    released IMI data hide it).
    """
    return f"{source}:{task_id}:{int(response_index)}"


@dataclass
class Parsed:
    """One source's parsed responses of one experiment: rows, participations, rejections, counts."""

    rows: pd.DataFrame
    participations: list[dict[str, Any]]
    rejected: list[dict[str, Any]]
    n_files: int
    n_rows: int


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
    payload = validate_payload(path.read_bytes() if data is None else data)
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
    n_main = sum(1 for row in main if not row["is_demo"])
    if n_main != n_trials[task]:
        raise RejectedFile(f"{n_main} main trials, task {task} has {n_trials[task]}")
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
        # the row check's two counts (its value is the smaller one)
        "n_upper_row": results["row_variability"].details["n_upper_row"],
        "n_lower_row": results["row_variability"].details["n_lower_row"],
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
    records: list[dict[str, Any]],
    checks: list[dict[str, Any]],
    exp: ExperimentInfo,
    trials: pd.DataFrame,
) -> pd.DataFrame:
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


def _accept(
    source: str,
    path: Path,
    exp: ExperimentInfo,
    n_trials: Mapping[int, int],
    thresholds: Mapping,
    seen: dict[tuple[str, str, int], str],
    digests: dict[str, str],
) -> tuple[dict[str, Any], dict[str, Any], Any]:
    """Parse one payload file (parse_payload_file), or raise RejectedFile when its content or its
    participant and task repeat a file already accepted (`digests`, `seen`: updated)."""
    label = f"{source}/{path.name}"
    data = path.read_bytes()
    digest = hashlib.md5(data).hexdigest()
    if digest in digests:
        raise RejectedFile(f"duplicate file: same content as {digests[digest]}")
    digests[digest] = label
    part, check, payload = parse_payload_file(path, source, exp, n_trials, thresholds, data)
    key = (source, part["participant_id"], part["task_number"])
    if key in seen:
        raise RejectedFile(f"duplicate file: participant and task already in {seen[key]}")
    seen[key] = label
    return part, check, payload


def parse_payloads(
    files: Sequence[tuple[str, Path]],
    exp: ExperimentInfo,
    trials: pd.DataFrame,
    thresholds: Mapping,
) -> Parsed:
    """Parse every payload file of one experiment; reject unusable and duplicate files with
    reasons."""
    n_trials = trials[trials["task"] > 0].groupby("task").size().to_dict()
    records: list[dict[str, Any]] = []
    checks: list[dict[str, Any]] = []
    participations, rejected = [], []
    seen: dict[tuple[str, str, int], str] = {}
    digests: dict[str, str] = {}
    per_task: dict[int, int] = {}
    n_rows = 0
    for source, path in sorted(files, key=_file_order):
        try:
            part, check, payload = _accept(
                source, path, exp, n_trials, thresholds, seen=seen, digests=digests
            )
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
                }
            )
            continue
        task = part["task_number"]
        part["response_index"] = per_task.get(task, 0)
        part["participation"] = participation_id(source, part["task_id"], part["response_index"])
        new = _payload_records(payload, part["participant_id"], task, part["response_index"])
        per_task[task] = part["response_index"] + 1
        for record in new:
            record["source"] = source
            record["experiment"] = exp.name
            record["participation"] = part["participation"]
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

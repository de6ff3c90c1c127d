"""The one validation of a payload (protocol §7.3), shared by the experiment server and the
response stage: what the server accepts, the response stage keeps.

`validate_payload(data)` reads a payload file's bytes (or a request body) and returns its parts
(`task_id`, `main_data` rows, `raw_data` rows), or raises `RejectedFile` with a short reason (the
server answers it with `RejectedFile.status`, the response stage lists it in summary.json). Bad
values are quoted by a short prefix only (`short`), so a 4.5 MB string is never echoed.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema

from unitpsych.responses.checks import TRIAL_TYPE

#: An experiment name (as in the experiment folders and the payload's task_id).
NAME = r"[A-Za-z0-9][A-Za-z0-9_+-]*(?:\.[A-Za-z0-9_+-]+)*"
#: How much of a bad value an error message quotes.
QUOTE_CHARS = 60
#: The longest error message (reasons, refusals and log lines).
MESSAGE_CHARS = 300

_NUMBER = {"type": "number", "minimum": 0}
_INDEX = {"type": "integer", "minimum": 0}
#: Every jsPsych row (protocol §7.3): what the five checks read.
RAW_ROW = {
    "type": "object",
    "required": ["trial_type", "trial_index", "time_elapsed"],
    "properties": {
        "trial_type": {"type": "string"},
        "trial_index": _INDEX,
        "time_elapsed": _NUMBER,
    },
}
#: 2-AFC rows (protocol §7.3): every field the response stage reads.
TWO_AFC_ROW = {
    "type": "object",
    "required": [
        "trial_type",
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
        "trial_index",
        "time_elapsed",
        "internal_node_id",
    ],
    "properties": {
        "trial_type": {"const": TRIAL_TYPE},
        "rt": _NUMBER,
        "button_pressed": {"type": "integer", "minimum": 0, "maximum": 5},
        "switched_queries": {"type": "boolean"},
        "confidence": {"type": "integer", "minimum": 1, "maximum": 3},
        "choice": {"enum": ["a", "b"]},
        "correct": {"type": "boolean"},
        "min_query": {"type": "string"},
        "max_query": {"type": "string"},
        "min_references": {"type": "array", "items": {"type": "string"}},
        "max_references": {"type": "array", "items": {"type": "string"}},
        "catch_trial": {"type": "boolean"},
        "is_demo": {"type": "boolean"},
        "trial_index": _INDEX,
        "time_elapsed": _NUMBER,
        "internal_node_id": {"type": "string"},
    },
}
#: The payload: main_data and raw_data are JSON strings of row lists (the page double-encodes
#: them) or the row lists themselves.
PAYLOAD = {
    "type": "object",
    "required": ["main_data", "raw_data", "task_id"],
    "additionalProperties": False,
    "properties": {
        "main_data": {"type": ["string", "array"]},
        "raw_data": {"type": ["string", "array"]},
        "task_id": {"type": "string", "pattern": rf"^{NAME}-[1-9][0-9]*$"},
    },
}
SCHEMAS = {
    "payload": PAYLOAD,
    "main_data": {"type": "array", "minItems": 1, "items": TWO_AFC_ROW},
    "raw_data": {"type": "array", "minItems": 1, "items": RAW_ROW},
}
#: Validators built once (jsonschema.validate would check the schema itself on every call).
VALIDATORS = {key: jsonschema.Draft202012Validator(s) for key, s in SCHEMAS.items()}


class RejectedFile(ValueError):
    """A payload that cannot be used; the message is the (short) reason; `status` the HTTP one."""

    def __init__(self, message: str, status: int = 422):
        super().__init__(short(message, MESSAGE_CHARS))
        self.status = status


def short(value: Any, limit: int = QUOTE_CHARS) -> str:
    """`value` as text, cut to `limit` characters with the full length named."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"


def _no_constant(name: str) -> float:
    """json.loads' hook for NaN and ±Infinity, which are not JSON and no time or rt."""
    raise RejectedFile(f"non-finite number {name} (not JSON)")


def _loads(text: str | bytes, what: str) -> Any:
    """Parse JSON strictly (no NaN/Infinity); RejectedFile 400 when malformed or truncated."""
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as err:
        raise RejectedFile(
            f"{what}malformed or truncated JSON ({err.msg} at char {err.pos})", 400
        ) from err


def _check(key: str, value: Any) -> None:
    """RejectedFile 422 naming the first schema error of `value` (its value quoted shortly)."""
    error = jsonschema.exceptions.best_match(VALIDATORS[key].iter_errors(value))
    if error is None:
        return
    where = "/".join(str(p) for p in error.absolute_path)
    if error.validator == "required":
        detail = short(error.message, 120)
    else:
        detail = (
            f"{short(error.instance)} is invalid ({error.validator} {short(error.validator_value)})"
        )
    raise RejectedFile(f"{key}[{where}]: {detail}")


def validate_payload(data: bytes) -> dict[str, Any]:
    """The payload's parts {task_id, main_data, raw_data}; RejectedFile when it cannot be kept."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise RejectedFile(f"not UTF-8 text (byte {err.start})", 400) from err
    payload = _loads(text, "")
    _check("payload", payload)
    parts: dict[str, Any] = {"task_id": payload["task_id"]}
    for key in ("main_data", "raw_data"):
        rows = payload[key]
        if isinstance(rows, str):
            rows = _loads(rows, f"{key}: ")
        _check(key, rows)
        parts[key] = rows
    for i, row in enumerate(parts["main_data"]):
        if row["correct"] != (row["choice"] == "b"):
            raise RejectedFile(f"main_data[{i}]: correct disagrees with choice {row['choice']!r}")
    if all(row["is_demo"] for row in parts["main_data"]):
        raise RejectedFile("main_data holds no main (non-practice) trial")
    return parts

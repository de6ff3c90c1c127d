"""What the experiment server lets in: ids, experiment files, payloads and request rates."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from unitpsych import ui_layout
from unitpsych.responses import schema
from unitpsych.responses.checks import TEST_MARK, TRIAL_TYPE, failed_checks, run_checks
from unitpsych.server.state import Assignment, Refusal

log = logging.getLogger("unitpsych.server")

#: Identifiers in URL parameters (Prolific ids are 24 hex digits; local ids are generated).
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
AID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
NAME = schema.NAME
TRIAL_FILE = ui_layout.trial_file_pattern()
_INDEX = re.escape(ui_layout.INDEX)
#: The only experiment-folder files the page loads (protocol §6.2, §7.1); nothing else is served.
EXPERIMENT_FILE = re.compile(
    rf"^(?:(?P<exp>{NAME})/{ui_layout.TASK_PREFIX}(?P<task>[1-9][0-9]*)/(?:{_INDEX}|{TRIAL_FILE})"
    rf"|{ui_layout.DEMO_PREFIX}(?P<demo>{NAME})/(?:{_INDEX}|{TRIAL_FILE})"
    rf"|(?P<inst>{NAME})/{ui_layout.INSTRUCTIONS}/[0-9]+\.(?:jpg|png))$"
)
TRAVERSAL = re.compile(r"(?:^|[/\\])\.\.?(?:[/\\]|$)|\\|\x00")


def validate_payload(body: bytes) -> dict[str, Any]:
    """The payload's parts (task_id, main rows, raw rows) by the response stage's own validation
    (responses.schema), so what is accepted here is kept there; Refusal 400/422 otherwise."""
    try:
        return schema.validate_payload(body)
    except schema.RejectedFile as err:
        raise Refusal(err.status, str(err)) from err


def check_payload_task(parts: Mapping[str, Any], assignment: Assignment, n_trials: int) -> None:
    """Refusal 403 unless the payload is for the assignment's task (task_id and every main
    image)."""
    if parts["task_id"] != assignment.task_id:
        raise Refusal(
            403, f"payload for task {parts['task_id']!r}, assigned {assignment.task_id!r}"
        )
    task = ui_layout.task_folder(assignment.task)
    folder = f"/experiments/{assignment.experiment}/{task}/{ui_layout.TRIALS}/"
    main = [row for row in parts["main_data"] if not row["is_demo"]]
    if any(folder not in row["min_query"] or folder not in row["max_query"] for row in main):
        raise Refusal(403, f"main trials are not those of {assignment.task_id}")
    if len(main) != n_trials:
        raise Refusal(422, f"{len(main)} main trials, task {assignment.task_id} has {n_trials}")


def _jsonable(obj: Any) -> Any:
    """Check results (dataclasses) and floats as JSON."""
    if hasattr(obj, "__dataclass_fields__"):
        return {k: getattr(obj, k) for k in obj.__dataclass_fields__}
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def check_submission(raw_data: list[dict], thresholds: Mapping[str, Any]) -> tuple[bool, str]:
    """Run the five exclusion checks. A payload made with one of the page's URL flags never passes:
    `fast` (tests) fails the timing check, `ni` (no instruction pages) the instruction time and
    `nd` (no practice block) the practice check."""
    try:
        results = run_checks(raw_data, thresholds)
    except Exception as err:  # keep the payload; the response stage checks it again
        log.exception("the checks failed to run; the payload is stored as not passing")
        return False, json.dumps({"failed": ["checks_error"], "error": schema.short(err, 300)})
    failed = set(failed_checks(results))
    types = [row.get("trial_type") for row in raw_data]
    first = types.index(TRIAL_TYPE) if TRIAL_TYPE in types else len(types)
    fast = any(row.get(TEST_MARK) for row in raw_data)
    if fast:
        failed.add("total_response_time")
    if "instructions" not in types[:first]:
        failed.add("instruction_time")
    if not any(
        t == TRIAL_TYPE and row.get("is_demo") for t, row in zip(types, raw_data, strict=True)
    ):
        failed.add("demo_trials")
    summary = {"failed": sorted(failed), "test_fast": fast, "results": results}
    return not failed, json.dumps(summary, default=_jsonable)


class Guard:
    """ASGI middleware: `check` answers a request itself (a refusal) or lets it through."""

    def __init__(self, app: Callable, check: Callable[[Request], Response | None]):
        self.app = app
        self.check = check

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "http":
            refusal = self.check(Request(scope))
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)


class RateLimiter:
    """Sliding-window request counts per (client address, kind)."""

    def __init__(self, window_s: float, limits: Mapping[str, int]):
        self.window_s = window_s
        self.limits = dict(limits)
        self._hits: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, client: str, kind: str) -> bool:
        """Count a request; False when the client is over its limit for this kind."""
        now = time.monotonic()
        with self._lock:
            hits = self._hits.setdefault((client, kind), deque())
            while hits and hits[0] <= now - self.window_s:
                hits.popleft()
            if len(hits) >= self.limits[kind]:
                return False
            hits.append(now)
            return True

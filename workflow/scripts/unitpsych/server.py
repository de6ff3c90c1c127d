"""The experiment server (`unitpsych serve`): runs the 2-AFC experiments in a browser (protocol §7, §8.1).

It serves the experiment page (`workflow/ui/`, jsPsych) and the files of the experiment folders
that the page loads, and nothing else. Each arriving participant (Prolific's PROLIFIC_PID,
STUDY_ID and SESSION_ID, or a generated id for local runs) gets the next task that still needs a
passing response; a task handed out is reserved for `reservation_minutes`. A participant takes
part once across all experiments, like the authors' bouncer. The payload the page posts
(`{main_data, raw_data, task_id}`, protocol §7.3) is validated at the door, written atomically to
`<responses>/<experiment>/local/<participant>_task_<k>.json` (never overwritten) and checked with
the five exclusion checks (§8.2): a task that fails is handed out again. State (participants,
assignments, check results) lives in SQLite, so a restart loses nothing.

Run: `PYTHONPATH=workflow/scripts .venv/bin/python -m unitpsych.server serve --experiments
results/experiments --responses results/responses/raw` (or `make serve`).
"""

from __future__ import annotations

import argparse
import contextlib
import hmac
import html
import json
import logging
import os
import re
import secrets
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from unitpsych import paths
from unitpsych.io import atomic_path
from unitpsych.responses import TRIAL_TYPE, failed_checks, run_checks

log = logging.getLogger("unitpsych.server")

REPO = Path(__file__).resolve().parents[3]
UI_DIR = REPO / "workflow" / "ui"
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
SOURCE = "local"  # payloads of this server are the `local` response source
COOKIE = "unitpsych_participant"

#: Files of the page: URL name -> path under workflow/ui (libraries from node_modules).
PAGE_FILES = {
    "style.css": "style.css",
    "task.js": "task.js",
    "plugin-2afc-image-confidence-response.js": "plugin-2afc-image-confidence-response.js",
    "lib/jspsych.js": "node_modules/jspsych/dist/index.browser.min.js",
    "lib/jspsych.css": "node_modules/jspsych/css/jspsych.css",
    "lib/seedrandom.js": "node_modules/seedrandom/seedrandom.min.js",
    **{
        f"lib/plugin-{name}.js": f"node_modules/@jspsych/plugin-{name}/dist/index.browser.min.js"
        for name in (
            "browser-check",
            "preload",
            "instructions",
            "fullscreen",
            "call-function",
            "survey-text",
            "html-keyboard-response",
        )
    },
}

#: Identifiers in URL parameters (Prolific ids are 24 hex digits; local ids are generated).
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
AID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
NAME = r"[A-Za-z0-9][A-Za-z0-9_+-]*(?:\.[A-Za-z0-9_+-]+)*"
TRIAL_FILE = r"trials/trial_[1-9][0-9]*/(?:queries/(?:min|max)|references/(?:min|max)_[0-9]+)\.png"
#: The only experiment-folder files the page loads (protocol §6.2, §7.1); nothing else is served.
EXPERIMENT_FILE = re.compile(
    rf"^(?:(?P<exp>{NAME})/task_(?P<task>[1-9][0-9]*)/(?:index\.json|{TRIAL_FILE})"
    rf"|demo_(?P<demo>{NAME})/(?:index\.json|{TRIAL_FILE})"
    rf"|(?P<inst>{NAME})/instructions/[0-9]+\.(?:jpg|png))$"
)
TRAVERSAL = re.compile(r"(?:^|[/\\])\.\.?(?:[/\\]|$)|\\|\x00")
INSTRUCTION_PAGE = re.compile(r"^(?P<n>[0-9]+)\.(?:jpg|png)$")
TEST_MARK = "test_fast"  # rows of payloads made with the page's test-only `fast` flag

_ROW = {
    "type": "object",
    "required": ["trial_type", "trial_index", "time_elapsed"],
    "properties": {
        "trial_type": {"type": "string"},
        "trial_index": {"type": "integer", "minimum": 0},
        "time_elapsed": {"type": "number", "minimum": 0},
    },
}
#: 2-AFC rows (protocol §7.3): every field the ingestion reads.
TWO_AFC_ROW = {
    "type": "object",
    "required": [
        "trial_type", "rt", "button_pressed", "switched_queries", "confidence", "choice",
        "correct", "min_query", "max_query", "min_references", "max_references", "catch_trial",
        "is_demo", "trial_index", "time_elapsed", "internal_node_id",
    ],
    "properties": {
        "trial_type": {"const": TRIAL_TYPE},
        "rt": {"type": "number", "minimum": 0},
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
        "trial_index": {"type": "integer", "minimum": 0},
        "time_elapsed": {"type": "number", "minimum": 0},
        "internal_node_id": {"type": "string"},
    },
}  # fmt: skip
#: The payload (protocol §7.3): main_data and raw_data are JSON strings of row lists.
PAYLOAD = {
    "type": "object",
    "required": ["main_data", "raw_data", "task_id"],
    "additionalProperties": False,
    "properties": {
        "main_data": {"type": "string"},
        "raw_data": {"type": "string"},
        "task_id": {"type": "string", "pattern": rf"^{NAME}-[1-9][0-9]*$"},
    },
}
MAIN_DATA = {"type": "array", "minItems": 1, "items": TWO_AFC_ROW}
RAW_DATA = {"type": "array", "minItems": 1, "items": _ROW}
#: Validators built once (jsonschema.validate would check the schema itself on every call).
VALIDATORS = {
    key: jsonschema.Draft202012Validator(schema)
    for key, schema in (("payload", PAYLOAD), ("main_data", MAIN_DATA), ("raw_data", RAW_DATA))
}


class Refusal(Exception):
    """A request the server refuses: HTTP status and a message for the client and the log."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Settings:
    """The server's settings: the config's `server` and `responses.checks` slices plus the folders."""

    experiments_dir: Path
    responses_dir: Path
    state: Path
    experiments: tuple[str, ...]
    completion_url: str | None
    status_token: str
    reservation_minutes: float
    max_payload_bytes: int
    rate_window_s: float
    rate_requests: int
    rate_file_requests: int
    thresholds: Mapping[str, Any]

    @classmethod
    def from_config(
        cls, server: Mapping[str, Any], checks: Mapping[str, Any], experiments_dir: str | Path,
        responses_dir: str | Path,
    ) -> Settings:  # fmt: skip
        """Settings from schema-validated config slices (the schema fills every default)."""
        token = server["status_token"] or os.environ.get("UNITPSYCH_STATUS_TOKEN")
        if not token:
            token = secrets.token_urlsafe(16)
            log.warning("status token (no server.status_token set): %s", token)
        rate = server["rate_limit"]
        return cls(
            experiments_dir=Path(experiments_dir),
            responses_dir=Path(responses_dir),
            state=Path(server["state"]),
            experiments=tuple(server["experiments"]),
            completion_url=server["completion_url"],
            status_token=token,
            reservation_minutes=float(server["reservation_minutes"]),
            max_payload_bytes=int(server["max_payload_bytes"]),
            rate_window_s=float(rate["window_s"]),
            rate_requests=int(rate["requests"]),
            rate_file_requests=int(rate["file_requests"]),
            thresholds=dict(checks),
        )


def load_config(configfile: str | Path | None = None) -> dict[str, Any]:
    """A config (a YAML file, or empty) validated against the schema, which fills every default."""
    import yaml
    from snakemake.utils import validate

    config = yaml.safe_load(Path(configfile).read_text()) if configfile else {}
    validate(config, str(SCHEMA))
    return config


# Experiments


def task_numbers(folder: Path) -> list[int]:
    """The task numbers k of an experiment folder (task_<k>/index.json), ascending."""
    numbers = []
    for index in folder.glob("task_*/index.json"):
        k = index.parent.name.removeprefix("task_")
        if k.isdigit():
            numbers.append(int(k))
    return sorted(numbers)


def find_experiments(root: Path, names: Sequence[str] = ()) -> dict[str, list[int]]:
    """Experiments to hand out ({name: task numbers}): the given names, or every complete folder."""
    if not root.is_dir():
        raise FileNotFoundError(f"experiments folder {root} does not exist (build it: snakemake experiments)")
    if not names:
        names = sorted(
            p.name for p in root.iterdir()
            if p.is_dir() and not p.name.startswith("demo_") and task_numbers(p)
        )  # fmt: skip
    found = {}
    for name in names:
        if not re.fullmatch(NAME, name):
            raise ValueError(f"server.experiments: {name!r} is not an experiment name")
        tasks = task_numbers(root / name)
        if not tasks:
            raise FileNotFoundError(f"experiment {name!r}: no task_<k>/index.json under {root / name}")
        if not (root / f"demo_{name}" / "index.json").is_file():
            raise FileNotFoundError(f"experiment {name!r}: practice folder {root / f'demo_{name}'} is missing")
        found[name] = tasks
    if not found:
        raise FileNotFoundError(f"no experiment folders (task_<k>/index.json) under {root}")
    return found


def instruction_pages(root: Path, experiment: str) -> list[str]:
    """The instruction pages of an experiment (instructions/<n>.jpg), in page order."""
    folder = root / experiment / "instructions"
    pages = [p.name for p in folder.iterdir() if INSTRUCTION_PAGE.match(p.name)] if folder.is_dir() else []
    return sorted(pages, key=lambda name: int(INSTRUCTION_PAGE.match(name)["n"]))


# State (SQLite)

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS assignments (
    aid TEXT PRIMARY KEY,
    participant TEXT NOT NULL UNIQUE,   -- one participation across all experiments
    source TEXT NOT NULL,               -- prolific | local
    study_id TEXT,
    session_id TEXT,
    experiment TEXT NOT NULL,
    task INTEGER NOT NULL,
    assigned_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    submitted_at REAL,
    payload TEXT,
    passed INTEGER,
    checks TEXT
);
CREATE INDEX IF NOT EXISTS assignments_task ON assignments (experiment, task);
"""


@dataclass(frozen=True)
class Assignment:
    """A task handed out to a participant."""

    aid: str
    participant: str
    experiment: str
    task: int
    expires_at: float
    submitted_at: float | None

    @property
    def task_id(self) -> str:
        """The payload's task_id: `<experiment>-<k>`."""
        return f"{self.experiment}-{self.task}"


class State:
    """Participants and assignments in SQLite; every method is one transaction."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA_SQL)
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def _transaction(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                result = fn(self._db)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            return result

    @staticmethod
    def _assignment(row: tuple) -> Assignment:
        return Assignment(*row)

    _COLUMNS = "aid, participant, experiment, task, expires_at, submitted_at"

    def get(self, aid: str) -> Assignment | None:
        """The assignment with this id, or None."""
        with self._lock:
            row = self._db.execute(
                f"SELECT {self._COLUMNS} FROM assignments WHERE aid = ?", (aid,)
            ).fetchone()
        return self._assignment(row) if row else None

    def assign(
        self, participant: str, source: str, study_id: str | None, session_id: str | None,
        order: Sequence[tuple[str, int]], reservation_s: float,
    ) -> Assignment | None:  # fmt: skip
        """The participant's open assignment, else a new one for the first task still needing a
        passing response; None when every task is passed or reserved. Raises Refusal for a
        participant who already took part."""

        def run(db: sqlite3.Connection) -> Assignment | None:
            now = time.time()
            row = db.execute(
                f"SELECT {self._COLUMNS} FROM assignments WHERE participant = ?", (participant,)
            ).fetchone()
            if row:
                known = self._assignment(row)
                if known.submitted_at is None and known.expires_at > now:
                    return known  # a reload: the same task again
                raise Refusal(403, "already took part")
            busy = set(
                db.execute(
                    "SELECT experiment, task FROM assignments WHERE passed = 1"
                    " OR (submitted_at IS NULL AND expires_at > ?)",
                    (now,),
                ).fetchall()
            )
            for experiment, task in order:
                if (experiment, task) not in busy:
                    aid = secrets.token_urlsafe(18)
                    db.execute(
                        "INSERT INTO assignments (aid, participant, source, study_id, session_id,"
                        " experiment, task, assigned_at, expires_at) VALUES (?,?,?,?,?,?,?,?,?)",
                        (aid, participant, source, study_id, session_id, experiment, task, now,
                         now + reservation_s),
                    )  # fmt: skip
                    return Assignment(aid, participant, experiment, task, now + reservation_s, None)
            return None

        return self._transaction(run)

    def submit(self, aid: str, write: Callable[[], str], passed: bool, checks: str) -> None:
        """Record a submission; `write` stores the payload inside the transaction (409 if taken)."""

        def run(db: sqlite3.Connection) -> None:
            row = db.execute("SELECT submitted_at FROM assignments WHERE aid = ?", (aid,)).fetchone()
            if row is None:
                raise Refusal(403, "no such assignment")
            if row[0] is not None:
                raise Refusal(409, "this task was already submitted; the first submission is kept")
            payload = write()
            db.execute(
                "UPDATE assignments SET submitted_at = ?, payload = ?, passed = ?, checks = ?"
                " WHERE aid = ?",
                (time.time(), payload, int(passed), checks, aid),
            )

        self._transaction(run)

    def unsubmitted(self) -> list[Assignment]:
        """Assignments without a recorded submission."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {self._COLUMNS} FROM assignments WHERE submitted_at IS NULL"
            ).fetchall()
        return [self._assignment(r) for r in rows]

    def counts(self) -> list[tuple[str, int, int, int, int, int]]:
        """Per (experiment, task): handed out, open reservations, submitted, passed."""
        with self._lock:
            return self._db.execute(
                "SELECT experiment, task, COUNT(*),"
                " SUM(submitted_at IS NULL AND expires_at > ?), SUM(submitted_at IS NOT NULL),"
                " SUM(COALESCE(passed, 0)) FROM assignments GROUP BY experiment, task",
                (time.time(),),
            ).fetchall()


# Payloads


def validate_payload(body: bytes) -> dict[str, Any]:
    """The payload's parts (task_id, main rows, raw rows); Refusal 400/422 when malformed."""
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise Refusal(400, f"malformed JSON: {err}") from err
    error = jsonschema.exceptions.best_match(VALIDATORS["payload"].iter_errors(payload))
    if error is not None:
        raise Refusal(422, f"payload: {error.message}")
    parts = {}
    for key in ("main_data", "raw_data"):
        try:
            rows = json.loads(payload[key])
        except json.JSONDecodeError as err:
            raise Refusal(400, f"{key}: malformed JSON: {err}") from err
        error = jsonschema.exceptions.best_match(VALIDATORS[key].iter_errors(rows))
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path)
            raise Refusal(422, f"{key}[{where}]: {error.message}")
        parts[key] = rows
    parts["task_id"] = payload["task_id"]
    return parts


def check_payload_task(parts: Mapping[str, Any], assignment: Assignment, n_trials: int) -> None:
    """Refusal 403 unless the payload is for the assignment's task (task_id and every main image)."""
    if parts["task_id"] != assignment.task_id:
        raise Refusal(403, f"payload for task {parts['task_id']!r}, assigned {assignment.task_id!r}")
    folder = f"/experiments/{assignment.experiment}/task_{assignment.task}/trials/"
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
        return False, json.dumps({"failed": ["checks_error"], "error": repr(err)})
    failed = set(failed_checks(results))
    types = [row.get("trial_type") for row in raw_data]
    first = types.index(TRIAL_TYPE) if TRIAL_TYPE in types else len(types)
    fast = any(row.get(TEST_MARK) for row in raw_data)
    if fast:
        failed.add("total_response_time")
    if "instructions" not in types[:first]:
        failed.add("instruction_time")
    if not any(t == TRIAL_TYPE and row.get("is_demo") for t, row in zip(types, raw_data, strict=True)):
        failed.add("demo_trials")
    summary = {"failed": sorted(failed), "test_fast": fast, "results": results}
    return not failed, json.dumps(summary, default=_jsonable)


# The app


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


def _page(title: str, text: str, status: int = 200) -> HTMLResponse:
    """A small HTML page for participants (refusal, thanks, no task left)."""
    body = (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<link rel='icon' href='data:,'><link rel='stylesheet' href='/style.css'></head><body><div class='imi-message'>"
        f"<h2>{html.escape(title)}</h2><p>{text}</p></div></body></html>"
    )
    return HTMLResponse(body, status_code=status)


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def create_app(settings: Settings) -> Starlette:
    """The Starlette app: start page, the experiment page, experiment files, submit and status."""
    experiments = find_experiments(settings.experiments_dir, settings.experiments)
    n_trials = {
        (name, k): int(json.loads((settings.experiments_dir / name / f"task_{k}" / "index.json").read_text())["n_trials"])
        for name, tasks in experiments.items() for k in tasks
    }  # fmt: skip
    # Tasks in hand-out order: task 1 of every experiment, then task 2, ... (experiments fill evenly).
    order = sorted(n_trials, key=lambda et: (et[1], list(experiments).index(et[0])))
    instructions = {name: instruction_pages(settings.experiments_dir, name) for name in experiments}
    state = State(settings.state)
    limiter = RateLimiter(
        settings.rate_window_s, {"api": settings.rate_requests, "file": settings.rate_file_requests}
    )
    experiments_root = settings.experiments_dir.resolve()
    ui_root = UI_DIR.resolve()

    raw_root = Path(paths.raw_payloads("", "", root=""))  # responses/raw

    def out_path(a: Assignment) -> Path:
        """Where a payload goes: paths.payload_file's layout under the responses folder."""
        layout = Path(paths.payload_file(a.experiment, SOURCE, a.participant, a.task, root=""))
        return settings.responses_dir / layout.relative_to(raw_root)

    def recover() -> None:
        """Record payloads written before a crash that the database does not know of yet."""
        for a in state.unsubmitted():
            path = out_path(a)
            if path.is_file():
                parts = validate_payload(path.read_bytes())
                passed, checks = check_submission(parts["raw_data"], settings.thresholds)
                state.submit(a.aid, lambda p=path: str(p), passed, checks)
                log.info("recovered payload %s (passed=%s)", path, passed)

    def refuse(request: Request, err: Refusal, page: bool = False) -> Response:
        """Log the refusal (control characters of client input escaped) and answer it."""
        path, message = (s.encode("unicode_escape").decode() for s in (request.url.path, err.message))
        log.warning("%s %s %s from %s: %s", err.status, request.method, path, _client(request), message)
        if page:
            return _page("Sorry", html.escape(err.message), err.status)
        return JSONResponse({"error": err.message}, status_code=err.status)

    def param(request: Request, name: str, pattern: re.Pattern, required: bool = True) -> str | None:
        value = request.query_params.get(name)
        if value is None or value == "":
            if required:
                raise Refusal(400, f"missing parameter {name}")
            return None
        if not pattern.fullmatch(value):
            raise Refusal(400, f"invalid parameter {name}")
        return value

    async def start(request: Request) -> Response:
        """Hand out a task and send the participant to the experiment page."""
        try:
            pid = param(request, "PROLIFIC_PID", ID_PATTERN, required=False)
            study = param(request, "STUDY_ID", ID_PATTERN, required=False)
            session = param(request, "SESSION_ID", ID_PATTERN, required=False)
        except Refusal as err:
            return refuse(request, err, page=True)
        source = "prolific" if pid else "local"
        if not pid:
            cookie = request.cookies.get(COOKIE, "")
            pid = cookie if ID_PATTERN.fullmatch(cookie) and cookie.startswith("local-") else None
            pid = pid or f"local-{secrets.token_hex(8)}"
        try:
            assignment = await run_in_threadpool(
                state.assign, pid, source, study, session, order, settings.reservation_minutes * 60
            )
        except Refusal as err:
            log.warning("refused returning participant %s from %s", pid, _client(request))
            return _page(
                "Thank you for your interest",
                "Our records show that you have already taken part in this study. Each person can "
                "take part only once, so we cannot show you another task. Please return the study "
                "on Prolific (or close this window). Thank you!",
                err.status,
            )
        if assignment is None:
            return _page(
                "No task available",
                "All tasks of this study are taken at the moment. Please return the study "
                "(or try again later). Thank you for your interest!",
                503,
            )
        log.info("assigned %s to %s (%s)", assignment.task_id, pid, source)
        flags = "".join(f"&{f}" for f in ("ni", "nd", "fast") if f in request.query_params)
        response = RedirectResponse(f"/task?aid={assignment.aid}{flags}", status_code=303)
        if source == "local":
            response.set_cookie(COOKIE, pid, max_age=365 * 86400, httponly=True, samesite="lax")
        return response

    async def task_page(request: Request) -> Response:
        return FileResponse(ui_root / "index.html", media_type="text/html")

    async def page_file(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in PAGE_FILES:
            return refuse(request, Refusal(404, "not found"))
        return FileResponse(ui_root / PAGE_FILES[name])

    async def experiment_file(request: Request) -> Response:
        """A file of an experiment folder that the page loads; nothing else is served."""
        rel = request.path_params["path"]
        match = EXPERIMENT_FILE.match(rel)
        name = match and (match["exp"] or match["demo"] or match["inst"])
        if not match or name not in experiments:
            return refuse(request, Refusal(404, f"not an experiment file: {rel}"))
        path = (experiments_root / rel).resolve()
        if not path.is_relative_to(experiments_root):
            return refuse(request, Refusal(403, f"outside the experiment folders: {rel}"))
        if not path.is_file():
            return refuse(request, Refusal(404, f"no such file: {rel}"))
        return FileResponse(path, headers={"Cache-Control": "private, max-age=3600"})

    async def assignment_info(request: Request) -> Response:
        """What the page needs to build its timeline: the task's and the practice's index.json."""
        try:
            aid = param(request, "aid", AID_PATTERN)
            a = await run_in_threadpool(state.get, aid)
            if a is None:
                raise Refusal(404, "unknown assignment")
            if a.submitted_at is not None:
                raise Refusal(409, "this task was already submitted")
        except Refusal as err:
            return refuse(request, err)
        base = f"/experiments/{a.experiment}"
        return JSONResponse({
            "experiment": a.experiment,
            "task": a.task,
            "task_id": a.task_id,
            "index_url": f"{base}/task_{a.task}/index.json",
            "demo_index_url": f"/experiments/demo_{a.experiment}/index.json",
            "instructions": [f"{base}/instructions/{p}" for p in instructions[a.experiment]],
        })  # fmt: skip

    async def read_body(request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > settings.max_payload_bytes):
            raise Refusal(413, f"payload larger than {settings.max_payload_bytes} bytes")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > settings.max_payload_bytes:
                raise Refusal(413, f"payload larger than {settings.max_payload_bytes} bytes")
        return bytes(body)

    async def submit(request: Request) -> Response:
        """Validate, store (atomically, never overwriting) and check one payload."""
        try:
            aid = param(request, "aid", AID_PATTERN)
            body = await read_body(request)
            parts = validate_payload(body)
            a = await run_in_threadpool(state.get, aid)
            if a is None:
                raise Refusal(403, "no such assignment")
            check_payload_task(parts, a, n_trials[(a.experiment, a.task)])
            passed, checks = await run_in_threadpool(check_submission, parts["raw_data"], settings.thresholds)
            target = out_path(a)

            def write() -> str:
                if target.exists():
                    raise Refusal(409, "a payload of this participant and task is already stored")
                with atomic_path(target) as tmp:
                    tmp.write_bytes(body)
                return str(target)

            await run_in_threadpool(state.submit, aid, write, passed, checks)
        except Refusal as err:
            return refuse(request, err)
        log.info("stored %s (%s, passed=%s)", target, a.task_id, passed)
        return JSONResponse({"status": "stored", "redirect": settings.completion_url or "/done"})

    async def done(request: Request) -> Response:
        return _page("Thank you!", "Your responses have been saved. You can close this window now.")

    def authorised(request: Request) -> bool:
        given = request.query_params.get("token") or request.headers.get("authorization", "").removeprefix("Bearer ")
        return hmac.compare_digest(given.encode(), settings.status_token.encode())

    def status_table() -> dict[str, Any]:
        table = {name: {k: {"handed_out": 0, "open": 0, "submitted": 0, "passed": 0} for k in tasks}
                 for name, tasks in experiments.items()}  # fmt: skip
        for experiment, task, handed, open_, submitted, passed in state.counts():
            table.setdefault(experiment, {})[task] = {
                "handed_out": handed, "open": open_ or 0, "submitted": submitted or 0, "passed": passed or 0,
            }  # fmt: skip
        return table

    async def status(request: Request) -> Response:
        if not authorised(request):
            return refuse(request, Refusal(401, "status needs the token"))
        table = await run_in_threadpool(status_table)
        if request.url.path.startswith("/api/"):
            return JSONResponse({"experiments": table})
        rows = "".join(
            f"<tr><td>{html.escape(e)}</td><td>{k}</td><td>{c['handed_out']}</td><td>{c['open']}</td>"
            f"<td>{c['submitted']}</td><td>{c['passed']}</td></tr>"
            for e, tasks in table.items() for k, c in sorted(tasks.items())
        )  # fmt: skip
        done_tasks = sum(c["passed"] > 0 for tasks in table.values() for c in tasks.values())
        n_tasks = sum(len(tasks) for tasks in table.values())
        return HTMLResponse(
            "<!doctype html><html><head><meta charset='utf-8'><title>Study status</title>"
            "<style>td,th{padding:2px 10px;text-align:right}</style></head><body>"
            f"<h2>Study status</h2><p>{done_tasks} of {n_tasks} tasks have a passing response.</p>"
            "<table><tr><th>experiment</th><th>task</th><th>handed out</th><th>open</th>"
            f"<th>submitted</th><th>passed</th></tr>{rows}</table></body></html>"
        )

    routes = [
        Route("/", start),
        Route("/task", task_page),
        Route("/done", done),
        Route("/api/assignment", assignment_info),
        Route("/api/submit", submit, methods=["POST"]),
        Route("/api/status", status),
        Route("/status", status),
        Route("/experiments/{path:path}", experiment_file),
        Route("/{name:path}", page_file),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        yield
        state.close()

    def guard(request: Request) -> Response | None:
        """Refuse path traversal in the path or any parameter, and too many requests per address."""
        values = [request.url.path, *request.query_params.keys(), *request.query_params.values()]
        raw = request.scope.get("raw_path", b"").decode("latin-1").lower()
        if any(TRAVERSAL.search(v) for v in values) or "%2e%2e" in raw or "%5c" in raw or "%00" in raw:
            return refuse(request, Refusal(400, "path traversal"))
        kind = "file" if request.url.path.startswith(("/experiments/", "/lib/")) or request.url.path.endswith((".js", ".css")) else "api"
        if not limiter.allow(_client(request), kind):
            response = refuse(request, Refusal(429, "too many requests; slow down"))
            response.headers["Retry-After"] = str(int(settings.rate_window_s))
            return response
        return None

    app = Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(Guard, check=guard)])

    recover()
    app.state.state = state
    app.state.settings = settings
    return app


# Command line


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """`serve` and its flags (flags left out take the config's `server` values)."""
    parser = argparse.ArgumentParser(prog="unitpsych", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the experiment server")
    serve.add_argument("--experiments", default=paths.experiments_dir(), help="the experiments folder")
    serve.add_argument("--responses", default=f"{paths.responses_dir()}/raw",
                       help="where payloads go (<responses>/<experiment>/local/)")  # fmt: skip
    serve.add_argument("--configfile", help="a config YAML whose `server` and `responses.checks` to use")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--state", help="SQLite state file")
    serve.add_argument("--experiment", action="append", dest="experiment_names",
                       help="hand out only this experiment (repeatable)")  # fmt: skip
    serve.add_argument("--completion-url", help="e.g. https://app.prolific.com/submissions/complete?cc=CODE")
    serve.add_argument("--status-token")
    serve.add_argument("--reservation-minutes", type=float)
    serve.add_argument("--max-payload-bytes", type=int)
    serve.add_argument("--log", help="log file (default: stderr)")
    return parser.parse_args(argv)


def settings_from_args(args: argparse.Namespace) -> tuple[Settings, str, int]:
    """Settings, host and port from the config (schema defaults) overridden by the flags."""
    config = load_config(args.configfile)
    server = dict(config["server"])
    overrides = {
        "host": args.host, "port": args.port, "state": args.state,
        "experiments": args.experiment_names, "completion_url": args.completion_url,
        "status_token": args.status_token, "reservation_minutes": args.reservation_minutes,
        "max_payload_bytes": args.max_payload_bytes,
    }  # fmt: skip
    server.update({k: v for k, v in overrides.items() if v is not None})
    settings = Settings.from_config(server, config["responses"]["checks"], args.experiments, args.responses)
    return settings, server["host"], server["port"]


def main(argv: Sequence[str] | None = None) -> None:
    """`unitpsych serve ...`: run the server with uvicorn until interrupted."""
    import uvicorn

    from unitpsych.io import setup_logging

    args = parse_args(argv)
    setup_logging(args.log)
    settings, host, port = settings_from_args(args)
    app = create_app(settings)
    log.info("serving %s on http://%s:%d/ (payloads to %s)", settings.experiments_dir, host, port,
             settings.responses_dir)  # fmt: skip
    # Our own log lines cover every refusal; uvicorn's access log would add a line per image.
    uvicorn.run(app, host=host, port=port, log_level="info", proxy_headers=True, access_log=False)


if __name__ == "__main__":
    main()

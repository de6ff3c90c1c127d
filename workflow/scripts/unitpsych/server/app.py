"""The experiment server (`unitpsych serve`): runs the 2-AFC experiments in a browser (protocol §7,
§8.1).

It serves the experiment page (`workflow/ui/`, jsPsych) and the files of the experiment folders
that the page loads, and nothing else. Each arriving participant (Prolific's PROLIFIC_PID,
STUDY_ID and SESSION_ID, or a generated id for local runs) gets the next task that still needs a
passing response; a task handed out is reserved for `reservation_minutes`. A participant takes
part once across all experiments, like the authors' bouncer. The payload the page posts
(`{main_data, raw_data, task_id}`, protocol §7.3) is validated at the door by the response
stage's own validation (responses.schema), written durably to
`<responses>/<experiment>/local/<participant>_task_<k>.json` (never overwritten) and checked with
the five exclusion checks (§8.2) at the thresholds recorded with the experiments: a task that
fails is handed out again. State (participants, assignments, check results) lives in SQLite, so a
restart loses nothing; unusable payload files found at start go to a quarantine folder. The
guarantees, and what an operator sees and can do: docs/server.md.

Run: `unitpsych serve --experiments results/experiments --responses results/responses/raw` (the
console command `make setup` installs into .venv/; `make serve` runs it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import hmac
import html
import json
import logging
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from unitpsych import paths, ui_layout
from unitpsych.io import atomic_path
from unitpsych.responses.schema import MESSAGE_CHARS, short
from unitpsych.server.config import (
    PAGE_FILES,
    UI_DIR,
    Settings,
    find_experiments,
    instruction_pages,
    load_config,
)
from unitpsych.server.guards import (
    AID_PATTERN,
    EXPERIMENT_FILE,
    ID_PATTERN,
    TRAVERSAL,
    Guard,
    RateLimiter,
    check_payload_task,
    check_submission,
    validate_payload,
)
from unitpsych.server.recovery import payload_folder, quarantine, sweep
from unitpsych.server.state import Assignment, Refusal, State

log = logging.getLogger("unitpsych.server")

SOURCE = "local"  # payloads of this server are the `local` response source
COOKIE = "unitpsych_participant"
COOKIE_ROUND = "cookie"  # marks the request that comes back after the cookie was set
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")  # trial images and instruction pages


def _page(title: str, text: str, status: int = 200) -> HTMLResponse:
    """A small HTML page for participants (refusal, thanks, no task left)."""
    body = (
        "<!doctype html><html lang='en'><head><meta "
        f"charset='utf-8'><title>{html.escape(title)}</title>"
        "<link rel='icon' href='data:,'><link rel='stylesheet' href='/style.css'></head><body><div "
        "class='imi-message'>"
        f"<h2>{html.escape(title)}</h2><p>{text}</p></div></body></html>"
    )
    return HTMLResponse(body, status_code=status)


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@dataclass
class Study:
    """What the handlers share: the settings, the experiments and their tasks, state, rate
    limits."""

    settings: Settings
    experiments: dict[str, list[int]]  # name -> task numbers
    n_trials: dict[tuple[str, int], int]  # (experiment, task) -> main trials
    order: list[tuple[str, int]]  # tasks in hand-out order
    instructions: dict[str, list[str]]  # experiment -> instruction page files
    state: State
    limiter: RateLimiter
    experiments_root: Path
    ui_root: Path
    thresholds: dict[str, Any]  # the checks the experiments were built with (recorded_checks)

    @classmethod
    def open(cls, settings: Settings) -> Study:
        """Find the experiments and their tasks, open the state database."""
        experiments = find_experiments(settings.experiments_dir, settings.experiments)
        n_trials = {
            (name, k): int(
                json.loads(
                    (
                        settings.experiments_dir / name / ui_layout.task_folder(k) / ui_layout.INDEX
                    ).read_text()
                )["n_trials"]
            )
            for name, tasks in experiments.items()
            for k in tasks
        }
        # Tasks in hand-out order: task 1 of every experiment, then task 2, ... (experiments fill
        # evenly).
        order = sorted(n_trials, key=lambda et: (et[1], list(experiments).index(et[0])))
        limiter = RateLimiter(
            settings.rate_window_s,
            {"api": settings.rate_requests, "file": settings.rate_file_requests},
        )
        return cls(
            settings,
            experiments,
            n_trials,
            order,
            {name: instruction_pages(settings.experiments_dir, name) for name in experiments},
            State(settings.state),
            limiter,
            settings.experiments_dir.resolve(),
            UI_DIR.resolve(),
            recorded_checks(settings),
        )

    def out_path(self, a: Assignment) -> Path:
        """Where a payload goes: paths.payload_file's layout under the responses folder."""
        folder = payload_folder(self.settings.responses_dir, a.experiment, SOURCE)
        return folder / Path(paths.payload_file(a.experiment, SOURCE, a.participant, a.task)).name

    def recover(self) -> None:
        """Clean up killed writes, quarantine unusable payload files (their tasks are handed out
        again), and record payloads written before a crash that the database does not know of."""
        root = self.settings.responses_dir
        for name in sweep(root, self.experiments, SOURCE):
            participant = name.rsplit("_task_", 1)[0]
            if self.state.reopen(participant, "payload file moved to quarantine"):
                log.warning("the task of %s is handed out again", participant)
        for a in self.state.unsubmitted():
            path = self.out_path(a)
            if not path.is_file():
                continue
            try:
                parts = validate_payload(path.read_bytes())
                check_payload_task(parts, a, self.n_trials[(a.experiment, a.task)])
            except Refusal as err:
                quarantine(path, root, a.experiment, SOURCE, err.message)
                continue
            passed, checks = check_submission(parts["raw_data"], self.thresholds)
            self.state.submit(a.aid, lambda p=path: str(p), passed, checks)
            log.info("recovered payload %s (passed=%s)", path, passed)

    def status_table(self) -> dict[str, Any]:
        """experiment -> task -> counts of handed out, open, submitted and passed assignments."""
        table = {
            name: {k: {"handed_out": 0, "open": 0, "submitted": 0, "passed": 0} for k in tasks}
            for name, tasks in self.experiments.items()
        }
        for experiment, task, handed, open_, submitted, passed in self.state.counts():
            table.setdefault(experiment, {})[task] = {
                "handed_out": handed,
                "open": open_ or 0,
                "submitted": submitted or 0,
                "passed": passed or 0,
            }
        return table


def recorded_checks(settings: Settings) -> dict[str, Any]:
    """The check thresholds recorded with the experiments (paths.experiment_checks), else the
    server's config; the response stage applies the same config's."""
    layout = Path(paths.experiment_checks(root=""))
    recorded = settings.experiments_dir / layout.relative_to(paths.experiments_dir(root=""))
    if recorded.is_file():
        log.info("check thresholds from %s (the config that built the experiments)", recorded)
        return dict(settings.thresholds, **json.loads(recorded.read_text()))
    log.warning(
        "no %s (built by `snakemake experiments`): the check thresholds of the server's config",
        recorded,
    )
    return dict(settings.thresholds)


def _study(request: Request) -> Study:
    """The study of the app that received the request."""
    return request.app.state.study


def refuse(request: Request, err: Refusal, page: bool = False) -> Response:
    """Log the refusal (control characters of client input escaped) and answer it."""
    path, message = (
        short(s.encode("unicode_escape").decode(), MESSAGE_CHARS)
        for s in (request.url.path, err.message)
    )
    log.warning("%s %s %s from %s: %s", err.status, request.method, path, _client(request), message)
    if page:
        return _page("Sorry", html.escape(err.message), err.status)
    return JSONResponse({"error": err.message}, status_code=err.status)


def param(request: Request, name: str, pattern: re.Pattern, required: bool = True) -> str | None:
    """A query parameter that must match `pattern` (Refusal 400 otherwise, or when missing)."""
    value = request.query_params.get(name)
    if value is None or value == "":
        if required:
            raise Refusal(400, f"missing parameter {name}")
        return None
    if not pattern.fullmatch(value):
        raise Refusal(400, f"invalid parameter {name}")
    return value


def participant_of(request: Request) -> tuple[str | None, str, str | None, str | None]:
    """(participant id or None, source, study id, session id): PROLIFIC_PID, else the local
    cookie; None for a request with neither (it gets a cookie, never a reservation)."""
    pid = param(request, "PROLIFIC_PID", ID_PATTERN, required=False)
    study_id = param(request, "STUDY_ID", ID_PATTERN, required=False)
    session = param(request, "SESSION_ID", ID_PATTERN, required=False)
    if pid:
        return pid, "prolific", study_id, session
    cookie = request.cookies.get(COOKIE, "")
    local = ID_PATTERN.fullmatch(cookie) and cookie.startswith("local-")
    return (cookie if local else None), "local", study_id, session


def cookie_round(request: Request) -> Response:
    """A visitor without an id: set the local cookie and come back; a client that does not keep
    it (a bot, cookies off) gets a page and no task."""
    if COOKIE_ROUND in request.query_params:
        return _page("Cookies needed", "Please allow cookies for this site and reload.", 400)
    query = "&".join(filter(None, (request.url.query, COOKIE_ROUND)))
    response = RedirectResponse(f"/?{query}", status_code=303)
    pid = f"local-{secrets.token_hex(8)}"
    response.set_cookie(COOKIE, pid, max_age=365 * 86400, httponly=True, samesite="lax")
    return response


REFUSAL_PAGES = {
    403: (
        "Thank you for your interest",
        "Our records show that you have already taken part in this study. Each person can "
        "take part only once, so we cannot show you another task. Please return the study "
        "on Prolific (or close this window). Thank you!",
    ),
    429: (
        "Too many open tasks",
        "Your network holds as many open tasks as it may. Please finish one first, or try "
        "again later. Thank you!",
    ),
}


async def start(request: Request) -> Response:
    """Hand out a task (to a request with a participant id) and send the participant to the
    experiment page."""
    study = _study(request)
    try:
        pid, source, study_id, session = participant_of(request)
    except Refusal as err:
        return refuse(request, err, page=True)
    if pid is None:
        return cookie_round(request)
    order, reservation_s = study.order, study.settings.reservation_minutes * 60
    try:
        assignment = await run_in_threadpool(
            study.state.assign,
            pid,
            source,
            study_id,
            session,
            order,
            reservation_s,
            _client(request),
            study.settings.max_open_per_address,
        )
    except Refusal as err:
        log.warning("refused %s from %s: %s", pid, _client(request), err.message)
        return _page(*REFUSAL_PAGES[err.status], err.status)
    if assignment is None:
        return _page(
            "No task available",
            "All tasks of this study are taken at the moment. Please return the study "
            "(or try again later). Thank you for your interest!",
            503,
        )
    log.info("assigned %s to %s (%s) from %s", assignment.task_id, pid, source, _client(request))
    flags = "".join(f"&{f}" for f in ("ni", "nd", "fast") if f in request.query_params)
    return RedirectResponse(f"/task?aid={assignment.aid}{flags}", status_code=303)


async def task_page(request: Request) -> Response:
    """The experiment page."""
    return FileResponse(_study(request).ui_root / "index.html", media_type="text/html")


async def page_file(request: Request) -> Response:
    """A file of the experiment page (script, style, jsPsych); nothing else of workflow/ui."""
    name = request.path_params["name"]
    if name not in PAGE_FILES:
        return refuse(request, Refusal(404, "not found"))
    return FileResponse(_study(request).ui_root / PAGE_FILES[name])


def served_kind(name: str) -> str | None:
    """What an experiment file is by its (resolved) name: a task's `index.json`, an image, or
    None (trials.csv, structure.json and any other private file, whatever links to it)."""
    name = name.rsplit("/", 1)[-1]
    if name == ui_layout.INDEX:
        return "index"
    return "image" if name.lower().endswith(IMAGE_SUFFIXES) else None


async def experiment_file(request: Request) -> Response:
    """A file of an experiment folder that the page loads; nothing else is served."""
    study = _study(request)
    rel = request.path_params["path"]
    match = EXPERIMENT_FILE.match(rel)
    name = match and (match["exp"] or match["demo"] or match["inst"])
    if not match or name not in study.experiments:
        return refuse(request, Refusal(404, f"not an experiment file: {rel}"))
    path = (study.experiments_root / rel).resolve()
    if not path.is_relative_to(study.experiments_root):
        return refuse(request, Refusal(403, f"outside the experiment folders: {rel}"))
    if served_kind(path.name) is None or served_kind(path.name) != served_kind(rel):
        return refuse(request, Refusal(403, f"not a file kind a trial needs: {rel}"))
    if not path.is_file():
        return refuse(request, Refusal(404, f"no such file: {rel}"))
    return FileResponse(path, headers={"Cache-Control": "private, max-age=3600"})


async def assignment_info(request: Request) -> Response:
    """What the page needs to build its timeline: the task's and the practice's index.json, the
    instruction pages and the trial-folder layout."""
    study = _study(request)
    try:
        aid = param(request, "aid", AID_PATTERN)
        a = await run_in_threadpool(study.state.get, aid)
        if a is None:
            raise Refusal(404, "unknown assignment")
        if a.submitted_at is not None:
            raise Refusal(409, "this task was already submitted")
    except Refusal as err:
        return refuse(request, err)
    base = f"/experiments/{a.experiment}"
    demo = f"/experiments/{ui_layout.demo_folder(a.experiment)}"
    return JSONResponse(
        {
            "experiment": a.experiment,
            "task": a.task,
            "task_id": a.task_id,
            "index_url": f"{base}/{ui_layout.task_folder(a.task)}/{ui_layout.INDEX}",
            "demo_index_url": f"{demo}/{ui_layout.INDEX}",
            "instructions": [
                f"{base}/{ui_layout.INSTRUCTIONS}/{p}" for p in study.instructions[a.experiment]
            ],
            "layout": ui_layout.page_layout(),
        }
    )


async def read_body(request: Request, max_bytes: int, timeout_s: float) -> bytes:
    """The request body, refused beyond `max_bytes` whatever its declared length (413) and when it
    takes longer than `timeout_s` to arrive (408)."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > max_bytes):
        raise Refusal(413, f"payload larger than {max_bytes} bytes")
    body = bytearray()
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in request.stream():
                body += chunk
                if len(body) > max_bytes:
                    raise Refusal(413, f"payload larger than {max_bytes} bytes")
    except TimeoutError as err:
        raise Refusal(408, f"payload did not arrive within {timeout_s:g} s") from err
    return bytes(body)


async def submit(request: Request) -> Response:
    """Validate, store (atomically, never overwriting) and check one payload."""
    study = _study(request)
    settings = study.settings
    try:
        aid = param(request, "aid", AID_PATTERN)
        body = await read_body(request, settings.max_payload_bytes, settings.body_timeout_s)
        parts = validate_payload(body)
        a = await run_in_threadpool(study.state.get, aid)
        if a is None:
            raise Refusal(403, "no such assignment")
        check_payload_task(parts, a, study.n_trials[(a.experiment, a.task)])
        passed, checks = await run_in_threadpool(
            check_submission, parts["raw_data"], study.thresholds
        )
        target = study.out_path(a)

        def write() -> str:
            if target.exists():
                raise Refusal(409, "a payload of this participant and task is already stored")
            with atomic_path(target, durable=True) as tmp:
                tmp.write_bytes(body)
            return str(target)

        await run_in_threadpool(study.state.submit, aid, write, passed, checks)
    except Refusal as err:
        return refuse(request, err)
    log.info("stored %s (%s, passed=%s)", target, a.task_id, passed)
    return JSONResponse({"status": "stored", "redirect": settings.completion_url or "/done"})


async def done(request: Request) -> Response:
    """The thank-you page after a submission (without a completion URL)."""
    return _page("Thank you!", "Your responses have been saved. You can close this window now.")


def authorised(request: Request) -> bool:
    """Whether the request carries the status token (parameter or bearer header)."""
    given = request.query_params.get("token") or request.headers.get(
        "authorization", ""
    ).removeprefix("Bearer ")
    return hmac.compare_digest(given.encode(), _study(request).settings.status_token.encode())


async def status(request: Request) -> Response:
    """The study's progress per task, as JSON (/api/status) or a page (/status); needs the token."""
    if not authorised(request):
        return refuse(request, Refusal(401, "status needs the token"))
    table = await run_in_threadpool(_study(request).status_table)
    if request.url.path.startswith("/api/"):
        return JSONResponse({"experiments": table})
    rows = "".join(
        f"<tr><td>{html.escape(e)}</td><td>{k}</td><td>{c['handed_out']}</td><td>{c['open']}</td>"
        f"<td>{c['submitted']}</td><td>{c['passed']}</td></tr>"
        for e, tasks in table.items()
        for k, c in sorted(tasks.items())
    )
    done_tasks = sum(c["passed"] > 0 for tasks in table.values() for c in tasks.values())
    n_tasks = sum(len(tasks) for tasks in table.values())
    return HTMLResponse(
        "<!doctype html><html><head><meta charset='utf-8'><title>Study status</title>"
        "<style>td,th{padding:2px 10px;text-align:right}</style></head><body>"
        f"<h2>Study status</h2><p>{done_tasks} of {n_tasks} tasks have a passing response.</p>"
        "<table><tr><th>experiment</th><th>task</th><th>handed out</th><th>open</th>"
        f"<th>submitted</th><th>passed</th></tr>{rows}</table></body></html>"
    )


def guard(request: Request) -> Response | None:
    """Refuse path traversal in the path or any parameter, and too many requests per address."""
    # The decoded path (where a raw backslash shows as itself), the raw path decoded once more
    # (%2e%2e, %5c, %00), and every parameter.
    raw = unquote(request.scope.get("raw_path", b"").decode("latin-1"))
    values = [request.scope["path"], raw, *request.query_params.keys()]
    if any(TRAVERSAL.search(v) for v in [*values, *request.query_params.values()]):
        return refuse(request, Refusal(400, "path traversal"))
    kind = (
        "file"
        if request.url.path.startswith(("/experiments/", "/lib/", "/browser/"))
        or request.url.path.endswith((".js", ".css"))
        else "api"
    )
    study = _study(request)
    if not study.limiter.allow(_client(request), kind):
        response = refuse(request, Refusal(429, "too many requests; slow down"))
        response.headers["Retry-After"] = str(int(study.settings.rate_window_s))
        return response
    return None


@contextlib.asynccontextmanager
async def lifespan(app: Starlette):
    """Close the state database when the server stops."""
    yield
    app.state.study.state.close()


ROUTES = [
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


def browser_routes(settings: Settings) -> list[Mount]:
    """The unit browser's static site at /browser/ (results/browser, built by `snakemake
    browser`), when its folder exists."""
    folder = settings.browser_dir
    if folder is None or not folder.is_dir():
        return []
    return [Mount("/browser", app=StaticFiles(directory=folder, html=True), name="browser")]


def create_app(settings: Settings) -> Starlette:
    """The Starlette app: start page, the experiment page, experiment files, submit and status,
    and the unit browser's pages where it was built."""
    study = Study.open(settings)
    routes = [*ROUTES[:-1], *browser_routes(settings), ROUTES[-1]]  # before the page catch-all
    app = Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(Guard, check=guard)])
    study.recover()
    app.state.study = study
    app.state.state = study.state
    app.state.settings = settings
    return app


# Command line (`unitpsych serve`, parsed by unitpsych.cli)


def settings_from_args(args: argparse.Namespace) -> tuple[Settings, str, int]:
    """Settings, host and port from the config (schema defaults) overridden by the flags."""
    config = load_config(args.configfile)
    server = dict(config["server"])
    overrides = {
        "host": args.host,
        "port": args.port,
        "state": args.state,
        "experiments": args.experiment_names,
        "completion_url": args.completion_url,
        "status_token": args.status_token,
        "reservation_minutes": args.reservation_minutes,
        "max_payload_bytes": args.max_payload_bytes,
    }
    server.update({k: v for k, v in overrides.items() if v is not None})
    settings = Settings.from_config(
        server, config["responses"]["checks"], args.experiments, args.responses
    )
    settings = dataclasses.replace(settings, browser_dir=Path(args.browser))
    return settings, server["host"], server["port"]


def serve(args: argparse.Namespace) -> None:
    """`unitpsych serve ...`: run the server with uvicorn until interrupted."""
    import uvicorn

    from unitpsych.io import setup_logging

    setup_logging(args.log)
    settings, host, port = settings_from_args(args)
    app = create_app(settings)
    log.info(
        "serving %s on http://%s:%d/ (payloads to %s)",
        settings.experiments_dir,
        host,
        port,
        settings.responses_dir,
    )
    # Our own log lines cover every refusal; uvicorn's access log would add a line per image.
    uvicorn.run(app, host=host, port=port, log_level="info", proxy_headers=True, access_log=False)

"""The experiment server: task hand-out, single participation, payload storage and checks, bad
input,
restarts and a small load test against 127.0.0.1 (issue 12)."""

from __future__ import annotations

import dataclasses
import json
import logging
import socket
import sqlite3
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from ui_experiment import build_experiment
from unitpsych import paths
from unitpsych.cli import parse_args
from unitpsych.responses.payloads import TRIAL_TYPE
from unitpsych.server.app import Settings, create_app, load_config, settings_from_args

N_TRIALS = 10  # enough main trials for the row-variability check (5 per button row)
TOKEN = "status-secret"


def make_payload(
    experiment: str, task: int, *, trial_ms: float = 12000, catch=(3,), n_trials: int = N_TRIALS
) -> bytes:
    """A payload in the UI's format whose rows pass the five checks (trial_ms=1000: too fast)."""
    rows: list[dict] = []
    clock = 0.0

    def add(trial_type: str, ms: float, **fields) -> None:
        nonlocal clock
        clock += ms
        rows.append(
            {
                "trial_type": trial_type,
                "trial_index": len(rows),
                "time_elapsed": clock,
                "internal_node_id": f"0.0-{len(rows)}.0",
                **fields,
            }
        )

    def two_afc(
        folder: str, trial: int, button: int, demo: bool, catch_trial: bool = False
    ) -> dict:
        base = f"http://127.0.0.1/experiments/{folder}/trials/trial_{trial}"
        return {
            "rt": 2500.5,
            "button_pressed": button,
            "switched_queries": button < 3,
            "confidence": button % 3 + 1,
            "choice": "b",
            "correct": True,
            "min_query": f"{base}/queries/min.png",
            "max_query": f"{base}/queries/max.png",
            "min_references": [f"{base}/references/min_{j}.png" for j in range(8, -1, -1)],
            "max_references": [f"{base}/references/max_{j}.png" for j in range(8, -1, -1)],
            "catch_trial": catch_trial,
            "is_demo": demo,
        }

    for trial_type, ms in [
        ("browser-check", 50),
        ("preload", 500),
        ("instructions", 3000),
        ("instructions", 20000),
        ("fullscreen", 2000),
        ("call-function", 5),
    ]:
        add(trial_type, ms)
    for trial in (1, 2):
        add(TRIAL_TYPE, 4000, **two_afc(f"demo_{experiment}", trial, 0, True))
    add("instructions", 1500)
    for trial in range(1, n_trials + 1):
        add(
            TRIAL_TYPE,
            trial_ms,
            **two_afc(f"{experiment}/task_{task}", trial, trial % 6, False, trial in catch),
        )
    add("survey-text", 5000, response={"feedback": ""})
    add("instructions", 1000)
    main = [r for r in rows if r["trial_type"] == TRIAL_TYPE]
    return json.dumps(
        {
            "main_data": json.dumps(main),
            "raw_data": json.dumps(rows),
            "task_id": f"{experiment}-{task}",
        }
    ).encode()


@pytest.fixture
def study(tmp_path):
    """Two hand-made experiments (2 tasks and 1 task of 10 trials) and the server's folders."""
    build_experiment(
        tmp_path / "experiments", "toy_natural", n_tasks=2, n_trials=N_TRIALS, images=False
    )
    build_experiment(
        tmp_path / "experiments", "toy_synthetic", n_tasks=1, n_trials=N_TRIALS, images=False
    )
    return tmp_path


def settings(root: Path, **changes) -> Settings:
    """The schema's defaults for the server and the checks, on the test folders."""
    config = load_config()
    server = dict(
        config["server"],
        state=str(root / "state.sqlite"),
        status_token=TOKEN,
        completion_url="https://app.prolific.com/submissions/complete?cc=C0DE",
    )
    rate = dict(server["rate_limit"])
    for key in ("requests", "file_requests", "window_s"):
        if key in changes:
            rate[key] = changes.pop(key)
    server.update(changes, rate_limit=rate)
    return Settings.from_config(
        server, config["responses"]["checks"], root / "experiments", root / "raw"
    )


def client(root: Path, **changes) -> TestClient:
    return TestClient(create_app(settings(root, **changes)), follow_redirects=False)


def arrive(c: TestClient, pid: str | None = None) -> str:
    """A participant arrives; returns the assignment id of the task handed out."""
    query = f"/?PROLIFIC_PID={pid}&STUDY_ID=study1&SESSION_ID=s{pid}" if pid else "/"
    r = c.get(query)
    if r.status_code == 303 and r.headers["location"].startswith("/?"):  # the cookie round
        r = c.get(r.headers["location"])
    assert r.status_code == 303, r.text
    return r.headers["location"].split("aid=")[1].split("&")[0]


def task_of(c: TestClient, aid: str) -> str:
    return c.get(f"/api/assignment?aid={aid}").json()["task_id"]


def payload_files(root: Path) -> list[Path]:
    return sorted(p for p in (root / "raw").rglob("*") if p.is_file())


def status(c: TestClient) -> dict:
    return c.get(f"/api/status?token={TOKEN}").json()["experiments"]


def test_tasks_are_handed_out_in_order_and_reserved(study):
    c = client(study)
    aids = [arrive(c, f"p{i}") for i in range(3)]
    # Task 1 of every experiment first, then task 2: the experiments fill evenly.
    assert [task_of(c, a) for a in aids] == ["toy_natural-1", "toy_synthetic-1", "toy_natural-2"]
    r = c.get("/?PROLIFIC_PID=p3")
    assert r.status_code == 503 and "No task available" in r.text
    assert arrive(c, "p0") == aids[0]  # a reload before submitting: the same task
    info = c.get(f"/api/assignment?aid={aids[0]}").json()
    assert info["index_url"] == "/experiments/toy_natural/task_1/index.json"
    assert info["demo_index_url"] == "/experiments/demo_toy_natural/index.json"
    assert info["instructions"] == [
        f"/experiments/toy_natural/instructions/{n}.jpg" for n in range(1, 13)
    ]
    assert c.get(info["index_url"]).json()["task_name"] == "toy_natural/task_1"
    # the page fills the layout's templates into the files a task folder holds (images=False here)
    layout, task = info["layout"], info["index_url"].rsplit("/", 1)[0]
    trial = layout["trial"].format(trial=1)
    query, reference = (
        layout["query"].format(side="max"),
        layout["reference"].format(side="min", index=8),
    )
    assert (
        f"{task}/{trial}/{query}"
        == "/experiments/toy_natural/task_1/trials/trial_1/queries/max.png"
    )
    assert reference == "references/min_8.png"


def test_reservation_times_out_and_the_task_goes_to_the_next_participant(study):
    c = client(study, reservation_minutes=0.05, experiments=["toy_synthetic"])  # 3 s
    first = arrive(c, "slow")
    assert c.get("/?PROLIFIC_PID=other").status_code == 503
    time.sleep(3.2)
    second = arrive(c, "other")
    assert task_of(c, second) == task_of(c, first) == "toy_synthetic-1"
    assert c.get("/?PROLIFIC_PID=slow").status_code == 403  # time ran out: no second try
    # The late payload of the first participant is still kept: it is real data.
    assert (
        c.post(f"/api/submit?aid={first}", content=make_payload("toy_synthetic", 1)).status_code
        == 200
    )


def test_a_passing_payload_is_stored_and_its_task_is_done(study):
    c = client(study, experiments=["toy_synthetic"])
    aid = arrive(c, "5f0c0ffee0000000000000a1")
    body = make_payload("toy_synthetic", 1)
    r = c.post(f"/api/submit?aid={aid}", content=body)
    assert r.status_code == 200
    assert r.json()["redirect"] == "https://app.prolific.com/submissions/complete?cc=C0DE"
    path = Path(
        paths.payload_file("toy_synthetic", "local", "5f0c0ffee0000000000000a1", 1, root="")
    )
    stored = study / "raw" / path.relative_to("responses/raw")
    assert stored.read_bytes() == body
    assert status(c)["toy_synthetic"]["1"] == {
        "handed_out": 1,
        "open": 0,
        "submitted": 1,
        "passed": 1,
    }
    assert c.get("/?PROLIFIC_PID=next").status_code == 503  # the only task has its passing response
    # One participation across all experiments: a polite refusal page.
    r = c.get("/?PROLIFIC_PID=5f0c0ffee0000000000000a1")
    assert r.status_code == 403 and "already taken part" in r.text
    assert c.get(f"/api/assignment?aid={aid}").status_code == 409


def test_a_failing_payload_is_stored_and_its_task_handed_out_again(study):
    c = client(study, experiments=["toy_synthetic"])
    aid = arrive(c, "hasty")
    assert (
        c.post(
            f"/api/submit?aid={aid}", content=make_payload("toy_synthetic", 1, trial_ms=1000)
        ).status_code
        == 200
    )
    assert len(payload_files(study)) == 1
    assert status(c)["toy_synthetic"]["1"]["passed"] == 0
    assert task_of(c, arrive(c, "careful")) == "toy_synthetic-1"
    db = sqlite3.connect(study / "state.sqlite")
    (checks,) = db.execute("SELECT checks FROM assignments WHERE participant = 'hasty'").fetchone()
    assert json.loads(checks)["failed"] == ["total_response_time"]


def test_a_payload_whose_checks_cannot_run_is_kept_as_not_passing(study, caplog):
    c = client(study, experiments=["toy_synthetic"])
    c.app.state.study.thresholds.clear()  # run_checks raises: thresholds missing
    aid = arrive(c, "kept")
    assert (
        c.post(f"/api/submit?aid={aid}", content=make_payload("toy_synthetic", 1)).status_code
        == 200
    )
    assert len(payload_files(study)) == 1 and status(c)["toy_synthetic"]["1"]["passed"] == 0
    assert "the checks failed to run" in caplog.text


def test_payloads_of_the_test_only_fast_mode_never_pass(study):
    c = client(study, experiments=["toy_synthetic"])
    aid = arrive(c, "robot")
    payload = json.loads(make_payload("toy_synthetic", 1))
    raw = [dict(row, test_fast=True) for row in json.loads(payload["raw_data"])]
    payload["raw_data"] = json.dumps(raw)
    assert c.post(f"/api/submit?aid={aid}", content=json.dumps(payload)).status_code == 200
    assert status(c)["toy_synthetic"]["1"]["passed"] == 0


@pytest.mark.parametrize("flag", ["nd", "ni"])
def test_payloads_without_practice_or_instructions_never_pass(study, flag):
    c = client(study, experiments=["toy_natural"])
    aid = arrive(c, f"skipper{flag}")
    payload = json.loads(make_payload("toy_natural", 1))
    raw = json.loads(payload["raw_data"])
    if flag == "nd":  # the page's `nd` flag: no practice block
        raw = [r for r in raw if not r.get("is_demo")]
    else:  # `ni`: no welcome and instruction pages
        raw = [r for r in raw if not (r["trial_type"] == "instructions" and r["trial_index"] < 5)]
    payload["raw_data"] = json.dumps(raw)
    payload["main_data"] = json.dumps([r for r in raw if r["trial_type"] == TRIAL_TYPE])
    assert c.post(f"/api/submit?aid={aid}", content=json.dumps(payload)).status_code == 200
    (checks,) = (
        sqlite3.connect(study / "state.sqlite").execute("SELECT checks FROM assignments").fetchone()
    )
    assert json.loads(checks)["failed"] == ["demo_trials" if flag == "nd" else "instruction_time"]
    assert task_of(c, arrive(c, "next")) == "toy_natural-1"


def test_local_participants_get_an_id_and_are_refused_on_return(study):
    c = client(study)
    aid = arrive(c)
    pid = c.cookies["unitpsych_participant"]
    assert pid.startswith("local-")
    assert arrive(c) == aid  # same browser, same open task
    assert (
        c.post(
            f"/api/submit?aid={aid}", content=make_payload(*task_of(c, aid).rsplit("-", 1))
        ).status_code
        == 200
    )
    assert (study / "raw" / "toy_natural" / "local" / f"{pid}_task_1.json").is_file()
    assert c.get("/").status_code == 403


def test_the_hand_made_experiment_folder_is_one_the_ui_loads(tmp_path):
    from unitpsych.experiments.check import check_experiment_folder

    exp = build_experiment(tmp_path, "toy_natural", n_tasks=2, n_trials=4, catch_trials=(3,))
    counts = check_experiment_folder(exp)
    assert counts == {"n_tasks": 2, "n_trials": 8, "n_catch_trials": 2, "n_demo_trials": 2}


def test_the_page_and_its_libraries_are_served(study):
    c = client(study)
    assert "task.js" in c.get("/task?aid=x").text
    for name in ("task.js", "style.css", "plugin-2afc-image-confidence-response.js"):
        assert c.get(f"/{name}").status_code == 200
    if (Path(__file__).parents[2] / "workflow/ui/node_modules/jspsych").is_dir():
        assert "initJsPsych" in c.get("/lib/jspsych.js").text


def test_the_unit_browser_is_served_when_built(study):
    browser = study / "browser"
    page = browser / "site" / paths.browser_model_page("toy")
    page.parent.mkdir(parents=True)
    page.write_text("<p>toy units</p>")
    (browser / "index.html").write_text("<p>models</p>")
    c = TestClient(create_app(dataclasses.replace(settings(study), browser_dir=browser)))
    assert c.get("/browser/").text == "<p>models</p>"
    assert c.get("/browser/site/models/toy/index.html").text == "<p>toy units</p>"
    assert c.get("/browser/site/models/other/index.html").status_code == 404
    assert c.get("/browser/site/%2e%2e/%2e%2e/state.sqlite").status_code == 400
    assert "task.js" in c.get("/task?aid=x").text  # the page catch-all still answers
    unbuilt = client(study)  # no browser folder: no /browser/ route, the page catch-all answers
    assert unbuilt.get("/browser/index.html").status_code == 404
    assert parse_args(["serve"]).browser == str(Path(paths.browser_index()).parent)


def _post(c, aid, body, **kw):
    return c.post(f"/api/submit?aid={aid}", content=body, **kw)


BAD_INPUT = {
    # name: (request, expected status, log fragment)
    "traversal in the path": (
        lambda c, a: c.get("/experiments/%2e%2e/%2e%2e/pyproject.toml"),
        400,
        "path traversal",
    ),
    "traversal in the path (raw)": (
        lambda c, a: c.get("/experiments/toy_natural/..%5c..%5cstate.sqlite"),
        400,
        "path traversal",
    ),
    "traversal in a Prolific id": (
        lambda c, a: c.get("/?PROLIFIC_PID=..%2F..%2Fetc%2Fpasswd"),
        400,
        "path traversal",
    ),
    "traversal in the assignment id": (
        lambda c, a: _post(c, "..%2F..%2Fx", make_payload("toy_natural", 1)),
        400,
        "path traversal",
    ),
    "bad participant id": (
        lambda c, a: c.get("/?PROLIFIC_PID=%3Cscript%3E"),
        400,
        "invalid parameter PROLIFIC_PID",
    ),
    "oversized payload": (
        lambda c, a: _post(c, a, b"{" + b" " * 200_000 + b"}"),
        413,
        "payload larger",
    ),
    "oversized payload, chunked": (
        lambda c, a: _post(c, a, iter([b" " * 80_000] * 3)),
        413,
        "payload larger",
    ),
    "malformed JSON": (
        lambda c, a: _post(c, a, b'{"main_data": "[", '),
        400,
        "malformed or truncated JSON",
    ),
    "malformed inner JSON": (
        lambda c, a: _post(
            c,
            a,
            json.dumps({"main_data": "[{", "raw_data": "[]", "task_id": "toy_natural-1"}).encode(),
        ),
        400,
        "main_data: malformed or truncated JSON",
    ),
    "payload not in the schema": (
        lambda c, a: _post(
            c, a, json.dumps({"main_data": "[]", "task_id": "toy_natural-1"}).encode()
        ),
        422,
        "'raw_data' is a required property",
    ),
    "row not in the schema": (
        lambda c, a: _post(
            c,
            a,
            make_payload("toy_natural", 1).replace(b'\\"confidence\\": 1', b'\\"confidence\\": 7'),
        ),
        422,
        "main_data[",
    ),
    "NaN rt (the response stage rejects it)": (
        lambda c, a: _post(
            c, a, make_payload("toy_natural", 1).replace(b'\\"rt\\": 2500.5', b'\\"rt\\": NaN')
        ),
        422,
        "non-finite number NaN",
    ),
    "correct disagrees with choice": (
        lambda c, a: _post(
            c,
            a,
            make_payload("toy_natural", 1).replace(
                b'\\"choice\\": \\"b\\"', b'\\"choice\\": \\"a\\"', 1
            ),
        ),
        422,
        "correct disagrees with choice",
    ),
    "a raw backslash in the path": (
        lambda c, a: c.get("/experiments/toy_natural\\..\\trials.csv"),
        400,
        "path traversal",
    ),
    "task not assigned": (
        lambda c, a: _post(c, a, make_payload("toy_natural", 2)),
        403,
        "assigned 'toy_natural-1'",
    ),
    "unknown assignment": (
        lambda c, a: _post(c, "A" * 24, make_payload("toy_natural", 1)),
        403,
        "no such assignment",
    ),
    "file outside the experiment layout": (
        lambda c, a: c.get("/experiments/toy_natural/trials.csv"),
        404,
        "not an experiment file",
    ),
    "file of another folder": (lambda c, a: c.get("/pyproject.toml"), 404, "not found"),
    "library internals": (
        lambda c, a: c.get("/node_modules/jspsych/package.json"),
        404,
        "not found",
    ),
    "status without token": (lambda c, a: c.get("/api/status"), 401, "status needs the token"),
    "status page with a wrong token": (
        lambda c, a: c.get("/status?token=guess"),
        401,
        "status needs the token",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_gets_a_clear_status_writes_nothing_and_is_logged(study, caplog, case):
    request, expected, message = BAD_INPUT[case]
    c = client(study, max_payload_bytes=100_000)
    aid = arrive(c, "p1")
    with caplog.at_level(logging.WARNING, logger="unitpsych.server"):
        r = request(c, aid)
    assert r.status_code == expected, r.text
    assert message in caplog.text
    assert payload_files(study) == []
    assert status(c)["toy_natural"]["1"]["submitted"] == 0


def test_a_duplicate_submission_gets_409_and_the_first_copy_is_kept(study, caplog):
    c = client(study)
    aid = arrive(c, "p1")
    first = make_payload("toy_natural", 1)
    assert _post(c, aid, first).status_code == 200
    with caplog.at_level(logging.WARNING, logger="unitpsych.server"):
        r = _post(c, aid, make_payload("toy_natural", 1, trial_ms=1000))
    assert r.status_code == 409 and "already submitted" in caplog.text
    (stored,) = payload_files(study)
    assert stored.read_bytes() == first
    # A file already on disk (e.g. copied in by hand) is never overwritten either.
    other = arrive(c, "p2")
    target = study / "raw" / "toy_synthetic" / "local" / "p2_task_1.json"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"{}")
    assert _post(c, other, make_payload("toy_synthetic", 1)).status_code == 409
    assert target.read_bytes() == b"{}"


def test_a_link_out_of_the_experiment_folders_is_refused(study):
    secret = study / "secret.png"
    secret.write_bytes(b"not for participants")
    link = (
        study
        / "experiments"
        / "toy_natural"
        / "task_1"
        / "trials"
        / "trial_1"
        / "queries"
        / "min.png"
    )
    link.parent.mkdir(parents=True)
    link.symlink_to(secret)
    r = client(study).get("/experiments/toy_natural/task_1/trials/trial_1/queries/min.png")
    assert r.status_code == 403 and b"not for participants" not in r.content


def test_too_many_requests_from_one_address_get_429(study, caplog):
    c = client(study, requests=5, file_requests=3, window_s=60)
    codes = [c.get("/api/assignment?aid=" + "A" * 20).status_code for _ in range(7)]
    assert codes == [404] * 5 + [429] * 2
    files = [c.get("/experiments/toy_natural/task_1/index.json").status_code for _ in range(4)]
    assert files == [200] * 3 + [429]
    assert "too many requests" in caplog.text
    other = TestClient(c.app, client=("10.1.2.3", 4000), follow_redirects=False)  # another address
    assert other.get("/experiments/toy_natural/task_1/index.json").status_code == 200


def test_a_restart_in_the_middle_of_a_study_loses_nothing(study):
    c = client(study)
    open_aid = arrive(c, "open")
    done_aid = arrive(c, "done")
    body = make_payload("toy_synthetic", 1)
    assert _post(c, done_aid, body).status_code == 200
    before = status(c)
    c.app.state.state.close()

    c = client(study)  # a new server process on the same state and folders
    assert status(c) == before
    assert arrive(c, "open") == open_aid
    assert _post(c, done_aid, body).status_code == 409
    assert c.get("/?PROLIFIC_PID=done").status_code == 403
    assert task_of(c, arrive(c, "new")) == "toy_natural-2"
    assert _post(c, open_aid, make_payload("toy_natural", 1)).status_code == 200
    assert len(payload_files(study)) == 2


def test_a_payload_written_just_before_a_crash_is_recorded_at_restart(study):
    c = client(study)
    aid = arrive(c, "crash")
    target = study / "raw" / "toy_natural" / "local" / "crash_task_1.json"
    target.parent.mkdir(parents=True)
    target.write_bytes(make_payload("toy_natural", 1))  # written, but the database never heard
    c.app.state.state.close()
    c = client(study)
    assert status(c)["toy_natural"]["1"]["passed"] == 1
    assert _post(c, aid, make_payload("toy_natural", 1)).status_code == 409


def test_the_command_line_takes_schema_defaults_and_flags(tmp_path):
    args = parse_args(
        [
            "serve",
            "--experiments",
            str(tmp_path),
            "--port",
            "9001",
            "--experiment",
            "a",
            "--completion-url",
            "https://app.prolific.com/submissions/complete?cc=X",
        ]
    )
    s, host, port = settings_from_args(args)
    assert (host, port) == ("127.0.0.1", 9001)
    assert s.experiments == ("a",) and s.completion_url.endswith("cc=X")
    assert s.reservation_minutes == 120 and s.rate_requests == 60
    assert s.thresholds["total_response_time_min_s"] == 135
    assert str(s.responses_dir) == "results/responses/raw" and str(s.experiments_dir) == str(
        tmp_path
    )
    defaults = parse_args(["serve"])
    assert defaults.experiments == paths.experiments_dir()


def test_missing_experiments_fail_with_a_clear_message(study):
    with pytest.raises(FileNotFoundError, match="toy_missing"):
        create_app(settings(study, experiments=["toy_missing"]))
    (study / "experiments" / "demo_toy_natural" / "index.json").unlink()
    with pytest.raises(FileNotFoundError, match="practice folder"):
        create_app(settings(study, experiments=["toy_natural"]))


def _serve(app, port: int):
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    return server, thread


def test_load_50_concurrent_participants_on_127_0_0_1(tmp_path):
    """50 participants at once: each gets its own task, and every payload is on disk exactly
    once."""
    for name in ("load_natural", "load_synthetic"):
        build_experiment(
            tmp_path / "experiments", name, n_tasks=25, n_trials=N_TRIALS, images=False
        )
    app = create_app(
        settings(tmp_path, requests=1000, file_requests=1000, max_open_per_address=100)
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server, thread = _serve(app, port)
    base = f"http://127.0.0.1:{port}"

    def participant(i: int) -> tuple[str, int]:
        pid = f"load{i:03d}"
        with urllib.request.urlopen(f"{base}/?PROLIFIC_PID={pid}", timeout=30) as r:
            aid = r.url.split("aid=")[1]
        with urllib.request.urlopen(f"{base}/api/assignment?aid={aid}", timeout=30) as r:
            info = json.loads(r.read())
        with urllib.request.urlopen(base + info["index_url"], timeout=30) as r:
            assert json.loads(r.read())["n_trials"] == N_TRIALS
        experiment, task = info["task_id"].rsplit("-", 1)
        request = urllib.request.Request(
            f"{base}/api/submit?aid={aid}", method="POST", data=make_payload(experiment, int(task))
        )
        with urllib.request.urlopen(request, timeout=30) as r:
            return info["task_id"], r.status

    try:
        with ThreadPoolExecutor(max_workers=50) as pool:
            results = list(pool.map(participant, range(50), timeout=120))
    finally:
        server.should_exit = True
        thread.join(timeout=20)
    assert all(code == 200 for _, code in results)
    assert len({task for task, _ in results}) == 50  # no task handed out twice
    files = payload_files(tmp_path)
    assert len(files) == 50 and len({f.name for f in files}) == 50
    assert not [f for f in (tmp_path / "raw").rglob(".*")]  # no temporary files left
    db = sqlite3.connect(tmp_path / "state.sqlite")
    assert db.execute(
        "SELECT COUNT(*), SUM(passed) FROM assignments WHERE submitted_at IS NOT NULL"
    ).fetchone() == (50, 50)


# Issue 25: what the door accepts the response stage keeps; bad files, hoarders, measuring


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_refused_payload_never_marks_its_task_done(study):
    c = client(study, experiments=["toy_synthetic"])
    aid = arrive(c, "p1")
    nan = make_payload("toy_synthetic", 1).replace(b'\\"rt\\": 2500.5', b'\\"rt\\": NaN', 1)
    assert _post(c, aid, nan).status_code == 422
    assert payload_files(study) == [] and status(c)["toy_synthetic"]["1"]["submitted"] == 0
    assert _post(c, aid, make_payload("toy_synthetic", 1)).status_code == 200  # then a good one
    assert status(c)["toy_synthetic"]["1"]["passed"] == 1


def test_a_long_bad_value_is_quoted_by_a_short_prefix_only(study, caplog):
    c = client(study, experiments=["toy_synthetic"])
    aid = arrive(c, "p1")
    huge = "x" * 1_000_000
    body = make_payload("toy_synthetic", 1).replace(
        b'\\"rt\\": 2500.5', f'\\"rt\\": \\"{huge}\\"'.encode(), 1
    )
    with caplog.at_level(logging.INFO, logger="unitpsych.server"):
        r = _post(c, aid, body)
    assert r.status_code == 422 and len(r.content) < 1000
    assert "1000000 characters" in r.text and len(caplog.text) < 2000


def test_a_bad_payload_file_at_start_is_quarantined_and_the_task_handed_out_again(study, caplog):
    c = client(study, experiments=["toy_synthetic"])
    aid = arrive(c, "p1")
    assert _post(c, aid, make_payload("toy_synthetic", 1)).status_code == 200
    stored = payload_files(study)[0]
    stored.write_bytes(stored.read_bytes()[:100])  # truncated (a disk that lied about a write)
    open_task = study / "raw" / "toy_synthetic" / "local" / "p3_task_1.json"
    leftover = open_task.with_name(".p4_task_1.json.abcd1234.json")
    leftover.write_bytes(b"{")
    c.app.state.study.state.close()
    with caplog.at_level(logging.INFO, logger="unitpsych.server"):
        c2 = client(study, experiments=["toy_synthetic"])
    quarantined = list((study / "raw" / "_quarantine").rglob("*.json"))
    assert [q.name for q in quarantined] == ["p1_task_1.json"]
    assert "quarantine" in caplog.text and str(quarantined[0]) in caplog.text
    assert not leftover.exists() and list(open_task.parent.iterdir()) == []
    assert status(c2)["toy_synthetic"]["1"]["passed"] == 0  # handed out again


def test_an_empty_payload_file_of_an_open_task_does_not_keep_the_server_down(study, caplog):
    c = client(study, experiments=["toy_synthetic"])
    arrive(c, "p1")
    target = study / "raw" / "toy_synthetic" / "local" / "p1_task_1.json"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"")
    c.app.state.study.state.close()
    with caplog.at_level(logging.INFO, logger="unitpsych.server"):
        c2 = client(study, experiments=["toy_synthetic"])
    assert not target.exists() and "malformed or truncated JSON" in caplog.text
    assert c2.get("/style.css").status_code == 200


def test_links_to_private_files_are_not_served(study):
    folder = study / "experiments" / "toy_natural"
    queries = folder / "task_1" / "trials" / "trial_1" / "queries"
    queries.mkdir(parents=True)
    (queries / "min.png").symlink_to(folder / "trials.csv")
    (queries / "max.png").symlink_to(folder / "structure.json")
    c = client(study)
    for side in ("min", "max"):
        r = c.get(f"/experiments/toy_natural/task_1/trials/trial_1/queries/{side}.png")
        assert r.status_code == 403 and "not a file kind a trial needs" in r.text


def test_a_stalled_body_gets_408(study):
    server, thread = _serve(create_app(settings(study, body_timeout_s=1)), port := _free_port())
    try:
        c = client(study)
        aid = arrive(c, "p1")
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            head = f"POST /api/submit?aid={aid} HTTP/1.1\r\nHost: x\r\nContent-Length: 5000"
            s.sendall(f"{head}\r\n\r\n{{".encode())  # 1 byte of 5000, then silence
            start = time.monotonic()
            answer = s.recv(1000)
        assert b" 408 " in answer.split(b"\r\n")[0] and time.monotonic() - start < 5
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert payload_files(study) == []


def test_a_bare_request_reserves_nothing_and_one_address_holds_few_tasks(study):
    c = TestClient(create_app(settings(study, max_open_per_address=2)), follow_redirects=False)
    bare = TestClient(c.app, follow_redirects=False)
    for _ in range(5):  # a client without cookies: a page, never a task
        r = bare.get("/")
        bare.cookies.clear()
        r = bare.get(r.headers["location"])
        assert r.status_code == 400 and "Cookies needed" in r.text
    assert sum(t["open"] for e in status(c).values() for t in e.values()) == 0
    arrive(c, "p1"), arrive(c, "p2")
    r = c.get("/?PROLIFIC_PID=p3")
    assert r.status_code == 429 and "Too many open tasks" in r.text
    assert sum(t["open"] for e in status(c).values() for t in e.values()) == 2


def test_the_server_applies_the_thresholds_recorded_with_the_experiments(study, caplog):
    # 3 trials and 50 s: fails the paper's row and time checks, passes the recorded ones
    body = make_payload("toy_synthetic", 1, n_trials=N_TRIALS, trial_ms=2000)
    c = client(study, experiments=["toy_synthetic"])
    assert _post(c, arrive(c, "p1"), body).status_code == 200
    assert status(c)["toy_synthetic"]["1"]["passed"] == 0
    c.app.state.study.state.close()
    (study / "state.sqlite").unlink()
    (study / "experiments" / "checks.json").write_text(
        json.dumps({"total_response_time_min_s": 24, "row_variability_min": 1})
    )
    for p in payload_files(study):
        p.unlink()
    with caplog.at_level(logging.INFO, logger="unitpsych.server"):
        c = client(study, experiments=["toy_synthetic"])
    assert "checks.json (the config that built the experiments)" in caplog.text
    assert _post(c, arrive(c, "p2"), body).status_code == 200
    assert status(c)["toy_synthetic"]["1"]["passed"] == 1


def test_record_checks_writes_what_the_server_reads(study, monkeypatch):
    import importlib.util
    import sys
    from types import SimpleNamespace

    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # setup_logging replaces it
    monkeypatch.setattr(logging.getLogger("unitpsych"), "handlers", [])

    spec = importlib.util.spec_from_file_location(
        "record_checks", Path(paths.__file__).parents[1] / "record_checks.py"
    )
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    demo = dict(load_config()["responses"]["checks"], row_variability_min=1)
    out = study / paths.experiment_checks(root="")
    script.main(
        SimpleNamespace(
            params=SimpleNamespace(checks=demo), output=[str(out)], log=[str(study / "log")]
        )
    )
    c = client(study, experiments=["toy_synthetic"])
    assert c.app.state.study.thresholds == demo

"""Benchmark the experiment server on 127.0.0.1 (goal: a burst of 50 participants submitting at
once answered within 2 s each, and one participant's preload of a paper-sized task, about 1,000
images, within 5 s).

Builds a hand-made experiment (tests/ui_experiment.py: 50 tasks of 10 trials without images for
the submissions; one task of 45 trials and 5 practice trials with 224 px images for the preload),
starts the server (uvicorn in a thread) and times, in the same run:
(a) 50 participants arriving and submitting one after another (baseline);
(b) 50 participants arriving and submitting at the same time (50 threads);
(c) one participant's preload: every image of a 45-trial task and its practice block, over 6
    connections as a browser opens them;
(d) baseline for (c): reading the same files straight from disk;
(e) the hoarding defence: a burst of 200 arrivals from one address (100 bare, 100 with made-up
    PROLIFIC_PIDs, 20 threads) against a server with the default cap of open reservations per
    address; the reservations it got and the seconds per arrival.
Prints seconds, requests per second, the slowest submission and the ratios to the goals and
baselines. Every loop is bounded; the server stops at the end.

Usage: .venv/bin/python tests/benchmarks/server.py [--participants 50] [--smoke]
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [
    str(REPO / "workflow" / "scripts"),
    str(REPO / "tests"),
    str(REPO / "tests" / "unit"),
]

import uvicorn  # noqa: E402
from test_server import N_TRIALS, make_payload, settings  # noqa: E402

from ui_experiment import build_experiment  # noqa: E402
from unitpsych.server.app import create_app  # noqa: E402

N_PARTICIPANTS = 50
GOAL_SUBMIT_S, GOAL_PRELOAD_S = 2.0, 5.0


@contextmanager
def serving(app, log_level: str) -> Iterator[int]:
    """Run `app` under uvicorn on a free loopback port in a thread; yields the port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level=log_level, access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def participant(base: str, pid: str) -> float:
    """Arrive, read the assignment and its index.json, submit; return the submission's seconds."""
    with urllib.request.urlopen(f"{base}/?PROLIFIC_PID={pid}", timeout=60) as r:
        aid = r.url.split("aid=")[1]
    with urllib.request.urlopen(f"{base}/api/assignment?aid={aid}", timeout=60) as r:
        info = json.loads(r.read())
    with urllib.request.urlopen(base + info["index_url"], timeout=60) as r:
        index = json.loads(r.read())
    experiment, task = info["task_id"].rsplit("-", 1)
    body = make_payload(
        experiment, int(task), n_trials=index["n_trials"], catch=index["catch_trial_idxs"]
    )
    start = time.perf_counter()
    request = urllib.request.Request(f"{base}/api/submit?aid={aid}", data=body, method="POST")
    with urllib.request.urlopen(request, timeout=60) as r:
        assert r.status == 200
    return time.perf_counter() - start


def fetch(port: int, urls: list[str]) -> list[int]:
    """GET every URL over one keep-alive connection; the sizes of the bodies."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    sizes = []
    for url in urls:
        connection.request("GET", url)
        response = connection.getresponse()
        assert response.status == 200, (url, response.status)
        sizes.append(len(response.read()))
    connection.close()
    return sizes


def main() -> None:
    """Time the submissions and the preload; print them against the goals."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--participants", type=int, default=N_PARTICIPANTS)
    ap.add_argument(
        "--smoke",
        action="store_true",
        help="tiny sizes, seconds: CI runs it so a broken benchmark fails (test_benchmarks.py)",
    )
    args = ap.parse_args()
    n = 5 if args.smoke else args.participants
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name in ("bench_natural", "bench_synthetic"):
            build_experiment(root / "experiments", name, n_tasks=n, n_trials=N_TRIALS, images=False)
        build_experiment(
            root / "experiments",
            "preload_natural",
            n_tasks=1,
            n_trials=45,
            catch_trials=(4, 11, 19, 30, 41),
            n_demo=5,
        )
        app = create_app(
            settings(root, requests=100_000, file_requests=100_000, max_open_per_address=1000)
        )
        with serving(app, "warning") as port:
            base = f"http://127.0.0.1:{port}"
            start = time.perf_counter()
            sequential = [participant(base, f"seq{i:03d}") for i in range(n)]
            t_seq = time.perf_counter() - start
            start = time.perf_counter()
            with ThreadPoolExecutor(n) as pool:
                burst = list(
                    pool.map(
                        lambda i: participant(base, f"burst{i:03d}"),
                        range(n),
                        timeout=300,
                    )
                )
            t_burst = time.perf_counter() - start

            images = sorted((root / "experiments").glob("*preload_natural/**/*.png"))
            urls = [
                f"/experiments/{p.relative_to(root / 'experiments').as_posix()}" for p in images
            ]
            start = time.perf_counter()
            with ThreadPoolExecutor(6) as pool:  # 6 keep-alive connections, as a browser opens
                chunks = list(pool.map(lambda i: fetch(port, urls[i::6]), range(6), timeout=300))
            sizes = [n for i in range(len(urls)) for n in [chunks[i % 6][i // 6]]]
            t_preload = time.perf_counter() - start
            start = time.perf_counter()
            on_disk = [len(p.read_bytes()) for p in images]
            t_disk = time.perf_counter() - start
            assert sizes == on_disk
        n_files = len(list((root / "raw").rglob("*.json")))
    assert n_files == 2 * n, n_files
    print(
        f"(a) {n} participants one after another: {t_seq:.2f} s "
        f"({4 * n / t_seq:.0f} requests/s), slowest submission {max(sequential):.3f} s"
    )
    print(
        f"(b) {n} participants at once: {t_burst:.2f} s ({t_burst / t_seq:.2f}x of "
        "(a)), "
        f"slowest submission {max(burst):.3f} s ({max(burst) / GOAL_SUBMIT_S:.2f}x of the "
        f"{GOAL_SUBMIT_S:.0f} s goal)"
    )
    print(
        f"(c) preload of {len(urls)} images: {t_preload:.2f} s ({len(urls) / t_preload:.0f} "
        "images/s, "
        f"{t_preload / GOAL_PRELOAD_S:.2f}x of the {GOAL_PRELOAD_S:.0f} s goal)"
    )
    print(f"(d) the same files from disk: {t_disk:.3f} s ((c) is {t_preload / t_disk:.0f}x of it)")
    print(f"payload files on disk: {n_files} (each exactly once)")
    hoarding()


def hoarding(n: int = 200) -> None:
    """(e) A burst of arrivals from one address against the default per-address cap."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build_experiment(
            root / "experiments", "hoard_natural", n_tasks=100, n_trials=N_TRIALS, images=False
        )
        app = create_app(settings(root, requests=100_000, file_requests=100_000))
        cap = app.state.settings.max_open_per_address
        with serving(app, "error") as port:

            def arrive(i: int) -> int:
                query = f"/?PROLIFIC_PID=hoard{i:04d}" if i % 2 else "/"
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                connection.request("GET", query)
                status = connection.getresponse().status
                connection.close()
                return status

            start = time.perf_counter()
            with ThreadPoolExecutor(20) as pool:
                statuses = list(pool.map(arrive, range(n), timeout=300))
            elapsed = time.perf_counter() - start
            table = app.state.study.status_table()
    held = sum(c["open"] for tasks in table.values() for c in tasks.values())
    assert held <= cap, (held, cap)
    print(
        f"(e) hoarding burst of {n} arrivals from one address: {held} of 100 tasks reserved "
        f"(cap {cap}), {statuses.count(429)} refused 429, {statuses.count(303)} redirected; "
        f"{elapsed:.2f} s ({1000 * elapsed / n:.1f} ms an arrival)"
    )


if __name__ == "__main__":
    main()

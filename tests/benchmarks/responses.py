"""Benchmark the responses stage: parse and check 130,000 responses into responses.parquet
(goal: under 30 s on 2 cores; the size of the released IMI data set).

Generates paper-sized payloads with the simulated participants (not timed): 21 experiments of
63 tasks × (40 + 5 catch) trials and 5 practice trials, two participants a task (one attentive,
careless ones on top), about 50 rows a payload. Then times, as the workflow runs them:
(a) `parse_responses` of every experiment (payloads read, validated, checked, joined to
    trials.csv, written to Parquet) on 2 worker processes, and the merge into responses.parquet;
(b) the same parsing on 1 process;
(c) baseline: only reading and decoding every payload's JSON (json.loads twice), in the same run;
(d) the released-table path: as many rows in the IMI layout (the test fixture of tests/data,
    replicated with new participant ids) zipped, read, parsed and merged.
Prints seconds, rows per second, the ratio to the goal and to the baseline, and the peak resident
memory of the parsing processes and of the merge.

Usage: .venv/bin/python tests/benchmarks/responses.py [--rows 130000] [--workers 2] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "workflow" / "scripts"))

from unitpsych.responses.merge import merge  # noqa: E402
from unitpsych.responses.participants import simulate_experiment  # noqa: E402
from unitpsych.responses.payloads import (  # noqa: E402
    ExperimentInfo,
    list_payload_files,
    parse_payloads,
    report_of,
)

GOAL_S = 30.0
SCHEMA = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
PROPS = SCHEMA["properties"]
CHECKS = {
    k: v["default"] for k, v in PROPS["responses"]["properties"]["checks"]["properties"].items()
}
SIMULATION = {k: v["default"] for k, v in PROPS["simulation"]["properties"].items()}
ALPHA = 0.8  # sensitivity of the simulated participants (p = σ(α·d))


def trials_table(name: str, seed: int) -> pd.DataFrame:
    """A paper-sized trials.csv with a d per trial: 63 tasks × 45 trials, 5 practice trials."""
    import numpy as np

    rng = np.random.default_rng(seed)
    rows = []
    for task in range(64):
        for trial in range(1, (5 if task == 0 else 45) + 1):
            catch = task > 0 and trial % 9 == 0
            rows.append(
                {
                    "experiment": name,
                    "task": task,
                    "trial": trial,
                    "is_demo": task == 0,
                    "catch_trial": catch,
                    "mode": "catch_trial" if catch else "natural",
                    "unit": f"layer{trial % 7}__{trial}",
                    "layer": f"layer{trial % 7}",
                    "channel": trial,
                    "batch": task % 11,
                    "d": 1.0 if catch or task == 0 else float(rng.normal(0.3, 0.3)),
                }
            )
    return pd.DataFrame(rows)


def generate(root: Path, n_rows: int) -> list[str]:
    """Write payload folders until they hold at least n_rows 2-AFC rows; the experiment names."""
    names, rows = [], 0
    settings = SIMULATION | {"careless_fraction": 0.3}
    while rows < n_rows:
        name = f"model{len(names):02d}_natural"
        table = trials_table(name, len(names))
        folder = root / name
        (folder / "simulated").mkdir(parents=True)
        table.drop(columns="d").to_csv(folder / "trials.csv", index=False)
        for repeat in range(2):  # two rounds of participants a task
            people = simulate_experiment(name, table, settings | {"seed": repeat}, CHECKS, ALPHA)
            for person, payload in people:
                path = (
                    folder / "simulated" / f"r{repeat}{person.participant}_task_{person.task}.json"
                )
                path.write_text(json.dumps(payload))
                rows += len(json.loads(payload["main_data"]))
        names.append(name)
        print(f"  generated {name}: {rows} rows so far", flush=True)
    return names


def parse_one(args: tuple[str, str]) -> tuple[str, str, int]:
    """parse_responses for one experiment: (parquet path, report path, peak RSS in MB)."""
    root, name = args
    folder = Path(root) / name
    trials = pd.read_csv(folder / "trials.csv")
    exp = ExperimentInfo(name, name.rsplit("_", 1)[0], "natural")
    files = [("simulated", f) for f in list_payload_files(folder / "simulated")]
    parsed = parse_payloads(files, exp, trials, CHECKS)
    out = Path(root) / "parsed"
    out.mkdir(exist_ok=True)
    parsed.rows.to_parquet(out / f"{name}.parquet", index=False)
    report = out / f"{name}.json"
    report.write_text(json.dumps({"reports": [report_of("simulated", parsed)]}))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return str(out / f"{name}.parquet"), str(report), int(peak)


def merge_all(root: Path, outputs: list[tuple[str, str, int]]) -> dict:
    """The merge: concatenate, flag, and write responses.parquet; returns the summary."""
    tables = [pd.read_parquet(p) for p, _, _ in outputs]
    reports = [r for _, rep, _ in outputs for r in json.loads(Path(rep).read_text())["reports"]]
    responses, exclusions, _, summary = merge(tables, reports)
    responses.to_parquet(root / "responses.parquet", index=False)
    exclusions.to_csv(root / "exclusions.csv", index=False)
    return summary


def baseline(root: Path, names: list[str]) -> float:
    """Seconds to read and decode every payload (JSON twice), the floor of any parser."""
    start = time.perf_counter()
    for name in names:
        for path in list_payload_files(root / name / "simulated"):
            payload = json.loads(path.read_text())
            json.loads(payload["main_data"])
            json.loads(payload["raw_data"])
    return time.perf_counter() - start


def released(root: Path, n_rows: int) -> tuple[float, float, int]:
    """(wall s, CPU s, rows) of reading, parsing and merging a release of n_rows rows."""
    sys.path.insert(0, str(REPO / "tests" / "data"))
    from imi_release import make_archive, released_table

    from unitpsych.responses.imi import parse_released, read_released_table

    one = released_table()  # the real layout: 23 experiments x 63 tasks, ~107,000 rows
    copies = -(-n_rows // len(one))
    # more rows: each copy a further round of responses to every task (response_index shifted)
    step = int(one["response_index"].max()) + 1
    table = pd.concat(
        [one.assign(response_index=one["response_index"] + i * step) for i in range(copies)],
        ignore_index=True,
    )
    archive = root / "human_responses.zip"
    make_archive(archive, table)
    start, cpu = time.perf_counter(), time.process_time()
    parsed = parse_released(read_released_table(archive, "responses_all.csv"))
    responses, *_ = merge([parsed.rows], [report_of("imi", parsed)])
    responses.to_parquet(root / "imi.parquet", index=False)
    return time.perf_counter() - start, time.process_time() - cpu, len(table)


def main() -> None:
    """Generate, then time parsing with `workers` processes and with one, and the baseline."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=130_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="tiny sizes, seconds: CI runs it so a broken benchmark fails (test_benchmarks.py)",
    )
    args = parser.parse_args()
    if args.smoke:  # one experiment; (d) still parses the fixture's release once
        args.rows = 1_000
    with tempfile.TemporaryDirectory(prefix="bench_responses_") as tmp:
        root = Path(tmp)
        print(f"generating payloads for {args.rows} responses ...", flush=True)
        names = generate(root, args.rows)
        n_files = sum(len(list_payload_files(root / n / "simulated")) for n in names)
        base = baseline(root, names)

        start = time.perf_counter()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        with ProcessPoolExecutor(args.workers) as pool:
            outputs = list(pool.map(parse_one, [(tmp, n) for n in names]))
        parsed_s = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        parse_cpu = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
        merge_start, merge_cpu = time.perf_counter(), time.process_time()
        summary = merge_all(root, outputs)
        merge_s = time.perf_counter() - merge_start
        merge_cpu = time.process_time() - merge_cpu
        total = parsed_s + merge_s
        merge_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        start, serial_cpu = time.perf_counter(), time.process_time()
        for name in names:
            parse_one((tmp, name))
        serial_s = time.perf_counter() - start
        serial_cpu = time.process_time() - serial_cpu
        imi_s, imi_cpu, imi_rows = released(root, args.rows)

    rows = summary["rows"]
    assert rows["kept"] + rows["excluded"] + rows["rejected"] == rows["input"]
    print(
        f"\n{len(names)} experiments, {n_files} payload files, {rows['input']} responses "
        f"({rows['kept']} kept, {rows['excluded']} excluded, {rows['rejected']} rejected)"
    )
    print(
        f"(a) parse on {args.workers} processes + merge: {total:.1f} s "
        f"(parse {parsed_s:.1f} s, merge {merge_s:.1f} s), {rows['input'] / total:,.0f} rows/s; "
        f"goal {GOAL_S:.0f} s: {total / GOAL_S:.2f} of it"
    )
    print(
        f"    CPU time: parse {parse_cpu:.1f} s over {args.workers} processes, merge "
        f"{merge_cpu:.1f} s"
        f" (wall time exceeds CPU time / {args.workers} when the machine is shared)"
    )
    print(f"(b) parse on 1 process: {serial_s:.1f} s (CPU {serial_cpu:.1f} s)")
    print(f"(c) baseline, JSON decoding only: {base:.1f} s; (a)/(c) = {total / base:.1f}")
    print(f"(d) released table, {imi_rows} rows: {imi_s:.1f} s (CPU {imi_cpu:.1f} s)")
    print(
        f"peak RSS: parse worker {max(p for _, _, p in outputs)} MB, merge {merge_peak:.0f} MB, "
        f"whole run {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
    )


if __name__ == "__main__":
    main()

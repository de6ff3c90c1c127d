"""Benchmark Snakemake's own cost (the scheduler process, not the jobs) under each scheduler.

Runs the demo config to the stimulus index of its models without feature visualisations
(images, units, activation caches and every unit's natural exemplars: about 100 short jobs, the
kind that dominates the demo's job count) in a fresh folder, once per `--scheduler`, and samples
the process tree every 0.1 s: the Snakemake process's own CPU seconds, and the processes of the
ILP solver (CBC) it starts with their CPU seconds. Prints one line per scheduler.

Usage: .venv/bin/python tests/benchmarks/scheduler.py [--schedulers ilp greedy] [--targets all]
       [--workdir DIR] [--smoke] (one scheduler, the `units` target)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import yaml

REPO = Path(__file__).resolve().parents[2]


def targets(config: dict) -> list[str]:
    """The stimulus index of every demo model that has no feature visualisations."""
    return [
        f"results/{m}/stimuli/index.csv"
        for m, c in config["models"].items()
        if c.get("synthetic", True) is False
    ]


def run(scheduler: str, workdir: Path, goals: list[str] | None = None) -> dict:
    """One run; returns wall seconds, the Snakemake process's CPU seconds, solver runs and CPU."""
    config = REPO / "config" / "demo.yaml"
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(config),
        "--cores",
        "2",
        "--scheduler",
        scheduler,
        *(goals or targets(yaml.safe_load(config.read_text()))),
    ]
    start = time.perf_counter()
    proc = psutil.Popen(cmd, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    own = 0.0
    solver: dict[int, float] = {}
    while proc.poll() is None:
        try:
            t = proc.cpu_times()
            own = t.user + t.system
            for child in proc.children(recursive=True):
                if "cbc" in child.name().lower():
                    c = child.cpu_times()
                    solver[child.pid] = c.user + c.system
        except psutil.Error:
            pass
        time.sleep(0.1)
    if proc.returncode:
        raise SystemExit(f"snakemake failed ({proc.returncode}) with --scheduler {scheduler}")
    return {
        "wall": time.perf_counter() - start,
        "own_cpu": own,
        "solver_runs": len(solver),
        "solver_cpu": sum(solver.values()),
    }


def main() -> None:
    """Run each scheduler in a fresh folder and print its cost."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--schedulers", nargs="+", default=["ilp", "greedy"])
    ap.add_argument("--targets", nargs="*", help="instead of the default targets (e.g. all)")
    ap.add_argument("--workdir", help="run here and keep it (one scheduler), not in a temp folder")
    ap.add_argument(
        "--smoke",
        action="store_true",
        help="tiny sizes, seconds: CI runs it so a broken benchmark fails (test_benchmarks.py)",
    )
    args = ap.parse_args()
    if args.smoke:  # one scheduler, the `units` target
        args.schedulers, args.targets = args.schedulers[:1], args.targets or ["units"]
    for scheduler in args.schedulers:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(args.workdir or tmp)
            workdir.mkdir(parents=True, exist_ok=True)
            r = run(scheduler, workdir, args.targets)
        print(
            f"--scheduler {scheduler}: wall {r['wall']:.0f} s; Snakemake process "
            f"{r['own_cpu']:.1f} "
            f"CPU s; solver: {r['solver_runs']} runs seen, {r['solver_cpu']:.1f} CPU s",
            flush=True,
        )


if __name__ == "__main__":
    main()

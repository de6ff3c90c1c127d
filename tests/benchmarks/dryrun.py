"""Benchmark planning: `snakemake -n` on the paper config (goal: under 20 s).

Times three dry runs in a fresh working folder:
(a) nothing built yet (the per-unit jobs wait behind the `sample_units` checkpoint);
(b) after `snakemake units` (local, no weights, no ImageNet): the whole paper DAG, every unit's
    exemplars, feature visualisations and the 23 experiments;
(c) baseline: the same as (b) on the tiny test config, measured in the same run.
Prints seconds, planned job counts and the ratio to the 20 s goal.

Usage: .venv/bin/python tests/benchmarks/dryrun.py [--config config/config.yaml] [--repeats 1]
       [--smoke] (the tiny test config in place of the paper)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GOAL_S = 20.0


def snakemake(workdir: Path, config: Path, *args: str) -> tuple[float, str]:
    """Run snakemake in `workdir` with `config`; (seconds, merged output); raises on failure."""
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
        "1",
        *args,
    ]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    return seconds, proc.stdout + proc.stderr


def total_jobs(output: str) -> int:
    """The `total` row of the dry run's Job stats table."""
    rows = [line.split() for line in output.splitlines() if line.startswith("total")]
    return int(rows[-1][1]) if rows else 0


def dry_run(workdir: Path, config: Path, repeats: int) -> tuple[float, int]:
    """Best-of-`repeats` seconds of `snakemake -n --quiet rules` and its planned job count."""
    best, jobs = float("inf"), 0
    for _ in range(repeats):
        seconds, out = snakemake(workdir, config, "-n", "--quiet", "rules")
        best, jobs = min(best, seconds), total_jobs(out)
    return best, jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=REPO / "config" / "config.yaml")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="tiny sizes, seconds: CI runs it so a broken benchmark fails (test_benchmarks.py)",
    )
    args = parser.parse_args()
    if args.smoke:
        args.config = REPO / "tests" / "data" / "config.yaml"
    config, test_config = args.config.resolve(), REPO / "tests" / "data" / "config.yaml"
    with tempfile.TemporaryDirectory() as paper, tempfile.TemporaryDirectory() as tiny:
        fresh_s, fresh_jobs = dry_run(Path(paper), config, args.repeats)
        units_s, _ = snakemake(Path(paper), config, "units")
        full_s, full_jobs = dry_run(Path(paper), config, args.repeats)
        snakemake(Path(tiny), test_config, "units")
        base_s, base_jobs = dry_run(Path(tiny), test_config, args.repeats)
    print(f"paper config, nothing built:   {fresh_s:6.1f} s  {fresh_jobs:6d} jobs planned")
    print(
        f"paper config, units sampled:   {full_s:6.1f} s  {full_jobs:6d} jobs planned"
        f"  (sampling the units took {units_s:.1f} s)"
    )
    print(f"tiny test config (baseline):   {base_s:6.1f} s  {base_jobs:6d} jobs planned")
    worst = max(fresh_s, full_s)
    print(
        f"slowest paper dry run / goal ({GOAL_S:.0f} s): {worst / GOAL_S:.2f}"
        f"  -> {'OK' if worst < GOAL_S else 'TOO SLOW'}"
    )
    print(
        f"paper / tiny dry run: {full_s / base_s:.1f}x for {full_jobs / max(base_jobs, 1):.0f}x "
        "the jobs"
    )


if __name__ == "__main__":
    main()

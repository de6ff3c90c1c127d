"""Every benchmark in tests/benchmarks/ runs in its smoke mode (tiny sizes), so one that breaks
fails CI instead of rotting unseen. The numbers it prints are not checked: timings belong to
full-size runs on a quiet machine (docs/performance.md)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import REPO

BENCHMARKS = sorted((REPO / "tests" / "benchmarks").glob("*.py"))

pytestmark = pytest.mark.workflow


def test_every_benchmark_is_covered():
    assert len(BENCHMARKS) >= 10  # a moved folder must not leave this test with nothing to run


@pytest.mark.parametrize("script", BENCHMARKS, ids=lambda p: p.stem)
def test_benchmark_runs_in_smoke_mode(script, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO / "workflow" / "scripts"), PYTHONHASHSEED="0")
    proc = subprocess.run(
        [sys.executable, str(script), "--smoke"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        timeout=900,
    )
    assert proc.returncode == 0, f"{script.name} --smoke failed:\n{proc.stdout[-6000:]}"
    assert proc.stdout.strip(), f"{script.name} --smoke printed nothing"

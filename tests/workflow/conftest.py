"""Helpers for workflow tests: run Snakemake on a config in a temporary working directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]


def run_snakemake(workdir: Path, config: Path, *args: str, check: bool = True, timeout: int = 1500):
    """Run snakemake with `config` in `workdir`; returns the CompletedProcess (stdout+stderr
    merged)."""
    cmd = [
        *SNAKEMAKE,
        "--directory",
        str(workdir),
        "--configfile",
        str(config),
        "--cores",
        "2",
        *args,
    ]
    env = dict(os.environ, PYTHONHASHSEED="0")
    proc = subprocess.run(
        cmd,
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stdout[-6000:]}")
    return proc


def write_config(path: Path, cfg: dict) -> Path:
    """Write a config dict as YAML."""
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


@pytest.fixture(scope="session")
def test_config() -> dict:
    """The tiny test config as a dict."""
    return yaml.safe_load((REPO / "tests" / "data" / "config.yaml").read_text())

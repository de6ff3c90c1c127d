"""Read the jobs a Snakemake run planned or ran from its log, and compare result trees."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_HEADER = re.compile(r"^\s*(localrule|rule|localcheckpoint|checkpoint) ([A-Za-z_]\w*):\s*$")
_FIELD = re.compile(r"^\s*(output|jobid|wildcards|threads|resources): (.*)$")


@dataclass(frozen=True)
class LoggedJob:
    """One job block of a Snakemake log (`rule x:` / `localrule x:` and its fields)."""

    rule: str
    local: bool
    outputs: tuple[str, ...]
    jobid: str
    wildcards: str
    resources: str = ""


def parse_jobs(text: str) -> list[LoggedJob]:
    """Every job block in a Snakemake log, in order (group members included)."""
    jobs: list[LoggedJob] = []
    current: dict | None = None

    def close() -> None:
        if current is not None:
            jobs.append(
                LoggedJob(
                    current["rule"],
                    current["local"],
                    tuple(current.get("output", "").split(", ")) if current.get("output") else (),
                    current.get("jobid", ""),
                    current.get("wildcards", ""),
                    current.get("resources", ""),
                )
            )

    for line in text.splitlines():
        header = _HEADER.match(line)
        if header:
            close()
            current = {"rule": header.group(2), "local": header.group(1).startswith("local")}
            continue
        field = _FIELD.match(line)
        if current is not None and field and field.group(1) not in current:
            current[field.group(1)] = field.group(2).strip()
        elif current is not None and line.strip() and not line.startswith((" ", "\t")):
            close()
            current = None
    close()
    return jobs


def planned_rules(dry_run_output: str) -> dict[str, int]:
    """The job counts per rule from the `Job stats` table of `snakemake -n` output."""
    counts: dict[str, int] = {}
    lines = dry_run_output.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("Job stats:"):
            for row in lines[i + 3 :]:
                parts = row.split()
                if len(parts) != 2 or parts[0] == "total":
                    break
                counts[parts[0]] = int(parts[1])
            break
    return counts


BOOKKEEPING = ".snakemake_timestamp"  # Snakemake marks some directory outputs with this file


def files_under(root: Path) -> dict[str, bytes]:
    """Every result file below `root` (relative path -> content).

    Left out: Snakemake's `.snakemake_timestamp` files (and their rows in index files), which it
    puts into some directory outputs and not others, and hidden temporary folders (`.name.xyz`)
    that a killed atomic write leaves behind; a rerun never trusts those.
    """
    files = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if not path.is_file() or path.name == BOOKKEEPING:
            continue
        if any(part.startswith(".") for part in rel.parts[:-1]):
            continue
        data = path.read_bytes()
        if path.suffix == ".csv" and BOOKKEEPING.encode() in data:
            data = b"".join(
                line for line in data.splitlines(True) if BOOKKEEPING.encode() not in line
            )
        files[str(rel)] = data
    return files


def assert_same_activations(a: Path, b: Path) -> None:
    """Two activation caches hold the same units, images and values (float tolerance)."""
    import h5py

    with h5py.File(a) as fa, h5py.File(b) as fb:
        assert [u.decode() if isinstance(u, bytes) else u for u in fa["units"][()]] == [
            u.decode() if isinstance(u, bytes) else u for u in fb["units"][()]
        ]
        assert list(fa["images"][()]) == list(fb["images"][()])
        assert bool(fa.attrs["complete"]) and bool(fb.attrs["complete"])
        np.testing.assert_allclose(
            fa["activations"][()], fb["activations"][()], rtol=1e-5, atol=1e-6
        )

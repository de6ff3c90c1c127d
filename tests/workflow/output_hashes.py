"""Hashes of every result file of a tiny run, to show that a change of the code leaves outputs
alone.

`hash_results(workdir)` maps each file under `<workdir>/results/` (relative path) to its SHA-256,
leaving out the files that are not reproducible run to run (`NOT_REPRODUCIBLE`, each with its
reason). `tests/data/output_hashes.json` holds the manifests of runs at a known-good commit, one
per CPU platform: the same code and seed give the same bytes run after run on one machine, but
torch's float kernels round differently on other CPUs (an AMD EPYC with AVX-512 and the machine
of the first manifest disagree on the feature visualisations' optimisation and on the untrained
ViT's activations, and so on everything built from them). The test passes when a fresh run
matches the manifest of any recorded platform, and names the platform it compared with.

Record this machine's manifest (only at a known-good commit, or when outputs are meant to change,
and say why in the commit; other platforms' manifests are kept unless outputs are meant to change,
then delete them):

    UNITPSYCH_WRITE_HASHES=1 .venv/bin/pytest tests/workflow/test_output_hashes.py
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
from pathlib import Path

MANIFEST = Path(__file__).resolve().parents[1] / "data" / "output_hashes.json"
WRITE_ENV = "UNITPSYCH_WRITE_HASHES"

# The tiny config's default target: every stage and every figure it can make (88 jobs, 2-4 min on
# 2 cores). The figures are pinned (plot_figure.py drops the PDF's CreationDate; PNGs carry none).
TARGETS = ("all",)

# Files under results/ whose bytes differ between two runs of the same code, with the reason
# (regular expressions on the path relative to results/). Two runs of the base commit agreed on
# every one of their 2624 files, HDF5 caches, Parquet tables, PDFs and PNGs included, so none yet.
NOT_REPRODUCIBLE: dict[str, str] = {}


def reproducible(rel: str) -> bool:
    """Whether a results file (path relative to results/) is compared."""
    return not any(re.search(pattern, rel) for pattern in NOT_REPRODUCIBLE)


def sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def hash_results(workdir: Path) -> dict[str, str]:
    """results/<path> -> SHA-256 for every reproducible file of a run in `workdir`, sorted."""
    root = workdir / "results"
    files = sorted(p for p in root.rglob("*") if p.is_file())
    rels = {p.relative_to(root).as_posix(): p for p in files}
    return {rel: sha256(p) for rel, p in rels.items() if reproducible(rel)}


def differences(expected: dict[str, str], actual: dict[str, str]) -> list[str]:
    """One line per file that is missing, new or changed."""
    lines = [f"missing: {rel}" for rel in sorted(expected.keys() - actual.keys())]
    lines += [f"new:     {rel}" for rel in sorted(actual.keys() - expected.keys())]
    lines += [
        f"changed: {rel}"
        for rel in sorted(expected.keys() & actual.keys())
        if expected[rel] != actual[rel]
    ]
    return lines


def platform_label() -> str:
    """This machine's CPU model and the instruction set torch's kernels use, e.g. 'AMD EPYC /
    AVX512'."""
    import torch

    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = re.findall(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), flags=re.M)
        model = names[0].strip() if names else model
    return f"{model} / {torch.backends.cpu.get_cpu_capability()}"


def _platforms(path: Path) -> dict[str, dict[str, str]]:
    """Every recorded platform's hashes (label -> results/<path> -> SHA-256); none without a
    file."""
    if not path.exists():
        return {}
    manifest = json.loads(path.read_text())
    if manifest["targets"] != list(TARGETS):
        raise AssertionError(
            f"{path} was recorded for the targets {manifest['targets']}, the test asks for "
            f"{list(TARGETS)}: regenerate it ({WRITE_ENV}=1) at a known-good commit"
        )
    return manifest["platforms"]


def write_manifest(hashes: dict[str, str], path: Path = MANIFEST, label: str | None = None) -> None:
    """Record `hashes` as this platform's manifest, keeping the other platforms' ones."""
    platforms = _platforms(path) | {label or platform_label(): hashes}
    manifest = {
        "config": "tests/data/config.yaml",
        "targets": list(TARGETS),
        "platforms": dict(sorted(platforms.items())),
    }
    path.write_text(json.dumps(manifest, indent=1, sort_keys=False) + "\n")


def read_manifest(path: Path = MANIFEST) -> dict[str, dict[str, str]]:
    """The recorded hashes per platform (label -> results/<path> -> SHA-256)."""
    platforms = _platforms(path)
    if not platforms:
        raise AssertionError(f"{path} records no platform: write it ({WRITE_ENV}=1)")
    return platforms


def closest(platforms: dict[str, dict[str, str]], actual: dict[str, str]) -> tuple[str, list[str]]:
    """The recorded platform whose manifest differs from `actual` in the fewest files, and those."""
    diffs = {label: differences(hashes, actual) for label, hashes in platforms.items()}
    label = min(diffs, key=lambda k: len(diffs[k]))
    return label, diffs[label]

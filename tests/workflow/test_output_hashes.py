"""Outputs byte for byte: a tiny run's result files hash as the manifest recorded at a known-good
commit (tests/data/output_hashes.json; one manifest per CPU platform, see output_hashes.py), so
restructuring the code cannot change results unnoticed.

Record this platform's manifest at a known-good commit, or when outputs are meant to change (say
why in the commit):
`UNITPSYCH_WRITE_HASHES=1 .venv/bin/pytest tests/workflow/test_output_hashes.py`.
"""

from __future__ import annotations

import os

import pytest

from conftest import REPO, run_snakemake
from output_hashes import (
    MANIFEST,
    TARGETS,
    WRITE_ENV,
    closest,
    hash_results,
    platform_label,
    read_manifest,
    write_manifest,
)

pytestmark = pytest.mark.workflow
TINY = REPO / "tests" / "data" / "config.yaml"


def test_tiny_run_outputs_hash_as_recorded(tmp_path):
    run_snakemake(tmp_path, TINY, *TARGETS)
    actual = hash_results(tmp_path)
    assert len(actual) > 100, f"the tiny run wrote only {len(actual)} result files"
    if os.environ.get(WRITE_ENV):
        write_manifest(actual)
        pytest.skip(f"wrote {MANIFEST} ({len(actual)} files); unset {WRITE_ENV} to compare")
    label, diff = closest(read_manifest(), actual)
    assert not diff, (
        f"{len(diff)} result files differ from {MANIFEST.relative_to(REPO)}, platform {label!r} "
        f"(the closest of those recorded; this machine is {platform_label()!r}):\n"
        + "\n".join(diff)
    )

"""Atomic writes: nothing appears unless the block succeeds; permissions follow the umask."""

from __future__ import annotations

import os
import stat

import pytest

from unitpsych.io import atomic_dir, atomic_path, derive_seed, write_json


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.csv"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_atomic_outputs_are_readable_by_others(tmp_path):
    old = os.umask(0o022)
    try:
        write_json(tmp_path / "a.json", {"x": 1})
        with atomic_dir(tmp_path / "folder") as tmp:
            (tmp / "f.txt").write_text("ok")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "folder").stat().st_mode) == 0o755
    assert (tmp_path / "folder" / "f.txt").read_text() == "ok"


def test_atomic_dir_replaces_only_on_success(tmp_path):
    target = tmp_path / "d"
    with atomic_dir(target) as tmp:
        (tmp / "v1").write_text("1")
    with pytest.raises(ValueError):
        with atomic_dir(target) as tmp:
            (tmp / "v2").write_text("2")
            raise ValueError
    assert sorted(p.name for p in target.iterdir()) == ["v1"]
    assert [p.name for p in tmp_path.iterdir()] == ["d"]


def test_derived_seeds_depend_on_names_only():
    assert derive_seed(42, "resnet50") == derive_seed(42, "resnet50")
    assert (
        derive_seed(42, "resnet50") != derive_seed(42, "resnet50-l2") != derive_seed(1, "resnet50")
    )


def test_an_uncaught_error_of_a_rule_script_is_written_to_its_log(tmp_path):
    """Snakemake points at the log when a job fails: the traceback has to be there, not only on
    the scheduler's stderr."""
    import subprocess
    import sys
    from pathlib import Path

    log = tmp_path / "logs" / "rule.log"
    script = tmp_path / "script.py"
    script.write_text(
        "from unitpsych.io import setup_logging\n"
        f"setup_logging({str(log)!r}).info('started')\n"
        "raise ValueError('5 of 14 units are usable')\n"
    )
    scripts = Path(__file__).resolve().parents[2] / "workflow" / "scripts"
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(scripts)),
    )
    assert done.returncode == 1
    assert "ValueError: 5 of 14 units are usable" in done.stderr
    text = log.read_text()
    assert "started" in text and "the job failed" in text
    assert "ValueError: 5 of 14 units are usable" in text and "Traceback" in text


def test_a_durable_write_leaves_the_file_and_no_temporary(tmp_path):
    from unitpsych.io import atomic_path, stale_temporaries

    target = tmp_path / "p1_task_1.json"
    with atomic_path(target, durable=True) as tmp:
        tmp.write_bytes(b"{}")
    assert target.read_bytes() == b"{}" and stale_temporaries(tmp_path) == []
    leftover = tmp_path / ".p2_task_1.json.k3j_9x0a.json"  # a write killed before its rename
    leftover.write_bytes(b"{")
    (tmp_path / ".hidden").write_text("kept")
    assert stale_temporaries(tmp_path) == [leftover]


def test_a_durable_write_fsyncs_the_file_before_the_rename_and_the_folder_after(
    tmp_path, monkeypatch
):
    import os

    from unitpsych import io

    synced = []
    real = os.fsync

    def spy(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(io.os, "fsync", spy)
    target = tmp_path / "p1_task_1.json"
    with io.atomic_path(target, durable=True) as tmp:
        tmp.write_bytes(b"{}")
    assert synced == [str(tmp), str(tmp_path)]  # the file (still temporary), then its folder
    synced.clear()
    with io.atomic_path(tmp_path / "other.json") as tmp:
        tmp.write_bytes(b"{}")
    assert synced == []

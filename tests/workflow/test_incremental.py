"""Incremental work: config growth, config-slice reruns, any target on its own, kill and resume.

One reference run builds the stimuli of a one-model copy of the test config; the tests work in
copies of that folder (or fresh folders) and never touch the repository's results/.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from conftest import REPO, SNAKEMAKE, run_snakemake, write_config
from joblog import BOOKKEEPING, assert_same_activations, files_under, parse_jobs, planned_rules

pytestmark = pytest.mark.workflow

MODEL = "efficientnet_lite0"
NEW_MODEL = "vit_tiny-untrained"
AGGREGATES = {"all", "units", "activations", "stimuli", "experiments"}  # named target rules
PER_UNIT_RULES = {
    "extract_exemplars",
    "visualize_units",
    "link_unit_visualizations",
    "preview_unit",
}


def _test_config() -> dict:
    return yaml.safe_load((REPO / "tests" / "data" / "config.yaml").read_text())


def _small_config() -> dict:
    """The test config cut down for speed: its first model, 4 units, one natural experiment
    (2 units in 2 tasks of 2 trials, a catch and a practice unit)."""
    cfg = _test_config()
    cfg["models"] = {MODEL: cfg["models"][MODEL]}
    cfg["models"][MODEL]["units"]["n"] = 4
    cfg["experiments"] |= {
        "list": [{"model": MODEL, "condition": "natural"}],
        "n_units": 2,
        "n_catch_units": 1,
        "n_practice_units": 1,
        "n_tasks": 2,
        "n_trials": 2,
    }
    return cfg


def _copy(src: Path, dst: Path) -> Path:
    """A copy of a working folder, timestamps kept (so nothing looks newer than it is)."""
    shutil.copytree(src, dst, symlinks=True)
    return dst


def _dry(workdir: Path, config: Path, *targets: str) -> list:
    """The jobs `snakemake -n` plans for `targets` (parsed job blocks)."""
    proc = run_snakemake(workdir, config, "-n", *targets)
    return parse_jobs(proc.stdout)


def _units(workdir: Path, model: str = MODEL) -> list[str]:
    import json

    return json.loads((workdir / "results" / model / "units.json").read_text())["units"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[Path, Path]:
    """(workdir, config): the one-model config built through `stimuli` and `experiments`."""
    workdir = tmp_path_factory.mktemp("reference")
    config = write_config(workdir / "config.yaml", _small_config())
    run_snakemake(workdir, config, "stimuli", "experiments")
    assert (workdir / "results" / "experiments" / f"{MODEL}_natural" / "task_2").is_dir()
    dry = run_snakemake(workdir, config, "-n", "stimuli", "experiments").stdout
    assert "Nothing to be done" in dry
    return workdir, config


# --- config growth -------------------------------------------------------------------------


def test_adding_a_model_plans_only_that_models_jobs_and_the_aggregates(reference, tmp_path):
    workdir = _copy(reference[0], tmp_path / "w")
    cfg = _small_config()
    cfg["models"][NEW_MODEL] = _test_config()["models"][NEW_MODEL]
    grown = write_config(tmp_path / "grown.yaml", cfg)
    # before the new model's units are sampled: its checkpoint and its per-model aggregates
    jobs = _dry(workdir, grown, "stimuli")
    assert "sample_units" in {j.rule for j in jobs}
    for job in jobs:
        if job.rule not in AGGREGATES:
            assert f"model={NEW_MODEL}" in job.wildcards, f"{job.rule} {job.wildcards} planned"
    # once they are, every planned job belongs to the new model or is an aggregate target
    run_snakemake(workdir, grown, f"results/{NEW_MODEL}/units.json")
    jobs = _dry(workdir, grown, "stimuli")
    per_model = [j for j in jobs if j.rule not in AGGREGATES]
    assert {"collect_activations", "extract_exemplars", "preview_unit"} <= {
        j.rule for j in per_model
    }
    for job in per_model:
        assert f"model={NEW_MODEL}" in job.wildcards, (
            f"{job.rule} {job.wildcards} was planned again"
        )
    assert not any(MODEL + "/" in out for j in jobs for out in j.outputs)


# --- a job reruns when its config slice changes, and only then ---------------------------------


@pytest.mark.parametrize(
    ("change", "reruns", "kept"),
    [
        (
            lambda c: c.setdefault("visualizations", {}).update(
                max_steps=c["visualizations"]["max_steps"] + 1
            ),
            {"visualize_units"},
            {"sample_units", "collect_activations", "extract_exemplars"},
        ),
        (  # speed only: read from the config by the script, never a param
            lambda c: c["visualizations"].update(
                batch_images=c["visualizations"]["batch_images"] + 9
            ),
            set(),
            {"sample_units", "collect_activations", "extract_exemplars", "visualize_units"},
        ),
        (
            lambda c: c.setdefault("exemplars", {}).update(
                n_batches=c["exemplars"]["n_batches"] + 1
            ),
            {"extract_exemplars"},
            {"sample_units", "collect_activations", "visualize_units"},
        ),
        (
            lambda c: c["models"][MODEL].update(batch_size=25),
            {"collect_activations"},
            {"sample_units"},
        ),
        (
            lambda c: c["models"][MODEL].update(label="EfficientNet-lite0 (renamed)"),
            set(),
            {"sample_units", "collect_activations", "extract_exemplars", "visualize_units"},
        ),
        (
            lambda c: c["experiments"].update(n_tasks=c["experiments"]["n_tasks"] * 2),
            {"build_experiment"},
            {"sample_units", "collect_activations", "extract_exemplars", "visualize_units"},
        ),
    ],
    ids=[
        "visualizations",
        "visualizations-batch-images",
        "exemplars",
        "model-batch-size",
        "model-label",
        "experiments",
    ],
)
def test_a_job_reruns_when_its_config_slice_changes_and_only_then(
    reference, tmp_path, change, reruns, kept
):
    workdir, _ = reference
    cfg = copy.deepcopy(_small_config())
    change(cfg)
    config = write_config(tmp_path / "changed.yaml", cfg)
    planned = {j.rule for j in _dry(workdir, config, "stimuli", "experiments")}
    assert reruns <= planned, f"expected reruns of {reruns}, planned {planned}"
    assert not planned & kept, f"{planned & kept} rerun although their config slice is unchanged"


@pytest.mark.parametrize(
    "change",
    [{"block_size": 100}, {"num_workers": 1}],
    ids=["images-block-size", "images-num-workers"],
)
def test_speed_only_image_keys_rerun_nothing(reference, tmp_path, change):
    """Keys that change only how fast a job runs are read from the config, never params."""
    workdir, _ = reference
    cfg = _small_config()
    assert all(cfg["images"].get(key) != value for key, value in change.items())
    cfg["images"].update(change)
    config = write_config(tmp_path / "changed.yaml", cfg)
    dry = run_snakemake(workdir, config, "-n", "stimuli", "experiments").stdout
    assert "Nothing to be done" in dry, planned_rules(dry)


# --- any target on its own ---------------------------------------------------------------------


def test_one_models_cache_by_path_and_all_caches_by_named_rule(tmp_path):
    config = REPO / "tests" / "data" / "config.yaml"
    proc = run_snakemake(tmp_path, config, "-n", f"results/{MODEL}/activations.h5")
    counts = planned_rules(proc.stdout)
    assert counts.get("collect_activations") == 1 and counts.get("sample_units") == 1, counts
    assert not any(NEW_MODEL in j.wildcards for j in parse_jobs(proc.stdout))
    counts = planned_rules(run_snakemake(tmp_path, config, "-n", "activations").stdout)
    assert counts.get("collect_activations") == len(_test_config()["models"]), counts


def test_one_units_stimuli_by_path_builds_that_unit_only(reference, tmp_path):
    workdir = _copy(reference[0], tmp_path / "w")
    config = reference[1]
    unit = _units(workdir)[0]
    folder = workdir / "results" / MODEL / "stimuli" / unit
    shutil.rmtree(folder)
    proc = run_snakemake(workdir, config, f"results/{MODEL}/stimuli/{unit}/preview.png")
    ran = parse_jobs(proc.stdout)
    assert ran and all(f"unit={unit}" in j.wildcards for j in ran), [
        (j.rule, j.wildcards) for j in ran
    ]
    assert files_under(folder) == files_under(reference[0] / "results" / MODEL / "stimuli" / unit)
    # by the named target rule: only per-model summaries of the stimuli are out of date now
    counts = planned_rules(run_snakemake(workdir, config, "-n", "stimuli").stdout)
    assert not set(counts) & (PER_UNIT_RULES | {"sample_units", "collect_activations"}), counts


def test_one_experiment_by_path_and_all_by_named_rule(tmp_path):
    cfg = _test_config()
    config = REPO / "tests" / "data" / "config.yaml"
    exp = cfg["experiments"]["list"][0]
    name = f"{exp['model']}_{exp['condition']}"
    proc = run_snakemake(tmp_path, config, "-n", f"results/experiments/{name}")
    jobs = parse_jobs(proc.stdout)
    assert {j.rule for j in jobs} >= {"sample_units", "build_experiment"}  # the rest after units
    built = [j for j in jobs if j.rule == "build_experiment"]
    assert len(built) == 1 and f"experiment={name}" in built[0].wildcards
    others = [m for m in cfg["models"] if m != exp["model"]]
    assert not any(m in j.wildcards for j in jobs for m in others)
    counts = planned_rules(run_snakemake(tmp_path, config, "-n", "experiments").stdout)
    assert counts["build_experiment"] == len(cfg["experiments"]["list"]), counts
    assert counts["sample_units"] == len(cfg["models"]), counts


# --- kill and resume ---------------------------------------------------------------------------


def _start(workdir: Path, config: Path, *args: str) -> subprocess.Popen:
    """Start snakemake in its own process group (so one kill reaches its jobs too)."""
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
    log = open(workdir / "killed_run.log", "w")  # noqa: SIM115 (closed with the process)
    return subprocess.Popen(
        cmd,
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env=dict(os.environ, PYTHONHASHSEED="0"),
    )


def _kill_when(proc: subprocess.Popen, ready, timeout: float = 600) -> None:
    """SIGKILL the process group of `proc` as soon as `ready()` holds."""
    deadline = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None, "snakemake finished before it could be killed"
        assert time.monotonic() < deadline, "the kill point never came"
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    while _group_alive(proc.pid):  # until every job process is gone (file locks released)
        assert time.monotonic() < deadline, "processes of the killed run outlived SIGKILL"
        time.sleep(0.1)


def _group_alive(pgid: int) -> bool:
    """Whether a live (not zombie) process of process group `pgid` remains."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited while we looked
        if fields[0] != "Z" and int(fields[2]) == pgid:
            return True
    return False


def _resume(workdir: Path, config: Path, target: str):
    """What a user does after a crash: unlock, then rerun (incomplete outputs rebuilt)."""
    run_snakemake(workdir, config, "--unlock")
    return run_snakemake(workdir, config, "--rerun-incomplete", target)


def test_killed_in_the_middle_of_collect_activations_resumes_to_the_same_cache(reference, tmp_path):
    workdir = tmp_path / "w"
    workdir.mkdir()
    config = write_config(workdir / "config.yaml", _small_config())
    run_snakemake(workdir, config, f"results/{MODEL}/units.json")
    log = workdir / "logs" / "collect_activations" / f"{MODEL}.log"
    proc = _start(workdir, config, "activations")
    written = re.compile(r"block written: \d+ of \d+ images done")
    _kill_when(proc, lambda: log.exists() and written.search(log.read_text()) is not None)
    h5 = workdir / "results" / MODEL / "activations.h5"
    assert not h5.exists(), "a killed collection left a cache a rerun would trust"
    _resume(workdir, config, "activations")
    assert_same_activations(h5, reference[0] / "results" / MODEL / "activations.h5")
    assert not h5.with_name(h5.name + ".partial").exists()
    resumed = re.search(r"resuming \S+ at image (\d+) of 500", log.read_text())
    assert resumed, "the rerun started over instead of resuming: " + log.read_text()[-2000:]
    assert int(resumed[1]) >= 50, "finished blocks were lost"


def test_killed_in_the_middle_of_stimulus_jobs_resumes_without_redoing_finished_units(
    reference, tmp_path
):
    workdir = _copy(reference[0], tmp_path / "w")
    config = reference[1]
    stimuli = workdir / "results" / MODEL / "stimuli"
    shutil.rmtree(stimuli)
    proc = _start(workdir, config, "stimuli")
    _kill_when(proc, lambda: stimuli.exists() and len(list(stimuli.glob("*/preview.png"))) >= 2)
    killed_log = (workdir / "killed_run.log").read_text()
    blocks = {j.jobid: j for j in parse_jobs(killed_log)}
    finished = {
        blocks[line.split()[2]].outputs
        for line in killed_log.splitlines()
        if line.startswith("Finished jobid:") and line.split()[2] in blocks
    }
    assert finished, "no stimulus job finished before the kill"
    rerun = parse_jobs(_resume(workdir, config, "stimuli").stdout)
    redone = [j for j in rerun if j.outputs in finished]
    assert not redone, f"finished jobs were redone: {[(j.rule, j.wildcards) for j in redone]}"
    assert files_under(stimuli) == files_under(reference[0] / "results" / MODEL / "stimuli")
    # what the kill left beyond that: only hidden temporary folders of unfinished atomic writes
    extra = {p.relative_to(stimuli) for p in stimuli.rglob("*") if p.is_file()}
    extra -= {Path(p) for p in files_under(stimuli)}
    assert all(
        p.name == BOOKKEEPING or any(part.startswith(".") for part in p.parts[:-1]) for p in extra
    ), extra

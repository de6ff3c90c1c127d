"""Workflow: the paper config plans offline; bad configs fail before any job; the tiny config
runs."""

from __future__ import annotations

import copy

import h5py
import pytest

from conftest import REPO, run_snakemake, write_config

pytestmark = pytest.mark.workflow


def test_paper_config_dry_run_plans_without_imagenet_or_network(tmp_path):
    proc = run_snakemake(tmp_path, REPO / "config" / "config.yaml", "-n", "--quiet", "rules")
    counts = dict(
        line.split()[:2]
        for line in proc.stdout.splitlines()
        if len(line.split()) == 2 and line.split()[1].isdigit()
    )
    assert counts["sample_units"] == "9" and counts["collect_activations"] == "9"
    assert counts["check_accuracy"] == "9"  # ImageNet val against the protocol's table
    assert counts["build_experiment"] == "23"  # the paper's 23 experiments
    assert (
        counts["index_stimuli"] == "9" and counts["summarize_visualizations"] == "7"
    )  # no FVs for the ViTs


def test_bad_config_fails_before_any_job_and_names_the_key(tmp_path, test_config):
    cfg = copy.deepcopy(test_config)
    cfg["models"]["efficientnet_lite0"]["arch"] = "efficientnet_lite9"
    proc = run_snakemake(tmp_path, write_config(tmp_path / "bad.yaml", cfg), check=False)
    assert proc.returncode != 0
    assert "models.efficientnet_lite0.arch" in proc.stdout and "known:" in proc.stdout
    assert not (tmp_path / "results").exists()
    cfg = copy.deepcopy(test_config)
    cfg["images"]["batch_size"] = 0
    proc = run_snakemake(tmp_path, write_config(tmp_path / "bad2.yaml", cfg), check=False)
    assert proc.returncode != 0 and "batch_size" in proc.stdout
    # a cross-key check (too few feature visualisations for the references) at planning time
    cfg = copy.deepcopy(test_config)
    cfg.setdefault("visualizations", {})["n_images"] = 5
    proc = run_snakemake(tmp_path, write_config(tmp_path / "bad3.yaml", cfg), "-n", check=False)
    message = "visualizations.n_images = 9"
    assert proc.returncode != 0 and message in proc.stdout, proc.stdout[-2000:]
    assert not (tmp_path / "results").exists()


def test_missing_image_root_is_a_clear_error_when_a_job_needs_it(tmp_path, test_config):
    cfg = copy.deepcopy(test_config)
    cfg["images"] = {"root": str(tmp_path / "no_imagenet")}
    config = write_config(tmp_path / "c.yaml", cfg)
    assert run_snakemake(tmp_path, config, "-n", "activations").returncode == 0
    proc = run_snakemake(tmp_path, config, "activations", check=False)
    assert proc.returncode != 0
    assert (
        "images.root" in proc.stdout
        and "no_imagenet" in proc.stdout
        and "is not a folder" in proc.stdout
    )


def test_tiny_config_through_the_caches(tmp_path):
    run_snakemake(tmp_path, REPO / "tests" / "data" / "config.yaml", "activations")
    for model in ("efficientnet_lite0", "vit_tiny-untrained"):
        with h5py.File(tmp_path / "results" / model / "activations.h5") as f:
            assert f.attrs["complete"] and f["activations"].shape == (500, 6)
        assert (tmp_path / "benchmarks" / "collect_activations" / f"{model}.tsv").exists()
    log = (tmp_path / "logs" / "collect_activations" / "efficientnet_lite0.log").read_text()
    assert "100%" in log  # tqdm progress went to the rule's log
    # nothing left to do on a rerun
    proc = run_snakemake(tmp_path, REPO / "tests" / "data" / "config.yaml", "activations", "-n")
    assert "Nothing to be done" in proc.stdout


def test_accuracy_check_gates_the_activation_pass(tmp_path, test_config, labelled_photos):
    """With a labelled set configured, a wrong top-1 stops the model before its activation pass."""
    import json
    import re

    from joblog import parse_jobs, planned_rules

    model = "efficientnet_lite0"
    cfg = copy.deepcopy(test_config)
    cfg["accuracy"] = {"root": str(labelled_photos[0]), "labels": str(labelled_photos[1])}
    cfg["models"][model]["expected_accuracy"] = 0.05
    target = f"results/{model}/activations.h5"
    proc = run_snakemake(tmp_path, write_config(tmp_path / "c.yaml", cfg), target, check=False)
    assert proc.returncode != 0
    failed = re.search(rf"model {model} .*top-1 accuracy (0\.\d+) .* expected 0\.0500", proc.stdout)
    assert failed, proc.stdout[-3000:]
    assert not (tmp_path / target).exists()
    assert not (tmp_path / "logs" / "collect_activations").exists(), "the pass ran anyway"
    # the measured value passes; the activation pass runs after the check
    cfg["models"][model]["expected_accuracy"] = float(failed[1])
    proc = run_snakemake(tmp_path, write_config(tmp_path / "c.yaml", cfg), target)
    order = [job.rule for job in parse_jobs(proc.stdout)]
    assert order.index("check_accuracy") < order.index("collect_activations"), order
    record = json.loads((tmp_path / "results" / model / "accuracy.json").read_text())
    assert record["passed"] is True and record["n_images"] == 6 and record["tolerance"] == 0.01
    # a new expected value reruns the check alone; every model is checked as part of `all`
    cfg["models"][model]["expected_accuracy"] = float(failed[1]) + 0.005
    changed = write_config(tmp_path / "c.yaml", cfg)
    assert planned_rules(run_snakemake(tmp_path, changed, "-n", target).stdout) == {
        "check_accuracy": 1
    }
    assert planned_rules(run_snakemake(tmp_path, changed, "-n").stdout)["check_accuracy"] == 2
    plain = write_config(tmp_path / "plain.yaml", test_config)
    assert "check_accuracy" not in planned_rules(run_snakemake(tmp_path, plain, "-n").stdout)

"""Workflow: the `observer` target on the tiny config (per-trial observer files, MIS per model)."""

from __future__ import annotations

import copy
import json

import h5py
import pandas as pd
import pytest

from conftest import run_snakemake, write_config

pytestmark = pytest.mark.workflow


def test_observer_target_scores_every_trial_and_every_unit(tmp_path, test_config):
    cfg = copy.deepcopy(test_config)
    # no human source: α must not depend on the responses stage at all
    cfg.setdefault("responses", {})["sources"] = ["simulated"]
    config = write_config(tmp_path / "config.yaml", cfg)
    proc = run_snakemake(tmp_path, config, "observer")
    assert "rule fit_alpha" in proc.stdout and "responses.parquet" not in proc.stdout
    results = tmp_path / "results"
    backend = cfg["observer"]["backend"]
    slug = backend.replace(":", "-")
    with h5py.File(results / "observer" / slug / "embeddings.h5") as f:
        n_images = len(pd.read_csv(results / "images" / "index.csv"))
        assert f["embeddings"].shape[0] == n_images and f.attrs["backend"] == backend
    alpha = json.loads((results / "observer" / slug / "alpha.json").read_text())
    assert alpha["alpha"] is None and "α-free accuracy" in alpha["alpha_source"]
    experiments = [
        p.name for p in (results / "experiments").iterdir() if not p.name.startswith(("demo_", "."))
    ]
    assert len(experiments) == len(cfg["experiments"]["list"])
    for exp in experiments:
        trials = pd.read_csv(results / "experiments" / exp / "trials.csv")
        scored = pd.read_csv(results / "observer" / "trials" / f"{exp}.csv")
        assert list(scored.columns) == [
            "task",
            "trial",
            "unit",
            "d",
            "p_correct",
            "backend",
            "alpha",
            "alpha_source",
        ]
        assert scored[["task", "trial", "unit"]].equals(trials[["task", "trial", "unit"]])
        assert scored["d"].notna().all() and (scored["backend"] == backend).all()
        assert (scored["task"] == 0).any() and trials["catch_trial"].any()
        # a catch trial repeats a query among its references: the observer gets it right
        catch = scored[trials["catch_trial"].to_numpy()]
        assert (catch["d"] > 0).all(), exp
    for model in cfg["models"]:
        mis = pd.read_csv(results / model / "mis.csv", keep_default_na=False, na_values=[""])
        units = json.loads((results / model / "units.json").read_text())["units"]
        assert list(mis["unit"]) == units and (mis["backend"] == backend).all()
        kept = mis[mis["excluded"].isna()]
        assert (kept["n_tasks"] == cfg["observer"]["n_tasks"]).all()
        assert kept["score"].between(0, 1).all() and (kept["score_kind"] == "accuracy").all()
    # nothing reruns
    again = run_snakemake(tmp_path, config, "observer", "-n")
    assert "Nothing to be done" in again.stdout, again.stdout[-2000:]
    # with a human source α is fitted on the responses; the MIS tasks, the embeddings and the
    # per-trial files do not depend on responses, so only fit_alpha and score_mis would rerun
    cfg["responses"]["sources"] = ["local", "simulated"]
    human = write_config(tmp_path / "human.yaml", cfg)
    plan = run_snakemake(tmp_path, human, "observer", "-n", "--quiet", "rules").stdout
    jobs = {
        line.split()[0]
        for line in plan.splitlines()
        if len(line.split()) == 2 and line.split()[1].isdigit()
    }
    assert {"merge_responses", "fit_alpha", "score_mis"} <= jobs, plan[-3000:]
    assert not jobs & {"embed_images", "sample_mis_tasks", "score_trials"}, plan[-3000:]


def test_mis_all_scores_every_channel_and_draws_its_figures(tmp_path, test_config):
    cfg = copy.deepcopy(test_config)
    config = write_config(tmp_path / "config.yaml", cfg)
    figures = [f"results/figures/mis_all_{name}.png" for name in ("depth", "models")]
    proc = run_snakemake(tmp_path, config, *figures)
    # no responses, experiments or stimuli: the every-unit MIS needs only the images and the caches
    assert "rule collect_mis_all_tasks" in proc.stdout and "rule mis_all" in proc.stdout
    assert "merge_responses" not in proc.stdout and "build_experiment" not in proc.stdout
    results = tmp_path / "results"
    backend = cfg["observer"]["backend"]
    table = pd.read_parquet(results / "efficientnet_lite0" / "mis_all.parquet")
    with h5py.File(results / "efficientnet_lite0" / "mis_all_tasks.h5") as f:
        n_units, n_tasks, m = f["top"].shape  # the drawn tasks only, not every image's value
        units, n_images = list(f["units"].asstr()[:]), f.attrs["n_images"]
    assert n_images == len(pd.read_csv(results / "images" / "index.csv"))
    assert (n_tasks, m) == (cfg["observer"]["n_tasks"], cfg["observer"].get("n_references", 9) + 1)
    assert (
        list(table["unit"]) == units and table["layer"].nunique() == 110
    )  # every layer of interest
    assert (
        n_units == 41200
        and (table["backend"] == backend).all()
        and not table["scores_itself"].any()
    )
    kept = table[~table["constant"]]
    assert (
        kept["accuracy"].between(0, 1).all()
        and (kept["n_tasks"] == cfg["observer"]["n_tasks"]).all()
    )
    assert table.loc[table["constant"], "accuracy"].isna().all()
    assert table["relative_depth"].min() == 0 and table["relative_depth"].max() == 1
    vit = pd.read_parquet(results / "vit_tiny-untrained" / "mis_all.parquet")
    assert vit["layer"].nunique() == 36 and (vit["backend"] == backend).all()
    for fig in figures:
        assert (tmp_path / fig).stat().st_size > 10_000
    again = run_snakemake(tmp_path, config, *figures, "-n")
    assert "Nothing to be done" in again.stdout, again.stdout[-2000:]

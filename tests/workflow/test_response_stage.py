"""Workflow: the tiny config's simulated payloads reach responses.parquet, careless participants are
excluded for the reason they were built with, and a new local payload reruns only its experiment.

The experiment folders (trials.csv) and the observer's per-trial d are made here with the tiny
config's counts, and only the responses stage's rules may run (`--allowed-rules`), so the test
takes seconds and does not depend on the stages before it.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import REPO, run_snakemake

pytestmark = pytest.mark.workflow

CONFIG = REPO / "tests" / "data" / "config.yaml"
RULES = (
    "--allowed-rules",
    "simulate_participants",
    "parse_responses",
    "merge_responses",
    "responses",
)


def experiment_names(cfg: dict) -> list[str]:
    """The tiny config's experiment names."""
    from unitpsych.experiments.design import experiment_name

    return [
        experiment_name(e["model"], e["condition"], e.get("difficulty", "easy"))
        for e in cfg["experiments"]["list"]
    ]


def make_inputs(workdir, cfg: dict) -> list[str]:
    """trials.csv of every experiment and the observer's d per trial, with the config's counts."""
    exp_cfg = cfg["experiments"]
    rng = np.random.default_rng(0)
    names = experiment_names(cfg)
    for name in names:
        rows = []
        for task in range(exp_cfg["n_tasks"] + 1):
            n = (
                exp_cfg["n_demo_trials"]
                if task == 0
                else exp_cfg["n_trials"] + exp_cfg["n_catch_trials"]
            )
            for trial in range(1, n + 1):
                catch = task > 0 and trial == 2
                rows.append(
                    {
                        "experiment": name,
                        "task": task,
                        "trial": trial,
                        "is_demo": task == 0,
                        "catch_trial": catch,
                        "mode": "catch_trial" if catch else "natural",
                        "unit": f"blocks_{trial}_0_bn3__{task}",
                        "layer": f"blocks_{trial}_0_bn3",
                        "channel": task,
                        "batch": trial % 2,
                        "d": 0.5 if catch else float(rng.normal(0.15, 0.1)),
                    }
                )
        table = pd.DataFrame(rows)
        folder = workdir / "results" / "experiments" / name
        folder.mkdir(parents=True)
        table.drop(columns="d").to_csv(folder / "trials.csv", index=False)
        (workdir / "results" / "experiments" / f"demo_{name}").mkdir()
        observer = workdir / "results" / "observer" / "trials"
        observer.mkdir(parents=True, exist_ok=True)
        table[["task", "trial", "unit", "d"]].assign(
            p_correct=0.5, backend="handmade", alpha=1.0, alpha_source="given"
        ).to_csv(observer / f"{name}.csv", index=False)
    return names


def test_simulated_payloads_reach_the_response_table(tmp_path):
    cfg = yaml.safe_load(CONFIG.read_text())
    names = make_inputs(tmp_path, cfg)
    run_snakemake(tmp_path, CONFIG, "responses", *RULES)
    out = tmp_path / "results" / "responses"
    responses = pd.read_parquet(out / "responses.parquet")
    exclusions = pd.read_csv(out / "exclusions.csv", keep_default_na=False)
    summary = json.loads((out / "summary.json").read_text())
    n_tasks = cfg["experiments"]["n_tasks"]
    n_careless = round(cfg["simulation"]["careless_fraction"] * n_tasks)
    assert len(exclusions) == len(names) * (n_tasks + n_careless)
    assert set(responses["experiment"]) == set(names) and set(responses["source"]) == {"simulated"}
    # every careless participant is excluded for the check it was built to fail, and only them
    from unitpsych.responses.participants import CARELESS_CHECKS

    careless = exclusions[exclusions["simulated_kind"] != "attentive"]
    assert len(careless) == len(names) * n_careless
    for row in careless.itertuples():
        assert row.exclusion_reason == CARELESS_CHECKS[row.simulated_kind], row
        assert not row.kept
    assert exclusions.loc[exclusions["simulated_kind"] == "attentive", "kept"].astype(bool).all()
    kept = responses[responses["kept"]]
    assert set(kept["participant_id"]) == set(
        exclusions.loc[exclusions["kept"].astype(bool), "participant_id"]
    )
    main = responses[~responses["is_demo"]]
    assert main.groupby(["participant_id"]).size().eq(4).all()  # 3 trials + 1 catch trial
    assert main["unit"].notna().all() and responses.loc[responses["is_demo"], "unit"].isna().all()
    rows, files = summary["rows"], summary["files"]
    assert rows["kept"] + rows["excluded"] + rows["rejected"] == rows["input"] == len(responses)
    assert files["kept"] + files["excluded"] + files["rejected"] == files["input"]
    assert (tmp_path / "logs" / "merge_responses" / "merge.log").exists()
    # the release layout beside the Parquet: main = kept, lower quality = the rest
    released = {
        t: pd.read_csv(out / f"responses_{t}.csv") for t in ("all", "main", "lower_quality")
    }
    assert (
        len(released["all"])
        == len(responses)
        == len(released["main"]) + len(released["lower_quality"])
    )
    assert len(released["main"]) == responses["kept"].sum()
    assert (released["all"].loc[released["all"]["is_demo"], "corrected_trial_index"] < 0).all()

    # a new local payload for one experiment reruns only that experiment's parsing and the merge
    first = names[0]
    local = tmp_path / "results" / "responses" / "raw" / first / "local"
    local.mkdir(parents=True)
    sim = sorted((tmp_path / "results" / "responses" / "raw" / first / "simulated").glob("*.json"))
    shutil.copy(sim[0], local / "worker7_task_1.json")
    (local / "worker8_task_2.json").write_text('{"main_data": "[')  # truncated
    proc = run_snakemake(tmp_path, CONFIG, "responses", *RULES, "-n", "--quiet", "rules")
    planned = {
        line.split()[0]: line.split()[1]
        for line in proc.stdout.splitlines()
        if len(line.split()) == 2 and line.split()[1].isdigit()
    }
    assert planned.get("parse_responses") == "1" and planned.get("merge_responses") == "1", planned
    assert "simulate_participants" not in planned
    run_snakemake(tmp_path, CONFIG, "responses", *RULES)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["by_source"]["local"]["files"] == {
        "input": 2,
        "kept": 1,
        "excluded": 0,
        "rejected": 1,
    }
    assert [r["file"] for r in summary["rejected"]] == ["worker8_task_2.json"]
    responses = pd.read_parquet(out / "responses.parquet")
    assert (responses["source"] == "local").sum() == summary["by_source"]["local"]["rows"]["kept"]


def test_released_imi_data_downloaded_checked_and_parsed(tmp_path):
    import copy
    import sys

    sys.path.insert(0, str(REPO / "tests" / "data"))
    from imi_release import make_archive, released_table

    from conftest import write_config

    archive = tmp_path / "zenodo" / "human_responses.zip"
    archive.parent.mkdir()
    exps = [
        ("resnet50", "", "natural"),
        ("resnet50", "", "optimized"),
        ("resnet50", "hard95", "natural"),
    ]
    table = released_table(n_tasks=2, experiments=exps)
    md5 = make_archive(archive, table)
    cfg = copy.deepcopy(yaml.safe_load(CONFIG.read_text()))
    cfg["responses"] = {"sources": ["imi"], "imi": {"url": archive.as_uri(), "md5": "0" * 32}}
    bad = write_config(tmp_path / "bad.yaml", cfg)
    proc = run_snakemake(tmp_path, bad, "responses", check=False)
    assert proc.returncode != 0
    log = (tmp_path / "logs" / "fetch_imi_responses" / "fetch.log").read_text()
    assert md5 in log and "0" * 32 in log and "kept aside" in log, log[-2000:]
    assert md5 in proc.stdout and "0" * 32 in proc.stdout
    imi_dir = tmp_path / "results" / "responses" / "imi"
    assert (imi_dir / f"human_responses.zip.bad-{md5}").exists()
    assert not (imi_dir / "human_responses.zip").exists()
    assert not (tmp_path / "results" / "responses" / "responses.parquet").exists()

    cfg["responses"]["imi"]["md5"] = md5
    run_snakemake(tmp_path, write_config(tmp_path / "good.yaml", cfg), "responses")
    responses = pd.read_parquet(tmp_path / "results" / "responses" / "responses.parquet")
    assert set(responses["source"]) == {"imi"}
    assert set(responses["experiment"]) == {
        "resnet50_natural",
        "resnet50_synthetic",
        "resnet50_hard95_natural",
    }
    summary = json.loads((tmp_path / "results" / "responses" / "summary.json").read_text())
    kept = int((table["passed_checks"] & ~table["multi_participation"]).sum())
    assert summary["rows"] == {
        "input": len(table),
        "kept": kept,
        "excluded": len(table) - kept,
        "rejected": 0,
    }

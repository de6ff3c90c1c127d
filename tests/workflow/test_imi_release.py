"""The paper config on a release laid out like the real IMI data (tests/data/imi_release.py):
every score table, every figure of protocol §8.5 and the reproduction table and figure, with the
scores equal to a direct pandas computation per task_id prefix and bad rows counted, never lost."""

from __future__ import annotations

import json
import sys

import pandas as pd
import pytest
import yaml

from conftest import REPO, run_snakemake, write_config

sys.path.insert(0, str(REPO / "tests" / "data"))
from imi_release import kept_scores, make_archive, released_table  # noqa: E402

from unitpsych.analysis.tables import TABLES  # noqa: E402
from unitpsych.figures.registry import FIGURES  # noqa: E402
from unitpsych.responses.imi import parse_task_id  # noqa: E402

pytestmark = pytest.mark.workflow
PAPER = REPO / "config" / "config.yaml"


def test_paper_config_on_the_release_layout_builds_every_table_and_paper_figure(tmp_path):
    cfg = yaml.safe_load(PAPER.read_text())
    # the units the workflow samples for the nine paper models (architectures only, no weights)
    run_snakemake(tmp_path, PAPER, "units")
    units = {
        m: json.loads((tmp_path / "results" / m / "units.json").read_text())["units"]
        for m in cfg["models"]
    }
    table = released_table(units=units)
    regular = table.index[~table["is_demo"] & ~table["catch_trial"]]
    bad = table.loc[regular[:3]].copy()
    bad["model"] = ["googlenet", "resnet50_hard85", "resnet50"]  # disagree with their task_id
    bad["task_id"] = ["resnet50_natural-1", "resnet50_natural-1", "resnet50_natural_x-1"]
    release = pd.concat([table, bad], ignore_index=True)
    archive = tmp_path / "human_responses.zip"
    md5 = make_archive(archive, release)
    imi = write_config(
        tmp_path / "imi.yaml",
        {
            "responses": {"sources": ["imi"], "imi": {"path": str(archive), "md5": md5}},
            "analysis": {"sources": ["imi"]},
        },
    )
    paper_figures = [n for n, s in FIGURES.items() if s.group.startswith("Paper")]
    # the named target of what the responses alone give: no unit statistics, MIS or ImageNet
    run_snakemake(tmp_path, PAPER, "paper_figures", "--configfile", str(PAPER), str(imi))
    out = tmp_path / "results"
    for name in paper_figures + ["reproduction"]:
        assert (out / "figures" / f"{name}.png").stat().st_size > 10_000, name
    drawn = {p.stem for p in (out / "figures").glob("*.pdf")}
    assert drawn == {*paper_figures, "reproduction"}
    assert {p.stem for p in (out / "tables").glob("*.csv")} == {*TABLES, "reproduction"} - {
        "baselines"
    }

    # every row kept, excluded or rejected with its reason
    summary = json.loads((out / "responses" / "summary.json").read_text())
    rows = summary["rows"]
    assert rows["input"] == len(release) and rows["rejected"] == 3
    assert rows["kept"] + rows["excluded"] + rows["rejected"] == rows["input"]
    reasons = " | ".join(r["reason"] for r in summary["rejected"])
    assert "model column googlenet disagrees" in reasons and "resnet50_hard85" in reasons
    assert "is not <model>" in reasons

    # scores: a direct pandas computation per task_id prefix
    scores = pd.read_csv(out / "tables" / "model_scores.csv").set_index("experiment")
    direct = kept_scores(table)
    experiments = {prefix: parse_task_id(f"{prefix}-1").experiment for prefix in direct.index}
    assert len(experiments) == len(scores) == 23
    for prefix, experiment in experiments.items():
        assert scores.loc[experiment, "score"] == pytest.approx(direct[prefix], abs=1e-12)
        assert (
            scores.loc[experiment, "n_units"] == 84 and scores.loc[experiment, "sources"] == "imi"
        )
    assert scores.loc["resnet50_hard95_synthetic", "model"] == "resnet50"  # model column: resnet50

    # the reproduction table against the paper's published numbers
    repro = pd.read_csv(out / "tables" / "reproduction.csv").set_index("experiment")
    assert len(repro) == 16 and repro["score"].notna().all()
    assert repro.loc["resnet50_natural", "score"] == pytest.approx(2096 / 2520, abs=1e-12)
    assert (repro["difference"].abs() < 5e-4).all() and repro["paper_inside_our_ci"].all()
    # the paper's CIs (resources/paper_scores.csv) are entered, and its scores lie inside them
    assert repro[["paper_ci_low", "paper_ci_high"]].notna().all(axis=None)
    assert repro["ours_inside_paper_ci"].all()

    regression = pd.read_csv(out / "tables" / "regression.csv").iloc[0]
    assert "participation (participant ids anonymized: imi)" in regression["model_type"]
    assert regression["n_participants"] == 23 * 63  # the kept participations
    participants = pd.read_csv(out / "responses" / "participants.csv")
    assert len(participants) == table.groupby(["task_id", "response_index"]).ngroups

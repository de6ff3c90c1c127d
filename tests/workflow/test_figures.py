"""Figures as targets: one figure plans only itself and its inputs; figures the config cannot make
are left out of `figures` and name the experiments they need; the tiny config builds its figures
and the report."""

from __future__ import annotations

import copy
import re
import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import REPO, run_snakemake, write_config

sys.path.insert(0, str(REPO / "workflow" / "scripts"))
from unitpsych.figures.registry import FIGURES  # noqa: E402

pytestmark = pytest.mark.workflow
TINY = REPO / "tests" / "data" / "config.yaml"


def planned_jobs(stdout: str) -> dict[str, int]:
    """The dry run's job counts per rule (its 'Job stats' table)."""
    block = stdout.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    return {
        m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", block, re.M) if m[1] != "total"
    }


def test_one_figure_plans_only_itself_and_its_inputs(tmp_path):
    jobs = planned_jobs(
        run_snakemake(tmp_path, TINY, "-n", "results/figures/model_comparison.pdf").stdout
    )
    plots = {rule for rule in jobs if rule.startswith("plot_")}
    assert plots == {"plot_model_comparison"} and jobs["plot_model_comparison"] == 1
    assert "analysis_tables" in jobs  # its input, the model scores
    # nothing the figure does not read: no unit statistics, MIS or baselines table
    assert not {"unit_statistics", "score_mis", "baselines_table"} & set(jobs)


def test_figures_target_has_what_the_config_can_make(tmp_path, test_config):
    jobs = planned_jobs(run_snakemake(tmp_path, TINY, "-n", "figures").stdout)
    plots = {rule.removeprefix("plot_") for rule in jobs if rule.startswith("plot_")}
    # the tiny config: 2 models natural, 1 synthetic, no difficulty series, no mean ranks
    assert "model_comparison" in plots and "model_comparison_significance_natural" in plots
    assert "imi_local_contrast" in plots and "mis_vs_human" in plots
    left_out = {
        "model_comparison_rn_easy_vs_hard_natural_and_optimized",
        "model_comparison_units_rn_easy_vs_hard",
        "model_comparison_units_rn_easy_vs_hard_gaps",
        "model_comparison_significance_optimized",
        "model_human_likeness_vs_performance",
        "reproduction",  # needs the released IMI data (responses.sources imi)
    }
    assert plots == set(FIGURES) - left_out
    # adding a hard experiment brings the difficulty figures in
    cfg = copy.deepcopy(test_config)
    cfg["experiments"]["list"].append(
        {"model": "efficientnet_lite0", "condition": "natural", "difficulty": "hard95"}
    )
    jobs = planned_jobs(
        run_snakemake(tmp_path, write_config(tmp_path / "c.yaml", cfg), "-n", "figures").stdout
    )
    assert "plot_model_comparison_units_rn_easy_vs_hard_gaps" in jobs
    proc = run_snakemake(tmp_path, TINY, "-n", "results/figures/reproduction.pdf", check=False)
    assert proc.returncode != 0
    assert "needs the response source 'imi' in responses.sources" in proc.stdout


def test_asking_for_a_figure_the_config_cannot_make_names_the_experiments(tmp_path):
    proc = run_snakemake(
        tmp_path,
        TINY,
        "-n",
        "results/figures/model_comparison_units_rn_easy_vs_hard.pdf",
        check=False,
    )
    assert proc.returncode != 0
    assert "needs a model with '<model>_natural' and a harder natural experiment" in proc.stdout
    assert (
        "efficientnet_lite0_natural, efficientnet_lite0_synthetic, vit_tiny-untrained_natural"
        in proc.stdout
    )


def test_tiny_config_builds_its_figures_and_the_report(tmp_path):
    run_snakemake(tmp_path, TINY, "figures", timeout=3600)  # every stage of the tiny config
    figures = Path(tmp_path / "results" / "figures")
    for name in (
        "model_comparison",
        "model_comparison_unit_performance",
        "imi_pixel_sparsity_natural",
        "exclusion_criteria_value_distribution",
        "mis_vs_human",
    ):
        for ext in ("pdf", "png"):
            assert (figures / f"{name}.{ext}").stat().st_size > 5000, name
    assert (tmp_path / "logs" / "plot_model_comparison" / "model_comparison.log").exists()
    # the exclusion histograms' row panels: both counts per task, the check's value the smaller
    ex = pd.read_csv(tmp_path / "results" / "responses" / "exclusions.csv")
    assert (ex["row_variability_value"] == ex[["n_upper_row", "n_lower_row"]].min(axis=1)).all()
    run_snakemake(tmp_path, TINY, "figures", "--report", "report.html")
    html = (tmp_path / "report.html").read_text(errors="replace")
    assert "model_comparison.png" in html and "mis_vs_human.png" in html  # figures
    assert "model_scores.csv" in html and "Tables" in html  # tables
    assert "protocol \\u00a78.5 item 1" in html  # captions (JSON-escaped in the page)

"""The analysis stage end to end on the tiny config: the tables agree with a direct pandas
computation from responses.parquet, say which sources they used, and the unit statistics feed the
Spearman table."""

from __future__ import annotations

import pandas as pd
import pytest

from conftest import REPO, run_snakemake

pytestmark = pytest.mark.workflow
TINY = REPO / "tests" / "data" / "config.yaml"


def test_tiny_config_tables_agree_with_the_responses(tmp_path):
    run_snakemake(tmp_path, TINY, "results/tables/baselines.csv", "results/tables/model_scores.csv")
    responses = pd.read_parquet(tmp_path / "results" / "responses" / "responses.parquet")
    tables = tmp_path / "results" / "tables"
    used = responses[
        responses["kept"].fillna(False).astype(bool)
        & ~responses["is_demo"].astype(bool)
        & ~responses["catch_trial"].astype(bool)
        & ~responses["multi_participation"].fillna(False).astype(bool)
        & (responses["source"] == "simulated")
    ]
    assert len(used) > 0 and len(used) < len(responses)  # practice, catch and excluded rows exist
    direct = used.groupby(["experiment", "unit"])["correct"].mean().astype(float)
    units = pd.read_csv(tables / "unit_scores.csv").set_index(["experiment", "unit"])
    same = {"check_names": False, "check_index_type": False}
    pd.testing.assert_series_equal(
        units["proportion_correct"].sort_index(), direct.sort_index(), **same
    )
    scores = pd.read_csv(tables / "model_scores.csv").set_index("experiment")
    pd.testing.assert_series_equal(
        scores["score"].sort_index(), direct.groupby(level=0).mean().sort_index(), **same
    )
    assert (scores["sources"] == "simulated").all()
    assert (scores["ci_low"] <= scores["score"]).all() and (
        scores["score"] <= scores["ci_high"]
    ).all()
    assert set(scores.index) == {
        "efficientnet_lite0_natural",
        "efficientnet_lite0_synthetic",
        "vit_tiny-untrained_natural",
    }
    spearman = pd.read_csv(tables / "spearman.csv")
    baselines = pd.read_csv(tables / "baselines.csv")
    lite = spearman[(spearman["model"] == "efficientnet_lite0")]
    assert set(lite["analysis"]) == {"layer_depth", "natural_vs_synthetic"}
    lite = baselines[(baselines["model"] == "efficientnet_lite0")]
    assert set(lite["analysis"]) == {
        "pixel_sparsity",
        "channel_sparsity",
        "local_contrast",
        "mis_vs_human",
    }
    vit = baselines[
        (baselines["model"] == "vit_tiny-untrained") & (baselines["analysis"] == "local_contrast")
    ]
    assert vit["rho"].isna().all()  # tokens have no spatial map: no local contrast
    stats = pd.read_csv(tmp_path / "results" / "efficientnet_lite0" / "unit_statistics.csv")
    assert (stats["n_images"] == 50).all() and stats["local_contrast"].notna().all()
    regression = pd.read_csv(tables / "regression.csv")
    assert (
        "refuted" in regression["interpretation"].iloc[0]
    )  # one trained model: not fitted, says why


def test_score_tables_do_not_wait_for_the_unit_statistics(tmp_path):
    """Scores and their Spearman table need only the responses; the GPU pass of the baselines
    feeds baselines.csv."""
    for table in ("model_scores", "spearman"):
        scores = run_snakemake(tmp_path, TINY, "-n", f"results/tables/{table}.csv").stdout
        assert "analysis_tables" in scores and "unit_statistics" not in scores
    baselines = run_snakemake(tmp_path, TINY, "-n", "results/tables/baselines.csv").stdout
    assert "unit_statistics" in baselines and "baselines_table" in baselines

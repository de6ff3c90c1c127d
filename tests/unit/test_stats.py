"""Scores and statistics (unitpsych.analysis) on small hand-computable inputs."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from script_runner import mock_snakemake, run_script
from unitpsych.analysis import tables as stats

REPO = Path(__file__).resolve().parents[2]
SETTINGS = stats.Settings(
    sources=("simulated",),
    n_resamples=2000,
    confidence_level=0.95,
    seed=42,
    regression_scale="n_parameters",
    regression_cluster=("participant_id", "unit"),
)
MODELS = {
    "small": {"label": "Small", "scale_rank": 1, "arch": "small", "weights": "pretrained"},
    "big": {"label": "Big", "scale_rank": 2, "arch": "big", "weights": "pretrained"},
}
EXPERIMENTS = [
    {"model": "small", "condition": "natural", "difficulty": "easy"},
    {"model": "small", "condition": "synthetic", "difficulty": "easy"},
    {"model": "big", "condition": "natural", "difficulty": "easy"},
]


def _responses(rows: list[tuple], **extra) -> pd.DataFrame:
    """(experiment, unit, correct, confidence) rows as a responses.parquet table (all kept)."""
    df = pd.DataFrame(rows, columns=["experiment", "unit", "correct", "confidence"])
    base = {
        "source": "simulated",
        "kept": True,
        "is_demo": False,
        "catch_trial": False,
        "multi_participation": False,
        "participant_id": "P1",
        "model": "x",
        "condition": "x",
        "difficulty": "x",
    }
    for k, v in (base | extra).items():
        df[k] = v
    return df


def _small_table() -> pd.DataFrame:
    """small_natural: unit a 3/4 correct, unit b 1/2; big_natural: unit a 1/1, unit c 0/2."""
    good = _responses(
        [
            ("small_natural", "l1__0", True, 3),
            ("small_natural", "l1__0", True, 3),
            ("small_natural", "l1__0", True, 2),
            ("small_natural", "l1__0", False, 1),
            ("small_natural", "l2__5", True, 3),
            ("small_natural", "l2__5", False, 1),
            ("big_natural", "l1__0", True, 3),
            ("big_natural", "l3__7", False, 1),
            ("big_natural", "l3__7", False, 2),
        ]
    )
    # rows the analysis must leave out, each of them would change a score
    bad = pd.concat(
        [
            _responses([("small_natural", "l2__5", True, 3)], kept=False),
            _responses([("small_natural", "l2__5", True, 3)], is_demo=True),
            _responses([("small_natural", "l2__5", True, 3)], catch_trial=True),
            _responses([("small_natural", "l2__5", True, 3)], multi_participation=True),
            _responses([("small_natural", "l2__5", True, 3)], source="imi"),
            _responses([("unlisted_natural", "l2__5", True, 3)]),
        ]
    )
    return pd.concat([good, bad], ignore_index=True)


UNITS = {
    "small": pd.DataFrame(
        {"unit": ["l1__0", "l2__5"], "layer_index": [0, 4], "relative_depth": [0.0, 1.0]}
    ),
    "big": pd.DataFrame(
        {"unit": ["l1__0", "l3__7"], "layer_index": [1, 2], "relative_depth": [0.5, 1.0]}
    ),
}


def _tables(responses=None, **kw):
    return stats.score_tables(
        _small_table() if responses is None else responses,
        EXPERIMENTS,
        MODELS,
        SETTINGS,
        units=UNITS,
        **kw,
    )


def test_unit_scores_use_only_kept_main_trials_of_the_configured_sources():
    units = _tables()["unit_scores"].set_index(["experiment", "unit"])
    assert units.loc[("small_natural", "l1__0"), "proportion_correct"] == 0.75
    assert units.loc[("small_natural", "l2__5"), "proportion_correct"] == 0.5
    assert units.loc[("small_natural", "l2__5"), "n_responses"] == 2
    assert units.loc[("big_natural", "l3__7"), "proportion_correct"] == 0.0
    assert "unlisted_natural" not in units.index.get_level_values(0)
    row = units.loc[("small_natural", "l2__5")]
    assert (row["model"], row["label"], row["scale_rank"]) == ("small", "Small", 1)
    assert (row["condition"], row["difficulty"], row["sources"]) == ("natural", "easy", "simulated")
    assert (row["layer"], row["channel"], row["layer_index"], row["relative_depth"]) == (
        "l2",
        5,
        4,
        1.0,
    )


def test_model_score_is_the_unweighted_mean_of_unit_scores():
    scores = _tables()["model_scores"].set_index("experiment")
    # unit a has 4 responses and unit b 2: the response-weighted mean would be 4/6
    assert scores.loc["small_natural", "score"] == pytest.approx((0.75 + 0.5) / 2)
    assert scores.loc["small_natural", "n_units"] == 2
    assert scores.loc["small_natural", "n_responses"] == 6
    assert scores.loc["big_natural", "score"] == pytest.approx(0.5)
    assert "small_synthetic" not in scores.index  # configured, but no responses


def test_bca_interval_matches_scipy_bootstrap_called_directly():
    values = np.array([0.5, 0.6, 0.9, 0.7, 0.65, 0.8, 0.55, 1.0, 0.75, 0.6])
    low, high = stats.bootstrap_ci(values, seed=7, n_resamples=10_000)
    direct = sps.bootstrap(
        (values,),
        np.mean,
        n_resamples=10_000,
        confidence_level=0.95,
        method="BCa",
        rng=np.random.default_rng(7),
    )
    assert (low, high) == (direct.confidence_interval.low, direct.confidence_interval.high)
    assert low < values.mean() < high
    assert stats.bootstrap_ci(values, seed=7) == (low, high)  # seeded: the same twice
    assert stats.bootstrap_ci(np.array([0.5, 0.5, 0.5]), seed=1) == (0.5, 0.5)
    assert all(math.isnan(v) for v in stats.bootstrap_ci(np.array([0.5]), seed=1))


def test_model_score_ci_is_the_bootstrap_of_its_unit_scores():
    rng = np.random.default_rng(0)
    rows = [
        ("big_natural", f"l1__{u}", bool(c), 2)
        for u in range(12)
        for c in rng.random(10) < rng.uniform(0.3, 0.9)
    ]
    t = _tables(_responses(rows))
    units = t["unit_scores"]["proportion_correct"].to_numpy()
    score = t["model_scores"].iloc[0]
    seed = stats.derive_seed(SETTINGS.seed, "model_score", *map(str, score[stats.EXPERIMENT_KEYS]))
    assert (score["ci_low"], score["ci_high"]) == stats.bootstrap_ci(
        units, seed, SETTINGS.n_resamples
    )
    assert score["ci_low"] < score["score"] < score["ci_high"]


def test_confidence_scores_and_distribution():
    t = _tables()
    conf = t["confidence_scores"].set_index(["experiment", "confidence"])
    # small_natural at confidence 3: unit a 2/2, unit b 1/1 -> 1.0; at 1: a 0/1, b 0/1 -> 0
    assert conf.loc[("small_natural", 3), "score"] == 1.0
    assert conf.loc[("small_natural", 1), "score"] == 0.0
    assert set(conf.index.get_level_values(1)) == {1, 3}
    dist = t["confidence_distribution"].set_index(["experiment", "confidence"])
    assert dist.loc[("small_natural", 1), "fraction"] == pytest.approx(2 / 6)
    assert dist.loc[("small_natural", 2), "fraction"] == pytest.approx(1 / 6)
    assert dist.loc[("small_natural", 3), "fraction"] == pytest.approx(3 / 6)
    assert dist.loc[("big_natural", 3), "n_responses"] == 1


def test_layer_scores_pool_units_of_a_layer():
    rows = [
        ("small_natural", "l1__0", True, 2),
        ("small_natural", "l1__1", False, 2),
        ("small_natural", "l1__1", True, 2),
        ("small_natural", "l2__5", True, 2),
    ]
    layers = _tables(_responses(rows))["layer_scores"].set_index("layer")
    assert layers.loc["l1", "score"] == pytest.approx((1.0 + 0.5) / 2)
    assert layers.loc["l1", "n_units"] == 2
    assert layers.loc["l2", "relative_depth"] == 1.0


def _unit_table(groups: dict[str, list[float]], condition="natural") -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "model": m,
                "condition": condition,
                "difficulty": "easy",
                "unit": f"u{i}",
                "proportion_correct": v,
                "sources": "simulated",
            }
            for m, vals in groups.items()
            for i, v in enumerate(vals)
        ]
    )


def test_kruskal_wallis_on_a_known_case():
    # ranks 1..6 split 1,2,3 | 4,5,6: H = 12/(6*7) * (6^2/3 + 15^2/3) - 3*7 = 27/7
    t = stats.kruskal_wallis(_unit_table({"a": [0.1, 0.2, 0.3], "b": [0.4, 0.5, 0.6]}))
    row = t.iloc[0]
    assert row["statistic"] == pytest.approx(27 / 7)
    assert row["p_value"] == pytest.approx(sps.chi2.sf(27 / 7, 1))
    assert (row["n_models"], row["n_units"], row["condition"]) == (2, 6, "natural")
    one = stats.kruskal_wallis(_unit_table({"a": [0.1, 0.2]}))
    assert one.empty  # a single model: no test


def _conover_by_hand(groups: list[np.ndarray]) -> np.ndarray:
    """Conover's test (no ties) with Holm's step-down adjustment, from the textbook formulas."""
    values = np.concatenate(groups)
    n, k = len(values), len(groups)
    ranks = sps.rankdata(values)
    sizes = [len(g) for g in groups]
    bounds = np.cumsum([0, *sizes])
    mean_rank = [ranks[bounds[i] : bounds[i + 1]].mean() for i in range(k)]
    h = 12 / (n * (n + 1)) * sum(s * r**2 for s, r in zip(sizes, mean_rank, strict=True)) - 3 * (
        n + 1
    )
    s2 = ((ranks**2).sum() - n * (n + 1) ** 2 / 4) / (n - 1)
    pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
    raw = []
    for i, j in pairs:
        se = math.sqrt(s2 * (n - 1 - h) / (n - k) * (1 / sizes[i] + 1 / sizes[j]))
        raw.append(2 * sps.t.sf(abs(mean_rank[i] - mean_rank[j]) / se, n - k))
    order = np.argsort(raw)
    adj = np.empty(len(raw))
    running = 0.0
    for rank, idx in enumerate(order):
        running = max(running, min(1.0, (len(raw) - rank) * raw[idx]))
        adj[idx] = running
    out = np.ones((k, k))
    for (i, j), p in zip(pairs, adj, strict=True):
        out[i, j] = out[j, i] = p
    return out


def test_conover_holm_on_a_known_case():
    groups = {
        "a": [0.10, 0.22, 0.31, 0.15],
        "b": [0.41, 0.52, 0.36, 0.47],
        "c": [0.70, 0.81, 0.95, 0.66],
    }
    t = stats.conover_holm(_unit_table(groups))
    got = t.pivot(index="model_a", columns="model_b", values="p_value").loc[
        list("abc"), list("abc")
    ]
    want = _conover_by_hand([np.array(v) for v in groups.values()])
    np.testing.assert_allclose(got.to_numpy(), want, rtol=1e-9)
    assert got.loc["a", "c"] < 0.05  # the extreme groups differ


def test_spearman_on_a_known_case():
    rho, p, n = stats.spearman([1, 2, 3, 4], [1, 3, 2, 4])  # d^2 = 2: 1 - 6*2/(4*15)
    assert rho == pytest.approx(0.8)
    assert n == 4
    assert p == pytest.approx(sps.spearmanr([1, 2, 3, 4], [1, 3, 2, 4]).pvalue)
    rho, _, n = stats.spearman([1, 2, np.nan, 4, 5], [5, 4, 3, 2, 1])
    assert (rho, n) == (pytest.approx(-1.0), 4)
    assert math.isnan(stats.spearman([1, 1, 1], [1, 2, 3])[0])  # constant input: undefined


def test_spearman_table_analyses():
    units = _unit_table({"small": [0.9, 0.8, 0.7, 0.6]}).assign(
        experiment="small_natural", label="Small", scale_rank=1.0
    )
    synthetic = units.assign(
        condition="synthetic", experiment="small_synthetic", proportion_correct=[0.6, 0.7, 0.8, 0.9]
    )
    units = pd.concat([units, synthetic], ignore_index=True)
    layers = units.assign(
        layer=units["unit"],
        relative_depth=[0.1, 0.2, 0.3, 0.4] * 2,
        score=units["proportion_correct"],
    )
    statistics = {
        "small": pd.DataFrame(
            {
                "unit": ["u0", "u1", "u2", "u3"],
                "pixel_sparsity": [0.1, 0.2, 0.3, 0.4],
                "channel_sparsity": [0.0, 0.0, 0.5, 0.1],
                "local_contrast": [4.0, 3.0, 2.0, 1.0],
            }
        )
    }
    mis = {
        "small": pd.DataFrame({"unit": ["u0", "u1", "u2", "u3"], "mis": [0.2, 0.1, 0.4, 0.3]}),
        "big": None,
    }
    t = stats.spearman_table(units, layers, statistics, mis).set_index(["analysis", "condition"])
    assert t.loc[("layer_depth", "natural"), "rho"] == pytest.approx(-1.0)
    assert t.loc[("natural_vs_synthetic", "both"), "rho"] == pytest.approx(-1.0)
    assert t.loc[("pixel_sparsity", "natural"), "rho"] == pytest.approx(-1.0)
    assert t.loc[("local_contrast", "synthetic"), "rho"] == pytest.approx(-1.0)
    assert t.loc[("channel_sparsity", "natural"), "n"] == 4
    assert t.loc[("mis_vs_human", "natural"), "rho"] == pytest.approx(
        -0.6
    )  # d = -2,-2,2,2: 1 - 6*16/60
    assert t.loc[("mis_vs_human", "natural"), "rho"] == pytest.approx(
        sps.spearmanr([0.2, 0.1, 0.4, 0.3], [0.9, 0.8, 0.7, 0.6]).statistic
    )


def test_mis_without_a_table_gives_a_noted_row():
    units = _unit_table({"big": [0.9, 0.8, 0.7]}).assign(
        experiment="big_natural", label="Big", scale_rank=2.0
    )
    layers = units.assign(layer="l", relative_depth=1.0, score=0.8)
    t = stats.spearman_table(units, layers, {}, {"big": None})
    row = t[t["analysis"] == "mis_vs_human"].iloc[0]
    assert "no mis.csv" in row["note"] and math.isnan(row["rho"])


def _scaling_responses(effect: float, seed: int = 0) -> pd.DataFrame:
    """Responses of three trained models of growing size plus an untrained one."""
    rng = np.random.default_rng(seed)
    rows = []
    for model, log_size in (("m1", 6.0), ("m2", 7.0), ("m3", 8.0), ("m0", 6.0)):
        for u in range(20):
            for cond in ("natural", "synthetic"):
                logit = 0.5 + effect * (log_size - 7.0) + rng.normal(0, 0.3)
                for _ in range(30):
                    rows.append(
                        {
                            "experiment": f"{model}_{cond}",
                            "unit": f"l{u % 4}__{u}",
                            "correct": rng.random() < 1 / (1 + np.exp(-logit)),
                            "confidence": int(rng.integers(1, 4)),
                            "participant_id": f"P{rng.integers(0, 50)}",
                        }
                    )
    df = pd.DataFrame(rows)
    for k, v in {
        "source": "simulated",
        "kept": True,
        "is_demo": False,
        "catch_trial": False,
        "multi_participation": False,
    }.items():
        df[k] = v
    return df


SCALE_MODELS = {
    m: {"label": m, "scale_rank": i, "arch": m, "weights": "pretrained"}
    for i, m in enumerate(["m1", "m2", "m3"])
}
SCALE_MODELS["m0"] = {"label": "m0", "scale_rank": 0, "arch": "m1", "weights": "random"}
SCALE_TABLE = pd.DataFrame(
    {"model": ["m1", "m2", "m3"], "n_parameters": [1e6, 1e7, 1e8], "dataset_size": [1e6, 1e6, 1e6]}
)
SCALE_UNITS = {
    m: pd.DataFrame(
        {
            "unit": [f"l{u % 4}__{u}" for u in range(20)],
            "relative_depth": [(u % 4) / 3 for u in range(20)],
        }
    )
    for m in SCALE_MODELS
}


def _regression(effect: float) -> pd.DataFrame:
    exps = [{"model": m, "condition": c} for m in SCALE_MODELS for c in ("natural", "synthetic")]
    return stats.score_tables(
        _scaling_responses(effect),
        exps,
        SCALE_MODELS,
        SETTINGS,
        units=SCALE_UNITS,
        model_table=SCALE_TABLE,
    )["regression"]


def test_regression_finds_a_real_scale_effect_and_says_it_refutes_the_claim():
    t = _regression(effect=0.8).set_index("term")
    scale = t.loc["log10_n_parameters"]
    assert scale["ci_low"] > 0 and scale["coef"] == pytest.approx(0.8, abs=0.3)
    assert scale["interpretation"].startswith("Refuted here")
    assert "m0" in scale["interpretation"]  # the untrained model is left out and named
    assert scale["n_models"] == 3 and scale["n_responses"] == 3 * 20 * 2 * 30
    assert {"condition[synthetic]", "relative_depth", "confidence[2]", "confidence[3]"} <= set(
        t.index
    )
    assert t.index[0] == "log10_n_parameters"


def test_regression_clusters_by_participation_when_ids_are_anonymized():
    responses = _scaling_responses(effect=0.8)
    responses["participant_id"] = "anonymized"  # the IMI release: one id on every row
    responses["participation"] = [f"imi:t-{i // 45}:0" for i in range(len(responses))]
    exps = [{"model": m, "condition": c} for m in SCALE_MODELS for c in ("natural", "synthetic")]
    t = stats.score_tables(
        responses, exps, SCALE_MODELS, SETTINGS, units=SCALE_UNITS, model_table=SCALE_TABLE
    )["regression"].set_index("term")
    scale = t.loc["log10_n_parameters"]
    assert "participation (participant ids anonymized: simulated) & unit" in scale["model_type"]
    trained = responses[~responses["experiment"].str.startswith("m0_")]
    assert scale["n_participants"] == trained["participation"].nunique() == 80
    assert np.isfinite(scale["ci_low"]) and scale["ci_low"] > 0


def test_regression_without_an_effect_does_not_refute():
    scale = _regression(effect=0.0).set_index("term").loc["log10_n_parameters"]
    assert scale["ci_low"] < 0 < scale["ci_high"]
    assert scale["interpretation"].startswith("Not refuted")


def test_regression_with_one_scale_value_is_not_fitted():
    settings = stats.Settings(**{**SETTINGS.__dict__, "regression_scale": "dataset_size"})
    exps = [{"model": m, "condition": "natural"} for m in SCALE_MODELS]
    t = stats.score_tables(
        _scaling_responses(0.5),
        exps,
        SCALE_MODELS,
        settings,
        units=SCALE_UNITS,
        model_table=SCALE_TABLE,
    )["regression"]
    assert len(t) == 1 and t["interpretation"].iloc[0].startswith("not fitted")


def test_missing_columns_are_a_clear_error():
    with pytest.raises(ValueError, match="lacks the columns"):
        stats.analysis_rows(pd.DataFrame({"correct": [True]}), ["simulated"])


def _benchmark_module():
    spec = importlib.util.spec_from_file_location("bench", REPO / "tests/benchmarks/analysis.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_tables_agree_with_a_direct_pandas_computation(tmp_path):
    bench = _benchmark_module()
    exps = bench.paper_experiments()[:4]
    models = {e["model"]: {"label": e["model"], "scale_rank": i} for i, e in enumerate(exps)}
    units = bench.generate_units(list(models), n_units=12)
    responses = bench.generate_responses(exps, units, n_rows=4000, n_tasks=6, source="simulated")
    t = stats.score_tables(responses, exps, models, SETTINGS, units=units)
    used = responses[responses["kept"] & ~responses["is_demo"] & ~responses["catch_trial"]]
    direct = used.groupby(["experiment", "unit"])["correct"].mean()
    got = t["unit_scores"].set_index(["experiment", "unit"])["proportion_correct"]
    pd.testing.assert_series_equal(got.sort_index(), direct.sort_index(), check_names=False)
    direct_model = direct.groupby(level=0).mean()
    got_model = t["model_scores"].set_index("experiment")["score"]
    pd.testing.assert_series_equal(
        got_model.sort_index(), direct_model.sort_index(), check_names=False
    )
    assert (t["model_scores"]["sources"] == "simulated").all()


def test_scripts_write_every_table(tmp_path):
    """The rules' scripts: analysis_tables then baselines_table, on fake Snakemake objects."""

    responses = _small_table()
    parquet = tmp_path / "responses.parquet"
    responses.to_parquet(parquet)
    unit_files = []
    for m, table in UNITS.items():
        unit_files.append(tmp_path / f"{m}_units.csv")
        table.to_csv(unit_files[-1], index=False)
    out = {name: str(tmp_path / "tables" / f"{name}.csv") for name in stats.SCORE_TABLES}
    analysis = {
        "sources": ["simulated"],
        "bootstrap": {"n_resamples": 1000, "confidence_level": 0.95},
        "regression": {"scale": "n_parameters", "cluster": ["participant_id", "unit"]},
    }
    run_script(
        "analysis_tables",
        mock_snakemake(
            input={
                "responses": parquet,
                "units": list(unit_files),
                "models": REPO / "resources" / "models.csv",
            },
            output=out,
            log=[tmp_path / "tables.log"],
            params={
                "analysis": analysis,
                "experiments": EXPERIMENTS,
                "models": MODELS,
                "unit_models": list(UNITS),
                "seed": 1,
            },
        ),
    )
    scores = pd.read_csv(out["model_scores"])
    assert set(scores["experiment"]) == {"small_natural", "big_natural"}
    regression = pd.read_csv(out["regression"])
    assert "not fitted" in regression["interpretation"].iloc[0]  # small/big are not in models.csv
    sp = pd.read_csv(out["spearman"])
    assert set(sp["analysis"]) == {"layer_depth"}  # small_synthetic has no responses
    stat_file = tmp_path / "small_stats.csv"
    pd.DataFrame(
        {
            "unit": ["l1__0", "l2__5"],
            "pixel_sparsity": [0.2, 0.4],
            "channel_sparsity": 0.0,
            "local_contrast": [1.0, 2.0],
        }
    ).to_csv(stat_file, index=False)
    run_script(
        "baselines_table",
        mock_snakemake(
            input={"unit_scores": out["unit_scores"], "statistics": [stat_file], "mis": []},
            output={"csv": tmp_path / "tables" / "baselines.csv"},
            log=[tmp_path / "baselines.log"],
            params={"models": ["small", "big"], "statistics_models": ["small"], "mis_models": []},
        ),
    )
    base = pd.read_csv(tmp_path / "tables" / "baselines.csv")
    assert set(base["analysis"]) == {
        "pixel_sparsity",
        "channel_sparsity",
        "local_contrast",
        "mis_vs_human",
    }


def test_mis_vs_human_uses_the_observer_score_column():
    """mis.csv as the observer writes it: `mis` NaN without a fitted α, `score` = the accuracy."""
    units = _unit_table({"big": [0.9, 0.8, 0.7, 0.6]}).assign(
        experiment="big_natural", label="Big", scale_rank=2.0
    )
    layers = units.assign(layer="l", relative_depth=1.0, score=0.8)
    mis = pd.DataFrame(
        {
            "unit": ["u0", "u1", "u2", "u3"],
            "mis": np.nan,
            "accuracy": [0.9, 0.7, 0.8, 0.1],
            "score": [0.9, 0.7, 0.8, 0.1],
            "score_kind": "accuracy",
        }
    )
    row = stats.spearman_table(units, layers, {}, {"big": mis}).iloc[-1]
    assert (row["analysis"], row["x"], row["n"]) == ("mis_vs_human", "accuracy", 4)
    assert row["rho"] == pytest.approx(0.8)  # ranks 4,2,3,1 vs 4,3,2,1: d^2 = 2


def test_nullable_dtypes_of_responses_parquet_give_the_same_tables():
    """responses.parquet stores string, Int64 and boolean columns; the tables must not care."""
    plain = _scaling_responses(0.5)
    nullable = plain.astype(
        {
            "experiment": "string",
            "unit": "string",
            "participant_id": "string",
            "source": "string",
            "confidence": "Int64",
            "correct": "boolean",
            "kept": "boolean",
            "is_demo": "bool",
            "catch_trial": "bool",
        }
    )
    nullable.loc[len(nullable)] = nullable.iloc[0]
    nullable.loc[len(nullable) - 1, ["kept", "confidence"]] = [pd.NA, pd.NA]  # NA kept: left out
    exps = [{"model": m, "condition": c} for m in SCALE_MODELS for c in ("natural", "synthetic")]
    a, b = (
        stats.score_tables(
            r, exps, SCALE_MODELS, SETTINGS, units=SCALE_UNITS, model_table=SCALE_TABLE
        )
        for r in (plain, nullable)
    )
    for name in ("model_scores", "regression", "confidence_scores"):
        pd.testing.assert_frame_equal(a[name], b[name], check_dtype=False)


def test_reproduction_compares_the_released_scores_with_the_papers():
    from unitpsych.analysis.reproduction import reproduction_table

    responses = _small_table()
    responses["source"] = responses["source"].map({"simulated": "imi", "imi": "local"})
    responses = pd.concat(
        [responses, _responses([("small_natural", "l1__0", False, 1)] * 20, source="local")]
    )  # not the release: ignored
    paper = pd.DataFrame(
        {
            "model": ["small", "big", "small", "huge"],
            "label": ["S", "B", "S", "H"],
            "condition": ["natural", "natural", "synthetic", "natural"],
            "difficulty": ["easy"] * 4,
            "proportion_correct": [0.625, 0.40, 0.7, 0.9],
            "ci_low": [0.6, None, None, None],
            "ci_high": [0.65, None, None, None],
        }
    )
    t = reproduction_table(responses, paper, EXPERIMENTS, MODELS, SETTINGS).set_index("experiment")
    small = t.loc["small_natural"]  # units 3/4 and 1/2 (the other rows are not kept imi rows)
    assert small["score"] == pytest.approx(0.625) and small["difference"] == pytest.approx(0.0)
    assert small["sources"] == "imi" and small["label"] == "Small"  # the config's label wins
    assert small["ours_inside_paper_ci"] and small["paper_inside_our_ci"]
    big = t.loc["big_natural"]  # units 1/1 and 0/2: 0.5
    assert big["difference"] == pytest.approx(0.1) and pd.isna(big["ours_inside_paper_ci"])
    assert t.loc["small_synthetic", "note"] == "no released responses of this experiment"
    assert t.loc["huge_natural", "note"] == "not a configured experiment"
    assert pd.isna(t.loc["huge_natural", "score"]) and t.loc["huge_natural", "label"] == "H"


def test_the_papers_scores_come_with_their_95_ci_and_how_it_was_read():
    paper = pd.read_csv(REPO / "resources" / "paper_scores.csv")
    assert len(paper) == 16 and paper[["ci_low", "ci_high"]].notna().all(axis=None)
    # every published score lies inside its CI, which is at most 0.08 wide (bar ends, ±0.002)
    assert (paper["ci_low"] < paper["proportion_correct"]).all()
    assert (paper["proportion_correct"] < paper["ci_high"]).all()
    assert ((paper["ci_high"] - paper["ci_low"]).between(0.04, 0.08)).all()
    assert paper["source"].str.contains("vector figure on the authors' project page").all()

"""Figures: each drawing function on small constructed tables shows what the tables hold."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from script_runner import mock_snakemake, run_script
from unitpsych.experiments.design import Experiment
from unitpsych.figures import exclusions as fe
from unitpsych.figures import extra as fx
from unitpsych.figures import paper as fp
from unitpsych.figures import registry as figures
from unitpsych.figures.base import FigureInputError, model_order
from unitpsych.responses.checks import CHECKS

REPO = Path(__file__).resolve().parents[2]
STYLE = REPO / "resources" / "unitpsych.mplstyle"

# Three models given in config order c, a, b but ranked a < b < c by scale.
MODELS = {"m_c": ("Model C", 3), "m_a": ("Model A", 1), "m_b": ("Model B", 2)}
EXPERIMENTS = [(m, "natural", "easy") for m in MODELS] + [
    ("m_a", "synthetic", "easy"),
    ("m_b", "synthetic", "easy"),
    ("m_a", "natural", "hard95"),
    ("m_a", "natural", "hard85"),
    ("m_a", "synthetic", "hard95"),
]
N_UNITS = 6


def exp_name(model: str, condition: str, difficulty: str) -> str:
    return f"{model}_{condition}" if difficulty == "easy" else f"{model}_{difficulty}_{condition}"


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    """Tables of the contract's shape from a seeded random unit-score table."""
    rng = np.random.default_rng(0)
    units, models, conf, dist, layers = [], [], [], [], []
    for m, cond, diff in EXPERIMENTS:
        label, rank = MODELS[m]
        meta = {
            "experiment": exp_name(m, cond, diff),
            "model": m,
            "label": label,
            "scale_rank": rank,
            "condition": cond,
            "difficulty": diff,
        }
        for u in range(N_UNITS):
            layer_index = u // 2
            units.append(
                {
                    **meta,
                    "unit": f"layer{layer_index}__{u}",
                    "layer": f"layer{layer_index}",
                    "channel": u,
                    "layer_index": layer_index,
                    "relative_depth": layer_index / 2,
                    "n_responses": 30,
                    "proportion_correct": rng.uniform(0.4, 1.0),
                    "sources": "simulated",
                }
            )
        scores = pd.DataFrame(units[-N_UNITS:])["proportion_correct"]
        s = scores.mean()
        models.append(
            {
                **meta,
                "n_units": N_UNITS,
                "n_responses": 180,
                "score": s,
                "ci_low": s - 0.05,
                "ci_high": s + 0.08,
                "sources": "simulated",
            }
        )
        for c, shift in ((1, -0.1), (3, 0.1)):
            conf.append(
                {
                    **meta,
                    "confidence": c,
                    "n_units": N_UNITS,
                    "score": s + shift,
                    "ci_low": s + shift - 0.04,
                    "ci_high": s + shift + 0.03,
                    "sources": "simulated",
                }
            )
        for c, f in zip((1, 2, 3), (0.2, 0.3, 0.5), strict=True):
            dist.append(
                {
                    **meta,
                    "confidence": c,
                    "fraction": f,
                    "n_responses": int(180 * f),
                    "n_total": 180,
                }
            )
        for li in range(3):
            layers.append(
                {
                    **meta,
                    "layer": f"layer{li}",
                    "layer_index": li,
                    "relative_depth": li / 2,
                    "score": scores[2 * li : 2 * li + 2].mean(),
                    "n_units": 2,
                }
            )
    unit_scores = pd.DataFrame(units)
    conover = [
        {
            "condition": c,
            "difficulty": "easy",
            "model_a": a,
            "model_b": b,
            "p_value": 1.0 if a == b else 0.004,
        }
        for c, ms in (("natural", list(MODELS)), ("synthetic", ["m_a", "m_b"]))
        for a in ms
        for b in ms
    ]
    spearman = pd.DataFrame(
        [
            {
                "analysis": an,
                "model": m,
                "condition": cond,
                "difficulty": "easy",
                "rho": 0.5,
                "p_value": 0.01,
                "n": 6,
            }
            for m in MODELS
            for an, cond in (
                ("layer_depth", "natural"),
                ("natural_vs_synthetic", "both"),
                ("pixel_sparsity", "natural"),
                ("channel_sparsity", "natural"),
                ("local_contrast", "natural"),
                ("mis_vs_human", "natural"),
            )
        ]
    )
    natural = unit_scores[
        (unit_scores["condition"] == "natural") & (unit_scores["difficulty"] == "easy")
    ]
    stats = natural[["model", "unit"]].assign(
        pixel_sparsity=rng.uniform(0, 1, len(natural)),
        channel_sparsity=rng.uniform(0, 0.2, len(natural)),
        local_contrast=rng.uniform(0, 3, len(natural)),
    )
    mis = natural[["model", "unit"]].assign(
        mis=rng.uniform(0.5, 1, len(natural)), backend="features:x"
    )
    n = 40
    upper = rng.integers(0, 46, n)  # 45 main trials a task, as in the paper
    exclusions = pd.DataFrame(
        {
            "experiment": "m_a_natural",
            "participant_id": [f"P{i}" for i in range(n)],
            "task_number": 1,
            "source": "simulated",
            **{f"{c}_result": rng.uniform(size=n) > 0.2 for c in CHECKS},
            "catch_trials_value": rng.uniform(0.5, 1, n),
            "n_upper_row": upper,
            "n_lower_row": 45 - upper,
            "row_variability_value": np.minimum(upper, 45 - upper),
            "total_response_time_value": rng.uniform(100, 2000, n),
            "instruction_time_value": rng.uniform(5, 100, n),
            "demo_trials_value": rng.integers(1, 5, n),
        }
    )
    every = natural[["model", "unit", "layer", "channel", "layer_index", "relative_depth"]]
    mis_all = pd.concat(
        [
            every.assign(
                backend=b,
                score=rng.uniform(0.4, 1, len(every)),
                score_kind="accuracy",
                excluded="",
                scores_itself=b == "features:x",
            )
            for b in ("features:x", "features:y")
        ],
        ignore_index=True,
    )
    scored = pd.DataFrame(models)
    reproduction = scored.assign(
        paper_score=scored["score"] + 0.01,
        paper_ci_low=np.nan,
        paper_ci_high=np.nan,
        difference=-0.01,
        paper_inside_our_ci=True,
        ours_inside_paper_ci=pd.NA,
    )
    return {
        "unit_scores": unit_scores,
        "model_scores": pd.DataFrame(models),
        "mis_all": mis_all,
        "reproduction": reproduction,
        "confidence_scores": pd.DataFrame(conf),
        "confidence_distribution": pd.DataFrame(dist),
        "layer_scores": pd.DataFrame(layers),
        "conover_holm": pd.DataFrame(conover),
        "spearman": spearman,
        "baselines": spearman,
        "unit_statistics": stats,
        "mis": mis,
        "exclusions": exclusions,
    }


@pytest.fixture(autouse=True)
def style():
    """The paper's style, as the figure rules apply it; figures closed after each test."""
    with plt.style.context(str(STYLE)):
        yield
    plt.close("all")


def visible_bars(ax) -> list:
    return [p for p in ax.patches if p.get_visible() and p.get_height() > 0]


def container(ax, label: str):
    return next(c for c in ax.containers if c.get_label() == label)


def test_style_has_paper_colours():
    with plt.style.context(str(STYLE)):
        colours = plt.rcParams["axes.prop_cycle"].by_key()["color"][:2]
        assert [c.lower().lstrip("#") for c in colours] == ["ffac74", "47789e"]
        assert plt.rcParams["grid.linestyle"] == "--" and plt.rcParams["axes.grid.axis"] == "y"


def test_model_order_by_scale_rank(tables):
    assert model_order(tables["model_scores"]) == ["m_a", "m_b", "m_c"]
    unranked = tables["model_scores"].assign(
        scale_rank=np.where(tables["model_scores"]["model"] == "m_a", np.nan, 1)
    )
    assert model_order(unranked)[-1] == "m_a"  # models without a rank come last


def test_model_comparison_bars_labels_and_cis(tables):
    fig = fp.model_comparison(tables["model_scores"])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Model A", "Model B", "Model C"]
    nat, syn = container(ax, "Natural"), container(ax, "Synthetic")
    assert len(nat) == 3 and len(syn) == 2  # model C has no synthetic bar
    ms = (
        tables["model_scores"]
        .query("difficulty == 'easy' and condition == 'natural'")
        .set_index("model")
    )
    heights = [b.get_height() for b in nat]
    assert heights == pytest.approx(ms.loc[["m_a", "m_b", "m_c"], "score"].to_list())
    # error bars span exactly the CI
    segs = nat.errorbar.lines[2][0].get_segments()
    assert [s[0][1] for s in segs] == pytest.approx(
        ms.loc[["m_a", "m_b", "m_c"], "ci_low"].to_list()
    )
    assert [s[1][1] for s in segs] == pytest.approx(
        ms.loc[["m_a", "m_b", "m_c"], "ci_high"].to_list()
    )
    chance = [ln for ln in ax.get_lines() if ln.get_label() == "Chance"]
    assert (
        len(chance) == 1 and chance[0].get_ydata()[0] == 0.5 and chance[0].get_linestyle() == "-."
    )
    assert ax.get_ylabel() == "Proportion Correct" and ax.get_xlabel() == "Model (Ordered by Scale)"
    assert ax.get_ylim()[0] <= 0.475 and ax.get_ylim()[1] >= 0.9
    assert any("simulated" in t.get_text() and "6 units" in t.get_text() for t in fig.texts)


def test_slides_reveal_progressively(tables):
    counts = {
        r: len(visible_bars(fp.model_comparison(tables["model_scores"], reveal=r).axes[0]))
        for r in ("none", "first_natural", "natural", "all")
    }
    assert counts == {"none": 0, "first_natural": 1, "natural": 3, "all": 5}
    limits = {
        r: fp.model_comparison(tables["model_scores"], reveal=r).axes[0].get_ylim()
        for r in ("none", "all")
    }
    assert limits["none"] == limits["all"]  # the frames line up
    for r in ("none", "first_natural", "all"):  # every frame keeps the full legend in its colours
        legend = fp.model_comparison(tables["model_scores"], reveal=r).legends[0]
        assert [t.get_text() for t in legend.get_texts()] == ["Chance", "Natural", "Synthetic"]
        patches = legend.get_patches()
        assert [p.get_facecolor()[:3] for p in patches] == [
            plt.matplotlib.colors.to_rgb(c) for c in ("C0", "C1")
        ]


def test_comparison_figure_1(tables):
    fig = fp.comparison_figure_1(tables["model_scores"])
    ax = fig.axes[0]
    assert len(visible_bars(ax)) == 3 and not ax.containers[0].errorbar
    assert tuple(fig.get_size_inches()) == (2, 2)
    assert ax.get_ylabel() == "Interpretability Score"


def test_difficulty_comparison_panels(tables):
    fig = fp.difficulty_comparison(tables["model_scores"])
    a, b = fig.axes
    assert [t.get_text() for t in a.get_xticklabels()] == ["Easy", "Hard", "Very Hard"]
    assert [t.get_text() for t in b.get_xticklabels()] == ["Easy", "Hard"]
    assert len(visible_bars(a)) == 3 and len(visible_bars(b)) == 2
    easy_only = tables["model_scores"].query("difficulty == 'easy'")
    with pytest.raises(FigureInputError, match="harder difficulty"):
        fp.difficulty_comparison(easy_only)


def test_layer_depth_one_panel_per_model_with_rho(tables):
    fig = fp.layer_depth(tables["layer_scores"], tables["model_scores"], tables["spearman"])
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title().split("\n")[0] for ax in axes] == ["Model A", "Model B", "Model C"]
    assert all("ρ = 0.50" in ax.get_title() for ax in axes)
    assert len(axes[0].collections[0].get_offsets()) == 3  # three layers
    assert axes[0].get_ylim() == (0.25, 1.02)  # room above 1.0: a perfect layer keeps its whole dot


def test_natural_vs_synthetic_pairs_units(tables):
    fig = fp.natural_vs_synthetic(tables["unit_scores"], tables["spearman"])
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 2  # model C has no synthetic experiment
    us = tables["unit_scores"].query("model == 'm_a' and difficulty == 'easy'")
    xy = axes[0].collections[0].get_offsets()
    nat = us[us.condition == "natural"].sort_values("unit")["proportion_correct"].to_numpy()
    syn = us[us.condition == "synthetic"].sort_values("unit")["proportion_correct"].to_numpy()
    assert sorted(map(tuple, np.asarray(xy))) == sorted(zip(nat, syn, strict=True))


def test_difficulty_units_and_gaps(tables):
    fig = fp.difficulty_units(tables["unit_scores"])
    assert len(fig.axes) == 1 and "6 shared units" in fig.axes[0].get_title()
    gaps = fp.difficulty_gaps(tables["unit_scores"])
    assert len(gaps.axes) == 4  # one model × (hard85, hard95) × (vs position, vs easy score)
    us = tables["unit_scores"].query("model == 'm_a' and condition == 'natural'")
    wide = us.pivot_table(index="unit", columns="difficulty", values="proportion_correct")
    expected = sorted(wide["easy"] - wide["hard85"])
    got = sorted(np.asarray(gaps.axes[0].collections[0].get_offsets())[:, 1])
    assert got == pytest.approx(expected)


def test_confidence_figures(tables):
    fig = fp.confidence_comparison(tables["confidence_scores"], "synthetic")
    ax = fig.axes[0]
    assert len(container(ax, "Low Confidence")) == 2 and len(container(ax, "High Confidence")) == 2
    low_missing = tables["confidence_scores"].query("not (model == 'm_b' and confidence == 1)")
    ax = fp.confidence_comparison(low_missing, "synthetic").axes[0]
    assert len(container(ax, "Low Confidence")) == 1
    assert [t.get_text() for t in ax.texts] == ["none"]
    fig = fp.confidence_distribution(tables["confidence_distribution"])
    ax = fig.axes[0]
    assert len(visible_bars(ax)) == 3 * 5  # 3 levels × (3 natural + 2 synthetic) bars
    tops = sorted({round(p.get_y() + p.get_height(), 6) for p in ax.patches})
    assert tops[-1] == pytest.approx(1.0)


def test_property_figures(tables):
    props = pd.DataFrame(
        {"model": ["m_a", "m_b"], "top1_accuracy": [0.7, 0.8], "mean_rank": [3, np.nan]}
    )
    fig = fx.model_accuracy_vs_performance(tables["model_scores"], props)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "ImageNet Top-1 Accuracy"
    assert sorted(t.get_text() for t in ax.texts) == ["1", "2"]  # numbers in scale order, ...
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["Model A", "Model B"]  # a key
    fig.canvas.draw()  # a model's natural and synthetic points side by side, not on top
    natural, synthetic = (
        ax.transData.inverted().transform(
            c.lines[0].get_transform().transform(c.lines[0].get_xydata())
        )[:, 0]
        for c in ax.containers
    )
    assert (natural < synthetic).all() and ax.containers[0].get_label() == "Natural"
    fig = fx.model_human_likeness_vs_performance(tables["model_scores"], props)
    assert [t.get_text() for t in fig.axes[0].texts] == ["1"]
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["Model A"]


def test_significance_matrix(tables):
    fig = fx.significance_matrix(tables["conover_holm"], tables["model_scores"], "natural")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Model A", "Model B", "Model C"]
    assert "p < 0.01" in [t.get_text() for t in fig.axes[1].get_yticklabels()]


def test_exclusion_figures(tables):
    ex = tables["exclusions"]
    fig = fe.exclusion_decisions(ex)
    ax = fig.axes[0]
    passed = container(ax, "Passed")
    assert [b.get_height() for b in passed] == [int(ex[f"{c}_result"].sum()) for c in CHECKS]
    failed = container(ax, "Failed")
    assert [b.get_height() for b in failed] == [int((~ex[f"{c}_result"]).sum()) for c in CHECKS]
    thresholds = {
        "instruction_time_min_s": 15,
        "instruction_time_max_s": None,
        "total_response_time_min_s": 135,
        "total_response_time_max_s": 2500,
        "row_variability_min": 5,
        "catch_trials_min_ratio": 0.8,
        "demo_trials_max_attempts": 3,
    }
    fig = fe.exclusion_values(ex, thresholds)
    assert [ax.get_title() for ax in fig.axes] == [
        "Instruction Time [s]\n(pass ≥ 15)",
        "Total Response Time [s]\n(pass 135–2500)",
        "Upper Row Presses\n(pass 5–40)",
        "Lower Row Presses\n(pass 5–40)",
        "Catch Trial Ratio\n(pass ≥ 0.8)",
        "Practice Attempts\n(pass ≤ 3)",
    ]
    # the paper's lines (§8.5 item 15), from the thresholds given: rows 5–40 of 45 trials;
    # practice attempts drawn one bar per value, so the line lies between 3 (pass) and 4 (fail)
    lines = [[ln.get_xdata()[0] for ln in ax.get_lines()] for ax in fig.axes]
    assert lines == [[15], [135, 2500], [5, 40], [5, 40], [0.8], [3.5]]
    assert all(sum(p.get_height() for p in ax.patches) == len(ex) for ax in fig.axes)
    for ax, col in ((fig.axes[2], "n_upper_row"), (fig.axes[3], "n_lower_row")):  # 20 bins (§8.5)
        assert [p.get_height() for p in ax.patches] == np.histogram(ex[col], 20)[0].tolist()
    lines = [
        [ln.get_xdata()[0] for ln in ax.get_lines()]
        for ax in fe.exclusion_values(ex, thresholds | {"row_variability_min": 2}).axes
    ]
    assert lines[2] == [2, 43]
    # practice attempts with a long tail (1..30) still get one bar per attempt count, so the
    # line at 3.5 falls between the bars of 3 (pass) and 4 (fail) and cuts none
    tail = ex.assign(demo_trials_value=np.resize(np.arange(1, 31), len(ex)))
    ax = fe.exclusion_values(tail, thresholds).axes[5]
    edges = sorted(
        {p.get_x() for p in ax.patches} | {p.get_x() + p.get_width() for p in ax.patches}
    )
    assert [ln.get_xdata()[0] for ln in ax.get_lines()] == [3.5]
    assert not any(p.get_x() < 3.5 < p.get_x() + p.get_width() for p in ax.patches), edges
    # a threshold far beyond the data is named at the edge, not drawn (the bars keep their width)
    fig = fe.exclusion_values(ex, thresholds | {"total_response_time_max_s": 20000})
    assert [ln.get_xdata()[0] for ln in fig.axes[1].get_lines()] == [135]
    assert "→ 20000 off scale" in [t.get_text() for t in fig.axes[1].texts]
    # an exclusions table without the row counts (written before they existed) says what it lacks
    with pytest.raises(FigureInputError, match="n_upper_row"):
        fe.exclusion_values(ex.drop(columns=["n_upper_row", "n_lower_row"]), thresholds)


def test_baselines_and_mis(tables):
    fig = fx.unit_baseline(
        tables["unit_scores"],
        tables["unit_statistics"],
        tables["spearman"],
        "local_contrast",
        "Local Contrast",
    )
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 3 and all(len(ax.collections[0].get_offsets()) == N_UNITS for ax in axes)
    fig = fx.mis_per_model(tables["mis"], tables["unit_scores"])
    ax = fig.axes[0]
    means = tables["mis"].groupby("model")["mis"].mean()
    assert [p.get_height() for p in ax.patches] == pytest.approx(
        means[["m_a", "m_b", "m_c"]].to_list()
    )
    assert any("scored by features:x" in t.get_text() for t in fig.texts)  # the backend is named
    fig = fx.mis_vs_human(tables["mis"], tables["unit_scores"], tables["spearman"])
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 3
    mixed = tables["mis"].assign(
        backend=np.where(tables["mis"]["model"] == "m_c", "features:y", "features:x")
    )
    assert fx.backend_note(mixed) == "scored by features:y (m_c), features:x (m_a, m_b)"
    assert fig.axes[0].get_xlabel() == "Machine Interpretability Score"
    # the observer's mis.csv: no fitted α -> mis empty, score = α-free accuracy (score_kind
    # accuracy)
    observer = tables["mis"].assign(
        accuracy=tables["mis"]["mis"], score=tables["mis"]["mis"], score_kind="accuracy"
    )
    observer["mis"] = np.nan
    fig = fx.mis_per_model(observer, tables["unit_scores"])
    assert fig.axes[0].get_ylabel() == "Machine Observer Accuracy (α-free)"
    assert [p.get_height() for p in fig.axes[0].patches] == pytest.approx(
        means[["m_a", "m_b", "m_c"]].to_list()
    )
    with pytest.raises(FigureInputError, match="no unit with a score"):
        fx.mis_per_model(observer.assign(score=np.nan, accuracy=np.nan), tables["unit_scores"])


def test_every_registered_figure_draws(tables):
    props = pd.DataFrame(
        {
            "model": list(MODELS),
            "top1_accuracy": [0.7, 0.8, 0.75],
            "mean_rank": [3, 2, 1],
            "n_parameters": [3e6, 1e6, 2e6],
        }
    )
    for name in figures.FIGURES:
        fig = figures.draw(name, tables, properties=props, thresholds={"row_variability_min": 5})
        assert fig.axes, name
        plt.close(fig)


def test_reproduction_shows_the_papers_and_our_score_per_model(tables):
    fig = fx.reproduction(tables["reproduction"])
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["Natural", "Synthetic"]
    natural = fig.axes[0]
    labels = [t.get_text() for t in natural.get_xticklabels()]
    assert labels == ["Model A", "Model B", "Model C"]  # every model, in scale order
    assert [t.get_text() for t in fig.axes[1].get_legend().get_texts()] == [
        "Paper",
        "Released responses (ours)",
    ]
    note = fig.texts[-1].get_text()
    assert "largest |ours − paper| 0.010" in note and "paper inside our 95 % CI for" in note
    plt.close(fig)
    exps = [Experiment("m_a", "natural")]
    assert "response source 'imi'" in figures.missing_requirement(
        "reproduction", exps, None, ["simulated"]
    )
    assert figures.missing_requirement("reproduction", exps, None, ["imi"]) is None


def test_missing_requirement_names_the_experiments():
    exps = [Experiment("m_a", "natural"), Experiment("m_b", "natural")]
    assert figures.missing_requirement("model_comparison", exps) is None
    msg = figures.missing_requirement("model_comparison_units_rn_easy_vs_hard", exps)
    assert "hard95_natural" in msg and "m_a_natural, m_b_natural" in msg
    assert "synthetic" in figures.missing_requirement("model_comparison_synthetic_confidence", exps)
    assert (
        figures.missing_requirement("model_comparison_significance_natural", exps[:1]) is not None
    )
    props = pd.DataFrame({"model": ["m_a"], "top1_accuracy": [0.7], "mean_rank": [np.nan]})
    assert figures.missing_requirement("model_accuracy_vs_performance", exps, props) is None
    assert "mean_rank" in figures.missing_requirement(
        "model_human_likeness_vs_performance", exps, props
    )
    with pytest.raises(KeyError, match="unknown figure"):
        figures.missing_requirement("nope", exps)


def test_model_properties_by_name_then_arch_untrained_left_out():
    table = pd.DataFrame(
        {"model": ["resnet50", "arch_x"], "top1_accuracy": [0.76, 0.7], "mean_rank": [7.3, np.nan]}
    )
    models = {
        "resnet50": {"arch": "resnet50"},
        "mine": {"arch": "arch_x"},
        "mine-untrained": {"arch": "arch_x", "weights": "random"},
    }
    props = figures.model_properties(models, table).set_index("model")
    assert (
        props.loc["resnet50", "top1_accuracy"] == 0.76 and props.loc["mine", "top1_accuracy"] == 0.7
    )
    assert np.isnan(props.loc["mine-untrained", "top1_accuracy"])


def test_empty_input_says_what_is_missing(tables):
    with pytest.raises(FigureInputError, match="easy difficulty"):
        fp.model_comparison(tables["model_scores"].iloc[0:0])


def test_script_writes_pdf_and_png_deterministically(tables, tmp_path):
    tables["model_scores"].to_csv(tmp_path / "model_scores.csv", index=False)
    tables["unit_scores"].to_csv(tmp_path / "unit_scores.csv", index=False)
    mis_files = []
    for m in MODELS:  # results/<model>/mis.csv: the folder names the model
        (tmp_path / m).mkdir()
        path = tmp_path / m / "mis.csv"
        tables["mis"].query("model == @m").drop(columns="model").to_csv(path, index=False)
        mis_files.append(str(path))
    props = tmp_path / "models.csv"
    pd.DataFrame({"model": ["arch_a"], "top1_accuracy": [0.7], "mean_rank": [2.0]}).to_csv(
        props, index=False
    )

    def run(name, inputs, params, out):
        smk = mock_snakemake(
            input={"style": STYLE, **inputs},
            output={"pdf": out / f"{name}.pdf", "png": out / f"{name}.png"},
            params={"figure": name, **params},
            log=[out / f"{name}.log"],
        )
        run_script("plot_figure", smk)
        return (out / f"{name}.pdf").read_bytes(), (out / f"{name}.png").read_bytes()

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    pdf, png = run(
        "model_comparison", {"model_scores": str(tmp_path / "model_scores.csv")}, {}, tmp_path / "a"
    )
    assert pdf.startswith(b"%PDF") and png.startswith(b"\x89PNG")
    assert (
        run(
            "model_comparison",
            {"model_scores": str(tmp_path / "model_scores.csv")},
            {},
            tmp_path / "b",
        )[0]
        == pdf
    )
    run(
        "mis_per_model",
        {"unit_scores": str(tmp_path / "unit_scores.csv"), "mis": mis_files},
        {},
        tmp_path / "a",
    )
    assert (tmp_path / "a" / "mis_per_model.png").stat().st_size > 1000
    info = {
        "m_a": {"arch": "arch_a", "weights": "pretrained"},
        "m_b": {"arch": "arch_a", "weights": "random"},
    }
    run(
        "model_accuracy_vs_performance",
        {"model_scores": str(tmp_path / "model_scores.csv"), "properties": str(props)},
        {"model_info": info},
        tmp_path / "a",
    )
    assert (
        "drew model_accuracy_vs_performance"
        in (tmp_path / "a" / "model_accuracy_vs_performance.log").read_text()
    )

"""Feature visualisations (protocol §5): search logic, plateau stop, optimisation on real models."""

from __future__ import annotations

import json
import random
from dataclasses import asdict

import numpy as np
import pytest
import torch
from PIL import Image
from snakemake.utils import validate

from conftest import REPO
from script_runner import mock_snakemake, run_script
from unitpsych.visualizations.featureviz import (
    SUMMARY_COLUMNS,
    read_fv,
    save_unit_fv,
    summarize_visualizations,
    visualize_unit,
)
from unitpsych.visualizations.optimise import (
    PlateauStop,
    evaluate_images,
    gram_similarity,
    jitters,
    lucent_on,
    optimise_runs,
    reused_heap,
)
from unitpsych.visualizations.search import (
    AlphaSearch,
    AlphaSettings,
    RunResult,
    RunSpec,
    UnitPlan,
    beats_target,
    sequential_alpha_search,
)
from unitpsych.visualizations.settings import FVSettings, PlateauSettings

SCHEMA = str(REPO / "workflow" / "schemas" / "config.schema.yaml")
# Small and fast: 48 px optimised, 32 px stored, a handful of Adam steps.
TINY = {"param_size": 48, "crop_size": 32, "max_steps": 12}


def featureviz_config(**overrides) -> dict:
    """The visualizations slice with the schema's defaults filled in (as the workflow sees it)."""
    cfg = {"visualizations": overrides}
    validate(cfg, SCHEMA)
    return cfg["visualizations"]


def fv_settings(**overrides) -> FVSettings:
    """FVSettings from a validated slice (batch_images and units_per_job, speed only, are not
    settings)."""
    cfg = featureviz_config(**overrides)
    cfg.pop("batch_images")
    cfg.pop("units_per_job")
    return FVSettings.from_config(cfg)


PAPER_ALPHA = AlphaSettings(**featureviz_config()["alpha"])
UNIT = "blocks_3_0_conv_pwl__7"  # a middle EfficientNet-lite0 layer (80 channels, linear)
LATE_UNIT = "blocks_5_0_conv_pwl__7"  # a late one (192 channels)


# --------------------------------------------------------------------------- α search, pure


def bisection_reference(threshold: float, s: AlphaSettings) -> float:
    """The α the protocol must find when a batch works exactly for α < threshold (threshold >
    start)."""
    alpha = s.start
    while alpha <= s.max and alpha < threshold:
        alpha *= s.factor
    if alpha > s.max:
        return alpha / s.factor
    lo, hi = (0.0 if alpha == s.start else alpha / s.factor), alpha
    best = None
    for _ in range(s.bisection_steps):
        mid = (lo + hi) / 2
        if mid < threshold:
            best, lo = mid, mid
        else:
            hi = mid
    return best if best is not None else alpha / s.factor


@pytest.mark.parametrize("threshold", [1.7, 37.0, 420.0, 12_345.0, 99_999.0])
def test_alpha_search_finds_largest_working_alpha_below_threshold(threshold):
    s = PAPER_ALPHA
    out = sequential_alpha_search(lambda a: a < threshold, s)
    assert out.alpha == pytest.approx(bisection_reference(threshold, s))
    assert out.alpha < threshold
    assert out.source == "bisection"
    # the bisection interval after 7 halvings of [T_exp/10, T_exp] brackets the threshold
    exp_fail = 10 ** np.ceil(np.log10(threshold))
    assert threshold - out.alpha <= (exp_fail - exp_fail / 10) / 2**7 + 1e-9
    n_ladder = round(np.log10(exp_fail)) + 1  # 1, 10, ... up to the first failing power of ten
    assert out.tried[:n_ladder] == tuple(10.0**k for k in range(n_ladder))
    assert len(out.tried) == n_ladder + 7


def test_alpha_search_edge_cases():
    s = PAPER_ALPHA
    # every α works: the ladder stops at its bound and keeps 1e5 (no bisection)
    out = sequential_alpha_search(lambda a: True, s)
    assert (out.alpha, out.source) == (1e5, "exponential")
    assert out.tried == (1.0, 10.0, 100.0, 1e3, 1e4, 1e5)
    # nothing works: 1 fails, 7 midpoints in [0, 1] fail -> the non-diverse batch (α = 0)
    out = sequential_alpha_search(lambda a: False, s)
    assert (out.alpha, out.source) == (0.0, "non_diverse")
    assert out.tried == (1.0, 0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625, 0.0078125)
    # only α = 1 works and every midpoint in [1, 10] fails: fall back to the ladder's α = 1
    out = sequential_alpha_search(lambda a: a <= 1.0, s)
    assert (out.alpha, out.source) == (1.0, "exponential")
    assert out.tried[:2] == (1.0, 10.0) and out.tried[2] == 5.5


@pytest.mark.parametrize("k", [1, 2, 5, 12])
def test_speculative_search_matches_sequential(k):
    """Outcomes told in any batch of candidates give exactly the sequential protocol's result."""
    s = PAPER_ALPHA
    rng = random.Random(k)
    for _ in range(40):
        threshold = 10 ** rng.uniform(-3, 6.5)
        works = lambda a, t=threshold: a < t  # noqa: E731
        search = AlphaSearch(s)
        evaluated = 0
        while search.outcome is None:
            batch = search.candidates(k)
            assert batch and batch[0] == search.needed()
            for alpha in batch:
                search.tell(alpha, works(alpha))
            evaluated += len(batch)
        expected = sequential_alpha_search(works, s)
        assert search.outcome == expected
        if k == 1:
            assert evaluated == len(expected.tried)


def test_settings_take_the_schema_defaults_and_reject_bad_values():
    paper = fv_settings()  # protocol §5: the paper's values come from the schema alone
    assert (paper.n_images, paper.param_size, paper.crop_size) == (9, 256, 224)
    assert (paper.lr, paper.max_steps, paper.diversity) == (0.05, 20_000, True)
    assert paper.alpha == AlphaSettings(start=1.0, factor=10.0, max=999_999.0, bisection_steps=7)
    assert paper.plateau == PlateauSettings(min_steps=2500, window=2000, ratio=1.1, smoothing=0.99)
    assert fv_settings(alpha={"bisection_steps": 3}).alpha == AlphaSettings(1.0, 10.0, 999_999.0, 3)
    with pytest.raises(ValueError, match="crop_size"):
        fv_settings(param_size=64, crop_size=80)
    with pytest.raises(ValueError, match="n_images must be >= 2"):
        FVSettings.from_config({**asdict(paper), "n_images": 1})
    # batch_images and units_per_job change the speed only: they are not settings, so they never
    # reach a result
    with pytest.raises(ValueError, match=r"unknown settings \['batch_images', 'units_per_job'\]"):
        FVSettings.from_config(featureviz_config())
    # no silent defaults: an unvalidated slice names what it lacks
    partial = {**asdict(paper), "alpha": {"start": 1.0, "bisection_steps": 1}}
    with pytest.raises(
        ValueError, match=r"visualizations.alpha: .*missing settings \['factor', 'max'\]"
    ):
        FVSettings.from_config(partial)


# --------------------------------------------------------------------------- plateau stop


def test_plateau_stop_on_synthetic_gradient_sequences():
    s = PlateauSettings(min_steps=50, window=40, ratio=1.1, smoothing=0.9)
    # a steadily falling gradient norm (halves every 10 steps) never plateaus
    falling = PlateauStop(s)
    assert not any(falling.update(100 * 0.5 ** (t / 10)) for t in range(300))
    # falling, then flat from step 100: stops once the smoothed halves agree within 10 %
    flat = PlateauStop(s)
    stops = [flat.update(100 * 0.5 ** (min(t, 100) / 10)) for t in range(300)]
    first = stops.index(True)
    assert 100 < first < 200
    # a constant norm stops at the earliest allowed step: more than max(window, min_steps) values
    const = PlateauStop(s)
    stops = [const.update(1.0) for _ in range(60)]
    assert stops.index(True) == 50  # the 51st value
    # the smoothing follows s_t = w·s_{t-1} + (1-w)·g_t with s_0 = g_0
    p = PlateauStop(s)
    p.update(10.0)
    p.update(0.0)
    assert p.smoothed == pytest.approx([10.0, 9.0])


# --------------------------------------------------------------------------- diversity term


def lucid_diversity_sum(act: torch.Tensor) -> torch.Tensor:
    """Σ_{i≠j} ⟨Ĝ_i, Ĝ_j⟩ written as lucent/Lucid do (explicit C×C Gram matrices)."""
    grams = act @ act.transpose(1, 2)
    grams = torch.nn.functional.normalize(grams.flatten(1), dim=1)
    n = act.shape[0]
    return sum((grams[i] * grams[j]).sum() for i in range(n) for j in range(n) if j != i)


@pytest.mark.parametrize(
    "shape", [(4, 6, 50), (4, 40, 3)]
)  # C < N (Gram path), C > n·N (kernel path)
def test_gram_similarity_matches_lucid_definition(shape):
    torch.manual_seed(0)
    act = torch.randn(2, *shape, dtype=torch.float64)
    got = gram_similarity(act)
    expected = torch.stack([lucid_diversity_sum(a) for a in act])
    assert torch.allclose(got, expected)
    # identical images are maximally similar: n(n-1)
    same = act[:, :1].expand(-1, shape[0], -1, -1)
    assert torch.allclose(
        gram_similarity(same), torch.full((2,), shape[0] * (shape[0] - 1.0), dtype=torch.float64)
    )


# --------------------------------------------------------------------------- optimisation


def test_lucent_on_points_lucent_at_the_device_and_restores_it():
    from lucent.optvis import transform
    from lucent.optvis.param import color, spatial

    before = (transform.device, spatial.device, color._linear_decorrelate_color)
    x = torch.rand(2, 3, 5, 5)
    with lucent_on(torch.device("cpu")):
        assert transform.device == spatial.device == torch.device("cpu")
        got = color._linear_decorrelate_color(x)
    expected = np.einsum("bchw,dc->bdhw", x.numpy(), color.color_correlation_normalized)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-6)
    assert (transform.device, spatial.device, color._linear_decorrelate_color) == before


PAGE_FAULT_PROBE = """
import contextlib, resource, sys
import torch
from unitpsych.visualizations.optimise import reused_heap
with reused_heap() if sys.argv[1] == "heap" else contextlib.nullcontext():
    torch.empty(64 * 2**18).fill_(1.0)  # a 64 MB buffer, written and freed
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(16):
        torch.empty(64 * 2**18).fill_(1.0)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _page_faults(mode: str) -> int:
    """Minor page faults of sixteen 64 MB buffers in a fresh process (glibc's default state)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(REPO / "workflow" / "scripts")}
    cmd = [sys.executable, "-c", PAGE_FAULT_PROBE, mode]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    return int(out.stdout.split()[-1])


def test_reused_heap_keeps_freed_buffers_in_the_process_and_nests():
    from unitpsych.visualizations import optimise

    if optimise._glibc() is None:
        pytest.skip("not glibc: reused_heap is a no-op")
    outside, inside = _page_faults("plain"), _page_faults("heap")
    # 64 MB is 16,384 pages: outside, every buffer faults all of them again; inside, the heap
    # serves them (a few may still grow its top: 1 to 3 of 16 faulted in repeated runs)
    assert inside < outside / 2, (inside, outside)
    with reused_heap():
        with reused_heap():
            assert optimise._heap_depth == [2]
        assert optimise._heap_depth == [1]  # an inner block (a round) keeps the outer's settings
    assert optimise._heap_depth == [0]


def _unit_values(model, unit: str, images: np.ndarray) -> np.ndarray:
    layer, channel = unit.rsplit("__", 1)
    return evaluate_images(model, layer, int(channel), images)


def _start_images(settings: FVSettings, n: int, seed: int) -> np.ndarray:
    """The images a run starts from (step 0): lucent's parameterisation after the seed reset."""
    from lucent.optvis import param

    torch.manual_seed(seed)
    with lucent_on(torch.device("cpu")), torch.no_grad():
        _, image_f = param.image(settings.param_size, batch=n)
        m, c = (settings.param_size - settings.crop_size) // 2, settings.crop_size
        return image_f()[:, :, m : m + c, m : m + c].permute(0, 2, 3, 1).numpy()


def test_jitters_are_the_papers_at_256_px_and_keep_their_share_at_other_sizes():
    assert jitters(256) == (16, 8)
    assert jitters(512) == (32, 16)
    assert jitters(64) == (4, 2)
    assert jitters(16) == (1, 1)  # never below one pixel


def test_maximising_and_minimising_move_the_unit_on_trained_lite0(lite0):
    settings = fv_settings(param_size=96, crop_size=80, max_steps=24)
    layer, channel = LATE_UNIT.rsplit("__", 1)
    start = _unit_values(lite0, LATE_UNIT, _start_images(settings, 2, seed=5))
    runs = [RunSpec("max", 0.0, 2), RunSpec("min", 0.0, 2)]
    res = optimise_runs(lite0, layer, int(channel), runs, settings, seed=5)
    up = _unit_values(lite0, LATE_UNIT, res[0].images)
    down = _unit_values(lite0, LATE_UNIT, res[1].images)
    spread = start.std() + 0.1
    assert up.min() > start.max() + 2 * spread, (start, up)
    assert down.max() < start.min() - 2 * spread, (start, down)
    assert (
        res[0].images.shape == (2, 80, 80, 3)
        and 0 <= res[0].images.min() <= res[0].images.max() <= 1
    )
    assert res[0].steps == 24


def test_batched_runs_equal_separate_runs(lite0):
    """Stacking runs (sides, α values) along the batch reproduces each run made on its own."""
    settings = fv_settings(**{**TINY, "max_steps": 8})
    layer, channel = UNIT.rsplit("__", 1)
    runs = [RunSpec("max", 0.0, 3), RunSpec("min", 10.0, 2), RunSpec("max", 100.0, 2)]
    together = optimise_runs(lite0, layer, int(channel), runs, settings, seed=3)
    for run, res in zip(runs, together, strict=True):
        alone = optimise_runs(lite0, layer, int(channel), [run], settings, seed=3)[0]
        # equal up to float rounding (the batch size changes oneDNN's blocking; Adam's normalised
        # first steps amplify it a little, up to ~1 % of the unit's value after 8 steps): far
        # below how far the images moved from grey
        change = np.abs(res.images - 0.5).mean()
        assert np.abs(res.images - alone.images).mean() < 0.01 * change
        np.testing.assert_allclose(
            _unit_values(lite0, UNIT, res.images),
            _unit_values(lite0, UNIT, alone.images),
            rtol=0.02,
            atol=0.01,
        )
        assert res.steps == alone.steps == 8


def test_visualize_unit_is_deterministic_and_follows_the_protocol(lite0):
    settings = fv_settings(**TINY, alpha={"max": 9, "bisection_steps": 1})
    layer, channel = UNIT.rsplit("__", 1)
    # dataset extremes: the unit's range over the starting noise, which the FVs leave far behind
    start = _unit_values(lite0, UNIT, _start_images(settings, 9, seed=11))
    lo, hi = float(start.min()), float(start.max())
    a = visualize_unit(lite0, UNIT, lo, hi, settings, seed=11, batch_images=50)  # one round
    b = visualize_unit(lite0, UNIT, lo, hi, settings, seed=11, batch_images=50)
    assert a.settings["rounds"] == 1 and a.settings["batch_images"] == 50
    for side in ("min", "max"):
        np.testing.assert_array_equal(a.sides[side].images, b.sides[side].images)
        assert a.sides[side].activations == b.sides[side].activations
        assert a.sides[side].alpha == b.sides[side].alpha
    # without speculative runs (one side-pair per round) the search takes more rounds, same result
    c = visualize_unit(lite0, UNIT, lo, hi, settings, seed=11, batch_images=18)
    assert c.settings["rounds"] > 1
    for side in ("min", "max"):
        assert c.sides[side].alpha == a.sides[side].alpha
        np.testing.assert_allclose(c.sides[side].activations, a.sides[side].activations, atol=0.05)
    assert a.success and a.reason == "ok"
    for side, sign, target in (("min", -1, lo), ("max", 1, hi)):
        r = a.sides[side]
        # protocol §10 item 10: the search found a diversity weight, and with it every stored
        # diverse image beats the dataset extreme
        assert r.alpha > 0 and r.alpha_source in ("exponential", "bisection"), (side, r.alpha)
        assert all(sign * v > sign * target for v in r.activations[:8])
        assert r.images.shape == (9, 32, 32, 3) and len(r.activations) == 9
        diverse = np.array(r.activations[:8]) * sign
        assert np.all(np.diff(diverse) >= 0)  # weakest -> strongest
        nd = next(run for run in a.runs if run["side"] == side and run["alpha"] == 0.0)
        assert r.activations[8] == pytest.approx(sign * max(sign * np.array(nd["activations"])))
        used = next(run for run in a.runs if run["side"] == side and run["alpha"] == r.alpha)
        assert used["works"] and sorted(used["activations"]) == sorted(r.activations[:8])
    # the stored images re-evaluate to the recorded activations
    again = _unit_values(lite0, UNIT, a.sides["max"].images)
    np.testing.assert_allclose(again, a.sides["max"].activations, rtol=1e-4, atol=1e-4)
    # a different seed starts from different noise
    nondiv = next(r for r in a.runs if r["side"] == "max" and r["alpha"] == 0.0)
    other = visualize_unit(
        lite0, UNIT, lo, hi, fv_settings(**TINY, diversity=False), seed=12, batch_images=18
    )
    assert not np.allclose(other.sides["max"].activations, sorted(nondiv["activations"]), atol=1e-3)
    assert other.sides["max"].alpha_source == "no_diversity" and len(other.runs) == 2


def _run(side: str, alpha: float, activations: list[float]) -> RunResult:
    """A finished run with the given re-evaluated activations (images: their values as grey)."""
    acts = np.asarray(activations, dtype=np.float64)
    images = np.broadcast_to(acts[:, None, None, None], (len(acts), 2, 2, 3)).copy()
    return RunResult(RunSpec(side, alpha, len(acts)), images, 5, acts)


def test_non_diverse_fvs_that_tie_the_dataset_extreme_pass_but_a_diverse_batch_must_beat_it():
    """§5.2: a side is too weak only when strictly short; a diverse batch works only when beyond."""
    settings = fv_settings(n_images=3, alpha={"max": 9, "bisection_steps": 1})
    plan = UnitPlan(settings.alpha, 3, True, dataset_min=0.0, dataset_max=1.0)
    plan.add(_run("min", 0.0, [0.0, 0.0, 0.0]))  # a ReLU unit silenced everywhere: ties 0
    plan.add(_run("max", 0.0, [1.0, 1.5, 2.0]))  # weakest ties the maximum
    assert plan.non_diverse_too_weak() == {"min": False, "max": False}
    assert not beats_target(plan.results[("min", 0.0)], 0.0)
    assert beats_target(_run("max", 1.0, [1.01, 2.0]), 1.0)
    assert not beats_target(_run("max", 1.0, [1.0, 2.0]), 1.0)
    plan.add(_run("min", 0.0, [0.0, 1e-6, 0.0]))  # one image not fully silenced: too weak
    assert plan.non_diverse_too_weak() == {"min": True, "max": False}


def test_only_one_side_too_weak_searches_the_other_and_marks_the_unit_unsuccessful():
    """The min side's non-diverse batch misses the dataset minimum; the max side's beats its
    maximum."""
    from unitpsych.visualizations.featureviz import _assemble

    settings = fv_settings(n_images=3, alpha={"max": 9, "bisection_steps": 1})
    plan = UnitPlan(settings.alpha, 3, True, dataset_min=-1.0, dataset_max=1.0)
    assert plan.requests(6) == [RunSpec("min", 0.0, 3), RunSpec("max", 0.0, 3)]
    plan.add(_run("min", 0.0, [-2.0, -0.5, -3.0]))  # weakest -0.5 is not below -1
    plan.add(_run("max", 0.0, [3.0, 2.0, 4.0]))
    assert plan.non_diverse_too_weak() == {"min": True, "max": False}
    assert plan.searching() and not plan.done()
    assert plan.requests(4) == [RunSpec("min", 1.0, 2), RunSpec("max", 1.0, 2)]
    plan.add(_run("min", 1.0, [-0.2, -2.0]))  # fails
    plan.add(_run("max", 1.0, [2.0, 1.5]))  # works; 10 > α max, so the ladder ends at α = 1
    assert plan.requests(4) == [RunSpec("min", 0.5, 2)] and not plan.done()
    plan.add(_run("min", 0.5, [-0.9, -2.0]))  # fails: the min side falls back to α = 0
    assert plan.done()
    fv = _assemble("m", "layer__3", plan, settings)
    assert not fv.success
    assert (
        "min: the weakest non-diverse FV (-0.5) does not reach the dataset minimum (-1)"
        in fv.reason
    )
    assert "maximum" not in fv.reason
    assert (fv.sides["max"].alpha, fv.sides["max"].alpha_source) == (1.0, "exponential")
    # the diverse batch weakest first, then the strongest non-diverse image
    assert fv.sides["max"].activations == [1.5, 2.0, 4.0]
    assert fv.sides["max"].images[:, 0, 0, 0].tolist() == [1.5, 2.0, 4.0]
    assert (fv.sides["min"].alpha, fv.sides["min"].alpha_source) == (0.0, "non_diverse")
    assert fv.sides["min"].activations == [-0.5, -2.0, -3.0]  # the non-diverse batch, weakest first
    assert [(r["side"], r["alpha"], r["works"]) for r in fv.runs] == [
        ("min", 0.0, False),
        ("max", 0.0, True),
        ("min", 1.0, False),
        ("max", 1.0, True),
        ("min", 0.5, False),
    ]


def test_constant_unit_is_kept_and_marked_unsuccessful(lite0):
    settings = fv_settings(**{**TINY, "max_steps": 2})
    fv = visualize_unit(lite0, UNIT, 0.0, 0.0, settings, seed=1, batch_images=18)
    assert not fv.success and fv.reason.startswith(
        "the unit's dataset activations are constant (0)"
    )
    assert [(r["side"], r["alpha"]) for r in fv.runs] == [("min", 0.0), ("max", 0.0)]
    assert len(fv.sides["min"].activations) == 9 and fv.sides["min"].alpha is None


def test_unreachable_targets_mark_the_unit_unsuccessful(lite0):
    settings = fv_settings(**{**TINY, "max_steps": 4})
    fv = visualize_unit(lite0, UNIT, -1e6, 1e6, settings, seed=1, batch_images=18)
    assert not fv.success
    assert "does not reach the dataset minimum (-1e+06)" in fv.reason
    assert "does not reach the dataset maximum (1e+06)" in fv.reason
    assert len(fv.runs) == 2  # only the non-diverse runs: no search when both sides fail
    assert fv.sides["max"].images.shape[0] == 9 and fv.sides["max"].alpha is None
    assert fv.sides["max"].alpha_source == "skipped"


def test_vit_unit_token_mean_objective():
    import timm

    from unitpsych.models.registry import load_model

    vit = load_model("vit_tiny-untrained", {"arch": "vit_tiny", "weights": "random"})
    unit = "blocks_2_mlp_fc1__5"
    settings = fv_settings(param_size=240, crop_size=224, max_steps=6)
    start = _unit_values(vit, unit, _start_images(settings, 2, seed=2))
    res = optimise_runs(
        vit,
        "blocks_2_mlp_fc1",
        5,
        [RunSpec("max", 0.0, 2), RunSpec("max", 1.0, 2)],
        settings,
        seed=2,
    )
    up = _unit_values(vit, unit, res[0].images)
    assert up.min() > start.max()
    assert isinstance(vit.module, timm.models.vision_transformer.VisionTransformer)


def test_convnext_channel_last_layer():
    """A ConvNeXt MLP layer is (B, H, W, C); the objective and diversity must read channels last."""
    import timm

    from unitpsych.models import layers as L
    from unitpsych.models.registry import ARCHS, LoadedModel

    torch.manual_seed(0)
    net = timm.create_model("convnext_atto", pretrained=False).eval()
    modules = {n.replace(".", "_"): m for n, m in net.named_modules() if n}
    model = LoadedModel(
        "convnext_atto",
        ARCHS["convnext_b"],
        net,
        net,
        torch.device("cpu"),
        [n for n in modules if L.convnext_rule(n)],
        _modules=modules,
    )
    layer = "stages_1_blocks_0_mlp_fc1"
    assert layer in model.layers and model.channel_last(layer)
    # untrained: the unit's mean is dominated by borders, so evaluate the whole optimised image
    settings = fv_settings(param_size=64, crop_size=64, max_steps=10)
    unit = f"{layer}__3"
    start = _unit_values(model, unit, _start_images(settings, 2, seed=4))
    runs = [RunSpec("max", 0.0, 2), RunSpec("min", 1e-3, 2)]  # the second with the diversity term
    res = optimise_runs(model, layer, 3, runs, settings, seed=4)
    assert _unit_values(model, unit, res[0].images).min() > start.max()
    assert _unit_values(model, unit, res[1].images).max() < start.min()


# --------------------------------------------------------------------------- script contract


def test_visualize_unit_script_writes_pngs_and_fv_json(lite0, tmp_path):
    import h5py
    import pandas as pd

    # a minimal activation cache with one unit whose dataset range is easy to beat
    h5 = tmp_path / "activations.h5"
    with h5py.File(h5, "w") as f:
        f["activations"] = np.array([[-0.2], [0.1], [0.3]], dtype=np.float32)
        f["units"] = np.array([UNIT], dtype=object).astype("S")
        f["images"] = np.array(["a.png", "b.png", "c.png"], dtype=object).astype("S")
        f.attrs["complete"] = True
        f.attrs["image_root"] = str(tmp_path)
        f.attrs["model"] = "efficientnet_lite0"
    group = tmp_path / "results" / "efficientnet_lite0" / "visualizations" / "g0"
    out = group / UNIT
    featureviz = featureviz_config(
        **{**TINY, "max_steps": 6}, alpha={"max": 9, "bisection_steps": 1}
    )
    speed = {k: featureviz.pop(k) for k in ("batch_images", "units_per_job")}
    fake = mock_snakemake(
        input={"h5": h5},
        output={"folder": group},
        log=[tmp_path / "log.txt"],
        wildcards={"model": "efficientnet_lite0", "fv_group": "g0"},
        params={
            "model": {
                "arch": "efficientnet_lite0",
                "weights": "pretrained",
                "name": "efficientnet_lite0",
            },
            "units": [UNIT],
            "visualizations": featureviz,
            "seed": 42,
        },
        config={"visualizations": speed},  # the speed-only key is read from the config
    )
    run_script("visualize_units", fake)
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([f"{s}_{i}.png" for s in ("min", "max") for i in range(9)] + ["fv.json"])
    fv = read_fv(out)
    assert (fv.model, fv.unit, fv.layer, fv.channel) == ("efficientnet_lite0", UNIT, UNIT[:-3], 7)
    assert (fv.dataset_min, fv.dataset_max) == (pytest.approx(-0.2), pytest.approx(0.3))
    assert fv.settings["batch_images"] == 32 and fv.settings["max_steps"] == 6
    assert all(run["steps"] == 6 for run in fv.runs)
    # the verdict follows from the non-diverse runs, as the protocol defines it
    nondiv = {r["side"]: r["activations"] for r in fv.runs if r["alpha"] == 0.0}
    beats = max(nondiv["min"]) < -0.2 and min(nondiv["max"]) > 0.3
    assert fv.success == beats and (fv.reason == "ok") == beats
    # every PNG is the stored image: re-evaluated it gives the recorded activation (up to uint8)
    for side in ("min", "max"):
        pixels = np.stack([np.asarray(Image.open(out / f"{side}_{i}.png")) for i in range(9)])
        assert pixels.shape == (9, 32, 32, 3) and pixels.dtype == np.uint8
        again = _unit_values(lite0, UNIT, pixels / 255.0)
        np.testing.assert_allclose(again, fv.sides[side].activations, atol=0.05)
    table = summarize_visualizations([out])
    assert table.loc[0, "unit"] == UNIT
    assert table.loc[0, "weakest_max"] == fv.sides["max"].activations[0]
    assert table.loc[0, "strongest_min"] == fv.sides["min"].activations[-1]
    summary = tmp_path / "featureviz_summary.csv"
    run_script(
        "summarize_visualizations",
        mock_snakemake(
            input={"folders": [out]}, output={"csv": summary}, log=[tmp_path / "summary.log"]
        ),
    )
    written = pd.read_csv(summary)
    assert list(written.columns) == SUMMARY_COLUMNS and written.loc[0, "success"] == fv.success
    assert json.loads(written.loc[0, "activations_min"]) == pytest.approx(
        fv.sides["min"].activations, abs=1e-6
    )
    assert "synthetic: false" in _raises_for_non_synthetic(fake)
    # the unit's stimulus folder: the group's unit folder, hard-linked
    linked = tmp_path / "results" / "efficientnet_lite0" / "stimuli" / UNIT / "synthetic"
    run_script(
        "link_unit_visualizations",
        mock_snakemake(
            input={"group": group},
            output={"folder": linked},
            log=[tmp_path / "link.log"],
            wildcards={"model": "efficientnet_lite0", "unit": UNIT},
        ),
    )
    assert sorted(p.name for p in linked.iterdir()) == names
    assert all((linked / n).samefile(out / n) for n in names)


def test_fv_json_round_trip_and_a_record_of_another_layout_is_refused(tmp_path):
    """`read_fv` (the one reader of fv.json) gives back what `save_unit_fv` wrote."""
    from unitpsych.visualizations.featureviz import _assemble

    settings = fv_settings(n_images=3, diversity=False)
    plan = UnitPlan(settings.alpha, 3, False, dataset_min=-1.0, dataset_max=1.0)
    plan.add(_run("min", 0.0, [-2.0, -1.5, -3.0]))
    plan.add(_run("max", 0.0, [0.25, 2.0, 4.0]))
    fv = _assemble("m", "layer__3", plan, settings)
    save_unit_fv(fv, tmp_path / "synthetic")
    back = read_fv(tmp_path / "synthetic")
    assert back.to_json() == fv.to_json()
    assert back.sides["max"].activations == [0.25, 2.0, 4.0] and back.sides["max"].images is None
    assert not back.success and "maximum (1)" in back.reason and "minimum" not in back.reason
    with Image.open(tmp_path / "synthetic" / "max_0.png") as png:  # 0.25 grey, truncated
        assert np.asarray(png).tolist() == [[[63] * 3] * 2] * 2
    record = json.loads((tmp_path / "synthetic" / "fv.json").read_text())
    old = {k: v for k, v in record.items() if k not in ("min", "max")}
    old |= {"activations": {s: record[s]["activations"] for s in ("min", "max")}}
    (tmp_path / "synthetic" / "fv.json").write_text(json.dumps(old))
    with pytest.raises(ValueError, match="not a feature-visualisation record of this version"):
        read_fv(tmp_path / "synthetic")
    with pytest.raises(FileNotFoundError, match="run the visualize_units rule first"):
        read_fv(tmp_path / "nowhere")


def _raises_for_non_synthetic(fake) -> str:
    fake.params.model = {**fake.params.model, "synthetic": False}
    with pytest.raises(ValueError) as err:
        run_script("visualize_units", fake)
    return str(err.value)


def test_units_optimised_together_give_each_units_own_results(lite0):
    """Several units in one optimisation (own seeds, layers, objectives) reproduce each unit alone:
    exactly when each unit keeps its own device batches, up to float rounding when they share."""
    from unitpsych.visualizations.featureviz import UnitTarget, visualize_units

    settings = fv_settings(**{**TINY, "max_steps": 6}, alpha={"max": 3, "bisection_steps": 0})
    units = [(UNIT, 11), (LATE_UNIT, 12), ("blocks_1_0_conv_pw__3", 13)]
    targets = []
    for unit, seed in units:
        start = _unit_values(lite0, unit, _start_images(settings, 9, seed=seed))
        targets.append(UnitTarget(unit, float(start.min()), float(start.max()), seed))
    alone = [
        visualize_unit(lite0, t.unit, t.dataset_min, t.dataset_max, settings, t.seed, 18)
        for t in targets
    ]
    separate = visualize_units(lite0, targets, settings, batch_images=18, batch_units=1)
    shared = visualize_units(lite0, targets, settings, batch_images=18, batch_units=3)
    for a, s, j in zip(alone, separate, shared, strict=True):
        assert a.to_json() == s.to_json()
        assert s.unit == j.unit and j.settings["rounds"] == a.settings["rounds"]
        for side in ("min", "max"):
            np.testing.assert_array_equal(a.sides[side].images, s.sides[side].images)
            change = np.abs(a.sides[side].images - 0.5).mean()
            assert np.abs(a.sides[side].images - j.sides[side].images).mean() < 0.01 * change
            assert j.sides[side].alpha == a.sides[side].alpha
            np.testing.assert_allclose(
                j.sides[side].activations, a.sides[side].activations, rtol=0.02, atol=0.01
            )


def test_pack_jobs_keeps_units_apart_unless_asked():
    from unitpsych.visualizations.featureviz import pack_jobs
    from unitpsych.visualizations.optimise import UnitJob

    def job(n):
        return UnitJob("l", 0, 1, (RunSpec("max", 0.0, n),))

    jobs = [(0, job(9)), (0, job(9)), (1, job(8)), (2, job(8))]
    assert [[k for k, _ in b] for b in pack_jobs(jobs, 18, 1)] == [[0, 0], [1], [2]]
    assert [[k for k, _ in b] for b in pack_jobs(jobs, 18, 2)] == [[0, 0, 1], [2]]
    assert [[k for k, _ in b] for b in pack_jobs(jobs, 9, 3)] == [[0, 0, 1], [2]]

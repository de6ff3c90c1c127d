"""Feature visualisations (protocol §5): search logic, plateau stop, optimisation on real models."""

from __future__ import annotations

import json
import random
import types

import numpy as np
import pytest
import torch
from PIL import Image

from unitpsych.featureviz import (
    AlphaSearch,
    AlphaSettings,
    FVSettings,
    PlateauSettings,
    PlateauStop,
    RunSpec,
    evaluate_images,
    gram_similarity,
    lucent_on,
    optimise_runs,
    sequential_alpha_search,
    summarize_fv_folders,
    visualize_unit,
)

# Small and fast: 48 px optimised, 32 px stored, a handful of Adam steps.
TINY = {"param_size": 48, "crop_size": 32, "max_steps": 12, "batch_images": 18}
UNIT = "blocks_3_0_conv_pwl__7"  # a middle EfficientNet-lite0 layer (80 channels, linear)
LATE_UNIT = "blocks_5_0_conv_pwl__7"  # a late one (192 channels)


# --------------------------------------------------------------------------- α search, pure


def bisection_reference(threshold: float, s: AlphaSettings) -> float:
    """The α the protocol must find when a batch works exactly for α < threshold (threshold > start)."""
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
    s = AlphaSettings()
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
    s = AlphaSettings()
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
    s = AlphaSettings()
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


def test_settings_from_config_rejects_bad_values():
    assert FVSettings.from_config({}).max_steps == 20_000
    assert FVSettings.from_config({"alpha": {"bisection_steps": 3}}).alpha.bisection_steps == 3
    with pytest.raises(ValueError, match="crop_size"):
        FVSettings.from_config({"param_size": 64, "crop_size": 80})
    with pytest.raises(ValueError, match="unknown featureviz settings"):
        FVSettings.from_config({"units_per_batch": 4})


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


def test_maximising_and_minimising_move_the_unit_on_trained_lite0(lite0):
    settings = FVSettings.from_config({"param_size": 96, "crop_size": 80, "max_steps": 24})
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
    settings = FVSettings.from_config({**TINY, "max_steps": 8})
    layer, channel = UNIT.rsplit("__", 1)
    runs = [RunSpec("max", 0.0, 3), RunSpec("min", 10.0, 2), RunSpec("max", 100.0, 2)]
    together = optimise_runs(lite0, layer, int(channel), runs, settings, seed=3)
    for run, res in zip(runs, together, strict=True):
        alone = optimise_runs(lite0, layer, int(channel), [run], settings, seed=3)[0]
        # equal up to float rounding (the batch size changes BLAS blocking; Adam's normalised
        # first steps amplify it a little): far below how far the images moved from grey
        change = np.abs(res.images - 0.5).mean()
        assert np.abs(res.images - alone.images).mean() < 0.01 * change
        np.testing.assert_allclose(
            _unit_values(lite0, UNIT, res.images),
            _unit_values(lite0, UNIT, alone.images),
            atol=0.01,
        )
        assert res.steps == alone.steps == 8


def test_visualize_unit_is_deterministic_and_follows_the_protocol(lite0):
    cfg = {**TINY, "max_steps": 12, "alpha": {"max": 9, "bisection_steps": 1}}
    settings = FVSettings.from_config({**cfg, "batch_images": 50})  # every run in one round
    layer, channel = UNIT.rsplit("__", 1)
    # dataset extremes the non-diverse FVs beat by a margin, so the diversity search runs
    nondiv = optimise_runs(
        lite0,
        layer,
        int(channel),
        [RunSpec("min", 0.0, 9), RunSpec("max", 0.0, 9)],
        settings,
        seed=11,
    )
    lo = float(_unit_values(lite0, UNIT, nondiv[0].images).max()) + 0.1
    hi = float(_unit_values(lite0, UNIT, nondiv[1].images).min()) - 0.1
    a = visualize_unit(lite0, UNIT, lo, hi, settings, seed=11)
    b = visualize_unit(lite0, UNIT, lo, hi, settings, seed=11)
    assert a.settings["rounds"] == 1
    for side in ("min", "max"):
        np.testing.assert_array_equal(a.sides[side].images, b.sides[side].images)
        assert a.sides[side].activations == b.sides[side].activations
        assert a.sides[side].alpha == b.sides[side].alpha
    # without speculative runs (one side-pair per round) the search takes more rounds, same result
    c = visualize_unit(
        lite0, UNIT, lo, hi, FVSettings.from_config({**cfg, "batch_images": 18}), seed=11
    )
    assert c.settings["rounds"] > 1
    for side in ("min", "max"):
        assert c.sides[side].alpha == a.sides[side].alpha
        np.testing.assert_allclose(c.sides[side].activations, a.sides[side].activations, atol=0.05)
    assert a.success and a.reason == "ok"
    searched = {(r["side"], r["alpha"]) for r in a.runs}
    assert ("min", 1.0) in searched and ("max", 1.0) in searched
    for side, sign, target in (("min", -1, lo), ("max", 1, hi)):
        r = a.sides[side]
        assert r.images.shape == (9, 32, 32, 3) and len(r.activations) == 9
        diverse = np.array(r.activations[:8]) * sign
        assert np.all(np.diff(diverse) >= 0)  # weakest -> strongest
        nd = next(run for run in a.runs if run["side"] == side and run["alpha"] == 0.0)
        assert r.activations[8] == pytest.approx(sign * max(sign * np.array(nd["activations"])))
        if r.alpha:  # every stored diverse image beats the dataset extreme
            assert r.alpha_source in ("exponential", "bisection")
            assert all(sign * v > sign * target for v in r.activations[:8])
    # the stored images re-evaluate to the recorded activations
    again = _unit_values(lite0, UNIT, a.sides["max"].images)
    np.testing.assert_allclose(again, a.sides["max"].activations, rtol=1e-4, atol=1e-4)
    # a different seed starts from different noise
    other = optimise_runs(lite0, layer, int(channel), [RunSpec("max", 0.0, 9)], settings, seed=12)
    assert not np.allclose(other[0].images, nondiv[1].images, atol=1e-3)


def test_constant_unit_is_kept_and_marked_unsuccessful(lite0):
    settings = FVSettings.from_config({**TINY, "max_steps": 2})
    fv = visualize_unit(lite0, UNIT, 0.0, 0.0, settings, seed=1)
    assert not fv.success and "constant" in fv.reason
    assert len(fv.runs) == 2 and len(fv.sides["min"].activations) == 9


def test_unreachable_targets_mark_the_unit_unsuccessful(lite0):
    settings = FVSettings.from_config({**TINY, "max_steps": 4})
    fv = visualize_unit(lite0, UNIT, -1e6, 1e6, settings, seed=1)
    assert not fv.success
    assert "does not beat the dataset minimum" in fv.reason and "maximum" in fv.reason
    assert len(fv.runs) == 2  # only the non-diverse runs: no search when both sides fail
    assert fv.sides["max"].images.shape[0] == 9 and fv.sides["max"].alpha is None


def test_vit_unit_token_mean_objective():
    import timm

    from unitpsych.models import load_model

    vit = load_model("vit_tiny-untrained", {"arch": "vit_tiny", "weights": "random"})
    unit = "blocks_2_mlp_fc1__5"
    settings = FVSettings.from_config({"param_size": 240, "crop_size": 224, "max_steps": 6})
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

    from unitpsych import layers as L
    from unitpsych.models import ARCHS, LoadedModel

    torch.manual_seed(0)
    net = timm.create_model("convnext_atto", pretrained=False).eval()
    modules = {n.replace(".", "_"): m for n, m in net.named_modules() if n}
    model = LoadedModel("convnext_atto", ARCHS["convnext_b"], net, net, torch.device("cpu"),
                        [n for n in modules if L.convnext_rule(n)], _modules=modules)  # fmt: skip
    layer = "stages_1_blocks_0_mlp_fc1"
    assert layer in model.layers and model.channel_last(layer)
    # untrained: the unit's mean is dominated by borders, so evaluate the whole optimised image
    settings = FVSettings.from_config({"param_size": 64, "crop_size": 64, "max_steps": 10})
    unit = f"{layer}__3"
    start = _unit_values(model, unit, _start_images(settings, 2, seed=4))
    runs = [RunSpec("max", 0.0, 2), RunSpec("min", 1e-3, 2)]  # the second with the diversity term
    res = optimise_runs(model, layer, 3, runs, settings, seed=4)
    assert _unit_values(model, unit, res[0].images).min() > start.max()
    assert _unit_values(model, unit, res[1].images).max() < start.min()


# --------------------------------------------------------------------------- script contract


def test_visualize_unit_script_writes_pngs_and_fv_json(tmp_path, monkeypatch):
    import h5py
    import pandas as pd
    import summarize_featureviz as summarize_script
    import visualize_unit as script

    from unitpsych.featureviz import SUMMARY_COLUMNS

    # a minimal activation cache with one unit whose dataset range is easy to beat
    h5 = tmp_path / "activations.h5"
    with h5py.File(h5, "w") as f:
        f["activations"] = np.array([[-0.2], [0.1], [0.3]], dtype=np.float32)
        f["units"] = np.array([UNIT], dtype=object).astype("S")
        f["images"] = np.array(["a.png", "b.png", "c.png"], dtype=object).astype("S")
        f.attrs["complete"] = True
        f.attrs["image_root"] = str(tmp_path)
        f.attrs["model"] = "efficientnet_lite0"
    out = tmp_path / "results" / "efficientnet_lite0" / "stimuli" / UNIT / "synthetic"
    fake = types.SimpleNamespace(
        input=types.SimpleNamespace(h5=str(h5)),
        output=types.SimpleNamespace(folder=str(out)),
        log=[str(tmp_path / "log.txt")],
        wildcards=types.SimpleNamespace(model="efficientnet_lite0", unit=UNIT),
        threads=1,
        params=types.SimpleNamespace(
            model={
                "arch": "efficientnet_lite0",
                "weights": "pretrained",
                "name": "efficientnet_lite0",
            },
            featureviz={**TINY, "max_steps": 6, "alpha": {"max": 9, "bisection_steps": 1}},
            seed=42,
        ),
    )
    script.main(fake)
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([f"{s}_{i}.png" for s in ("min", "max") for i in range(9)] + ["fv.json"])
    img = np.asarray(Image.open(out / "max_8.png"))
    assert img.shape == (32, 32, 3) and img.dtype == np.uint8
    fv = json.loads((out / "fv.json").read_text())
    assert fv["unit"] == UNIT and fv["dataset"] == {
        "min": pytest.approx(-0.2),
        "max": pytest.approx(0.3),
    }
    assert len(fv["max"]["activations"]) == 9 and isinstance(fv["success"], bool) and fv["reason"]
    assert all(run["steps"] == 6 for run in fv["runs"])
    table = summarize_fv_folders([out])
    assert (
        table.loc[0, "unit"] == UNIT and table.loc[0, "weakest_max"] == fv["max"]["activations"][0]
    )
    summary = tmp_path / "featureviz_summary.csv"
    summarize_script.main(
        types.SimpleNamespace(
            input=types.SimpleNamespace(folders=[str(out)]),
            output=types.SimpleNamespace(csv=str(summary)),
            log=[str(tmp_path / "summary.log")],
        )
    )
    written = pd.read_csv(summary)
    assert list(written.columns) == SUMMARY_COLUMNS and written.loc[0, "success"] == fv["success"]
    assert json.loads(written.loc[0, "activations_min"]) == pytest.approx(
        fv["min"]["activations"], abs=1e-6
    )
    assert "synthetic: false" in _raises_for_non_synthetic(script, fake)


def _raises_for_non_synthetic(script, fake) -> str:
    fake.params.model = {**fake.params.model, "synthetic": False}
    with pytest.raises(ValueError) as err:
        script.main(fake)
    return str(err.value)

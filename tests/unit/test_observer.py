"""The machine observer: decision rule, embedding cache, trials, MIS, α and the backends' errors."""

from __future__ import annotations

import math
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from unitpsych.activations.cache import ImagePass
from unitpsych.config import ConfigError
from unitpsych.observer.embeddings import EmbeddingCache, embed_image_set
from unitpsych.observer.mis import mis_table, mis_tasks, sample_tasks
from unitpsych.observer.scoring import (
    check_observer_config,
    decision_variable,
    fit_alpha,
    p_correct,
    resolve_alpha,
    score_trials,
)
from unitpsych.observer.similarity import (
    COSINE,
    NEG_SQEUCLIDEAN,
    Backend,
    BackendSpec,
    BackendUnavailable,
    load_backend,
    parse_backend,
)


class BrightnessBackend(Backend):
    """A hand-made backend that sees only brightness: (cos θ, sin θ) with θ = brightness·π/2."""

    def __init__(self, fail_after: int | None = None):
        self.spec = BackendSpec("brightness", "features")
        self.input_size = 32
        self.description = "mean brightness on a quarter circle"
        self.calls, self.images, self.fail_after = 0, 0, fail_after

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise RuntimeError("simulated crash")
        self.images += len(x)
        theta = x.mean(dim=(1, 2, 3)) * math.pi / 2
        return torch.stack([theta.cos(), theta.sin()], dim=1)


def make_images(root: Path, n: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """n small grey images of random brightness (with a little texture); paths and brightness."""
    rng = np.random.default_rng(seed)
    levels = rng.uniform(0.05, 0.95, n)
    paths = []
    for i, level in enumerate(levels):
        pixels = np.clip(level + rng.normal(0, 0.02, (40, 40, 1)), 0, 1)
        path = f"class_{i % 3}/img_{i:04d}.png"
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray((np.repeat(pixels, 3, axis=2) * 255).astype(np.uint8)).save(root / path)
        paths.append(path)
    return paths, levels


@pytest.fixture(scope="module")
def brightness_cache(tmp_path_factory) -> tuple[EmbeddingCache, list[str], np.ndarray, Path]:
    root = tmp_path_factory.mktemp("images")
    paths, levels = make_images(root, 200)
    out = root / "embeddings.h5"
    embed_image_set(
        BrightnessBackend(),
        root,
        paths,
        out,
        resize=36,
        image_size=32,
        image_pass=ImagePass(batch_size=16, num_workers=0, block_size=64),
    )
    return EmbeddingCache(out), paths, levels, root


# --------------------------------------------------------------------------- decision rule


def test_decision_rule_on_constructed_embeddings():
    e1, e2 = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    max_refs, min_refs = np.tile(e1, (9, 1)), np.tile(e2, (9, 1))
    # cosine: Δ(max query = e1) = 1 − 0, Δ(min query = e2) = 0 − 1, so d = 2
    assert decision_variable(e1, e2, max_refs, min_refs, COSINE) == pytest.approx(2.0)
    assert decision_variable(e2, e1, max_refs, min_refs, COSINE) == pytest.approx(-2.0)
    # a query half way between both reference sets carries no evidence
    mid = np.array([1.0, 1.0]) / math.sqrt(2)
    assert decision_variable(mid, mid, max_refs, min_refs, COSINE) == pytest.approx(0.0)
    # -|a-b|^2: Δ(e1) = 0 − (−2) = 2, Δ(e2) = −2 − 0 = −2, d = 4
    assert decision_variable(e1, e2, max_refs, min_refs, NEG_SQEUCLIDEAN) == pytest.approx(4.0)
    # means over references: one max reference equal to the query among orthogonal ones
    mixed = np.vstack([e1, np.tile(e2, (8, 1))])
    assert decision_variable(e1, e2, mixed, min_refs, COSINE) == pytest.approx(1 / 9 - (8 / 9 - 1))
    # batched over leading axes, and p = σ(α·d)
    d = decision_variable(
        np.stack([e1, e2]),
        np.stack([e2, e1]),
        np.stack([max_refs] * 2),
        np.stack([min_refs] * 2),
        COSINE,
    )
    np.testing.assert_allclose(d, [2.0, -2.0])
    np.testing.assert_allclose(p_correct(d, 0.5), 1 / (1 + np.exp(-0.5 * d)))
    assert np.isnan(p_correct(d, None)).all()


# --------------------------------------------------------------------------- embeddings


def test_embedding_cache_holds_normalised_rows_by_path(brightness_cache):
    cache, paths, levels, _ = brightness_cache
    assert cache.shape == (200, 2) and cache.images == paths and cache.similarity == COSINE
    rows = cache.lookup(paths[:5])
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1, atol=1e-6)
    theta = np.arctan2(rows[:, 1], rows[:, 0]) * 2 / math.pi
    np.testing.assert_allclose(theta, levels[:5], atol=0.03)
    assert np.array_equal(cache.rows(np.array([[3, 1], [1, 3]]))[0, 0], rows[3])


def test_embedding_resumes_after_a_crash(tmp_path, brightness_cache):
    cache, paths, _, root = brightness_cache
    out = tmp_path / "embeddings.h5"
    kwargs = dict(
        resize=36, image_size=32, image_pass=ImagePass(batch_size=16, num_workers=0, block_size=32)
    )
    crashing = BrightnessBackend(fail_after=6)  # probe call + 5 batches: 2 blocks of 32 finished
    with pytest.raises(RuntimeError, match="simulated crash"):
        embed_image_set(crashing, root, paths, out, **kwargs)
    partial = out.with_name(out.name + ".partial")
    assert not out.exists() and partial.exists()
    with h5py.File(partial) as f:
        assert int(f.attrs["n_done"]) == 64
    resumed = BrightnessBackend()
    result = embed_image_set(resumed, root, paths, out, **kwargs)
    assert result.n_images == 200 and not partial.exists()
    assert resumed.images == 1 + 200 - 64  # the dimension probe and only the missing images
    np.testing.assert_array_equal(EmbeddingCache(out).lookup(paths), cache.lookup(paths))


def test_an_unreadable_image_is_left_out_and_listed(tmp_path):
    paths, _ = make_images(tmp_path, 20)
    (tmp_path / paths[4]).write_bytes(b"not an image")
    out = tmp_path / "e.h5"
    result = embed_image_set(
        BrightnessBackend(),
        tmp_path,
        paths,
        out,
        resize=36,
        image_size=32,
        image_pass=ImagePass(batch_size=8, num_workers=0, block_size=8),
    )
    assert (result.n_images, result.n_unreadable) == (19, 1)
    cache = EmbeddingCache(out)
    assert paths[4] not in cache and paths[5] in cache
    with h5py.File(out) as f:
        assert f["unreadable"].asstr()[0, 0] == paths[4]


# --------------------------------------------------------------------------- MIS


def test_mis_near_one_for_a_feature_the_backend_sees_and_chance_when_shuffled(brightness_cache):
    cache, paths, levels, _ = brightness_cache
    rng = np.random.default_rng(1)
    shuffled = np.stack([rng.permutation(levels) for _ in range(8)], axis=1)
    acts = np.column_stack([levels, shuffled]).astype(np.float32)
    units = ["brightness__0"] + [f"shuffled__{i}" for i in range(8)]
    tasks = mis_tasks(acts, units, paths, cache, "toy", seed=3, n_tasks=40)
    table = mis_table(tasks, "toy", "brightness", alpha=200.0, alpha_source="given").set_index(
        "unit"
    )
    assert table.loc["brightness__0", "accuracy"] == 1.0
    assert table.loc["brightness__0", "mis"] > 0.95
    chance = table.drop("brightness__0")
    assert abs(chance["accuracy"].mean() - 0.5) < 0.1  # 320 tasks: SE ≈ 0.03
    assert abs(chance["mis"].mean() - 0.5) < 0.1
    assert (table["n_tasks"] == 40).all() and (table["backend"] == "brightness").all()


def test_tasks_draw_from_the_quantiles_with_the_least_extreme_image_as_query():
    acts = np.arange(100, dtype=float)
    top, bottom = sample_tasks(acts, 30, 9, 0.2, np.random.default_rng(0))
    assert top.shape == bottom.shape == (30, 10)
    assert top.min() >= 80 and bottom.max() < 20
    assert (np.diff(acts[top], axis=1) < 0).all() and (np.diff(acts[bottom], axis=1) > 0).all()
    assert all(len(set(row)) == 10 for row in top)
    with pytest.raises(ValueError, match="K\\+1"):
        sample_tasks(np.arange(40.0), 5, 9, 0.2, np.random.default_rng(0))


def test_mis_is_deterministic_and_a_unit_does_not_depend_on_the_others(brightness_cache):
    cache, paths, levels, _ = brightness_cache
    rng = np.random.default_rng(5)
    acts = np.column_stack([levels, rng.permutation(levels)]).astype(np.float32)
    a = mis_tasks(acts, ["a__0", "b__1"], paths, cache, "m", seed=42, n_tasks=10)
    b = mis_tasks(acts, ["a__0", "b__1"], paths, cache, "m", seed=42, n_tasks=10)
    pd.testing.assert_frame_equal(a, b)
    alone = mis_tasks(acts[:, 1:], ["b__1"], paths, cache, "m", seed=42, n_tasks=10)
    pd.testing.assert_frame_equal(alone, a[a["unit"] == "b__1"].reset_index(drop=True))
    other = mis_tasks(acts, ["a__0", "b__1"], paths, cache, "m", seed=43, n_tasks=10)
    assert not other["max_query"].equals(a["max_query"])


def test_constant_units_are_kept_out_with_a_reason(brightness_cache):
    cache, paths, levels, _ = brightness_cache
    acts = np.column_stack([levels, np.ones(200)]).astype(np.float32)
    tasks = mis_tasks(acts, ["a__0", "flat__1"], paths, cache, "m", seed=0, n_tasks=5)
    table = mis_table(tasks, "m", "brightness", None, "none").set_index("unit")
    assert table.loc["flat__1", "excluded"] == "constant activation over the image set"
    assert np.isnan(table.loc["flat__1", "score"]) and table.loc["flat__1", "n_tasks"] == 0
    # without α the score is the α-free accuracy and MIS stays empty
    assert table.loc["a__0", "score_kind"] == "accuracy" and np.isnan(table.loc["a__0", "mis"])
    assert table.loc["a__0", "score"] == table.loc["a__0", "accuracy"]


# --------------------------------------------------------------------------- our own trials


def test_trials_are_scored_on_the_shown_images(tmp_path, brightness_cache):
    """Image-set sources come from the cache, feature visualisations from the shown files."""
    cache, paths, levels, _ = brightness_cache
    order = np.argsort(levels)
    exp, demo = tmp_path / "exp", tmp_path / "demo_exp"
    row = {"task": 1, "trial": 1, "unit": "u__1", "catch_trial": False}
    row |= {"min_query": paths[order[20]], "max_query": "m/stimuli/u__1/synthetic/max_0.png"}
    for j in range(9):
        row[f"min_reference_{j}"] = paths[order[j]]
        row[f"max_reference_{j}"] = paths[order[-1 - j]]
    # the max query is a bright feature visualisation, only present as the shown file
    shown = exp / "task_1" / "trials" / "trial_1" / "queries" / "max.png"
    shown.parent.mkdir(parents=True)
    Image.new("RGB", (48, 48), (240, 240, 240)).save(shown)
    backend, seen = BrightnessBackend(), []

    def embed(files):
        seen.extend(files)
        from unitpsych.observer.embeddings import embed_files

        return embed_files(backend, files, image_size=32)

    table = score_trials(pd.DataFrame([row]), cache, embed, exp, demo)
    assert seen == [shown]
    assert table.loc[0, "d"] > 0 and list(table.columns) == ["task", "trial", "unit", "d"]
    row["max_query"], row["min_query"] = row["min_query"], paths[order[-20]]
    assert score_trials(pd.DataFrame([row]), cache, embed, exp, demo).loc[0, "d"] < 0


# --------------------------------------------------------------------------- α


def test_alpha_is_recovered_from_simulated_responses():
    rng = np.random.default_rng(0)
    d = rng.normal(0, 0.1, 5000)
    correct = rng.random(5000) < 1 / (1 + np.exp(-8.0 * d))
    fit = fit_alpha(d, correct)
    # tolerance: 3 standard errors (SE ≈ 0.6 here), and within 20 % of the true α
    assert abs(fit["alpha"] - 8.0) < 3 * fit["se"] and abs(fit["alpha"] - 8.0) < 1.6
    assert fit["n"] == 5000 and fit["converged"]


def test_alpha_comes_from_human_responses_else_config_else_none():
    rng = np.random.default_rng(1)
    trials = pd.DataFrame(
        {"task": np.repeat(np.arange(1, 41), 10), "trial": np.tile(np.arange(1, 11), 40)}
    )
    trials["d"] = rng.normal(0, 0.2, len(trials))
    responses = (
        trials.rename(columns={"task": "task_number"})
        .assign(
            corrected_trial_index=trials["trial"] - 1,
            experiment="e_natural",
            source="local",
            kept=True,
            is_demo=False,
            catch_trial=False,
            correct=rng.random(len(trials)) < 1 / (1 + np.exp(-5 * trials["d"])),
        )
        .drop(columns=["trial", "d"])
    )
    simulated = responses.assign(source="simulated", correct=~responses["correct"])
    both = pd.concat([responses, simulated])
    fitted = resolve_alpha("b", None, ["local"], both, {"e_natural": trials})
    assert fitted["fit"]["n"] == 400 and fitted["alpha"] == fitted["fit"]["alpha"] > 0
    assert "fitted" in fitted["alpha_source"] and "400 human responses" in fitted["alpha_source"]
    few = resolve_alpha("b", 0.16, ["local"], both.head(5), {"e_natural": trials})
    assert few["alpha"] == 0.16 and "given" in few["alpha_source"] and "only" in few["alpha_source"]
    none = resolve_alpha("b", None, [])
    assert none["alpha"] is None and "α-free accuracy" in none["alpha_source"]


# --------------------------------------------------------------------------- backends and config


def test_backend_strings_parse_and_bad_ones_say_why():
    spec = parse_backend("features:efficientnet_lite2:blocks_6")
    assert (spec.arch, spec.layer, spec.slug) == (
        "efficientnet_lite2",
        "blocks_6",
        "features-efficientnet_lite2-blocks_6",
    )
    assert parse_backend("dreamsim").variant == "ensemble"
    for bad, why in [("features:nope", "registry"), ("lpips:foo", "lpips"), ("clip", "unknown")]:
        with pytest.raises(ValueError, match=why):
            parse_backend(bad)


def test_missing_dreamsim_weights_give_a_clear_error(tmp_path):
    with pytest.raises(BackendUnavailable, match="observer.weights.dreamsim"):
        load_backend("dreamsim")
    (tmp_path / "ensemble_lora").mkdir()
    with pytest.raises(BackendUnavailable, match="lacks dino_vitb16_pretrain.pth"):
        load_backend("dreamsim", weights=str(tmp_path))


def test_missing_lpips_weights_give_a_clear_error(tmp_path):
    try:
        import lpips  # noqa: F401
    except ImportError:
        with pytest.raises(BackendUnavailable, match="pip install lpips==0.1.4"):
            load_backend("lpips", weights=str(tmp_path / "alexnet.pth"))
        return
    with pytest.raises(BackendUnavailable, match="does not exist"):
        load_backend("lpips", weights=str(tmp_path / "alexnet.pth"))


def test_lpips_embedding_reproduces_lpips_distance(tmp_path):
    """-|e(x) - e(y)|^2 equals LPIPS(x, y), with the trunk loaded from a local file."""
    lpips = pytest.importorskip("lpips")
    import torchvision

    torch.manual_seed(0)
    trunk = tmp_path / "alexnet.pth"
    torch.save(torchvision.models.alexnet().state_dict(), trunk)
    backend = load_backend("lpips", weights=str(trunk))
    reference = lpips.LPIPS(net="alex", pnet_rand=True, verbose=False)
    reference.net.load_state_dict(backend.model.net.state_dict())
    x, y = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    backend.input_size = 64
    ex, ey = backend(x).numpy(), backend(y).numpy()
    with torch.no_grad():
        expected = reference(x, y, normalize=True).flatten().numpy()
    np.testing.assert_allclose(((ex - ey) ** 2).sum(1), expected, rtol=1e-4)


def test_features_backend_embeds_with_registry_weights():
    torch.set_num_threads(1)
    backend = load_backend("features:efficientnet_lite0")
    x = torch.rand(2, 3, 224, 224)
    e = backend(x)
    assert e.shape == (2, 1280) and torch.allclose(e.norm(dim=1), torch.ones(2), atol=1e-5)
    assert torch.equal(e, backend(x))
    layer = load_backend("features:efficientnet_lite0:blocks_1")
    assert layer(x).shape[0] == 2
    with pytest.raises(KeyError, match="does not exist"):
        load_backend("features:efficientnet_lite0:no_such_layer")


def _config(backend: str, **observer) -> dict:
    models = {
        "a": {"arch": "efficientnet_lite0"},
        "b": {"arch": "efficientnet_lite1"},
        "c": {"arch": "efficientnet_lite0", "weights": "random"},
    }
    return {"models": models, "observer": {"backend": backend, **observer}}


def test_config_check_refuses_a_backend_that_scores_itself():
    check_observer_config(_config("features:efficientnet_lite2"))
    with pytest.raises(ConfigError, match="observer.backend: .*model 'a' itself"):
        check_observer_config(_config("features:efficientnet_lite0"))
    check_observer_config(
        _config(
            "features:efficientnet_lite0", backend_overrides={"a": "features:efficientnet_lite1"}
        )
    )
    with pytest.raises(ConfigError, match="observer.backend_overrides.b: .*model 'b' itself"):
        check_observer_config(
            _config(
                "features:efficientnet_lite2",
                backend_overrides={"b": "features:efficientnet_lite1"},
            )
        )
    with pytest.raises(ConfigError, match="observer.backend_overrides.zzz: not a configured model"):
        check_observer_config(_config("dreamsim", backend_overrides={"zzz": "dreamsim"}))
    with pytest.raises(ConfigError, match="observer.backend: .*unknown kind"):
        check_observer_config(_config("nonsense"))

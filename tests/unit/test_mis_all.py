"""The every-unit MIS: the streamed quantile sets equal those of the full activation matrix, the
vectorised task draws and scores agree with the per-unit MIS, the channel pass covers every
channel, constant channels are flagged, and the figures name their backend."""

from __future__ import annotations

from itertools import combinations

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from scipy.stats import chisquare
from test_observer import BrightnessBackend, make_images

from unitpsych.activations import ImagePass, collect_activations, read_activations
from unitpsych.figures.registry import draw, model_properties
from unitpsych.images import index_images
from unitpsych.observer.embeddings import EmbeddingCache, embed_image_set
from unitpsych.observer.mis import (
    collect_mis_all_tasks,
    draw_every_unit,
    draw_subsets,
    excluded_reasons,
    mis_all_table,
    mis_table,
    mis_tasks,
    sample_task_rows,
    score_every_unit,
    task_d,
    task_uniforms,
)
from unitpsych.observer.mis_all_tasks import (
    QuantileSets,
    TaskFile,
    mis_all_subset,
    one_cpu_thread,
    set_size,
    slab_from_activations,
)
from unitpsych.units.sampling import make_unit


def every_unit(acts, units, paths, cache, model, seed, n_tasks=20, memory_mb=256, width=1024):
    """Draw every unit's tasks from the quantile sets of a full activation matrix and score them."""
    size = set_size(len(acts), 0.2)
    top, bottom, reasons = draw_every_unit(
        lambda a, b: slab_from_activations(acts[:, a:b].astype(np.float64), size),
        units,
        len(acts),
        model,
        seed,
        n_tasks,
        width=width,
    )
    return score_every_unit(top, bottom, reasons, units, paths, cache, memory_mb=memory_mb)


@pytest.fixture(scope="module")
def cache_and_acts(tmp_path_factory):
    """An embedding cache of 200 grey images and 40 units: brightness, its negative, noise, two
    constants, in three layers."""
    root = tmp_path_factory.mktemp("images")
    paths, levels = make_images(root, 200, seed=4)
    out = root / "embeddings.h5"
    embed_image_set(
        BrightnessBackend(),
        root,
        paths,
        out,
        resize=36,
        image_size=32,
        image_pass=ImagePass(batch_size=50, num_workers=0, block_size=200),
    )
    rng = np.random.default_rng(2)
    cols = [
        levels,
        -levels,
        np.ones(200),
        *[rng.permutation(levels) for _ in range(36)],
        np.zeros(200),
    ]
    acts = np.column_stack(cols).astype(np.float32)
    layers = ["conv1"] * 10 + ["conv2"] * 20 + ["conv3"] * 10
    units = [make_unit(layer, i) for i, layer in enumerate(layers)]
    return EmbeddingCache(out), paths, acts, units


def test_draws_are_distinct_and_every_subset_equally_likely():
    u = np.random.default_rng(0).random((30000, 2))
    draws = draw_subsets(u, 5)
    assert (draws[:, 0] != draws[:, 1]).all() and draws.min() >= 0 and draws.max() < 5
    counts = pd.Series([tuple(sorted(r)) for r in draws.tolist()]).value_counts()
    assert set(counts.index) == set(combinations(range(5), 2))
    assert chisquare(counts.to_numpy()).pvalue > 0.001  # 10 subsets, 3,000 draws each


def test_every_unit_scores_agree_with_the_per_unit_mis(cache_and_acts):
    cache, paths, acts, units = cache_and_acts
    sampled = [1, 7, 12, 25, 38]  # the units a model's mis.csv would hold
    tasks = mis_tasks(
        acts[:, sampled], [units[i] for i in sampled], paths, cache, "m", seed=42, n_tasks=20
    )
    per_unit = mis_table(tasks, "m", "brightness", alpha=50.0, alpha_source="given").set_index(
        "unit"
    )
    # memory_mb=0: one unit per slab; the default: every unit in one slab
    for memory_mb, width in ((0, 3), (256, 1024)):
        scores = every_unit(acts, units, paths, cache, "m", 42, memory_mb=memory_mb, width=width)
        table = mis_all_table(scores, "m", "brightness", 50.0, "given", False).set_index("unit")
        assert len(table) == len(units)
        for i in sampled:
            unit = units[i]
            d = tasks.loc[tasks["unit"] == unit, "d"].to_numpy()
            np.testing.assert_allclose(table.loc[unit, "d"], d, rtol=1e-6, atol=1e-9)
            assert table.loc[unit, "accuracy"] == per_unit.loc[unit, "accuracy"]
            assert table.loc[unit, "mis"] == pytest.approx(per_unit.loc[unit, "mis"], abs=1e-9)
    # a feature the backend sees scores ~1 on both signs; shuffled ones near chance
    assert table.loc[units[0], "accuracy"] == 1.0 == table.loc[units[1], "accuracy"]
    assert abs(table.loc[units[3:39], "accuracy"].mean() - 0.5) < 0.06


def test_constant_channels_are_flagged_and_kept_out(cache_and_acts):
    cache, paths, acts, units = cache_and_acts
    scores = every_unit(acts, units, paths, cache, "m", 1, n_tasks=8)
    table = mis_all_table(scores, "m", "brightness", None, "none", True).set_index("unit")
    constant = table[table["constant"]]
    assert list(constant.index) == [units[2], units[39]]
    assert constant["accuracy"].isna().all() and (constant["n_tasks"] == 0).all()
    assert (constant["excluded"] == "constant activation over the image set").all()
    kept = table[~table["constant"]]
    assert kept["accuracy"].between(0, 1).all() and (kept["n_tasks"] == 8).all()
    # no α: MIS stays empty and the score is the α-free accuracy; the self-scoring flag is kept
    assert kept["mis"].isna().all() and (kept["score"] == kept["accuracy"]).all()
    assert table["scores_itself"].all() and (table["backend"] == "brightness").all()
    # layers in order: conv1 at depth 0, conv3 at depth 1
    assert table.groupby("layer")["relative_depth"].first().to_dict() == {
        "conv1": 0.0,
        "conv2": 0.5,
        "conv3": 1.0,
    }


def test_similarity_matrix_and_gathered_embeddings_give_the_same_d(cache_and_acts):
    cache, paths, acts, units = cache_and_acts
    uniforms = task_uniforms(0, "m", units[:4], 10, 9)
    top, bottom = sample_task_rows(acts[:, :4].astype(float), uniforms, 0.2)
    rows = np.array([cache.row[p] for p in paths])
    gram = task_d(rows[top], rows[bottom], cache, 9)
    gathered = task_d(rows[top], rows[bottom], cache, 9, gram_limit=0, slab=3)
    np.testing.assert_allclose(gram, gathered, rtol=1e-5, atol=1e-6)


def test_streamed_sets_equal_a_stable_sort_of_all_rows_ties_and_all():
    rng = np.random.default_rng(5)
    n, u = 1000, 7
    acts = rng.normal(size=(n, u)).astype(np.float32)
    acts[:, 1] = rng.integers(0, 4, n)  # heavy ties: the order within ties is the index order
    acts[:, 2] = 3.0  # constant
    acts[17, 3] = np.nan  # non-finite
    acts[:, 4] = np.round(acts[:, 4], 1)
    acts[::3, 6], acts[1::3, 6] = -0.0, 0.0  # signed zeros compare equal: ties in index order
    size = set_size(n, 0.2)
    state = QuantileSets(u, size)
    for s in range(0, n, 37):  # uneven batches, several merges
        state.add(torch.from_numpy(acts[s : s + 37]), torch.arange(s, min(s + 37, n)))
    got = state.slab(0, u, size)
    expect = slab_from_activations(acts, size)
    np.testing.assert_array_equal(got.top, expect.top)
    np.testing.assert_array_equal(got.bottom, expect.bottom)
    np.testing.assert_array_equal(got.top_values, expect.top_values)
    np.testing.assert_array_equal(got.bottom_values, expect.bottom_values)
    assert (
        got.top_values[1, 0] == 3
        and list(got.top[1, :3]) == sorted(np.flatnonzero(acts[:, 1] == 3))[::-1][:3]
    )  # ties: the highest index first on top
    assert state.slab(2, 5, size).excluded == got.excluded[2:5]
    reasons = [
        None,
        None,
        "constant activation over the image set",
        "non-finite activations",
        None,
        None,
        None,
    ]
    assert got.excluded == expect.excluded == reasons == excluded_reasons(acts)
    with pytest.raises(ValueError, match="exceeds the capacity"):
        state.slab(0, u, size + 1)


def test_one_cpu_thread_gives_the_spatial_means_of_several_threads(image_set, lite0):
    paths = index_images(image_set)["path"].tolist()[:8]
    x = torch.stack([lite0.transform()(Image.open(image_set / p).convert("RGB")) for p in paths])
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with torch.inference_mode(), lite0.record(lite0.layers) as store:
            lite0.module(x.contiguous(memory_format=torch.channels_last))
            several = {ly: lite0.reduce(ly, out) for ly, out in store.items()}
            with one_cpu_thread(lite0.device):
                assert torch.get_num_threads() == 1
                one = {ly: lite0.reduce(ly, out) for ly, out in store.items()}
        assert torch.get_num_threads() == 2  # restored
        assert all(torch.equal(one[ly], several[ly]) for ly in lite0.layers)  # bit for bit
        with pytest.raises(RuntimeError), one_cpu_thread("cpu"):
            raise RuntimeError
        assert torch.get_num_threads() == 2  # restored after an error too
    finally:
        torch.set_num_threads(threads)


def test_channel_pass_draws_every_channels_tasks_as_the_full_matrix_does(
    tmp_path, image_set, lite0
):
    paths = index_images(image_set)["path"].tolist()[:24]
    (tmp_path / "img").mkdir()
    for p in paths:
        (tmp_path / "img" / p).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "img" / p).write_bytes((image_set / p).read_bytes())
    (tmp_path / "img" / "broken.jpg").write_bytes(b"not a jpeg")
    sizes = lite0.layer_sizes()
    every = [make_unit(layer, c) for layer, n in sizes.items() for c in range(n)]
    small = ImagePass(batch_size=5, num_workers=0, block_size=8192)
    listed = [*paths[:7], "broken.jpg", *paths[7:]]
    done = collect_mis_all_tasks(
        lite0,
        tmp_path / "img",
        listed,
        tmp_path / "t.h5",
        seed=3,
        n_tasks=4,
        n_references=2,
        quantile=0.25,
        image_pass=small,
    )
    assert done["n_images"] == 24 and done["n_unreadable"] == 1 and done["set_size"] == 6
    assert done["n_units"] == len(every) == sum(sizes.values())
    tasks = TaskFile.read(tmp_path / "t.h5")
    assert tasks.units == every and tasks.images == paths and tasks.top.shape == (len(every), 4, 3)
    # the same tasks from the dense activation cache of the same images
    collect_activations(lite0, every, tmp_path / "img", paths, tmp_path / "all.h5", None, small)
    acts, units, images = read_activations(tmp_path / "all.h5")
    top, bottom, reasons = draw_every_unit(
        lambda a, b: slab_from_activations(acts[:, a:b].astype(np.float64), 6),
        units,
        24,
        "efficientnet_lite0",
        3,
        4,
        2,
        0.25,
    )
    assert reasons == tasks.excluded
    # the same forward pass in other batches: ties and last-bit differences aside, the same draws
    assert (top == tasks.top).mean() > 0.98 and (bottom == tasks.bottom).mean() > 0.98
    with h5py.File(tmp_path / "t.h5") as f:
        assert f["top"].dtype == np.int32 and f.attrs["n_unreadable"] == 1
        assert set(f) == {"top", "bottom", "excluded", "units", "images"}  # no per-image values
    # a subset when the image set is larger than max_images: fixed, in order, the same for all
    sub = mis_all_subset(1000, 300, seed=3)
    assert len(sub) == 300 and (np.diff(sub) > 0).all()
    assert (sub == mis_all_subset(1000, 300, seed=3)).all() and len(
        mis_all_subset(10, 300, 3)
    ) == 10


def test_figures_name_their_backend_and_mark_self_scoring(cache_and_acts):
    cache, paths, acts, units = cache_and_acts
    parts = []
    for model, own in (("lite0", False), ("lite1", True)):
        scores = every_unit(acts, units, paths, cache, model, 1, n_tasks=8)
        for backend in ("features:a", "features:b"):
            parts.append(
                mis_all_table(scores, model, backend, None, "none", own and backend == "features:b")
            )
    t = pd.concat(parts, ignore_index=True).drop(columns=["d"])
    table = pd.DataFrame(
        {
            "model": ["efficientnet_lite0", "efficientnet_lite1"],
            "top1_accuracy": [0.75, 0.77],
            "n_parameters": [4.6e6, 5.4e6],
        }
    )
    props = model_properties(
        {
            "lite0": {"arch": "efficientnet_lite0", "label": "L0", "scale_rank": 1},
            "lite1": {"arch": "efficientnet_lite1", "label": "L1", "scale_rank": 2},
        },
        table,
    )
    assert props.set_index("model").loc["lite1", "n_parameters"] == 5.4e6
    depth = draw("mis_all_depth", {"mis_all": t}, properties=props)
    titles = [ax.get_title() for ax in depth.axes if ax.get_visible()]
    assert len(titles) == 4 and all("scored by features:" in s for s in titles)
    assert sum("scores itself" in s for s in titles) == 1
    models = draw("mis_all_models", {"mis_all": t}, properties=props)
    legend = [x.get_text() for x in models.legends[0].get_texts()]
    assert "scored by features:b (scores itself)" in legend and "scored by features:a" in legend

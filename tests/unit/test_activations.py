"""Activation cache: values equal a manual hooked forward pass, round trip, corrupt images,
resume."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest
import torch

from conftest import REPO, Killed, kill_after
from unitpsych.activations import image_pass
from unitpsych.activations.cache import (
    collect_activations,
    read_activations,
    read_unit_activations,
)
from unitpsych.activations.image_pass import DEFAULT_BLOCK_SIZE, ImagePass
from unitpsych.images import index_images, load_rgb
from unitpsych.units.sampling import split_unit

UNITS = ["blocks_1_0_conv_pw__5", "blocks_2_1__7", "blocks_5_3_bn3__100", "blocks_1_0_conv_pw__0"]
BATCHES_OF_4 = ImagePass(batch_size=4, num_workers=0, block_size=8192)  # one block: every image


def _manual(model, root, paths, units):
    """Hook each unit's layer and take the spatial mean of its channel, image by image."""
    rows = []
    for p in paths:
        x = model.transform()(load_rgb(root / p))[None]
        layers = [split_unit(u)[0] for u in units]
        with torch.no_grad(), model.record(layers) as store:
            model.module(x)
        rows.append([store[split_unit(u)[0]][0, split_unit(u)[1]].mean().item() for u in units])
    return np.array(rows, dtype=np.float32)


def test_cache_equals_manual_forward_and_round_trips(tmp_path, image_set, lite0):
    paths = index_images(image_set)["path"].tolist()[:10]
    out = tmp_path / "activations.h5"
    res = collect_activations(
        lite0, UNITS, image_set, paths, out, tmp_path / "bad.csv", BATCHES_OF_4
    )
    assert res.n_images == 10 and res.n_unreadable == 0
    acts, units, images = read_activations(out)
    assert units == UNITS and images == paths and acts.dtype == np.float32
    np.testing.assert_allclose(acts, _manual(lite0, image_set, paths, UNITS), rtol=1e-4, atol=1e-5)
    values, imgs = read_unit_activations(out, UNITS[2])
    np.testing.assert_array_equal(values, acts[:, 2])
    with h5py.File(out) as f:
        assert f.attrs["complete"] and f.attrs["model"] == "efficientnet_lite0"
        assert f["activations"].chunks[1] == 1  # one unit's column is a contiguous read
    assert not (tmp_path / "activations.h5.partial").exists()
    with pytest.raises(KeyError, match="not in"):
        read_unit_activations(out, "blocks_0_0__1")


def test_corrupt_image_is_listed_and_skipped(tmp_path, image_set, lite0):
    root = tmp_path / "imgs"
    shutil.copytree(image_set, root)
    paths = index_images(root)["path"].tolist()[:6]
    (root / paths[2]).write_bytes(b"garbage")
    out, bad = tmp_path / "a.h5", tmp_path / "unreadable.csv"
    res = collect_activations(lite0, UNITS[:2], root, paths, out, bad, BATCHES_OF_4)
    assert res.n_images == 5 and res.n_unreadable == 1
    import pandas as pd

    table = pd.read_csv(bad)
    assert table["path"].tolist() == [paths[2]] and table["error"].str.len().gt(0).all()
    _, _, images = read_activations(out)
    assert images == paths[:2] + paths[3:]


def _crash_after_blocks(monkeypatch, n_blocks: int) -> None:
    """Make the activation pass die right after its `n_blocks`-th finished block."""
    kill_after(monkeypatch, image_pass, "_flush", n_blocks)


def test_interrupted_collection_resumes_and_matches(tmp_path, image_set, lite0, monkeypatch):
    paths = index_images(image_set)["path"].tolist()[:20]
    full = tmp_path / "full.h5"
    blocks_of_8 = ImagePass(batch_size=4, num_workers=0, block_size=8)
    collect_activations(lite0, UNITS, image_set, paths, full, tmp_path / "u1.csv", blocks_of_8)
    part = tmp_path / "resumed.h5"
    with monkeypatch.context() as m:
        _crash_after_blocks(m, 1)
        with pytest.raises(Killed):
            collect_activations(
                lite0, UNITS, image_set, paths, part, tmp_path / "u2.csv", blocks_of_8
            )
    partial = tmp_path / "resumed.h5.partial"
    assert partial.exists() and not part.exists()
    with h5py.File(partial) as f:
        assert f.attrs["n_done"] == 8
    res = collect_activations(
        lite0, UNITS, image_set, paths, part, tmp_path / "u2.csv", blocks_of_8
    )
    assert res.n_images == 20 and not partial.exists()
    np.testing.assert_array_equal(read_activations(part)[0], read_activations(full)[0])


def test_partial_file_of_another_collection_is_not_trusted(tmp_path, image_set, lite0, monkeypatch):
    paths = index_images(image_set)["path"].tolist()[:8]
    out = tmp_path / "a.h5"
    blocks_of_4 = ImagePass(batch_size=4, num_workers=0, block_size=4)
    with monkeypatch.context() as m:
        _crash_after_blocks(m, 1)
        with pytest.raises(Killed):
            collect_activations(
                lite0, UNITS[:1], image_set, paths, out, tmp_path / "u.csv", blocks_of_4
            )
    collect_activations(lite0, UNITS, image_set, paths, out, tmp_path / "u.csv", BATCHES_OF_4)
    acts, units, _ = read_activations(out)
    assert units == UNITS
    np.testing.assert_allclose(acts, _manual(lite0, image_set, paths, UNITS), rtol=1e-4, atol=1e-5)


def test_unknown_layer_fails_before_any_work(tmp_path, image_set, lite0):
    with pytest.raises(KeyError, match="does not exist"):
        collect_activations(
            lite0, ["nolayer__1"], image_set, ["x.jpg"], tmp_path / "a.h5", tmp_path / "u.csv"
        )
    assert not (tmp_path / "a.h5.partial").exists()


def test_the_block_size_has_one_default():
    """The image pass's default block size is the config schema's `images.block_size` default."""
    import yaml

    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    assert (
        schema["properties"]["images"]["properties"]["block_size"]["default"] == DEFAULT_BLOCK_SIZE
    )

"""Unit statistics (protocol §9): sparsity and local contrast on constructed maps, and one pass."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import Killed, kill_after
from script_runner import mock_snakemake, run_script
from unitpsych.activations.cache import ImagePass
from unitpsych.analysis import unit_statistics as us


def test_local_contrast_of_a_single_bright_pixel():
    # centre 1 in a 3x3 map: the centre differs from its 4 neighbours (4), each of the 4 edge
    # neighbours differs from the centre (1 each), corners 0 -> 8 / 9
    m = torch.zeros(1, 1, 3, 3, dtype=torch.float64)
    m[0, 0, 1, 1] = 1
    assert us.local_contrast(m).item() == pytest.approx(8 / 9)


def test_local_contrast_counts_the_zero_padding_and_not_the_wrap_around():
    # a constant 2x2 map of ones: every position has 2 inner neighbours (difference 0) and 2
    # padded ones (difference 1); torch.roll's wrap-around must not count
    m = torch.ones(2, 3, 2, 2)
    np.testing.assert_allclose(us.local_contrast(m).numpy(), np.full((2, 3), 2.0))
    ramp = torch.tensor([[0.0, 1.0, 2.0]])  # 1x3: |0-1| + |0|*3 pads ... by hand below
    # position 0: left pad 0, right 1, up/down pads 0 -> 1; position 1: 1 + 1 + 1 + 1 = 4;
    # position 2: 1 + 2 + 2 + 2 = 7 -> mean 4
    assert us.local_contrast(ramp).item() == pytest.approx(4.0)


def test_sparsity_of_constructed_maps():
    bcn = torch.tensor([[[-1.0, 0.0, 2.0, 3.0], [-1.0, -2.0, 0.0, -0.5]]])  # (1, 2, 4)
    pixel, channel = us.sparsity(bcn)
    np.testing.assert_allclose(pixel.numpy(), [[0.5, 1.0]])  # <= 0 counts as off
    np.testing.assert_allclose(channel.numpy(), [[0.0, 1.0]])


def test_select_images_spreads_evenly():
    paths = [f"{i:03d}.png" for i in range(10)]
    assert us.select_images(paths, 3) == ["000.png", "004.png", "009.png"]
    assert us.select_images(paths, None) == paths
    assert us.select_images(paths, 50) == paths


class _Conv(torch.nn.Module):
    """A fixed 'model': a 1x1 convolution whose 3 output channels are known functions of the
    input."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 3, 1, bias=True)
        with torch.no_grad():
            self.conv.weight.copy_(
                torch.tensor([[1.0, 0, 0], [0, -1.0, 0], [0, 0, 0]]).view(3, 3, 1, 1)
            )
            self.conv.bias.copy_(torch.tensor([-0.5, 0.0, -1.0]))

    def forward(self, x):
        return self.conv(x)


class _FakeModel:
    """The part of unitpsych.models.LoadedModel the pass uses, around a known module."""

    name = "fixed"
    input_size = 8
    device = torch.device("cpu")
    spec = SimpleNamespace(tokens=None)

    def __init__(self):
        self.module = _Conv().eval()

    def transform(self):
        def to_tensor(img):
            a = np.asarray(img.convert("RGB").resize((8, 8)), dtype=np.float32) / 255
            return torch.from_numpy(a).permute(2, 0, 1)

        return to_tensor

    def get_layer_module(self, layer):
        if layer != "conv":
            raise KeyError(layer)
        return self.module.conv

    def channel_last(self, layer):
        return False

    def layout(self, layer):
        return "bchw"

    def as_bcn(self, layer, act):
        return act.flatten(2)

    def record(self, layers, fn):
        from contextlib import contextmanager

        @contextmanager
        def rec():
            store = {}
            h = self.module.conv.register_forward_hook(
                lambda m, i, o: store.__setitem__("conv", fn("conv", o))
            )
            try:
                yield store
            finally:
                h.remove()

        return rec()


def _images(root: Path, n: int = 12) -> list[str]:
    from PIL import Image

    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(root / f"{i:02d}.png")
        paths.append(f"{i:02d}.png")
    (root / "broken.png").write_bytes(b"not a png")
    return paths + ["broken.png"]


def _expected(root: Path, paths: list[str]) -> pd.DataFrame:
    """The statistics computed directly with numpy from the known convolution."""
    from PIL import Image

    rows = []
    for p in paths:
        try:
            x = np.asarray(Image.open(root / p).convert("RGB"), dtype=np.float64) / 255
        except OSError:
            continue
        maps = [x[..., 0] - 0.5, -x[..., 1], np.full((8, 8), -1.0)]
        for c, m in enumerate(maps):
            pad = np.pad(m, 1)
            diff = sum(np.abs(pad - np.roll(pad, s, axis=a)) for s in (1, -1) for a in (0, 1))
            rows.append(
                {
                    "channel": c,
                    "pixel_sparsity": (m <= 0).mean(),
                    "channel_sparsity": float((m <= 0).all()),
                    "local_contrast": diff[1:-1, 1:-1].mean(),
                }
            )
    return pd.DataFrame(rows).groupby("channel").mean()


def test_one_pass_matches_a_direct_computation_and_skips_unreadable_images(tmp_path):
    paths = _images(tmp_path / "img")
    units = ["conv__0", "conv__1", "conv__2"]
    table = us.compute_unit_statistics(
        _FakeModel(),
        units,
        tmp_path / "img",
        paths,
        tmp_path / "stats.csv",
        ImagePass(batch_size=4, num_workers=0, block_size=4),
    )
    want = _expected(tmp_path / "img", paths)
    got = table.set_index("channel")
    for col in us.STATISTICS:
        np.testing.assert_allclose(got[col].to_numpy(), want[col].to_numpy(), rtol=1e-6)
    assert (got["n_images"] == 12).all()  # the broken image is left out
    assert got.loc[2, "channel_sparsity"] == 1.0 and got.loc[1, "pixel_sparsity"] > 0.9
    assert list(pd.read_csv(tmp_path / "stats.csv").columns) == us.COLUMNS
    assert not (tmp_path / "stats.csv.partial.npz").exists()


def _crash_after_blocks(monkeypatch, n_blocks: int) -> None:
    """Make the pass die right after its `n_blocks`-th saved resume point."""
    kill_after(monkeypatch, us, "_save_partial", n_blocks)


def test_a_stopped_pass_resumes_to_the_same_table(tmp_path, monkeypatch):
    paths = _images(tmp_path / "img")
    units = ["conv__2", "conv__0"]
    blocks_of_4 = ImagePass(batch_size=4, num_workers=0, block_size=4)
    full = us.compute_unit_statistics(
        _FakeModel(), units, tmp_path / "img", paths, tmp_path / "full.csv", blocks_of_4
    )
    with monkeypatch.context() as m:
        _crash_after_blocks(m, 2)
        with pytest.raises(Killed):
            us.compute_unit_statistics(
                _FakeModel(), units, tmp_path / "img", paths, tmp_path / "part.csv", blocks_of_4
            )
    partial = tmp_path / "part.csv.partial.npz"
    assert partial.exists() and not (tmp_path / "part.csv").exists()
    assert int(np.load(partial)["n_done"]) == 8
    resumed = us.compute_unit_statistics(
        _FakeModel(), units, tmp_path / "img", paths, tmp_path / "part.csv", blocks_of_4
    )
    pd.testing.assert_frame_equal(resumed, full)
    # a partial file of another pass (other units) is not resumed
    with monkeypatch.context() as m:
        _crash_after_blocks(m, 1)
        with pytest.raises(Killed):
            us.compute_unit_statistics(
                _FakeModel(),
                ["conv__1"],
                tmp_path / "img",
                paths,
                tmp_path / "other.csv",
                blocks_of_4,
            )
    (tmp_path / "other.csv.partial.npz").rename(tmp_path / "full.csv.partial.npz")
    again = us.compute_unit_statistics(
        _FakeModel(), units, tmp_path / "img", paths, tmp_path / "full.csv", blocks_of_4
    )
    pd.testing.assert_frame_equal(again, full)


def test_unknown_layer_fails_before_any_work(tmp_path):
    with pytest.raises(KeyError):
        us.compute_unit_statistics(
            _FakeModel(), ["nope__1"], tmp_path, ["a.png"], tmp_path / "x.csv"
        )


def test_real_models_conv_and_token_layers(tmp_path):
    """EfficientNet-lite0 (conv maps, offline weights) and the untrained ViT (tokens: no
    contrast)."""
    from unitpsych.images import generate_image_set, index_images
    from unitpsych.models.registry import load_model

    torch.set_num_threads(1)
    generate_image_set(tmp_path / "img", n_images=6, size=64, n_classes=1, seed=0)
    paths = list(index_images(tmp_path / "img")["path"])
    vit = load_model("vit", {"arch": "vit_tiny", "weights": "random"}, device="cpu", seed=0)
    layer = [ly for ly in vit.layers if ly.endswith("mlp_fc1")][0]
    batches_of_3 = replace(us.DEFAULT_PASS, batch_size=3)
    t = us.compute_unit_statistics(
        vit, [f"{layer}__3"], tmp_path / "img", paths, tmp_path / "v.csv", batches_of_3
    )
    assert np.isnan(t["local_contrast"].iloc[0]) and 0 <= t["pixel_sparsity"].iloc[0] <= 1
    lite = load_model("lite", {"arch": "efficientnet_lite0"}, device="cpu", seed=0)
    layer = [ly for ly in lite.layers if "conv_dw" in ly][0]
    t = us.compute_unit_statistics(
        lite,
        [f"{layer}__0", f"{layer}__5"],
        tmp_path / "img",
        paths,
        tmp_path / "l.csv",
        batches_of_3,
    )
    assert (t["local_contrast"] > 0).all() and (t["n_images"] == 6).all()


def test_script_reads_the_configured_image_set(tmp_path):
    """The rule's script on a fake Snakemake object: its own image folder, evenly spaced subset."""

    from unitpsych.images import generate_image_set
    from unitpsych.models.registry import load_model

    generate_image_set(tmp_path / "img", n_images=8, size=64, n_classes=2, seed=0)
    vit = load_model("vit", {"arch": "vit_tiny", "weights": "random"}, device="cpu", seed=0)
    units = [f"{vit.layers[0]}__1", f"{vit.layers[-1]}__2"]
    (tmp_path / "units.json").write_text(json.dumps({"units": units}))
    out = tmp_path / "unit_statistics.csv"
    run_script(
        "unit_statistics",
        mock_snakemake(
            input={"units": tmp_path / "units.json", "images": []},
            output={"csv": out},
            log=[tmp_path / "log.txt"],
            config={"images": {"num_workers": 0}},
            params={
                "model": {"name": "vit", "arch": "vit_tiny", "weights": "random"},
                "seed": 0,
                "images": {
                    "root": str(tmp_path / "img"),
                    "list": None,
                    "n_images": 5,
                    "batch_size": 4,
                    "extensions": [".jpg"],
                },
            },
        ),
    )
    table = pd.read_csv(out)
    assert list(table["unit"]) == units and (table["n_images"] == 5).all()

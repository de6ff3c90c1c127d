"""Models by library name (timm, torchvision, open_clip): names, layers by rule and their layouts,
local checkpoints, preprocessing. Random weights only (offline)."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from unitpsych.config import ConfigError, check_model_arch
from unitpsych.models import discovery
from unitpsych.models.generic import check_arch, clean_state_dict, parse_arch
from unitpsych.models.registry import load_model

ARCHS = [
    "timm:resnet18",
    "timm:vit_tiny_patch16_224",
    "timm:convnext_atto",
    "timm:convnext_tiny",
    "torchvision:mobilenet_v3_small",
    "open_clip:RN50",
]


@pytest.fixture(scope="module")
def models():
    """The library models, built with random weights."""
    return {a: load_model(a.replace(":", "-"), {"arch": a, "weights": "random"}) for a in ARCHS}


def test_names_parse_and_unknown_ones_suggest_close_matches():
    assert parse_arch("open_clip:ViT-B-32/laion2b_s34b_b79k").tag == "laion2b_s34b_b79k"
    assert parse_arch("resnet50") is None and parse_arch("foo:bar") is None
    assert check_arch("timm:resnet18.a1_in1k").model == "resnet18.a1_in1k"
    with pytest.raises(ValueError, match="did you mean: .*timm:resnet18"):
        check_arch("timm:resnet19")
    with pytest.raises(ValueError, match="torchvision:mobilenet_v3_small"):
        check_arch("torchvision:mobilenet_v3_smal")
    with pytest.raises(ValueError, match="no pretrained tag 'laion' for RN50; its tags: openai"):
        check_arch("open_clip:RN50/laion")
    with pytest.raises(ConfigError, match=r"models\.m\.arch: .*did you mean resnet50"):
        check_model_arch("m", {"arch": "resnet5"})
    with pytest.raises(ConfigError, match=r"models\.m\.layers: .*preset"):
        check_model_arch("m", {"arch": "resnet50", "layers": {"include": ["layer1"]}})


def test_default_rule_takes_the_body_not_stem_or_head(models):
    rn = models["timm:resnet18"]
    assert rn.layers[0] == "layer1_0_conv1" and rn.layers[-1] == "layer4_1_bn2"
    assert not {"conv1", "bn1", "fc"} & set(rn.layers) and len(rn.layers) == 38
    vit = models["timm:vit_tiny_patch16_224"]
    assert all(ly.startswith("blocks_") for ly in vit.layers)
    assert "patch_embed_proj" not in vit.layers and "norm" not in vit.layers
    mobile = models["torchvision:mobilenet_v3_small"]
    assert "features_0_0" not in mobile.layers and "classifier_3" not in mobile.layers
    clip = models["open_clip:RN50"]
    assert all(ly.startswith("visual_layer") for ly in clip.layers)  # no stem, no attnpool


def test_layouts_come_from_the_module_and_its_output(models):
    layouts = {a: {i.layout for i in m.layouts.values()} for a, m in models.items()}
    assert layouts["timm:resnet18"] == {"bchw"} and layouts["open_clip:RN50"] == {"bchw"}
    assert layouts["timm:vit_tiny_patch16_224"] == {"bnc"}
    assert layouts["timm:convnext_atto"] == {"bchw"}  # LayerNorm2d normalises channels first
    assert layouts["timm:convnext_tiny"] == {"bchw", "bhwc"}
    cnx = models["timm:convnext_tiny"]
    layer = "stages_1_blocks_0_mlp_fc1"
    assert cnx.channel_last(layer) and not cnx.channel_last("stages_1_blocks_0_conv_dw")
    with torch.no_grad(), cnx.record([layer]) as store:
        cnx.module(torch.randn(1, 3, 64, 64))
    raw = store[layer]
    assert raw.shape[-1] == 768 == cnx.layouts[layer].channels
    assert torch.allclose(cnx.reduce(layer, raw), raw.mean(dim=(1, 2)))
    for model in models.values():  # the probe's channel counts are what a forward pass sees
        sizes = model.layer_sizes()
        assert sizes == {ly: info.channels for ly, info in model.layouts.items()}


def test_transformers_and_clip_crop_feature_visualisations_to_their_input(models):
    assert models["timm:vit_tiny_patch16_224"].fv_input_crop == 224
    assert models["open_clip:RN50"].fv_input_crop == 224
    assert models["timm:resnet18"].fv_input_crop is None


def test_include_exclude_and_refusals(models):
    module = models["timm:resnet18"].module
    picked = discovery.select_layers(module, 64, {"include": [r"^layer\d_\d$"]}, "rn")
    assert list(picked) == [f"layer{i}_{j}" for i in range(1, 5) for j in range(2)]
    fewer = discovery.select_layers(module, 64, {"exclude": [r"_bn\d$", "downsample_1"]}, "rn")
    assert len(fewer) == 19 and all("_bn" not in ly for ly in fewer)
    with pytest.raises(ValueError, match=r"'rn'.*selects no layer; some of its layers: layer1_0"):
        discovery.select_layers(module, 64, {"include": ["nothing_like_this"]}, "rn")
    with pytest.raises(ValueError, match=r"layers\.include .*e\.g\. fc: .*pooled"):
        discovery.select_layers(module, 64, {"include": ["^fc$", "layer1_0_conv1"]}, "rn")


def test_windowed_attention_folding_windows_into_the_batch_is_left_out(caplog):
    caplog.set_level("INFO", logger="unitpsych.models")
    model = load_model("swin", {"arch": "timm:swin_tiny_patch4_window7_224", "weights": "random"})
    assert "layers_0_blocks_0_attn_qkv" not in model.layers
    assert "layers_0_blocks_0_norm1" in model.layers
    assert "layers_0_blocks_0_attn_qkv left out" in caplog.text


def test_local_checkpoint_goes_through_the_generic_path(tmp_path, models):
    ref = models["timm:resnet18"].module
    path = tmp_path / "ckpt.pth"
    state = {f"module.{k}": v for k, v in ref.state_dict().items()}
    torch.save({"state_dict": state, "epoch": 3}, path)
    assert set(clean_state_dict(torch.load(path))) == set(ref.state_dict())
    mine = load_model("mine", {"arch": "timm:resnet18", "weights": str(path)}, seed=7)
    for k, v in ref.state_dict().items():
        assert torch.equal(v, mine.module.state_dict()[k]), k
    visual = tmp_path / "visual.pth"  # an open_clip image tower alone
    torch.save(models["open_clip:RN50"].module.state_dict(), visual)
    clip = load_model("c", {"arch": "open_clip:RN50", "weights": str(visual)}, seed=7)
    w = clip.module.layer1[0].conv1.weight
    assert torch.equal(w, models["open_clip:RN50"].module.layer1[0].conv1.weight)
    torch.save({"fc.weight": torch.zeros(3)}, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match="does not fit the architecture"):
        load_model("bad", {"arch": "timm:resnet18", "weights": str(tmp_path / "bad.pth")})


def test_preprocessing_comes_from_the_library(models):
    img = Image.new("RGB", (300, 400), (255, 255, 255))
    cases = {
        "timm:vit_tiny_patch16_224": (0.5, 0.5),
        "torchvision:mobilenet_v3_small": (0.485, 0.229),
        "open_clip:RN50": (0.48145466, 0.26862954),
    }
    for arch, (mean, std) in cases.items():
        model = models[arch]
        x = model.transform()(img)
        assert x.shape == (3, 224, 224), arch
        assert abs(float(x[0, 0, 0]) - (1 - mean) / std) < 1e-4, arch
        assert model.prep.mean[0] == pytest.approx(mean) and model.prep.std[0] == pytest.approx(std)
        ones = model.normalize(torch.ones(1, 3, 4, 4))  # feature visualisations: same statistics
        assert torch.allclose(ones[0, :, 0, 0], x[:, 0, 0], atol=1e-4), arch
    assert models["torchvision:mobilenet_v3_small"].prep.resize == 256


def test_feature_visualisation_of_a_channel_last_library_layer(models):
    """The FV objective reads a timm ConvNeXt's channel-last MLP layer through its probed layout,
    normalised with the library's statistics."""
    from test_featureviz import _start_images, _unit_values, fv_settings

    from unitpsych.visualizations.optimise import RunSpec, optimise_runs

    model = models["timm:convnext_tiny"]
    layer = "stages_1_blocks_0_mlp_fc1"
    settings = fv_settings(param_size=64, crop_size=64, max_steps=10)
    unit = f"{layer}__3"
    start = _unit_values(model, unit, _start_images(settings, 2, seed=4))
    res = optimise_runs(
        model, layer, 3, [RunSpec("max", 0.0, 2), RunSpec("min", 0.0, 2)], settings, 4
    )
    assert _unit_values(model, unit, res[0].images).min() > start.max()
    assert _unit_values(model, unit, res[1].images).max() < start.min()


def test_scale_of_models_outside_the_table_comes_from_the_config_or_the_card(tmp_path):
    import json
    from pathlib import Path

    import pandas as pd

    from unitpsych.analysis.regression import model_scales
    from unitpsych.figures import model_properties
    from unitpsych.models.card import extend_model_table, model_cards_by_name

    repo = Path(__file__).resolve().parents[2]
    table = pd.read_csv(repo / "resources" / "models.csv")
    card = tmp_path / "results" / "mine" / "model.json"
    card.parent.mkdir(parents=True)
    card.write_text(json.dumps({"n_parameters": 11689512}))
    models = {
        "resnet50": {"arch": "resnet50"},
        "mine": {"arch": "timm:resnet18", "dataset_size": 1281167},
        "given": {"arch": "timm:resnet18", "n_parameters": 5, "top1_accuracy": 0.5},
    }
    extended = extend_model_table(table, models, model_cards_by_name([str(card)]))
    props = model_properties(models, extended).set_index("model")
    assert props.loc["mine", "n_parameters"] == 11689512  # measured, from the card
    assert props.loc["given", "n_parameters"] == 5 and props.loc["given", "top1_accuracy"] == 0.5
    assert props.loc["resnet50", "n_parameters"] == 25557032  # the table's row is untouched
    scales = model_scales(models, extended, "dataset_size").set_index("model")
    assert scales.loc["mine", "scale_value"] == 1281167

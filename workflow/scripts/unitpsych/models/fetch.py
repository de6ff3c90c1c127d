"""What the `weights` target downloads for the configured models (unitpsych.models.weights)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from unitpsych.models.registry import load_model
from unitpsych.models.weights import needs_download


def model_loaders(models: Mapping[str, Mapping]) -> dict[str, Callable[[], Any]]:
    """One loader per architecture with `weights: pretrained` whose weights are downloaded (not
    shipped with a package)."""
    archs = {
        cfg["arch"]
        for cfg in models.values()
        if cfg.get("weights", "pretrained") == "pretrained" and needs_download(cfg["arch"])
    }
    return {
        arch: (lambda arch=arch: load_model(arch, {"arch": arch, "weights": "pretrained"}))
        for arch in sorted(archs)
    }

"""What the `weights` target downloads for the configured models (unitpsych.models.weights)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from unitpsych.models.generic import parse_arch
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
    return {arch: (lambda arch=arch: fetch_model(arch)) for arch in sorted(archs)}


def fetch_model(arch: str) -> None:
    """Load `arch` with its pretrained weights (and an open_clip model's tokenizer, which the
    zero-shot accuracy check needs)."""
    load_model(arch, {"arch": arch, "weights": "pretrained"})
    parsed = parse_arch(arch)
    if parsed is not None and parsed.library == "open_clip":
        import open_clip

        open_clip.get_tokenizer(parsed.model)

"""What the `weights` target downloads: a loader per configured model and observer backend."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from unitpsych.models import weights as W


def model_loaders(models: Mapping[str, Mapping]) -> dict[str, Callable[[], Any]]:
    """One loader per architecture with `weights: pretrained` whose weights are downloaded."""
    from unitpsych.models.registry import load_model

    archs = {
        cfg["arch"]
        for cfg in models.values()
        if cfg.get("weights", "pretrained") == "pretrained" and W.needs_download(cfg["arch"])
    }
    return {
        arch: (lambda arch=arch: load_model(arch, {"arch": arch, "weights": "pretrained"}))
        for arch in sorted(archs)
    }


def backend_loaders(backends: Mapping[str, str | None], log: Any) -> dict[str, Callable[[], Any]]:
    """Loaders of the observer backends (name -> its configured local weights, if any): features
    backends load their model, LPIPS its torchvision trunk; DreamSim needs its own folder."""
    from unitpsych.models.registry import load_model
    from unitpsych.observer.similarity import lpips_trunk_state_dict, parse_backend

    found: dict[str, Callable[[], Any]] = {}
    for name, local in backends.items():
        spec = parse_backend(name)
        if local is not None:
            continue  # a local file: nothing to download
        if spec.kind == "features" and W.needs_download(spec.arch):
            cfg = {"arch": spec.arch, "weights": "pretrained"}
            found[spec.arch] = lambda cfg=cfg: load_model(cfg["arch"], cfg)
        elif spec.kind == "lpips":
            net = spec.variant or "alex"
            found[name] = lambda net=net: lpips_trunk_state_dict(net, None)
        elif spec.kind == "dreamsim":
            log.warning("%s: set observer.weights to its checkpoint folder (not fetched)", name)
    return found


def loaders(
    models: Mapping[str, Mapping], backends: Mapping[str, str | None], log: Any
) -> dict[str, Callable[[], Any]]:
    """Every loader the `weights` target runs, models first."""
    return model_loaders(models) | backend_loaders(backends, log)

"""What the `weights` target downloads for the observer backends (see unitpsych.models.weights)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from unitpsych.models.weights import needs_download
from unitpsych.observer.similarity import lpips_trunk_state_dict, parse_backend


def backend_loaders(backends: Mapping[str, str | None], log: Any) -> dict[str, Callable[[], Any]]:
    """Loaders of the observer backends (name -> its configured local weights, if any): features
    backends load their model, LPIPS its torchvision trunk; DreamSim needs its own folder."""
    from unitpsych.models.registry import load_model

    found: dict[str, Callable[[], Any]] = {}
    for name, local in backends.items():
        spec = parse_backend(name)
        if local is not None:
            continue  # a local file: nothing to download
        if spec.kind == "features" and needs_download(spec.arch):
            cfg = {"arch": spec.arch, "weights": "pretrained"}
            found[spec.arch] = lambda cfg=cfg: load_model(cfg["arch"], cfg)
        elif spec.kind == "lpips":
            net = spec.variant or "alex"
            found[name] = lambda net=net: lpips_trunk_state_dict(net, None)
        elif spec.kind == "dreamsim":
            log.warning("%s: set observer.weights to its checkpoint folder (not fetched)", name)
    return found

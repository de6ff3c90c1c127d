"""The model card `results/<model>/model.json` and the layer listing of `unitpsych layers`.

A card records what a model's results came from: its architecture, the weights with their
SHA-256, the preprocessing, the layers of interest with channel counts and layouts, and the
parameter count measured from the model. The scale figures and the scale regression read the
parameter count of models that resources/models.csv does not list from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from unitpsych.io import read_json
from unitpsych.models import weights as W

SCALE_COLUMNS = ("n_parameters", "dataset_size", "top1_accuracy")


def layer_table(model: Any) -> list[dict[str, Any]]:
    """Every layer of interest with its channel count and layout, in network order."""
    sizes = model.layer_sizes()
    return [{"layer": ly, "channels": sizes[ly], "layout": model.layout(ly)} for ly in model.layers]


def format_layers(model: Any) -> str:
    """The layer table as aligned text lines, with a total."""
    rows = layer_table(model)
    width = max(len(r["layer"]) for r in rows)
    lines = [f"{r['layer']:<{width}}  {r['channels']:>6}  {r['layout']}" for r in rows]
    total = sum(r["channels"] for r in rows)
    lines.append(f"{len(rows)} layers of interest, {total} units ({model.name}, {model.arch})")
    return "\n".join(lines)


def preprocessing_info(model: Any) -> dict[str, Any]:
    """The preprocessing a model's activations were computed with."""
    if model.prep is not None:
        return model.prep.as_dict()
    return {"input_size": model.input_size, "source": f"preset ({model.spec.preprocessing})"}


def weights_info(arch: str, weights: str) -> dict[str, Any]:
    """Where the weights came from and their SHA-256 (a file: its own; pretrained: the cached
    files of the `weights` target's manifest, when a cache is in use)."""
    if weights == "random":
        return {"source": "random", "sha256": None}
    if weights != "pretrained":
        return {"source": str(Path(weights).resolve()), "sha256": W.sha256(weights)}
    cache = W.active_cache()
    manifest = W.manifest_path(cache) if cache else None
    entry = read_json(manifest)["models"].get(arch) if manifest and manifest.is_file() else None
    files = entry["files"] if entry else {}
    return {"source": "pretrained", "cache": str(cache) if cache else None, "sha256": files}


def model_card(model: Any, weights: str) -> dict[str, Any]:
    """The card of a loaded model."""
    n_parameters = sum(p.numel() for p in model.module.parameters())
    return {
        "model": model.name,
        "arch": model.arch,
        "description": model.spec.description,
        "weights": weights_info(model.arch, weights),
        "preprocessing": preprocessing_info(model),
        "n_parameters": int(n_parameters),
        "n_parameters_full": int(sum(p.numel() for p in model.full.parameters())),
        "layers": layer_table(model),
    }


def extend_model_table(
    table: pd.DataFrame, models: Mapping[str, Mapping], cards: Mapping[str, str | Path]
) -> pd.DataFrame:
    """resources/models.csv plus a row per configured model it does not list (by name or arch):
    n_parameters, dataset_size and top1_accuracy from the config, else the card's parameter
    count."""
    known = set(table["model"])
    rows = []
    for name, info in models.items():
        if name in known or info.get("arch") in known:
            continue
        row = {"model": name, **{c: info.get(c) for c in SCALE_COLUMNS}}
        if row["n_parameters"] is None and name in cards:
            row["n_parameters"] = read_json(cards[name])["n_parameters"]
        rows.append({k: (float("nan") if v is None else v) for k, v in row.items()})
    return pd.concat([table, pd.DataFrame(rows)], ignore_index=True) if rows else table


def model_cards_by_name(files: Any) -> dict[str, str]:
    """results/<model>/model.json files keyed by model name."""
    files = [files] if isinstance(files, str) else list(files)
    return {Path(f).parent.name: str(f) for f in files}

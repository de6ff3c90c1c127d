"""Unit ids and unit sampling: layer uniformly, then channel uniformly (protocol §2)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from unitpsych.models.layers import CLIP_PREFIX


def split_unit(unit: str) -> tuple[str, int]:
    """'layer3_2_shortcut__17' -> ('layer3_2_shortcut', 17)."""
    layer, sep, channel = unit.rpartition("__")
    if not sep or not layer or not channel.isdigit():
        raise ValueError(f"unit id {unit!r} is not of the form '<layer>__<channel>'")
    return layer, int(channel)


def make_unit(layer: str, channel: int) -> str:
    """('layer3_2_shortcut', 17) -> 'layer3_2_shortcut__17'."""
    return f"{layer}__{int(channel)}"


def sample_units(
    layers: list[str],
    sizes: dict[str, int],
    n: int,
    seed: int = 42,
    blacklist: tuple[str, ...] = (),
) -> list[str]:
    """Draw `n` distinct units: a layer uniformly over `layers`, then a channel uniformly
    (sample_units.py).

    Uses numpy's legacy RandomState with the authors' call sequence (choice, then randint), so the
    same
    layer list and seed give the authors' draws; each model has its own stream.
    """
    banned = set(blacklist)
    available = sum(sizes[layer] for layer in layers) - len(banned)
    if n > available:
        raise ValueError(f"cannot sample {n} distinct units from {available} available units")
    rng = np.random.RandomState(seed)
    chosen: list[str] = []
    seen: set[str] = set()
    while len(chosen) < n:
        layer = layers[rng.choice(len(layers))]
        unit = make_unit(layer, rng.randint(0, sizes[layer]))
        if unit in seen or unit in banned:
            continue
        seen.add(unit)
        chosen.append(unit)
    return chosen


def convert_shared_units(units: list[str], to_clip: bool) -> list[str]:
    """Adapt another model's units: add or strip the CLIP `visual_` prefix."""
    out = []
    for unit in units:
        bare = unit[len(CLIP_PREFIX) :] if unit.startswith(CLIP_PREFIX) else unit
        out.append(CLIP_PREFIX + bare if to_clip else bare)
    return out


def read_units(path: str | Path) -> list[str]:
    """Read a unit list: JSON {"units": [...]} (or a JSON list), or text with one unit per line."""
    text = Path(path).read_text()
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return [
            line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
        ]
    units = data["units"] if isinstance(data, dict) else data
    if not isinstance(units, list) or not all(isinstance(u, str) for u in units):
        raise ValueError(f"{path}: expected {{'units': [<unit id>, ...]}}")
    return units


def check_units(units: list[str], layers: list[str], sizes: dict[str, int], model: str) -> None:
    """Every unit must name a layer of interest and an existing channel; duplicates are errors."""
    known = set(layers)
    for unit in units:
        layer, channel = split_unit(unit)
        if layer not in known:
            raise ValueError(
                f"unit {unit!r} of model {model!r}: layer {layer!r} is not a layer of interest "
                f"(e.g. {', '.join(layers[:3])}, ... {len(layers)} in all)"
            )
        if channel >= sizes[layer]:
            raise ValueError(
                f"unit {unit!r} of model {model!r}: layer {layer!r} has {sizes[layer]} channels"
            )
    dupes = sorted({u for u in units if units.count(u) > 1})
    if dupes:
        raise ValueError(f"model {model!r}: duplicate units {dupes}")


def units_table(units: list[str], layers: list[str], sizes: dict[str, int]) -> pd.DataFrame:
    """units.csv: unit, layer, channel, layer_index, relative_depth, n_channels.

    relative_depth = layer_index / max(layer_index over the sampled layers), as in the paper's
    figures.
    """
    index = {layer: i for i, layer in enumerate(layers)}
    rows = []
    for unit in units:
        layer, channel = split_unit(unit)
        rows.append(
            dict(
                unit=unit,
                layer=layer,
                channel=channel,
                layer_index=index[layer],
                n_channels=sizes[layer],
            )
        )
    df = pd.DataFrame(rows, columns=["unit", "layer", "channel", "layer_index", "n_channels"])
    top = max(df["layer_index"].max(), 1) if len(df) else 1
    df.insert(4, "relative_depth", df["layer_index"] / top)
    return df

"""Unit groups of the feature visualisations: the units one job optimises together.

A model's sampled units, in depth order (layer index, then channel), are split into
ceil(n / units_per_job) groups of near-equal size, named g0, g1, ... Units of similar depth share a
group, so the forward pass of their batch stops at about the same layer. A group's job writes one
folder per unit into its group folder; each unit's synthetic folder is a hard-linked copy of it.
"""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path

from unitpsych.io import atomic_dir


def unit_groups(units: list[tuple[str, int, int]], units_per_job: int) -> dict[str, list[str]]:
    """Group name -> units for (unit, layer index, channel) rows, in depth order."""
    if units_per_job < 1:
        raise ValueError(f"visualizations.units_per_job must be >= 1, got {units_per_job}")
    ordered = [u for u, _, _ in sorted(units, key=lambda row: (row[1], row[2], row[0]))]
    n_groups = math.ceil(len(ordered) / units_per_job)
    size, extra = divmod(len(ordered), n_groups) if n_groups else (0, 0)
    groups, start = {}, 0
    for g in range(n_groups):
        end = start + size + (g < extra)
        groups[f"g{g}"] = ordered[start:end]
        start = end
    return groups


def read_unit_groups(units_csv: str | Path, units_per_job: int) -> dict[str, list[str]]:
    """The groups of a model's units.csv (columns unit, layer_index, channel)."""
    import pandas as pd

    table = pd.read_csv(units_csv)
    rows = zip(table["unit"], table["layer_index"], table["channel"], strict=True)
    return unit_groups([(str(u), int(i), int(c)) for u, i, c in rows], units_per_job)


def group_of(groups: dict[str, list[str]], unit: str) -> str:
    """The group holding `unit`; KeyError names it when no group does."""
    for name, members in groups.items():
        if unit in members:
            return name
    raise KeyError(f"unit {unit!r} is in no feature-visualisation group")


def link_unit_folder(source: str | Path, target: str | Path) -> int:
    """Hard-link (copy across file systems) the files of a group's unit folder into `target`,
    atomically; returns the number of files."""
    files = sorted(p for p in Path(source).iterdir() if p.is_file())
    if not files:
        raise FileNotFoundError(f"{source} holds no feature visualisations")
    with atomic_dir(target) as tmp:
        for path in files:
            try:
                os.link(path, tmp / path.name)
            except OSError:
                shutil.copy2(path, tmp / path.name)
    return len(files)

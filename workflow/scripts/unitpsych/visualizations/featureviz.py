"""Synthetic feature visualisations of a unit with the diversity search (protocol §5).

Four modules share the work:

- `search`: the protocol's α search (§5.2) and the schedule of a unit's runs, pure Python;
- `optimise`: the torch optimisation of many runs of a unit at once (§5.1);
- `settings`: the config slice, read by both and by this module;
- this module: the per-unit loop (`visualize_unit`), the protocol's final selection,
  the unit's folder (`{min,max}_{i}.png` and `fv.json`, written by `save_unit_fv` and read back by
  `read_fv`, its one reader) and the per-model summary table.

What is stacked in one device batch (`batch_images`, speed only: results do not depend on it up to
float rounding):

1. both sides (min and max) of a unit in every round;
2. speculative α candidates: the α values the search may need next (breadth-first over both
   outcomes of the pending runs), as far as `batch_images` allows. `batch_images` = 2·n_images
   turns speculation off; on a CPU at 256 px, n_images (one run at a time) is fastest: larger
   batches fall out of the cache.

Compared with the authors' code: the image is re-evaluated in float (as they did) and stored as
uint8(img·255); the fork's 16-step ReLU/GELU gradient redirection warm-up is not reproduced (§5 does
not list it); when the search falls back to the non-diverse batch (α = 0) we store its 9 images
instead of appending its strongest image a second time (the authors' 10-image edge case); a unit
whose dataset activations are constant is kept with its non-diverse FVs and marked unsuccessful
(the authors' assertion skipped it); timm ViTs are centre-cropped to their input size like CLIP.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from unitpsych.io import read_json, write_json
from unitpsych.paths import SIDES, fv_record, stimulus_file
from unitpsych.visualizations.optimise import (
    UnitJob,
    evaluate_images,
    optimise_jobs,
    reused_heap,
)
from unitpsych.visualizations.search import (
    UnitPlan,
    beats_target,
    chunk_runs,
    sorted_weakest_first,
)
from unitpsych.visualizations.settings import FVSettings

if TYPE_CHECKING:
    import pandas as pd

    from unitpsych.models.registry import LoadedModel

log = logging.getLogger("unitpsych.featureviz")


# --------------------------------------------------------------------------- one unit


@dataclass
class SideResult:
    """One side's stored visualisations: activations weakest → strongest, α, and the images.

    `images` (n, crop, crop, 3) in [0, 1] are None when the record was read back from fv.json.
    """

    activations: list[float]
    alpha: float | None
    alpha_source: str
    images: np.ndarray | None = None


@dataclass
class UnitFV:
    """A unit's feature visualisations and everything `fv.json` records about them."""

    model: str
    unit: str
    layer: str
    channel: int
    dataset_min: float
    dataset_max: float
    success: bool
    reason: str
    sides: dict[str, SideResult]
    runs: list[dict[str, Any]]
    settings: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """JSON-ready record (images are stored next to it as PNG)."""
        sides = {
            side: {
                "alpha": r.alpha,
                "alpha_source": r.alpha_source,
                "activations": r.activations,
                "images": [stimulus_file("", side, i) for i in range(len(r.activations))],
            }
            for side, r in self.sides.items()
        }
        return {
            "model": self.model,
            "unit": self.unit,
            "layer": self.layer,
            "channel": self.channel,
            "success": self.success,
            "reason": self.reason,
            "dataset": {"min": self.dataset_min, "max": self.dataset_max},
            **sides,
            "runs": self.runs,
            "settings": self.settings,
        }

    @classmethod
    def from_json(cls, record: Mapping[str, Any]) -> UnitFV:
        """The record of `to_json` (without images); KeyError names a missing key."""
        sides = {
            side: SideResult(
                [float(a) for a in record[side]["activations"]],
                record[side]["alpha"],
                record[side]["alpha_source"],
            )
            for side in SIDES
        }
        return cls(
            record["model"],
            record["unit"],
            record["layer"],
            int(record["channel"]),
            float(record["dataset"]["min"]),
            float(record["dataset"]["max"]),
            bool(record["success"]),
            record["reason"],
            sides,
            list(record["runs"]),
            dict(record["settings"]),
        )


@dataclass(frozen=True)
class UnitTarget:
    """A unit to visualise: its name, dataset extremes and seed (config seed + unit name)."""

    unit: str
    dataset_min: float
    dataset_max: float
    seed: int


def visualize_unit(
    model: LoadedModel,
    unit: str,
    dataset_min: float,
    dataset_max: float,
    settings: FVSettings,
    seed: int,
    batch_images: int,
    progress: Any = None,
) -> UnitFV:
    """Feature visualisations of one unit with the diversity search (§5.2), batched on the device.

    `batch_images` (config `featureviz.batch_images`) is the most images optimised together.
    """
    target = UnitTarget(unit, dataset_min, dataset_max, seed)
    return visualize_units(model, [target], settings, batch_images, 1, progress)[0]


def visualize_units(
    model: LoadedModel,
    targets: list[UnitTarget],
    settings: FVSettings,
    batch_images: int,
    batch_units: int = 1,
    progress: Any = None,
) -> list[UnitFV]:
    """Feature visualisations of several units of one model, optimised together round by round.

    Each unit plans its rounds as it would alone (`batch_images` images a round, speculative α
    candidates included), so its results do not depend on the other units; the rounds of up to
    `batch_units` units share one optimisation (a device batch of up to batch_units · batch_images
    images: the same results up to float rounding). With batch_units = 1 each unit's batches are
    exactly those of `visualize_unit`.
    """
    from unitpsych.units.sampling import split_unit

    if batch_images < 1 or batch_units < 1:
        raise ValueError(
            f"featureviz.batch_images and batch_units must be >= 1, got {batch_images}, "
            f"{batch_units}"
        )
    for t in targets:
        model.get_layer_module(split_unit(t.unit)[0])  # a clear error for a missing layer
    s = settings
    plans = [
        UnitPlan(s.alpha, s.n_images, s.diversity, t.dataset_min, t.dataset_max) for t in targets
    ]
    rounds = [0] * len(targets)
    with reused_heap():  # one heap for every round (optimise_jobs nests inside)
        _run_rounds(model, targets, plans, rounds, settings, (batch_images, batch_units), progress)
    fvs = [_assemble(model.name, t.unit, p, settings) for t, p in zip(targets, plans, strict=True)]
    for fv, n in zip(fvs, rounds, strict=True):
        fv.settings |= {"rounds": n, "batch_images": batch_images}
    return fvs


def _run_rounds(
    model: LoadedModel,
    targets: list[UnitTarget],
    plans: list[UnitPlan],
    rounds: list[int],
    settings: FVSettings,
    sizes: tuple[int, int],
    progress: Any,
) -> None:
    """Every unit's rounds until each plan is done (`sizes`: batch_images, batch_units)."""
    from unitpsych.units.sampling import split_unit

    batch_images = sizes[0]
    while not all(plan.done() for plan in plans):
        jobs: list[tuple[int, UnitJob]] = []
        for k, (t, plan) in enumerate(zip(targets, plans, strict=True)):
            if plan.done():
                continue
            requests = plan.requests(batch_images)
            rounds[k] += 1
            log.info(
                "%s round %d: %s",
                t.unit,
                rounds[k],
                ", ".join(f"{r.side} α={r.alpha:g}" for r in requests),
            )
            layer, channel = split_unit(t.unit)
            for chunk in chunk_runs(requests, batch_images):
                jobs.append((k, UnitJob(layer, channel, t.seed, tuple(chunk))))
        _run_jobs(model, jobs, plans, settings, sizes, progress)


def pack_jobs(
    jobs: list[tuple[int, UnitJob]], batch_images: int, batch_units: int
) -> list[list[tuple[int, UnitJob]]]:
    """Consecutive device batches of the round's (unit index, job) pairs: at most `batch_units`
    units and batch_images · batch_units images each (a job is never split)."""
    batches: list[list[tuple[int, UnitJob]]] = [[]]
    used = 0
    for k, job in jobs:
        n = sum(r.n for r in job.runs)
        units = {u for u, _ in batches[-1]} | {k}
        if batches[-1] and (used + n > batch_images * batch_units or len(units) > batch_units):
            batches.append([])
            used = 0
        batches[-1].append((k, job))
        used += n
    return batches


def _run_jobs(
    model: LoadedModel,
    jobs: list[tuple[int, UnitJob]],
    plans: list[UnitPlan],
    settings: FVSettings,
    sizes: tuple[int, int],
    progress: Any,
) -> None:
    """Optimise a round's jobs in device batches (`sizes`: batch_images, batch_units), re-evaluate
    every run's images and hand them to its unit's plan."""
    batch_images, batch_units = sizes
    for batch in pack_jobs(jobs, batch_images, batch_units):
        results = optimise_jobs(model, [job for _, job in batch], settings, progress)
        for (k, job), runs in zip(batch, results, strict=True):
            for result in runs:
                result.activations = evaluate_images(
                    model, job.layer, job.channel, result.images, batch_images
                )
                plans[k].add(result)


def _assemble(model: str, unit: str, plan: UnitPlan, settings: FVSettings) -> UnitFV:
    """The protocol's final selection: 8 diverse images (weakest → strongest) + the strongest
    non-diverse."""
    from unitpsych.units.sampling import split_unit

    weak = plan.non_diverse_too_weak()
    assert weak is not None
    sides: dict[str, SideResult] = {}
    reasons = []
    for side in SIDES:
        nondiv_imgs, nondiv_acts = sorted_weakest_first(plan.results[(side, 0.0)])
        if weak[side]:
            extreme = "minimum" if side == "min" else "maximum"
            reasons.append(
                f"{side}: the weakest non-diverse FV ({nondiv_acts[0]:.4g}) does not reach the "
                f"dataset {extreme} ({plan.target[side]:.4g})"
            )
        outcome = plan.outcome(side)
        if outcome is None or outcome.alpha == 0.0:
            source = (
                "non_diverse"
                if outcome is not None
                else ("no_diversity" if not settings.diversity else "skipped")
            )
            alpha = 0.0 if outcome else None
            sides[side] = SideResult(nondiv_acts.tolist(), alpha, source, nondiv_imgs)
            continue
        imgs, acts = sorted_weakest_first(plan.results[(side, outcome.alpha)])
        sides[side] = SideResult(
            acts.tolist() + [float(nondiv_acts[-1])],
            outcome.alpha,
            outcome.source,
            np.concatenate([imgs, nondiv_imgs[-1:]]),
        )
    success = not any(weak.values()) and not plan.constant
    if plan.constant:
        reasons.insert(0, f"the unit's dataset activations are constant ({plan.target['min']:.4g})")
    if success:
        reason = "ok"
    elif all(weak.values()) or plan.constant:
        reason = "; ".join(reasons) + "; non-diverse FVs stored, no diversity search"
    else:
        reason = "; ".join(reasons)
    runs = _run_records(plan)
    layer, channel = split_unit(unit)
    return UnitFV(
        model,
        unit,
        layer,
        channel,
        float(plan.target["min"]),
        float(plan.target["max"]),
        success,
        reason,
        sides,
        runs,
        asdict(settings),
    )


def _run_records(plan: UnitPlan) -> list[dict[str, Any]]:
    """fv.json's record of every run the unit's plan made, in the order they finished."""
    return [
        {
            "side": r.spec.side,
            "alpha": r.spec.alpha,
            "n_images": r.spec.n,
            "steps": r.steps,
            "works": beats_target(r, plan.target[r.spec.side]),
            "activations": [float(a) for a in r.activations],
        }
        for r in plan.results.values()
    ]


# --------------------------------------------------------------------------- the unit's folder


def to_uint8(images: np.ndarray) -> np.ndarray:
    """The authors' conversion to PNG pixels: uint8(img · 255) (truncation)."""
    return np.uint8(np.clip(images, 0.0, 1.0) * 255)


def save_unit_fv(fv: UnitFV, folder: str | Path) -> None:
    """Write `{min,max}_{i}.png` (weakest → strongest) and `fv.json` into `folder`."""
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for side, result in fv.sides.items():
        if result.images is None:
            raise ValueError(f"{fv.unit}: the {side} images are not in memory")
        for i, image in enumerate(to_uint8(result.images)):
            Image.fromarray(image).save(stimulus_file(str(folder), side, i))
    write_json(fv_record(str(folder)), fv.to_json())


def read_fv(folder: str | Path) -> UnitFV:
    """The record of a unit's feature-visualisation folder (`fv.json`), without the images."""
    path = Path(fv_record(str(folder)))
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; run the visualize_units rule first")
    try:
        return UnitFV.from_json(read_json(path))
    except (KeyError, TypeError) as err:
        raise ValueError(
            f"{path} is not a feature-visualisation record of this version (missing {err}); "
            "rerun visualize_units"
        ) from err


# --------------------------------------------------------------------------- summary of a model


SUMMARY_COLUMNS = [
    "unit",
    "layer",
    "channel",
    "success",
    "reason",
    "dataset_min",
    "dataset_max",
    "alpha_min",
    "alpha_max",
    "alpha_source_min",
    "alpha_source_max",
    "weakest_min",
    "strongest_min",
    "weakest_max",
    "strongest_max",
    "activations_min",
    "activations_max",
    "n_runs",
    "steps_total",
]


def summarize_visualizations(folders: list[str | Path]) -> pd.DataFrame:
    """One row per unit folder (its fv.json): success, reason, α and activations per side."""
    import json

    import pandas as pd

    rows = []
    for folder in folders:
        fv = read_fv(folder)
        row: dict[str, Any] = dict(
            unit=fv.unit,
            layer=fv.layer,
            channel=fv.channel,
            success=fv.success,
            reason=fv.reason,
            dataset_min=fv.dataset_min,
            dataset_max=fv.dataset_max,
        )
        for side, result in fv.sides.items():
            acts = result.activations
            row[f"alpha_{side}"] = result.alpha
            row[f"alpha_source_{side}"] = result.alpha_source
            row[f"weakest_{side}"], row[f"strongest_{side}"] = acts[0], acts[-1]
            row[f"activations_{side}"] = json.dumps([round(a, 6) for a in acts])
        row["n_runs"] = len(fv.runs)
        row["steps_total"] = sum(r["steps"] for r in fv.runs)
        rows.append(row)
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS).sort_values("unit", kind="stable")


def failed_units(summary: pd.DataFrame) -> dict[str, str]:
    """Unit -> why, for the units whose feature visualisations failed the success test (a
    featureviz_summary.csv table); synthetic experiments leave them out, as the authors did."""
    failed = summary[~summary["success"].astype(bool)]
    return {
        str(u): f"feature visualisations failed the success test: {r}"
        for u, r in zip(failed["unit"], failed["reason"], strict=True)
    }

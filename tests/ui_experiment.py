"""A tiny hand-made experiment folder in the experiment UI's format (protocol §6.2, §10 items
14-15).

Max references and the max query are warm striped images, min references and the min query cool
dotted ones, all 224 px, so a person (or a screenshot) sees at once which query is which.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

SIZE = 224


def _image(side: str, seed: int) -> Image.Image:
    """A 224 px stimulus: warm stripes (max side) or cool dots (min side), varied by the seed."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(float)
    if side == "max":
        period = rng.uniform(14, 30)
        angle = rng.uniform(0, np.pi)
        wave = 0.5 + 0.5 * np.sin((x * np.cos(angle) + y * np.sin(angle)) * 2 * np.pi / period)
        rgb = np.stack([0.7 + 0.3 * wave, 0.3 + 0.4 * wave, 0.1 * wave], axis=-1)
    else:
        period = rng.uniform(18, 36)
        dots = (np.sin(x * 2 * np.pi / period) * np.sin(y * 2 * np.pi / period)) > rng.uniform(
            0.2, 0.6
        )
        rgb = np.stack([0.15 + 0.1 * dots, 0.35 + 0.3 * dots, 0.6 + 0.4 * dots], axis=-1)
    rgb = np.clip(rgb, 0, 1)
    return Image.fromarray((rgb * 255).astype(np.uint8))


def _trials(
    folder: Path, n_trials: int, seed: int, images: bool, catch: tuple[int, ...] = ()
) -> None:
    """Trial folders; a catch trial's queries repeat its most extreme references (`_8`)."""
    folder.mkdir(parents=True)
    for i in range(1, n_trials + 1) if images else ():
        trial = folder / "trials" / f"trial_{i}"
        (trial / "queries").mkdir(parents=True)
        (trial / "references").mkdir()
        for side in ("min", "max"):
            for j in range(9):
                _image(side, seed + 100 * i + j + 1).save(trial / "references" / f"{side}_{j}.png")
            query = _image(side, seed + 100 * i + (9 if i in catch else 0))
            query.save(trial / "queries" / f"{side}.png")


def build_experiment(
    root: Path,
    name: str = "toy_natural",
    n_tasks: int = 2,
    n_trials: int = 4,
    catch_trials: tuple[int, ...] = (3,),
    n_demo: int = 2,
    n_instruction_pages: int | None = None,
    images: bool = True,
) -> Path:
    """Write `root/<name>/` (task_<k>/, instructions/, trials.csv, structure.json) and
    `root/demo_<name>/` (without images: only the index.json files, for tests that never load an
    image). Instruction pages: 12 for natural, 13 for synthetic experiments, as the UI expects."""
    if n_instruction_pages is None:
        n_instruction_pages = 13 if name.endswith("synthetic") else 12
    exp = root / name
    rows = []
    for k in range(1, n_tasks + 1):
        task = exp / f"task_{k}"
        _trials(task, n_trials, 1000 * k, images, tuple(catch_trials))
        index = {
            "task_name": f"{name}/task_{k}",
            "n_reference_images": 9,
            "n_trials": n_trials,
            "catch_trial_idxs": list(catch_trials),
        }
        (task / "index.json").write_text(json.dumps(index))
        for i in range(1, n_trials + 1):
            catch = i in catch_trials
            rows.append(
                {
                    "experiment": name,
                    "task": k,
                    "trial": i,
                    "is_demo": False,
                    "catch_trial": catch,
                    "mode": "catch_trial" if catch else "natural",
                    "unit": f"layer1__{i}",
                    "layer": "layer1",
                    "channel": i,
                    "batch": 0,
                }
            )
    demo = root / f"demo_{name}"
    _trials(demo, n_demo, 7, images)
    demo_index = {
        "task_name": f"demo_{name}",
        "n_reference_images": 9,
        "n_trials": n_demo,
        "n_obvious_trials": max(1, n_demo - 1),
    }
    (demo / "index.json").write_text(json.dumps(demo_index))
    (exp / "instructions").mkdir(parents=True)
    for page in range(1, n_instruction_pages + 1):
        Image.new("RGB", (640, 360), (230, 230, 230 - 20 * page)).save(
            exp / "instructions" / f"{page}.jpg"
        )
    pd.DataFrame(rows).to_csv(exp / "trials.csv", index=False)
    structure = {
        "tasks": [
            {"index": k, "trials": [r for r in rows if r["task"] == k]}
            for k in range(1, n_tasks + 1)
        ]
    }
    (exp / "structure.json").write_text(json.dumps(structure, default=str))
    return exp

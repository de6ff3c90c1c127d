"""Checking a written experiment folder against what the UI reads (protocol §7, §10 items 14-16)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from unitpsych import ui_layout
from unitpsych.experiments import instructions
from unitpsych.experiments.design import condition_of
from unitpsych.experiments.stimuli import UI_IMAGE_SIZE
from unitpsych.io import read_json

TASK_INDEX_KEYS = {"task_name", "n_reference_images", "n_trials", "catch_trial_idxs"}


def _same_pixels(a: Path, b: Path) -> bool:
    """Whether two images have identical pixels (hard links are identical without decoding)."""
    if a.samefile(b) or a.read_bytes() == b.read_bytes():
        return True
    with Image.open(a) as img_a, Image.open(b) as img_b:
        return np.array_equal(np.asarray(img_a.convert("RGB")), np.asarray(img_b.convert("RGB")))


class _SizeCheck:
    """Image sizes, read from the header once per file (hard links share an inode)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._seen: dict[tuple[int, int], tuple[int, int]] = {}

    def __call__(self, path: Path, problems: list[str]) -> None:
        """Add a problem when `path` is not a size × size image."""
        stat = path.stat()
        key = (stat.st_dev, stat.st_ino)
        if key not in self._seen:
            try:
                with Image.open(path) as img:
                    self._seen[key] = img.size
            except OSError as err:
                problems.append(f"{path}: not a readable image ({err})")
                self._seen[key] = (-1, -1)
                return
        width, height = self._seen[key]
        if (width, height) != (self.size, self.size) and width >= 0:
            problems.append(
                f"{path}: {width}×{height} px, the UI lays out {self.size}×{self.size} px images"
            )


def _check_trials(
    folder: Path, n_trials: int, n_ref: int, sizes: _SizeCheck, problems: list[str]
) -> None:
    """Every trial folder holds exactly the two queries and 2·n_ref references, at the UI's size."""
    trial_dirs = [folder / ui_layout.trial_folder(i) for i in range(1, n_trials + 1)]
    trials_dir = folder / ui_layout.TRIALS
    found = sorted(p.name for p in trials_dir.iterdir()) if trials_dir.is_dir() else []
    if found != sorted(p.name for p in trial_dirs):
        problems.append(f"{trials_dir}: has {len(found)} trial folders, index.json says {n_trials}")
        return
    names: dict[str, set[str]] = {}  # sub-folder of a trial folder -> the file names it holds
    for file in ui_layout.trial_files(n_ref):
        sub, _, name = file.rpartition("/")
        names.setdefault(sub, set()).add(name)
    for trial_dir in trial_dirs:
        for sub, wanted in names.items():
            path = trial_dir / sub
            have = {p.name for p in path.iterdir()} if path.is_dir() else set()
            if have != wanted:
                problems.append(f"{path}: expected {sorted(wanted)}, found {sorted(have)}")
            for name in sorted(have & wanted):
                sizes(path / name, problems)


def _check_catch_trials(task_dir: Path, catch: list[int], n_ref: int, problems: list[str]) -> None:
    """In a catch trial each query is pixel-identical to a reference of its own side."""
    for i in catch:
        trial = task_dir / ui_layout.trial_folder(i)
        for side in ui_layout.SIDES:
            query = trial / ui_layout.query_file(side)
            refs = [trial / ui_layout.reference_file(side, r) for r in range(n_ref)]
            if query.is_file() and not any(_same_pixels(query, r) for r in refs if r.is_file()):
                problems.append(f"{query}: catch query matches no {side} reference")


def _check_task(
    task_dir: Path, name: str, sizes: _SizeCheck, problems: list[str]
) -> tuple[int, int]:
    """Check one task folder; return its (trials, catch trials)."""
    index_path = task_dir / ui_layout.INDEX
    if not index_path.is_file():
        problems.append(f"{index_path} is missing")
        return 0, 0
    index = read_json(index_path)
    if set(index) != TASK_INDEX_KEYS:
        problems.append(f"{index_path}: keys {sorted(index)}, expected {sorted(TASK_INDEX_KEYS)}")
        return 0, 0
    if index["task_name"] != ui_layout.task_name(name, ui_layout.task_number(task_dir.name)):
        problems.append(f"{index_path}: task_name {index['task_name']!r}")
    n_ref, n = int(index["n_reference_images"]), int(index["n_trials"])
    _check_trials(task_dir, n, n_ref, sizes, problems)
    catch = index["catch_trial_idxs"]
    if not all(1 <= i <= n for i in catch) or len(set(catch)) != len(catch):
        problems.append(f"{index_path}: catch_trial_idxs {catch} not within 1..{n}")
        return n, 0
    _check_catch_trials(task_dir, catch, n_ref, problems)
    return n, len(catch)


def _check_demo(demo_folder: Path, sizes: _SizeCheck, problems: list[str]) -> int:
    """Check the practice folder; return its number of trials."""
    index_path = demo_folder / ui_layout.INDEX
    if not index_path.is_file():
        problems.append(f"{index_path} is missing (the UI always fetches it)")
        return 0
    demo = read_json(index_path)
    if demo.get("task_name") != demo_folder.name:
        problems.append(f"{index_path}: task_name {demo.get('task_name')!r}")
    n_demo = int(demo.get("n_trials", 0))
    if int(demo.get("n_obvious_trials", n_demo)) > n_demo:
        problems.append(f"{index_path}: n_obvious_trials exceeds n_trials")
    _check_trials(demo_folder, n_demo, int(demo.get("n_reference_images", 9)), sizes, problems)
    return n_demo


def check_experiment_folder(
    folder: Path, demo_folder: Path | None = None, condition: str | None = None
) -> dict[str, int]:
    """Raise ValueError listing what the UI would trip over; return counts of tasks and trials.

    `condition` (natural | synthetic) sets how many instruction pages are needed; by default it
    is read from the folder's name.
    """
    folder = Path(folder)
    name = folder.name
    condition = condition or condition_of(name)
    demo_folder = Path(demo_folder) if demo_folder else folder.parent / ui_layout.demo_folder(name)
    problems: list[str] = []
    symlinks = [p for p in (*folder.rglob("*"), *demo_folder.rglob("*")) if p.is_symlink()]
    if symlinks:
        problems.append(f"{len(symlinks)} symlinks, e.g. {symlinks[0]} (use hard links or copies)")
    for required in (ui_layout.STRUCTURE, ui_layout.TRIALS_TABLE):
        if not (folder / required).is_file():
            problems.append(f"{folder / required} is missing")
    try:
        instructions.check_pages(folder / ui_layout.INSTRUCTIONS, condition, exact=True)
    except ValueError as err:
        problems.append(str(err))
    task_dirs = sorted(
        folder.glob(f"{ui_layout.TASK_PREFIX}*"), key=lambda p: ui_layout.task_number(p.name) or 0
    )
    if not task_dirs or [p.name for p in task_dirs] != [
        ui_layout.task_folder(k) for k in range(1, len(task_dirs) + 1)
    ]:
        problems.append(f"{folder}: task folders are not task_1..task_<n>")
    sizes = _SizeCheck(UI_IMAGE_SIZE)
    n_trials = n_catch = 0
    for task_dir in task_dirs:
        n, c = _check_task(task_dir, name, sizes, problems)
        n_trials, n_catch = n_trials + n, n_catch + c
    n_demo = _check_demo(demo_folder, sizes, problems)
    if problems:
        shown = "\n  ".join(problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise ValueError(f"experiment folder {folder} is not usable by the UI:\n  {shown}{more}")
    return {
        "n_tasks": len(task_dirs),
        "n_trials": n_trials,
        "n_catch_trials": n_catch,
        "n_demo_trials": n_demo,
    }

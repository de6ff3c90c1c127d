"""The experiment folder as the IMI experiment UI reads it (protocol §6.2, §7): the one place that
spells its layout.

    <experiments>/<experiment>/structure.json, trials.csv, instructions/<n>.jpg
    <experiments>/<experiment>/task_<k>/index.json
    <experiments>/<experiment>/task_<k>/trials/trial_<i>/queries/{min,max}.png
    <experiments>/<experiment>/task_<k>/trials/trial_<i>/references/{min,max}_<j>.png
    <experiments>/demo_<experiment>/index.json and trials/... (the practice folder)

The writer, the checker, the observer, the simulated participants and the server ask this module;
the experiment page gets the trial-folder layout from the server (`page_layout`). Paths are
relative to the folder named, joined with `/`.
"""

from __future__ import annotations

import re

SIDES = ("min", "max")  # the two sides of a unit: least and most activating

INDEX = "index.json"  # a task's (and the practice folder's) description, read by the page
STRUCTURE = "structure.json"
TRIALS_TABLE = "trials.csv"
INSTRUCTIONS = "instructions"
TRIALS = "trials"  # the folder of a task's (or the practice's) trial folders
TASK_PREFIX = "task_"
DEMO_PREFIX = "demo_"
INSTRUCTION_PAGE = re.compile(r"^(?P<n>[0-9]+)\.(?:jpg|png)$")

# The page's templates of a trial's files, filled by the page (workflow/ui/task.js) and below.
_TRIAL = TRIALS + "/trial_{trial}"
_QUERY = "queries/{side}.png"
_REFERENCE = "references/{side}_{index}.png"


def task_folder(task: int) -> str:
    """A task's folder inside its experiment folder: task_<k>."""
    return f"{TASK_PREFIX}{task}"


def task_number(folder_name: str) -> int | None:
    """k of a folder named task_<k>, or None for any other name."""
    k = folder_name.removeprefix(TASK_PREFIX)
    return int(k) if folder_name.startswith(TASK_PREFIX) and k.isdigit() else None


def demo_folder(experiment: str) -> str:
    """An experiment's practice folder, next to the experiment folder: demo_<experiment>."""
    return f"{DEMO_PREFIX}{experiment}"


def is_demo_folder(folder_name: str) -> bool:
    """Whether a folder of the experiments folder is a practice folder."""
    return folder_name.startswith(DEMO_PREFIX)


def task_name(experiment: str, task: int) -> str:
    """The `task_name` of a task's index.json: <experiment>/task_<k> (its folder, as the page
    fetches it); the practice folder's is its folder name."""
    return f"{experiment}/{task_folder(task)}"


def trial_folder(trial: int) -> str:
    """A trial's folder inside a task or practice folder (trials numbered from 1)."""
    return _TRIAL.format(trial=trial)


def query_file(side: str) -> str:
    """A query image inside a trial folder."""
    return _QUERY.format(side=side)


def reference_file(side: str, index: int) -> str:
    """A reference image inside a trial folder."""
    return _REFERENCE.format(side=side, index=index)


def trial_files(n_references: int) -> list[str]:
    """Every file of a trial folder: the two queries, then each side's references."""
    files = [query_file(side) for side in SIDES]
    return files + [reference_file(side, j) for side in SIDES for j in range(n_references)]


def _pattern(template: str, **fields: str) -> str:
    """A template as a regular expression, each {field} replaced by its pattern."""
    out = re.escape(template)
    for name, pattern in fields.items():
        out = out.replace(re.escape("{" + name + "}"), pattern)
    return out


def trial_file_pattern() -> str:
    """A regular expression matching any trial file inside a task or practice folder."""
    side = f"(?:{'|'.join(SIDES)})"
    query, reference = _pattern(_QUERY, side=side), _pattern(_REFERENCE, side=side, index="[0-9]+")
    return f"{_pattern(_TRIAL, trial='[1-9][0-9]*')}/(?:{query}|{reference})"


def page_layout() -> dict[str, str]:
    """The trial-folder templates the page fills ({trial}, {side}, {index})."""
    return {"trial": _TRIAL, "query": _QUERY, "reference": _REFERENCE}

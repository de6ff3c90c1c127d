"""A release in the exact layout of the IMI data set's `responses_*.csv` (Zenodo 8131197), for
tests.

What the real release is like, as read from the authors' published tables (issue 16):
- 45 columns; one row per 2-AFC trial, practice (demo) rows included;
- `participant_id` is `anonymized` on every row; one participation is (task_id, response_index),
  `response_index` counting the responses to one task (a task is reposted until one passes);
- the experiment is the task_id prefix `<model>[_hard85|_hard95|_hard99]_<natural|optimized>-<k>`;
  the `model` column is `<model>` or `<model>_hardNN`, and the ResNet-50 hard95 *synthetic* rows
  say plain `resnet50`; catch rows say `catch/manual` (mode `catch_trial`, batch -1);
- `batch` and `channel` are floats (NaN on practice rows); `*_details` are Python-dict strings;
  `catch_trials_details_correctly_answered_extracted` is a list string;
- the release's `passed_checks` and `multi_participation` decide exclusion.

Per experiment: 63 tasks of 40 regular + 5 catch trials, 84 units each in 30 tasks. The kept
responses of an experiment hold exactly round(score × regular trials) correct answers, so every
unit having the same number of responses makes the model score that proportion; excluded
responses answer at chance, so using them would show.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

CHECK_NAMES = (
    "catch_trials",
    "row_variability",
    "total_response_time",
    "instruction_time",
    "demo_trials",
)
#: The released columns, in the order of the authors' export.
COLUMNS = [
    "rt",
    "button_pressed",
    "switched_queries",
    "confidence",
    "choice",
    "correct",
    "min_query",
    "max_query",
    "min_references",
    "max_references",
    "catch_trial",
    "is_demo",
    "trial_type",
    "trial_index",
    "time_elapsed",
    "internal_node_id",
    "response_index",
    "participant_id",
    "corrected_trial_index",
    "task_id",
    "task_number",
    "batch",
    "channel",
    "layer",
    "mode",
    "model",
    "passed_checks",
    *[f"{c}_{kind}" for c in CHECK_NAMES for kind in ("result", "details")],
    "instruction_time_details_extracted",
    "total_response_time_details_extracted",
    "row_variability_details_details_upper_extracted",
    "row_variability_details_details_lower_extracted",
    "catch_trials_details_ratio_extracted",
    "catch_trials_details_correctly_answered_extracted",
    "demo_trials_details_extracted",
    "multi_participation",
]
#: The paper's 23 experiments as the release names them: (model, hard variant or "", mode).
EXPERIMENTS = [
    *[
        (m, "", mode)
        for m in (
            "googlenet",
            "densenet_201",
            "resnet50",
            "resnet50-l2",
            "clip-resnet50",
            "wide_resnet50",
            "convnext_b",
        )
        for mode in ("natural", "optimized")
    ],
    ("in1k-vit_b32", "", "natural"),
    ("clip-vit_b32", "", "natural"),
    *[
        (m, h, "natural")
        for m in ("resnet50", "clip-resnet50")
        for h in ("hard99", "hard95", "hard85")
    ],
    ("resnet50", "hard95", "optimized"),
]
#: Proportion correct the kept responses are built to: the paper's published scores where it
#: gives one (resources/paper_scores.csv), else an invented value for the test.
TARGET = {
    ("googlenet", "", "natural"): 0.879,
    ("googlenet", "", "optimized"): 0.686,
    ("densenet_201", "", "natural"): 0.830,
    ("densenet_201", "", "optimized"): 0.640,
    ("resnet50", "", "natural"): 2096 / 2520,
    ("resnet50", "", "optimized"): 0.605,
    ("resnet50-l2", "", "natural"): 0.852,
    ("resnet50-l2", "", "optimized"): 0.705,
    ("clip-resnet50", "", "natural"): 0.880,
    ("clip-resnet50", "", "optimized"): 0.596,
    ("wide_resnet50", "", "natural"): 0.841,
    ("wide_resnet50", "", "optimized"): 0.640,
    ("in1k-vit_b32", "", "natural"): 0.800,
    ("clip-vit_b32", "", "natural"): 0.789,
    ("convnext_b", "", "natural"): 0.779,
    ("convnext_b", "", "optimized"): 0.600,
}
HARD_TARGET = {
    ("hard99", "natural"): 0.75,
    ("hard95", "natural"): 0.68,
    ("hard85", "natural"): 0.60,
    ("hard95", "optimized"): 0.58,
}
N_REGULAR, N_CATCH, N_UNITS, N_PRACTICE = 40, 5, 84, 5
CATCH_IDXS = (4, 13, 22, 31, 40)  # 0-based positions of the catch trials among the 45


def task_prefix(model: str, hard: str, mode: str) -> str:
    """The task_id prefix of an experiment: `resnet50_hard95_optimized`."""
    return "_".join(p for p in (model, hard, mode) if p)


def released_model(model: str, hard: str, mode: str) -> str:
    """The `model` column of an experiment's regular rows (the hard95 synthetic quirk included)."""
    return f"{model}_{hard}" if hard and mode == "natural" else model


def default_units(model: str) -> list[str]:
    """84 plausible unit ids of a model when a test does not give real ones."""
    prefix = "visual_" if model.startswith("clip") else ""
    return [f"{prefix}layer{1 + i % 4}_{i % 3}_conv{1 + i % 3}__{i}" for i in range(N_UNITS)]


def _participation(rng: np.random.Generator, failed: str | None) -> dict:
    """The check columns of one participation; `failed` names the check it fails (None: passes)."""
    catch = [True] * 5
    upper, instruction, total, demo = (
        int(rng.integers(15, 31)),
        float(rng.uniform(20, 200)),
        float(rng.uniform(300, 1500)),
        1,
    )
    if failed == "catch_trials":
        catch = [True, False, False, True, False]
    elif failed == "row_variability":
        upper = 43
    elif failed == "instruction_time":
        instruction = float(rng.uniform(2, 14))
    elif failed == "total_response_time":
        total = float(rng.uniform(60, 134))
    elif failed == "demo_trials":
        demo = 4
    ratio = sum(catch) / len(catch)
    values = {
        "catch_trials": {"ratio": ratio, "correctly_answered": catch},
        "row_variability": {"n_upper_row": upper, "n_lower_row": 45 - upper},
        "total_response_time": {"total_time": round(total, 3)},
        "instruction_time": {"total_time": round(instruction, 3)},
        "demo_trials": {"n_demo_trials_blocks": demo},
    }
    cols = {"passed_checks": failed is None}
    for c in CHECK_NAMES:
        cols[f"{c}_result"] = c != failed
        cols[f"{c}_details"] = repr(values[c])  # the release's Python-dict strings
    cols.update(
        {
            "instruction_time_details_extracted": values["instruction_time"]["total_time"],
            "total_response_time_details_extracted": values["total_response_time"]["total_time"],
            "row_variability_details_details_upper_extracted": upper,
            "row_variability_details_details_lower_extracted": 45 - upper,
            "catch_trials_details_ratio_extracted": ratio,
            "catch_trials_details_correctly_answered_extracted": str(catch),
            "demo_trials_details_extracted": demo,
        }
    )
    return cols


def released_table(
    units: Mapping[str, Sequence[str]] | None = None,
    n_tasks: int = 63,
    experiments: Sequence[tuple[str, str, str]] = tuple(EXPERIMENTS),
    seed: int = 0,
) -> pd.DataFrame:
    """The release's rows for `experiments`: practice, catch and regular trials of every response.

    `units` maps a model to its unit ids (the first 84 are used; default: made-up ids). Each task
    has up to two excluded responses (failed checks or multi-participation) before the one kept.
    """
    rng = np.random.default_rng(seed)
    rows: list[dict] = []
    for model, hard, mode in experiments:
        names = list((units or {}).get(model) or default_units(model))[:N_UNITS]
        prefix, label = task_prefix(model, hard, mode), released_model(model, hard, mode)
        n_regular = n_tasks * N_REGULAR
        target = TARGET.get((model, hard, mode), HARD_TARGET.get((hard, mode), 0.7))
        unit_of = [names[i % len(names)] for i in range(n_regular)]
        # exactly round(target * n_regular) correct kept answers, more of them on the easy units
        ease = rng.beta(6, 2, size=len(names))
        weight = np.array([ease[i % len(names)] for i in range(n_regular)])
        n_correct = int(round(target * n_regular))
        correct_kept = np.zeros(n_regular, bool)
        correct_kept[rng.choice(n_regular, n_correct, replace=False, p=weight / weight.sum())] = 1
        for k in range(1, n_tasks + 1):
            n_failed = int(rng.choice(3, p=[0.7, 0.2, 0.1]))
            kinds = [str(rng.choice(CHECK_NAMES)) for _ in range(n_failed)]
            if rng.random() < 0.05:
                kinds.append("multi_participation")
            kinds.append("kept")
            for index, kind in enumerate(kinds):
                rows += _response(
                    rng, model, label, mode, prefix, k, index, kind, unit_of, correct_kept, names
                )
    return pd.DataFrame(rows, columns=COLUMNS)


def _response(
    rng: np.random.Generator,
    model: str,
    label: str,
    mode: str,
    prefix: str,
    k: int,
    index: int,
    kind: str,
    unit_of: list[str],
    correct_kept: np.ndarray,
    names: list[str],
) -> list[dict]:
    """The rows of one response to task k: practice attempts, then 45 main trials."""
    failed = kind if kind in CHECK_NAMES else None
    common = {
        "min_query": "anonymized",
        "max_query": "anonymized",
        "min_references": "anonymized",
        "max_references": "anonymized",
        "trial_type": "2afc-image-confidence-response",
        "response_index": index,
        "participant_id": "anonymized",
        "task_id": f"{prefix}-{k}",
        "task_number": k,
        "multi_participation": kind == "multi_participation",
        **_participation(rng, failed),
    }
    attempts = 4 if failed == "demo_trials" else 1
    n_practice = attempts * N_PRACTICE
    first_main = 4 + n_practice + 2 * attempts  # instructions rows and call-function rows between
    out = []
    elapsed = 60_000.0
    for j in range(n_practice + N_REGULAR + N_CATCH):
        demo = j < n_practice
        main = j - n_practice
        catch = not demo and main in CATCH_IDXS
        regular = main - sum(1 for c in CATCH_IDXS if c < main)
        if demo:
            correct = bool(rng.random() < 0.9)
        elif catch:
            correct = failed != "catch_trials" or CATCH_IDXS.index(main) in (0, 3)
        elif kind == "kept":
            correct = bool(correct_kept[(k - 1) * N_REGULAR + regular])
        else:
            correct = bool(rng.random() < 0.5)
        button = int(rng.integers(0, 6))
        elapsed += float(rng.uniform(3000, 9000))
        trial_index = (4 + j + (j // N_PRACTICE) * 2) if demo else first_main + main
        row = {
            **common,
            "rt": round(float(rng.uniform(1600, 8000)), 1),
            "button_pressed": button,
            "switched_queries": bool(rng.random() < 0.5),
            "confidence": button % 3 + 1,
            "choice": "b" if correct else "a",
            "correct": correct,
            "catch_trial": catch,
            "is_demo": demo,
            "trial_index": trial_index,
            "time_elapsed": round(elapsed),
            "internal_node_id": f"0.0-{trial_index}.0-0.0",
            "corrected_trial_index": trial_index - first_main,
        }
        if demo:
            row.update(batch=np.nan, channel=np.nan, layer=np.nan, mode=np.nan, model=np.nan)
        elif catch:
            layer, channel = names[-1].rsplit("__", 1)
            row.update(
                batch=-1.0,
                channel=float(channel),
                layer=layer,
                mode="catch_trial",
                model="catch/manual",
            )
        else:
            unit = unit_of[(k - 1) * N_REGULAR + regular]
            layer, channel = unit.rsplit("__", 1)
            row.update(
                batch=float(((k - 1) * N_REGULAR + regular) % 11),
                channel=float(channel),
                layer=layer,
                mode=mode,
                model=label,
            )
        out.append(row)
    return out


def make_archive(path: Path, table: pd.DataFrame, member: str = "responses_all.csv") -> str:
    """Zip the table under a folder as the release does (with its main and lower-quality parts
    when `member` is responses_all.csv); return the archive's MD5."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr(f"human_responses/{member}", table.to_csv(index=False))
        if member == "responses_all.csv" and "passed_checks" in table:
            main = table["passed_checks"].astype(bool) & ~table["multi_participation"].astype(bool)
            zf.writestr("human_responses/responses_main.csv", table[main].to_csv(index=False))
            zf.writestr(
                "human_responses/responses_lower_quality.csv", table[~main].to_csv(index=False)
            )
        zf.writestr("human_responses/README.md", "released responses")
    return hashlib.md5(path.read_bytes()).hexdigest()


def kept_scores(table: pd.DataFrame) -> pd.Series:
    """The paper's score per task_id prefix, computed directly with pandas: kept (passed, no
    multi-participation), non-practice, non-catch rows; mean per unit, then mean over units."""
    t = table[
        table["passed_checks"].astype(bool)
        & ~table["multi_participation"].astype(bool)
        & ~table["is_demo"].astype(bool)
        & ~table["catch_trial"].astype(bool)
    ]
    prefix = t["task_id"].str.rsplit("-", n=1).str[0]
    unit = t["layer"] + "__" + t["channel"].astype(int).astype(str)
    per_unit = t["correct"].astype(float).groupby([prefix, unit]).mean()
    return per_unit.groupby(level=0).mean()

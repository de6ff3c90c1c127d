"""A small release in the IMI layout (protocol §8.3) for tests: demo and catch rows, the check
columns, hard-variant model ids, one row whose experiment cannot be told; zipped like the release."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pandas as pd

CHECK_NAMES = ("catch_trials", "row_variability", "total_response_time", "instruction_time",
               "demo_trials")  # fmt: skip


def released_table() -> pd.DataFrame:
    """Rows in the released layout (protocol §8.3): demo and catch rows, check columns, hard ids."""
    rows = []
    tasks = [
        ("P0001", "resnet50_natural-1", "resnet50", "natural", True, False),
        ("P0002", "resnet50_optimized-4", "resnet50", "optimized", False, False),
        ("P0003", "resnet50_hard95_natural-2", "resnet50_hard95", "natural", True, True),
    ]
    for participant, task_id, model, mode, ok, multi in tasks:
        for i in range(2):  # demo rows: no unit
            rows.append({"participant_id": participant, "task_id": task_id, "is_demo": True,
                         "catch_trial": False, "mode": None, "model": None, "layer": None,
                         "channel": None, "batch": None, "trial_index": 4 + i})  # fmt: skip
        for i in range(4):
            catch = i == 1
            rows.append({
                "participant_id": participant, "task_id": task_id, "is_demo": False,
                "catch_trial": catch, "mode": "catch_trial" if catch else mode,
                "model": "catch/manual" if catch else model,
                "layer": "mixed4a" if catch else "layer3_2_bn2", "channel": 7 if catch else 11 + i,
                "batch": -1 if catch else i, "trial_index": 8 + i,
            })  # fmt: skip
        for row in rows[-6:]:
            row.update({
                "task_number": int(task_id.rsplit("-", 1)[1]), "response_index": 0,
                "corrected_trial_index": None if row["is_demo"] else row["trial_index"] - 8,
                "correct": True, "choice": "b", "confidence": 3, "button_pressed": 2,
                "switched_queries": True, "rt": 3000.0, "time_elapsed": 1000.0 * row["trial_index"],
                "min_query": "anonymized", "max_query": "anonymized", "passed_checks": ok,
                "multi_participation": multi,
                **{f"{c}_result": ok or c != "catch_trials" for c in CHECK_NAMES},
                **{f"{c}_details": "(True, {'ratio': 1.0})" for c in CHECK_NAMES},
                "catch_trials_details_ratio_extracted": 1.0 if ok else 0.2,
                "demo_trials_details_extracted": 1,
            })  # fmt: skip
    rows.append({**rows[-1], "participant_id": "P0009", "task_id": "mystery-1", "model": "foo",
                 "mode": "weird", "catch_trial": False, "is_demo": False})  # fmt: skip
    return pd.DataFrame(rows)


def make_archive(path: Path, table: pd.DataFrame, member: str = "responses_all.csv") -> str:
    """Zip the table under a folder as the release does; return the archive's MD5."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"human_responses/{member}", table.to_csv(index=False))
        zf.writestr("human_responses/README.md", "released responses")
    return hashlib.md5(path.read_bytes()).hexdigest()

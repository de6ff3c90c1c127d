"""Our responses in the IMI release's layout (responses_{all,main,lower_quality}.csv, issue 25)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

from unitpsych.responses.payloads import tidy
from unitpsych.responses.release import ANONYMIZED, release_tables

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from imi_release import COLUMNS  # noqa: E402


def _rows(source: str, pid: str, task: int, index: int, passed: bool) -> list[dict]:
    """One participation: 2 practice rows (trial_index 5, 6), then 3 main rows (8, 9, 10)."""
    details = json.dumps({"ratio": 1.0, "correctly_answered": [True]})
    rows = []
    for trial_index, demo in ((5, True), (6, True), (8, False), (9, False), (10, False)):
        rows.append(
            {
                "source": source,
                "experiment": "toy_natural",
                "participation": f"{source}:toy_natural-{task}:{index}",
                "participant_id": pid,
                "task_id": f"toy_natural-{task}",
                "task_number": task,
                "response_index": index,
                "trial_index": trial_index,
                "is_demo": demo,
                "catch_trial": False,
                "correct": True,
                "choice": "b",
                "passed_checks": passed,
                "catch_trials_details": details,
            }
        )
    return rows


def test_the_three_tables_have_the_release_layout():
    rows = _rows("local", "PROLIFIC123", 1, 0, True) + _rows("local", "PROLIFIC456", 1, 1, False)
    rows += _rows("simulated", "sim-1", 2, 0, True) + _rows("imi", "anonymized", 3, 0, True)
    table = tidy(pd.DataFrame(rows))
    table["multi_participation"] = [False] * 10 + [True] * 5 + [False] * 5
    tables = release_tables(table)
    every = tables["all"]
    assert list(every.columns) == COLUMNS
    assert len(every) == 15  # the imi rows are the authors' release already
    assert (
        every[["min_query", "max_query", "min_references", "max_references"]] == ANONYMIZED
    ).all(axis=None)
    assert sorted(every["participant_id"].unique()) == [0, 1, 2]
    assert every["corrected_trial_index"].tolist()[:5] == [-3, -2, 0, 1, 2]
    assert every.loc[every["is_demo"], "corrected_trial_index"].lt(0).all()
    assert every["response_index"].tolist() == [0] * 5 + [1] * 5 + [0] * 5
    assert every["catch_trials_details"].iloc[0] == "{'ratio': 1.0, 'correctly_answered': [True]}"
    assert len(tables["main"]) == 5 and len(tables["lower_quality"]) == 10
    assert not set(tables["main"].index) & set(tables["lower_quality"].index)

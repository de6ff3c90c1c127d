"""Our responses in the IMI release's layout (protocol §8.3): `responses_all.csv`,
`responses_main.csv` (passed every check, no multi-participation) and
`responses_lower_quality.csv` (the rest), so the authors' notebooks read them and they can be
published like the IMI data set.

The release's 45 columns in its order; participants renumbered (0, 1, ... in order of first
appearance; no Prolific or local id leaves the machine); the stimulus paths `anonymized`;
`corrected_trial_index` counted from the first main trial of a participation, so practice rows
are negative as in the release; the `*_details` columns as Python-dict strings. The released
IMI rows themselves (source `imi`) are left out: they are the authors' release already.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from unitpsych.responses.checks import CHECKS, TRIAL_TYPE

ANONYMIZED = "anonymized"
STIMULI = ("min_query", "max_query", "min_references", "max_references")
#: The released columns, in the order of the authors' export.
COLUMNS = [
    "rt",
    "button_pressed",
    "switched_queries",
    "confidence",
    "choice",
    "correct",
    *STIMULI,
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
    *[f"{c}_{kind}" for c in CHECKS for kind in ("result", "details")],
    "instruction_time_details_extracted",
    "total_response_time_details_extracted",
    "row_variability_details_details_upper_extracted",
    "row_variability_details_details_lower_extracted",
    "catch_trials_details_ratio_extracted",
    "catch_trials_details_correctly_answered_extracted",
    "demo_trials_details_extracted",
    "multi_participation",
]
TABLES = ("all", "main", "lower_quality")


def _python_dict(text: Any) -> Any:
    """A JSON details string as the release writes it (a Python dict's repr)."""
    return repr(json.loads(text)) if isinstance(text, str) else text


def release_table(responses: pd.DataFrame) -> pd.DataFrame:
    """Every row of our responses (not the IMI source) in the release's columns."""
    table = responses[responses["source"] != "imi"].copy()
    by = ["source", "participation"]
    first_main = (
        table["trial_index"]
        .where(~table["is_demo"])
        .groupby([table[c] for c in by])
        .transform("min")
    )
    table["corrected_trial_index"] = (table["trial_index"] - first_main).astype("Int64")
    people = table["source"].astype(str) + ":" + table["participant_id"].astype(str)
    table["participant_id"] = pd.factorize(people)[0]
    order = table.groupby("task_id", sort=False)["participation"].transform(
        lambda p: pd.factorize(p)[0]
    )
    table["response_index"] = order.astype("Int64")
    for col in STIMULI:
        table[col] = ANONYMIZED
    table["trial_type"] = TRIAL_TYPE
    table["internal_node_id"] = pd.NA  # not kept in responses.parquet
    for check in CHECKS:
        table[f"{check}_details"] = table[f"{check}_details"].map(_python_dict)
    return table[COLUMNS].reset_index(drop=True)


def release_tables(responses: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """{all, main, lower_quality}: the release's three tables of our responses."""
    table = release_table(responses)
    main = table["passed_checks"].astype(bool) & ~table["multi_participation"].astype(bool)
    return {"all": table, "main": table[main], "lower_quality": table[~main]}

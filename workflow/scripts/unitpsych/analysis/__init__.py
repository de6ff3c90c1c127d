"""Analysis (rule file analysis.smk): scores, tests and correlations of the responses (protocol
§8.4),
the reproduction table, and the unit statistics of the baselines (§9)."""

from unitpsych.analysis.reproduction import reproduction_table
from unitpsych.analysis.scores import Settings
from unitpsych.analysis.tables import (
    SCORE_TABLES,
    TABLES,
    baseline_correlations,
    build_tables,
    score_tables,
)
from unitpsych.analysis.unit_statistics import compute_unit_statistics, select_images

__all__ = [
    "SCORE_TABLES",
    "TABLES",
    "Settings",
    "baseline_correlations",
    "build_tables",
    "compute_unit_statistics",
    "reproduction_table",
    "score_tables",
    "select_images",
]

"""Responses (rule file responses.smk): simulated participants, parsing and checking the payloads
(protocol §7.3, §8.2–§8.3), the released IMI data, and the merged response table."""

from unitpsych.responses.checks import CHECKS, failed_checks, run_checks
from unitpsych.responses.imi import (
    ChecksumError,
    install_archive,
    parse_released,
    read_released_table,
)
from unitpsych.responses.merge import merge
from unitpsych.responses.participants import (
    check_simulation_alpha,
    participant_alpha,
    simulate_experiment,
    trials_with_d,
)
from unitpsych.responses.payloads import (
    ExperimentInfo,
    empty_responses,
    list_payload_files,
    parse_payloads,
    report_of,
)

__all__ = [
    "CHECKS",
    "ChecksumError",
    "ExperimentInfo",
    "check_simulation_alpha",
    "empty_responses",
    "failed_checks",
    "install_archive",
    "list_payload_files",
    "merge",
    "parse_payloads",
    "parse_released",
    "participant_alpha",
    "read_released_table",
    "report_of",
    "run_checks",
    "simulate_experiment",
    "trials_with_d",
]

"""Experiments (rule file experiments.smk): plan, write and check the 2-AFC experiment folders in
the IMI UI's format (protocol §6–7)."""

from unitpsych.experiments.check import check_experiment_folder
from unitpsych.experiments.design import (
    CATCH_MODE,
    EASY,
    Experiment,
    Settings,
    check_experiment_counts,
    condition_of,
    experiment_name,
    experiment_of,
    get_experiment,
    list_experiments,
)
from unitpsych.experiments.folders import log_build, log_plan, write_experiment
from unitpsych.experiments.instructions import GENERATED
from unitpsych.experiments.plan import plan_experiment, required_stimulus_dirs

__all__ = [
    "CATCH_MODE",
    "EASY",
    "GENERATED",
    "Experiment",
    "Settings",
    "check_experiment_counts",
    "check_experiment_folder",
    "condition_of",
    "experiment_name",
    "experiment_of",
    "get_experiment",
    "list_experiments",
    "log_build",
    "log_plan",
    "plan_experiment",
    "required_stimulus_dirs",
    "write_experiment",
]

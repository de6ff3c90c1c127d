"""Feature visualisations (rule file visualizations.smk): the optimisation and the diversity search
of a unit's synthetic stimuli (protocol §5)."""

from unitpsych.visualizations.featureviz import (
    UnitTarget,
    failed_units,
    read_fv,
    save_unit_fv,
    summarize_visualizations,
    visualize_unit,
    visualize_units,
)
from unitpsych.visualizations.settings import FVSettings

__all__ = [
    "FVSettings",
    "UnitTarget",
    "failed_units",
    "read_fv",
    "save_unit_fv",
    "summarize_visualizations",
    "visualize_unit",
    "visualize_units",
]

"""Exemplars (rule file exemplars.smk): natural exemplars of a unit, the stimulus index and the
unit's preview sheet (protocol §4)."""

from unitpsych.exemplars.natural import (
    extract_unit_exemplars,
    model_difficulties,
    read_exemplars,
    resize_center_crop,
    stimulus_index,
)
from unitpsych.exemplars.preview import preview_title, unit_preview_sheet

__all__ = [
    "extract_unit_exemplars",
    "model_difficulties",
    "preview_title",
    "read_exemplars",
    "resize_center_crop",
    "stimulus_index",
    "unit_preview_sheet",
]

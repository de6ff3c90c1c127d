"""Units (rule file units.smk): unit ids and the sampling of units per model (protocol §2)."""

from unitpsych.units.sampling import (
    check_units,
    convert_shared_units,
    make_unit,
    read_units,
    sample_units,
    split_unit,
    units_table,
)

__all__ = [
    "check_units",
    "convert_shared_units",
    "make_unit",
    "read_units",
    "sample_units",
    "split_unit",
    "units_table",
]

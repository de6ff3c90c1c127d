"""Models: the registry of architectures, their layers of interest and loading them (every stage
that runs a model uses it; the accuracy check is unitpsych.accuracy)."""

from unitpsych.models.registry import (
    KNOWN_ARCHS,
    ArchSpec,
    LoadedModel,
    get_spec,
    job_device,
    load_job_model,
    load_model,
)

__all__ = [
    "KNOWN_ARCHS",
    "ArchSpec",
    "LoadedModel",
    "get_spec",
    "job_device",
    "load_job_model",
    "load_model",
]

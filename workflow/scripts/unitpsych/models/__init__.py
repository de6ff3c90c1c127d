"""Models (rule file accuracy.smk): the registry of architectures, their layers of interest, and the
top-1 accuracy check that gates a model's activation pass (protocol §1)."""

from unitpsych.models.accuracy import (
    AccuracyError,
    AccuracyResult,
    check,
    expected_accuracy,
    imagenet_head,
    labelled_set,
    top1_accuracy,
)
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
    "AccuracyError",
    "AccuracyResult",
    "ArchSpec",
    "LoadedModel",
    "check",
    "expected_accuracy",
    "get_spec",
    "imagenet_head",
    "job_device",
    "labelled_set",
    "load_job_model",
    "load_model",
    "top1_accuracy",
]

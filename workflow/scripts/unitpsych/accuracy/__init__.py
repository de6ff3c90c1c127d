"""Accuracy (rule file accuracy.smk): the top-1 accuracy check that gates a model's activation
pass (protocol §1.1-§1.2)."""

from unitpsych.accuracy.top1 import (
    AccuracyError,
    AccuracyResult,
    check,
    expected_accuracy,
    imagenet_head,
    labelled_set,
    top1_accuracy,
)

__all__ = [
    "AccuracyError",
    "AccuracyResult",
    "check",
    "expected_accuracy",
    "imagenet_head",
    "labelled_set",
    "top1_accuracy",
]

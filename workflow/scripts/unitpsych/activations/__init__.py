"""Activations (rule file activations.smk): the activation cache of the sampled units (protocol §3)
and the resumable image pass (`image_pass`) it shares with the embeddings, the unit statistics and
the every-unit MIS."""

from unitpsych.activations.cache import (
    collect_activations,
    read_activations,
    read_image_root,
    read_unit_activations,
)
from unitpsych.activations.image_pass import DEFAULT_BLOCK_SIZE, DEFAULT_PASS, ImagePass

__all__ = [
    "DEFAULT_BLOCK_SIZE",
    "DEFAULT_PASS",
    "ImagePass",
    "collect_activations",
    "read_activations",
    "read_image_root",
    "read_unit_activations",
]

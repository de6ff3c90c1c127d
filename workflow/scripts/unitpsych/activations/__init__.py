"""Activations (rule file activations.smk): the activation cache of the sampled units (protocol §3)."""

from unitpsych.activations.cache import (
    ImagePass,
    bounded_block,
    collect_activations,
    read_activations,
    read_image_root,
    read_unit_activations,
    slab_chunks,
)

__all__ = [
    "ImagePass", "bounded_block", "collect_activations", "read_activations", "read_image_root",
    "read_unit_activations", "slab_chunks",
]  # fmt: skip

# Input functions (input_<what>) and param functions (param_<what>) of exemplars.smk, with the
# helpers they share; included at the top of exemplars.smk.


def model_difficulties(model: str) -> list[str]:
    """`easy` plus every difficulty an experiment of this model uses, in config order."""
    from unitpsych.exemplars import model_difficulties

    return model_difficulties(model, config["experiments"]["list"], DIFFICULTIES)


def input_natural_sets(wildcards) -> list[str]:
    """The model's natural-exemplar sets (every unit's folder), one per difficulty."""
    model = wildcards.model
    return [paths.natural_set_dir(model, d) for d in model_difficulties(model)]


def input_preview_synthetic(wildcards) -> list[str]:
    """The unit's feature-visualisation folder when its model has the synthetic condition."""
    if wildcards.model not in SYNTHETIC_MODELS:
        return []
    return [paths.synthetic_dir(wildcards.model, wildcards.unit)]


def input_stimuli_index(wildcards) -> list[str]:
    """Every natural-exemplar set and preview sheet of one model's units (after sample_units).

    The preview sheets depend on the synthetic folders (for models with `synthetic: true`), so
    asking for them builds the feature visualisations too.
    """
    model = wildcards.model
    previews = [paths.preview(model, u) for u in model_units(model)]
    return input_natural_sets(wildcards) + previews


def param_model_units(wildcards) -> list[str]:
    """The model's sampled units (a changed sample reruns the job)."""
    return model_units(wildcards.model)


def param_exemplars(wildcards) -> dict:
    """The exemplars slice of the config with only this difficulty's quantile."""
    cfg = {k: v for k, v in config["exemplars"].items() if k != "difficulties"}
    cfg["quantile"] = config["exemplars"]["difficulties"][wildcards.difficulty]
    return cfg


def param_preview_difficulties(wildcards) -> list[str]:
    """The difficulties shown on a unit's preview sheet (easy first)."""
    return model_difficulties(wildcards.model)

# Input functions (input_<what>) and param functions (param_<what>) of visualizations.smk, with the
# helpers they share; included at the top of visualizations.smk.

# speed only: the script reads these from the config, so they are never params
SPEED_KEYS = ("batch_images",)


def input_visualizations(wildcards) -> list[str]:
    """The feature-visualisation folder of every unit of one model (after sample_units)."""
    return [
        paths.synthetic_dir(wildcards.model, u) for u in model_units(wildcards.model)
    ]

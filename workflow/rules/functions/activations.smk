# Input functions (input_<what>) and param functions (param_<what>) of activations.smk, with the
# helpers they share; included at the top of activations.smk.


def param_model(wildcards) -> dict:
    """The config slice of one model (with its name), without keys that only label or check it
    (also the model param of the feature visualisations, the every-unit pass and the unit
    statistics)."""
    model = config["models"][wildcards.model]
    hidden = PRESENTATION_KEYS + CHECK_KEYS
    kept = {k: v for k, v in model.items() if k not in hidden}
    return kept | {"name": wildcards.model}

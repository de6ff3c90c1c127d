# Input functions (input_<what>) and param functions (param_<what>) of accuracy.smk, with the
# helpers they share; included at the top of accuracy.smk.


def input_accuracy_labels(wildcards) -> list[str]:
    """The labels file of the labelled set, if one is given."""
    return optional(config["accuracy"].get("labels"))


def input_accuracy(wildcards) -> list[str]:
    """The model's passed accuracy check when one is configured (the gate before the activation
    pass and the every-unit pass); its timestamp never reruns a job (ancient), so a rerun of the
    check alone leaves those passes alone."""
    if not accuracy_configured():
        return []
    return [ancient(paths.accuracy(wildcards.model))]


def param_accuracy_model(wildcards) -> dict:
    """What the check reads of a model: architecture, weights, batch size, expected top-1."""
    model = config["models"][wildcards.model]
    keys = ("arch", "weights", "batch_size", "expected_accuracy")
    return {k: model.get(k) for k in keys} | {"name": wildcards.model}

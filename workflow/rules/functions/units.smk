# Input functions (input_<what>) and param functions (param_<what>) of units.smk, with the
# helpers they share; included at the top of units.smk.


def input_image_root(wildcards=None) -> list[str]:
    """The generated image folder as an input when the image set is generated (the demo)."""
    images = config["images"]
    return [images["root"]] if images.get("generate") else []


def input_shared_units(wildcards) -> list[str]:
    """units.json of the model whose units this model shares, if any."""
    other = config["models"][wildcards.model]["units"].get("share_with")
    return [paths.units_json(other)] if other else []


def input_units_list(wildcards) -> list[str]:
    """A given unit-list file of this model, if any."""
    return optional(config["models"][wildcards.model]["units"].get("list"))


def param_units(wildcards) -> dict:
    """What unit sampling reads: the model's name, architecture and `units` entry."""
    model = config["models"][wildcards.model]
    layer_override = {"layers": model["layers"]} if model.get("layers") else {}
    return {
        "name": wildcards.model,
        "arch": model["arch"],
        "units": model["units"],
    } | layer_override


def model_units(model: str) -> list[str]:
    """The sampled units of a model (waits for the sample_units checkpoint)."""
    from unitpsych.units import read_units

    return read_units(checkpoints.sample_units.get(model=model).output.json)

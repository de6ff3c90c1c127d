# Input functions (input_<what>) and param functions (param_<what>) of accuracy.smk, with the
# helpers they share (model cards and the weights cache too); included at the top of
# accuracy.smk.
from pathlib import Path

import pandas as pd

from unitpsych.observer import backend_weights


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


def input_model_card(wildcards) -> list[str]:
    """The model's local weights file, if it has one."""
    weights = config["models"][wildcards.model].get("weights", "pretrained")
    return [] if weights in ("pretrained", "random") else [weights]


def input_scale_cards(wildcards=None) -> list[str]:
    """model.json of the models resources/models.csv does not list (their parameter count)."""
    known = set(pd.read_csv(MODEL_TABLE)["model"])
    return [
        paths.model_card(m)
        for m, cfg in config["models"].items()
        if m not in known and cfg["arch"] not in known
    ]


def param_weights() -> dict:
    """What the `weights` target fetches: every model's arch and weights, every backend's local
    weights (none: downloaded)."""
    models = {
        m: {"arch": cfg["arch"], "weights": cfg.get("weights", "pretrained")}
        for m, cfg in config["models"].items()
    }
    backends = {b: backend_weights(OBSERVER, b) for b in BACKENDS.values()}
    return {"models": models, "backends": backends}


def param_weights_cache(wildcards, output) -> str:
    """The weights cache folder: the folder of the manifest the rule writes."""
    return str(Path(output.manifest).parent)

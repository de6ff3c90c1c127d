# Model accuracy check (protocol §1.1–§1.2): with a labelled set configured (`accuracy.root`), each
# model's top-1 must match its expected value before its activation pass, and so before any of
# its stimuli, runs. A wrong checkpoint then fails in minutes, naming the model and both numbers.
from unitpsych import paths


def accuracy_configured() -> bool:
    """Whether a labelled set is configured (the check is off otherwise)."""
    return bool(config["accuracy"].get("root"))


def get_accuracy_config(wildcards=None) -> dict:
    """The accuracy slice of the config (labelled set, tolerance, GoogLeNet label order)."""
    return dict(config["accuracy"])


def get_accuracy_model_config(wildcards) -> dict:
    """What the check reads of a model: architecture, weights, batch size, expected top-1."""
    model = config["models"][wildcards.model]
    keys = ("arch", "weights", "batch_size", "expected_accuracy")
    return {k: model.get(k) for k in keys} | {"name": wildcards.model}


def get_accuracy_labels_input(wildcards) -> list[str]:
    """The labels file of the labelled set, if one is given."""
    labels = config["accuracy"].get("labels")
    return [labels] if labels else []


def get_accuracy_input(wildcards) -> list[str]:
    """The model's passed accuracy check when one is configured; its timestamp never reruns a
    job (ancient), so a rerun of the check alone leaves the activation pass alone."""
    if not accuracy_configured():
        return []
    return [ancient(paths.accuracy(wildcards.model))]


def get_all_accuracy(wildcards=None) -> list[str]:
    """accuracy.json of every model when a labelled set is configured."""
    return [paths.accuracy(m) for m in MODELS] if accuracy_configured() else []


# The check waits for the model's units (seconds, no weights): Snakemake 9.27 drops a job whose
# ancient() input is being made while a checkpoint job of the same target finishes.
rule check_accuracy:
    input:
        units=paths.units_json(),
        labels=get_accuracy_labels_input,
    output:
        json=paths.accuracy(),
    log:
        "logs/check_accuracy/{model}.log",
    benchmark:
        "benchmarks/check_accuracy/{model}.tsv"
    conda:
        "../../envs/torch.yaml"
    resources:
        gpu=1,
    params:
        model=get_accuracy_model_config,
        accuracy=get_accuracy_config,
        seed=config["seed"],
        code_version=1,
    script:
        "../scripts/check_accuracy.py"

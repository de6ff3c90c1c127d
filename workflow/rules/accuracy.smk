# Model accuracy check (protocol §1.1–§1.2): with a labelled set configured (`accuracy.root`), each
# model's top-1 must match its expected value before its activation pass, and so before any of
# its stimuli, runs. A wrong checkpoint then fails in minutes, naming the model and both numbers.
# Helpers (get_accuracy_*) are in common.smk.
#
# Model cards (results/{model}/model.json) and the weights cache (target `weights`, docs/models.md):
# every job runs with the library caches in `weights_cache` and the hubs offline, and loads
# pretrained weights only from there; `snakemake weights` fills it where there is internet.
import os

from unitpsych.models.card import SCALE_COLUMNS  # noqa: E402
from unitpsych.models.registry import ARCHS as PRESETS  # noqa: E402
from unitpsych.models.weights import job_environment  # noqa: E402

WEIGHTS_CACHE = config.get("weights_cache")
if WEIGHTS_CACHE:
    os.environ.update(job_environment(WEIGHTS_CACHE))


def get_all_model_cards(wildcards=None) -> list[str]:
    """model.json of every model."""
    return [paths.model_card(m) for m in MODELS]


def get_library_model_cards(wildcards=None) -> list[str]:
    """model.json of every `<library>:<model>` model (part of `all`; presets' are on demand)."""
    return [
        paths.model_card(m)
        for m in MODELS
        if config["models"][m]["arch"] not in PRESETS
    ]


def get_model_card_input(wildcards) -> list[str]:
    """The model's local weights file, if it has one."""
    weights = config["models"][wildcards.model].get("weights", "pretrained")
    return [] if weights in ("pretrained", "random") else [weights]


def get_scale_cards(wildcards=None) -> list[str]:
    """model.json of the models resources/models.csv does not list (their parameter count)."""
    known = set(pd.read_csv(MODEL_TABLE)["model"])
    return [
        paths.model_card(m)
        for m, cfg in config["models"].items()
        if m not in known and cfg["arch"] not in known
    ]


def scale_info(model: str) -> dict:
    """The scale keys (n_parameters, dataset_size, top1_accuracy) the config gives a model."""
    cfg = config["models"][model]
    return {k: cfg[k] for k in SCALE_COLUMNS if cfg.get(k) is not None}


def get_weights_params(wildcards=None) -> dict:
    """What the `weights` target fetches: every model's arch and weights, every backend's local
    weights (none: downloaded)."""
    models = {
        m: {"arch": cfg["arch"], "weights": cfg.get("weights", "pretrained")}
        for m, cfg in config["models"].items()
    }
    backends = {b: backend_weights(OBSERVER, b) for b in BACKENDS.values()}
    return {"cache": WEIGHTS_CACHE, "models": models, "backends": backends}


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


rule model_card:
    input:
        get_model_card_input,
    output:
        json=paths.model_card(),
    log:
        "logs/model_card/{model}.log",
    benchmark:
        "benchmarks/model_card/{model}.tsv"
    conda:
        "../../envs/torch.yaml"
    params:
        model=get_model_config,
        seed=config["seed"],
        code_version=1,
    script:
        "../scripts/model_card.py"


if WEIGHTS_CACHE:

    rule weights:
        output:
            manifest=paths.weights_manifest(WEIGHTS_CACHE),
        log:
            "logs/weights/weights.log",
        localrule: True
        conda:
            "../../envs/torch.yaml"
        params:
            **get_weights_params(),
            code_version=1,
        script:
            "../scripts/fetch_weights.py"

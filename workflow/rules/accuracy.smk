# Model accuracy check (protocol §1.1–§1.2): with a labelled set configured (`accuracy.root`), each
# model's top-1 must match its expected value before its activation pass, and so before any of
# its stimuli, runs. A wrong checkpoint then fails in minutes, naming the model and both numbers.
# Helpers (get_accuracy_*) are in common.smk.
#
# Model cards (results/{model}/model.json) and the weights cache (target `weights`, docs/models.md):
# every job runs with the library caches in `weights_cache` and the hubs offline, and loads
# pretrained weights only from there; `snakemake weights` fills it where there is internet.
# Helpers (get_*model_card*, get_weights_params, WEIGHTS_CACHE) are in common.smk.


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
            cache=lambda wildcards, output: str(Path(output.manifest).parent),
            code_version=1,
        script:
            "../scripts/fetch_weights.py"

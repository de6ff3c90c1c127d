# Model accuracy check (protocol §1.1–§1.2): with a labelled set configured (`accuracy.root`), each
# model's top-1 must match its expected value before its activation pass, and so before any of
# its stimuli, runs. A wrong checkpoint then fails in minutes, naming the model and both numbers.
#
# Model cards (results/{model}/model.json) and the weights cache (target `weights`, docs/models.md):
# every job runs with the library caches in `weights_cache` and the hubs offline, and loads
# pretrained weights only from there; `snakemake weights` fills it where there is internet.


include: "functions/accuracy.smk"


# The check waits for the model's units (seconds, no weights): Snakemake 9.27 drops a job whose
# ancient() input is being made while a checkpoint job of the same target finishes.
rule check_accuracy:
    input:
        units=paths.units_json(),
        labels=input_accuracy_labels,
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
        model=param_accuracy_model,
        accuracy=config_slice("accuracy"),
        seed=config["seed"],
        code_version=1,
    script:
        "../scripts/check_accuracy.py"


rule model_card:
    input:
        input_model_card,
    output:
        json=paths.model_card(),
    log:
        "logs/model_card/{model}.log",
    benchmark:
        "benchmarks/model_card/{model}.tsv"
    conda:
        "../../envs/torch.yaml"
    params:
        model=param_model,
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
            **param_weights(),
            cache=param_weights_cache,
            code_version=1,
        script:
            "../scripts/fetch_weights.py"

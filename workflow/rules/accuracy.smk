# Model accuracy check (protocol §1.1–§1.2): with a labelled set configured (`accuracy.root`), each
# model's top-1 must match its expected value before its activation pass, and so before any of
# its stimuli, runs. A wrong checkpoint then fails in minutes, naming the model and both numbers.


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

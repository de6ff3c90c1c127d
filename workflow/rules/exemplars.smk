# Stage 3a: natural exemplars per (model, difficulty), every unit of the model in one job (a folder
# per unit), and a preview sheet per unit. The SLURM profile bundles the preview jobs (its `groups`).


include: "functions/exemplars.smk"


localrules:
    index_stimuli,


rule extract_exemplars:
    input:
        h5=paths.activations(),
        units=paths.units_json(),  # the checkpoint's output: the units param reads it
    output:
        folder=directory(paths.natural_set_dir()),
    log:
        "logs/extract_exemplars/{model}/{difficulty}.log",
    benchmark:
        "benchmarks/extract_exemplars/{model}/{difficulty}.tsv"
    conda:
        "../../envs/analysis.yaml"
    params:
        units=param_model_units,
        exemplars=param_exemplars,
        code_version=3,
    script:
        "../scripts/extract_exemplars.py"


rule preview_unit:
    input:
        natural=input_natural_sets,
        synthetic=input_preview_synthetic,
    output:
        png=paths.preview(),
    log:
        "logs/preview_unit/{model}/{unit}.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        difficulties=param_preview_difficulties,
        code_version=2,
    script:
        "../scripts/preview_unit.py"


rule index_stimuli:
    input:
        input_stimuli_index,
    output:
        csv=paths.stimuli_index(),
    log:
        "logs/index_stimuli/{model}.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        code_version=1,
    script:
        "../scripts/index_stimuli.py"

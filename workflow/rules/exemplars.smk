# Stage 3a: natural exemplars per (model, unit, difficulty) and a preview sheet per unit.
# Many tiny CPU jobs; the SLURM profile bundles them (its `groups`).


localrules:
    index_stimuli,


rule extract_exemplars:
    input:
        h5=paths.activations(),
    output:
        folder=directory(paths.natural_dir()),
    log:
        "logs/extract_exemplars/{model}/{unit}_{difficulty}.log",
    benchmark:
        "benchmarks/extract_exemplars/{model}/{unit}_{difficulty}.tsv"
    conda:
        "../../envs/analysis.yaml"
    params:
        exemplars=get_exemplars_params,
        code_version=2,
    script:
        "../scripts/extract_exemplars.py"


rule preview_unit:
    input:
        natural=get_preview_natural_input,
        synthetic=get_preview_synthetic_input,
    output:
        png=paths.preview(),
    log:
        "logs/preview_unit/{model}/{unit}.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        difficulties=get_preview_difficulties,
        code_version=2,
    script:
        "../scripts/preview_unit.py"


rule index_stimuli:
    input:
        get_model_stimuli,
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

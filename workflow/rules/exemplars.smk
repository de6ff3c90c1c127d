# Stage 3a: natural exemplars per (model, unit, difficulty) and a preview sheet per unit.
# Many tiny CPU jobs: they share the group "stimuli" so a cluster profile can bundle them.


localrules:
    index_stimuli,


rule extract_exemplars:
    input:
        h5="results/{model}/activations.h5",
    output:
        folder=directory("results/{model}/stimuli/{unit}/natural_{difficulty}"),
    log:
        "logs/extract_exemplars/{model}/{unit}_{difficulty}.log",
    benchmark:
        "benchmarks/extract_exemplars/{model}/{unit}_{difficulty}.tsv"
    group:
        "stimuli"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        exemplars=get_exemplars_params,
        code_version=1,
    script:
        "../scripts/extract_exemplars.py"


rule preview_unit:
    input:
        natural=get_preview_natural_input,
        synthetic=get_preview_synthetic_input,
    output:
        png="results/{model}/stimuli/{unit}/preview.png",
    log:
        "logs/preview_unit/{model}/{unit}.log",
    group:
        "stimuli"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        difficulties=get_preview_difficulties,
        code_version=1,
    script:
        "../scripts/preview_unit.py"


rule index_stimuli:
    input:
        get_model_stimuli,
    output:
        csv="results/{model}/stimuli/index.csv",
    log:
        "logs/index_stimuli/{model}.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        code_version=1,
    script:
        "../scripts/index_stimuli.py"

# Stage 3b: feature visualisations (synthetic condition) per (model, unit) with the diversity
# search, for models with `synthetic: true`, and a per-model summary table.


localrules:
    summarize_featureviz,


rule visualize_unit:
    input:
        h5="results/{model}/activations.h5",
    output:
        folder=directory("results/{model}/stimuli/{unit}/synthetic"),
    log:
        "logs/visualize_unit/{model}/{unit}.log",
    benchmark:
        "benchmarks/visualize_unit/{model}/{unit}.tsv"
    wildcard_constraints:
        model=get_synthetic_model_pattern(),
    group:
        "stimuli"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        gpu=1,
        mem_mb=16000,
        runtime=24 * 60,
    params:
        model=get_model_config,
        featureviz=get_featureviz_config,
        seed=config["seed"],
        code_version=1,
    script:
        "../scripts/visualize_unit.py"


rule summarize_featureviz:
    input:
        folders=get_model_visualizations,
    output:
        csv="results/{model}/featureviz_summary.csv",
    log:
        "logs/summarize_featureviz/{model}.log",
    wildcard_constraints:
        model=get_synthetic_model_pattern(),
    conda:
        "../../envs/analysis.yaml"
    params:
        code_version=1,
    script:
        "../scripts/summarize_featureviz.py"

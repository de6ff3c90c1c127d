# Stage 3b: feature visualisations (synthetic condition) per (model, unit) with the diversity
# search, for models with `synthetic: true`, and a per-model summary table.
# `featureviz.batch_images` is speed only: the script reads it from the config, so changing it
# reruns nothing.


localrules:
    summarize_featureviz,


rule visualize_unit:
    input:
        h5=paths.activations(),
    output:
        folder=directory(paths.synthetic_dir()),
    log:
        "logs/visualize_unit/{model}/{unit}.log",
    benchmark:
        "benchmarks/visualize_unit/{model}/{unit}.tsv"
    wildcard_constraints:
        model=get_synthetic_model_pattern(),
    conda:
        "../../envs/torch.yaml"
    resources:
        gpu=1,
    params:
        model=get_model_config,
        featureviz=get_featureviz_config,
        seed=config["seed"],
        code_version=4,
    script:
        "../scripts/visualize_unit.py"


rule summarize_featureviz:
    input:
        folders=get_model_visualizations,
    output:
        csv=paths.featureviz_summary(),
    log:
        "logs/summarize_featureviz/{model}.log",
    wildcard_constraints:
        model=get_synthetic_model_pattern(),
    conda:
        "../../envs/analysis.yaml"
    params:
        code_version=2,
    script:
        "../scripts/summarize_featureviz.py"

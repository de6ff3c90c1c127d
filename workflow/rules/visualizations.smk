# Stage 3b: feature visualisations (synthetic condition) per (model, unit) with the diversity
# search, for models with `synthetic: true`, and a per-model summary table.
# `visualizations.batch_images` is speed only: the script reads it from the config, so changing it
# reruns nothing.


include: "functions/visualizations.smk"


localrules:
    summarize_visualizations,


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
        model=pattern_of(SYNTHETIC_MODELS),
    conda:
        "../../envs/torch.yaml"
    resources:
        gpu=1,
    params:
        model=param_model,
        visualizations=config_slice("visualizations", drop=SPEED_KEYS),
        seed=config["seed"],
        code_version=4,
    script:
        "../scripts/visualize_unit.py"


rule summarize_visualizations:
    input:
        folders=input_visualizations,
    output:
        csv=paths.featureviz_summary(),
    log:
        "logs/summarize_visualizations/{model}.log",
    wildcard_constraints:
        model=pattern_of(SYNTHETIC_MODELS),
    conda:
        "../../envs/analysis.yaml"
    params:
        code_version=2,
    script:
        "../scripts/summarize_visualizations.py"

# Stage 3b: feature visualisations (synthetic condition) with the diversity search, for models with
# `synthetic: true`: one job per group of units (`visualizations.units_per_job`, depth order)
# optimises the group together; each unit's folder is then linked into its stimulus folder, and a
# per-model summary table follows. `batch_images` and `units_per_job` are speed only: the script
# reads them from the config (a changed grouping reaches the jobs through their unit lists).


include: "functions/visualizations.smk"


localrules:
    link_unit_visualizations,
    summarize_visualizations,


rule visualize_units:
    input:
        h5=paths.activations(),
        units=paths.units_json(),  # the checkpoint's output: the groups read its units.csv
    output:
        folder=directory(paths.fv_group_dir()),
    log:
        "logs/visualize_units/{model}/{fv_group}.log",
    benchmark:
        "benchmarks/visualize_units/{model}/{fv_group}.tsv"
    wildcard_constraints:
        model=pattern_of(SYNTHETIC_MODELS),
        fv_group=r"g\d+",
    conda:
        "../../envs/torch.yaml"
    resources:
        gpu=1,
    params:
        model=param_model,
        units=param_fv_group_units,
        visualizations=config_slice("visualizations", drop=SPEED_KEYS),
        seed=config["seed"],
        code_version=5,
    script:
        "../scripts/visualize_units.py"


rule link_unit_visualizations:
    input:
        group=input_unit_fv_group,
    output:
        folder=directory(paths.synthetic_dir()),
    log:
        "logs/link_unit_visualizations/{model}/{unit}.log",
    wildcard_constraints:
        model=pattern_of(SYNTHETIC_MODELS),
    conda:
        "../../envs/analysis.yaml"
    params:
        code_version=1,
    script:
        "../scripts/link_unit_visualizations.py"


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

# Analysis: unit statistics (protocol §9) and the tables (scores, bootstrap CIs, tests across
# models, Spearman correlations, the scale regression; protocol §8.4). Tables are small local jobs.


include: "functions/analysis.smk"


localrules:
    analysis_tables,
    baselines_table,
    reproduction_table,


rule unit_statistics:
    input:
        units=paths.units_json(),
        images=input_unit_statistics_index,
    output:
        csv=paths.unit_statistics(),
    log:
        "logs/unit_statistics/{model}.log",
    benchmark:
        "benchmarks/unit_statistics/{model}.tsv"
    conda:
        "../../envs/torch.yaml"
    resources:
        gpu=1,
    params:
        model=param_model,
        images=param_unit_statistics_images,
        seed=config["seed"],
        code_version=1,
    script:
        "../scripts/unit_statistics.py"


rule analysis_tables:
    input:
        responses=paths.responses(),
        units=input_analysis_units,
        models=MODEL_TABLE,
        model_cards=input_scale_cards,
    output:
        **{name: table_report(name) for name in SCORE_TABLES},
    log:
        "logs/analysis_tables/tables.log",
    benchmark:
        "benchmarks/analysis_tables/tables.tsv"
    conda:
        "../../envs/analysis.yaml"
    params:
        analysis=config_slice("analysis", keep=ANALYSIS_KEYS),
        experiments=config["experiments"]["list"],
        models=param_analysed_model_info,
        unit_models=param_analysed_models,
        seed=config["seed"],
        code_version=2,
    script:
        "../scripts/analysis_tables.py"


rule baselines_table:
    input:
        unit_scores=paths.table("unit_scores"),
        statistics=input_analysis_unit_statistics,
        mis=input_analysis_mis,
    output:
        csv=table_report("baselines"),
    log:
        "logs/baselines_table/baselines.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        models=param_analysed_models,
        statistics_models=param_analysed_models,
        mis_models=param_analysed_mis_models,
        code_version=1,
    script:
        "../scripts/baselines_table.py"


rule reproduction_table:
    input:
        responses=paths.responses(),
        paper=PAPER_SCORES,
    output:
        csv=table_report("reproduction"),
    log:
        "logs/reproduction_table/reproduction.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        analysis=config_slice("analysis", keep=ANALYSIS_KEYS),
        experiments=config["experiments"]["list"],
        models=param_analysed_model_info,
        seed=config["seed"],
        code_version=1,
    script:
        "../scripts/reproduction_table.py"

# Analysis: unit statistics (protocol §9) and the tables (scores, bootstrap CIs, tests across
# models, Spearman correlations, the scale regression; protocol §8.4). Tables are small local jobs.
# Input functions and get_all_tables live in common.smk.


localrules:
    analysis_tables,
    spearman_table,


rule unit_statistics:
    input:
        units="results/{model}/units.json",
        images=get_unit_statistics_index,
    output:
        csv="results/{model}/unit_statistics.csv",
    log:
        "logs/unit_statistics/{model}.log",
    benchmark:
        "benchmarks/unit_statistics/{model}.tsv"
    conda:
        "../../envs/torch.yaml"
    resources:
        gpu=1,
    params:
        model=get_model_config,
        images=get_unit_statistics_images,
        seed=config["seed"],
        code_version=1,
    script:
        "../scripts/unit_statistics.py"


rule analysis_tables:
    input:
        responses="results/responses/responses.parquet",
        units=get_analysis_units,
        models="resources/models.csv",
    output:
        unit_scores="results/tables/unit_scores.csv",
        model_scores="results/tables/model_scores.csv",
        confidence_scores="results/tables/confidence_scores.csv",
        confidence_distribution="results/tables/confidence_distribution.csv",
        layer_scores="results/tables/layer_scores.csv",
        kruskal_wallis="results/tables/kruskal_wallis.csv",
        conover_holm="results/tables/conover_holm.csv",
        regression="results/tables/regression.csv",
    log:
        "logs/analysis_tables/tables.log",
    benchmark:
        "benchmarks/analysis_tables/tables.tsv"
    conda:
        "../../envs/analysis.yaml"
    params:
        analysis=get_analysis_config,
        experiments=config["experiments"]["list"],
        models=get_analysis_models,
        unit_models=get_analysis_model_names,
        seed=config["seed"],
        code_version=1,
    script:
        "../scripts/analysis_tables.py"


rule spearman_table:
    input:
        unit_scores="results/tables/unit_scores.csv",
        layer_scores="results/tables/layer_scores.csv",
        statistics=get_analysis_unit_statistics,
        mis=get_analysis_mis,
    output:
        csv="results/tables/spearman.csv",
    log:
        "logs/spearman_table/spearman.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        models=get_analysis_model_names,
        statistics_models=get_analysis_model_names,
        mis_models=get_analysis_mis_models,
        code_version=1,
    script:
        "../scripts/spearman_table.py"

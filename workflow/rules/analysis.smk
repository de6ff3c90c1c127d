# Analysis: unit statistics (protocol §9) and the tables (scores, bootstrap CIs, tests across
# models, Spearman correlations, the scale regression; protocol §8.4). Tables are small local jobs.
# Input functions and get_all_tables live in common.smk.


localrules:
    analysis_tables,
    baselines_table,
    reproduction_table,


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
        models=f"{workflow.basedir}/resources/models.csv",
    output:
        unit_scores=report(
            "results/tables/unit_scores.csv",
            caption="../report/table_unit_scores.rst",
            category="Tables",
        ),
        model_scores=report(
            "results/tables/model_scores.csv",
            caption="../report/table_model_scores.rst",
            category="Tables",
        ),
        confidence_scores=report(
            "results/tables/confidence_scores.csv",
            caption="../report/table_confidence_scores.rst",
            category="Tables",
        ),
        confidence_distribution=report(
            "results/tables/confidence_distribution.csv",
            caption="../report/table_confidence_distribution.rst",
            category="Tables",
        ),
        layer_scores=report(
            "results/tables/layer_scores.csv",
            caption="../report/table_layer_scores.rst",
            category="Tables",
        ),
        kruskal_wallis=report(
            "results/tables/kruskal_wallis.csv",
            caption="../report/table_kruskal_wallis.rst",
            category="Tables",
        ),
        conover_holm=report(
            "results/tables/conover_holm.csv",
            caption="../report/table_conover_holm.rst",
            category="Tables",
        ),
        spearman=report(
            "results/tables/spearman.csv",
            caption="../report/table_spearman.rst",
            category="Tables",
        ),
        regression=report(
            "results/tables/regression.csv",
            caption="../report/table_regression.rst",
            category="Tables",
        ),
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
        code_version=2,
    script:
        "../scripts/analysis_tables.py"


rule baselines_table:
    input:
        unit_scores="results/tables/unit_scores.csv",
        statistics=get_analysis_unit_statistics,
        mis=get_analysis_mis,
    output:
        csv=report(
            "results/tables/baselines.csv",
            caption="../report/table_baselines.rst",
            category="Tables",
        ),
    log:
        "logs/baselines_table/baselines.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        models=get_analysis_model_names,
        statistics_models=get_analysis_model_names,
        mis_models=get_analysis_mis_models,
        code_version=1,
    script:
        "../scripts/baselines_table.py"


rule reproduction_table:
    input:
        responses=paths.responses(),
        paper=PAPER_SCORES,
    output:
        csv=report(
            paths.table("reproduction"),
            caption="../report/table_reproduction.rst",
            category="Tables",
        ),
    log:
        "logs/reproduction_table/reproduction.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        analysis=get_analysis_config,
        experiments=config["experiments"]["list"],
        models=get_analysis_models,
        seed=config["seed"],
        code_version=1,
    script:
        "../scripts/reproduction_table.py"

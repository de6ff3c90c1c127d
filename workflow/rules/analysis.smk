# Analysis: unit statistics (protocol §9) and the tables (scores, bootstrap CIs, tests across
# models, Spearman correlations, the scale regression; protocol §8.4). Tables are small local jobs.
# Input functions and get_all_tables live in common.smk.


localrules:
    analysis_tables,
    baselines_table,
    reproduction_table,


rule unit_statistics:
    input:
        units=paths.units_json(),
        images=get_unit_statistics_index,
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
        model=get_model_config,
        images=get_unit_statistics_images,
        seed=config["seed"],
        code_version=1,
    script:
        "../scripts/unit_statistics.py"


rule analysis_tables:
    input:
        responses=paths.responses(),
        units=get_analysis_units,
        models=f"{workflow.basedir}/resources/models.csv",
        model_cards=get_scale_cards,
    output:
        unit_scores=report(
            paths.table("unit_scores"),
            caption="../report/table_unit_scores.rst",
            category="Tables",
        ),
        model_scores=report(
            paths.table("model_scores"),
            caption="../report/table_model_scores.rst",
            category="Tables",
        ),
        confidence_scores=report(
            paths.table("confidence_scores"),
            caption="../report/table_confidence_scores.rst",
            category="Tables",
        ),
        confidence_distribution=report(
            paths.table("confidence_distribution"),
            caption="../report/table_confidence_distribution.rst",
            category="Tables",
        ),
        layer_scores=report(
            paths.table("layer_scores"),
            caption="../report/table_layer_scores.rst",
            category="Tables",
        ),
        kruskal_wallis=report(
            paths.table("kruskal_wallis"),
            caption="../report/table_kruskal_wallis.rst",
            category="Tables",
        ),
        conover_holm=report(
            paths.table("conover_holm"),
            caption="../report/table_conover_holm.rst",
            category="Tables",
        ),
        spearman=report(
            paths.table("spearman"),
            caption="../report/table_spearman.rst",
            category="Tables",
        ),
        regression=report(
            paths.table("regression"),
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
        unit_scores=paths.table("unit_scores"),
        statistics=get_analysis_unit_statistics,
        mis=get_analysis_mis,
    output:
        csv=report(
            paths.table("baselines"),
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

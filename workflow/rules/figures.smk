# Figures (protocol §8.5 items 1–15, the §9 baselines, MIS): one rule and one target per figure,
# results/figures/<figure>.{pdf,png} with the paper's file names. Every rule runs the same thin
# script on the analysis tables; which tables a figure reads and which experiments it needs live in
# unitpsych.figures. A figure the configured experiments cannot make is left out of `all`; asked
# for by name, its input function fails naming the experiments it needs.
localrules:
    plot_model_comparison,
    plot_comparison_figure_1,
    plot_model_comparison_slides_variation_1,
    plot_model_comparison_slides_variation_2,
    plot_model_comparison_slides_variation_3,
    plot_model_comparison_rn_easy_vs_hard_natural_and_optimized,
    plot_model_comparison_unit_performance,
    plot_model_comparison_unit_performance_natural_vs_synthetic,
    plot_model_comparison_units_rn_easy_vs_hard,
    plot_model_comparison_units_rn_easy_vs_hard_gaps,
    plot_model_comparison_natural_confidence,
    plot_model_comparison_synthetic_confidence,
    plot_model_comparison_confidence_distribution,
    plot_model_accuracy_vs_performance,
    plot_model_human_likeness_vs_performance,
    plot_model_comparison_significance_natural,
    plot_model_comparison_significance_optimized,
    plot_exclusion_criteria_decision_distribution,
    plot_exclusion_criteria_value_distribution,
    plot_imi_pixel_sparsity_natural,
    plot_imi_channel_sparsity_natural,
    plot_imi_local_contrast,
    plot_mis_per_model,
    plot_mis_vs_human,
    plot_mis_all_depth,
    plot_mis_all_models,
    plot_reproduction,


rule plot_model_comparison:
    input:
        unpack(figure_input("model_comparison")),
    output:
        pdf=paths.figure("model_comparison", "pdf"),
        png=report(
            paths.figure("model_comparison", "png"),
            caption="../report/model_comparison.rst",
            category="Figures",
            subcategory="Paper (§8.5)",
        ),
    log:
        "logs/plot_figure/model_comparison.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        figure="model_comparison",
        code_version=2,
    script:
        "../scripts/plot_figure.py"


rule plot_comparison_figure_1:
    input:
        unpack(figure_input("comparison_figure_1")),
    output:
        pdf=paths.figure("comparison_figure_1", "pdf"),
        png=report(
            paths.figure("comparison_figure_1", "png"),
            caption="../report/comparison_figure_1.rst",
            category="Figures",
            subcategory="Paper (§8.5)",
        ),
    log:
        "logs/plot_figure/comparison_figure_1.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        figure="comparison_figure_1",
        code_version=2,
    script:
        "../scripts/plot_figure.py"


rule plot_model_comparison_slides_variation_1:
    input:
        unpack(figure_input("model_comparison_slides_variation_1")),
    output:
        pdf=paths.figure("model_comparison_slides_variation_1", "pdf"),
        png=report(
            paths.figure("model_comparison_slides_variation_1", "png"),
            caption="../report/model_comparison_slides_variation_1.rst",
            category="Figures",
            subcategory="Paper (§8.5)",
        ),
    log:
        "logs/plot_figure/model_comparison_slides_variation_1.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        figure="model_comparison_slides_variation_1",
        code_version=2,
    script:
        "../scripts/plot_figure.py"


rule plot_model_comparison_slides_variation_2:
    input:
        unpack(figure_input("model_comparison_slides_variation_2")),
    output:
        pdf=paths.figure("model_comparison_slides_variation_2", "pdf"),
        png=report(
            paths.figure("model_comparison_slides_variation_2", "png"),
            caption="../report/model_comparison_slides_variation_2.rst",
            category="Figures",
            subcategory="Paper (§8.5)",
        ),
    log:
        "logs/plot_figure/model_comparison_slides_variation_2.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        figure="model_comparison_slides_variation_2",
        code_version=2,
    script:
        "../scripts/plot_figure.py"


rule plot_model_comparison_slides_variation_3:
    input:
        unpack(figure_input("model_comparison_slides_variation_3")),
    output:
        pdf=paths.figure("model_comparison_slides_variation_3", "pdf"),
        png=report(
            paths.figure("model_comparison_slides_variation_3", "png"),
            caption="../report/model_comparison_slides_variation_3.rst",
            category="Figures",
            subcategory="Paper (§8.5)",
        ),
    log:
        "logs/plot_figure/model_comparison_slides_variation_3.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        figure="model_comparison_slides_variation_3",
        code_version=2,
    script:
        "../scripts/plot_figure.py"


rule plot_model_comparison_rn_easy_vs_hard_natural_and_optimized:
    input:
        unpack(figure_input("model_comparison_rn_easy_vs_hard_natural_and_optimized")),
    output:
        pdf=paths.figure(
            "model_comparison_rn_easy_vs_hard_natural_and_optimized", "pdf"
        ),
        png=report(
            paths.figure(
                "model_comparison_rn_easy_vs_hard_natural_and_optimized", "png"
            ),
            caption="../report/model_comparison_rn_easy_vs_hard_natural_and_optimized.rst",
            category="Figures",
            subcategory="Paper (§8.5)",
        ),
    log:
        "logs/plot_figure/model_comparison_rn_easy_vs_hard_natural_and_optimized.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        figure="model_comparison_rn_easy_vs_hard_natural_and_optimized",
        code_version=2,
    script:
        "../scripts/plot_figure.py"


rule plot_model_comparison_unit_performance:
    input:
        unpack(figure_input("model_comparison_unit_performance")),
    output:
        pdf=paths.figure("model_comparison_unit_performance", "pdf"),
        png=report(
            paths.figure("model_comparison_unit_performance", "png"),
            caption="../report/model_comparison_unit_performance.rst",
            category="Figures",
            subcategory="Paper (§8.5)",
        ),
    log:
        "logs/plot_figure/model_comparison_unit_performance.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        figure="model_comparison_unit_performance",
        code_version=2,
    script:
        "../scripts/plot_figure.py"


rule plot_model_comparison_unit_performance_natural_vs_synthetic:
    input:
        unpack(figure_input("model_comparison_unit_performance_natural_vs_synthetic")),
    output:
        pdf=paths.figure(
            "model_comparison_unit_performance_natural_vs_synthetic", "pdf"
        ),
        png=report(
            paths.figure(
                "model_comparison_unit_performance_natural_vs_synthetic", "png"
            ),
            caption="../report/model_comparison_unit_performance_natural_vs_synthetic.rst",
            category="Figures",
            subcategory="Paper (§8.5)",
        ),
    log:
        "logs/plot_figure/model_comparison_unit_performance_natural_vs_synthetic.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        figure="model_comparison_unit_performance_natural_vs_synthetic",
        code_version=2,
    script:
        "../scripts/plot_figure.py"


rule plot_model_comparison_units_rn_easy_vs_hard:
    input:
        unpack(figure_input("model_comparison_units_rn_easy_vs_hard")),
    output:
        pdf=paths.figure("model_comparison_units_rn_easy_vs_hard", "pdf"),
        png=report(
            paths.figure("model_comparison_units_rn_easy_vs_hard", "png"),
            caption="../report/model_comparison_units_rn_easy_vs_hard.rst",
            category="Figures",
            subcategory="Paper (§8.5)",
        ),
    log:
        "logs/plot_figure/model_comparison_units_rn_easy_vs_hard.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        figure="model_comparison_units_rn_easy_vs_hard",
        code_version=2,
    script:
        "../scripts/plot_figure.py"


rule plot_model_comparison_units_rn_easy_vs_hard_gaps:
    input:
        unpack(figure_input("model_comparison_units_rn_easy_vs_hard_gaps")),
    output:
        pdf=paths.figure("model_comparison_units_rn_easy_vs_hard_gaps", "pdf"),
        png=report(
            paths.figure("model_comparison_units_rn_easy_vs_hard_gaps", "png"),
            caption="../report/model_comparison_units_rn_easy_vs_hard_gaps.rst",
            category="Figures",
            subcategory="Paper (§8.5)",
        ),
    log:
        "logs/plot_figure/model_comparison_units_rn_easy_vs_hard_gaps.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        figure="model_comparison_units_rn_easy_vs_hard_gaps",
        code_version=2,
    script:
        "../scripts/plot_figure.py"


rule plot_model_comparison_natural_confidence:
    input:
        unpack(figure_input("model_comparison_natural_confidence")),
    output:
        pdf=paths.figure("model_comparison_natural_confidence", "pdf"),
        png=report(
            paths.figure("model_comparison_natural_confidence", "png"),
            caption="../report/model_comparison_natural_confidence.rst",
            category="Figures",
            subcategory="Paper (§8.5)",
        ),
    log:
        "logs/plot_figure/model_comparison_natural_confidence.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        figure="model_comparison_natural_confidence",
        code_version=2,
    script:
        "../scripts/plot_figure.py"


rule plot_model_comparison_synthetic_confidence:
    input:
        unpack(figure_input("model_comparison_synthetic_confidence")),
    output:
        pdf=paths.figure("model_comparison_synthetic_confidence", "pdf"),
        png=report(
            paths.figure("model_comparison_synthetic_confidence", "png"),
            caption="../report/model_comparison_synthetic_confidence.rst",
            category="Figures",
            subcategory="Paper (§8.5)",
        ),
    log:
        "logs/plot_figure/model_comparison_synthetic_confidence.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        figure="model_comparison_synthetic_confidence",
        code_version=2,
    script:
        "../scripts/plot_figure.py"


rule plot_model_comparison_confidence_distribution:
    input:
        unpack(figure_input("model_comparison_confidence_distribution")),
    output:
        pdf=paths.figure("model_comparison_confidence_distribution", "pdf"),
        png=report(
            paths.figure("model_comparison_confidence_distribution", "png"),
            caption="../report/model_comparison_confidence_distribution.rst",
            category="Figures",
            subcategory="Paper (§8.5)",
        ),
    log:
        "logs/plot_figure/model_comparison_confidence_distribution.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        figure="model_comparison_confidence_distribution",
        code_version=2,
    script:
        "../scripts/plot_figure.py"


rule plot_model_accuracy_vs_performance:
    input:
        unpack(figure_input("model_accuracy_vs_performance")),
    output:
        pdf=paths.figure("model_accuracy_vs_performance", "pdf"),
        png=report(
            paths.figure("model_accuracy_vs_performance", "png"),
            caption="../report/model_accuracy_vs_performance.rst",
            category="Figures",
            subcategory="Paper (§8.5)",
        ),
    log:
        "logs/plot_figure/model_accuracy_vs_performance.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        figure="model_accuracy_vs_performance",
        model_info=get_figure_model_info(),
        code_version=2,
    script:
        "../scripts/plot_figure.py"


rule plot_model_human_likeness_vs_performance:
    input:
        unpack(figure_input("model_human_likeness_vs_performance")),
    output:
        pdf=paths.figure("model_human_likeness_vs_performance", "pdf"),
        png=report(
            paths.figure("model_human_likeness_vs_performance", "png"),
            caption="../report/model_human_likeness_vs_performance.rst",
            category="Figures",
            subcategory="Paper (§8.5)",
        ),
    log:
        "logs/plot_figure/model_human_likeness_vs_performance.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        figure="model_human_likeness_vs_performance",
        model_info=get_figure_model_info(),
        code_version=2,
    script:
        "../scripts/plot_figure.py"


rule plot_model_comparison_significance_natural:
    input:
        unpack(figure_input("model_comparison_significance_natural")),
    output:
        pdf=paths.figure("model_comparison_significance_natural", "pdf"),
        png=report(
            paths.figure("model_comparison_significance_natural", "png"),
            caption="../report/model_comparison_significance_natural.rst",
            category="Figures",
            subcategory="Paper (§8.5)",
        ),
    log:
        "logs/plot_figure/model_comparison_significance_natural.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        figure="model_comparison_significance_natural",
        code_version=2,
    script:
        "../scripts/plot_figure.py"


rule plot_model_comparison_significance_optimized:
    input:
        unpack(figure_input("model_comparison_significance_optimized")),
    output:
        pdf=paths.figure("model_comparison_significance_optimized", "pdf"),
        png=report(
            paths.figure("model_comparison_significance_optimized", "png"),
            caption="../report/model_comparison_significance_optimized.rst",
            category="Figures",
            subcategory="Paper (§8.5)",
        ),
    log:
        "logs/plot_figure/model_comparison_significance_optimized.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        figure="model_comparison_significance_optimized",
        code_version=2,
    script:
        "../scripts/plot_figure.py"


rule plot_exclusion_criteria_decision_distribution:
    input:
        unpack(figure_input("exclusion_criteria_decision_distribution")),
    output:
        pdf=paths.figure("exclusion_criteria_decision_distribution", "pdf"),
        png=report(
            paths.figure("exclusion_criteria_decision_distribution", "png"),
            caption="../report/exclusion_criteria_decision_distribution.rst",
            category="Figures",
            subcategory="Paper (§8.5)",
        ),
    log:
        "logs/plot_figure/exclusion_criteria_decision_distribution.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        figure="exclusion_criteria_decision_distribution",
        code_version=2,
    script:
        "../scripts/plot_figure.py"


rule plot_exclusion_criteria_value_distribution:
    input:
        unpack(figure_input("exclusion_criteria_value_distribution")),
    output:
        pdf=paths.figure("exclusion_criteria_value_distribution", "pdf"),
        png=report(
            paths.figure("exclusion_criteria_value_distribution", "png"),
            caption="../report/exclusion_criteria_value_distribution.rst",
            category="Figures",
            subcategory="Paper (§8.5)",
        ),
    log:
        "logs/plot_figure/exclusion_criteria_value_distribution.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        figure="exclusion_criteria_value_distribution",
        thresholds=get_exclusion_thresholds(),
        code_version=2,
    script:
        "../scripts/plot_figure.py"


rule plot_imi_pixel_sparsity_natural:
    input:
        unpack(figure_input("imi_pixel_sparsity_natural")),
    output:
        pdf=paths.figure("imi_pixel_sparsity_natural", "pdf"),
        png=report(
            paths.figure("imi_pixel_sparsity_natural", "png"),
            caption="../report/imi_pixel_sparsity_natural.rst",
            category="Figures",
            subcategory="Baselines (§9)",
        ),
    log:
        "logs/plot_figure/imi_pixel_sparsity_natural.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        figure="imi_pixel_sparsity_natural",
        code_version=2,
    script:
        "../scripts/plot_figure.py"


rule plot_imi_channel_sparsity_natural:
    input:
        unpack(figure_input("imi_channel_sparsity_natural")),
    output:
        pdf=paths.figure("imi_channel_sparsity_natural", "pdf"),
        png=report(
            paths.figure("imi_channel_sparsity_natural", "png"),
            caption="../report/imi_channel_sparsity_natural.rst",
            category="Figures",
            subcategory="Baselines (§9)",
        ),
    log:
        "logs/plot_figure/imi_channel_sparsity_natural.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        figure="imi_channel_sparsity_natural",
        code_version=2,
    script:
        "../scripts/plot_figure.py"


rule plot_imi_local_contrast:
    input:
        unpack(figure_input("imi_local_contrast")),
    output:
        pdf=paths.figure("imi_local_contrast", "pdf"),
        png=report(
            paths.figure("imi_local_contrast", "png"),
            caption="../report/imi_local_contrast.rst",
            category="Figures",
            subcategory="Baselines (§9)",
        ),
    log:
        "logs/plot_figure/imi_local_contrast.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        figure="imi_local_contrast",
        code_version=2,
    script:
        "../scripts/plot_figure.py"


rule plot_mis_per_model:
    input:
        unpack(figure_input("mis_per_model")),
    output:
        pdf=paths.figure("mis_per_model", "pdf"),
        png=report(
            paths.figure("mis_per_model", "png"),
            caption="../report/mis_per_model.rst",
            category="Figures",
            subcategory="Beyond the paper",
        ),
    log:
        "logs/plot_figure/mis_per_model.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        figure="mis_per_model",
        code_version=3,
    script:
        "../scripts/plot_figure.py"


rule plot_mis_vs_human:
    input:
        unpack(figure_input("mis_vs_human")),
    output:
        pdf=paths.figure("mis_vs_human", "pdf"),
        png=report(
            paths.figure("mis_vs_human", "png"),
            caption="../report/mis_vs_human.rst",
            category="Figures",
            subcategory="Beyond the paper",
        ),
    log:
        "logs/plot_figure/mis_vs_human.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        figure="mis_vs_human",
        code_version=3,
    script:
        "../scripts/plot_figure.py"


rule plot_mis_all_depth:
    input:
        unpack(figure_input("mis_all_depth")),
    output:
        pdf=paths.figure("mis_all_depth", "pdf"),
        png=report(
            paths.figure("mis_all_depth", "png"),
            caption="../report/mis_all_depth.rst",
            category="Figures",
            subcategory="Beyond the paper",
        ),
    log:
        "logs/plot_figure/mis_all_depth.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        figure="mis_all_depth",
        model_info=get_mis_all_figure_info(),
        code_version=1,
    script:
        "../scripts/plot_figure.py"


rule plot_mis_all_models:
    input:
        unpack(figure_input("mis_all_models")),
    output:
        pdf=paths.figure("mis_all_models", "pdf"),
        png=report(
            paths.figure("mis_all_models", "png"),
            caption="../report/mis_all_models.rst",
            category="Figures",
            subcategory="Beyond the paper",
        ),
    log:
        "logs/plot_figure/mis_all_models.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        figure="mis_all_models",
        model_info=get_mis_all_figure_info(),
        code_version=1,
    script:
        "../scripts/plot_figure.py"


rule plot_reproduction:
    input:
        unpack(figure_input("reproduction")),
    output:
        pdf=paths.figure("reproduction", "pdf"),
        png=report(
            paths.figure("reproduction", "png"),
            caption="../report/reproduction.rst",
            category="Figures",
            subcategory="Beyond the paper",
        ),
    log:
        "logs/plot_figure/reproduction.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        figure="reproduction",
        code_version=1,
    script:
        "../scripts/plot_figure.py"

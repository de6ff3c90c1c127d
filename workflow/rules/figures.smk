# Figures (protocol §8.5 items 1–15, the §9 baselines, MIS): one rule and one target per figure,
# results/figures/<figure>.{pdf,png} with the paper's file names, generated from the figure
# registry (unitpsych.figures.registry: what each figure reads, which experiments it needs, its
# report group and code version). Every rule runs the same thin script on the analysis tables. A
# figure the configured experiments cannot make is left out of `all`; asked for by name, its input
# function fails naming the experiments it needs.


include: "functions/figures.smk"


for _figure in FIGURES:

    rule:
        name:
            f"plot_{_figure}"
        input:
            unpack(input_figure(_figure)),
        output:
            pdf=paths.figure(_figure, "pdf"),
            png=report(
                paths.figure(_figure, "png"),
                caption=f"../report/{_figure}.rst",
                category="Figures",
                subcategory=FIGURES[_figure].group,
            ),
        log:
            f"logs/plot_{_figure}/{_figure}.log",
        localrule: True
        conda:
            "../../envs/analysis.yaml"
        params:
            **param_figure(_figure),
        script:
            "../scripts/plot_figure.py"

# Figures (protocol §8.5 items 1–15, the §9 baselines, MIS): one rule and one target per figure,
# results/figures/<figure>.{pdf,png} with the paper's file names, generated from the figure
# registry (unitpsych.figures.registry: what each figure reads, which experiments it needs, its
# report group and code version). Every rule runs the same thin script on the analysis tables. A
# figure the configured experiments cannot make is left out of `all`; asked for by name, its input
# function fails naming the experiments it needs.


def figure_params(name: str) -> dict:
    """The params of figure `name`'s rule: its name, what its drawing needs from the config, and
    its code version."""
    spec = FIGURES[name]
    params = {"figure": name}
    if spec.properties:
        mis_all = "mis_all" in spec.per_model
        params["model_info"] = (
            get_mis_all_figure_info() if mis_all else get_figure_model_info()
        )
    if spec.thresholds:
        params["thresholds"] = get_exclusion_thresholds()
    return params | {"code_version": spec.code_version}


for _figure in FIGURES:

    rule:
        name:
            f"plot_{_figure}"
        input:
            unpack(figure_input(_figure)),
        output:
            pdf=paths.figure(_figure, "pdf"),
            png=report(
                paths.figure(_figure, "png"),
                caption=f"../report/{_figure}.rst",
                category="Figures",
                subcategory=FIGURES[_figure].group,
            ),
        log:
            f"logs/plot_figure/{_figure}.log",
        localrule: True
        conda:
            "../../envs/analysis.yaml"
        params:
            **figure_params(_figure),
        script:
            "../scripts/plot_figure.py"

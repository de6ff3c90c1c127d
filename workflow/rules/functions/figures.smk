# Input functions (input_<what>) and param functions (param_<what>) of figures.smk, with the
# helpers they share; included at the top of figures.smk.


import pandas as pd

from unitpsych.figures import figure_models, missing_requirement, model_properties

FIGURE_PROPERTIES = model_properties(config["models"], pd.read_csv(MODEL_TABLE))


def figure_models_built(name: str) -> list[str]:
    """Models whose per-model files figure `name` reads: those with a natural experiment, and for
    the MIS figures only those whose MIS table the observer stage builds."""
    models = figure_models(name, EXPERIMENTS, MODELS)
    if "mis_all" in FIGURES[name].per_model:
        built = set(targets_mis_all())
        models = [m for m in models if paths.mis_all(m) in built]
    if "mis" in FIGURES[name].per_model:
        built = set(targets_observer())
        models = [m for m in models if paths.mis(m) in built]
    return models


def figure_problem(name: str) -> str | None:
    """None when the config can make figure `name`, else what it lacks, in words."""
    sources = config["responses"]["sources"]
    problem = missing_requirement(name, EXPERIMENTS, FIGURE_PROPERTIES, sources)
    if (
        problem is None
        and "mis_all" in FIGURES[name].per_model
        and not figure_models_built(name)
    ):
        problem = (
            f"figure {name!r} needs the every-unit MIS (results/<model>/mis_all.parquet); "
            "the config turns it off (mis_all.enabled: false)"
        )
    if problem is None and FIGURES[name].per_model and not figure_models_built(name):
        problem = (
            f"figure {name!r} needs the machine interpretability score (mis.csv of the observer "
            "stage) of a model with a natural experiment; the observer stage builds none"
        )
    return problem


def input_figure(name: str):
    """The input function of figure `name`: its style, tables and per-model files.

    Fails with the experiments the figure needs when the config does not define them.
    """

    def input_function(wildcards) -> dict:
        problem = figure_problem(name)
        if problem:
            raise ValueError(problem)
        spec = FIGURES[name]
        inputs = {"style": FIGURE_STYLE}
        for table in spec.tables:
            inputs[table] = (
                paths.exclusions() if table == "exclusions" else paths.table(table)
            )
        models = figure_models_built(name)
        per_model = {"unit_statistics": paths.unit_statistics, "mis": paths.mis}
        per_model["mis_all"] = paths.mis_all
        for kind, path in per_model.items():
            if kind in spec.per_model:
                inputs[kind] = [path(m) for m in models]
        if spec.properties:
            inputs["properties"] = MODEL_TABLE
            inputs["model_cards"] = input_scale_cards()
        return inputs

    input_function.__name__ = f"input_{name}"
    return input_function


def param_model_info(presentation: bool) -> dict:
    """Architecture and weights of each model (to look up top-1 accuracy and mean rank), with
    `presentation` also its label and scale rank where given (the every-unit MIS figures).
    """
    keys = PRESENTATION_KEYS if presentation else ()
    return {
        m: {"arch": cfg["arch"], "weights": cfg.get("weights", "pretrained")}
        | {k: cfg[k] for k in keys if k in cfg}
        | scale_info(m)
        for m, cfg in config["models"].items()
    }


def param_figure(name: str) -> dict:
    """The params of figure `name`'s rule: its name, what its drawing needs from the config, and
    its code version."""
    spec = FIGURES[name]
    params = {"figure": name}
    if spec.properties:
        params["model_info"] = param_model_info(
            presentation="mis_all" in spec.per_model
        )
    if spec.thresholds:
        params["thresholds"] = config_slice("responses", "checks")()
    return params | {"code_version": spec.code_version}

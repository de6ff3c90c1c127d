# Helpers shared by the rule files (config checks, wildcard constraints, input functions and
# the list of final outputs). Rules receive only their own slice of the config.
import os
import re
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(workflow.basedir) / "workflow" / "scripts"))

from unitpsych import paths  # noqa: E402
from unitpsych.config import check_config  # noqa: E402
from unitpsych.experiments import required_stimulus_dirs  # noqa: E402
from unitpsych.experiments import (  # noqa: E402
    Settings,
    get_experiment,
    list_experiments,
)
from unitpsych.figures import (  # noqa: E402
    FIGURES,
    figure_models,
    missing_requirement,
    model_properties,
)

check_config(config)

MODELS = list(config["models"])
DIFFICULTIES = list(config["exemplars"]["difficulties"])


wildcard_constraints:
    model="|".join(map(re.escape, MODELS)),
    unit=r"[A-Za-z0-9_]+__\d+",
    difficulty="|".join(map(re.escape, DIFFICULTIES)),


# read by tables and figures only
PRESENTATION_KEYS = (
    "label",
    "scale_rank",
    "n_parameters",
    "dataset_size",
    "top1_accuracy",
)
CHECK_KEYS = ("expected_accuracy",)  # read by the accuracy check only (accuracy.smk)


def get_model_config(wildcards) -> dict:
    """The config slice of one model (with its name), without keys that only label or check it."""
    model = config["models"][wildcards.model]
    hidden = PRESENTATION_KEYS + CHECK_KEYS
    kept = {k: v for k, v in model.items() if k not in hidden}
    return kept | {"name": wildcards.model}


def get_units_config(wildcards) -> dict:
    """What unit sampling reads: the model's name, architecture and `units` entry."""
    model = config["models"][wildcards.model]
    layer_override = {"layers": model["layers"]} if model.get("layers") else {}
    return {
        "name": wildcards.model,
        "arch": model["arch"],
        "units": model["units"],
    } | layer_override


def images_config(*keys: str) -> dict:
    """The named keys of the image-set config (`num_workers` is speed only and never a param)."""
    return {k: config["images"].get(k) for k in keys}


def get_image_root_input(wildcards=None) -> list[str]:
    """The generated image folder as an input when the image set is generated (the demo)."""
    images = config["images"]
    return [images["root"]] if images.get("generate") else []


def get_shared_units_input(wildcards) -> list[str]:
    """units.json of the model whose units this model shares, if any."""
    other = config["models"][wildcards.model]["units"].get("share_with")
    return [paths.units_json(other)] if other else []


def get_units_list_input(wildcards) -> list[str]:
    """A given unit-list file of this model, if any."""
    path = config["models"][wildcards.model]["units"].get("list")
    return [path] if path else []


def get_all_units(wildcards=None) -> list[str]:
    """units.json and units.csv of every model."""
    return [f(m) for m in MODELS for f in (paths.units_json, paths.units_csv)]


def get_all_activations(wildcards=None) -> list[str]:
    """The activation cache of every model."""
    return [paths.activations(m) for m in MODELS]


# Accuracy check (accuracy.smk): configured or not, slices, the gate before the activation pass.


def accuracy_configured() -> bool:
    """Whether a labelled set is configured (the check is off otherwise)."""
    return bool(config["accuracy"].get("root"))


def get_accuracy_config(wildcards=None) -> dict:
    """The accuracy slice of the config (labelled set, tolerance, GoogLeNet label order)."""
    return dict(config["accuracy"])


def get_accuracy_model_config(wildcards) -> dict:
    """What the check reads of a model: architecture, weights, batch size, expected top-1."""
    model = config["models"][wildcards.model]
    keys = ("arch", "weights", "batch_size", "expected_accuracy")
    return {k: model.get(k) for k in keys} | {"name": wildcards.model}


def get_accuracy_labels_input(wildcards) -> list[str]:
    """The labels file of the labelled set, if one is given."""
    labels = config["accuracy"].get("labels")
    return [labels] if labels else []


def get_accuracy_input(wildcards) -> list[str]:
    """The model's passed accuracy check when one is configured; its timestamp never reruns a
    job (ancient), so a rerun of the check alone leaves the activation pass alone."""
    if not accuracy_configured():
        return []
    return [ancient(paths.accuracy(wildcards.model))]


def get_all_accuracy(wildcards=None) -> list[str]:
    """accuracy.json of every model when a labelled set is configured."""
    return [paths.accuracy(m) for m in MODELS] if accuracy_configured() else []


def get_final_outputs(wildcards=None) -> list[str]:
    """Everything `rule all` builds."""
    return (
        get_all_units()
        + get_library_model_cards()
        + get_all_accuracy()
        + get_all_activations()
        + get_all_stimuli()
        + get_all_visualizations()
        + get_all_experiments()
        + get_all_observer()
        + get_all_mis_all()
        + get_all_responses()
        + get_all_tables()
        + get_all_figures()
    )


# Model cards and the weights cache (accuracy.smk, docs/models.md).
from unitpsych.models.card import SCALE_COLUMNS  # noqa: E402
from unitpsych.models.registry import ARCHS as PRESETS  # noqa: E402
from unitpsych.models.weights import job_environment  # noqa: E402

WEIGHTS_CACHE = config.get("weights_cache")
if WEIGHTS_CACHE:
    os.environ.update(job_environment(WEIGHTS_CACHE))


def get_all_model_cards(wildcards=None) -> list[str]:
    """model.json of every model."""
    return [paths.model_card(m) for m in MODELS]


def get_library_model_cards(wildcards=None) -> list[str]:
    """model.json of every `<library>:<model>` model (part of `all`; presets' are on demand)."""
    return [
        paths.model_card(m)
        for m in MODELS
        if config["models"][m]["arch"] not in PRESETS
    ]


def get_model_card_input(wildcards) -> list[str]:
    """The model's local weights file, if it has one."""
    weights = config["models"][wildcards.model].get("weights", "pretrained")
    return [] if weights in ("pretrained", "random") else [weights]


def get_scale_cards(wildcards=None) -> list[str]:
    """model.json of the models resources/models.csv does not list (their parameter count)."""
    known = set(pd.read_csv(MODEL_TABLE)["model"])
    return [
        paths.model_card(m)
        for m, cfg in config["models"].items()
        if m not in known and cfg["arch"] not in known
    ]


def scale_info(model: str) -> dict:
    """The scale keys (n_parameters, dataset_size, top1_accuracy) the config gives a model."""
    cfg = config["models"][model]
    return {k: cfg[k] for k in SCALE_COLUMNS if cfg.get(k) is not None}


def get_weights_params(wildcards=None) -> dict:
    """What the `weights` target fetches: every model's arch and weights, every backend's local
    weights (none: downloaded)."""
    models = {
        m: {"arch": cfg["arch"], "weights": cfg.get("weights", "pretrained")}
        for m, cfg in config["models"].items()
    }
    backends = {b: backend_weights(OBSERVER, b) for b in BACKENDS.values()}
    return {"models": models, "backends": backends}


# Stimuli (exemplars.smk): which difficulties a model needs, per-unit inputs, all targets.


def get_model_difficulties(model: str) -> list[str]:
    """`easy` plus every difficulty an experiment of this model uses, in config order."""
    from unitpsych.exemplars import model_difficulties

    return model_difficulties(model, config["experiments"]["list"], DIFFICULTIES)


def get_exemplars_params(wildcards) -> dict:
    """The exemplars slice of the config with only this difficulty's quantile."""
    cfg = {k: v for k, v in config["exemplars"].items() if k != "difficulties"}
    cfg["quantile"] = config["exemplars"]["difficulties"][wildcards.difficulty]
    return cfg


def get_preview_difficulties(wildcards) -> list[str]:
    """The difficulties shown on a unit's preview sheet (easy first)."""
    return get_model_difficulties(wildcards.model)


def get_preview_natural_input(wildcards) -> list[str]:
    """The unit's natural-exemplar folders, one per difficulty of its model."""
    model, unit = wildcards.model, wildcards.unit
    return [paths.natural_dir(model, unit, d) for d in get_model_difficulties(model)]


def get_preview_synthetic_input(wildcards) -> list[str]:
    """The unit's feature-visualisation folder when its model has the synthetic condition."""
    if wildcards.model not in SYNTHETIC_MODELS:
        return []
    return [paths.synthetic_dir(wildcards.model, wildcards.unit)]


def get_model_units(model: str) -> list[str]:
    """The sampled units of a model (waits for the sample_units checkpoint)."""
    from unitpsych.units import read_units

    return read_units(checkpoints.sample_units.get(model=model).output.json)


def get_model_stimuli(wildcards) -> list[str]:
    """Every natural-exemplar folder and preview sheet of one model's units (after sample_units).

    The preview sheets depend on the synthetic folders (for models with `synthetic: true`), so
    asking for them builds the feature visualisations too.
    """
    model = wildcards.model
    units = get_model_units(model)
    difficulties = get_model_difficulties(model)
    natural = [paths.natural_dir(model, u, d) for u in units for d in difficulties]
    return natural + [paths.preview(model, u) for u in units]


def get_all_stimuli(wildcards=None) -> list[str]:
    """The stimulus index of every model; it needs every unit's stimuli.

    Listing per-model aggregates (not per-unit folders) keeps the checkpoint out of the top-level
    targets, so a dry run plans every stage of every model before any unit is sampled.
    """
    return [paths.stimuli_index(m) for m in MODELS]


# Feature visualisations (visualizations.smk): synthetic models, per-model inputs, targets.

SYNTHETIC_MODELS = [m for m in MODELS if config["models"][m].get("synthetic", True)]


def get_synthetic_model_pattern() -> str:
    """Wildcard pattern matching only the models with a synthetic condition."""
    if not SYNTHETIC_MODELS:
        return "(?!)"  # matches nothing
    return "|".join(map(re.escape, SYNTHETIC_MODELS))


# speed only: the script reads these from the config, so they are never params
FEATUREVIZ_SPEED_KEYS = ("batch_images",)


def get_featureviz_config(wildcards=None) -> dict:
    """The featureviz slice of the config without its speed-only keys."""
    fv = config["featureviz"]
    return {k: v for k, v in fv.items() if k not in FEATUREVIZ_SPEED_KEYS}


def get_model_visualizations(wildcards) -> list[str]:
    """The feature-visualisation folder of every unit of one model (after sample_units)."""
    units = get_model_units(wildcards.model)
    return [paths.synthetic_dir(wildcards.model, u) for u in units]


def get_all_visualizations(wildcards=None) -> list[str]:
    """The feature-visualisation summary of every synthetic model; it needs every unit's FVs.

    Per-model aggregates (not per-unit folders) keep the checkpoint out of the top-level targets,
    so a dry run plans every stage before any unit is sampled.
    """
    return [paths.featureviz_summary(m) for m in SYNTHETIC_MODELS]


# Experiments (experiments.smk): the configured experiments, their slices, inputs and targets.

EXPERIMENTS = list_experiments(config["experiments"])
# experiments keys that are not counts
NOT_COUNTS = ("list", "instructions", "synthetic_units")


def get_experiment_pattern() -> str:
    """Wildcard pattern matching exactly the configured experiment names."""
    if not EXPERIMENTS:
        return "(?!)"  # matches nothing
    return "|".join(re.escape(exp.name) for exp in EXPERIMENTS)


def get_experiment_config(wildcards) -> dict:
    """The experiment's own entry (model, condition, difficulty) and its name."""
    exp = get_experiment(config["experiments"], wildcards.experiment)
    return {
        "name": exp.name,
        "model": exp.model,
        "condition": exp.condition,
        "difficulty": exp.difficulty,
    }


def get_experiment_settings(wildcards=None) -> dict:
    """The experiment counts (the experiments slice without the list and the page source)."""
    return {k: v for k, v in config["experiments"].items() if k not in NOT_COUNTS}


def get_experiment_exemplars(wildcards=None) -> dict:
    """The exemplar counts an experiment needs (batches and references per side)."""
    return {k: config["exemplars"][k] for k in ("n_batches", "n_references")}


def get_experiment_instructions(wildcards=None) -> str:
    """`generated` or the folder of ready instruction pages."""
    return config["experiments"]["instructions"]


def get_experiment_instructions_input(wildcards=None) -> list[str]:
    """The folder of ready instruction pages as an input, when one is configured."""
    from unitpsych.experiments import GENERATED

    pages = config["experiments"]["instructions"]
    return [] if pages == GENERATED else [pages]


def get_experiment_units(wildcards) -> str:
    """units.json of the experiment's model (waits for the sample_units checkpoint)."""
    exp = get_experiment(config["experiments"], wildcards.experiment)
    return checkpoints.sample_units.get(model=exp.model).output.json


def get_experiment_stimuli(wildcards) -> list[str]:
    """The stimulus folders the experiment reads: its units' queries and references, catch and
    practice units' folders (natural experiments: easy exemplars; synthetic: FVs)."""
    from unitpsych.units import read_units

    exp = get_experiment(config["experiments"], wildcards.experiment)
    units = read_units(get_experiment_units(wildcards))
    settings = Settings.from_config(config["experiments"], config["exemplars"])
    successful = config["experiments"]["synthetic_units"] == "successful"
    return required_stimulus_dirs(exp, units, settings, paths.RESULTS, successful)


def get_experiment_featureviz(wildcards) -> list[str]:
    """featureviz_summary.csv of a synthetic experiment's model, whose units with failed FVs it
    leaves out (none with experiments.synthetic_units: all)."""
    exp = get_experiment(config["experiments"], wildcards.experiment)
    successful = config["experiments"]["synthetic_units"] == "successful"
    if exp.condition != "synthetic" or not successful:
        return []
    return [paths.featureviz_summary(exp.model)]


def get_all_experiments(wildcards=None) -> list[str]:
    """Every configured experiment folder and its practice folder."""
    names = [exp.name for exp in EXPERIMENTS]
    return [paths.experiment_dir(n) for n in names] + [paths.demo_dir(n) for n in names]


# Analysis (analysis.smk): the analysed models, the tables' inputs and config slices, targets.


def get_analysis_model_names(wildcards=None) -> list[str]:
    """Models with at least one configured experiment, in config order."""
    used = {exp.model for exp in EXPERIMENTS}
    return [m for m in MODELS if m in used]


def get_analysis_models(wildcards=None) -> dict:
    """Per analysed model: label and scale_rank (presentation) and arch and weights (the scale
    lookup in resources/models.csv)."""
    keys = ("label", "scale_rank", "arch", "weights")
    return {
        m: {k: config["models"][m].get(k) for k in keys} | scale_info(m)
        for m in get_analysis_model_names()
    }


def get_analysis_config(wildcards=None) -> dict:
    """The analysis slice the score tables read (responses' sources, bootstrap, regression)."""
    return {k: config["analysis"][k] for k in ("sources", "bootstrap", "regression")}


def get_analysis_units(wildcards=None) -> list[str]:
    """units.csv of every analysed model (layer index and relative depth)."""
    return [paths.units_csv(m) for m in get_analysis_model_names()]


def get_analysis_unit_statistics(wildcards=None) -> list[str]:
    """unit_statistics.csv of every analysed model."""
    return [paths.unit_statistics(m) for m in get_analysis_model_names()]


def get_analysis_mis_models(wildcards=None) -> list[str]:
    """Analysed models whose MIS table the observer stage builds (others get a noted row)."""
    built = set(get_all_observer())
    return [m for m in get_analysis_model_names() if paths.mis(m) in built]


def get_analysis_mis(wildcards=None) -> list[str]:
    """mis.csv of the models in get_analysis_mis_models."""
    return [paths.mis(m) for m in get_analysis_mis_models()]


def get_unit_statistics_images(wildcards=None) -> dict:
    """The image set of the unit statistics: analysis.unit_statistics, root defaulting to the
    activation image set (images.root)."""
    cfg = dict(config["analysis"]["unit_statistics"])
    if cfg.get("root") is None:
        cfg["root"] = config["images"]["root"]
        cfg["list"] = (
            None  # the activation image set's index already applies images.list
        )
    cfg["extensions"] = config["images"]["extensions"]
    return cfg


def get_unit_statistics_index(wildcards=None) -> list[str]:
    """The activation image set's index when the unit statistics use that set."""
    if config["analysis"]["unit_statistics"].get("root") is None:
        return [paths.image_index()]
    return []


def get_response_tables(wildcards=None) -> list[str]:
    """The tables the responses alone give (scores, tests, Spearman, regression; reproduction
    with the imi source), when experiments and a response table are configured."""
    if not EXPERIMENTS or paths.responses() not in get_all_responses():
        return []  # no response table is built, so there is nothing to analyse
    from unitpsych.analysis import SCORE_TABLES

    reproduction = [paths.table("reproduction")] if "imi" in RESPONSE_SOURCES else []
    return [paths.table(t) for t in SCORE_TABLES] + reproduction


def get_all_tables(wildcards=None) -> list[str]:
    """Every table and every analysed model's unit statistics (when experiments are configured)."""
    tables = get_response_tables()
    if not tables:
        return []
    return tables + [paths.table("baselines")] + get_analysis_unit_statistics()


# Responses (responses.smk): config slices, payload inputs (local payloads listed when the DAG is
# built), the merge's inputs and the stage's targets.
from unitpsych.responses import list_payload_files  # noqa: E402

RESPONSE_SOURCES = list(config["responses"]["sources"])


def get_simulation_config(wildcards=None) -> dict:
    """The simulation slice of the config without the α per backend (see get_simulation_alpha)."""
    return {k: v for k, v in config["simulation"].items() if k != "alpha"}


def get_check_thresholds(wildcards=None) -> dict:
    """The thresholds of the five exclusion checks."""
    return dict(config["responses"]["checks"])


def get_payload_sources(wildcards=None) -> list[str]:
    """The payload sources parsed per experiment (local, simulated), in config order."""
    return [s for s in RESPONSE_SOURCES if s != "imi"]


def get_imi_config(wildcards=None) -> dict:
    """The released IMI data set's slice of the config."""
    return dict(config["responses"]["imi"])


def get_imi_member(wildcards=None) -> str:
    """The released table's file name inside the archive."""
    return config["responses"]["imi"]["member"]


def get_imi_copy(wildcards=None) -> list[str]:
    """The user's copy of human_responses.zip, if configured."""
    path = config["responses"]["imi"].get("path")
    return [path] if path else []


def get_simulated_payloads(wildcards) -> list[str]:
    """The experiment's simulated payload folder when simulated participants are a source."""
    if "simulated" not in RESPONSE_SOURCES:
        return []
    return [paths.raw_payloads(wildcards.experiment, "simulated")]


def get_simulated_participants(wildcards) -> list[str]:
    """The experiment's simulated participant list when simulated participants are a source."""
    if "simulated" not in RESPONSE_SOURCES:
        return []
    return [paths.simulated_participants(wildcards.experiment)]


def get_local_payloads(wildcards) -> list[str]:
    """Every file in the experiment's local payload folder (none when it does not exist)."""
    if "local" not in RESPONSE_SOURCES:
        return []
    folder = paths.raw_payloads(wildcards.experiment, "local")
    return [str(p) for p in list_payload_files(folder)]


def get_parsed_experiments() -> list[str]:
    """Experiments to parse: all with simulated participants, else those with local payloads."""
    names = [exp.name for exp in EXPERIMENTS]
    if "simulated" in RESPONSE_SOURCES:
        return names
    if "local" in RESPONSE_SOURCES:
        return [n for n in names if list_payload_files(paths.raw_payloads(n, "local"))]
    return []


def get_merge_input(kind: str) -> list[str]:
    """The parsed responses (kind "parquet") or reports ("json") of every source."""
    pattern = paths.parsed_responses if kind == "parquet" else paths.parsed_report
    files = [pattern(name) for name in get_parsed_experiments()]
    if "imi" in RESPONSE_SOURCES:
        files.append(paths.parsed_imi(kind))
    return files


def get_merged_responses(wildcards=None) -> list[str]:
    """Parsed responses of every experiment and source."""
    return get_merge_input("parquet")


def get_merged_reports(wildcards=None) -> list[str]:
    """Parse reports of every experiment and source."""
    return get_merge_input("json")


def get_all_responses(wildcards=None) -> list[str]:
    """Every final output of this stage."""
    return [
        paths.responses(),
        paths.exclusions(),
        paths.participants(),
        paths.responses_summary(),
    ]


# Figures (figures.smk): which figures the config can make, their inputs and params.

FIGURE_STYLE = f"{workflow.basedir}/resources/unitpsych.mplstyle"
MODEL_TABLE = f"{workflow.basedir}/resources/models.csv"
PAPER_SCORES = f"{workflow.basedir}/resources/paper_scores.csv"
FIGURE_EXPERIMENTS = EXPERIMENTS  # common.smk: the configured experiments
FIGURE_PROPERTIES = model_properties(config["models"], pd.read_csv(MODEL_TABLE))


def figure_input(name: str):
    """The input function of figure `name`: its style, tables and per-model files.

    Fails with the experiments the figure needs when the config does not define them.
    """

    def get_figure_input(wildcards) -> dict:
        problem = get_figure_problem(name)
        if problem:
            raise ValueError(problem)
        spec = FIGURES[name]
        inputs = {"style": FIGURE_STYLE}
        for table in spec.tables:
            inputs[table] = (
                paths.exclusions() if table == "exclusions" else paths.table(table)
            )
        models = get_figure_models(name)
        if "unit_statistics" in spec.per_model:
            inputs["unit_statistics"] = [paths.unit_statistics(m) for m in models]
        if "mis" in spec.per_model:
            inputs["mis"] = [paths.mis(m) for m in models]
        if "mis_all" in spec.per_model:
            inputs["mis_all"] = [paths.mis_all(m) for m in models]
        if spec.properties:
            inputs["properties"] = MODEL_TABLE
            inputs["model_cards"] = get_scale_cards()
        return inputs

    get_figure_input.__name__ = f"get_{name}_input"
    return get_figure_input


def get_figure_models(name: str) -> list[str]:
    """Models whose per-model files figure `name` reads: those with a natural experiment, and for
    the MIS figures only those whose mis.csv the observer stage builds."""
    models = figure_models(name, FIGURE_EXPERIMENTS, MODELS)
    if "mis_all" in FIGURES[name].per_model:
        built = set(get_all_mis_all())
        models = [m for m in models if paths.mis_all(m) in built]
    if "mis" in FIGURES[name].per_model:
        built = set(get_all_observer())
        models = [m for m in models if paths.mis(m) in built]
    return models


def get_figure_problem(name: str) -> str | None:
    """None when the config can make figure `name`, else what it lacks, in words."""
    problem = missing_requirement(
        name, FIGURE_EXPERIMENTS, FIGURE_PROPERTIES, config["responses"]["sources"]
    )
    if (
        problem is None
        and "mis_all" in FIGURES[name].per_model
        and not get_figure_models(name)
    ):
        problem = (
            f"figure {name!r} needs the every-unit MIS (results/<model>/mis_all.parquet); "
            "the config turns it off (mis_all.enabled: false)"
        )
    if problem is None and FIGURES[name].per_model and not get_figure_models(name):
        problem = (
            f"figure {name!r} needs the machine interpretability score (mis.csv of the observer "
            "stage) of a model with a natural experiment; the observer stage builds none"
        )
    return problem


def get_figure_model_info(wildcards=None) -> dict:
    """Architecture and weights of each model (to look up top-1 accuracy and mean rank)."""
    return {
        m: {"arch": cfg["arch"], "weights": cfg.get("weights", "pretrained")}
        | scale_info(m)
        for m, cfg in config["models"].items()
    }


def get_mis_all_figure_info(wildcards=None) -> dict:
    """Architecture, weights, label and scale rank of each model (the every-unit MIS figures)."""
    keys = ("label", "scale_rank")
    return {
        m: {"arch": cfg["arch"], "weights": cfg.get("weights", "pretrained")}
        | {k: cfg[k] for k in keys if k in cfg}
        | scale_info(m)
        for m, cfg in config["models"].items()
    }


def get_exclusion_thresholds(wildcards=None) -> dict:
    """The exclusion thresholds drawn as lines (config responses.checks)."""
    return dict(config["responses"]["checks"])


def get_all_figures(wildcards=None, responses_only: bool = False) -> list[str]:
    """Every figure the configured experiments can make (PDF and PNG); with `responses_only`,
    those drawn from the response tables alone (no unit statistics or MIS pass over images).
    """
    return [
        paths.figure(name, ext)
        for name in FIGURES
        if get_figure_problem(name) is None
        and not (responses_only and FIGURES[name].per_model)
        for ext in ("pdf", "png")
    ]


def get_paper_figures(wildcards=None) -> list[str]:
    """The tables and figures that the responses alone give (no pass over images)."""
    return get_response_tables() + get_all_figures(responses_only=True)


# Observer (observer.smk): the backend of each model and experiment (observer.backend and its
# overrides), the α inputs (responses only with a human source), the MIS settings and targets.
from unitpsych.observer import (  # noqa: E402
    backend_of,
    backend_weights,
    check_observer_config,
    human_sources,
    mis_all_backends,
    scores_itself,
)
from unitpsych.responses import (  # noqa: E402
    check_simulation_alpha,
    participant_alpha,
)
from unitpsych.observer import backend_slug  # noqa: E402

check_observer_config(config)
check_simulation_alpha(config)

OBSERVER = config["observer"]
MIS_ALL_BACKENDS = mis_all_backends(OBSERVER, config["mis_all"])
BACKENDS = {
    backend_slug(backend_of(OBSERVER, m)): backend_of(OBSERVER, m) for m in MODELS
} | {
    backend_slug(b): b
    for b in (MIS_ALL_BACKENDS if config["mis_all"]["enabled"] else [])
}


def get_backend_pattern() -> str:
    """Wildcard pattern matching exactly the configured backend slugs."""
    return "|".join(re.escape(slug) for slug in BACKENDS)


def get_backend_params(wildcards) -> dict:
    """The backend's name and local weights (what its embeddings depend on)."""
    name = BACKENDS[wildcards.backend]
    return {"name": name, "weights": backend_weights(OBSERVER, name)}


def get_given_alpha(wildcards) -> float | None:
    """The α given in config for this backend (None: none given)."""
    return OBSERVER["alpha"].get(BACKENDS[wildcards.backend])


def get_observer_exemplars(wildcards=None) -> dict:
    """How exemplars are cut (natural images are embedded as shown)."""
    return {k: config["exemplars"][k] for k in ("resize", "image_size")}


def get_mis_settings(wildcards=None) -> dict:
    """The MIS task counts (N tasks, K references, quantile)."""
    return {k: OBSERVER[k] for k in ("n_tasks", "n_references", "quantile")}


def get_model_backend(wildcards) -> str:
    """The slug of the backend that scores this model."""
    return backend_slug(backend_of(OBSERVER, wildcards.model))


def get_model_embeddings(wildcards) -> str:
    """The embedding cache of the backend that scores this model."""
    return paths.embeddings(get_model_backend(wildcards))


def get_model_alpha(wildcards) -> str:
    """alpha.json of the backend that scores this model."""
    return paths.observer_alpha(get_model_backend(wildcards))


def get_experiment_backend(wildcards) -> dict:
    """The backend (name, weights) that scores this experiment's model."""
    exp = get_experiment(config["experiments"], wildcards.experiment)
    name = backend_of(OBSERVER, exp.model)
    return {"name": name, "weights": backend_weights(OBSERVER, name)}


def get_experiment_embeddings(wildcards) -> str:
    """The embedding cache of the backend that scores this experiment."""
    return paths.embeddings(backend_slug(get_experiment_backend(wildcards)["name"]))


def get_experiment_given_alpha(wildcards) -> float | None:
    """The α given in config for the experiment's backend."""
    return OBSERVER["alpha"].get(get_experiment_backend(wildcards)["name"])


def get_simulation_alpha(wildcards) -> dict:
    """The simulated participants' α for this experiment's backend, the backend and the key."""
    backend = get_experiment_backend(wildcards)["name"]
    alpha, source = participant_alpha(config["simulation"], OBSERVER, backend)
    return {"alpha": alpha, "backend": backend, "source": source}


def get_backend_experiments(backend: str) -> list[str]:
    """The experiments whose model this backend (slug) scores."""
    return [
        e.name
        for e in EXPERIMENTS
        if backend_slug(backend_of(OBSERVER, e.model)) == backend
    ]


def get_fit_alpha_input(wildcards) -> dict:
    """Human responses and the per-trial d of this backend's experiments; nothing without humans."""
    if not human_sources(config):
        return {}
    return {
        "responses": paths.responses(),
        "trials": [
            paths.observer_trials(e) for e in get_backend_experiments(wildcards.backend)
        ],
    }


def get_mis_all_backends(wildcards) -> list[dict]:
    """The backends that score every unit of this model: name, slug, local weights, the α given in
    config (a fitted α is not used: every-unit scores never wait for responses), and whether the
    backend is the model itself (its rows are flagged)."""
    model = config["models"][wildcards.model]
    return [
        {
            "name": b,
            "slug": backend_slug(b),
            "weights": backend_weights(OBSERVER, b),
            "alpha": OBSERVER["alpha"].get(b),
            "scores_itself": scores_itself(OBSERVER, b, model),
        }
        for b in MIS_ALL_BACKENDS
    ]


def get_mis_all_model(wildcards) -> dict:
    """What the every-unit MIS reads of a model: its name, architecture and weights."""
    model = config["models"][wildcards.model]
    keys = ("arch", "weights")
    layer_override = {"layers": model["layers"]} if model.get("layers") else {}
    return (
        {k: model.get(k, "pretrained") for k in keys}
        | {"name": wildcards.model}
        | layer_override
    )


def get_mis_all_embeddings(wildcards=None) -> list[str]:
    """The embedding cache of every every-unit backend, in `mis_all.backends` order."""
    return [paths.embeddings(backend_slug(b)) for b in MIS_ALL_BACKENDS]


def get_all_mis_all(wildcards=None) -> list[str]:
    """mis_all.parquet of every model (when `mis_all.enabled`)."""
    return [paths.mis_all(m) for m in MODELS] if config["mis_all"]["enabled"] else []


def get_all_observer(wildcards=None) -> list[str]:
    """The per-trial observer file of every experiment and mis.csv of every model."""
    return [paths.observer_trials(e.name) for e in EXPERIMENTS] + [
        paths.mis(m) for m in MODELS
    ]

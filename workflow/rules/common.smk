# Shared by all stages: the config checks, the constants derived from the config, wildcard
# constraints, the one config-slice helper (config_slice) and the lists of named targets (the
# Snakefile's target rules). Each stage's input functions (input_<what>) and param functions
# (param_<what>) are in workflow/rules/functions/<stage>.smk, included at the top of the stage's
# rules (Snakemake's linter wants functions and rules in separate files); rules receive only
# their own slice of the config.
import os
import re

from unitpsych import paths
from unitpsych.config import check_config
from unitpsych.experiments import list_experiments
from unitpsych.figures import FIGURES
from unitpsych.models.card import SCALE_COLUMNS
from unitpsych.models.registry import ARCHS as PRESETS
from unitpsych.models.weights import job_environment
from unitpsych.observer import (
    backend_of,
    backend_slug,
    check_observer_config,
    mis_all_backends,
)
from unitpsych.responses import check_simulation_alpha

check_config(config)
check_observer_config(config)
check_simulation_alpha(config)

MODELS = list(config["models"])
DIFFICULTIES = list(config["exemplars"]["difficulties"])
SYNTHETIC_MODELS = [m for m in MODELS if config["models"][m].get("synthetic", True)]
EXPERIMENTS = list_experiments(config["experiments"])
EXPERIMENT_NAMES = [exp.name for exp in EXPERIMENTS]
RESPONSE_SOURCES = list(config["responses"]["sources"])
OBSERVER = config["observer"]
MIS_ALL_ENABLED = config["mis_all"]["enabled"]
MIS_ALL_BACKENDS = mis_all_backends(OBSERVER, config["mis_all"])
# backend slug -> backend name: every model's scoring backend and the every-unit backends
BACKENDS = {
    backend_slug(backend_of(OBSERVER, m)): backend_of(OBSERVER, m) for m in MODELS
} | {backend_slug(b): b for b in (MIS_ALL_BACKENDS if MIS_ALL_ENABLED else [])}

FIGURE_STYLE = f"{workflow.basedir}/resources/unitpsych.mplstyle"
MODEL_TABLE = f"{workflow.basedir}/resources/models.csv"
PAPER_SCORES = f"{workflow.basedir}/resources/paper_scores.csv"

# Every job loads pretrained weights only from the weights cache, with the hubs offline
# (`snakemake weights` fills it on a machine with internet; docs/models.md).
WEIGHTS_CACHE = config.get("weights_cache")
if WEIGHTS_CACHE:
    os.environ.update(job_environment(WEIGHTS_CACHE))

# read by tables and figures only
PRESENTATION_KEYS = (
    "label",
    "scale_rank",
    "n_parameters",
    "dataset_size",
    "top1_accuracy",
)
CHECK_KEYS = ("expected_accuracy",)  # read by the accuracy check only (accuracy.smk)


def pattern_of(names: list[str]) -> str:
    """A wildcard pattern matching exactly `names` (nothing when there are none)."""
    return "|".join(map(re.escape, names)) if names else "(?!)"


wildcard_constraints:
    model=pattern_of(MODELS),
    unit=r"[A-Za-z0-9_]+__\d+",
    difficulty=pattern_of(DIFFICULTIES),


def config_slice(*keys: str, keep: tuple[str, ...] = (), drop: tuple[str, ...] = ()):
    """A param function returning config[keys[0]][keys[1]]...: a dict of only `keep` (missing
    keys as None) or without `drop`, a copy of a dict, or the value itself."""

    def param(wildcards=None):
        node = config
        for key in keys:
            node = node[key]
        if keep:
            return {k: node.get(k) for k in keep}
        if isinstance(node, dict):
            return {k: v for k, v in node.items() if k not in drop}
        return node

    param.__name__ = "param_" + "_".join(keys)
    return param


def param_model(wildcards) -> dict:
    """The config slice of one model (with its name), without keys that only label or check it
    (also the model param of the feature visualisations, the every-unit pass and the unit
    statistics)."""
    model = config["models"][wildcards.model]
    hidden = PRESENTATION_KEYS + CHECK_KEYS
    kept = {k: v for k, v in model.items() if k not in hidden}
    return kept | {"name": wildcards.model}


def scale_info(model: str) -> dict:
    """The scale keys (n_parameters, dataset_size, top1_accuracy) the config gives a model."""
    cfg = config["models"][model]
    return {k: cfg[k] for k in SCALE_COLUMNS if cfg.get(k) is not None}


def accuracy_configured() -> bool:
    """Whether a labelled set is configured (the accuracy check is off otherwise)."""
    return bool(config["accuracy"].get("root"))


def optional(path) -> list[str]:
    """[path] when a path is configured, else [] (an optional input)."""
    return [path] if path else []


# Named targets (the Snakefile's target rules): per-model aggregates, not per-unit folders, so the
# sample_units checkpoint stays out of them and a dry run plans every stage of every model.


def targets_units(wildcards=None) -> list[str]:
    """units.json and units.csv of every model."""
    return [f(m) for m in MODELS for f in (paths.units_json, paths.units_csv)]


def targets_accuracy(wildcards=None) -> list[str]:
    """accuracy.json of every model when a labelled set is configured."""
    return [paths.accuracy(m) for m in MODELS] if accuracy_configured() else []


def targets_model_cards(wildcards=None, library_only: bool = False) -> list[str]:
    """model.json of every model; with `library_only` of the `<library>:<model>` models only
    (part of `all`; presets' cards are on demand)."""
    archs = {m: config["models"][m]["arch"] for m in MODELS}
    return [
        paths.model_card(m)
        for m in MODELS
        if not (library_only and archs[m] in PRESETS)
    ]


def targets_activations(wildcards=None) -> list[str]:
    """The activation cache of every model."""
    return [paths.activations(m) for m in MODELS]


def targets_exemplars(wildcards=None) -> list[str]:
    """The stimulus index of every model; it needs every unit's stimuli."""
    return [paths.stimuli_index(m) for m in MODELS]


def targets_visualizations(wildcards=None) -> list[str]:
    """The feature-visualisation summary of every synthetic model; it needs every unit's FVs."""
    return [paths.featureviz_summary(m) for m in SYNTHETIC_MODELS]


def targets_experiments(wildcards=None) -> list[str]:
    """Every configured experiment folder and its practice folder."""
    names = EXPERIMENT_NAMES
    folders = [paths.experiment_dir(n) for n in names] + [
        paths.demo_dir(n) for n in names
    ]
    return folders + ([paths.experiment_checks()] if names else [])


def targets_observer(wildcards=None) -> list[str]:
    """The per-trial observer file of every experiment and mis.csv of every model."""
    trials = [paths.observer_trials(e.name) for e in EXPERIMENTS]
    return trials + [paths.mis(m) for m in MODELS]


def targets_mis_all(wildcards=None) -> list[str]:
    """mis_all.parquet of every model (when `mis_all.enabled`)."""
    return [paths.mis_all(m) for m in MODELS] if MIS_ALL_ENABLED else []


def targets_responses(wildcards=None) -> list[str]:
    """Every final output of the responses stage."""
    return [
        paths.responses(),
        paths.exclusions(),
        paths.participants(),
        paths.responses_summary(),
    ]


def analysed_models() -> list[str]:
    """Models with at least one configured experiment, in config order."""
    used = {exp.model for exp in EXPERIMENTS}
    return [m for m in MODELS if m in used]


def targets_response_tables(wildcards=None) -> list[str]:
    """The tables the responses alone give (scores, tests, Spearman, regression; reproduction
    with the imi source), when experiments and a response table are configured."""
    if not EXPERIMENTS or paths.responses() not in targets_responses():
        return []  # no response table is built, so there is nothing to analyse
    from unitpsych.analysis import SCORE_TABLES

    reproduction = [paths.table("reproduction")] if "imi" in RESPONSE_SOURCES else []
    return [paths.table(t) for t in SCORE_TABLES] + reproduction


def targets_analysis(wildcards=None) -> list[str]:
    """Every table and every analysed model's unit statistics (when experiments are configured)."""
    tables = targets_response_tables()
    if not tables:
        return []
    statistics = [paths.unit_statistics(m) for m in analysed_models()]
    return tables + [paths.table("baselines")] + statistics


def targets_figures(wildcards=None, responses_only: bool = False) -> list[str]:
    """Every figure the configured experiments can make (PDF and PNG); with `responses_only`,
    those drawn from the response tables alone (no unit statistics or MIS pass over images).
    figure_problem is defined in figures.smk (called when the DAG is built)."""
    return [
        paths.figure(name, ext)
        for name in FIGURES
        if figure_problem(name) is None
        and not (responses_only and FIGURES[name].per_model)
        for ext in ("pdf", "png")
    ]


def targets_paper_figures(wildcards=None) -> list[str]:
    """The tables and figures that the responses alone give (no pass over images)."""
    return targets_response_tables() + targets_figures(responses_only=True)


def targets_browser(wildcards=None) -> list[str]:
    """The unit browser's index when `browser.enabled` (part of `all`)."""
    return [paths.browser_index()] if config["browser"]["enabled"] else []


def targets_all(wildcards=None) -> list[str]:
    """Everything `rule all` builds."""
    return (
        targets_units()
        + targets_model_cards(library_only=True)
        + targets_accuracy()
        + targets_activations()
        + targets_exemplars()
        + targets_visualizations()
        + targets_experiments()
        + targets_observer()
        + targets_mis_all()
        + targets_responses()
        + targets_analysis()
        + targets_figures()
        + targets_browser()
    )

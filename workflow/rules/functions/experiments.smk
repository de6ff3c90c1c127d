# Input functions (input_<what>) and param functions (param_<what>) of experiments.smk, with the
# helpers they share; included at the top of experiments.smk.
from unitpsych.experiments import (
    GENERATED,
    Settings,
    get_experiment,
    required_stimulus_dirs,
)

# experiments keys that are not counts
NOT_COUNTS = ("list", "instructions", "synthetic_units")
SUCCESSFUL_ONLY = config["experiments"]["synthetic_units"] == "successful"


def experiment_of(wildcards):
    """The configured experiment of the `experiment` wildcard."""
    return get_experiment(config["experiments"], wildcards.experiment)


def input_experiment_units(wildcards) -> str:
    """units.json of the experiment's model (waits for the sample_units checkpoint)."""
    return checkpoints.sample_units.get(
        model=experiment_of(wildcards).model
    ).output.json


def input_experiment_stimuli(wildcards) -> list[str]:
    """The stimulus folders the experiment reads: its units' queries and references, catch and
    practice units' folders (natural experiments: easy exemplars; synthetic: FVs)."""
    from unitpsych.units import read_units

    units = read_units(input_experiment_units(wildcards))
    settings = Settings.from_config(config["experiments"], config["exemplars"])
    exp = experiment_of(wildcards)
    return required_stimulus_dirs(exp, units, settings, paths.RESULTS, SUCCESSFUL_ONLY)


def input_experiment_featureviz(wildcards) -> list[str]:
    """featureviz_summary.csv of a synthetic experiment's model, whose units with failed FVs it
    leaves out (none with experiments.synthetic_units: all)."""
    exp = experiment_of(wildcards)
    if exp.condition != "synthetic" or not SUCCESSFUL_ONLY:
        return []
    return [paths.featureviz_summary(exp.model)]


def input_experiment_instructions(wildcards=None) -> list[str]:
    """The folder of ready instruction pages as an input, when one is configured."""
    pages = config["experiments"]["instructions"]
    return [] if pages == GENERATED else [pages]


def param_experiment(wildcards) -> dict:
    """The experiment's own entry (model, condition, difficulty) and its name."""
    exp = experiment_of(wildcards)
    return {
        "name": exp.name,
        "model": exp.model,
        "condition": exp.condition,
        "difficulty": exp.difficulty,
    }

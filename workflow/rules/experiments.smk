# Stage 4: 2-AFC experiment folders in the IMI UI format (protocol §6-§7). One job per experiment
# writes results/experiments/{experiment}/ (structure.json, trials.csv, task_<k>/, instructions/)
# and, next to it as the UI expects, the practice folder results/experiments/demo_{experiment}/.
from unitpsych.experiments import (
    Settings,
    get_experiment,
    list_experiments,
    required_stimulus_dirs,
)

EXPERIMENTS = list_experiments(config["experiments"])


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
    """The experiment counts (the experiments slice without the list of experiments)."""
    return {k: v for k, v in config["experiments"].items() if k != "list"}


def get_experiment_exemplars(wildcards=None) -> dict:
    """The exemplar counts an experiment needs (batches and references per side)."""
    return {k: config["exemplars"][k] for k in ("n_batches", "n_references")}


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
    return [f"results/{d}" for d in required_stimulus_dirs(exp, units, settings)]


def get_all_experiments(wildcards=None) -> list[str]:
    """Every configured experiment folder and its practice folder."""
    return expand(
        "results/experiments/{prefix}{experiment}",
        prefix=["", "demo_"],
        experiment=[exp.name for exp in EXPERIMENTS],
    )


rule build_experiment:
    input:
        units=get_experiment_units,
        stimuli=get_experiment_stimuli,
    output:
        folder=directory("results/experiments/{experiment}"),
        demo=directory("results/experiments/demo_{experiment}"),
    log:
        "logs/build_experiment/{experiment}.log",
    benchmark:
        "benchmarks/build_experiment/{experiment}.tsv"
    wildcard_constraints:
        experiment=get_experiment_pattern(),
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        experiment=get_experiment_config,
        settings=get_experiment_settings,
        exemplars=get_experiment_exemplars,
        code_version=1,
    script:
        "../scripts/build_experiment.py"

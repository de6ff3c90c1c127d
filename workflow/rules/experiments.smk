# Stage 4: 2-AFC experiment folders in the IMI UI format (protocol §6-§7). One job per experiment
# writes results/experiments/{experiment}/ (structure.json, trials.csv, task_<k>/, instructions/)
# and, next to it as the UI expects, the practice folder results/experiments/demo_{experiment}/.
# Every image in them is 224 px (the UI's layout size): stimuli of another size are resampled.
# A synthetic experiment reads its model's featureviz_summary.csv and leaves out the units whose
# feature visualisations failed the success test (units.csv and selection.json say which and why).


include: "functions/experiments.smk"


localrules:
    record_checks,


# The check thresholds the experiments are built with, for the experiment server (docs/server.md).
rule record_checks:
    output:
        paths.experiment_checks(),
    log:
        "logs/record_checks.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        checks=config_slice("responses", "checks"),
        code_version=1,
    script:
        "../scripts/record_checks.py"


rule build_experiment:
    input:
        units=input_experiment_units,
        stimuli=input_experiment_stimuli,
        featureviz=input_experiment_featureviz,
        instructions=input_experiment_instructions,
    output:
        folder=directory(paths.experiment_dir()),
        demo=directory(paths.demo_dir()),
    log:
        "logs/build_experiment/{experiment}.log",
    benchmark:
        "benchmarks/build_experiment/{experiment}.tsv"
    wildcard_constraints:
        experiment=pattern_of(EXPERIMENT_NAMES),
    conda:
        "../../envs/analysis.yaml"
    params:
        experiment=param_experiment,
        settings=config_slice("experiments", drop=NOT_COUNTS),
        exemplars=config_slice("exemplars", keep=("n_batches", "n_references")),
        instructions=config_slice("experiments", "instructions"),
        code_version=3,
    script:
        "../scripts/build_experiment.py"

# Stage 4: 2-AFC experiment folders in the IMI UI format (protocol §6-§7). One job per experiment
# writes results/experiments/{experiment}/ (structure.json, trials.csv, task_<k>/, instructions/)
# and, next to it as the UI expects, the practice folder results/experiments/demo_{experiment}/.


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

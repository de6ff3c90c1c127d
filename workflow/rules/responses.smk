# Responses: payloads (simulated participants, local UI, the released IMI data) parsed, checked
# (protocol §8.2) and merged into results/responses/{responses.parquet, exclusions.csv,
# participants.csv, summary.json}. Each experiment is parsed into its own Parquet file; the merge
# concatenates them, so new payloads of one experiment rerun only its parsing and the merge.
# Local payloads (results/responses/raw/{experiment}/local/*.json) are not made by any rule: an
# input function lists the folder when the DAG is built, so a new file changes the job's input set
# and Snakemake reruns that experiment's parsing (rerun trigger `input`) and the merge.


include: "functions/responses.smk"


localrules:
    fetch_imi_responses,
    merge_responses,


rule simulate_participants:
    input:
        experiment=paths.experiment_dir(),
        observer=paths.observer_trials(),
    output:
        payloads=directory(paths.raw_payloads(source="simulated")),
        participants=paths.simulated_participants(),
    log:
        "logs/simulate_participants/{experiment}.log",
    benchmark:
        "benchmarks/simulate_participants/{experiment}.tsv"
    wildcard_constraints:
        experiment=pattern_of(EXPERIMENT_NAMES),
    conda:
        "../../envs/analysis.yaml"
    params:
        experiment="{experiment}",
        simulation=config_slice("simulation", drop=("alpha",)),
        alpha=param_simulation_alpha,
        checks=config_slice("responses", "checks"),
        code_version=3,
    script:
        "../scripts/simulate_participants.py"


rule parse_responses:
    input:
        experiment=paths.experiment_dir(),
        simulated=input_simulated_payloads,
        simulated_participants=input_simulated_participants,
        local=input_local_payloads,
    output:
        responses=paths.parsed_responses(),
        report=paths.parsed_report(),
    log:
        "logs/parse_responses/{experiment}.log",
    benchmark:
        "benchmarks/parse_responses/{experiment}.tsv"
    wildcard_constraints:
        experiment=pattern_of(EXPERIMENT_NAMES),
    conda:
        "../../envs/analysis.yaml"
    params:
        experiment=param_experiment,
        sources=PAYLOAD_SOURCES,
        checks=config_slice("responses", "checks"),
        code_version=4,
    script:
        "../scripts/parse_responses.py"


rule fetch_imi_responses:
    input:
        input_imi_copy,
    output:
        archive=paths.imi_archive(),
    log:
        "logs/fetch_imi_responses/fetch.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        imi=config_slice("responses", "imi"),
    script:
        "../scripts/fetch_imi_responses.py"


rule parse_imi_responses:
    input:
        archive=paths.imi_archive(),
    output:
        responses=paths.parsed_imi("parquet"),
        report=paths.parsed_imi("json"),
    log:
        "logs/parse_imi_responses/parse.log",
    benchmark:
        "benchmarks/parse_imi_responses/parse.tsv"
    conda:
        "../../envs/analysis.yaml"
    params:
        member=config_slice("responses", "imi", "member"),
        code_version=3,
    script:
        "../scripts/parse_imi_responses.py"


rule merge_responses:
    input:
        responses=input_merged_responses,
        reports=input_merged_reports,
    output:
        responses=paths.responses(),
        exclusions=paths.exclusions(),
        participants=paths.participants(),
        summary=paths.responses_summary(),
        released=[paths.released_responses(t) for t in ("all", "main", "lower_quality")],
    log:
        "logs/merge_responses/merge.log",
    benchmark:
        "benchmarks/merge_responses/merge.tsv"
    conda:
        "../../envs/analysis.yaml"
    params:
        code_version=3,
    script:
        "../scripts/merge_responses.py"

# Responses: payloads (simulated participants, local UI, the released IMI data) parsed, checked
# (protocol §8.2) and merged into results/responses/{responses.parquet, exclusions.csv,
# participants.csv, summary.json}. Each experiment is parsed into its own Parquet file; the merge
# concatenates them, so new payloads of one experiment rerun only its parsing and the merge.
# Local payloads (results/responses/raw/{experiment}/local/*.json) are not made by any rule: an
# input function lists the folder when the DAG is built, so a new file changes the job's input set
# and Snakemake reruns that experiment's parsing (rerun trigger `input`) and the merge.
from unitpsych import paths
from unitpsych.responses import list_payload_files

RESPONSE_SOURCES = list(config["responses"]["sources"])


localrules:
    fetch_imi_responses,
    merge_responses,


def get_simulation_config(wildcards=None) -> dict:
    """The simulation slice of the config."""
    return dict(config["simulation"])


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


rule simulate_participants:
    input:
        experiment="results/experiments/{experiment}",
        observer=paths.observer_trials(),
    output:
        payloads=directory(paths.raw_payloads(source="simulated")),
        participants=paths.simulated_participants(),
    log:
        "logs/simulate_participants/{experiment}.log",
    benchmark:
        "benchmarks/simulate_participants/{experiment}.tsv"
    wildcard_constraints:
        experiment=get_experiment_pattern(),
    conda:
        "../../envs/analysis.yaml"
    params:
        experiment="{experiment}",
        simulation=get_simulation_config,
        checks=get_check_thresholds,
        code_version=1,
    script:
        "../scripts/simulate_participants.py"


rule parse_responses:
    input:
        experiment="results/experiments/{experiment}",
        simulated=get_simulated_payloads,
        simulated_participants=get_simulated_participants,
        local=get_local_payloads,
    output:
        responses=paths.parsed_responses(),
        report=paths.parsed_report(),
    log:
        "logs/parse_responses/{experiment}.log",
    benchmark:
        "benchmarks/parse_responses/{experiment}.tsv"
    wildcard_constraints:
        experiment=get_experiment_pattern(),
    conda:
        "../../envs/analysis.yaml"
    params:
        experiment=get_experiment_config,
        sources=get_payload_sources,
        checks=get_check_thresholds,
        code_version=1,
    script:
        "../scripts/parse_responses.py"


rule fetch_imi_responses:
    input:
        get_imi_copy,
    output:
        archive=paths.imi_archive(),
    log:
        "logs/fetch_imi_responses/fetch.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        imi=get_imi_config,
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
        member=get_imi_member,
        code_version=1,
    script:
        "../scripts/parse_imi_responses.py"


rule merge_responses:
    input:
        responses=get_merged_responses,
        reports=get_merged_reports,
    output:
        responses=paths.responses(),
        exclusions=paths.exclusions(),
        participants=paths.participants(),
        summary=paths.responses_summary(),
    log:
        "logs/merge_responses/merge.log",
    benchmark:
        "benchmarks/merge_responses/merge.tsv"
    conda:
        "../../envs/analysis.yaml"
    params:
        code_version=1,
    script:
        "../scripts/merge_responses.py"

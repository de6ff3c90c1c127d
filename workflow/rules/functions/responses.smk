# Input functions (input_<what>) and param functions (param_<what>) of responses.smk, with the
# helpers they share; included at the top of responses.smk.
from unitpsych.responses import list_payload_files, participant_alpha

PAYLOAD_SOURCES = [s for s in RESPONSE_SOURCES if s != "imi"]  # parsed per experiment


def input_simulated_payloads(wildcards) -> list[str]:
    """The experiment's simulated payload folder when simulated participants are a source."""
    if "simulated" not in RESPONSE_SOURCES:
        return []
    return [paths.raw_payloads(wildcards.experiment, "simulated")]


def input_simulated_participants(wildcards) -> list[str]:
    """The experiment's simulated participant list when simulated participants are a source."""
    if "simulated" not in RESPONSE_SOURCES:
        return []
    return [paths.simulated_participants(wildcards.experiment)]


def input_local_payloads(wildcards) -> list[str]:
    """Every file in the experiment's local payload folder (none when it does not exist)."""
    if "local" not in RESPONSE_SOURCES:
        return []
    folder = paths.raw_payloads(wildcards.experiment, "local")
    return [str(p) for p in list_payload_files(folder)]


def input_imi_copy(wildcards=None) -> list[str]:
    """The user's copy of human_responses.zip, if configured."""
    return optional(config["responses"]["imi"].get("path"))


def parsed_experiments() -> list[str]:
    """Experiments to parse: all with simulated participants, else those with local payloads."""
    if "simulated" in RESPONSE_SOURCES:
        return EXPERIMENT_NAMES
    if "local" in RESPONSE_SOURCES:
        local = paths.raw_payloads
        return [n for n in EXPERIMENT_NAMES if list_payload_files(local(n, "local"))]
    return []


def merge_input(kind: str) -> list[str]:
    """The parsed responses (kind "parquet") or reports ("json") of every source."""
    pattern = paths.parsed_responses if kind == "parquet" else paths.parsed_report
    files = [pattern(name) for name in parsed_experiments()]
    if "imi" in RESPONSE_SOURCES:
        files.append(paths.parsed_imi(kind))
    return files


def input_merged_responses(wildcards=None) -> list[str]:
    """Parsed responses of every experiment and source."""
    return merge_input("parquet")


def input_merged_reports(wildcards=None) -> list[str]:
    """Parse reports of every experiment and source."""
    return merge_input("json")


def param_simulation_alpha(wildcards) -> dict:
    """The simulated participants' α for this experiment's backend, the backend and the key."""
    backend = param_experiment_backend(wildcards)["name"]
    alpha, source = participant_alpha(config["simulation"], OBSERVER, backend)
    return {"alpha": alpha, "backend": backend, "source": source}

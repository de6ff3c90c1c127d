# Stage 3b: feature visualisations (synthetic condition) per (model, unit) with the diversity
# search, for models with `synthetic: true`, and a per-model summary table.


localrules:
    summarize_featureviz,


SYNTHETIC_MODELS = [m for m in MODELS if config["models"][m].get("synthetic", True)]


def get_synthetic_model_pattern() -> str:
    """Wildcard pattern matching only the models with a synthetic condition."""
    if not SYNTHETIC_MODELS:
        return "(?!)"  # matches nothing
    return "|".join(map(re.escape, SYNTHETIC_MODELS))


def get_featureviz_config(wildcards=None) -> dict:
    """The featureviz slice of the config."""
    return dict(config["featureviz"])


def get_model_visualizations(wildcards) -> list[str]:
    """The feature-visualisation folder of every unit of one model (after sample_units)."""
    from unitpsych.units import read_units

    units = read_units(checkpoints.sample_units.get(model=wildcards.model).output.json)
    return expand(
        "results/{model}/stimuli/{unit}/synthetic", model=wildcards.model, unit=units
    )


def get_all_visualizations(wildcards=None) -> list[str]:
    """The feature-visualisation summary of every synthetic model; it needs every unit's FVs.

    Per-model aggregates (not per-unit folders) keep the checkpoint out of the top-level targets,
    so a dry run plans every stage before any unit is sampled.
    """
    return expand("results/{model}/featureviz_summary.csv", model=SYNTHETIC_MODELS)


rule visualize_unit:
    input:
        h5="results/{model}/activations.h5",
    output:
        folder=directory("results/{model}/stimuli/{unit}/synthetic"),
    log:
        "logs/visualize_unit/{model}/{unit}.log",
    benchmark:
        "benchmarks/visualize_unit/{model}/{unit}.tsv"
    wildcard_constraints:
        model=get_synthetic_model_pattern(),
    group:
        "stimuli"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        gpu=1,
        mem_mb=16000,
        runtime=24 * 60,
    params:
        model=get_model_config,
        featureviz=get_featureviz_config,
        seed=config["seed"],
        code_version=1,
    script:
        "../scripts/visualize_unit.py"


rule summarize_featureviz:
    input:
        folders=get_model_visualizations,
    output:
        csv="results/{model}/featureviz_summary.csv",
    log:
        "logs/summarize_featureviz/{model}.log",
    wildcard_constraints:
        model=get_synthetic_model_pattern(),
    conda:
        "../../envs/analysis.yaml"
    params:
        code_version=1,
    script:
        "../scripts/summarize_featureviz.py"

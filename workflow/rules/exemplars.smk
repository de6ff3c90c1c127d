# Stage 3a: natural exemplars per (model, unit, difficulty) and a preview sheet per unit.
# Many tiny CPU jobs: they share the group "stimuli" so a cluster profile can bundle them.


def get_model_difficulties(model: str) -> list[str]:
    """`easy` plus every difficulty an experiment of this model uses, in config order."""
    used = {"easy"}
    for exp in config["experiments"]["list"]:
        if exp["model"] == model:
            used.add(exp.get("difficulty", "easy"))
    return [d for d in DIFFICULTIES if d in used]


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
    return expand(
        "results/{model}/stimuli/{unit}/natural_{difficulty}",
        model=wildcards.model,
        unit=wildcards.unit,
        difficulty=get_model_difficulties(wildcards.model),
    )


def get_preview_synthetic_input(wildcards) -> list[str]:
    """The unit's feature-visualisation folder when its model has the synthetic condition."""
    if not config["models"][wildcards.model].get("synthetic", True):
        return []
    return [f"results/{wildcards.model}/stimuli/{wildcards.unit}/synthetic"]


def get_model_units(model: str) -> list[str]:
    """The sampled units of a model (waits for the sample_units checkpoint)."""
    from unitpsych.units import read_units

    return read_units(checkpoints.sample_units.get(model=model).output.json)


def get_all_stimuli(wildcards=None) -> list[str]:
    """Every natural-exemplar folder and preview sheet of every unit of every model.

    The preview sheets depend on the synthetic folders (for models with `synthetic: true`), so
    asking for them builds the feature visualisations too.
    """
    targets = []
    for model in MODELS:
        units = get_model_units(model)
        targets += expand(
            "results/{model}/stimuli/{unit}/natural_{difficulty}",
            model=model,
            unit=units,
            difficulty=get_model_difficulties(model),
        )
        targets += expand(
            "results/{model}/stimuli/{unit}/preview.png", model=model, unit=units
        )
    return targets


rule extract_exemplars:
    input:
        h5="results/{model}/activations.h5",
    output:
        folder=directory("results/{model}/stimuli/{unit}/natural_{difficulty}"),
    log:
        "logs/extract_exemplars/{model}/{unit}_{difficulty}.log",
    benchmark:
        "benchmarks/extract_exemplars/{model}/{unit}_{difficulty}.tsv"
    group:
        "stimuli"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        exemplars=get_exemplars_params,
        code_version=1,
    script:
        "../scripts/extract_exemplars.py"


rule preview_unit:
    input:
        natural=get_preview_natural_input,
        synthetic=get_preview_synthetic_input,
    output:
        png="results/{model}/stimuli/{unit}/preview.png",
    log:
        "logs/preview_unit/{model}/{unit}.log",
    group:
        "stimuli"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        difficulties=get_preview_difficulties,
        code_version=1,
    script:
        "../scripts/preview_unit.py"

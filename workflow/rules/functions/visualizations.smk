# Input functions (input_<what>) and param functions (param_<what>) of visualizations.smk, with the
# helpers they share; included at the top of visualizations.smk.

# speed only: the script reads these from the config, so they are never params (units_per_job
# reaches the job through its group's unit list)
SPEED_KEYS = ("batch_images", "units_per_job")


def fv_groups(model: str) -> dict[str, list[str]]:
    """Group -> units of a model's feature visualisations (waits for the sample_units checkpoint)."""
    from unitpsych.visualizations.groups import read_unit_groups

    csv = checkpoints.sample_units.get(model=model).output.csv
    return read_unit_groups(csv, config["visualizations"]["units_per_job"])


def input_visualizations(wildcards) -> list[str]:
    """The feature-visualisation folder of every unit of one model (after sample_units)."""
    return [
        paths.synthetic_dir(wildcards.model, u) for u in model_units(wildcards.model)
    ]


def input_unit_fv_group(wildcards) -> list[str]:
    """The folder of the group whose job visualises this unit."""
    from unitpsych.visualizations.groups import group_of

    group = group_of(fv_groups(wildcards.model), wildcards.unit)
    return [paths.fv_group_dir(wildcards.model, group)]


def param_fv_group_units(wildcards) -> list[str]:
    """The units of one group, in depth order (a changed group reruns its job)."""
    groups = fv_groups(wildcards.model)
    if wildcards.fv_group not in groups:
        raise ValueError(
            f"{wildcards.model} has no feature-visualisation group {wildcards.fv_group!r} "
            f"(groups: {', '.join(groups)})"
        )
    return groups[wildcards.fv_group]

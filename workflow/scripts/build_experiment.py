"""Build one 2-AFC experiment folder and its practice folder in the IMI UI format (protocol
§6–§7)."""

from pathlib import Path

import pandas as pd

from unitpsych.experiments import (
    Experiment,
    Settings,
    check_experiment_folder,
    plan_experiment,
    write_experiment,
)
from unitpsych.io import log_stream, setup_logging
from unitpsych.units import read_units
from unitpsych.visualizations import failed_units


def main(snakemake) -> None:
    """Select units, plan balanced tasks, and write task folders, structure.json, trials.csv,
    pages."""
    log = setup_logging(snakemake.log[0])
    from tqdm import tqdm

    cfg = snakemake.params.experiment
    exp = Experiment(cfg["model"], cfg["condition"], cfg["difficulty"])
    if exp.name != cfg["name"]:
        raise ValueError(f"experiment config {cfg} is named {exp.name!r}, not {cfg['name']!r}")
    settings = Settings.from_config(snakemake.params.settings, snakemake.params.exemplars)
    results_dir = Path(snakemake.input.units).parents[1]  # paths.units_json: <results>/<model>/
    summary = list(getattr(snakemake.input, "featureviz", []))  # synthetic experiments only
    left_out = failed_units(pd.read_csv(summary[0])) if summary else {}
    plan = plan_experiment(exp, read_units(snakemake.input.units), settings, results_dir, left_out)
    sel = plan.selection
    if summary:
        log.info(
            "%s: %d of %d units left out (feature visualisations failed the success test; "
            "units.csv says why): %s",
            exp.name,
            len(sel.left_out),
            len(sel.pool),
            ", ".join(u for u, _ in sel.left_out) or "none",
        )
    if sel.shrunk:
        log.warning("%s: %s", exp.name, sel.shrunk)
    settings = plan.settings
    log.info(
        "%s: %d units in %d tasks × (%d + %d catch) trials, %d repetitions; catch units %s; "
        "practice units %s",
        exp.name,
        len(plan.selection.units),
        settings.n_tasks,
        settings.n_trials,
        settings.n_catch_trials,
        settings.repetitions,
        ", ".join(plan.selection.catch_units),
        ", ".join(plan.selection.practice_units),
    )
    stream = log_stream(snakemake.log[0])
    try:
        with tqdm(total=settings.n_tasks, file=stream, mininterval=5, desc=exp.name) as progress:
            report = write_experiment(
                plan,
                results_dir,
                Path(snakemake.output.folder),
                Path(snakemake.output.demo),
                instruction_pages=snakemake.params.instructions,
                progress=progress,
            )
    finally:
        stream.close()
    counts = check_experiment_folder(
        Path(snakemake.output.folder), Path(snakemake.output.demo), exp.condition
    )
    log.info("checked against what the experiment UI reads: %s", counts)
    log.info(
        "wrote %d tasks, %d trials, %d practice trials (%d files, %d stimuli resampled to the UI's "
        "size, %d copied instead of linked); instruction pages: %s",
        report.n_tasks,
        report.n_trials,
        report.n_demo_trials,
        report.n_files,
        report.n_resampled,
        report.n_copies,
        snakemake.params.instructions,
    )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821

"""Build one 2-AFC experiment folder and its practice folder in the IMI UI format (protocol
§6–§7)."""

from pathlib import Path

import pandas as pd

from unitpsych.experiments import (
    Settings,
    check_experiment_folder,
    experiment_of,
    log_build,
    log_plan,
    plan_experiment,
    write_experiment,
)
from unitpsych.io import log_stream, setup_logging
from unitpsych.units import read_units
from unitpsych.visualizations import failed_units


def main(snakemake) -> None:
    """Select units, plan balanced tasks, and write task folders, structure.json, trials.csv,
    pages."""
    setup_logging(snakemake.log[0])
    from tqdm import tqdm

    p, out = snakemake.params, snakemake.output
    exp = experiment_of(p.experiment)
    settings = Settings.from_config(p.settings, p.exemplars)
    results_dir = Path(snakemake.input.units).parents[1]  # paths.units_json: <results>/<model>/
    summary = list(getattr(snakemake.input, "featureviz", []))  # synthetic experiments only
    left_out = failed_units(pd.read_csv(summary[0])) if summary else {}
    plan = plan_experiment(exp, read_units(snakemake.input.units), settings, results_dir, left_out)
    log_plan(plan, fv_checked=bool(summary))
    with log_stream(snakemake.log[0]) as stream:
        with tqdm(total=plan.settings.n_tasks, file=stream, mininterval=5, desc=exp.name) as bar:
            folders = (results_dir, Path(out.folder), Path(out.demo))
            report = write_experiment(plan, *folders, p.instructions, progress=bar)
    checked = check_experiment_folder(Path(out.folder), Path(out.demo), exp.condition)
    log_build(report, checked, p.instructions)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821

"""Simulated participants answer one experiment's tasks and write the payloads the experiment UI
posts."""

import json
from pathlib import Path

import pandas as pd

from unitpsych import paths
from unitpsych.io import atomic_dir, atomic_path, setup_logging
from unitpsych.responses import simulate_experiment, trials_with_d


def main(snakemake) -> None:
    """Join trials.csv to the observer's d, simulate every participant, write one file each."""
    log = setup_logging(snakemake.log[0])
    experiment = snakemake.params.experiment
    trials = pd.read_csv(Path(snakemake.input.experiment) / "trials.csv")
    observer = pd.read_csv(snakemake.input.observer)
    table = trials_with_d(trials, observer)
    alpha = snakemake.params.alpha
    log.info(
        "%s: p = lapse/2 + (1 - lapse)·σ(α·d) with α = %.4g for backend %s (%s)",
        experiment,
        alpha["alpha"],
        alpha["backend"],
        alpha["source"],
    )
    people = simulate_experiment(
        experiment, table, snakemake.params.simulation, snakemake.params.checks, alpha["alpha"]
    )
    with atomic_dir(snakemake.output.payloads) as folder:
        for person, payload in people:
            name = Path(
                paths.payload_file(experiment, "simulated", person.participant, person.task)
            ).name
            (folder / name).write_text(json.dumps(payload) + "\n", encoding="utf-8")
    manifest = pd.DataFrame(
        [
            {
                "participant_id": p.participant,
                "experiment": p.experiment,
                "task_number": p.task,
                "kind": p.kind,
                "intended_check": p.intended_check,
                "alpha": alpha["alpha"],
                "backend": alpha["backend"],
            }
            for p, _ in people
        ]
    )
    with atomic_path(snakemake.output.participants) as tmp:
        manifest.to_csv(tmp, index=False)
    log.info(
        "%s: %d simulated participants (%s)",
        experiment,
        len(people),
        manifest["kind"].value_counts().to_dict(),
    )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821

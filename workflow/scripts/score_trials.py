"""Answer every trial of one experiment with the machine observer: d and p per trial (rule
score_trials)."""

import logging

import pandas as pd

from unitpsych.io import atomic_path, setup_logging
from unitpsych.models import job_device
from unitpsych.observer import (
    TRIAL_COLUMNS,
    EmbeddingCache,
    embed_files,
    load_backend,
    resolve_alpha,
    score_trials,
    with_alpha,
)

WHY = (
    "per-trial observer files use only an α given in config, so that simulated participants "
    "can read them; the fitted α is in alpha.json and mis.csv"
)


def main(snakemake) -> None:
    """Score trials.csv on the shown images and write the observer's per-trial table."""
    setup_logging(snakemake.log[0])
    log = logging.getLogger("unitpsych")
    backend_cfg = snakemake.params.backend
    cache = EmbeddingCache(snakemake.input.embeddings)
    trials = pd.read_csv(f"{snakemake.input.folder}/trials.csv", keep_default_na=False)
    state = {}

    def embed(files):  # feature visualisations and other stimuli outside the image set
        if "backend" not in state:
            device = job_device(snakemake.threads)
            state["backend"] = load_backend(backend_cfg["name"], device, backend_cfg["weights"])
        return embed_files(state["backend"], files, snakemake.params.exemplars["image_size"])

    table = score_trials(trials, cache, embed, snakemake.input.folder, snakemake.input.demo)
    alpha = resolve_alpha(backend_cfg["name"], snakemake.params.alpha, [], why=WHY)
    table = with_alpha(table, backend_cfg["name"], alpha["alpha"], alpha["alpha_source"])
    log.info(
        "%s: %d trials, observer accuracy mean(d > 0) = %.3f on regular trials",
        snakemake.wildcards.experiment,
        len(table),
        (table["d"][~trials["catch_trial"].astype(str).eq("True")] > 0).mean(),
    )
    with atomic_path(snakemake.output.csv) as tmp:
        table[TRIAL_COLUMNS].to_csv(tmp, index=False)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821

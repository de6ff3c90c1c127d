"""Draw the MIS tasks of every unit of one model and compute their decision variable d (rule
sample_mis_tasks)."""

import logging

from unitpsych.activations import read_activations
from unitpsych.io import atomic_path, setup_logging
from unitpsych.observer import EmbeddingCache, mis_tasks


def main(snakemake) -> None:
    """N tasks per unit from the activation quantiles, d from the cached embeddings (α-free)."""
    setup_logging(snakemake.log[0])
    log = logging.getLogger("unitpsych")
    acts, units, images = read_activations(snakemake.input.h5)
    cache = EmbeddingCache(snakemake.input.embeddings)
    mis = snakemake.params.mis
    tasks = mis_tasks(
        acts,
        units,
        images,
        cache,
        snakemake.wildcards.model,
        snakemake.params.seed,
        mis["n_tasks"],
        mis["n_references"],
        mis["quantile"],
    )
    scored = tasks[tasks["excluded"] == ""]
    log.info(
        "%s with %s: %d units, %d tasks, %d units kept out; accuracy mean(d > 0) = %.3f",
        snakemake.wildcards.model,
        cache.backend,
        len(units),
        len(scored),
        tasks["unit"].nunique() - scored["unit"].nunique(),
        (scored["d"] > 0).mean(),
    )
    with atomic_path(snakemake.output.csv) as tmp:
        tasks.to_csv(tmp, index=False)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821

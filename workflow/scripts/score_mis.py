"""MIS per unit of one model from its sampled tasks and the backend's α (rule score_mis)."""

import logging

import pandas as pd

from unitpsych.io import atomic_path, read_json, setup_logging
from unitpsych.observer import mis_table


def main(snakemake) -> None:
    """Mean σ(α·d) and the α-free accuracy per unit, with the α used and its origin."""
    setup_logging(snakemake.log[0])
    log = logging.getLogger("unitpsych")
    tasks = pd.read_csv(
        snakemake.input.tasks, keep_default_na=False, na_values=[""], dtype={"excluded": str}
    )
    tasks["excluded"] = tasks["excluded"].fillna("")
    alpha = read_json(snakemake.input.alpha)
    table = mis_table(
        tasks, snakemake.wildcards.model, alpha["backend"], alpha["alpha"], alpha["alpha_source"]
    )
    kept = table[table["excluded"] == ""]
    log.info(
        "%s: %d units scored (%s), mean score %.3f; α = %s (%s)",
        snakemake.wildcards.model,
        len(kept),
        kept["score_kind"].iloc[0] if len(kept) else "-",
        kept["score"].mean(),
        alpha["alpha"],
        alpha["alpha_source"],
    )
    with atomic_path(snakemake.output.csv) as tmp:
        table.to_csv(tmp, index=False)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821

"""The machine interpretability score of every unit of one model, per backend (rule mis_all)."""

import logging

import pandas as pd
from tqdm import tqdm

from unitpsych.io import atomic_path, log_stream, setup_logging
from unitpsych.observer import (
    EmbeddingCache,
    TaskFile,
    given_alpha_source,
    mis_all_table,
    score_every_unit,
)


def main(snakemake) -> None:
    """Draw and score the MIS tasks of every channel with each backend; one Parquet table."""
    setup_logging(snakemake.log[0])
    log = logging.getLogger("unitpsych")
    model, mis = snakemake.params.model["name"], snakemake.params.mis
    backends = snakemake.params.backends
    embeddings = list(snakemake.input.embeddings)
    tables = []
    tasks = TaskFile.read(snakemake.input.h5)
    drawn = {k: tasks.attrs[k] for k in ("n_tasks", "n_references", "quantile", "seed")}
    if drawn != {
        **{k: mis[k] for k in ("n_tasks", "n_references", "quantile")},
        "seed": snakemake.params.seed,
    }:
        raise ValueError(
            f"{snakemake.input.h5} was drawn with {drawn}, not the config's "
            "observer.n_tasks/n_references/quantile and seed"
        )
    units = tasks.units
    with log_stream(snakemake.log[0]) as progress:
        for backend, emb in zip(backends, embeddings, strict=True):
            cache = EmbeddingCache(emb)
            if cache.backend != backend["name"]:
                raise ValueError(f"{emb} holds backend {cache.backend!r}, not {backend['name']!r}")
            bar = tqdm(
                total=len(units),
                file=progress,
                mininterval=5,
                desc=f"MIS {model} by {backend['name']}",
            )
            scores = score_every_unit(
                tasks.top,
                tasks.bottom,
                tasks.excluded,
                units,
                tasks.images,
                cache,
                memory_mb=snakemake.params.memory_mb,
                progress=bar.update,
            )
            bar.close()
            table = mis_all_table(
                scores,
                model,
                backend["name"],
                backend["alpha"],
                given_alpha_source(backend["alpha"]),
                backend["scores_itself"],
            )
            kept = table[table["excluded"] == ""]
            log.info(
                "%s by %s%s: %d units in %d layers, %d constant, %d kept out; mean %s %.3f",
                model,
                backend["name"],
                " (scores itself)" if backend["scores_itself"] else "",
                len(table),
                table["layer"].nunique(),
                int(table["constant"].sum()),
                len(table) - len(kept),
                kept["score_kind"].iloc[0] if len(kept) else "score",
                kept["score"].mean(),
            )
            tables.append(table)
    with atomic_path(snakemake.output.parquet) as tmp:
        pd.concat(tables, ignore_index=True).to_parquet(tmp, index=False)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821

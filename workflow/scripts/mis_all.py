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

log = logging.getLogger("unitpsych")


def read_tasks(path: str, mis: dict, seed: int) -> TaskFile:
    """The every-unit task file, checked to be drawn with the config's counts and seed."""
    tasks = TaskFile.read(path)
    drawn = {k: tasks.attrs[k] for k in ("n_tasks", "n_references", "quantile", "seed")}
    wanted = {**{k: mis[k] for k in ("n_tasks", "n_references", "quantile")}, "seed": seed}
    if drawn != wanted:
        raise ValueError(
            f"{path} was drawn with {drawn}, not the config's "
            "observer.n_tasks/n_references/quantile and seed"
        )
    return tasks


def score_backend(tasks: TaskFile, model: str, backend: dict, emb: str, memory_mb, progress):
    """One backend's table of every unit's MIS."""
    cache = EmbeddingCache(emb)
    if cache.backend != backend["name"]:
        raise ValueError(f"{emb} holds backend {cache.backend!r}, not {backend['name']!r}")
    desc = f"MIS {model} by {backend['name']}"
    bar = tqdm(total=len(tasks.units), file=progress, mininterval=5, desc=desc)
    scores = score_every_unit(
        tasks.top,
        tasks.bottom,
        tasks.excluded,
        tasks.units,
        tasks.images,
        cache,
        memory_mb=memory_mb,
        progress=bar.update,
    )
    bar.close()
    alpha = backend["alpha"]
    return mis_all_table(
        scores, model, backend["name"], alpha, given_alpha_source(alpha), backend["scores_itself"]
    )


def log_table(table: pd.DataFrame, model: str, backend: dict) -> None:
    """One log line: units, layers, constant and kept-out units, the mean score."""
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


def main(snakemake) -> None:
    """Draw and score the MIS tasks of every channel with each backend; one Parquet table."""
    setup_logging(snakemake.log[0])
    model = snakemake.params.model["name"]
    tasks = read_tasks(snakemake.input.h5, snakemake.params.mis, snakemake.params.seed)
    tables = []
    with log_stream(snakemake.log[0]) as progress:
        backends = zip(snakemake.params.backends, list(snakemake.input.embeddings), strict=True)
        for backend, emb in backends:
            table = score_backend(tasks, model, backend, emb, snakemake.params.memory_mb, progress)
            log_table(table, model, backend)
            tables.append(table)
    with atomic_path(snakemake.output.parquet) as tmp:
        pd.concat(tables, ignore_index=True).to_parquet(tmp, index=False)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821

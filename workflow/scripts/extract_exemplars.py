"""Natural exemplars of one unit at one difficulty: 20 batches of references and queries (protocol §4)."""

from unitpsych.exemplars import extract_unit_exemplars
from unitpsych.io import atomic_dir, log_stream, setup_logging, write_json


def main(snakemake) -> None:
    """Select the unit's references and queries from the activation cache and save them as PNGs."""
    log = setup_logging(snakemake.log[0])
    from tqdm import tqdm

    cfg = snakemake.params.exemplars
    model, unit = snakemake.wildcards.model, snakemake.wildcards.unit
    difficulty = snakemake.wildcards.difficulty
    stream = log_stream(snakemake.log[0])
    try:
        with atomic_dir(snakemake.output.folder) as tmp:
            table, windows = extract_unit_exemplars(
                snakemake.input.h5,
                model,
                unit,
                tmp,
                quantile=cfg["quantile"],
                n_batches=cfg["n_batches"],
                n_references=cfg["n_references"],
                seed=cfg["seed"],
                resize=cfg["resize"],
                size=cfg["image_size"],
                progress=lambda items, total: tqdm(
                    items, total=total, file=stream, mininterval=5, desc=f"{unit} {difficulty}"
                ),
            )
            write_json(
                tmp / "natural.json",
                {
                    "model": model,
                    "unit": unit,
                    "difficulty": difficulty,
                    "quantile": cfg["quantile"],
                    "n_images": windows.n_images,
                    "n_batches": windows.n_batches,
                    "n_references": windows.n_references,
                    "start_min": windows.start_min,
                    "stop_max": windows.stop_max,
                    "min_query_ranks": [windows.min_queries[0], windows.min_queries[-1]],
                    "max_query_ranks": [windows.max_queries[0], windows.max_queries[-1]],
                    "seed": cfg["seed"],
                    "window_inside_references": windows.collapsed(cfg["quantile"]),
                },
            )
    finally:
        stream.close()
    log.info(
        "saved %d exemplars of %s (%s) to %s", len(table), unit, difficulty, snakemake.output.folder
    )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821

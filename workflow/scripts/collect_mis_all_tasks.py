"""Every channel of every layer of interest: its MIS tasks, drawn from quantile sets kept while
streaming once over the image set (rule collect_mis_all_tasks)."""

import pandas as pd

from unitpsych.activations import ImagePass
from unitpsych.images import loader_workers
from unitpsych.io import log_stream, setup_logging
from unitpsych.models import load_job_model
from unitpsych.observer import collect_mis_all_tasks


def main(snakemake) -> None:
    """Load the model, hook all its layers of interest, write mis_all_tasks.h5."""
    log = setup_logging(snakemake.log[0])
    cfg, images, mis = snakemake.params.model, snakemake.params.images, snakemake.params.mis
    table = pd.read_csv(snakemake.input.images, keep_default_na=False)
    model = load_job_model(cfg, snakemake.threads, snakemake.params.seed)
    speed = snakemake.config["images"]  # worker count and block size: speed only, not params
    image_pass = ImagePass(
        batch_size=cfg.get("batch_size") or images["batch_size"],
        num_workers=loader_workers(speed, snakemake.threads),
        block_size=speed["block_size"],
    )
    with log_stream(snakemake.log[0]) as progress:
        done = collect_mis_all_tasks(
            model,
            images["root"],
            list(table["path"]),
            snakemake.output.h5,
            snakemake.params.seed,
            mis["n_tasks"],
            mis["n_references"],
            mis["quantile"],
            snakemake.params.max_images,
            image_pass,
            progress=progress,
        )
    log.info(
        "%s: tasks of %d channels (%d kept out) from quantile sets of %d of %d images "
        "(%d of the image set, %d unreadable)",
        cfg["name"],
        done["n_units"],
        done["n_excluded"],
        done["set_size"],
        done["n_images"],
        done["n_image_set"],
        done["n_unreadable"],
    )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821

"""Check a model's top-1 accuracy on the labelled set against the expected value (rule
check_accuracy)."""

import logging

from unitpsych.accuracy import (
    AccuracyResult,
    check,
    expected_accuracy,
    imagenet_head,
    labelled_set,
    top1_accuracy,
)
from unitpsych.images import loader_workers
from unitpsych.io import log_stream, setup_logging, write_json
from unitpsych.models import load_job_model


def main(snakemake) -> None:
    """Measure top-1, write accuracy.json when it is within the tolerance, else fail naming both."""
    setup_logging(snakemake.log[0])
    log = logging.getLogger("unitpsych")
    cfg, acc = snakemake.params.model, snakemake.params.accuracy
    images = snakemake.config["images"]  # batch size and workers: speed only, not params
    model = load_job_model(cfg, snakemake.threads, snakemake.params.seed)
    table = labelled_set(acc["root"], acc.get("labels"))
    log.info(
        "%s on %s: %d labelled images under %s", cfg["name"], model.device, len(table), acc["root"]
    )
    with log_stream(snakemake.log[0]) as progress:
        top1, unreadable = top1_accuracy(
            model,
            acc["root"],
            table,
            imagenet_head(model, acc.get("lucid_synsets")),
            batch_size=cfg.get("batch_size") or images["batch_size"],
            num_workers=loader_workers(images, snakemake.threads),
            progress=progress,
        )
    result = AccuracyResult(
        cfg["name"],
        cfg["arch"],
        top1,
        expected_accuracy(cfg),
        acc["tolerance"],
        len(table) - unreadable,
        unreadable,
    )
    log.info("accuracy: %s", result.as_dict())
    if result.expected is None:
        log.warning("%s has no expected accuracy (registry or config); not checked", cfg["name"])
    check(result)
    write_json(snakemake.output.json, result.as_dict())


if __name__ == "__main__":
    main(snakemake)  # noqa: F821

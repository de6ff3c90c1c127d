"""Feature visualisations of one unit with the diversity search (rule visualize_unit, protocol
§5)."""

import logging

import torch

from unitpsych.activations import read_unit_activations
from unitpsych.io import atomic_dir, derive_seed, log_stream, setup_logging
from unitpsych.models import load_job_model
from unitpsych.visualizations import FVSettings, save_unit_fv, visualize_unit


def main(snakemake) -> None:
    """Read the unit's dataset extremes, optimise its FVs, write {min,max}_{i}.png and fv.json."""
    setup_logging(snakemake.log[0])
    log = logging.getLogger("unitpsych")
    cfg = snakemake.params.model
    unit = snakemake.wildcards.unit
    if not cfg.get("synthetic", True):
        raise ValueError(
            f"model {cfg['name']!r} has synthetic: false; it gets no feature visualisations"
        )
    settings = FVSettings.from_config(snakemake.params.visualizations)
    batch_images = snakemake.config["visualizations"]["batch_images"]  # not a param: speed only
    values, _ = read_unit_activations(snakemake.input.h5, unit)
    dataset_min, dataset_max = float(values.min()), float(values.max())
    # as the authors: deterministic cuDNN (some CUDA backward kernels still add atomically, so GPU
    # results can differ in the last bits between runs; CPU results are reproducible)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    model = load_job_model(cfg, snakemake.threads, snakemake.params.seed)
    device = model.device.type
    seed = derive_seed(settings.seed, unit)
    log.info(
        "%s %s on %s: dataset range [%.4g, %.4g], seed %d, %d images a batch",
        cfg["name"],
        unit,
        device,
        dataset_min,
        dataset_max,
        seed,
        batch_images,
    )
    with log_stream(snakemake.log[0]) as progress:
        fv = visualize_unit(
            model, unit, dataset_min, dataset_max, settings, seed, batch_images, progress
        )
    if device == "cuda":
        log.info("peak GPU memory %.2f GiB", torch.cuda.max_memory_allocated() / 2**30)
    with atomic_dir(snakemake.output.folder) as tmp:
        save_unit_fv(fv, tmp)
    log.info(
        "%s: success=%s (%s); alpha min=%s max=%s",
        unit,
        fv.success,
        fv.reason,
        fv.sides["min"].alpha,
        fv.sides["max"].alpha,
    )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821

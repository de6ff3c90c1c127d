"""Feature visualisations of one group of units with the diversity search, optimised together
(rule visualize_units, protocol §5)."""

import logging

import torch

from unitpsych.activations import read_unit_activations
from unitpsych.io import atomic_dir, derive_seed, log_stream, setup_logging
from unitpsych.models import load_job_model
from unitpsych.paths import unit_in
from unitpsych.visualizations import FVSettings, UnitTarget, save_unit_fv, visualize_units


def unit_targets(h5: str, units: list[str], seed: int) -> list[UnitTarget]:
    """Each unit's dataset extremes (from the activation cache) and its own seed."""
    targets = []
    for unit in units:
        values, _ = read_unit_activations(h5, unit)
        targets.append(
            UnitTarget(unit, float(values.min()), float(values.max()), derive_seed(seed, unit))
        )
    return targets


def main(snakemake) -> None:
    """Optimise the group's units together; write <group>/<unit>/{min,max}_{i}.png and fv.json."""
    setup_logging(snakemake.log[0])
    log = logging.getLogger("unitpsych")
    cfg = snakemake.params.model
    if not cfg.get("synthetic", True):
        raise ValueError(
            f"model {cfg['name']!r} has synthetic: false; it gets no feature visualisations"
        )
    settings = FVSettings.from_config(snakemake.params.visualizations)
    batch_images = snakemake.config["visualizations"]["batch_images"]  # not a param: speed only
    targets = unit_targets(snakemake.input.h5, list(snakemake.params.units), settings.seed)
    # as the authors: deterministic cuDNN (some CUDA backward kernels still add atomically, so GPU
    # results can differ in the last bits between runs; CPU results are reproducible)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    model = load_job_model(cfg, snakemake.threads, snakemake.params.seed)
    log.info(
        "%s on %s: %d units together, %d images a unit's batch: %s",
        cfg["name"],
        model.device.type,
        len(targets),
        batch_images,
        ", ".join(f"{t.unit} [{t.dataset_min:.4g}, {t.dataset_max:.4g}]" for t in targets),
    )
    with log_stream(snakemake.log[0]) as progress:
        fvs = visualize_units(model, targets, settings, batch_images, len(targets), progress)
    if model.device.type == "cuda":
        log.info("peak GPU memory %.2f GiB", torch.cuda.max_memory_allocated() / 2**30)
    with atomic_dir(snakemake.output.folder) as tmp:
        for fv in fvs:
            save_unit_fv(fv, unit_in(str(tmp), fv.unit))
            log.info(
                "%s: success=%s (%s); alpha min=%s max=%s",
                fv.unit,
                fv.success,
                fv.reason,
                fv.sides["min"].alpha,
                fv.sides["max"].alpha,
            )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821

"""Sample a model's units, or take them from a list or another model (checkpoint sample_units)."""

import logging

from unitpsych.io import atomic_path, setup_logging, write_json
from unitpsych.models import load_model
from unitpsych.units import check_units, convert_shared_units, read_units, sample_units, units_table


def main(snakemake) -> None:
    """Write units.json ({"units": [...]}) and units.csv; needs the architecture only, no
    weights."""
    setup_logging(snakemake.log[0])
    log = logging.getLogger("unitpsych")
    cfg = snakemake.params.model
    ucfg = cfg["units"]
    model = load_model(cfg["name"], dict(cfg, weights="random"))  # architecture only
    sizes = model.layer_sizes()
    if snakemake.input.shared:
        units = convert_shared_units(read_units(snakemake.input.shared[0]), model.is_clip)
        log.info("sharing %d units with %s", len(units), ucfg["share_with"])
    elif snakemake.input.given:
        units = read_units(snakemake.input.given[0])
        log.info("taking %d units from %s", len(units), snakemake.input.given[0])
    else:
        units = sample_units(model.layers, sizes, ucfg["n"], ucfg["seed"], tuple(ucfg["blacklist"]))
        log.info(
            "sampled %d units from %d layers (seed %d)", len(units), len(model.layers), ucfg["seed"]
        )
    check_units(units, model.layers, sizes, cfg["name"])
    with atomic_path(snakemake.output.csv) as tmp:
        units_table(units, model.layers, sizes).to_csv(tmp, index=False)
    write_json(snakemake.output.json, {"units": units})


if __name__ == "__main__":
    main(snakemake)  # noqa: F821

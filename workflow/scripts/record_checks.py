"""Record the check thresholds (config `responses.checks`) beside the experiment folders, so the
experiment server applies the thresholds of the config that built them (docs/server.md)."""

from unitpsych.io import setup_logging, write_json


def main(snakemake) -> None:
    """Write the thresholds as JSON."""
    log = setup_logging(snakemake.log[0])
    checks = dict(snakemake.params.checks)
    write_json(snakemake.output[0], dict(sorted(checks.items())))
    log.info("check thresholds for the experiment server: %s", checks)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821

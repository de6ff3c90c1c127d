"""Download every configured model's and observer backend's pretrained weights into the weights
cache and write its manifest (rule weights, a local rule: it needs the internet)."""

import logging
import os

from unitpsych.models import weights as W


def main(snakemake) -> None:
    """Fetch with the hubs online (set before any hub library is imported), record SHA-256s."""
    cache = snakemake.params.cache
    os.environ.update(W.job_environment(cache, offline=False))
    from unitpsych.io import setup_logging, write_json
    from unitpsych.models.fetch import model_loaders
    from unitpsych.observer.weights import backend_loaders

    setup_logging(snakemake.log[0])
    log = logging.getLogger("unitpsych")
    found = model_loaders(snakemake.params.models)
    found |= backend_loaders(snakemake.params.backends, log)
    write_json(snakemake.output.manifest, W.fetch(cache, found, log))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821

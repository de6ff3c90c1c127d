"""The experiment server's start-up: clean up after killed writes and move unusable payload files
aside (quarantine), so a bad file never keeps the server down and nothing is deleted."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from pathlib import Path

from unitpsych import paths
from unitpsych.io import stale_temporaries
from unitpsych.responses.schema import RejectedFile, short, validate_payload

log = logging.getLogger("unitpsych.server")


def _under(responses_dir: Path, layout: str) -> Path:
    """A paths.py layout (relative to results/responses/raw) under the server's responses
    folder."""
    raw_root = Path(paths.raw_payloads("", "", root=""))
    return responses_dir / Path(layout).relative_to(raw_root)


def payload_folder(responses_dir: Path, experiment: str, source: str) -> Path:
    """The folder of one experiment's payloads of one source."""
    return _under(responses_dir, paths.raw_payloads(experiment, source, root=""))


def quarantine(file: Path, responses_dir: Path, experiment: str, source: str, reason: str) -> Path:
    """Move an unusable payload file aside (never overwriting), log where and why."""
    target = _under(responses_dir, paths.quarantined_payload(experiment, source, file.name, ""))
    if target.exists():
        target = target.with_name(f"{target.name}.{time.strftime('%Y%m%dT%H%M%S')}")
    target.parent.mkdir(parents=True, exist_ok=True)
    file.replace(target)
    log.error("moved unusable payload %s to quarantine %s: %s", file, target, short(reason, 300))
    return target


def sweep(responses_dir: Path, experiments: Iterable[str], source: str) -> list[str]:
    """Remove temporary files of killed writes; quarantine payload files that the response stage
    would reject. Returns the names of the quarantined files."""
    moved = []
    for experiment in experiments:
        folder = payload_folder(responses_dir, experiment, source)
        for tmp in stale_temporaries(folder):
            tmp.unlink()
            log.warning("removed %s, the temporary file of a write that did not finish", tmp)
        files = sorted(folder.glob("*.json")) if folder.is_dir() else []
        for file in (f for f in files if not f.name.startswith(".")):
            try:
                validate_payload(file.read_bytes())
            except RejectedFile as err:
                quarantine(file, responses_dir, experiment, source, str(err))
                moved.append(file.name)
    return moved

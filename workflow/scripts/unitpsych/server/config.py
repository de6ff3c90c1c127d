"""The experiment server's settings (config `server` slice), the page's files and the
experiments."""

from __future__ import annotations

import logging
import os
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unitpsych import ui_layout
from unitpsych.server.guards import NAME

log = logging.getLogger("unitpsych.server")

REPO = Path(__file__).resolve().parents[4]
UI_DIR = REPO / "workflow" / "ui"
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
INSTRUCTION_PAGE = ui_layout.INSTRUCTION_PAGE

#: Files of the page: URL name -> path under workflow/ui (libraries from node_modules).
PAGE_FILES = {
    "style.css": "style.css",
    "task.js": "task.js",
    "plugin-2afc-image-confidence-response.js": "plugin-2afc-image-confidence-response.js",
    "lib/jspsych.js": "node_modules/jspsych/dist/index.browser.min.js",
    "lib/jspsych.css": "node_modules/jspsych/css/jspsych.css",
    "lib/seedrandom.js": "node_modules/seedrandom/seedrandom.min.js",
    **{
        f"lib/plugin-{name}.js": f"node_modules/@jspsych/plugin-{name}/dist/index.browser.min.js"
        for name in (
            "browser-check",
            "preload",
            "instructions",
            "fullscreen",
            "call-function",
            "survey-text",
            "html-keyboard-response",
        )
    },
}


@dataclass(frozen=True)
class Settings:
    """The server's settings: the config's `server` and `responses.checks` slices plus the
    folders."""

    experiments_dir: Path
    responses_dir: Path
    state: Path
    experiments: tuple[str, ...]
    completion_url: str | None
    status_token: str
    reservation_minutes: float
    max_payload_bytes: int
    body_timeout_s: float
    max_open_per_address: int
    rate_window_s: float
    rate_requests: int
    rate_file_requests: int
    thresholds: Mapping[str, Any]
    browser_dir: Path | None = None  # the unit browser's folder, served at /browser/ if built

    @classmethod
    def from_config(
        cls,
        server: Mapping[str, Any],
        checks: Mapping[str, Any],
        experiments_dir: str | Path,
        responses_dir: str | Path,
    ) -> Settings:
        """Settings from schema-validated config slices (the schema fills every default)."""
        token = server["status_token"] or os.environ.get("UNITPSYCH_STATUS_TOKEN")
        if not token:
            token = secrets.token_urlsafe(16)
            log.warning("status token (no server.status_token set): %s", token)
        rate = server["rate_limit"]
        return cls(
            experiments_dir=Path(experiments_dir),
            responses_dir=Path(responses_dir),
            state=Path(server["state"]),
            experiments=tuple(server["experiments"]),
            completion_url=server["completion_url"],
            status_token=token,
            reservation_minutes=float(server["reservation_minutes"]),
            max_payload_bytes=int(server["max_payload_bytes"]),
            body_timeout_s=float(server["body_timeout_s"]),
            max_open_per_address=int(server["max_open_per_address"]),
            rate_window_s=float(rate["window_s"]),
            rate_requests=int(rate["requests"]),
            rate_file_requests=int(rate["file_requests"]),
            thresholds=dict(checks),
        )


def load_config(configfile: str | Path | None = None) -> dict[str, Any]:
    """A config (a YAML file, or empty) validated against the schema, which fills every default."""
    import yaml
    from snakemake.utils import validate

    config = yaml.safe_load(Path(configfile).read_text()) if configfile else {}
    validate(config, str(SCHEMA))
    return config


# Experiments


def task_numbers(folder: Path) -> list[int]:
    """The task numbers k of an experiment folder (task_<k>/index.json), ascending."""
    numbers = []
    for index in folder.glob(f"{ui_layout.TASK_PREFIX}*/{ui_layout.INDEX}"):
        k = ui_layout.task_number(index.parent.name)
        if k is not None:
            numbers.append(k)
    return sorted(numbers)


def find_experiments(root: Path, names: Sequence[str] = ()) -> dict[str, list[int]]:
    """Experiments to hand out ({name: task numbers}): the given names, or every complete folder."""
    if not root.is_dir():
        raise FileNotFoundError(
            f"experiments folder {root} does not exist (build it: snakemake experiments)"
        )
    if not names:
        names = sorted(
            p.name
            for p in root.iterdir()
            if p.is_dir() and not ui_layout.is_demo_folder(p.name) and task_numbers(p)
        )
    found = {}
    for name in names:
        if not re.fullmatch(NAME, name):
            raise ValueError(f"server.experiments: {name!r} is not an experiment name")
        tasks = task_numbers(root / name)
        if not tasks:
            raise FileNotFoundError(
                f"experiment {name!r}: no task_<k>/index.json under {root / name}"
            )
        demo = root / ui_layout.demo_folder(name)
        if not (demo / ui_layout.INDEX).is_file():
            raise FileNotFoundError(f"experiment {name!r}: practice folder {demo} is missing")
        found[name] = tasks
    if not found:
        raise FileNotFoundError(f"no experiment folders (task_<k>/index.json) under {root}")
    return found


def instruction_pages(root: Path, experiment: str) -> list[str]:
    """The instruction pages of an experiment (instructions/<n>.jpg), in page order."""
    folder = root / experiment / ui_layout.INSTRUCTIONS
    pages = (
        [p.name for p in folder.iterdir() if INSTRUCTION_PAGE.match(p.name)]
        if folder.is_dir()
        else []
    )
    return sorted(pages, key=lambda name: int(INSTRUCTION_PAGE.match(name)["n"]))

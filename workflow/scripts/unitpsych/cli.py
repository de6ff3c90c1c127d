"""The `unitpsych` command: `unitpsych serve` runs the experiment server, `unitpsych stages` lists
which sub-package serves which rule file, `unitpsych layers <config> <model>` lists a model's
layers of interest.

`make setup` installs the command into .venv/ (`pip install -e .`); without installing,
`PYTHONPATH=workflow/scripts python -m unitpsych ...` does the same.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence
from pathlib import Path

from unitpsych import RULE_FILES, paths


def add_serve_arguments(serve: argparse.ArgumentParser) -> None:
    """The flags of `unitpsych serve` (flags left out take the config's `server` values)."""
    serve.add_argument(
        "--experiments", default=paths.experiments_dir(), help="the experiments folder"
    )
    serve.add_argument(
        "--responses",
        default=f"{paths.responses_dir()}/raw",
        help="where payloads go (<responses>/<experiment>/local/)",
    )
    serve.add_argument(
        "--configfile", help="a config YAML whose `server` and `responses.checks` to use"
    )
    serve.add_argument(
        "--browser",
        default=str(Path(paths.browser_index()).parent),
        help="the unit browser's folder, served at /browser/ when built (snakemake browser)",
    )
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--state", help="SQLite state file")
    serve.add_argument(
        "--experiment",
        action="append",
        dest="experiment_names",
        help="hand out only this experiment (repeatable)",
    )
    serve.add_argument(
        "--completion-url", help="e.g. https://app.prolific.com/submissions/complete?cc=CODE"
    )
    serve.add_argument("--status-token")
    serve.add_argument("--reservation-minutes", type=float)
    serve.add_argument("--max-payload-bytes", type=int)
    serve.add_argument("--log", help="log file (default: stderr)")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The subcommand and its flags."""
    parser = argparse.ArgumentParser(
        prog="unitpsych", description="Mechanistic interpretability of vision-model units."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    add_serve_arguments(sub.add_parser("serve", help="run the experiment server (protocol §7)"))
    sub.add_parser("stages", help="list the rule files and the sub-package behind each")
    layers = sub.add_parser(
        "layers", help="list a model's layers of interest with channel counts and layouts"
    )
    layers.add_argument("config", help="a config YAML")
    layers.add_argument("model", help="a model name under the config's `models`")
    return parser.parse_args(argv)


def layers(config_path: str, model: str) -> str:
    """The layers of interest of `model` in the config at `config_path` (architecture only: built
    with random weights, nothing downloaded)."""
    import yaml

    from unitpsych.models.card import format_layers
    from unitpsych.models.registry import check_arch, load_model

    with open(config_path) as f:
        models = (yaml.safe_load(f) or {}).get("models") or {}
    if model not in models:
        raise SystemExit(f"{config_path}: no model {model!r} under `models` ({', '.join(models)})")
    cfg = models[model]
    try:
        check_arch(cfg["arch"])
        return format_layers(load_model(model, dict(cfg, weights="random")))
    except ValueError as err:
        raise SystemExit(f"models.{model}: {err}") from None


def stages() -> str:
    """One line per rule file: workflow/rules/<file>.smk -> its sub-package and what it does."""
    lines = []
    for rule_file, package in RULE_FILES.items():
        doc = (importlib.import_module(package).__doc__ or "").split("):", 1)[-1]
        summary = " ".join(doc.split()).split(". ")[0].rstrip(".")
        lines.append(f"workflow/rules/{rule_file}.smk -> {package}: {summary}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """Run a subcommand."""
    args = parse_args(argv)
    if args.command == "serve":
        from unitpsych.server.app import serve

        serve(args)
    elif args.command == "stages":
        print(stages())
    elif args.command == "layers":
        print(layers(args.config, args.model))


if __name__ == "__main__":
    main()

"""The `unitpsych` command: its subcommands parse, and `stages` names each rule file's
sub-package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from unitpsych import RULE_FILES, cli
from unitpsych.cli import parse_args, stages

REPO = Path(__file__).resolve().parents[2]


def test_serve_takes_the_servers_flags():
    args = parse_args(["serve", "--port", "9001", "--experiment", "a", "--experiment", "b"])
    assert args.command == "serve" and args.port == 9001 and args.experiment_names == ["a", "b"]


def test_stages_lists_every_rule_file_with_its_sub_package():
    lines = stages().splitlines()
    assert len(lines) == len(RULE_FILES)
    assert "workflow/rules/visualizations.smk -> unitpsych.visualizations: " in "\n".join(lines)


def test_python_dash_m_runs_the_command():
    proc = subprocess.run(
        [sys.executable, "-m", "unitpsych", "stages"],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(REPO / "workflow" / "scripts"), "PATH": ""},
    )
    assert proc.returncode == 0 and "unitpsych.observer" in proc.stdout, proc.stderr


def test_layers_lists_a_models_layers_of_interest(tmp_path, capsys):
    config = tmp_path / "config.yaml"
    config.write_text(
        "models:\n"
        "  rn: {arch: 'timm:resnet18', layers: {exclude: ['_bn\\d$', downsample]}}\n"
        "  typo: {arch: 'timm:resnet19'}\n"
    )
    cli.main(["layers", str(config), "rn"])  # pretrained in the config: built without weights
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["layer1_0_conv1", "64", "bchw"]
    assert lines[-1] == "16 layers of interest, 3840 units (rn, timm:resnet18)"
    with pytest.raises(SystemExit, match="no model 'nope'.*rn, typo"):
        cli.main(["layers", str(config), "nope"])
    with pytest.raises(SystemExit, match="models.typo: .*did you mean: timm:resnet18"):
        cli.main(["layers", str(config), "typo"])

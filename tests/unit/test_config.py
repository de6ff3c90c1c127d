"""Config: schema defaults and errors naming the key; cross-key checks."""

from __future__ import annotations

import copy

import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from conftest import REPO
from unitpsych.config import ConfigError, check_config, rename_deprecated_keys

SCHEMA = str(REPO / "workflow" / "schemas" / "config.schema.yaml")


def _load(name):
    cfg = yaml.safe_load((REPO / name).read_text())
    validate(cfg, SCHEMA)
    return cfg


@pytest.mark.parametrize(
    "name", ["config/config.yaml", "config/demo.yaml", "tests/data/config.yaml"]
)
def test_shipped_configs_are_valid(name):
    given = yaml.safe_load((REPO / name).read_text())
    cfg = _load(name)
    check_config(cfg)
    # the schema fills in what a config leaves out (the paper's Adam lr 0.05), and keeps what it
    # sets
    lr = given.get("visualizations", {}).get("lr", 0.05)
    assert cfg["exemplars"]["n_batches"] >= 1 and cfg["visualizations"]["lr"] == pytest.approx(lr)


def test_paper_config_has_the_23_experiments_and_nine_models():
    cfg = _load("config/config.yaml")
    assert len(cfg["models"]) == 9 and len(cfg["experiments"]["list"]) == 23
    assert cfg["models"]["resnet50"]["units"] == {
        "n": 100,
        "seed": 42,
        "share_with": None,
        "list": None,
        "blacklist": [],
    }
    assert cfg["experiments"]["n_units"] == 84 and cfg["experiments"]["n_tasks"] == 63


def test_schema_error_names_the_key():
    cfg = yaml.safe_load((REPO / "config/config.yaml").read_text())
    cfg["images"]["batch_size"] = "many"
    with pytest.raises(WorkflowError, match="batch_size"):
        validate(cfg, SCHEMA)
    cfg = yaml.safe_load((REPO / "config/config.yaml").read_text())
    cfg["models"]["resnet50"]["unit"] = {}
    with pytest.raises(WorkflowError, match="unit"):
        validate(cfg, SCHEMA)


@pytest.mark.parametrize(
    "edit, key",
    [
        (lambda c: c["models"]["resnet50"].update(arch="resnet5"), "models.resnet50.arch"),
        (lambda c: c["models"]["resnet50-l2"]["units"].update(share_with="nope"), "share_with"),
        (
            lambda c: c["experiments"]["list"].append({"model": "vgg", "condition": "natural"}),
            r"experiments.list\[23\].model",
        ),
        (
            lambda c: c["experiments"]["list"].append(
                {"model": "in1k-vit_b32", "condition": "synthetic"}
            ),
            "synthetic: false",
        ),
        (
            lambda c: c["experiments"]["list"].append(
                {"model": "resnet50", "condition": "natural", "difficulty": "hard50"}
            ),
            "difficulty",
        ),
        (
            lambda c: c["experiments"]["list"].append(
                {"model": "resnet50", "condition": "natural"}
            ),
            "listed twice",
        ),
    ],
)
def test_cross_key_errors_name_the_key(edit, key):
    cfg = copy.deepcopy(_load("config/config.yaml"))
    edit(cfg)
    with pytest.raises(ConfigError, match=key):
        check_config(cfg)


@pytest.mark.parametrize("name", ["config/config.yaml", "tests/data/config.yaml"])
def test_too_few_feature_visualisations_fail_in_check_config(name):
    """The path the Snakefile takes: validate, then check_config with the whole config."""
    cfg = yaml.safe_load((REPO / name).read_text())
    cfg.setdefault("visualizations", {})["n_images"] = 5
    validate(cfg, SCHEMA)
    with pytest.raises(ConfigError, match=r"visualizations.n_images = 9") as err:
        check_config(cfg)
    assert "5 feature visualisations" in str(err.value)
    cfg["visualizations"]["n_images"] = 9  # what the message asks for passes
    check_config(cfg)


def test_too_few_feature_visualisations_pass_without_synthetic_experiments():
    cfg = yaml.safe_load((REPO / "tests/data/config.yaml").read_text())
    cfg["visualizations"]["n_images"] = 5
    cfg["experiments"]["list"] = [
        e for e in cfg["experiments"]["list"] if e["condition"] == "natural"
    ]
    validate(cfg, SCHEMA)
    check_config(cfg)


def _pins(lines) -> dict[str, str]:
    """`name==version` pins of requirement lines (comments and other lines ignored)."""
    pins = {}
    for line in lines:
        spec = line.split("#")[0].strip().removeprefix("- ").strip()
        if "==" in spec:
            name, version = spec.split("==")
            pins[name.lower()] = version
    return pins


@pytest.mark.parametrize("env", ["envs/torch.yaml", "envs/analysis.yaml"])
def test_conda_environments_pin_the_versions_of_requirements_txt(env):
    wanted = _pins((REPO / "requirements.txt").read_text().splitlines())
    conda = yaml.safe_load((REPO / env).read_text())
    pip = next(d["pip"] for d in conda["dependencies"] if isinstance(d, dict))
    got = _pins(pip)
    assert got, f"{env} pins nothing"
    assert {k: wanted.get(k) for k in got} == got, f"{env} disagrees with requirements.txt"
    if env == "envs/torch.yaml":  # the model rules need everything but the dev tools
        dev = {"pip", "pytest", "pytest-xdist", "ruff", "snakefmt", "httpx", "playwright"}
        assert set(wanted) - dev == set(got)


def test_feature_visualisations_smaller_than_a_models_input_fail_before_any_job():
    """CLIP RN50 crops its feature visualisations to 224 px: 96 px would fail inside the job."""
    cfg = yaml.safe_load((REPO / "config/config.yaml").read_text())
    cfg["visualizations"] = {"param_size": 96, "crop_size": 84}
    validate(cfg, SCHEMA)
    with pytest.raises(ConfigError, match=r"visualizations.param_size: 96 px .* 'clip-resnet50'"):
        check_config(cfg)
    cfg["visualizations"].update(param_size=224, crop_size=196)
    check_config(cfg)


def test_the_old_featureviz_key_still_works_with_a_warning():
    cfg = yaml.safe_load((REPO / "tests/data/config.yaml").read_text())
    cfg["featureviz"] = cfg.pop("visualizations")
    given = copy.deepcopy(cfg["featureviz"])
    warnings = rename_deprecated_keys(cfg)
    assert warnings == ["config key 'featureviz' is deprecated: rename it to 'visualizations'"]
    assert "featureviz" not in cfg and cfg["visualizations"] == given
    validate(cfg, SCHEMA)
    check_config(cfg)
    assert rename_deprecated_keys(cfg) == []  # renamed once: a second pass warns no more
    cfg["featureviz"] = {"n_images": 9}
    with pytest.raises(ConfigError, match="featureviz: the old name of visualizations"):
        rename_deprecated_keys(cfg)

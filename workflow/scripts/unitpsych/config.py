"""Checks across config keys that a JSON schema cannot express; run before any job is planned."""

from __future__ import annotations

from typing import Any

from unitpsych.experiments.design import check_experiment_counts, experiment_name
from unitpsych.models.registry import ARCHS, check_arch, get_spec


class ConfigError(ValueError):
    """A bad config value; the message names the key."""


#: Config keys renamed, old name -> new name (the old name still works, with a warning).
RENAMED_KEYS = {"featureviz": "visualizations"}


def rename_deprecated_keys(config: dict[str, Any]) -> list[str]:
    """Move each top-level key given under its old name to its new name, before validation;
    returns one warning per renamed key (ConfigError when both names are given)."""
    warnings = []
    for old, new in RENAMED_KEYS.items():
        if old not in config:
            continue
        if new in config:
            raise ConfigError(f"{old}: the old name of {new}, which is also given; keep only {new}")
        config[new] = config.pop(old)
        warnings.append(f"config key {old!r} is deprecated: rename it to {new!r}")
    return warnings


def check_config(config: dict[str, Any]) -> None:
    """Raise ConfigError naming the key of the first inconsistent value."""
    models = config["models"]
    for name, cfg in models.items():
        check_model_arch(name, cfg)
        other = cfg.get("units", {}).get("share_with")
        if other is not None:
            if other not in models:
                raise ConfigError(
                    f"models.{name}.units.share_with: {other!r} is not a configured model"
                )
            if other == name or models[other].get("units", {}).get("share_with"):
                raise ConfigError(
                    f"models.{name}.units.share_with: {other!r} must sample its own units (no "
                    "chains)"
                )
    check_visualization_inputs(config)
    difficulties = config["exemplars"]["difficulties"]
    if "easy" not in difficulties:
        raise ConfigError("exemplars.difficulties: must define 'easy'")
    seen: set[str] = set()
    for i, exp in enumerate(config["experiments"]["list"]):
        key = f"experiments.list[{i}]"
        if exp["model"] not in models:
            raise ConfigError(f"{key}.model: {exp['model']!r} is not a configured model")
        difficulty = exp.get("difficulty", "easy")
        if difficulty not in difficulties:
            raise ConfigError(f"{key}.difficulty: {difficulty!r} is not in exemplars.difficulties")
        if exp["condition"] == "synthetic" and not models[exp["model"]].get("synthetic", True):
            raise ConfigError(
                f"{key}.condition: model {exp['model']!r} has synthetic: false, so no synthetic "
                "experiment"
            )
        name = experiment_name(exp["model"], exp["condition"], difficulty)
        if name in seen:
            raise ConfigError(f"{key}: experiment {name!r} is listed twice")
        seen.add(name)
    try:
        check_experiment_counts(
            config["experiments"], models, config["exemplars"], config["visualizations"]
        )
    except ValueError as err:
        raise ConfigError(f"experiments: {err}") from err


def check_model_arch(name: str, cfg: dict[str, Any]) -> None:
    """A preset id or a `<library>:<model>` name the library knows; `layers` only for the
    latter (presets keep their fixed layers)."""
    try:
        check_arch(cfg["arch"])
    except ValueError as err:
        raise ConfigError(f"models.{name}.arch: {err}") from None
    if cfg.get("layers") and cfg["arch"] in ARCHS:
        raise ConfigError(
            f"models.{name}.layers: {cfg['arch']!r} is a preset with fixed layers of interest; "
            "a layer rule applies to `<library>:<model>` architectures only"
        )


def check_visualization_inputs(config: dict[str, Any]) -> None:
    """Feature visualisations must be at least as large as the crop a model takes (CLIP: 224 px);
    otherwise the job would fail after the activation pass, so the config fails first."""
    size = config["visualizations"]["param_size"]
    for name, cfg in config["models"].items():
        crop = get_spec(cfg["arch"]).fv_input_crop if cfg.get("synthetic", True) else None
        if crop and size < crop:
            raise ConfigError(
                f"visualizations.param_size: {size} px is smaller than the {crop} px input of "
                f"model {name!r} ({cfg['arch']}), whose feature visualisations are cropped to "
                f"{crop} px; use param_size >= {crop} or set models.{name}.synthetic: false"
            )

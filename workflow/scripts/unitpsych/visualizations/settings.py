"""The settings of a unit's feature visualisations (config `visualizations`): what the optimisation
(`optimise`), the α search (`search`) and the per-unit loop (`featureviz`) read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from unitpsych.visualizations.search import AlphaSettings


@dataclass(frozen=True)
class PlateauSettings:
    """Gradient-plateau early stop (the authors' RGBGradientNormInterruptCheck)."""

    min_steps: int
    window: int
    ratio: float
    smoothing: float


def _build(cls: type, cfg: Mapping[str, Any], key: str) -> Any:
    """A settings dataclass from its config slice; missing or unknown keys raise ValueError."""
    names = {f.name for f in fields(cls)}
    unknown, missing = set(cfg) - names, names - set(cfg)
    if unknown or missing:
        raise ValueError(
            f"{key}: unknown settings {sorted(unknown)}, missing settings {sorted(missing)}; "
            "validate the config against workflow/schemas/config.schema.yaml, which fills defaults"
        )
    return cls(**cfg)


@dataclass(frozen=True)
class FVSettings:
    """Everything that fixes a unit's feature visualisations (config `visualizations`, speed keys
    aside).

    The schema holds the defaults; `from_config` takes a validated slice.
    """

    n_images: int
    param_size: int
    crop_size: int
    lr: float
    max_steps: int
    plateau: PlateauSettings
    alpha: AlphaSettings
    diversity: bool
    seed: int

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> FVSettings:
        """Build from the validated config slice; unknown, missing or impossible values raise
        ValueError."""
        cfg = dict(cfg)
        plateau = _build(PlateauSettings, cfg.pop("plateau", {}), "visualizations.plateau")
        alpha = _build(AlphaSettings, cfg.pop("alpha", {}), "visualizations.alpha")
        settings = _build(cls, {**cfg, "plateau": plateau, "alpha": alpha}, "visualizations")
        settings.check()
        return settings

    def check(self) -> None:
        """Raise ValueError naming the first impossible value."""
        if self.n_images < 2:
            raise ValueError(
                "visualizations.n_images must be >= 2 (8 diverse + 1 non-diverse in the paper), "
                f"got {self.n_images}"
            )
        if not 0 < self.crop_size <= self.param_size or (self.param_size - self.crop_size) % 2:
            raise ValueError(
                f"visualizations.crop_size ({self.crop_size}) must be <= param_size "
                f"({self.param_size}) "
                "and differ from it by an even number (the crop is central)"
            )
        if self.param_size < 16:
            raise ValueError(f"visualizations.param_size must be >= 16, got {self.param_size}")
        if self.max_steps < 1 or self.lr <= 0:
            raise ValueError(
                f"visualizations.max_steps must be >= 1 and lr > 0, got {self.max_steps}, {self.lr}"
            )
        if self.alpha.factor <= 1 or self.alpha.start <= 0 or self.alpha.bisection_steps < 0:
            raise ValueError(
                "visualizations.alpha needs factor > 1, start > 0, bisection_steps >= 0: "
                f"{self.alpha}"
            )
        if not 0 <= self.plateau.smoothing < 1 or self.plateau.window < 2:
            raise ValueError(
                f"visualizations.plateau needs 0 <= smoothing < 1 and window >= 2: {self.plateau}"
            )

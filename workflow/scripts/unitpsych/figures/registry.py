"""The figures: which exist, what each reads, which experiments it needs, and how to draw one.

This module imports no matplotlib (the workflow reads it when planning); each figure names its
drawing function in `unitpsych.figures.<module>`, imported when the figure is drawn.

Every figure of protocol §8.5 (1–15), the three baselines of §9 and, beyond the paper, the machine
interpretability score (MIS) per model and vs humans. A figure is drawn from the analysis tables
(DataFrames, no file I/O here) by `draw(name, tables, ...)`; `missing_requirement` says in words
which experiments a config lacks for a figure, so the workflow can leave it out of `all` and name
what is missing when it is asked for anyway.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from unitpsych.experiments.design import EASY

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "FIGURES",
    "FigureInputError",
    "FigureSpec",
    "draw",
    "missing_requirement",
    "model_properties",
]

HARD = ("hard99", "hard95", "hard85")
BASELINES = {  # figure name: (unit-statistics column, x label)
    "imi_pixel_sparsity_natural": ("pixel_sparsity", "Pixel Sparsity"),
    "imi_channel_sparsity_natural": ("channel_sparsity", "Channel Sparsity"),
    "imi_local_contrast": ("local_contrast", "Local Contrast"),
}


class FigureInputError(ValueError):
    """The tables hold nothing a figure can show (e.g. no experiment of the needed kind)."""


@dataclass(frozen=True)
class FigureSpec:
    """One figure: its drawing function, the tables it reads and what the config must define.

    `draw` names the function as `<module>.<function>` in unitpsych.figures (`paper`, `extra`,
    `exclusions`, `mis_all`), imported only when the figure is drawn; `kwargs` are its fixed
    arguments.
    """

    name: str
    draw: str
    tables: tuple[str, ...]  # results/tables/<name>.csv (or responses/exclusions.csv), by name
    needs: str  # a key of REQUIREMENTS
    per_model: tuple[str, ...] = ()  # per-model files (unit_statistics, mis), concatenated
    properties: bool = False  # resources/models.csv (top-1 accuracy, mean rank)
    thresholds: bool = False  # the exclusion thresholds (config responses.checks)
    source: str | None = None  # a response source the figure needs (config responses.sources)
    group: str = "Paper (§8.5)"
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    code_version: int = 2  # the figure rule's params.code_version: bump when its drawing changes


def _spec(name, draw, tables, needs, **kw) -> FigureSpec:
    """A FigureSpec; `draw` is `<module>.<function>` or (that, its fixed arguments)."""
    draw, fixed = (draw, {}) if isinstance(draw, str) else draw
    return FigureSpec(name, draw, tuple(tables), needs, kwargs=fixed, **kw)


_BASELINE = "Baselines (§9)"
_BEYOND = "Beyond the paper"
FIGURES: dict[str, FigureSpec] = {
    s.name: s
    for s in [
        _spec("model_comparison", "paper.model_comparison", ["model_scores"], "natural"),
        _spec("comparison_figure_1", "paper.comparison_figure_1", ["model_scores"], "natural"),
        *[
            _spec(
                f"model_comparison_slides_variation_{i}",
                ("paper.model_comparison", dict(reveal=r)),
                ["model_scores"],
                "natural",
            )
            for i, r in ((1, "none"), (2, "first_natural"), (3, "natural"))
        ],
        _spec(
            "model_comparison_rn_easy_vs_hard_natural_and_optimized",
            "paper.difficulty_comparison",
            ["model_scores"],
            "natural_series",
        ),
        _spec(
            "model_comparison_unit_performance",
            "paper.layer_depth",
            ["layer_scores", "model_scores", "spearman"],
            "natural",
        ),
        _spec(
            "model_comparison_unit_performance_natural_vs_synthetic",
            "paper.natural_vs_synthetic",
            ["unit_scores", "spearman"],
            "both",
        ),
        _spec(
            "model_comparison_units_rn_easy_vs_hard",
            "paper.difficulty_units",
            ["unit_scores"],
            "natural_series",
        ),
        _spec(
            "model_comparison_units_rn_easy_vs_hard_gaps",
            "paper.difficulty_gaps",
            ["unit_scores"],
            "natural_series_85_95",
        ),
        _spec(
            "model_comparison_natural_confidence",
            ("paper.confidence_comparison", dict(condition="natural")),
            ["confidence_scores"],
            "natural",
        ),
        _spec(
            "model_comparison_synthetic_confidence",
            ("paper.confidence_comparison", dict(condition="synthetic")),
            ["confidence_scores"],
            "synthetic",
        ),
        _spec(
            "model_comparison_confidence_distribution",
            "paper.confidence_distribution",
            ["confidence_distribution"],
            "any",
        ),
        _spec(
            "model_accuracy_vs_performance",
            "extra.model_accuracy_vs_performance",
            ["model_scores"],
            "top1_accuracy",
            properties=True,
        ),
        _spec(
            "model_human_likeness_vs_performance",
            "extra.model_human_likeness_vs_performance",
            ["model_scores"],
            "mean_rank",
            properties=True,
        ),
        _spec(
            "model_comparison_significance_natural",
            ("extra.significance_matrix", dict(condition="natural")),
            ["conover_holm", "model_scores"],
            "natural_pair",
        ),
        _spec(
            "model_comparison_significance_optimized",
            ("extra.significance_matrix", dict(condition="synthetic")),
            ["conover_holm", "model_scores"],
            "synthetic_pair",
        ),
        _spec(
            "exclusion_criteria_decision_distribution",
            "exclusions.exclusion_decisions",
            ["exclusions"],
            "any",
        ),
        _spec(
            "exclusion_criteria_value_distribution",
            "exclusions.exclusion_values",
            ["exclusions"],
            "any",
            thresholds=True,
        ),
        *[
            _spec(
                name,
                ("extra.unit_baseline", dict(measure=col, xlabel=label)),
                ["unit_scores", "baselines"],
                "natural",
                per_model=("unit_statistics",),
                group=_BASELINE,
            )
            for name, (col, label) in BASELINES.items()
        ],
        _spec(
            "mis_per_model",
            "extra.mis_per_model",
            ["unit_scores"],
            "natural",
            per_model=("mis",),
            group=_BEYOND,
            code_version=3,
        ),
        _spec(
            "mis_vs_human",
            "extra.mis_vs_human",
            ["unit_scores", "baselines"],
            "natural",
            per_model=("mis",),
            group=_BEYOND,
            code_version=3,
        ),
        _spec(
            "mis_all_depth",
            "mis_all.mis_all_depth",
            [],
            "mis_all",
            per_model=("mis_all",),
            properties=True,
            group=_BEYOND,
            code_version=1,
        ),
        _spec(
            "mis_all_models",
            "mis_all.mis_all_models",
            [],
            "mis_all",
            per_model=("mis_all",),
            properties=True,
            group=_BEYOND,
            code_version=1,
        ),
        _spec(
            "reproduction",
            "extra.reproduction",
            ["reproduction"],
            "any",
            source="imi",
            group=_BEYOND,
            code_version=2,
        ),
    ]
}


def _models(experiments: Iterable, condition: str, difficulty: str | None = EASY) -> list[str]:
    """Models (in config order) with an experiment of `condition` at `difficulty` (None: any)."""
    out = [
        e.model
        for e in experiments
        if e.condition == condition and (difficulty is None or e.difficulty == difficulty)
    ]
    return list(dict.fromkeys(out))


def _series(experiments: list, hard: Iterable[str] = HARD) -> list[str]:
    """Models with natural experiments at easy and at one of the `hard` difficulties."""
    hard_models = {
        e.model for e in experiments if e.condition == "natural" and e.difficulty in set(hard)
    }
    return [m for m in _models(experiments, "natural") if m in hard_models]


def _with_property(experiments: list, properties: pd.DataFrame | None, column: str) -> list[str]:
    """Models with a natural easy experiment and a value of `column` in the property table."""
    if properties is None or column not in properties:
        return []
    known = set(properties.dropna(subset=[column])["model"])
    return [m for m in _models(experiments, "natural") if m in known]


REQUIREMENTS: dict[str, tuple[str, Callable[[list, pd.DataFrame | None], bool]]] = {
    "any": ("at least one experiment", lambda e, p: len(e) > 0),
    "natural": (
        "a natural experiment at easy difficulty (e.g. '<model>_natural')",
        lambda e, p: len(_models(e, "natural")) > 0,
    ),
    "synthetic": (
        "a synthetic experiment at easy difficulty (e.g. '<model>_synthetic')",
        lambda e, p: len(_models(e, "synthetic")) > 0,
    ),
    "both": (
        "a model with both '<model>_natural' and '<model>_synthetic'",
        lambda e, p: bool(set(_models(e, "natural")) & set(_models(e, "synthetic"))),
    ),
    "natural_pair": (
        "natural experiments at easy difficulty of at least 2 models",
        lambda e, p: len(_models(e, "natural")) >= 2,
    ),
    "synthetic_pair": (
        "synthetic experiments at easy difficulty of at least 2 models",
        lambda e, p: len(_models(e, "synthetic")) >= 2,
    ),
    "natural_series": (
        "a model with '<model>_natural' and a harder natural experiment "
        "('<model>_hard99_natural', '<model>_hard95_natural' or '<model>_hard85_natural')",
        lambda e, p: len(_series(e)) > 0,
    ),
    "natural_series_85_95": (
        "a model with '<model>_natural' and '<model>_hard85_natural' or '<model>_hard95_natural'",
        lambda e, p: len(_series(e, ("hard85", "hard95"))) > 0,
    ),
    "top1_accuracy": (
        "a model with a natural experiment and a top1_accuracy in resources/models.csv",
        lambda e, p: len(_with_property(e, p, "top1_accuracy")) > 0,
    ),
    "mis_all": ("the every-unit MIS (config mis_all.enabled)", lambda e, p: True),
    "mean_rank": (
        "a model with a natural experiment and a mean_rank in resources/models.csv",
        lambda e, p: len(_with_property(e, p, "mean_rank")) > 0,
    ),
}


def missing_requirement(
    name: str,
    experiments: list,
    properties: pd.DataFrame | None = None,
    sources: Iterable[str] = (),
) -> str | None:
    """None when the config (experiments, response sources) can make figure `name`, else what it
    needs, in words."""
    if name not in FIGURES:
        raise KeyError(f"unknown figure {name!r}; known: {', '.join(FIGURES)}")
    spec = FIGURES[name]
    if spec.source and spec.source not in set(sources):
        return (
            f"figure {name!r} needs the response source {spec.source!r} in "
            f"responses.sources; the config's sources are: {', '.join(sources) or 'none'}"
        )
    text, ok = REQUIREMENTS[spec.needs]
    if ok(list(experiments), properties):
        return None
    have = ", ".join(e.name for e in experiments) or "none"
    return f"figure {name!r} needs {text}; the config's experiments are: {have}"


def figure_models(name: str, experiments: list, models: Iterable[str] = ()) -> list[str]:
    """The models whose per-model files (unit statistics, MIS) a figure reads: those with a natural
    experiment; for the every-unit MIS figures every configured model (`models`)."""
    if "mis_all" in FIGURES[name].per_model:
        return list(models)
    return _models(experiments, "natural") if FIGURES[name].per_model else []


def model_properties(models: Mapping[str, Mapping], table: pd.DataFrame) -> pd.DataFrame:
    """model, top1_accuracy, mean_rank, n_parameters of the configured models
    (resources/models.csv),
    and their label and scale_rank where `models` gives them.

    Looked up by config name, then by `arch`. Untrained models (`weights: random`) get no accuracy
    or rank: the table's numbers belong to the trained checkpoint; the parameter count is the
    architecture's.
    """
    by_id = table.set_index("model")
    rows = []
    for name, info in models.items():
        key = name if name in by_id.index else info.get("arch")
        trained = info.get("weights", "pretrained") != "random"
        row = by_id.loc[key] if trained and key in by_id.index else None
        arch_row = by_id.loc[key] if key in by_id.index else None  # size: trained or not
        rows.append(
            {
                "model": name,
                **{
                    c: (row[c] if row is not None and c in row else float("nan"))
                    for c in ("top1_accuracy", "mean_rank")
                },
                "n_parameters": (
                    arch_row["n_parameters"]
                    if arch_row is not None and "n_parameters" in arch_row
                    else float("nan")
                ),
                **{k: info[k] for k in ("label", "scale_rank") if k in info},
            }
        )
    columns = ["model", "top1_accuracy", "mean_rank", "n_parameters"]
    return pd.DataFrame(rows).reindex(
        columns=columns + [c for c in ("label", "scale_rank") if any(c in r for r in rows)]
    )


def draw(
    name: str,
    tables: Mapping[str, pd.DataFrame],
    properties: pd.DataFrame | None = None,
    thresholds: Mapping[str, Any] | None = None,
) -> Figure:
    """Draw figure `name` from its tables (keyed by table name; per-model files concatenated)."""
    spec = FIGURES[name]
    args: dict[str, Any] = {}
    for t in (*spec.tables, *spec.per_model):
        args[{"confidence_distribution": "distribution", "baselines": "spearman"}.get(t, t)] = (
            tables[t]
        )
    if spec.properties:
        args["properties"] = properties
    if spec.thresholds:
        args["thresholds"] = thresholds or {}
    return drawing_function(name)(**args, **spec.kwargs)


def drawing_function(name: str) -> Callable[..., Figure]:
    """The function that draws figure `name` (imports its drawing module, and matplotlib)."""
    module, function = FIGURES[name].draw.rsplit(".", 1)
    return getattr(importlib.import_module(f"unitpsych.figures.{module}"), function)

"""Figures (rule file figures.smk): which figures exist and what each needs (`registry`, no
matplotlib, read when the workflow is planned) and the drawing code (`base`, `paper`, `extra`,
`exclusions`, `mis_all`), imported only when a figure is drawn."""

from unitpsych.figures.registry import (
    FIGURES,
    FigureInputError,
    FigureSpec,
    draw,
    figure_models,
    missing_requirement,
    model_properties,
)

__all__ = [
    "FIGURES",
    "FigureInputError",
    "FigureSpec",
    "draw",
    "figure_models",
    "missing_requirement",
    "model_properties",
]

"""The analysis tables of the 2-AFC responses (protocol §8.4): names, and all of them in one call.

Every function takes tidy DataFrames and returns a tidy DataFrame; nothing here plots. The data are
the rows of `responses.parquet` that protocol §8.4 analyses: kept (passed every exclusion check),
not practice (`is_demo`), not catch trials, no multi-participation, from the configured sources.

Tables (`results/tables/<name>.csv`) and their columns; `sources` names the response sources a row
used (e.g. `simulated`, `imi+local`), `label`/`scale_rank` come from the config (figures only):

- `unit_scores`: experiment, model, label, scale_rank, condition, difficulty, unit, layer, channel,
  layer_index, relative_depth, n_responses, proportion_correct (mean `correct` of the unit's
  responses), sources.
- `model_scores`: experiment, model, label, scale_rank, condition, difficulty, n_units, n_responses,
  score (unweighted mean of unit scores), ci_low, ci_high (95 % BCa bootstrap over units,
  10,000 resamples, seeded per experiment), sources.
- `confidence_scores`: as model_scores, on the responses given with one confidence (1 = low,
  3 = high; protocol §8.5 item 9), with a `confidence` column.
- `confidence_distribution`: experiment, model, label, scale_rank, condition, difficulty,
  confidence (1, 2, 3), fraction, n_responses (at that confidence), n_total, sources.
- `layer_scores`: experiment, model, label, scale_rank, condition, difficulty, layer, layer_index,
  relative_depth, score (mean of the layer's unit scores), n_units, sources.
- `kruskal_wallis`: condition, difficulty, statistic, p_value, n_models, n_units, models, sources
  (across models on unit scores; one row per condition and difficulty with at least 2 models).
- `conover_holm`: condition, difficulty, model_a, model_b, p_value (Conover post-hoc test on unit
  scores, Holm-adjusted; every ordered pair including the diagonal), sources.
- `spearman`: analysis (layer_depth | natural_vs_synthetic), experiment, model, condition,
  difficulty, x, y, rho, p_value, n, sources, note: the correlations the scores alone give.
- `regression`: term, coef, ci_low, ci_high, p_value, odds_ratio, model_type, scale, n_responses,
  n_models, n_units, n_participants, sources, interpretation (see `scale_regression`).
- `baselines`: the columns of `spearman`, for analysis pixel_sparsity | channel_sparsity |
  local_contrast (protocol §9) | mis_vs_human: correlations with measures of the units, which need
  passes over images (unit statistics, MIS), so a table of their own.

The work is done in `unitpsych.analysis.scores` (selection, unit/layer/model scores, bootstrap),
`unitpsych.analysis.comparisons` (Kruskal–Wallis, Conover–Holm, Spearman) and
`unitpsych.analysis.regression`
(the scale GLM); their public names are re-exported here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from unitpsych.analysis.comparisons import (
    SPEARMAN_COLUMNS,
    STATISTICS,
    baseline_correlations,
    conover_holm,
    kruskal_wallis,
    score_correlations,
    spearman,
    spearman_table,
)
from unitpsych.analysis.regression import (
    REFUTATION,
    REGRESSION_COLUMNS,
    model_scales,
    scale_regression,
)
from unitpsych.analysis.scores import (
    CONFIDENCE_LEVELS,
    EXPERIMENT_KEYS,
    Settings,
    analysis_rows,
    attach_experiments,
    bootstrap_ci,
    confidence_distribution,
    confidence_scores,
    experiment_table,
    layer_scores,
    model_scores,
    unit_scores,
)
from unitpsych.io import derive_seed

__all__ = [
    "CONFIDENCE_LEVELS",
    "EXPERIMENT_KEYS",
    "REFUTATION",
    "REGRESSION_COLUMNS",
    "SCORE_TABLES",
    "SPEARMAN_COLUMNS",
    "STATISTICS",
    "TABLES",
    "Settings",
    "analysis_rows",
    "attach_experiments",
    "baseline_correlations",
    "bootstrap_ci",
    "build_tables",
    "confidence_distribution",
    "confidence_scores",
    "conover_holm",
    "derive_seed",
    "experiment_table",
    "kruskal_wallis",
    "layer_scores",
    "model_scales",
    "model_scores",
    "scale_regression",
    "score_correlations",
    "score_tables",
    "spearman",
    "spearman_table",
    "unit_scores",
]

TABLES = (
    "unit_scores",
    "model_scores",
    "confidence_scores",
    "confidence_distribution",
    "layer_scores",
    "kruskal_wallis",
    "conover_holm",
    "spearman",
    "regression",
    "baselines",
)
#: The tables of the rule analysis_tables: everything that needs only the responses and units.
SCORE_TABLES = tuple(t for t in TABLES if t != "baselines")


def score_tables(
    responses: pd.DataFrame,
    experiments: Iterable[Mapping],
    models: Mapping[str, Mapping],
    settings: Settings,
    units: Mapping[str, pd.DataFrame] | None = None,
    model_table: pd.DataFrame | None = None,
) -> dict[str, pd.DataFrame]:
    """Every table except `baselines` (name -> DataFrame) from the response table and units.csv."""
    units = dict(units or {})
    exps = experiment_table(experiments, models)
    rows = attach_experiments(analysis_rows(responses, settings.sources), exps)
    per_unit = unit_scores(rows, units)
    tables = {
        "unit_scores": per_unit,
        "model_scores": model_scores(per_unit, settings),
        "confidence_scores": confidence_scores(rows, settings),
        "confidence_distribution": confidence_distribution(rows),
        "layer_scores": layer_scores(per_unit),
        "kruskal_wallis": kruskal_wallis(per_unit),
        "conover_holm": conover_holm(per_unit),
    }
    tables["spearman"] = score_correlations(per_unit, tables["layer_scores"])
    if model_table is not None:
        scales = model_scales(models, model_table, settings.regression_scale)
        tables["regression"] = scale_regression(
            rows, units, scales, settings.regression_scale, settings.regression_cluster
        )
    else:
        tables["regression"] = pd.DataFrame(columns=REGRESSION_COLUMNS)
    return tables


def build_tables(
    *inputs: Any,
    unit_statistics: Mapping[str, pd.DataFrame] | None = None,
    mis: Mapping[str, pd.DataFrame | None] | None = None,
    **score_inputs: Any,
) -> dict[str, pd.DataFrame]:
    """Every analysis table, `baselines` included (the two rules' work in one call).

    `inputs` and `score_inputs` are score_tables' arguments (responses, experiments, models,
    settings, units, model_table).
    """
    tables = score_tables(*inputs, **score_inputs)
    tables["baselines"] = baseline_correlations(tables["unit_scores"], unit_statistics, mis)
    return tables

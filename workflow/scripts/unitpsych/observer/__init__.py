"""The machine observer (rule file observer.smk): similarity backends, the embedding cache, the
decision rule on our trials, α, and the machine interpretability score (MIS) of the sampled units
and of every unit (`mis_all_tasks`: the streamed quantile sets of every channel)."""

from unitpsych.observer.embeddings import EmbeddingCache, embed_files, embed_image_set
from unitpsych.observer.mis import (
    collect_mis_all_tasks,
    given_alpha_source,
    mis_all_table,
    mis_table,
    mis_tasks,
    score_every_unit,
)
from unitpsych.observer.mis_all_tasks import TaskFile
from unitpsych.observer.scoring import (
    TRIAL_COLUMNS,
    backend_of,
    backend_weights,
    check_observer_config,
    human_sources,
    mis_all_backends,
    resolve_alpha,
    score_trials,
    scores_itself,
    with_alpha,
)
from unitpsych.observer.similarity import backend_slug, load_backend

__all__ = [
    "TRIAL_COLUMNS",
    "EmbeddingCache",
    "TaskFile",
    "backend_of",
    "backend_slug",
    "backend_weights",
    "check_observer_config",
    "collect_mis_all_tasks",
    "embed_files",
    "embed_image_set",
    "given_alpha_source",
    "human_sources",
    "load_backend",
    "mis_all_backends",
    "mis_all_table",
    "mis_table",
    "mis_tasks",
    "resolve_alpha",
    "score_every_unit",
    "score_trials",
    "scores_itself",
    "with_alpha",
]

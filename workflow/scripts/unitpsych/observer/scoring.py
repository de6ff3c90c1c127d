"""The machine observer: its config, the MIS decision rule, our own trials scored, and α.

Decision rule for one 2-AFC trial (Zimmermann, Klindt & Brendel, NeurIPS 2024, §3): for a query
q, Δ(q) = mean similarity to the max references − mean similarity to the min references; the
trial's decision variable is d = Δ(max query) − Δ(min query), and the observer is correct with
p = σ(α·d). The machine interpretability score (MIS) of a unit is the mean p over N tasks drawn
from the unit's top and bottom activation quantiles (K references per side,
`unitpsych.observer.mis`);
mean(d > 0) is the α-free accuracy.

α scales one backend's similarity differences, so it belongs to the backend. It is fitted by
maximum likelihood to human responses where there are any; else a value given in the config is
used (the paper's 0.16 fits DreamSim); else there is no α and the α-free accuracy is the score.

Embeddings (`unitpsych.observer.embeddings`): every image of the image set once per backend; natural
exemplars are looked up there by their source image, and stimuli outside the image set (feature
visualisations) are embedded from the files shown.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from unitpsych import ui_layout
from unitpsych.observer.embeddings import EmbeddingCache
from unitpsych.observer.similarity import COSINE, NEG_SQEUCLIDEAN, parse_backend

log = logging.getLogger("unitpsych.observer")

HUMAN_SOURCES = ("imi", "local")
SIDES = ("min", "max")
TRIAL_COLUMNS = ["task", "trial", "unit", "d", "p_correct", "backend", "alpha", "alpha_source"]
MIN_FIT_RESPONSES = 20

# --------------------------------------------------------------------------- config


def backend_of(observer_cfg: Mapping[str, Any], model: str) -> str:
    """The backend that scores `model` (its override, else `observer.backend`)."""
    return observer_cfg.get("backend_overrides", {}).get(model) or observer_cfg["backend"]


def backend_weights(observer_cfg: Mapping[str, Any], backend: str) -> str | None:
    """A local weights file/folder for `backend` (keyed by the backend or by its kind), or None."""
    weights = observer_cfg.get("weights", {})
    return weights.get(backend) or weights.get(parse_backend(backend).kind)


def human_sources(config: Mapping[str, Any]) -> list[str]:
    """The configured response sources with human participants (imi, local)."""
    sources = config.get("responses", {}).get("sources", [])
    names = sources if isinstance(sources, list) else list(sources)
    names = [s if isinstance(s, str) else s.get("name", "") for s in names]
    return [s for s in names if s in HUMAN_SOURCES]


def scores_itself(
    observer_cfg: Mapping[str, Any], backend: str, model_cfg: Mapping[str, Any]
) -> bool:
    """Whether `backend` is the model itself: features of the same architecture and weights."""
    spec = parse_backend(backend)
    same_weights = str(model_cfg.get("weights", "pretrained")) == (
        backend_weights(observer_cfg, backend) or "pretrained"
    )
    return spec.kind == "features" and spec.arch == model_cfg["arch"] and same_weights


def mis_all_backends(observer_cfg: Mapping[str, Any], mis_all_cfg: Mapping[str, Any]) -> list[str]:
    """The backends that score every unit of every model (`mis_all.backends`, else
    `observer.backend`)."""
    return list(dict.fromkeys(mis_all_cfg.get("backends") or [observer_cfg["backend"]]))


def check_observer_config(config: Mapping[str, Any]) -> None:
    """Raise ConfigError naming the observer key whose value is bad (before any job runs)."""
    from unitpsych.config import ConfigError

    obs, models = config["observer"], config["models"]
    keys = (
        {"observer.backend": obs["backend"]}
        | {
            f"observer.backend_overrides.{m}": b
            for m, b in obs.get("backend_overrides", {}).items()
        }
        | {
            f"mis_all.backends[{i}]": b
            for i, b in enumerate(config.get("mis_all", {}).get("backends") or [])
        }
    )
    for key, name in keys.items():
        try:
            parse_backend(name)
        except ValueError as err:
            raise ConfigError(f"{key}: {err}") from None
    for model in obs.get("backend_overrides", {}):
        if model not in models:
            raise ConfigError(f"observer.backend_overrides.{model}: not a configured model")
    for model, cfg in models.items():
        name = backend_of(obs, model)
        if scores_itself(obs, name, cfg):
            key = (
                f"observer.backend_overrides.{model}"
                if model in obs.get("backend_overrides", {})
                else "observer.backend"
            )
            raise ConfigError(
                f"{key}: backend {name!r} is model {model!r} itself (same architecture and "
                f"weights); an observer must not score a model with its own features. Choose "
                f"another backend, e.g. observer.backend_overrides.{model}: "
                "'features:<another arch>'"
            )


# --------------------------------------------------------------------------- decision rule


Similarity = str | Callable[[np.ndarray, np.ndarray], np.ndarray]


def similarity(q: np.ndarray, refs: np.ndarray, kind: Similarity) -> np.ndarray:
    """Similarity of queries (..., D) to references (..., K, D) -> (..., K).

    `kind` names the backend's similarity, or is a function of (queries, references) that looks it
    up (e.g. in a precomputed matrix of image ids: queries (...), references (..., K)).
    """
    if callable(kind):
        return kind(q, refs)
    if kind == COSINE:  # embeddings are L2-normalised
        return np.einsum("...d,...kd->...k", q, refs)
    if kind == NEG_SQEUCLIDEAN:
        return -((q[..., None, :] - refs) ** 2).sum(-1)
    raise ValueError(f"unknown similarity kind {kind!r}")


def similarity_matrix(a: np.ndarray, b: np.ndarray, kind: str) -> np.ndarray:
    """Similarity of every row of a (M, D) to every row of b (M', D) -> (M, M'), by matrix
    products."""
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if kind == COSINE:  # embeddings are L2-normalised
        return a64 @ b64.T
    if kind == NEG_SQEUCLIDEAN:
        return 2 * a64 @ b64.T - (a64**2).sum(1)[:, None] - (b64**2).sum(1)[None, :]
    raise ValueError(f"unknown similarity kind {kind!r}")


def delta(
    q: np.ndarray, max_refs: np.ndarray, min_refs: np.ndarray, kind: Similarity
) -> np.ndarray:
    """Δ(q) = mean similarity to the max references − mean similarity to the min references."""
    return similarity(q, max_refs, kind).mean(-1) - similarity(q, min_refs, kind).mean(-1)


def decision_variable(
    max_query: np.ndarray,
    min_query: np.ndarray,
    max_refs: np.ndarray,
    min_refs: np.ndarray,
    kind: Similarity,
) -> np.ndarray:
    """d = Δ(max query) − Δ(min query); the observer picks the max query when d > 0."""
    return delta(max_query, max_refs, min_refs, kind) - delta(min_query, max_refs, min_refs, kind)


def p_correct(d: np.ndarray, alpha: float | None) -> np.ndarray:
    """σ(α·d), or NaN where there is no α."""
    d = np.asarray(d, dtype=float)
    return np.full_like(d, np.nan) if alpha is None else 0.5 * (1 + np.tanh(alpha * d / 2))


# --------------------------------------------------------------------------- our own trials


def trial_roles(n_references: int) -> list[str]:
    """Columns of trials.csv naming each shown image: queries, then references per side."""
    refs = [f"{s}_reference_{j}" for s in SIDES for j in range(n_references)]
    return ["min_query", "max_query", *refs]


def shown_file(exp_dir: Path, demo_dir: Path, task: int, trial: int, role: str) -> Path:
    """The file the UI shows for one role of one trial (task 0 = the practice folder)."""
    base = demo_dir if task == 0 else exp_dir / ui_layout.task_folder(task)
    folder = base / ui_layout.trial_folder(trial)
    if role.endswith("_query"):
        return folder / ui_layout.query_file(role.split("_")[0])
    side, _, j = role.split("_")
    return folder / ui_layout.reference_file(side, int(j))


def n_references_of(trials: pd.DataFrame) -> int:
    """References per side in a trials table."""
    return sum(1 for c in trials.columns if c.startswith("max_reference_"))


def score_trials(
    trials: pd.DataFrame,
    cache: EmbeddingCache,
    embed: Callable[[list[Path]], np.ndarray],
    exp_dir: str | Path,
    demo_dir: str | Path,
) -> pd.DataFrame:
    """d for every trial (practice, catch, regular) on exactly the images shown.

    Image-set stimuli (natural exemplars) come from the cache by source path; the others (feature
    visualisations) are embedded by `embed` from the shown files, each distinct source once.
    """
    k = n_references_of(trials)
    roles = trial_roles(k)
    sources = trials[roles].astype(str).to_numpy()  # (T, 2 + 2K)
    outside = sorted({s for s in sources.ravel() if s not in cache})
    files: dict[str, Path] = {}
    for t, row in enumerate(trials.itertuples(index=False)):
        for r, role in enumerate(roles):
            s = sources[t, r]
            if s not in cache and s not in files:
                files[s] = shown_file(
                    Path(exp_dir), Path(demo_dir), int(row.task), int(row.trial), role
                )
    extra = embed([files[s] for s in outside]) if outside else None
    dim = cache.shape[1]
    emb = np.zeros(sources.shape + (dim,), np.float32)
    in_set = np.vectorize(lambda s: s in cache)(sources)
    emb[in_set] = cache.lookup(list(sources[in_set]))
    if extra is not None:
        pos = {s: i for i, s in enumerate(outside)}
        emb[~in_set] = extra[[pos[s] for s in sources[~in_set]]]
    d = decision_variable(
        emb[:, 1], emb[:, 0], emb[:, 2 + k :], emb[:, 2 : 2 + k], cache.similarity
    )
    log.info(
        "%d trials scored: %d images from the cache, %d stimulus files embedded",
        len(trials),
        len(set(sources[in_set])),
        len(outside),
    )
    return pd.DataFrame(
        {
            "task": trials["task"].to_numpy(),
            "trial": trials["trial"].to_numpy(),
            "unit": trials["unit"].to_numpy(),
            "d": d,
        }
    )


def with_alpha(table: pd.DataFrame, backend: str, alpha: float | None, source: str) -> pd.DataFrame:
    """Add p_correct, backend, alpha and alpha_source to a table with a `d` column."""
    return table.assign(
        p_correct=p_correct(table["d"], alpha),
        backend=backend,
        alpha=np.nan if alpha is None else alpha,
        alpha_source=source,
    )


# --------------------------------------------------------------------------- α


def fit_alpha(d: np.ndarray, correct: np.ndarray) -> dict[str, Any]:
    """Maximum-likelihood α of p(correct) = σ(α·d) (logistic regression without intercept)."""
    import statsmodels.api as sm

    d = np.asarray(d, dtype=float)
    y = np.asarray(correct, dtype=float)
    ok = np.isfinite(d) & np.isfinite(y)
    d, y = d[ok], y[ok]
    if len(d) == 0 or not d.any():
        raise ValueError("no responses with a non-zero decision variable to fit α on")
    result = sm.Logit(y, d[:, None]).fit(disp=0, maxiter=100)
    alpha, se = float(result.params[0]), float(result.bse[0])
    return {
        "alpha": alpha,
        "se": se,
        "n": int(len(d)),
        "log_likelihood": float(result.llf),
        "converged": bool(result.mle_retvals.get("converged", True)),
    }


def human_trials(responses: pd.DataFrame, sources: Sequence[str]) -> pd.DataFrame:
    """Kept, non-practice, non-catch human responses with experiment, task, trial and correct."""
    r = responses[responses["source"].isin(list(sources))]
    for flag, keep in (("kept", True), ("is_demo", False), ("catch_trial", False)):
        if flag in r:
            r = r[r[flag].fillna(not keep).astype(bool) == keep]
    task = r["task"] if "task" in r else r["task_number"]
    trial = r["trial"] if "trial" in r else r["corrected_trial_index"] + 1
    ok = (task.notna() & trial.notna() & r["correct"].notna()).to_numpy()
    r, task, trial = r[ok], task[ok], trial[ok]
    return pd.DataFrame(
        {
            "experiment": r["experiment"].to_numpy(),
            "task": task.astype(int).to_numpy(),
            "trial": trial.astype(int).to_numpy(),
            "correct": r["correct"].astype(bool).to_numpy(),
        }
    )


def resolve_alpha(
    backend: str,
    given: float | None,
    sources: Sequence[str],
    responses: pd.DataFrame | None = None,
    observer_trials: Mapping[str, pd.DataFrame] | None = None,
    why: str = "no human response source is configured (responses.sources)",
) -> dict[str, Any]:
    """α of a backend and where it comes from: fitted to human responses, given in config, or none.

    `why` says why there is no fit when no responses are passed.
    """
    record: dict[str, Any] = {"backend": backend, "human_sources": list(sources), "fit": None}
    if sources and responses is not None and observer_trials:
        humans = human_trials(responses, sources)
        d_tables = [
            t.assign(experiment=e)[["experiment", "task", "trial", "d"]]
            for e, t in observer_trials.items()
        ]
        joined = humans.merge(pd.concat(d_tables), on=["experiment", "task", "trial"])
        record["n_human_responses"] = int(len(humans))
        record["n_joined"] = int(len(joined))
        if len(joined) >= MIN_FIT_RESPONSES:
            try:
                fit = fit_alpha(joined["d"].to_numpy(), joined["correct"].to_numpy())
            except Exception as err:  # noqa: BLE001 - separation, singular data: say so, no α
                why = (
                    f"the fit to {len(joined)} human responses failed ({type(err).__name__}: {err})"
                )
            else:
                return record | {
                    "alpha": fit["alpha"],
                    "fit": fit,
                    "alpha_source": f"fitted by maximum likelihood to {fit['n']} human responses "
                    f"({', '.join(sources)}); SE {fit['se']:.3g}",
                }
        else:
            why = (
                f"only {len(joined)} human responses (of {len(humans)}) fall on trials this "
                f"backend scored; at least {MIN_FIT_RESPONSES} are needed"
            )
    if given is not None:
        return record | {
            "alpha": float(given),
            "alpha_source": f"given in config (observer.alpha); not fitted: {why}",
        }
    return record | {
        "alpha": None,
        "alpha_source": f"none: {why}; the score is the α-free accuracy mean(d > 0)",
    }

# Input functions (input_<what>) and param functions (param_<what>) of observer.smk, with the
# helpers they share; included at the top of observer.smk.
from unitpsych.observer import backend_weights, human_sources, scores_itself

# the MIS task counts (N, K, quantile)
MIS_KEYS = ("n_tasks", "n_references", "quantile")


def model_backend(wildcards) -> str:
    """The slug of the backend that scores this model."""
    return backend_slug(backend_of(OBSERVER, wildcards.model))


def param_experiment_backend(wildcards) -> dict:
    """The backend (name, weights) that scores this experiment's model."""
    name = backend_of(OBSERVER, experiment_of(wildcards).model)
    return {"name": name, "weights": backend_weights(OBSERVER, name)}


def backend_experiments(backend: str) -> list[str]:
    """The experiments whose model this backend (slug) scores."""
    return [
        e.name
        for e in EXPERIMENTS
        if backend_slug(backend_of(OBSERVER, e.model)) == backend
    ]


def input_model_embeddings(wildcards) -> str:
    """The embedding cache of the backend that scores this model."""
    return paths.embeddings(model_backend(wildcards))


def input_model_alpha(wildcards) -> str:
    """alpha.json of the backend that scores this model."""
    return paths.observer_alpha(model_backend(wildcards))


def input_experiment_embeddings(wildcards) -> str:
    """The embedding cache of the backend that scores this experiment."""
    return paths.embeddings(backend_slug(param_experiment_backend(wildcards)["name"]))


def input_fit_alpha(wildcards) -> dict:
    """Human responses and the per-trial d of this backend's experiments; nothing without humans."""
    if not human_sources(config):
        return {}
    trials = [paths.observer_trials(e) for e in backend_experiments(wildcards.backend)]
    return {"responses": paths.responses(), "trials": trials}


def input_mis_all_embeddings(wildcards=None) -> list[str]:
    """The embedding cache of every every-unit backend, in `mis_all.backends` order."""
    return [paths.embeddings(backend_slug(b)) for b in MIS_ALL_BACKENDS]


def param_backend(wildcards) -> dict:
    """The backend's name and local weights (what its embeddings depend on)."""
    name = BACKENDS[wildcards.backend]
    return {"name": name, "weights": backend_weights(OBSERVER, name)}


def param_given_alpha(wildcards) -> float | None:
    """The α given in config for this backend (None: none given)."""
    return OBSERVER["alpha"].get(BACKENDS[wildcards.backend])


def param_experiment_alpha(wildcards) -> float | None:
    """The α given in config for the experiment's backend."""
    return OBSERVER["alpha"].get(param_experiment_backend(wildcards)["name"])


def param_mis_all_model(wildcards) -> dict:
    """What the every-unit MIS reads of a model: its name, architecture and weights."""
    model = config["models"][wildcards.model]
    keys = ("arch", "weights")
    layer_override = {"layers": model["layers"]} if model.get("layers") else {}
    return (
        {k: model.get(k, "pretrained") for k in keys}
        | {"name": wildcards.model}
        | layer_override
    )


def param_mis_all_backends(wildcards) -> list[dict]:
    """The backends that score every unit of this model: name, slug, local weights, the α given in
    config (a fitted α is not used: every-unit scores never wait for responses), and whether the
    backend is the model itself (its rows are flagged)."""
    model = config["models"][wildcards.model]
    return [
        {
            "name": b,
            "slug": backend_slug(b),
            "weights": backend_weights(OBSERVER, b),
            "alpha": OBSERVER["alpha"].get(b),
            "scores_itself": scores_itself(OBSERVER, b, model),
        }
        for b in MIS_ALL_BACKENDS
    ]

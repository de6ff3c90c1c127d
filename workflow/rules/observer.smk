# Observer and MIS (issue: observer): a similarity backend embeds every image once, a machine
# observer answers every trial of our experiments (d and p per trial), and the machine
# interpretability score (MIS) per unit is computed from the activation cache and the embeddings.
# α belongs to a backend: fitted to human responses where the config has a human source.
from unitpsych import paths
from unitpsych.observer import (
    backend_of,
    backend_weights,
    check_observer_config,
    human_sources,
)
from unitpsych.similarity import backend_slug

check_observer_config(config)

OBSERVER = config["observer"]
BACKENDS = {
    backend_slug(backend_of(OBSERVER, m)): backend_of(OBSERVER, m) for m in MODELS
}


localrules:
    fit_alpha,
    score_mis,


def get_backend_pattern() -> str:
    """Wildcard pattern matching exactly the configured backend slugs."""
    return "|".join(re.escape(slug) for slug in BACKENDS)


def get_backend_params(wildcards) -> dict:
    """The backend's name and local weights (what its embeddings depend on)."""
    name = BACKENDS[wildcards.backend]
    return {"name": name, "weights": backend_weights(OBSERVER, name)}


def get_given_alpha(wildcards) -> float | None:
    """The α given in config for this backend (None: none given)."""
    return OBSERVER["alpha"].get(BACKENDS[wildcards.backend])


def get_observer_exemplars(wildcards=None) -> dict:
    """How exemplars are cut (natural images are embedded as shown)."""
    return {k: config["exemplars"][k] for k in ("resize", "image_size")}


def get_mis_settings(wildcards=None) -> dict:
    """The MIS task counts (N tasks, K references, quantile)."""
    return {k: OBSERVER[k] for k in ("n_tasks", "n_references", "quantile")}


def get_model_backend(wildcards) -> str:
    """The slug of the backend that scores this model."""
    return backend_slug(backend_of(OBSERVER, wildcards.model))


def get_model_embeddings(wildcards) -> str:
    """The embedding cache of the backend that scores this model."""
    return paths.embeddings(get_model_backend(wildcards))


def get_model_alpha(wildcards) -> str:
    """alpha.json of the backend that scores this model."""
    return paths.observer_alpha(get_model_backend(wildcards))


def get_experiment_backend(wildcards) -> dict:
    """The backend (name, weights) that scores this experiment's model."""
    exp = get_experiment(config["experiments"], wildcards.experiment)
    name = backend_of(OBSERVER, exp.model)
    return {"name": name, "weights": backend_weights(OBSERVER, name)}


def get_experiment_embeddings(wildcards) -> str:
    """The embedding cache of the backend that scores this experiment."""
    return paths.embeddings(backend_slug(get_experiment_backend(wildcards)["name"]))


def get_experiment_given_alpha(wildcards) -> float | None:
    """The α given in config for the experiment's backend."""
    return OBSERVER["alpha"].get(get_experiment_backend(wildcards)["name"])


def get_backend_experiments(backend: str) -> list[str]:
    """The experiments whose model this backend (slug) scores."""
    return [
        e.name
        for e in EXPERIMENTS
        if backend_slug(backend_of(OBSERVER, e.model)) == backend
    ]


def get_fit_alpha_input(wildcards) -> dict:
    """Human responses and the per-trial d of this backend's experiments; nothing without humans."""
    if not human_sources(config):
        return {}
    return {
        "responses": paths.responses(),
        "trials": [
            paths.observer_trials(e) for e in get_backend_experiments(wildcards.backend)
        ],
    }


def get_all_observer(wildcards=None) -> list[str]:
    """The per-trial observer file of every experiment and mis.csv of every model."""
    return [paths.observer_trials(e.name) for e in EXPERIMENTS] + [
        paths.mis(m) for m in MODELS
    ]


rule embed_images:
    input:
        images="results/images/index.csv",
        root=get_image_root_input,
    output:
        h5="results/observer/{backend}/embeddings.h5",
    log:
        "logs/embed_images/{backend}.log",
    benchmark:
        "benchmarks/embed_images/{backend}.tsv"
    wildcard_constraints:
        backend=get_backend_pattern(),
    conda:
        "../../envs/torch.yaml"
    resources:
        gpu=1,
    params:
        backend=get_backend_params,
        exemplars=get_observer_exemplars,
        images=images_config("root", "batch_size", "block_size"),
        code_version=1,
    script:
        "../scripts/embed_images.py"


rule score_trials:
    input:
        folder="results/experiments/{experiment}",
        demo="results/experiments/demo_{experiment}",
        embeddings=get_experiment_embeddings,
    output:
        csv="results/observer/trials/{experiment}.csv",
    log:
        "logs/score_trials/{experiment}.log",
    benchmark:
        "benchmarks/score_trials/{experiment}.tsv"
    wildcard_constraints:
        experiment=get_experiment_pattern(),
    conda:
        "../../envs/torch.yaml"
    params:
        backend=get_experiment_backend,
        alpha=get_experiment_given_alpha,
        exemplars=get_observer_exemplars,
        code_version=1,
    script:
        "../scripts/score_trials.py"


rule fit_alpha:
    input:
        unpack(get_fit_alpha_input),
    output:
        json="results/observer/{backend}/alpha.json",
    log:
        "logs/fit_alpha/{backend}.log",
    wildcard_constraints:
        backend=get_backend_pattern(),
    conda:
        "../../envs/analysis.yaml"
    params:
        backend=get_backend_params,
        alpha=get_given_alpha,
        sources=human_sources(config),
        code_version=1,
    script:
        "../scripts/fit_alpha.py"


rule sample_mis_tasks:
    input:
        h5="results/{model}/activations.h5",
        embeddings=get_model_embeddings,
    output:
        csv="results/{model}/mis_tasks.csv",
    log:
        "logs/sample_mis_tasks/{model}.log",
    benchmark:
        "benchmarks/sample_mis_tasks/{model}.tsv"
    conda:
        "../../envs/analysis.yaml"
    params:
        mis=get_mis_settings,
        seed=config["seed"],
        code_version=1,
    script:
        "../scripts/sample_mis_tasks.py"


rule score_mis:
    input:
        tasks="results/{model}/mis_tasks.csv",
        alpha=get_model_alpha,
    output:
        csv="results/{model}/mis.csv",
    log:
        "logs/score_mis/{model}.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        code_version=1,
    script:
        "../scripts/score_mis.py"

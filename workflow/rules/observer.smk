# Observer and MIS (issue: observer): a similarity backend embeds every image once, a machine
# observer answers every trial of our experiments (d and p per trial), and the machine
# interpretability score (MIS) per unit is computed from the activation cache and the embeddings.
# α belongs to a backend: fitted to human responses where the config has a human source.


include: "functions/observer.smk"


localrules:
    fit_alpha,
    score_mis,


rule embed_images:
    input:
        images=paths.image_index(),
        root=input_image_root,
    output:
        h5=paths.embeddings(),
    log:
        "logs/embed_images/{backend}.log",
    benchmark:
        "benchmarks/embed_images/{backend}.tsv"
    wildcard_constraints:
        backend=pattern_of(list(BACKENDS)),
    conda:
        "../../envs/torch.yaml"
    resources:
        gpu=1,
    params:
        backend=param_backend,
        exemplars=config_slice("exemplars", keep=("resize", "image_size")),
        images=config_slice("images", keep=("root", "batch_size")),
        code_version=1,
    script:
        "../scripts/embed_images.py"


rule score_trials:
    input:
        folder=paths.experiment_dir(),
        demo=paths.demo_dir(),
        embeddings=input_experiment_embeddings,
    output:
        csv=paths.observer_trials(),
    log:
        "logs/score_trials/{experiment}.log",
    benchmark:
        "benchmarks/score_trials/{experiment}.tsv"
    wildcard_constraints:
        experiment=pattern_of(EXPERIMENT_NAMES),
    conda:
        "../../envs/torch.yaml"
    params:
        backend=param_experiment_backend,
        alpha=param_experiment_alpha,
        exemplars=config_slice("exemplars", keep=("resize", "image_size")),
        code_version=1,
    script:
        "../scripts/score_trials.py"


rule fit_alpha:
    input:
        unpack(input_fit_alpha),
    output:
        json=paths.observer_alpha(),
    log:
        "logs/fit_alpha/{backend}.log",
    wildcard_constraints:
        backend=pattern_of(list(BACKENDS)),
    conda:
        "../../envs/analysis.yaml"
    params:
        backend=param_backend,
        alpha=param_given_alpha,
        sources=human_sources(config),
        code_version=1,
    script:
        "../scripts/fit_alpha.py"


rule sample_mis_tasks:
    input:
        h5=paths.activations(),
        embeddings=input_model_embeddings,
    output:
        csv=paths.mis_tasks(),
    log:
        "logs/sample_mis_tasks/{model}.log",
    benchmark:
        "benchmarks/sample_mis_tasks/{model}.tsv"
    conda:
        "../../envs/analysis.yaml"
    params:
        mis=config_slice("observer", keep=MIS_KEYS),
        seed=config["seed"],
        code_version=2,
    script:
        "../scripts/sample_mis_tasks.py"


rule score_mis:
    input:
        tasks=paths.mis_tasks(),
        alpha=input_model_alpha,
    output:
        csv=paths.mis(),
    log:
        "logs/score_mis/{model}.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        code_version=1,
    script:
        "../scripts/score_mis.py"


# Every unit (beyond the paper): one pass over the image set per model keeps the per-image
# spatial mean of every channel of every layer of interest; the MIS of all of them is then drawn
# and scored vectorised, once per backend of `mis_all.backends` (one backend for every model).


rule collect_mis_all_tasks:
    input:
        images=paths.image_index(),
        accuracy=input_accuracy,
    output:
        h5=paths.mis_all_tasks(),
    log:
        "logs/collect_mis_all_tasks/{model}.log",
    benchmark:
        "benchmarks/collect_mis_all_tasks/{model}.tsv"
    conda:
        "../../envs/torch.yaml"
    resources:
        gpu=1,
    params:
        model=param_model,
        images=config_slice("images", keep=("root", "batch_size")),
        seed=config["seed"],
        mis=config_slice("observer", keep=MIS_KEYS),
        max_images=config["mis_all"]["max_images"],
        code_version=2,
    script:
        "../scripts/collect_mis_all_tasks.py"


rule mis_all:
    input:
        h5=paths.mis_all_tasks(),
        embeddings=input_mis_all_embeddings,
    output:
        parquet=paths.mis_all(),
    log:
        "logs/mis_all/{model}.log",
    benchmark:
        "benchmarks/mis_all/{model}.tsv"
    conda:
        "../../envs/analysis.yaml"
    params:
        model=param_mis_all_model,
        backends=param_mis_all_backends,
        mis=config_slice("observer", keep=MIS_KEYS),
        memory_mb=config["mis_all"]["memory_mb"],
        seed=config["seed"],
        code_version=2,
    script:
        "../scripts/mis_all.py"

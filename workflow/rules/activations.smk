# Stage 2: one pass over the image set per model caches every sampled unit's activation.


rule collect_activations:
    input:
        units=paths.units_json(),
        images=paths.image_index(),
        accuracy=input_accuracy,
    output:
        h5=paths.activations(),
        unreadable=paths.unreadable_images(),
    log:
        "logs/collect_activations/{model}.log",
    benchmark:
        "benchmarks/collect_activations/{model}.tsv"
    conda:
        "../../envs/torch.yaml"
    resources:
        gpu=1,
    params:
        model=param_model,
        images=config_slice("images", keep=("root", "batch_size")),
        seed=config["seed"],
        code_version=1,
    script:
        "../scripts/collect_activations.py"

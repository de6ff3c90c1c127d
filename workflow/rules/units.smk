# Stage 1: sample units (layer uniformly, then channel) and index the image set.


localrules:
    sample_units,
    index_images,


if config["images"].get("generate"):

    rule generate_images:
        output:
            directory(config["images"]["root"]),
        log:
            "logs/generate_images/images.log",
        benchmark:
            "benchmarks/generate_images/images.tsv"
        conda:
            "../../envs/torch.yaml"
        params:
            images=images_config("root", "generate"),
            seed=config["seed"],
            code_version=1,
        script:
            "../scripts/generate_images.py"


rule index_images:
    input:
        get_image_root_input,
    output:
        csv=paths.image_index(),
    log:
        "logs/index_images/index.log",
    conda:
        "../../envs/torch.yaml"
    params:
        images=images_config("root", "list", "extensions"),
        code_version=1,
    script:
        "../scripts/index_images.py"


checkpoint sample_units:
    input:
        shared=get_shared_units_input,
        given=get_units_list_input,
    output:
        json=paths.units_json(),
        csv=paths.units_csv(),
    log:
        "logs/sample_units/{model}.log",
    conda:
        "../../envs/torch.yaml"
    params:
        model=get_units_config,
        code_version=1,
    script:
        "../scripts/sample_units.py"

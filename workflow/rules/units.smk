# Stage 1: sample units (layer uniformly, then channel) and index the image set.


include: "functions/units.smk"


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
            images=config_slice("images", keep=("root", "generate")),
            seed=config["seed"],
            code_version=1,
        script:
            "../scripts/generate_images.py"


rule index_images:
    input:
        input_image_root,
    output:
        csv=paths.image_index(),
    log:
        "logs/index_images/index.log",
    conda:
        "../../envs/torch.yaml"
    params:
        images=config_slice("images", keep=("root", "list", "extensions")),
        code_version=1,
    script:
        "../scripts/index_images.py"


checkpoint sample_units:
    input:
        shared=input_shared_units,
        given=input_units_list,
    output:
        json=paths.units_json(),
        csv=paths.units_csv(),
    log:
        "logs/sample_units/{model}.log",
    conda:
        "../../envs/torch.yaml"
    params:
        model=param_units,
        code_version=1,
    script:
        "../scripts/sample_units.py"

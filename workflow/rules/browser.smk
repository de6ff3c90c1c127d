# The unit browser (beyond the paper): a static site with a page per model and per shown unit
# (every sampled unit, each layer's MIS extremes), built from the result files of every other
# stage. A small local job: it reads tables and crops a few hundred thumbnails. Its input
# functions live in common.smk (Snakemake's linter wants no functions next to rules).


localrules:
    build_browser,
    browser,


rule build_browser:
    input:
        models_table=f"{workflow.basedir}/resources/models.csv",
        image_index=paths.image_index(),
        image_root=get_image_root_input,
        model_inputs=get_browser_model_inputs,
        result_inputs=get_browser_result_inputs,
    output:
        index=paths.browser_index(),
        site=directory(paths.browser_site()),
    log:
        "logs/build_browser/browser.log",
    benchmark:
        "benchmarks/build_browser/browser.tsv"
    conda:
        "../../envs/analysis.yaml"
    params:
        models=get_browser_models,
        experiments={exp.name: exp.model for exp in EXPERIMENTS},
        browser=config["browser"],
        exemplars={k: config["exemplars"][k] for k in ("resize", "image_size")},
        image_root=config["images"]["root"],
        code_version=1,
    script:
        "../scripts/build_browser.py"


rule browser:
    input:
        paths.browser_index(),

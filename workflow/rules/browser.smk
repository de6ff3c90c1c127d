# The unit browser (beyond the paper): a static site with a page per model and per shown unit
# (every sampled unit, each layer's MIS extremes), built from the result files of every other
# stage. A small local job: it reads tables and crops a few hundred thumbnails.


include: "functions/browser.smk"


localrules:
    build_browser,
    browser,


rule build_browser:
    input:
        models_table=f"{workflow.basedir}/resources/models.csv",
        image_index=paths.image_index(),
        image_root=input_image_root,
        model_inputs=input_browser_models,
        result_inputs=input_browser_results,
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
        models=param_browser_models,
        experiments={exp.name: exp.model for exp in EXPERIMENTS},
        browser=config_slice("browser"),
        exemplars=config_slice("exemplars", keep=("resize", "image_size")),
        image_root=config_slice("images", "root"),
        code_version=1,
    script:
        "../scripts/build_browser.py"


rule browser:
    input:
        paths.browser_index(),

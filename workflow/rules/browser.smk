# The unit browser (beyond the paper): a static site with a page per model and per shown unit
# (every sampled unit, each layer's MIS extremes), built from the result files of every other
# stage. A small local job: it reads tables and crops a few hundred thumbnails.


def get_browser_model_inputs(wildcards=None) -> list[str]:
    """What the pages of every model read: units, MIS tables, stimulus folders (waits for the
    sample_units checkpoint), the every-unit pass and accuracy checks where the config makes
    them."""
    inputs = get_all_units() + get_all_accuracy() + [paths.mis(m) for m in MODELS]
    if config["mis_all"]["enabled"]:
        inputs += [f(m) for m in MODELS for f in (paths.mis_all, paths.mis_all_tasks)]
    for model in MODELS:
        units = get_model_units(model)
        difficulties = get_model_difficulties(model)
        inputs += [paths.natural_dir(model, u, d) for u in units for d in difficulties]
        if model in SYNTHETIC_MODELS:
            inputs += [paths.synthetic_dir(model, u) for u in units]
    return inputs


def get_browser_result_inputs(wildcards=None) -> list[str]:
    """The experiment folders (trial links), the score tables and unit statistics when the config
    has experiments and responses."""
    tables = [paths.table(t) for t in ("unit_scores", "model_scores")]
    has_tables = set(tables) <= set(get_response_tables())
    return get_all_experiments() + (
        tables + get_analysis_unit_statistics() if has_tables else []
    )


def get_browser_models(wildcards=None) -> dict:
    """Per model what the pages label it with, how the registry finds its reported top-1
    (arch, weights), and the difficulties of its exemplars."""
    keys = ("label", "scale_rank", "arch", "weights")
    return {
        m: {k: config["models"][m].get(k) for k in keys}
        | {"difficulties": get_model_difficulties(m)}
        for m in MODELS
    }


def get_all_browser(wildcards=None) -> list[str]:
    """The browser's index when `browser.enabled` (part of `all`)."""
    return [paths.browser_index()] if config["browser"]["enabled"] else []


localrules:
    build_browser,


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

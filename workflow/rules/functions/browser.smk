# Input and param functions of the unit browser (browser.smk).


def input_browser_models(wildcards=None) -> list[str]:
    """What the pages of every model read: units, MIS tables, stimulus folders (waits for the
    sample_units checkpoint), the every-unit pass and accuracy checks where the config makes
    them."""
    inputs = targets_units() + targets_accuracy() + [paths.mis(m) for m in MODELS]
    if MIS_ALL_ENABLED:
        inputs += [f(m) for m in MODELS for f in (paths.mis_all, paths.mis_all_tasks)]
    for model in MODELS:
        units = model_units(model)
        difficulties = model_difficulties(model)
        inputs += [paths.natural_set_dir(model, d) for d in difficulties]
        if model in SYNTHETIC_MODELS:
            inputs += [paths.synthetic_dir(model, u) for u in units]
    return inputs


def input_browser_results(wildcards=None) -> list[str]:
    """The experiment folders (trial links), the score tables and unit statistics when the config
    has experiments and responses."""
    tables = [paths.table(t) for t in ("unit_scores", "model_scores")]
    has_tables = set(tables) <= set(targets_response_tables())
    return targets_experiments() + (
        tables + input_analysis_unit_statistics() if has_tables else []
    )


def param_browser_models(wildcards=None) -> dict:
    """Per model what the pages label it with, how the registry finds its reported top-1
    (arch, weights), and the difficulties of its exemplars."""
    keys = ("label", "scale_rank", "arch", "weights")
    return {
        m: {k: config["models"][m].get(k) for k in keys}
        | {"difficulties": model_difficulties(m)}
        for m in MODELS
    }

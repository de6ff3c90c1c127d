# Input functions (input_<what>) and param functions (param_<what>) of analysis.smk, with the
# helpers they share; included at the top of analysis.smk.
from unitpsych.analysis import SCORE_TABLES

ANALYSIS_KEYS = ("sources", "bootstrap", "regression")  # what the score tables read


def table_report(name: str):
    """Table `name` as an output of the report, with its caption (report/table_<name>.rst)."""
    caption = f"../report/table_{name}.rst"
    return report(paths.table(name), caption=caption, category="Tables")


def analysed_mis_models() -> list[str]:
    """Analysed models whose MIS table the observer stage builds (others get a noted row)."""
    built = set(targets_observer())
    return [m for m in analysed_models() if paths.mis(m) in built]


def input_unit_statistics_index(wildcards=None) -> list[str]:
    """The activation image set's index when the unit statistics use that set."""
    if config["analysis"]["unit_statistics"].get("root") is None:
        return [paths.image_index()]
    return []


def input_analysis_units(wildcards=None) -> list[str]:
    """units.csv of every analysed model (layer index and relative depth)."""
    return [paths.units_csv(m) for m in analysed_models()]


def input_analysis_unit_statistics(wildcards=None) -> list[str]:
    """unit_statistics.csv of every analysed model."""
    return [paths.unit_statistics(m) for m in analysed_models()]


def input_analysis_mis(wildcards=None) -> list[str]:
    """mis.csv of the models in analysed_mis_models."""
    return [paths.mis(m) for m in analysed_mis_models()]


def param_unit_statistics_images(wildcards=None) -> dict:
    """The image set of the unit statistics: analysis.unit_statistics, root defaulting to the
    activation image set (images.root)."""
    cfg = dict(config["analysis"]["unit_statistics"])
    if cfg.get("root") is None:
        cfg["root"] = config["images"]["root"]
        cfg["list"] = (
            None  # the activation image set's index already applies images.list
        )
    cfg["extensions"] = config["images"]["extensions"]
    return cfg


def param_analysed_models(wildcards=None) -> list[str]:
    """Models with at least one configured experiment, in config order."""
    return analysed_models()


def param_analysed_model_info(wildcards=None) -> dict:
    """Per analysed model: label and scale_rank (presentation) and arch and weights (the scale
    lookup in resources/models.csv)."""
    keys = ("label", "scale_rank", "arch", "weights")
    return {
        m: {k: config["models"][m].get(k) for k in keys} | scale_info(m)
        for m in analysed_models()
    }


def param_analysed_mis_models(wildcards=None) -> list[str]:
    """Analysed models whose MIS table the observer stage builds."""
    return analysed_mis_models()

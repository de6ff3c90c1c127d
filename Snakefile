# unitpsych: how mechanistically interpretable are the units of vision models?
# (Zimmermann, Klein & Brendel, NeurIPS 2023, and beyond.)
#
# Results path conventions (every stage is a file target of its own):
#   results/images/index.csv                         the image set, sorted (path, label)
#   results/{model}/units.json, units.csv            sampled units (<layer>__<channel>)
#   results/{model}/model.json                       model card (arch, weights, layers, size)
#   results/{model}/activations.h5                   one value per (image, unit)
#   results/{model}/mis_all_tasks.h5, mis_all.parquet  every channel of every layer of interest:
#                                                    its MIS tasks; its MIS per backend
#   results/{model}/stimuli/{unit}/natural_{difficulty}/batch_{b}/{min,max}_{i}.png
#   results/{model}/stimuli/{unit}/synthetic/{min,max}_{i}.png + fv.json
#   results/experiments/{experiment}/                task folders for the experiment UI
#   results/browser/index.html, site/                the unit browser (a static site)
#   results/responses/raw/{experiment}/{local,simulated}/{participant}_task_{k}.json   UI payloads
#   results/responses/responses.parquet              one row per 2-AFC response (+ exclusions.csv,
#                                                    participants.csv, summary.json)
# Logs mirror them under logs/{rule}/..., benchmarks under benchmarks/{rule}/...
#
# Configs: config/config.yaml (the paper, on a cluster), config/demo.yaml (offline demo).
# Offline compute nodes: `snakemake weights` (login node) fills the weights cache first.


import sys
from pathlib import Path

from snakemake.logging import logger
from snakemake.utils import min_version, validate

min_version("9.0")
sys.path.insert(0, str(Path(workflow.basedir) / "workflow" / "scripts"))

from unitpsych.config import rename_deprecated_keys

# The paper config is the default; `--configfile X` replaces it (instead of being merged into it).
if not workflow.overwrite_configfiles:

    configfile: f"{workflow.basedir}/config/config.yaml"


for _warning in rename_deprecated_keys(config):
    logger.warning(_warning)
validate(config, f"{workflow.basedir}/workflow/schemas/config.schema.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/units.smk"
include: "workflow/rules/accuracy.smk"
include: "workflow/rules/activations.smk"
include: "workflow/rules/exemplars.smk"
include: "workflow/rules/visualizations.smk"
include: "workflow/rules/experiments.smk"
include: "workflow/rules/observer.smk"
include: "workflow/rules/responses.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/browser.smk"


rule all:
    default_target: True
    input:
        targets_all,


rule units:
    input:
        targets_units,


rule activations:
    input:
        targets_activations,


rule stimuli:
    input:
        targets_exemplars,
        targets_visualizations,


rule experiments:
    input:
        targets_experiments,


rule observer:
    input:
        targets_observer,


rule responses:
    input:
        targets_responses,


rule figures:
    input:
        targets_figures,


rule paper_figures:
    input:
        targets_paper_figures,


rule model_cards:
    input:
        targets_model_cards,

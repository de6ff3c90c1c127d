"""One home for the file layout: every path of the pipeline, as a Snakemake pattern or a real path.

Each function returns the path under `root` (default `results`). Called without arguments it returns
the Snakemake pattern (`paths.activations()` -> `results/{model}/activations.h5`); called with
values it returns that file (`paths.activations("resnet50")`). Stimulus paths inside experiment
folders are relative to the results folder: pass `root=""` for those.
"""

from __future__ import annotations

from collections.abc import Callable

from unitpsych import ui_layout
from unitpsych.ui_layout import SIDES as SIDES  # the two sides of a unit: least and most activating

RESULTS = "results"


def _join(root: str, *parts: str) -> str:
    """Join path parts with `/`, leaving out an empty root."""
    return "/".join(p for p in (root, *parts) if p)


def _model_file(*parts: str, doc: str) -> Callable[..., str]:
    """A path function `(model="{model}", root=RESULTS)` for the file <root>/<model>/<parts>."""

    def path(model: str = "{model}", root: str = RESULTS) -> str:
        return _join(root, model, *parts)

    path.__doc__ = doc
    return path


# Image set and per-model caches


def image_index(root: str = RESULTS) -> str:
    """The sorted image-set table (path, label)."""
    return _join(root, "images", "index.csv")


units_json = _model_file(
    "units.json", doc='Sampled units of a model ({"units": [...]}, protocol §2).'
)
units_csv = _model_file(
    "units.csv", doc="Sampled units with layer, channel, layer index and relative depth."
)
activations = _model_file(
    "activations.h5", doc="The activation cache [n_images, n_units] of a model."
)
unreadable_images = _model_file(
    "unreadable_images.csv", doc="Images the activation pass could not decode (path, error)."
)
accuracy = _model_file(
    "accuracy.json", doc="Top-1 accuracy of a model on the labelled check set (protocol §1.1)."
)
model_card = _model_file(
    "model.json",
    doc="A model's card: arch, weights and SHA-256, preprocessing, layers, parameter count.",
)


def weights_manifest(cache: str) -> str:
    """The weights cache's manifest (files and SHA-256s of every fetched model)."""
    return _join(cache, "manifest.json")


mis = _model_file("mis.csv", doc="Machine interpretability score per unit.")
unit_statistics = _model_file(
    "unit_statistics.csv",
    doc="Pixel sparsity, channel sparsity and local contrast per sampled unit (protocol §9).",
)


# Stimuli


stimuli_index = _model_file(
    "stimuli", "index.csv", doc="Every stimulus file of a model with its checksum."
)


def unit_dir(model: str = "{model}", unit: str = "{unit}", root: str = RESULTS) -> str:
    """A unit's stimulus folder."""
    return _join(root, model, "stimuli", unit)


def natural_set_dir(
    model: str = "{model}", difficulty: str = "{difficulty}", root: str = RESULTS
) -> str:
    """The natural exemplars of one difficulty of every unit of a model (one job): a <unit>/
    folder per unit."""
    return _join(root, model, "stimuli", f"natural_{difficulty}")


def natural_dir(
    model: str = "{model}",
    unit: str = "{unit}",
    difficulty: str = "{difficulty}",
    root: str = RESULTS,
) -> str:
    """A unit's natural exemplars of one difficulty (batch_<b>/ folders and meta)."""
    return unit_in(natural_set_dir(model, difficulty, root), unit)


def natural_batch_dir(
    model: str, unit: str, difficulty: str, batch: int | str, root: str = RESULTS
) -> str:
    """One batch of a unit's natural exemplars: {min,max}_{0..9}.png."""
    return _join(natural_dir(model, unit, difficulty, root), f"batch_{batch}")


def synthetic_dir(model: str = "{model}", unit: str = "{unit}", root: str = RESULTS) -> str:
    """A unit's feature visualisations: {min,max}_{0..8}.png and fv.json."""
    return _join(unit_dir(model, unit, root), "synthetic")


def fv_group_dir(model: str = "{model}", group: str = "{fv_group}", root: str = RESULTS) -> str:
    """The feature visualisations of one unit group (one job): a <unit>/ folder per unit."""
    return _join(root, model, "visualizations", group)


def unit_in(folder: str, unit: str) -> str:
    """A unit's folder inside a folder of one job's units (a natural-exemplar set, an FV group)."""
    return _join(folder, unit)


def fv_json(model: str = "{model}", unit: str = "{unit}", root: str = RESULTS) -> str:
    """A unit's feature-visualisation record (activations, α, success)."""
    return fv_record(synthetic_dir(model, unit, root))


def preview(model: str = "{model}", unit: str = "{unit}", root: str = RESULTS) -> str:
    """A unit's preview sheet."""
    return _join(unit_dir(model, unit, root), "preview.png")


featureviz_summary = _model_file(
    "featureviz_summary.csv",
    doc="One row per unit: feature-visualisation success, α and activations.",
)


def stimulus_file(folder: str, side: str, index: int) -> str:
    """An exemplar or feature-visualisation image in a stimulus folder: <side>_<index>.png."""
    return _join(folder, f"{side}_{index}.png")


def exemplar_file(folder: str, batch: int | str, side: str, index: int | str) -> str:
    """A natural exemplar in a natural-exemplar folder: batch_<b>/<side>_<index>.png."""
    return stimulus_file(_join(folder, f"batch_{batch}"), side, index)


def exemplar_table(folder: str) -> str:
    """The metadata of a natural-exemplar folder (batch, side, index, role, source, rank,
    activation)."""
    return _join(folder, "exemplars.csv")


def natural_record(folder: str) -> str:
    """The rank windows and counts of a natural-exemplar folder (natural.json)."""
    return _join(folder, "natural.json")


def fv_record(folder: str) -> str:
    """The record of a feature-visualisation folder (fv.json)."""
    return _join(folder, "fv.json")


# Experiments


def experiments_dir(root: str = RESULTS) -> str:
    """The folder the experiment UI serves as its `<exp>` folder."""
    return _join(root, "experiments")


def experiment_dir(experiment: str = "{experiment}", root: str = RESULTS) -> str:
    """An experiment's folder (structure.json, trials.csv, task_<k>/, instructions/)."""
    return _join(experiments_dir(root), experiment)


def experiment_checks(root: str = RESULTS) -> str:
    """The check thresholds (config `responses.checks`) the experiments were built with; the
    experiment server applies them."""
    return _join(experiments_dir(root), "checks.json")


def demo_dir(experiment: str = "{experiment}", root: str = RESULTS) -> str:
    """An experiment's practice folder, next to it as the UI expects."""
    return _join(experiments_dir(root), ui_layout.demo_folder(experiment))


# Observer, responses, tables and figures


def embeddings(backend: str = "{backend}", root: str = RESULTS) -> str:
    """Cached image embeddings of one similarity backend (backend slug, no ':')."""
    return _join(root, "observer", backend, "embeddings.h5")


def observer_trials(experiment: str = "{experiment}", root: str = RESULTS) -> str:
    """The observer's decision variable and p(correct) for every trial of an experiment."""
    return _join(root, "observer", "trials", f"{experiment}.csv")


def responses_dir(root: str = RESULTS) -> str:
    """The responses folder."""
    return _join(root, "responses")


def raw_payloads(
    experiment: str = "{experiment}", source: str = "{source}", root: str = RESULTS
) -> str:
    """Payload files of one experiment and source (local | simulated) as the UI posts them."""
    return _join(responses_dir(root), "raw", experiment, source)


def payload_file(
    experiment: str, source: str, participant: str, task: int, root: str = RESULTS
) -> str:
    """One participant's payload for one task."""
    return _join(raw_payloads(experiment, source, root), f"{participant}_task_{task}.json")


def quarantined_payload(experiment: str, source: str, name: str, root: str = RESULTS) -> str:
    """Where the experiment server moves a payload file it cannot use (`_quarantine` is never an
    experiment name)."""
    return _join(responses_dir(root), "raw", "_quarantine", experiment, source, name)


def parsed_responses(experiment: str = "{experiment}", root: str = RESULTS) -> str:
    """One experiment's parsed responses (merged into responses.parquet)."""
    return _join(responses_dir(root), "parsed", f"{experiment}.parquet")


def responses(root: str = RESULTS) -> str:
    """The merged tidy response table, one row per 2-AFC response."""
    return _join(responses_dir(root), "responses.parquet")


def released_responses(table: str = "{table}", root: str = RESULTS) -> str:
    """Our responses in the IMI release's layout: table `all`, `main` or `lower_quality`."""
    return _join(responses_dir(root), f"responses_{table}.csv")


def exclusions(root: str = RESULTS) -> str:
    """One row per (participant, task): check values, pass/fail and reasons."""
    return _join(responses_dir(root), "exclusions.csv")


def participants(root: str = RESULTS) -> str:
    """One row per participant."""
    return _join(responses_dir(root), "participants.csv")


def responses_summary(root: str = RESULTS) -> str:
    """Accounting of kept, excluded and rejected rows and files."""
    return _join(responses_dir(root), "summary.json")


def table(name: str = "{table}", root: str = RESULTS) -> str:
    """A tidy analysis table."""
    return _join(root, "tables", f"{name}.csv")


def figure(name: str = "{figure}", ext: str = "pdf", root: str = RESULTS) -> str:
    """A figure file (pdf or png) with the paper's file name."""
    return _join(root, "figures", f"{name}.{ext}")


# Responses stage (owner: responses)


def simulated_participants(experiment: str = "{experiment}", root: str = RESULTS) -> str:
    """The simulated participants of an experiment: participant, task, kind, intended check."""
    return _join(responses_dir(root), "raw", experiment, "simulated_participants.csv")


def parsed_report(experiment: str = "{experiment}", root: str = RESULTS) -> str:
    """One experiment's participations (check values), rejected files and counts."""
    return _join(responses_dir(root), "parsed", f"{experiment}.json")


def imi_archive(root: str = RESULTS) -> str:
    """The released IMI data set (Zenodo record 8131197), checksum-verified."""
    return _join(responses_dir(root), "imi", "human_responses.zip")


def parsed_imi(ext: str = "parquet", root: str = RESULTS) -> str:
    """The released IMI responses in our schema (parquet) and their report (json)."""
    return _join(responses_dir(root), "parsed_imi", f"imi.{ext}")


def observer_alpha(backend: str = "{backend}", root: str = RESULTS) -> str:
    """A similarity backend's α and its origin (fitted to human responses, given, or none)."""
    return _join(root, "observer", backend, "alpha.json")


mis_tasks = _model_file(
    "mis_tasks.csv",
    doc=(
        "The machine observer's sampled MIS tasks per unit with their decision variable d (α-free)."
    ),
)


# Every unit (beyond the paper): the MIS of every channel of every layer of interest

mis_all_tasks = _model_file(
    "mis_all_tasks.h5",
    doc=(
        "Every channel of every layer of interest: its MIS tasks (image ids), drawn while "
        "streaming."
    ),
)
mis_all = _model_file(
    "mis_all.parquet",
    doc="The machine interpretability score of every unit of a model, per scoring backend.",
)


# The unit browser (beyond the paper): a static site over everything measured about each unit


def browser_index(root: str = RESULTS) -> str:
    """The unit browser's models page (opens from disk; the `browser` target)."""
    return _join(root, "browser", "index.html")


def browser_site(root: str = RESULTS) -> str:
    """The unit browser's other pages, data files, thumbnails and assets, next to its index."""
    return _join(root, "browser", "site")


def browser_model_page(model: str, root: str = "") -> str:
    """A model's page inside the site folder (root "" gives the path relative to the site)."""
    return _join(root, "models", model, "index.html")


def browser_unit_page(model: str, layer: str, channel: int | str, root: str = "") -> str:
    """A unit's page inside the site folder: one stable URL per model/layer/channel."""
    return _join(root, "models", model, layer, f"{channel}.html")

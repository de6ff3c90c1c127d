"""The SLURM profile and the workflow profile: consistent with the rules and with each other.

Fast checks without a cluster; test_slurm.py runs the profiles on a real SLURM.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from conftest import REPO, SNAKEMAKE

SLURM_PROFILE = REPO / "slurm" / "config.yaml"
WORKFLOW_PROFILE = REPO / "profiles" / "default" / "config.yaml"
PARTITIONS = REPO / "slurm" / "partitions.yaml"
TARGET_RULES = {
    "all",
    "units",
    "activations",
    "stimuli",
    "experiments",
    "observer",
    "responses",
    "figures",
    "paper_figures",
    "model_cards",
    "weights",
}


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def _figure_rule_texts() -> dict[str, str]:
    """The rules figures.smk's loop makes, one per figure of the registry, each with the loop's
    text."""
    from unitpsych.figures.registry import FIGURES

    text = (REPO / "workflow" / "rules" / "figures.smk").read_text()
    loop = re.search(
        r'^for _figure in FIGURES:\n\n    rule:\n        name:\n\s+f"plot_\{_figure\}"\n(.*)',
        text,
        flags=re.M | re.S,
    )
    assert loop, "figures.smk no longer makes its rules in `for _figure in FIGURES:`"
    return {f"plot_{name}": loop[1].split("\n\n\n")[0] for name in FIGURES}


def _rule_texts() -> dict[str, str]:
    """Rule name -> its text, from every rule file, the figure rules of figures.smk's loop
    included."""
    texts = _figure_rule_texts()
    for path in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        parts = re.split(r"^(?:rule|checkpoint) (\w+):\n", path.read_text(), flags=re.M)
        for name, body in zip(parts[1::2], parts[2::2], strict=True):
            texts[name] = body.split("\n\n\n")[0]
    return texts


def _local_rules() -> set[str]:
    """Rules listed under `localrules:` in any rule file or saying `localrule: True`."""
    names = {name for name, text in _rule_texts().items() if re.search(r"localrule: True", text)}
    for path in (REPO / "workflow" / "rules").glob("*.smk"):
        for block in re.findall(
            r"^localrules:\n((?:[ \t]+\w+,?\n)+)", path.read_text(), flags=re.M
        ):
            names.update(re.findall(r"\w+", block))
    return names


@pytest.fixture(scope="module")
def workflow_rules(tmp_path_factory) -> set[str]:
    """The rules Snakemake sees with the test config."""
    workdir = tmp_path_factory.mktemp("rules")
    out = subprocess.run(
        [
            *SNAKEMAKE,
            "--directory",
            str(workdir),
            "--configfile",
            str(REPO / "tests" / "data" / "config.yaml"),
            "--list-rules",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {line.strip() for line in out.splitlines() if re.fullmatch(r"\s*\w+\s*", line)}


def test_every_setting_of_the_slurm_profile_is_commented():
    for number, line in enumerate(SLURM_PROFILE.read_text().splitlines(), 1):
        if line.strip() and not line.lstrip().startswith("#"):
            assert "#" in line, f"slurm/config.yaml:{number} has no comment: {line!r}"


def test_the_profiles_set_disjoint_keys():
    """Snakemake takes a key set in both profiles from the workflow profile alone: a GPU
    mapping or default resource in the SLURM profile would silently vanish."""
    shared = set(_load(SLURM_PROFILE)) & set(_load(WORKFLOW_PROFILE))
    assert not shared, f"set in both profiles (the workflow profile would win): {shared}"


def test_profiles_name_only_rules_that_exist(workflow_rules):
    slurm, workflow = _load(SLURM_PROFILE), _load(WORKFLOW_PROFILE)
    named = set(slurm.get("groups", {})) | set(workflow.get("set-threads", {}))
    named |= set(workflow.get("set-resources", {}))
    assert named <= workflow_rules, (
        f"unknown rules (typos are ignored silently): {named - workflow_rules}"
    )


def test_every_compute_rule_is_sized_and_grows_with_the_attempt(workflow_rules):
    sizes = _load(WORKFLOW_PROFILE)["set-resources"]
    threads = _load(WORKFLOW_PROFILE)["set-threads"]
    compute = workflow_rules - _local_rules() - TARGET_RULES
    assert compute <= set(sizes) and compute <= set(threads), (
        f"rules without sizes in profiles/default: {compute - set(sizes) | compute - set(threads)}"
    )
    for rule, resources in sizes.items():
        for key in ("mem_mb", "runtime"):
            for size_mb in (0.07, 54.0, 5000.0):  # the demo's image index, ImageNet's, far beyond
                scope = {"input": SimpleNamespace(size_mb=size_mb)}
                values = [eval(str(resources[key]), scope | {"attempt": a}) for a in (1, 2, 3)]  # noqa: S307
                assert values[0] > 0 and values[0] < values[1] < values[2], (rule, key, values)


def test_gpu_rules_go_to_the_gpu_partition_and_the_others_to_the_cpu_partition():
    """The SLURM plugin's own partition choice, on each rule's declared resources."""
    from snakemake_executor_plugin_slurm.partitions import get_best_partition, read_partition_file

    partitions = read_partition_file(PARTITIONS)
    by_gpu = {bool(p.limits.max_gpu): p.name for p in partitions}
    assert set(by_gpu) == {True, False}, "want one partition with GPUs and one without"
    texts = _rule_texts()
    gpu_rules = {name for name, text in texts.items() if re.search(r"\bgpu\s*=\s*1\b", text)}
    assert {"collect_activations"} <= gpu_rules
    logger = SimpleNamespace(info=print, debug=print, warning=print)
    for name in texts:
        resources = {"gpu": 1} if name in gpu_rules else {}
        job = SimpleNamespace(name=name, threads=1, resources=resources)
        assert get_best_partition(partitions, job, logger) == by_gpu[name in gpu_rules], name


def test_the_slurm_profile_names_every_gpu_rule_and_only_those():
    """Its `--gres` advice lists the rules to edit: every rule that declares gpu=1."""
    gpu_rules = {n for n, text in _rule_texts().items() if re.search(r"\bgpu\s*=\s*1\b", text)}
    comment = SLURM_PROFILE.read_text().split("# GPUs:")[1].split("\n\n")[0]
    named = set(re.findall(r"\b[a-z]+(?:_[a-z0-9]+)+\b", comment)) & set(_rule_texts())
    assert named == gpu_rules


def _imagenet_like_index(path: Path, n_images: int, demo: bool) -> None:
    """An image index of `n_images` rows named like the demo's generated set or ImageNet's train
    set."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if demo:
        rows = [f"class_{i % 10:03d}/img_{i:06d}.jpg,class_{i % 10:03d}" for i in range(n_images)]
    else:
        synsets = [f"n{1440764 + i // 1300:08d}" for i in range(n_images)]
        rows = [f"{s}/{s}_{10026 + i % 1300}.JPEG,{s}" for i, s in enumerate(synsets)]
    path.write_text("path,class\n" + "\n".join(rows) + "\n")


def _planned_sizes(
    workdir: Path, config: Path, target: str, rule: str = "collect_activations"
) -> dict[str, int]:
    """threads, mem_mb and runtime of the `rule` job `snakemake -n` plans for `target` (16 cores
    free)."""
    out = subprocess.run(
        [
            *SNAKEMAKE,
            "--directory",
            str(workdir),
            "--configfile",
            str(config),
            "-n",
            "--cores",
            "16",
            target,
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=workdir,
    ).stdout
    block = out.split(f"rule {rule}:", 1)[1].split("\n\n", 1)[0]
    threads = re.search(r"threads: (\d+)", block)
    sizes = dict(re.findall(r"\b(mem_mb|runtime)=(\d+)", block))
    return {"threads": int(threads[1]) if threads else 1} | {k: int(v) for k, v in sizes.items()}


@pytest.mark.parametrize(
    ("config", "model", "n_images"),
    [
        ("config/config.yaml", "resnet50", 1_281_167),
        ("config/demo.yaml", "efficientnet_lite0", 1000),
    ],
    ids=["paper", "demo"],
)
def test_activation_jobs_request_what_their_image_set_needs(tmp_path, config, model, n_images):
    """The paper's pass gets the authors' 8 CPUs, 40 GB and 12 h; the demo's memory and time fit
    a small node, so SLURM does not leave it waiting forever (reason PartitionConfig)."""
    cfg = yaml.safe_load((REPO / config).read_text())
    if cfg["images"].get("generate"):
        (tmp_path / cfg["images"]["root"]).mkdir(parents=True)  # older than the index
    _imagenet_like_index(tmp_path / "results" / "images" / "index.csv", n_images, "demo" in config)
    units = tmp_path / "results" / model / "units.json"
    units.parent.mkdir(parents=True)
    units.write_text(json.dumps({"units": [f"layer1__{i}" for i in range(10)]}))
    if cfg.get("accuracy", {}).get("root"):  # the passed check is an input of the pass too
        (units.parent / "accuracy.json").write_text('{"passed": true}')
    sizes = _planned_sizes(tmp_path, REPO / config, f"results/{model}/activations.h5")
    if config == "config/config.yaml":
        assert sizes == {"threads": 8, "mem_mb": 40000, "runtime": 12 * 60}
    else:
        assert 1000 <= sizes["mem_mb"] <= 4000, sizes
        assert sizes["runtime"] <= 60, sizes


@pytest.mark.parametrize(
    ("config", "n_images"),
    [("config/config.yaml", 1_281_167), ("config/demo.yaml", 1000)],
    ids=["paper", "demo"],
)
def test_embedding_jobs_request_what_their_image_set_needs(tmp_path, config, n_images):
    """The observer's pass over the image set: 32 GB and 8 h for ImageNet, a few GB for the demo."""
    cfg = yaml.safe_load((REPO / config).read_text())
    if cfg["images"].get("generate"):
        (tmp_path / cfg["images"]["root"]).mkdir(parents=True)  # older than the index
    _imagenet_like_index(tmp_path / "results" / "images" / "index.csv", n_images, "demo" in config)
    backend = cfg["observer"]["backend"].replace(":", "-")
    sizes = _planned_sizes(
        tmp_path, REPO / config, f"results/observer/{backend}/embeddings.h5", rule="embed_images"
    )
    if config == "config/config.yaml":
        assert sizes["mem_mb"] == 32000 and sizes["runtime"] == 8 * 60, sizes
    else:
        assert 1000 <= sizes["mem_mb"] <= 4000, sizes
        assert sizes["runtime"] <= 60, sizes

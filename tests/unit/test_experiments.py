"""2-AFC experiment folders: balance, catch and practice trials, UI format, image sizes,
determinism."""

from __future__ import annotations

import errno
import json
import zlib
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from snakemake.utils import validate

from conftest import REPO
from script_runner import mock_snakemake, run_script
from unitpsych.experiments import check as experiment_check
from unitpsych.experiments import folders as experiment_folders
from unitpsych.experiments import plan as experiment_plan
from unitpsych.experiments import stimuli as experiment_stimuli
from unitpsych.experiments.check import check_experiment_folder
from unitpsych.experiments.design import (
    Experiment,
    Settings,
    check_experiment_counts,
    experiment_name,
)
from unitpsych.experiments.folders import task_index, trials_table, write_experiment
from unitpsych.experiments.plan import Plan, plan_experiment, required_stimulus_dirs, select_units
from unitpsych.experiments.stimuli import UI_IMAGE_SIZE, StimulusInfo
from unitpsych.paths import SIDES
from unitpsych.visualizations.featureviz import SideResult, UnitFV

SCHEMA = str(REPO / "workflow" / "schemas" / "config.schema.yaml")
FV_SIZE = 48  # the demo's feature visualisations


def validated(**sections) -> dict:
    """A whole config from the given sections, validated by the schema (which fills defaults)."""
    config = {"models": {MODEL: {"arch": "x", "units": {"n": 10}}}} | sections
    validate(config, SCHEMA)
    return config


def _png(path: Path, key: str, size: int = UI_IMAGE_SIZE) -> None:
    """A PNG whose pixels depend only on `key`: 8 × 8 random blocks scaled up (compresses well)."""
    rng = np.random.default_rng(zlib.crc32(key.encode()))
    path.parent.mkdir(parents=True, exist_ok=True)
    blocks = Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
    blocks.resize((size, size), Image.Resampling.NEAREST).save(path)


def _fv_record(model: str, unit: str, acts: dict[str, list[float]]) -> dict:
    """fv.json as the visualizations stage writes it."""
    layer, channel = unit.rsplit("__", 1)
    sides = {side: SideResult(a, 1.0, "search") for side, a in acts.items()}
    fv = UnitFV(model, unit, layer, int(channel), -1.0, 1.0, True, "", sides, [], {})
    return fv.to_json()


def make_stimuli(
    results: Path,
    model: str,
    units: list[str],
    difficulties: tuple[str, ...] = ("easy",),
    n_batches: int = 4,
    n_references: int = 9,
    synthetic: bool = True,
    images: bool = True,
) -> None:
    """Natural exemplars at 224 px (+ exemplars.csv) and 48 px feature visualisations (+ fv.json).

    With `images=False` only the metadata files are written (enough to plan an experiment).
    """
    for u_idx, unit in enumerate(units):
        stim = results / model / "stimuli" / unit
        for difficulty in difficulties:
            folder = results / model / "stimuli" / f"natural_{difficulty}" / unit
            rows = []
            for b in range(n_batches):
                for side in SIDES:
                    sign = 1 if side == "max" else -1
                    for i in range(n_references + 1):
                        key = f"{model}/{unit}/{difficulty}/{b}/{side}_{i}"
                        if images:
                            _png(folder / f"batch_{b}" / f"{side}_{i}.png", key)
                        query = i == n_references
                        # query activations spread differently per (unit, batch): gaps differ
                        act = sign * ((1 + b * (u_idx + 1)) if query else (10 + i + b / 10))
                        rows.append(
                            {
                                "batch": b,
                                "side": side,
                                "index": i,
                                "role": "query" if query else "reference",
                                "source": f"class_{u_idx % 3}/{key.replace('/', '-')}.jpg",
                                "rank": b * 100 + i,
                                "activation": act,
                            }
                        )
            folder.mkdir(parents=True, exist_ok=True)
            pd.DataFrame(rows).to_csv(folder / "exemplars.csv", index=False)
        if synthetic:
            acts = {}
            for side in SIDES:
                sign = 1 if side == "max" else -1
                for i in range(n_references):
                    if images:
                        key = f"{model}/{unit}/fv/{side}_{i}"
                        _png(stim / "synthetic" / f"{side}_{i}.png", key, size=FV_SIZE)
                acts[side] = [sign * (20.0 + i) for i in range(n_references)]
            (stim / "synthetic").mkdir(parents=True, exist_ok=True)
            record = _fv_record(model, unit, acts)
            (stim / "synthetic" / "fv.json").write_text(json.dumps(record))


def unit_names(n: int) -> list[str]:
    """`n` unit ids spread over three layers."""
    return [f"blocks_{i % 3}_conv__{i}" for i in range(n)]


SMALL = {
    "n_units": 6,
    "n_tasks": 4,
    "n_trials": 3,
    "n_catch_trials": 2,
    "n_catch_units": 1,
    "n_practice_units": 2,
    "n_demo_trials": 3,
    "n_obvious_demo_trials": 2,
    "max_batch_id": 2,
}
SMALL_EXEMPLARS = {"n_batches": 4}
MODEL = "tinynet"


def small_settings(**change) -> Settings:
    """The SMALL settings, through the schema (seed and n_references are its defaults)."""
    cfg = validated(experiments={**SMALL, **change}, exemplars=SMALL_EXEMPLARS)
    return Settings.from_config(cfg["experiments"], cfg["exemplars"])


@pytest.fixture(scope="module")
def stimuli(tmp_path_factory) -> tuple[Path, list[str]]:
    """A results folder with stimuli of 10 units (easy + hard95 exemplars, 48 px FVs)."""
    results = tmp_path_factory.mktemp("results")
    units = unit_names(10)
    make_stimuli(results, MODEL, units, ("easy", "hard95"), n_batches=4)
    return results, units


def build(results: Path, units: list[str], exp: Experiment, out: Path, **kw) -> Plan:
    """Plan and write one experiment from the SMALL settings into `out/<name>`."""
    plan = plan_experiment(exp, units, small_settings(**kw), results)
    write_experiment(plan, results, out / exp.name, out / f"demo_{exp.name}")
    return plan


@pytest.fixture(scope="module")
def built(stimuli, tmp_path_factory) -> dict[str, tuple[Plan, Path]]:
    """A natural, a hard95 natural and a synthetic experiment, built once."""
    results, units = stimuli
    out = tmp_path_factory.mktemp("experiments")
    plans = {}
    for exp in [
        Experiment(MODEL, "natural"),
        Experiment(MODEL, "natural", "hard95"),
        Experiment(MODEL, "synthetic"),
    ]:
        plans[exp.name] = (build(results, units, exp, out), out / exp.name)
    return plans


def read_trials(folder: Path) -> pd.DataFrame:
    """An experiment's trials.csv (batch as a nullable integer: synthetic catch trials have
    none)."""
    return pd.read_csv(folder / "trials.csv", dtype={"batch": "Int64"})


def pixels(path: Path) -> np.ndarray:
    """An image's RGB pixels."""
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


def shows(shown: Path, stored: Path) -> bool:
    """Whether a trial-folder image is the stored stimulus: a hard link, or its resampled copy."""
    if shown.samefile(stored):
        return True
    with Image.open(stored) as img:
        expected = img.convert("RGB").resize((224, 224), Image.Resampling.LANCZOS)
    return img.size != (224, 224) and np.array_equal(pixels(shown), np.asarray(expected))


def all_images(folder: Path) -> list[Path]:
    """Every image of an experiment's task folders and its practice folder."""
    demo = folder.parent / f"demo_{folder.name}"
    return sorted(folder.glob("task_*/trials/*/*/*.png")) + sorted(demo.glob("trials/*/*/*.png"))


# ------------------------------------------------------------------------------------------
# names, settings, units, balance


def test_experiment_names_follow_the_design():
    assert Experiment("resnet50", "natural").name == "resnet50_natural"
    assert Experiment("resnet50", "synthetic", "hard95").name == "resnet50_hard95_synthetic"
    assert Experiment("resnet50", "synthetic").mode == "optimized"
    with pytest.raises(ValueError, match="natural, synthetic"):
        experiment_name("resnet50", "optimized")


def test_settings_come_from_the_schema_defaults():
    cfg = validated()
    s = Settings.from_config(cfg["experiments"], cfg["exemplars"])
    assert (s.n_units, s.n_tasks, s.n_trials, s.n_catch_trials) == (84, 63, 40, 5)
    assert (s.max_batch_id, s.seed, s.n_references, s.n_batches) == (10, 1, 9, 20)
    assert s.repetitions == 30 and s.trials_per_task == 45
    with pytest.raises(ValueError, match=r"experiments.n_tasks is missing: validate the config"):
        Settings.from_config({k: v for k, v in cfg["experiments"].items() if k != "n_tasks"}, {})


def test_unit_selection_is_seeded_disjoint_and_independent_of_input_order():
    units = unit_names(20)
    a = select_units(units, 12, 3, 4, seed=1)
    b = select_units(list(reversed(units)), 12, 3, 4, seed=1)
    assert a == b
    assert len(set(a.units) | set(a.catch_units) | set(a.practice_units)) == 19
    assert select_units(units, 12, 3, 4, seed=2) != a
    with pytest.raises(ValueError, match=r"20 units available.*12 \+ 5 \+ 4 = 21"):
        select_units(units, 12, 5, 4, seed=1)


def test_left_out_units_are_never_drawn_and_the_others_keep_their_places():
    units = unit_names(20)
    full = select_units(units, 8, 1, 1, seed=1)
    dropped = {full.units[0]: "fv failed", full.catch_units[0]: "fv failed too"}
    sel = select_units(units, 8, 1, 1, seed=1, left_out=dropped, n_tasks=8, n_trials=4)
    used = {*sel.units, *sel.catch_units, *sel.practice_units}
    assert not used & set(dropped) and len(sel.units) == 8 and not sel.shrunk
    assert set(full.units) - set(dropped) <= set(sel.units)  # the rest of the draw is kept
    assert dict(sel.left_out) == dropped
    roles = sel.roles().set_index("unit")
    assert len(roles) == 20 and roles.loc[full.units[0], "role"] == "left_out"
    assert roles.loc[full.units[0], "reason"] == "fv failed"
    assert (roles["role"] == "not_drawn").sum() == 20 - 10 - 2
    summary = sel.summary()
    assert (summary["n_left_out"], summary["n_units"], summary["n_units_configured"]) == (2, 8, 8)


def test_too_few_usable_units_shrink_to_a_balanced_count_or_fail_naming_the_counts():
    units = unit_names(12)
    failed = {u: "fv failed" for u in units[:6]}  # 6 usable: 1 catch, 1 practice, 4 left
    sel = select_units(
        units, 8, 1, 1, seed=1, left_out=failed, n_tasks=6, n_trials=4, experiment="m_synthetic"
    )
    assert len(sel.units) == 4 and not set(sel.units) & set(failed)  # 6 × 4 = 24 splits over 4
    assert sel.shrunk.startswith("n_units 8 -> 4: only 6 of 12 units usable (6 left out)")
    assert sel.summary()["n_units_configured"] == 8
    sel = select_units(
        units, 8, 1, 1, seed=1, left_out=dict(list(failed.items())[:3]), n_tasks=6, n_trials=4
    )
    assert len(sel.units) == 6  # 9 usable - 2 reserved = 7; 24 is a multiple of 6, not of 7
    with pytest.raises(
        ValueError,
        match=r"m_synthetic: 5 of the model's 12 units are usable "
        r"\(7 left out.*4 \+ 1 \+ 1 units",
    ):
        select_units(
            units,
            8,
            1,
            1,
            seed=1,
            left_out={u: "fv failed" for u in units[:7]},
            n_tasks=6,
            n_trials=4,
            experiment="m_synthetic",
        )


@pytest.mark.parametrize(
    ("n_units", "n_tasks", "n_trials"), [(84, 63, 40), (6, 4, 3), (8, 6, 8), (7, 7, 3), (5, 1, 5)]
)
def test_every_unit_appears_repetitions_times_and_at_most_once_per_task(n_units, n_tasks, n_trials):
    units = unit_names(n_units)
    tasks = experiment_plan.assign_units_to_tasks(
        units, n_tasks, n_trials, np.random.default_rng(0)
    )
    assert len(tasks) == n_tasks
    assert all(len(task) == len(set(task)) == n_trials for task in tasks)
    counts = Counter(u for task in tasks for u in task)
    assert set(counts) == set(units)
    assert set(counts.values()) == {n_tasks * n_trials // n_units}


def test_batch_ids_cycle_per_unit():
    cycle = experiment_plan.BatchCycle(2)
    assert [cycle("a") for _ in range(7)] == [0, 1, 2, 0, 1, 2, 0]
    assert cycle("b") == 0


def test_paper_numbers_on_fake_stimuli(tmp_path):
    """84 units in 63 tasks × (40 + 5 catch) trials, 30 repetitions, batch ids cycling 0..10.

    Planned from the exemplar metadata alone: writing the 56,700 linked files takes seconds, but
    deleting them again costs a minute on a busy overlay file system; the small experiments
    below write and check every file.
    """
    results = tmp_path / "results"
    units = unit_names(100)
    cfg = validated(exemplars={"n_batches": 11})
    settings = Settings.from_config(cfg["experiments"], cfg["exemplars"])
    selection = select_units(units, 84, 5, 5, seed=1)
    used = [*selection.units, *selection.catch_units, *selection.practice_units]
    make_stimuli(results, "paper", used, n_batches=11, synthetic=False, images=False)
    exp = Experiment("paper", "natural")
    plan = plan_experiment(exp, units, settings, results)
    structure = plan.structure()["tasks"]
    assert [task["index"] for task in structure] == list(range(1, 64))
    assert {len(task["trials"]) for task in structure} == {45}
    assert {len(task["raw_catch_trials"]) for task in structure} == {5}
    assert {task_index(exp, t, 9)["n_trials"] for t in plan.tasks} == {45}
    assert {len(task_index(exp, t, 9)["catch_trial_idxs"]) for t in plan.tasks} == {5}
    table = trials_table(plan, StimulusInfo(results))
    main = table[~table.is_demo]
    regular = main[~main.catch_trial]
    assert len(main) == 63 * 45
    assert regular.unit.nunique() == 84
    assert set(regular.groupby("unit").size()) == {30}
    assert set(regular.groupby("unit").task.nunique()) == {30}
    assert set(main.groupby("task").catch_trial.sum()) == {5}
    assert set(main.unit[main.catch_trial]) == set(selection.catch_units)
    # every unit walks through batches 0, 1, ..., 10, 0, ... in task order
    for _, rows in regular.sort_values("task").groupby("unit"):
        assert list(rows.batch) == [i % 11 for i in range(30)]
    assert len(table[table.is_demo]) == 5


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"n_tasks": 5},
            r"5 × 3 = 15 is not a multiple of n_units = 6.*n_tasks = 4 or 6 would fit",
        ),
        ({"n_trials": 7}, r"n_trials = 7 .* n_units = 6"),
        ({"max_batch_id": 4}, r"needs 5 batches, but exemplars.n_batches = 4"),
        ({"n_catch_units": 4}, r"has 10 units, fewer than .* 6 \+ 4 \+ 2 = 12"),
        ({"n_catch_units": 0}, r"needs at least one catch unit"),
        ({"n_demo_trials": 9}, r"n_demo_trials = 9 .* 2 × 4"),
        ({"n_obvious_demo_trials": 4}, r"n_obvious_demo_trials = 4 exceeds n_demo_trials = 3"),
    ],
)
def test_unbalanced_counts_fail_with_what_would_fit(change, message):
    cfg = validated(
        experiments={**SMALL, **change, "list": [{"model": MODEL, "condition": "natural"}]},
        exemplars=SMALL_EXEMPLARS,
    )
    args = (cfg["experiments"], cfg["models"], cfg["exemplars"], cfg["visualizations"])
    with pytest.raises(ValueError, match=message):
        check_experiment_counts(*args)
    cfg["experiments"].update({k: SMALL[k] for k in change})
    check_experiment_counts(*args)  # the same config without the change passes


def test_synthetic_experiments_need_as_many_fvs_as_references():
    cfg = validated(
        experiments={**SMALL, "list": [{"model": MODEL, "condition": "synthetic"}]},
        exemplars=SMALL_EXEMPLARS,
        visualizations={"n_images": 8},
    )
    args = (cfg["experiments"], cfg["models"], cfg["exemplars"], cfg["visualizations"])
    message = "8 feature visualisations.*set visualizations.n_images = 9"
    with pytest.raises(ValueError, match=message):
        check_experiment_counts(*args)
    cfg["visualizations"]["n_images"] = 9
    check_experiment_counts(*args)


def test_balanced_counts_pass_including_shared_units():
    cfg = validated(
        models={
            "a": {"arch": "x", "units": {"n": 10}},
            "b": {"arch": "x", "units": {"share_with": "a"}},
        },
        experiments={**SMALL, "list": [{"model": "b", "condition": "synthetic"}]},
        exemplars=SMALL_EXEMPLARS,
    )
    check_experiment_counts(
        cfg["experiments"], cfg["models"], cfg["exemplars"], cfg["visualizations"]
    )
    cfg["models"]["a"]["units"]["n"] = 9  # b shares a's 9 units, fewer than 6 + 1 + 2 + ...
    cfg["experiments"]["n_catch_units"] = 2
    with pytest.raises(ValueError, match="model 'b' has 9 units"):
        check_experiment_counts(
            cfg["experiments"], cfg["models"], cfg["exemplars"], cfg["visualizations"]
        )
    paper = validated(
        models={"a": {"arch": "x"}},
        experiments={"list": [{"model": "a", "condition": "natural"}]},
    )  # the paper's defaults: 100 units, 20 batches
    check_experiment_counts(
        paper["experiments"], paper["models"], paper["exemplars"], paper["visualizations"]
    )


# ------------------------------------------------------------------------------------------
# the folders


def test_tasks_have_regular_and_catch_trials_at_catch_trial_idxs(built):
    for plan, folder in built.values():
        table = read_trials(folder)
        for k in range(1, SMALL["n_tasks"] + 1):
            index = json.loads((folder / f"task_{k}" / "index.json").read_text())
            trials = sorted((folder / f"task_{k}" / "trials").iterdir())
            assert len(trials) == index["n_trials"] == 5
            assert len(index["catch_trial_idxs"]) == 2
            rows = table[table.task == k].set_index("trial")
            assert sorted(rows.index[rows.catch_trial]) == index["catch_trial_idxs"]
            catch_units = set(rows.unit[rows.catch_trial])
            assert catch_units <= set(plan.selection.catch_units)
            assert not catch_units & set(plan.selection.units)


def test_index_json_has_exactly_the_four_keys(built):
    for name, (_, folder) in built.items():
        index = json.loads((folder / "task_2" / "index.json").read_text())
        assert set(index) == {"task_name", "n_reference_images", "n_trials", "catch_trial_idxs"}
        assert index["task_name"] == f"{name}/task_2"
        assert index["n_reference_images"] == 9


def test_every_image_has_the_ui_size(built):
    for _, folder in built.values():
        images = all_images(folder)
        assert len(images) == (4 * 5 + 3) * 20
        sizes = Counter()
        for path in images:
            with Image.open(path) as img:
                sizes[img.size] += 1
        assert sizes == {(224, 224): len(images)}


def test_small_feature_visualisations_are_resampled_copies(built, stimuli):
    results, _ = stimuli
    _, folder = built[f"{MODEL}_synthetic"]
    table = read_trials(folder)
    fv_inodes: dict[str, set[int]] = {}
    for row in table[~table.catch_trial].itertuples():
        base = folder.parent / f"demo_{folder.name}" if row.is_demo else folder / f"task_{row.task}"
        trial = base / "trials" / f"trial_{row.trial}"
        for name in ("min_0", "max_8"):
            shown, source = (
                trial / "references" / f"{name}.png",
                results / row.references / f"{name}.png",
            )
            assert not shown.samefile(source)
            with Image.open(source) as img:
                assert img.size == (FV_SIZE, FV_SIZE)
                expected = img.convert("RGB").resize((224, 224), Image.Resampling.LANCZOS)
            assert np.array_equal(pixels(shown), np.asarray(expected))
            fv_inodes.setdefault(str(source), set()).add(shown.stat().st_ino)
        # natural queries already have the UI size: hard links to the stored exemplars
        assert (trial / "queries" / "max.png").samefile(results / row.queries / "max_9.png")
    # each stored FV is resampled once; its other appearances are hard links to that copy
    assert {len(inodes) for inodes in fv_inodes.values()} == {1}
    n_uses = (~table.catch_trial).sum()
    assert len(fv_inodes) < 2 * n_uses  # FVs of a unit appear in several trials


def test_catch_query_is_pixel_identical_to_a_same_side_reference(built):
    n_checked = 0
    for _, folder in built.values():
        for task_dir in folder.glob("task_*"):
            catch = json.loads((task_dir / "index.json").read_text())["catch_trial_idxs"]
            for trial_dir in (task_dir / "trials").iterdir():
                i = int(trial_dir.name.split("_")[1])
                for side in SIDES:
                    query = pixels(trial_dir / "queries" / f"{side}.png")
                    same = [
                        np.array_equal(query, pixels(ref))
                        for ref in (trial_dir / "references").glob(f"{side}_*.png")
                    ]
                    other = [
                        np.array_equal(query, pixels(ref))
                        for ref in (trial_dir / "references").glob("*.png")
                        if not ref.name.startswith(side)
                    ]
                    assert not any(other)
                    assert any(same) == (i in catch)  # regular queries are never references
                    if i in catch:
                        assert np.array_equal(
                            query, pixels(trial_dir / "references" / f"{side}_8.png")
                        )
                        n_checked += 1
    assert n_checked == 3 * SMALL["n_tasks"] * SMALL["n_catch_trials"] * 2


def test_structure_json_names_the_exact_query_files(built):
    for _, folder in built.values():
        structure = json.loads((folder / "structure.json").read_text())
        for task in structure["tasks"]:
            for trial in task["trials"]:
                index = 8 if trial["mode"] == "catch_trial" else 9
                assert trial["query_files"] == {
                    side: f"{trial['queries']}/{side}_{index}.png" for side in SIDES
                }
            for trial in task["raw_catch_trials"]:
                # a catch query repeats the most extreme reference of its side
                assert trial["queries"] == trial["references"]
                assert trial["query_files"]["max"] == f"{trial['references']}/max_8.png"


def test_synthetic_trials_use_natural_queries_and_fv_references(built, stimuli):
    results, _ = stimuli
    _, folder = built[f"{MODEL}_synthetic"]
    table = read_trials(folder)
    regular = table[~table.catch_trial & ~table.is_demo]
    assert set(regular["mode"]) == {"optimized"}
    for row in regular.itertuples():
        assert row.queries == f"{MODEL}/stimuli/natural_easy/{row.unit}/batch_{row.batch}"
        assert row.references == f"{MODEL}/stimuli/{row.unit}/synthetic"
        assert row.max_reference_3 == f"{row.references}/max_3.png"
    catch = table[table.catch_trial]
    assert set(catch.queries) == {f"{MODEL}/stimuli/{u}/synthetic" for u in catch.unit}
    assert catch.batch.isna().all()
    # catch queries are the strongest FVs (index 8); their activations come from fv.json
    assert set(catch.max_query_activation) == {28.0} and set(catch.min_query_activation) == {-28.0}


def test_hard_query_difficulty_takes_queries_from_its_folder(built, stimuli):
    results, _ = stimuli
    _, folder = built[f"{MODEL}_hard95_natural"]
    table = read_trials(folder)
    regular = table[~table.catch_trial & ~table.is_demo]
    assert set(regular.difficulty) == {"hard95"}
    assert set(table.difficulty[table.catch_trial | table.is_demo]) == {"easy"}
    row = regular.iloc[0]
    trial = folder / f"task_{row.task}" / "trials" / f"trial_{row.trial}"
    stim = results / MODEL / "stimuli" / "natural_hard95" / row.unit / f"batch_{row.batch}"
    assert (trial / "queries" / "min.png").samefile(stim / "min_9.png")


def test_trials_csv_agrees_with_the_folders(built, stimuli):
    results, _ = stimuli
    for name, (_, folder) in built.items():
        table = read_trials(folder)
        structure = json.loads((folder / "structure.json").read_text())
        n_main = sum(1 for _ in folder.glob("task_*/trials/trial_*"))
        n_demo = sum(1 for _ in (folder.parent / f"demo_{name}" / "trials").iterdir())
        assert len(table) == n_main + n_demo
        for row in table.itertuples():
            base = folder.parent / f"demo_{name}" if row.is_demo else folder / f"task_{row.task}"
            trial = base / "trials" / f"trial_{row.trial}"
            assert row.layer + "__" + str(row.channel) == row.unit
            query_index = 8 if row.catch_trial else 9
            assert shows(
                trial / "queries" / "max.png", results / row.queries / f"max_{query_index}.png"
            )
            assert shows(trial / "references" / "min_0.png", results / row.references / "min_0.png")
            if not row.is_demo:
                entry = structure["tasks"][row.task - 1]["trials"][row.trial - 1]
                assert (entry["queries"], entry["references"], entry["mode"]) == (
                    row.queries,
                    row.references,
                    row.mode,
                )
            if row.mode == "natural":
                meta = pd.read_csv(results / Path(row.queries).parent / "exemplars.csv")
                hit = meta[(meta.batch == row.batch) & (meta.side == "min") & (meta["index"] == 9)]
                assert hit.source.item() == row.min_query
                assert hit.activation.item() == pytest.approx(row.min_query_activation)
                ref = meta[(meta.batch == row.batch) & (meta.side == "max") & (meta["index"] == 4)]
                assert ref.source.item() == row.max_reference_4


def test_structure_json_has_the_authors_keys(built):
    plan, folder = built[f"{MODEL}_natural"]
    structure = json.loads((folder / "structure.json").read_text())
    assert list(structure) == ["tasks"]
    for k, task in enumerate(structure["tasks"], start=1):
        assert list(task) == ["index", "raw_trials", "raw_catch_trials", "trials"]
        assert task["index"] == k
        assert len(task["raw_trials"]) == 3 and len(task["raw_catch_trials"]) == 2
        assert sorted(map(json.dumps, task["trials"])) == sorted(
            map(json.dumps, task["raw_trials"] + task["raw_catch_trials"])
        )
        assert {t["mode"] for t in task["raw_catch_trials"]} == {"catch_trial"}
        assert {t["mode"] for t in task["raw_trials"]} == {"natural"}


def test_practice_folder_uses_practice_units_clearest_first(built, stimuli):
    results, _ = stimuli
    for name, (plan, folder) in built.items():
        demo = folder.parent / f"demo_{name}"
        index = json.loads((demo / "index.json").read_text())
        assert index == {
            "task_name": f"demo_{name}",
            "n_reference_images": 9,
            "n_trials": 3,
            "n_obvious_trials": 2,
        }
        table = read_trials(folder)
        rows = table[table.is_demo].sort_values("trial")
        assert set(rows.unit) <= set(plan.selection.practice_units)
        gaps = list(rows.max_query_activation - rows.min_query_activation)
        assert gaps == sorted(gaps, reverse=True)
        # the clearest of all (practice unit, batch) candidates comes first
        candidates = []
        for unit in plan.selection.practice_units:
            meta = pd.read_csv(
                results / MODEL / "stimuli" / "natural_easy" / unit / "exemplars.csv"
            )
            queries = meta[meta["index"] == 9].pivot(
                index="batch", columns="side", values="activation"
            )
            candidates += list(queries["max"] - queries["min"])
        assert gaps[0] == pytest.approx(max(candidates))
        assert set(rows.difficulty) == {"easy"}
        assert len(list((demo / "trials").iterdir())) == 3
        assert not list(demo.glob("task_*"))


def test_files_are_hard_links_never_symlinks(built, stimuli):
    results, _ = stimuli
    _, folder = built[f"{MODEL}_natural"]
    files = all_images(folder)
    assert len(files) == (4 * 5 + 3) * 20
    assert not any(p.is_symlink() for p in files)
    assert all(p.stat().st_nlink >= 2 for p in files)


def test_copies_where_hard_links_are_refused(stimuli, tmp_path, monkeypatch):
    results, units = stimuli

    def refuse(src, dst, **kw):
        raise OSError(errno.EXDEV, "cross-device link")

    monkeypatch.setattr(experiment_stimuli.os, "link", refuse)
    exp = Experiment(MODEL, "synthetic")
    plan = plan_experiment(exp, units, small_settings(), results)
    report = write_experiment(
        plan, results, tmp_path / exp.name, tmp_path / f"demo_{exp.name}", instruction_pages=None
    )
    assert report.n_files == (4 * 5 + 3) * 20
    # every natural query is copied; the FVs are resampled once and copied for their repeats
    assert 0 < report.n_resampled < report.n_copies < report.n_files
    assert report.n_copies + report.n_resampled == report.n_files
    query = tmp_path / exp.name / "task_1" / "trials" / "trial_1" / "queries" / "max.png"
    assert query.stat().st_nlink == 1 and not query.is_symlink()
    assert not (tmp_path / exp.name / "instructions").exists()


def test_instruction_pages(built):
    for name, (_, folder) in built.items():
        pages = sorted((folder / "instructions").iterdir(), key=lambda p: int(p.stem))
        n = 13 if name.endswith("synthetic") else 12
        assert [p.name for p in pages] == [f"{i}.jpg" for i in range(1, n + 1)]
        with Image.open(pages[1]) as img:
            assert img.format == "JPEG" and img.size == (1280, 760)
            assert img.info["comment"].decode().startswith(f"unitpsych instruction page 2/{n}:")


def test_ready_instruction_pages_are_copied_or_refused(stimuli, tmp_path):
    results, units = stimuli
    ready = tmp_path / "ready"
    ready.mkdir()
    for i in range(1, 14):
        Image.new("RGB", (800, 450), (i, 0, 0)).save(ready / f"{i}.jpg")
    exp = Experiment(MODEL, "natural")
    plan = plan_experiment(exp, units, small_settings(), results)
    out = tmp_path / "out"
    write_experiment(plan, results, out / exp.name, out / f"demo_{exp.name}", str(ready))
    copied = sorted((out / exp.name / "instructions").iterdir(), key=lambda p: int(p.stem))
    assert [p.name for p in copied] == [f"{i}.jpg" for i in range(1, 13)]  # natural: 12 of 13
    assert copied[4].read_bytes() == (ready / "5.jpg").read_bytes()
    assert check_experiment_folder(out / exp.name)["n_tasks"] == 4
    # a bad folder fails at planning time, naming the config key
    (ready / "13.jpg").unlink()
    Image.new("RGB", (300, 450)).save(ready / "3.jpg")
    cfg = validated(
        experiments={
            **SMALL,
            "instructions": str(ready),
            "list": [{"model": MODEL, "condition": "synthetic"}],
        },
        exemplars=SMALL_EXEMPLARS,
    )
    with pytest.raises(ValueError, match="experiments.instructions") as err:
        check_experiment_counts(
            cfg["experiments"], cfg["models"], cfg["exemplars"], cfg["visualizations"]
        )
    assert "missing 13.jpg" in str(err.value) and "3.jpg: 300×450 px" in str(err.value)


def test_same_config_and_seed_give_byte_identical_folders(built, stimuli, tmp_path):
    results, units = stimuli
    exp = Experiment(MODEL, "synthetic")
    build(results, units, exp, tmp_path)
    _, first = built[exp.name]

    def tree(root: Path) -> dict[str, bytes]:
        return {
            str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
        }

    assert tree(tmp_path / exp.name) == tree(first)
    assert tree(tmp_path / f"demo_{exp.name}") == tree(first.parent / f"demo_{exp.name}")
    other = build(results, units, exp, tmp_path / "seed2", seed=2)
    assert other.structure() != built[exp.name][0].structure()


def test_required_stimulus_dirs():
    units = unit_names(10)
    settings = small_settings()
    sel = select_units(units, 6, 1, 2, seed=1)
    # natural experiments read the natural sets of their difficulty and of easy (practice, catch)
    natural = required_stimulus_dirs(Experiment("m", "natural", "hard95"), units, settings, "")
    assert natural == ["m/stimuli/natural_easy", "m/stimuli/natural_hard95"]
    # a synthetic experiment's units are known only once its FVs are judged: every unit's FVs
    # and the natural queries (and easy ones for practice) are inputs
    synthetic = required_stimulus_dirs(Experiment("m", "synthetic"), units, settings)
    assert synthetic == sorted(
        ["results/m/stimuli/natural_easy"] + [f"results/m/stimuli/{u}/synthetic" for u in units]
    )
    hard = required_stimulus_dirs(Experiment("m", "synthetic", "hard95"), units, settings)
    assert len(hard) == 12 and "results/m/stimuli/natural_hard95" in hard
    # with every unit allowed (experiments.synthetic_units: all), only the drawn units' folders
    every = required_stimulus_dirs(Experiment("m", "synthetic"), units, settings, "", False)
    assert f"m/stimuli/{sel.catch_units[0]}/synthetic" in every
    assert len(every) == 6 + 2 + 1 + 1


def test_build_experiment_script_contract(stimuli, tmp_path):
    """The rule's script writes both folders and logs what it built."""
    results, units = stimuli
    (results / MODEL / "units.json").write_text(json.dumps({"units": units}))
    name = f"{MODEL}_hard95_synthetic"
    out = tmp_path / "experiments"
    log = tmp_path / "log" / "build.log"
    cfg = validated(experiments=SMALL, exemplars=SMALL_EXEMPLARS)
    # the model's featureviz_summary.csv with two units whose FVs failed the success test
    from unitpsych.visualizations.featureviz import summarize_visualizations

    folders = [results / MODEL / "stimuli" / u / "synthetic" for u in units]
    summary = summarize_visualizations(folders)
    failed = sorted(units)[:2]
    summary.loc[summary["unit"].isin(failed), ["success", "reason"]] = [False, "max side short"]
    summary.to_csv(tmp_path / "featureviz_summary.csv", index=False)
    fake = mock_snakemake(
        input={
            "units": results / MODEL / "units.json",
            "stimuli": [],
            "featureviz": [tmp_path / "featureviz_summary.csv"],
        },
        output={"folder": out / name, "demo": out / f"demo_{name}"},
        log=[log],
        params={
            "experiment": {
                "name": name,
                "model": MODEL,
                "condition": "synthetic",
                "difficulty": "hard95",
            },
            "settings": {
                k: v for k, v in cfg["experiments"].items() if k not in ("list", "instructions")
            },
            "exemplars": {k: cfg["exemplars"][k] for k in ("n_batches", "n_references")},
            "instructions": cfg["experiments"]["instructions"],
            "code_version": 3,
        },
    )
    run_script("build_experiment", fake)
    assert sorted(p.name for p in out.iterdir()) == [f"demo_{name}", name]
    index = json.loads((out / name / "task_4" / "index.json").read_text())
    assert index["task_name"] == f"{name}/task_4"
    assert len(list((out / name / "instructions").glob("*.jpg"))) == 13
    table = read_trials(out / name)
    assert set(table.difficulty.dropna()) == {"hard95", "easy"}  # practice trials use easy queries
    # the failed units are in no trial; units.csv and selection.json say which and why, and
    # that the experiment shrank from 6 to 4 units (8 usable, 3 reserved, 4 × 3 trials)
    assert not set(table["unit"]) & set(failed)
    roles = pd.read_csv(out / name / "units.csv").set_index("unit")
    assert set(roles.index) == set(units) and set(roles.index[roles["role"] == "left_out"]) == set(
        failed
    )
    assert (
        roles.loc[failed, "reason"] == "feature visualisations failed the success test: "
        "max side short"
    ).all()
    selection = json.loads((out / name / "selection.json").read_text())
    assert (selection["n_left_out"], selection["n_units_configured"], selection["n_units"]) == (
        2,
        6,
        4,
    )
    assert selection["shrunk"].startswith("n_units 6 -> 4")
    assert table.loc[~table["is_demo"] & (table["mode"] != "catch_trial"), "unit"].nunique() == 4
    text = log.read_text()
    assert "2 of 10 units left out" in text and "n_units 6 -> 4" in text
    assert "4 units in 4 tasks" in text and "practice units" in text and "checked against" in text
    assert "resampled to the UI's size" in text
    assert not list(out.glob(".*"))  # no temporary folders left behind
    fake.params.experiment = dict(fake.params.experiment, name="wrong")
    with pytest.raises(ValueError, match="not 'wrong'"):
        run_script("build_experiment", fake)


def test_check_experiment_folder_accepts_built_folders_and_names_problems(built, tmp_path):
    import shutil

    for _, folder in built.values():
        counts = check_experiment_folder(folder)
        assert counts == {"n_tasks": 4, "n_trials": 20, "n_catch_trials": 8, "n_demo_trials": 3}
    name = f"{MODEL}_synthetic"
    _, folder = built[name]
    broken = tmp_path / name
    shutil.copytree(folder, broken)
    shutil.copytree(folder.parent / f"demo_{name}", tmp_path / f"demo_{name}")
    (broken / "task_2" / "trials" / "trial_3" / "references" / "max_4.png").unlink()
    index_path = broken / "task_3" / "index.json"
    index = json.loads(index_path.read_text())
    regular = next(i for i in range(1, 6) if i not in index["catch_trial_idxs"])
    index["catch_trial_idxs"] = [regular]
    index_path.write_text(json.dumps(index))
    (broken / "task_1" / "trials" / "trial_1" / "extra.png").symlink_to(index_path)
    small = broken / "task_4" / "trials" / "trial_2" / "references" / "min_5.png"
    small.unlink()
    _png(small, "small", size=FV_SIZE)  # a stored 48 px FV put in as it is
    (broken / "instructions" / "13.jpg").unlink()
    with pytest.raises(ValueError) as err:
        check_experiment_folder(broken)
    message = str(err.value)
    assert "1 symlinks" in message
    assert "task_2/trials/trial_3/references: expected" in message
    assert (
        f"task_3/trials/trial_{regular}/queries/min.png: catch query matches no min reference"
        in message
    )
    assert (
        "task_4/trials/trial_2/references/min_5.png: 48×48 px, the UI lays out 224×224" in message
    )
    assert "missing 13.jpg (synthetic needs 1.jpg..13.jpg)" in message
    # a natural experiment needs only 12 pages: read from the name, or given
    with pytest.raises(ValueError, match="unexpected 13.jpg"):
        experiment_check.check_experiment_folder(folder, condition="natural")


def test_folder_module_keeps_the_trials_csv_columns():
    """Readers (observer, responses, UI) rely on these columns; new ones may only be added."""
    assert experiment_folders.TRIAL_COLUMNS[:17] == [
        "experiment",
        "task",
        "trial",
        "is_demo",
        "catch_trial",
        "mode",
        "unit",
        "layer",
        "channel",
        "batch",
        "difficulty",
        "queries",
        "references",
        "min_query",
        "max_query",
        "min_query_activation",
        "max_query_activation",
    ]

"""2-AFC experiment folders: balance, catch and practice trials, UI format, determinism (issue 4)."""

from __future__ import annotations

import errno
import json
import zlib
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from unitpsych import experiments as ex
from unitpsych.experiments import (
    Experiment,
    Settings,
    check_experiment_counts,
    plan_experiment,
    select_units,
    write_experiment,
)

SIDES = ("min", "max")


def _png(path: Path, key: str, size: int = 8) -> None:
    """A tiny PNG whose pixels depend only on `key` (distinct keys give distinct images)."""
    rng = np.random.default_rng(zlib.crc32(key.encode()))
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path)


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
    """Fake natural exemplars (+ exemplars.csv) and feature visualisations (+ fv.json) per unit.

    With `images=False` only the metadata files are written (enough to plan an experiment).
    """
    for u_idx, unit in enumerate(units):
        stim = results / model / "stimuli" / unit
        for difficulty in difficulties:
            folder = stim / f"natural_{difficulty}"
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
                        _png(
                            stim / "synthetic" / f"{side}_{i}.png", f"{model}/{unit}/fv/{side}_{i}"
                        )
                acts[side] = [sign * (20.0 + i) for i in range(n_references)]
            (stim / "synthetic").mkdir(parents=True, exist_ok=True)
            (stim / "synthetic" / "fv.json").write_text(
                json.dumps({side: {"activations": a} for side, a in acts.items()})
            )  # the layout of featureviz.UnitFV.to_json


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
    "seed": 1,
}
SMALL_EXEMPLARS = {"n_batches": 4, "n_references": 9}
MODEL = "tinynet"


@pytest.fixture(scope="module")
def stimuli(tmp_path_factory) -> tuple[Path, list[str]]:
    """A results folder with fake stimuli of 10 units (easy + hard95, FVs)."""
    results = tmp_path_factory.mktemp("results")
    units = unit_names(10)
    make_stimuli(results, MODEL, units, ("easy", "hard95"), n_batches=4)
    return results, units


def build(results: Path, units: list[str], exp: Experiment, out: Path, **kw) -> ex.Plan:
    """Plan and write one experiment from the SMALL settings into `out/<name>`."""
    settings = Settings.from_config({**SMALL, **kw}, SMALL_EXEMPLARS)
    plan = plan_experiment(exp, units, settings, results)
    write_experiment(plan, results, out / exp.name, out / f"demo_{exp.name}")
    return plan


@pytest.fixture(scope="module")
def built(stimuli, tmp_path_factory) -> dict[str, tuple[ex.Plan, Path]]:
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
    """An experiment's trials.csv (batch as a nullable integer: synthetic catch trials have none)."""
    return pd.read_csv(folder / "trials.csv", dtype={"batch": "Int64"})


def pixels(path: Path) -> np.ndarray:
    """An image's RGB pixels."""
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


# ------------------------------------------------------------------------------------------
# names, units, balance


def test_experiment_names_follow_the_design():
    assert Experiment("resnet50", "natural").name == "resnet50_natural"
    assert Experiment("resnet50", "synthetic", "hard95").name == "resnet50_hard95_synthetic"
    assert Experiment("resnet50", "synthetic").mode == "optimized"
    with pytest.raises(ValueError, match="natural, synthetic"):
        ex.experiment_name("resnet50", "optimized")


def test_unit_selection_is_seeded_disjoint_and_independent_of_input_order():
    units = unit_names(20)
    a = select_units(units, 12, 3, 4, seed=1)
    b = select_units(list(reversed(units)), 12, 3, 4, seed=1)
    assert a == b
    assert len(set(a.units) | set(a.catch_units) | set(a.practice_units)) == 19
    assert select_units(units, 12, 3, 4, seed=2) != a
    with pytest.raises(ValueError, match=r"20 units available.*12 \+ 5 \+ 4 = 21"):
        select_units(units, 12, 5, 4, seed=1)


@pytest.mark.parametrize(
    ("n_units", "n_tasks", "n_trials"), [(84, 63, 40), (6, 4, 3), (8, 6, 8), (7, 7, 3), (5, 1, 5)]
)
def test_every_unit_appears_repetitions_times_and_at_most_once_per_task(n_units, n_tasks, n_trials):
    units = unit_names(n_units)
    tasks = ex.assign_units_to_tasks(units, n_tasks, n_trials, np.random.default_rng(0))
    assert len(tasks) == n_tasks
    assert all(len(task) == len(set(task)) == n_trials for task in tasks)
    counts = Counter(u for task in tasks for u in task)
    assert set(counts) == set(units)
    assert set(counts.values()) == {n_tasks * n_trials // n_units}


def test_batch_ids_cycle_per_unit():
    cycle = ex.BatchCycle(2)
    assert [cycle("a") for _ in range(7)] == [0, 1, 2, 0, 1, 2, 0]
    assert cycle("b") == 0


def test_paper_numbers_on_fake_stimuli(tmp_path):
    """84 units in 63 tasks × (40 + 5 catch) trials, 30 repetitions, batch ids cycling 0..10.

    Planned from the exemplar metadata alone: writing the 56,700 linked files takes seconds, but
    deleting them again costs a minute on a busy overlay file system; the small experiments
    above write and check every file.
    """
    results = tmp_path / "results"
    units = unit_names(100)
    settings = Settings.from_config({}, {"n_batches": 11})
    selection = select_units(units, 84, 5, 5, seed=1)
    used = [*selection.units, *selection.catch_units, *selection.practice_units]
    make_stimuli(results, "paper", used, n_batches=11, synthetic=False, images=False)
    exp = Experiment("paper", "natural")
    plan = plan_experiment(exp, units, settings, results)
    assert settings.repetitions == 30 and settings.trials_per_task == 45
    structure = plan.structure()["tasks"]
    assert [task["index"] for task in structure] == list(range(1, 64))
    assert {len(task["trials"]) for task in structure} == {45}
    assert {len(task["raw_catch_trials"]) for task in structure} == {5}
    assert {ex.task_index(exp, t, 9)["n_trials"] for t in plan.tasks} == {45}
    assert {len(ex.task_index(exp, t, 9)["catch_trial_idxs"]) for t in plan.tasks} == {5}
    table = ex.trials_table(plan, ex.StimulusInfo(results))
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
    ],
)
def test_unbalanced_counts_fail_with_what_would_fit(change, message):
    exp_cfg = {**SMALL, **change, "list": [{"model": MODEL, "condition": "natural"}]}
    models = {MODEL: {"arch": "x", "units": {"n": 10}}}
    with pytest.raises(ValueError, match=message):
        check_experiment_counts(exp_cfg, models, SMALL_EXEMPLARS)


def test_synthetic_experiments_need_as_many_fvs_as_references():
    exp_cfg = {**SMALL, "list": [{"model": MODEL, "condition": "synthetic"}]}
    models = {MODEL: {"arch": "x", "units": {"n": 10}}}
    with pytest.raises(ValueError, match="set featureviz.n_images = 9"):
        check_experiment_counts(exp_cfg, models, SMALL_EXEMPLARS, {"n_images": 8})
    check_experiment_counts(exp_cfg, models, SMALL_EXEMPLARS, {"n_images": 9})


def test_balanced_counts_pass_including_shared_units():
    exp_cfg = {**SMALL, "list": [{"model": "b", "condition": "synthetic"}]}
    models = {
        "a": {"arch": "x", "units": {"n": 10}},
        "b": {"arch": "x", "units": {"share_with": "a"}},
    }
    check_experiment_counts(exp_cfg, models, SMALL_EXEMPLARS)
    check_experiment_counts(
        {"list": [{"model": "a", "condition": "natural"}]}, {"a": {"arch": "x"}}, {}
    )  # the paper defaults: 100 units, 20 batches


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


def test_synthetic_trials_use_natural_queries_and_fv_references(built, stimuli):
    results, _ = stimuli
    plan, folder = built[f"{MODEL}_synthetic"]
    table = read_trials(folder)
    regular = table[~table.catch_trial & ~table.is_demo]
    assert set(regular["mode"]) == {"optimized"}
    for row in regular.itertuples():
        trial = folder / f"task_{row.task}" / "trials" / f"trial_{row.trial}"
        stim = results / MODEL / "stimuli" / row.unit
        assert (trial / "queries" / "max.png").samefile(
            stim / "natural_easy" / f"batch_{row.batch}" / "max_9.png"
        )
        assert (trial / "references" / "min_3.png").samefile(stim / "synthetic" / "min_3.png")
    catch = table[table.catch_trial]
    assert set(catch.queries) == {f"{MODEL}/stimuli/{u}/synthetic" for u in catch.unit}
    # catch queries are the strongest FVs (index 8); their activations come from fv.json
    assert set(catch.max_query_activation) == {28.0} and set(catch.min_query_activation) == {-28.0}


def test_hard_query_difficulty_takes_queries_from_its_folder(built, stimuli):
    results, _ = stimuli
    _, folder = built[f"{MODEL}_hard95_natural"]
    table = read_trials(folder)
    row = table[~table.catch_trial & ~table.is_demo].iloc[0]
    trial = folder / f"task_{row.task}" / "trials" / f"trial_{row.trial}"
    assert (trial / "queries" / "min.png").samefile(
        results
        / MODEL
        / "stimuli"
        / row.unit
        / "natural_hard95"
        / f"batch_{row.batch}"
        / "min_9.png"
    )
    assert row.difficulty == "hard95"


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
            q = ex.SIDES.index("max")
            query_index = 8 if row.catch_trial else 9
            assert (trial / "queries" / "max.png").samefile(
                results / row.queries / f"{ex.SIDES[q]}_{query_index}.png"
            )
            assert (trial / "references" / "min_0.png").samefile(
                results / row.references / "min_0.png"
            )
            if not row.is_demo:
                entry = structure["tasks"][row.task - 1]["trials"][row.trial - 1]
                assert entry == {
                    "queries": row.queries,
                    "references": row.references,
                    "mode": row.mode,
                }
            if row.mode == "natural":
                meta = pd.read_csv(results / Path(row.queries).parent / "exemplars.csv")
                hit = meta[(meta.batch == row.batch) & (meta.side == "min") & (meta["index"] == 9)]
                assert hit.source.item() == row.min_query
                assert hit.activation.item() == pytest.approx(row.min_query_activation)


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
        # the clearest trial of all practice candidates comes first
        assert set(rows.difficulty) == {"easy"}
        assert len(list((demo / "trials").iterdir())) == 3
        assert not list(demo.glob("task_*"))


def test_files_are_hard_links_never_symlinks(built, stimuli):
    results, _ = stimuli
    _, folder = built[f"{MODEL}_natural"]
    files = [p for p in folder.rglob("*.png")] + [p for p in folder.parent.glob("demo_*/**/*.png")]
    assert files
    assert not any(p.is_symlink() for p in files)
    assert all(p.stat().st_nlink >= 2 for p in files)


def test_copies_where_hard_links_are_refused(stimuli, tmp_path, monkeypatch):
    results, units = stimuli

    def refuse(src, dst, **kw):
        raise OSError(errno.EXDEV, "cross-device link")

    monkeypatch.setattr(ex.os, "link", refuse)
    exp = Experiment(MODEL, "natural")
    settings = Settings.from_config(SMALL, SMALL_EXEMPLARS)
    plan = plan_experiment(exp, units, settings, results)
    report = write_experiment(
        plan, results, tmp_path / exp.name, tmp_path / f"demo_{exp.name}", render_instructions=False
    )
    assert report.n_copies == report.n_files == (4 * 5 + 3) * 20
    query = tmp_path / exp.name / "task_1" / "trials" / "trial_1" / "queries" / "max.png"
    assert query.stat().st_nlink == 1 and not query.is_symlink()


def test_instruction_pages(built):
    for name, (_, folder) in built.items():
        pages = sorted((folder / "instructions").iterdir(), key=lambda p: int(p.stem))
        n = 13 if name.endswith("synthetic") else 12
        assert [p.name for p in pages] == [f"{i}.jpg" for i in range(1, n + 1)]
        with Image.open(pages[1]) as img:
            assert img.format == "JPEG" and img.size == (1280, 720)
            # the example trial is drawn: the page is not blank text on white
            assert np.asarray(img.convert("L")).std() > 20


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
    settings = Settings.from_config(SMALL, SMALL_EXEMPLARS)
    sel = select_units(units, 6, 1, 2, seed=1)
    natural = ex.required_stimulus_dirs(Experiment("m", "natural", "hard95"), units, settings)
    assert f"m/stimuli/{sel.units[0]}/natural_hard95" in natural
    assert f"m/stimuli/{sel.catch_units[0]}/natural_easy" in natural
    assert f"m/stimuli/{sel.practice_units[0]}/natural_easy" in natural
    assert not any(d.endswith("synthetic") for d in natural)
    synthetic = ex.required_stimulus_dirs(Experiment("m", "synthetic"), units, settings)
    assert f"m/stimuli/{sel.units[0]}/synthetic" in synthetic
    assert f"m/stimuli/{sel.units[0]}/natural_easy" in synthetic
    assert f"m/stimuli/{sel.catch_units[0]}/synthetic" in synthetic
    assert f"m/stimuli/{sel.catch_units[0]}/natural_easy" not in synthetic
    assert len(natural) == 9 and len(synthetic) == 6 + 2 + 9


def test_build_experiment_script_contract(stimuli, tmp_path):
    """The rule's script writes both folders and logs what it built."""
    import build_experiment

    results, units = stimuli
    (results / MODEL / "units.json").write_text(json.dumps({"units": units}))
    name = f"{MODEL}_hard95_synthetic"
    out = tmp_path / "experiments"
    log = tmp_path / "log" / "build.log"
    fake = SimpleNamespace(
        input=SimpleNamespace(units=str(results / MODEL / "units.json"), stimuli=[]),
        output=SimpleNamespace(folder=str(out / name), demo=str(out / f"demo_{name}")),
        log=[str(log)],
        params=SimpleNamespace(
            experiment={
                "name": name,
                "model": MODEL,
                "condition": "synthetic",
                "difficulty": "hard95",
            },
            settings=SMALL,
            exemplars=SMALL_EXEMPLARS,
            code_version=1,
        ),
    )
    build_experiment.main(fake)
    assert sorted(p.name for p in out.iterdir()) == [f"demo_{name}", name]
    index = json.loads((out / name / "task_4" / "index.json").read_text())
    assert index["task_name"] == f"{name}/task_4"
    assert len(list((out / name / "instructions").glob("*.jpg"))) == 13
    table = read_trials(out / name)
    assert set(table.difficulty.dropna()) == {"hard95", "easy"}  # practice trials use easy queries
    text = log.read_text()
    assert "4 tasks" in text and "practice units" in text and "checked against" in text
    assert not list(out.glob(".*"))  # no temporary folders left behind
    fake.params.experiment = dict(fake.params.experiment, name="wrong")
    with pytest.raises(ValueError, match="not 'wrong'"):
        build_experiment.main(fake)


def test_check_experiment_folder_accepts_built_folders_and_names_problems(built, tmp_path):
    import shutil

    for _, folder in built.values():
        counts = ex.check_experiment_folder(folder)
        assert counts == {"n_tasks": 4, "n_trials": 20, "n_catch_trials": 8, "n_demo_trials": 3}
    name = f"{MODEL}_natural"
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
    with pytest.raises(ValueError) as err:
        ex.check_experiment_folder(broken)
    message = str(err.value)
    assert "1 symlinks" in message
    assert "task_2/trials/trial_3/references: expected" in message
    assert (
        f"task_3/trials/trial_{regular}/queries/min.png: catch query matches no min reference"
        in message
    )

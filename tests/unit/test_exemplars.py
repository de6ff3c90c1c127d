"""Natural exemplars: rank windows, bins, fair batches, saved PNGs, the script and the preview
sheet."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from script_runner import mock_snakemake, run_script
from unitpsych.exemplars.natural import (
    exemplar_path,
    minimum_n_images,
    model_difficulties,
    rank_windows,
    read_exemplars,
    resize_center_crop,
    save_exemplars,
    select_exemplars,
    stimulus_index,
)
from unitpsych.exemplars.preview import unit_preview_sheet

PAPER_N = 1_281_167
QUANTILES = {"easy": 0.0, "hard99": 0.01, "hard95": 0.05, "hard85": 0.15}

# protocol §4: (start_min, stop_max, first/last min query rank, first/last max query rank)
PAPER_TABLE = {
    "easy": (180, 1_280_986, (180, 199), (1_280_966, 1_280_985)),
    "hard99": (12_811, 1_268_356, (12_811, 12_830), (1_268_336, 1_268_355)),
    "hard95": (64_058, 1_217_109, (64_058, 64_077), (1_217_089, 1_217_108)),
    "hard85": (192_175, 1_088_992, (192_175, 192_194), (1_088_972, 1_088_991)),
}


@pytest.mark.parametrize("difficulty", PAPER_TABLE)
def test_paper_table_for_imagenet_train(difficulty):
    start_min, stop_max, min_q, max_q = PAPER_TABLE[difficulty]
    w = rank_windows(PAPER_N, 20, QUANTILES[difficulty], 9)
    assert (w.start_min, w.stop_max) == (start_min, stop_max)
    assert (w.min_queries[0], w.min_queries[-1]) == min_q
    assert (w.max_queries[0], w.max_queries[-1]) == max_q
    assert w.min_references == range(0, 180)
    assert w.max_references == range(PAPER_N - 180, PAPER_N)


# N = 1000, B = 5, 9 reference bins: the query windows of every difficulty, worked out by hand
SMALL_QUERIES = {
    "easy": (range(45, 50), range(949, 954)),  # right after the 45 references (max side: N-45-1)
    "hard99": (range(45, 50), range(949, 954)),  # floor(0.01 N) = 10 < 45: same as easy
    "hard95": (range(50, 55), range(945, 950)),  # floor(0.05 N) = 50
    "hard85": (range(150, 155), range(845, 850)),  # floor(0.15 N) = 150
}


@pytest.fixture(scope="module")
def shuffled_values():
    """1000 activations whose ascending rank of image row r is known: value = rank."""
    ranks = np.random.default_rng(7).permutation(1000)
    return ranks.astype(np.float32), ranks


@pytest.mark.parametrize("difficulty", SMALL_QUERIES)
def test_exact_membership_of_every_bin_and_query(shuffled_values, difficulty):
    values, ranks_of_row = shuffled_values
    table = select_exemplars(values, 5, QUANTILES[difficulty], 9, seed=3)
    assert len(table) == 2 * 5 * 10
    # rank and activation are consistent with the image rows
    assert (ranks_of_row[table["image"]] == table["rank"]).all()
    assert (table["activation"] == table["rank"]).all()
    min_q, max_q = SMALL_QUERIES[difficulty]
    for index in range(10):
        got_min = set(table.query("side == 'min' and index == @index")["rank"])
        got_max = set(table.query("side == 'max' and index == @index")["rank"])
        if index == 9:
            assert got_min == set(min_q) and got_max == set(max_q)
        else:  # bin 0 least extreme, bin 8 the 5 most extreme
            assert got_min == set(range((8 - index) * 5, (9 - index) * 5))
            assert got_max == set(range(955 + index * 5, 960 + index * 5))
    assert set(table.loc[table["index"] == 9, "role"]) == {"query"}
    assert set(table.loc[table["index"] < 9, "role"]) == {"reference"}
    # every batch holds one image of every bin on each side, and no image appears twice
    counts = table.groupby(["batch", "side"])["index"].apply(sorted)
    assert all(c == list(range(10)) for c in counts)
    assert table["image"].is_unique


@pytest.mark.parametrize("n", [401, 402, 777, 3000, 12345])
@pytest.mark.parametrize("difficulty", QUANTILES)
def test_queries_and_references_never_overlap(n, difficulty):
    values = np.random.default_rng(n).normal(size=n)
    table = select_exemplars(values, 20, QUANTILES[difficulty], 9, seed=1)
    assert table["image"].is_unique
    assert table["rank"].is_unique
    mins = table[table["side"] == "min"]["activation"]
    maxs = table[table["side"] == "max"]["activation"]
    assert mins.max() < maxs.min()


def test_too_small_image_set_names_the_minimum():
    assert minimum_n_images(20, 0.0, 9) == 401
    rank_windows(401, 20, 0.0, 9)
    with pytest.raises(ValueError, match=r"400 images are too few.*at least N = 401"):
        rank_windows(400, 20, 0.0, 9)
    with pytest.raises(ValueError, match="at least N = 401"):
        select_exemplars(np.arange(300.0), 20, 0.15, 9, seed=0)
    with pytest.raises(ValueError, match=r"outside \[0, 0.5\)"):
        rank_windows(PAPER_N, 20, 0.5, 9)


@pytest.mark.parametrize("quantile", [0.0, 0.15, 0.3, 0.45])
def test_minimum_n_is_tight(quantile):
    need = minimum_n_images(3, quantile, n_references=4)
    with pytest.raises(ValueError, match=f"at least N = {need}"):
        rank_windows(need - 1, 3, quantile, n_references=4)
    for n in range(need, need + 300):  # every larger set works
        rank_windows(n, 3, quantile, n_references=4)


def test_selection_is_deterministic_and_seeded():
    values = np.random.default_rng(0).normal(size=2000)
    a = select_exemplars(values, 20, 0.05, 9, seed=11)
    pd.testing.assert_frame_equal(a, select_exemplars(values, 20, 0.05, 9, seed=11))
    b = select_exemplars(values, 20, 0.05, 9, seed=12)
    assert not a["image"].equals(b["image"])
    assert set(a["image"]) == set(b["image"])
    # the shuffles do not depend on the query window: same references in the same batches
    easy = select_exemplars(values, 20, 0.0, 9, seed=11)
    refs = ["batch", "side", "index", "image"]
    pd.testing.assert_frame_equal(
        a.loc[a["role"] == "reference", refs], easy.loc[easy["role"] == "reference", refs]
    )


def test_ties_are_broken_by_image_order():
    table = select_exemplars(np.zeros(500), 2, 0.0, 9, seed=0)
    assert (table["image"] == table["rank"]).all()


def test_non_finite_activations_are_rejected():
    values = np.arange(500.0)
    values[17] = np.nan
    with pytest.raises(ValueError, match="not finite.*row 17"):
        select_exemplars(values, 2, 0.0, 9, seed=0)


@pytest.mark.parametrize("size", [(300, 200), (200, 300), (256, 256), (257, 401), (96, 96)])
def test_resize_center_crop_matches_torchvision(size):
    import torchvision.transforms as T

    rng = np.random.default_rng(sum(size))
    img = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    ours = resize_center_crop(img, 256, 224)
    theirs = T.Compose([T.Resize(256), T.CenterCrop(224)])(img)
    assert ours.size == (224, 224)
    assert np.array_equal(np.asarray(ours), np.asarray(theirs))


def _write_images(root: Path, n: int) -> list[str]:
    """n small images of varied shape and colour mode (grey, CMYK, palette, RGBA, RGB JPEG)."""
    rng = np.random.default_rng(5)
    paths = []
    for i in range(n):
        w, h = int(rng.integers(40, 90)), int(rng.integers(40, 90))
        rgb = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        mode, ext = [("L", "png"), ("CMYK", "jpg"), ("P", "png"), ("RGBA", "png"), ("RGB", "jpg")][
            i % 5
        ]
        img = rgb.convert(mode) if mode != "P" else rgb.quantize(16)
        rel = f"class_{i % 3}/img_{i:03d}.{ext}"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        img.save(root / rel)
        paths.append(rel)
    return sorted(paths)


def test_saved_pngs_are_rgb_224_from_any_source_mode(tmp_path):
    root = tmp_path / "images"
    paths = _write_images(root, 45)
    values = np.random.default_rng(1).normal(size=len(paths))
    table = select_exemplars(values, n_batches=2, quantile=0.0, n_references=9, seed=0)
    out = tmp_path / "natural_easy"
    saved = save_exemplars(table, root, paths, out, resize=256, size=224)
    modes = {Image.open(root / p).mode for p in saved["source"]}
    assert {"L", "CMYK", "P"} <= modes  # grey, CMYK and palette sources were among the saved
    for row in saved.itertuples():
        with Image.open(exemplar_path(out, row.batch, row.side, row.index)) as png:
            assert png.format == "PNG" and png.mode == "RGB" and png.size == (224, 224)
    meta = read_exemplars(out)
    assert list(meta.columns) == [
        "batch",
        "side",
        "index",
        "role",
        "source",
        "rank",
        "activation",
    ]
    assert len(meta) == 2 * 2 * 10


def _write_cache(path: Path, root: Path, paths: list[str], units: list[str], acts: np.ndarray):
    """A complete activation cache in the activation stage's format (design.md §4)."""
    strings = h5py.string_dtype("utf-8")
    with h5py.File(path, "w") as f:
        f.create_dataset("activations", data=acts.astype(np.float32))
        f.create_dataset("units", data=np.array(units, dtype=object), dtype=strings)
        f.create_dataset("images", data=np.array(paths, dtype=object), dtype=strings)
        f.attrs["model"] = "tiny"
        f.attrs["image_root"] = str(root)
        f.attrs["complete"] = True


def _fake_snakemake(
    h5: Path, folder: Path, log: Path, units: list[str], difficulty: str, quantile: float
):
    """A stand-in for the Snakemake object of one extract_exemplars job (a model's units at one
    difficulty)."""
    return mock_snakemake(
        input={"h5": h5},
        output={"folder": folder},
        log=[log],
        wildcards={"model": "tiny", "difficulty": difficulty},
        params={
            "units": units,
            "exemplars": {
                "n_batches": 2,
                "n_references": 9,
                "seed": 42,
                "image_size": 224,
                "resize": 256,
                "quantile": quantile,
            },
            "code_version": 1,
        },
    )


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    """Run the extract_exemplars script for two units at two difficulties on a tiny cache."""
    tmp = tmp_path_factory.mktemp("exemplars")
    root = tmp / "images"
    paths = _write_images(root, 60)
    rng = np.random.default_rng(2)
    acts = rng.normal(size=(len(paths), 2))
    units = ["block_1__3", "block_2__0"]
    h5 = tmp / "activations.h5"
    _write_cache(h5, root, paths, units, acts)
    folders = {}
    for difficulty, q in (("easy", 0.0), ("hard85", 0.15)):
        natural_set = tmp / "stimuli" / f"natural_{difficulty}"
        log = tmp / "logs" / f"{difficulty}.log"
        run_script("extract_exemplars", _fake_snakemake(h5, natural_set, log, units, difficulty, q))
        assert sorted(p.name for p in natural_set.iterdir()) == sorted(units)
        folders[difficulty] = natural_set / units[1]
    return SimpleNamespace(root=root, paths=paths, acts=acts[:, 1], folders=folders, tmp=tmp)


def test_script_writes_batches_metadata_and_windows(extracted):
    folder = extracted.folders["hard85"]
    batches = sorted(p.name for p in folder.iterdir() if p.is_dir())
    assert batches == ["batch_0", "batch_1"]
    for b in batches:
        names = sorted(p.name for p in (folder / b).iterdir())
        assert names == sorted(f"{s}_{i}.png" for s in ("min", "max") for i in range(10))
    meta = read_exemplars(folder)
    order = np.argsort(extracted.acts, kind="stable")
    # N = 60, B = 2: floor(0.15 * 60) = 9 < 18 references, so queries at ranks 18-19 and (N-18-1)-2
    # = 39-40
    queries = meta[meta["role"] == "query"]
    assert sorted(queries.loc[queries["side"] == "min", "rank"]) == [18, 19]
    assert sorted(queries.loc[queries["side"] == "max", "rank"]) == [39, 40]
    for row in meta.itertuples():
        assert row.source == extracted.paths[order[row.rank]]
        assert row.activation == pytest.approx(extracted.acts[order[row.rank]], rel=1e-6)
    # the saved max query of batch 0 is the resized, centre-cropped RGB source
    row = meta.query("batch == 0 and side == 'max' and index == 9").iloc[0]
    with Image.open(extracted.root / row.source) as src:
        expected = np.asarray(resize_center_crop(src.convert("RGB"), 256, 224))
    assert np.array_equal(np.asarray(Image.open(exemplar_path(folder, 0, "max", 9))), expected)
    info = json.loads((folder / "natural.json").read_text())
    assert info["n_images"] == 60 and info["min_query_ranks"] == [18, 19]
    assert info["window_inside_references"] is True
    assert (
        "block_2__0: 40 exemplars (hard85)" in (extracted.tmp / "logs" / "hard85.log").read_text()
    )


def test_script_is_deterministic(extracted, tmp_path):
    h5 = extracted.tmp / "activations.h5"
    again = tmp_path / "natural_easy"
    run_script(
        "extract_exemplars", _fake_snakemake(h5, again, tmp_path / "log", ["block_2__0"], "easy", 0)
    )
    again = again / "block_2__0"
    pd.testing.assert_frame_equal(read_exemplars(again), read_exemplars(extracted.folders["easy"]))
    for png in ("batch_1/min_4.png", "batch_0/max_9.png"):
        assert (again / png).read_bytes() == (extracted.folders["easy"] / png).read_bytes()


def test_script_reports_a_missing_unit(extracted, tmp_path):
    h5 = extracted.tmp / "activations.h5"
    units = ["block_2__0", "block_9__9"]
    fake = _fake_snakemake(h5, tmp_path / "natural_easy", tmp_path / "log", units, "easy", 0)
    with pytest.raises(KeyError, match="block_9__9"):
        run_script("extract_exemplars", fake)
    assert not (tmp_path / "natural_easy").exists()  # no half-written folder is left behind


FV_COLOURS = {
    "min": [(20 * i + 10, 0, 200) for i in range(9)],
    "max": [(200, 20 * i + 10, 0) for i in range(9)],
}


def _write_fvs(folder: Path, success: bool) -> None:
    """Nine uniform FV images per side (one colour each) and their fv.json, as visualize_units
    writes."""
    from unitpsych.visualizations.featureviz import SideResult, UnitFV, save_unit_fv

    sides = {}
    for side, sign in (("min", -1.0), ("max", 1.0)):
        colours = np.array(FV_COLOURS[side], dtype=np.float64) / 255 + 0.5 / 255
        images = np.broadcast_to(colours[:, None, None, :], (9, 224, 224, 3))
        sides[side] = SideResult([sign * (5.0 + i) for i in range(9)], 10.0, "bisection", images)
    reason = "ok" if success else "min: the weakest non-diverse FV (-5) does not beat ..."
    fv = UnitFV("tiny", "block_2__0", "block_2", 0, -4.0, 4.0, success, reason, sides, [], {})
    save_unit_fv(fv, folder)


def _centre_of(pixels: np.ndarray, colour: tuple[int, int, int]) -> tuple[float, float, int]:
    """(x, y) centre and pixel count of the pixels of exactly `colour` on the sheet."""
    ys, xs = np.nonzero((pixels == np.array(colour, dtype=np.uint8)).all(-1))
    if not len(xs):
        return float("nan"), float("nan"), 0
    return float(xs.mean()), float(ys.mean()), len(xs)


@pytest.mark.parametrize("success", [True, False])
def test_preview_sheet_shows_exemplars_and_fvs(extracted, tmp_path, success):
    synthetic = tmp_path / "synthetic"
    _write_fvs(synthetic, success)
    out = tmp_path / "preview.png"
    fake = mock_snakemake(
        input={
            "natural": [extracted.folders["easy"].parent, extracted.folders["hard85"].parent],
            "synthetic": [synthetic],
        },
        output={"png": out},
        log=[tmp_path / "preview.log"],
        wildcards={"model": "tiny", "unit": "block_2__0"},
        params={"difficulties": ["easy", "hard85"], "code_version": 1},
    )
    run_script("preview_unit", fake)
    with Image.open(out) as sheet:
        assert sheet.mode == "RGB"
        width, height = sheet.size
        pixels = np.asarray(sheet)
    without_fv = unit_preview_sheet(dict(easy=extracted.folders["easy"]))
    assert width == without_fv.size[0] and width > 20 * 112
    assert height > without_fv.size[1] + 2 * 112  # a queries row and an FV row more
    # every FV is one thumbnail in the bottom row: min_8 ... min_0 | max_0 ... max_8, left to right
    centres = [_centre_of(pixels, FV_COLOURS["min"][i]) for i in reversed(range(9))]
    centres += [_centre_of(pixels, FV_COLOURS["max"][i]) for i in range(9)]
    xs, ys, counts = zip(*centres, strict=True)
    assert all(c > 100 * 100 for c in counts)  # a whole thumbnail of each colour
    assert list(xs) == sorted(xs) and len(set(ys)) == 1 and ys[0] > height - 2 * 112
    # the natural row has no such block: exemplars and FVs are not confused
    assert _centre_of(pixels[: height - 2 * 112], FV_COLOURS["max"][0])[2] == 0
    # the FV row's title is red for an unsuccessful unit (its text pixels), black otherwise
    title = pixels[int(ys[0]) - 56 - 22 : int(ys[0]) - 56]
    red = ((title[..., 0] > 100) & (title[..., 1] < 60) & (title[..., 2] < 60)).sum()
    assert (red > 50) != success


def test_model_difficulties_are_easy_plus_those_of_its_experiments():
    order = ["easy", "hard99", "hard95", "hard85"]
    experiments = [
        {"model": "a", "condition": "natural", "difficulty": "hard85"},
        {"model": "a", "condition": "synthetic", "difficulty": "hard95"},
        {"model": "b", "condition": "natural"},
        {"model": "c", "condition": "natural", "difficulty": "hard99"},
    ]
    assert model_difficulties("a", experiments, order) == ["easy", "hard95", "hard85"]
    assert model_difficulties("b", experiments, order) == ["easy"]
    assert model_difficulties("d", experiments, order) == ["easy"]
    with pytest.raises(ValueError, match=r"\['hard99'\] of model 'c'.*easy, hard95"):
        model_difficulties("c", experiments, ["easy", "hard95"])


def test_paper_scale_selection_uses_the_table_windows():
    values = np.random.default_rng(0).permutation(PAPER_N).astype(np.float64)  # value = rank
    table = select_exemplars(values, 20, QUANTILES["hard95"], 9, seed=42)
    queries = table[table["role"] == "query"]
    assert sorted(queries.loc[queries["side"] == "min", "activation"]) == list(
        range(64_058, 64_078)
    )
    assert sorted(queries.loc[queries["side"] == "max", "activation"]) == list(
        range(1_217_089, 1_217_109)
    )
    refs = table[table["role"] == "reference"]
    assert set(refs.loc[refs["side"] == "min", "rank"]) == set(range(180))
    assert set(refs.loc[refs["side"] == "max", "rank"]) == set(range(PAPER_N - 180, PAPER_N))


def test_stimulus_index_lists_every_stimulus_and_skips_hidden_files(tmp_path):
    unit = tmp_path / "layer1__3"
    natural = tmp_path / "natural_easy"  # a natural set: a folder per unit
    (natural / "layer1__3" / "batch_0").mkdir(parents=True)
    (natural / "layer1__3" / "batch_0" / "max_9.png").write_bytes(b"png-a")
    (natural / "layer1__3" / ".snakemake_timestamp").write_bytes(b"")
    (natural / ".snakemake_timestamp").write_bytes(b"")
    (natural / "layer2__0").mkdir()
    (natural / "layer2__0" / "exemplars.csv").write_bytes(b"csv-c")
    (unit / "synthetic").mkdir(parents=True)
    (unit / "synthetic" / "min_0.png").write_bytes(b"png-d")
    (unit / "preview.png").write_bytes(b"png-b")
    table = stimulus_index([natural, unit / "synthetic", unit / "preview.png"])
    assert list(table["kind"]) == ["natural_easy", "natural_easy", "synthetic", "preview"]
    assert list(table["unit"]) == ["layer1__3", "layer2__0", "layer1__3", "layer1__3"]
    assert list(table["bytes"]) == [5, 5, 5, 5]
    assert table["sha256"].nunique() == 4

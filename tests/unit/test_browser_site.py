"""The unit browser's package on a small generated results folder: pages, links, thumbnails
written once per image, the every-unit extremes and the plain messages where data is missing."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from unitpsych import paths
from unitpsych.browser import Settings, build_site
from unitpsych.browser.data import extreme_units, source_kind, wilson_ci
from unitpsych.browser.thumbs import Thumbnails
from unitpsych.browser.units import ordered_task_images
from unitpsych.io import write_json
from unitpsych.observer.mis_all_tasks import write_task_file

MODEL = "toy"
LAYERS = {"conv1": 4, "conv2": 3}  # layer -> channels
SAMPLED = ["conv1__0", "conv2__2"]
N_IMAGES = 24
SETTINGS = Settings(
    extremes_per_layer=1, images_per_side=3, thumbnail_size=24, resize=40, crop=32, page_size=10
)


def every_unit() -> list[str]:
    return [f"{layer}__{c}" for layer, n in LAYERS.items() for c in range(n)]


def write_images(root: Path) -> list[str]:
    """N_IMAGES small distinct PNGs; returns their paths relative to `root`."""
    rng = np.random.default_rng(0)
    names = []
    for i in range(N_IMAGES):
        name = f"class_0/img_{i:02d}.png"
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (48, 40, 3), dtype=np.uint8)).save(root / name)
        names.append(name)
    return names


def write_units(results: Path) -> None:
    rows = [
        {"unit": u, "layer": u.split("__")[0], "channel": int(u.split("__")[1])} for u in SAMPLED
    ]
    t = pd.DataFrame(rows)
    t["layer_index"] = [list(LAYERS).index(x) for x in t["layer"]]
    t["relative_depth"] = t["layer_index"].astype(float)
    t["n_channels"] = [LAYERS[x] for x in t["layer"]]
    (results / MODEL).mkdir(parents=True)
    t.to_csv(paths.units_csv(MODEL, root=str(results)), index=False)


def unit_scores_table() -> pd.DataFrame:
    """MIS per unit: conv1__3 the most, conv1__1 the least interpretable of conv1."""
    scores = {"conv1__0": 0.6, "conv1__1": 0.1, "conv1__2": 0.5, "conv1__3": 0.95}
    scores |= {"conv2__0": 0.3, "conv2__1": np.nan, "conv2__2": 0.7}
    rows = []
    for u, s in scores.items():
        layer, c = u.split("__")
        d = [np.nan] * 4 if np.isnan(s) else [s - 0.5, s - 0.2, 0.1, -0.1]
        rows.append(
            {
                "model": MODEL,
                "layer": layer,
                "channel": int(c),
                "unit": u,
                "layer_index": list(LAYERS).index(layer),
                "score": s,
                "accuracy": s,
                "mis": np.nan,
                "score_kind": "" if np.isnan(s) else "accuracy",
                "backend": "features:toy",
                "excluded": "constant activation over the image set" if np.isnan(s) else "",
                "d": np.array(d),
            }
        )
    return pd.DataFrame(rows)


def write_mis(results: Path, images: list[str]) -> None:
    t = unit_scores_table()
    t.to_parquet(paths.mis_all(MODEL, root=str(results)), index=False)
    t[t["unit"].isin(SAMPLED)].drop(columns="d").to_csv(
        paths.mis(MODEL, root=str(results)), index=False
    )
    units = t["unit"].tolist()
    # tasks [U, N=4, K+1=3]: top ids from the first half of the images, bottom from the second
    top = np.stack([np.arange(12).reshape(4, 3) for _ in units])
    bottom = top + 12
    excluded = [r or None for r in t["excluded"]]
    top[units.index("conv2__1")] = bottom[units.index("conv2__1")] = -1
    write_task_file(
        paths.mis_all_tasks(MODEL, root=str(results)), top, bottom, excluded, units, images, {}
    )


def write_exemplars(results: Path, images: list[str]) -> None:
    """Easy exemplars of the sampled units; both use image 0 (a shared image)."""
    for k, unit in enumerate(SAMPLED):
        folder = Path(paths.natural_dir(MODEL, unit, "easy", str(results)))
        folder.mkdir(parents=True)
        rows = []
        for side, offset in (("max", 0), ("min", 12)):
            for b in range(2):
                for i in range(3):
                    image = 0 if (side, b, i) == ("max", 0, 0) else offset + 4 * k + b * 2 + i
                    role = "query" if i == 2 else "reference"
                    act = (1 if side == "max" else -1) * (10 - i - b)
                    rows.append([b, side, i, role, images[image], i, act])
        cols = ["batch", "side", "index", "role", "source", "rank", "activation"]
        pd.DataFrame(rows, columns=cols).to_csv(paths.exemplar_table(str(folder)), index=False)


def write_fv(results: Path) -> None:
    """Feature visualisations of conv1__0 only (failed the success test)."""
    folder = Path(paths.synthetic_dir(MODEL, "conv1__0", str(results)))
    folder.mkdir(parents=True)
    record = {"success": False, "reason": "min side short of the image-set minimum"}
    record |= {"dataset": {"min": -1.0, "max": 2.0}}
    for side in ("min", "max"):
        for i in range(2):
            Image.new("RGB", (32, 32), (40 * i, 90, 200)).save(
                paths.stimulus_file(str(folder), side, i)
            )
        record[side] = {"alpha": 9.0, "alpha_source": "search", "activations": [0.5, 0.7]}
    write_json(paths.fv_record(str(folder)), record)


def write_tables(results: Path) -> None:
    keys = {"model": MODEL, "label": "Toy", "scale_rank": 1, "condition": "natural"}
    keys |= {"difficulty": "easy", "experiment": "toy_natural"}
    (results / "tables").mkdir()
    pd.DataFrame(
        [keys | {"unit": "conv1__0", "n_responses": 8, "proportion_correct": 0.75}]
    ).assign(sources="simulated").to_csv(paths.table("unit_scores", root=str(results)))
    pd.DataFrame(
        [keys | {"n_units": 1, "n_responses": 8, "score": 0.75, "ci_low": 0.5, "ci_high": 0.9}]
    ).assign(sources="simulated").to_csv(paths.table("model_scores", root=str(results)))
    exp = Path(paths.experiment_dir("toy_natural", str(results)))
    exp.mkdir(parents=True)
    pd.DataFrame(
        [
            {"task": 1, "trial": 2, "is_demo": False, "unit": "conv1__0", "difficulty": "easy"},
            {"task": 0, "trial": 1, "is_demo": True, "unit": "conv1__0", "difficulty": "easy"},
        ]
    ).assign(experiment="toy_natural").to_csv(exp / "trials.csv", index=False)
    (exp / "task_1" / "trials" / "trial_2").mkdir(parents=True)


def build(base: Path, index: Path) -> dict:
    """The browser of the generated results under `base`, written to `index` and its site."""
    info = {MODEL: {"label": "Toy net", "scale_rank": 1, "difficulties": ["easy"]}}
    return build_site(
        str(base / "results"), index, info, {"toy_natural": MODEL}, str(base / "images"), SETTINGS
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A generated results folder and the browser built from it."""
    base = tmp_path_factory.mktemp("browser")
    images = write_images(base / "images")
    results = base / "results"
    write_units(results)
    write_mis(results, images)
    write_exemplars(results, images)
    write_fv(results)
    write_tables(results)
    summary = build(base, results / paths.browser_index(""))
    return results / "browser", summary, images


def test_a_second_build_writes_the_same_bytes(site):
    browser, _, _ = site

    def files() -> dict[Path, bytes]:
        return {p.relative_to(browser): p.read_bytes() for p in browser.rglob("*") if p.is_file()}

    first = files()
    build(browser.parents[1], browser / "index.html")  # in place: the site is replaced whole
    assert files() == first


def unit_page(browser: Path, unit: str) -> Path:
    layer, channel = unit.split("__")
    return browser / "site" / paths.browser_unit_page(MODEL, layer, channel)


def local_links(page: Path) -> list[str]:
    """Every src and href of a page that is not an anchor or a data URI."""
    found = re.findall(r'(?:src|href)="([^"#]+)"', page.read_text())
    return [x for x in found if not x.startswith(("data:", "http"))]


def test_every_link_of_every_page_resolves(site):
    browser, _, _ = site
    pages = sorted(browser.rglob("*.html"))
    assert len(pages) > 3
    for page in pages:
        for link in local_links(page):
            assert (page.parent / link).exists(), f"{page}: {link}"


def test_units_get_pages_sampled_and_each_layers_extremes(site):
    browser, summary, _ = site
    # sampled: conv1__0, conv2__2; extremes: conv1__1 (least), conv1__3 (most), conv2__0 (least,
    # conv2__2 most is sampled); conv2__1 has no MIS and no page
    shown = {"conv1__0", "conv2__2", "conv1__1", "conv1__3", "conv2__0"}
    assert summary["models"][MODEL] == {"unit_pages": len(shown), "units": 7}
    for unit in every_unit():
        assert unit_page(browser, unit).is_file() == (unit in shown), unit


def test_the_unit_table_data_lists_every_unit_with_its_page(site):
    browser, _, _ = site
    text = (browser / "site" / "models" / MODEL / "units.js").read_text()
    data = json.loads(text.removeprefix("window.UNIT_DATA = ").rstrip().rstrip(";"))
    assert sorted(data["unit"]) == sorted(every_unit())
    i = data["unit"].index("conv1__3")
    assert data["score"][i] == 0.95 and data["sampled"][i] == 0 and data["page"][i]
    j = data["unit"].index("conv1__0")
    assert data["simulated"][j] == 0.75 and data["human"][j] is None and data["sampled"][j] == 1
    assert data["score"][data["unit"].index("conv2__1")] is None


def test_thumbnails_are_written_once_per_image(site):
    browser, summary, images = site
    natural = [p for p in (browser / "site" / "thumbs").glob("*.jpg")]
    used = set()
    for page in (browser / "site").rglob("*.html"):
        used |= {Path(x).name for x in local_links(page) if "/thumbs/" in x and "/fv/" not in x}
    assert len(natural) == len(used)  # one file per image, whatever number of pages show it
    assert summary["thumbnails"] == len(natural) + 4  # + conv1__0's 4 feature visualisations
    assert len(natural) < len(images)  # only images that are shown
    shared = Thumbnails(browser / "site", "", 1, 1, 1).name(images[0])  # both units' top image
    assert all(shared in unit_page(browser, u).read_text() for u in SAMPLED)


def test_missing_data_is_said_plainly(site):
    browser, _, _ = site
    with_fv = unit_page(browser, "conv1__0").read_text()
    assert "No feature visualisation" not in with_fv and "failed" in with_fv
    assert "[0.4" in with_fv  # the Wilson interval of 6 of 8
    assert "No human data for this unit: these scores come from simulated participants" in with_fv
    assert "trial_2" in with_fv and "trial_1" not in with_fv  # main trials only
    other = unit_page(browser, "conv1__3").read_text()
    assert "No feature visualisation for this unit" in other
    assert "No human data for this unit" in other
    assert "every-unit pass" in other


def test_models_page_links_its_models_with_scores_and_sources(site):
    browser, _, _ = site
    index = (browser / "index.html").read_text()
    assert 'href="site/models/toy/index.html"' in index
    assert "Toy net" in index and "simulated" in index and "features:toy" in index


def test_extreme_units_per_layer():
    t = unit_scores_table()
    assert extreme_units(t, 1) == ["conv1__1", "conv1__3", "conv2__0", "conv2__2"]
    assert extreme_units(t, 0) == []
    assert set(extreme_units(t, 10)) == set(every_unit()) - {"conv2__1"}


def test_task_images_come_most_extreme_first_and_skip_kept_out_units():
    ids = np.array([[5, 6, 7], [1, 5, 2]])
    assert ordered_task_images(ids, 3) == [5, 1, 6]
    assert ordered_task_images(np.full((2, 3), -1), 3) == []


def test_source_kinds_and_wilson_interval():
    assert source_kind("simulated") == "simulated"
    assert source_kind("imi+local") == "human"
    assert source_kind("imi+simulated") == "mixed"
    low, high = wilson_ci(6, 8)
    assert 0 < low < 0.75 < high < 1
    assert wilson_ci(0, 0) == (None, None)


def test_a_thumbnail_is_cropped_like_the_exemplars(tmp_path):
    Image.new("RGB", (80, 40), (10, 20, 30)).save(tmp_path / "a.png")
    thumbs = Thumbnails(tmp_path / "site", tmp_path, resize=40, crop=32, size=16)
    rel = thumbs.natural("a.png")
    assert thumbs.natural("a.png") == rel and len(thumbs.written) == 1
    with Image.open(tmp_path / "site" / rel) as img:
        assert img.size == (16, 16) and img.format == "JPEG"


def test_without_the_every_unit_pass_or_responses_the_sampled_units_still_get_pages(site, tmp_path):
    browser, _, _ = site
    base = tmp_path / "base"
    shutil.copytree(browser.parents[1] / "results", base / "results", ignore=ignore_browser)
    shutil.copytree(browser.parents[1] / "images", base / "images")
    for path in (paths.mis_all, paths.mis_all_tasks):
        Path(path(MODEL, root=str(base / "results"))).unlink()
    shutil.rmtree(base / "results" / "tables")
    summary = build(base, base / "results" / paths.browser_index(""))
    assert summary["models"][MODEL] == {"unit_pages": len(SAMPLED), "units": len(SAMPLED)}
    new = base / "results" / "browser"
    assert "no experiment data" in (new / "index.html").read_text()
    for unit in SAMPLED:
        text = unit_page(new, unit).read_text()
        assert "No human data for this unit" in text and "From the natural exemplars" in text
        assert "Its MIS tasks" not in text  # mis_tasks.csv was not made here either


def ignore_browser(folder: str, names: list[str]) -> list[str]:
    """Leave the built browser out of a copy of the results folder."""
    return ["browser"] if "browser" in names else []

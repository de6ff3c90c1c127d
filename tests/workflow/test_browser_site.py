"""The unit browser on the tiny run (issue 23): `snakemake browser` builds it, and Debian's
chromium (Playwright) opens it from disk, follows a model and a unit, sorts the unit table of
41,000+ units by MIS and checks that every file the pages ask for loads.

UNITPSYCH_UPDATE_SCREENSHOT=1 also writes the screenshot of a unit page to docs/browser_unit.jpg.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from conftest import REPO, run_snakemake
from unitpsych import paths

pytestmark = pytest.mark.workflow

CHROMIUM = os.environ.get("UNITPSYCH_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CONFIG = REPO / "tests" / "data" / "config.yaml"
MODEL = "efficientnet_lite0"  # 41,200 channels in the every-unit pass, with feature visualisations


@pytest.fixture(scope="module")
def tiny_browser(tmp_path_factory):
    """The tiny config run up to the browser (every stage it reads), in a fresh folder."""
    workdir = tmp_path_factory.mktemp("browser_site")
    proc = run_snakemake(workdir, CONFIG, "browser")
    return workdir, proc.stdout


def test_the_browser_target_builds_the_site_once(tiny_browser):
    workdir, stdout = tiny_browser
    index = workdir / paths.browser_index()
    assert index.is_file() and "build_browser" in stdout
    site = workdir / paths.browser_site()
    mis_all = pd.read_parquet(workdir / paths.mis_all(MODEL))
    assert len(mis_all) > 40_000
    pages = list((site / "models" / MODEL).rglob("*.html"))
    # every sampled unit and at most 2 x 5 extremes per layer, never a page per unit
    n_layers = mis_all["layer"].nunique()
    assert n_layers < len(pages) - 1 <= 6 + 10 * n_layers
    thumbs = list((site / "thumbs").glob("*.jpg"))
    assert 0 < len(thumbs) <= 500  # at most one per image of the tiny image set
    benchmark = workdir / "benchmarks" / "build_browser" / "browser.tsv"
    seconds = pd.read_csv(benchmark, sep="\t")["s"].iloc[0]
    size = sum(p.stat().st_size for p in site.rglob("*") if p.is_file())
    print(
        f"browser: {len(pages)} {MODEL} pages, {len(thumbs)} thumbnails, {seconds:.1f} s, "
        f"{size:,} B"
    )
    again = run_snakemake(workdir, CONFIG, "browser", "-n")
    assert "Nothing to be done" in again.stdout


def _unavailable(reason: str) -> None:
    """Skip where chromium or Playwright is missing; in CI (CI=true) that is a failure."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"the browser test is required in CI: {reason}")
    pytest.skip(f"browser test unavailable: {reason}")


@pytest.fixture(scope="module")
def chromium():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -r requirements.txt)")
    if not Path(CHROMIUM).is_file():
        _unavailable(f"no chromium at {CHROMIUM} (run tests/setup_browser.sh as root)")
    with sync_playwright() as api:
        browser = api.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


class Watcher:
    """Collects every failed request, HTTP error and console error of a page."""

    def __init__(self, page):
        self.problems: list[str] = []
        self.requested: list[str] = []
        page.on("request", lambda r: self.requested.append(r.url))
        page.on("requestfailed", lambda r: self.problems.append(f"failed: {r.url}"))
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on(
            "console",
            lambda m: self.problems.append(f"console: {m.text}") if m.type == "error" else None,
        )
        page.on(
            "response",
            lambda r: self.problems.append(f"{r.status}: {r.url}") if r.status >= 400 else None,
        )


def _images_loaded(page) -> bool:
    """Whether every image of the page has loaded with pixels."""
    return page.evaluate(
        "() => [...document.images].every((img) => img.complete && img.naturalWidth > 0)"
    )


def _first_row_unit(page) -> str:
    return page.locator("#units tbody tr").first.get_attribute("data-unit")


@pytest.mark.browser
def test_the_site_opens_from_disk_in_chromium(tiny_browser, chromium, tmp_path):
    workdir, _ = tiny_browser
    scores = pd.read_parquet(workdir / paths.mis_all(MODEL)).dropna(subset=["score"])
    lowest = scores.sort_values(["score", "layer_index", "channel"]).iloc[0]["unit"]
    highest = scores.sort_values(["score", "layer_index", "channel"], ascending=False)
    page = chromium.new_page(viewport={"width": 1300, "height": 1000})
    watch = Watcher(page)
    page.goto((workdir / paths.browser_index()).as_uri())
    page.locator(f"a.model-link[href$='models/{MODEL}/index.html']").click()
    page.wait_for_selector("#units tbody tr")
    every = pd.read_parquet(workdir / paths.mis_all(MODEL))
    assert page.locator("#count").inner_text() == f"{len(every)} of {len(every)} units"
    assert page.locator("svg.hist").count() == scores["layer"].nunique()
    assert page.locator("#units tbody tr").count() == 50  # one page of rows, not 41,200
    page.locator("#units th[data-key=score]").click()
    assert _first_row_unit(page) == lowest
    page.locator("#units th[data-key=score]").click()
    top = _first_row_unit(page)
    assert scores.set_index("unit").loc[top, "score"] == highest.iloc[0]["score"]
    shown = pd.read_csv(workdir / paths.table("unit_scores"))  # the units of the experiments
    page.select_option("#f-responses", "simulated")
    n_scored = shown[shown["model"] == MODEL]["unit"].nunique()
    assert page.locator("#count").inner_text() == f"{n_scored} of {len(every)} units"
    page.select_option("#f-responses", "")
    page.select_option("#f-layer", label=lowest.split("__")[0])
    n_layer = int((every["layer"] == lowest.split("__")[0]).sum())
    assert page.locator("#count").inner_text() == f"{n_layer} of {len(every)} units"
    page.select_option("#f-layer", "")
    assert _first_row_unit(page) == top  # the MIS sort holds while filters change
    page.locator("#units tbody tr").first.locator("a.unit-link").click()
    page.wait_for_selector("#mis")
    assert top.split("__")[0] in page.title() and _images_loaded(page)
    assert "No human data for this unit" in page.content()  # an extreme, not in the experiments
    assert "every-unit pass" in page.content()

    unit = shown[shown["model"] == MODEL]["unit"].iloc[0]
    layer, channel = unit.split("__")
    unit_page = workdir / paths.browser_site() / paths.browser_unit_page(MODEL, layer, channel)
    page.goto(unit_page.as_uri())
    assert _images_loaded(page) and page.locator("#fv img").count() > 0
    assert "simulated" in page.locator("#experiments table").inner_text()
    assert "these scores come from simulated participants" in page.content()  # no human data
    trials = [a.get_attribute("href") for a in page.locator("ul.trials a").all()]
    assert trials and all((unit_page.parent / href).is_dir() for href in trials)
    shot = tmp_path / "browser_unit.jpg"
    page.screenshot(path=str(shot), full_page=True, type="jpeg", quality=80)
    if os.environ.get("UNITPSYCH_UPDATE_SCREENSHOT"):
        shutil.copy(shot, REPO / "docs" / "browser_unit.jpg")

    vit = pd.read_csv(workdir / paths.units_csv("vit_tiny-untrained")).iloc[0]
    page.goto(
        (
            workdir
            / paths.browser_site()
            / paths.browser_unit_page("vit_tiny-untrained", vit.layer, vit.channel)
        ).as_uri()
    )
    assert "No feature visualisation for this unit" in page.content() and _images_loaded(page)
    assert not watch.problems, watch.problems
    assert any(u.endswith(".jpg") for u in watch.requested) and any(
        u.endswith("units.js") for u in watch.requested
    )

"""Instruction pages: page n illustrates the UI's caption n; ready pages are checked."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from unitpsych.experiments import instructions
from unitpsych.experiments.instructions import (
    PAGES,
    check_pages,
    mark_outline,
    n_pages,
    screen_layout,
    write_pages,
)

# What the authors' UI (IMI mturk/2afc/task.js) says above instruction image n, in our words, and
# the words the title of our page n must contain. Image 10 serves two captions (feedback, and the
# end of a trial); image 13 is shown only in the synthetic condition, between captions 8 and 9.
CAPTIONS = {
    1: (
        "two groups of example images, labelled Left Examples and Right Examples",
        ("groups", "example"),
    ),
    2: ("two more images in the centre, one from each group", ("centre",)),
    3: ("the question: which centre image matches the Right Examples better", ("question",)),
    4: ("a row of numbers below the upper centre image", ("numbers", "below", "upper")),
    5: ("a row of numbers above the lower centre image", ("numbers", "above", "lower")),
    6: ("upper image fits better: choose from the upper row", ("upper", "row")),
    7: ("lower image fits better: choose from the lower row", ("lower", "row")),
    8: ("the number is the confidence; higher is more confident", ("confident",)),
    9: ("after answering, a black frame surrounds the chosen image", ("black frame",)),
    10: ("feedback: green frame when right, red when wrong", ("green", "red")),
    11: ("the Continue button leads to the next trial", ("continue",)),
    12: (
        "last chance to go back with Previous before the practice trials",
        ("previous", "practice"),
    ),
    13: ("the first image of each example group is special", ("first",)),
}
TOPICS = {
    1: "example groups",
    2: "centre images",
    3: "question",
    4: "upper numbers",
    5: "lower numbers",
    6: "choose upper",
    7: "choose lower",
    8: "confidence",
    9: "black frame",
    10: "feedback",
    11: "continue",
    12: "previous",
    13: "first example",
}
ORANGE = np.array(instructions.MARK)


def example_files(folder: Path) -> dict[str, Path]:
    """A 224 px example trial: blue-ish min images, yellow-ish max images (no orange, no green)."""
    files = {}
    names = ["queries/min.png", "queries/max.png"]
    names += [f"references/{s}_{i}.png" for s in ("min", "max") for i in range(9)]
    for name in names:
        rng = np.random.default_rng(zlib.crc32(name.encode()))
        base = np.array([40, 60, 200]) if "min" in name else np.array([220, 220, 60])
        blocks = np.clip(base + rng.normal(0, 20, (8, 8, 3)), 0, 255).astype(np.uint8)
        path = folder / name.replace("/", "_")
        Image.fromarray(blocks).resize((224, 224), Image.Resampling.NEAREST).save(path)
        files[name] = path
    return files


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict[int, Path]:
    """The 13 synthetic pages, rendered once."""
    tmp = tmp_path_factory.mktemp("pages")
    written = write_pages(tmp / "instructions", "synthetic", example_files(tmp), 9)
    return {int(p.stem): p for p in written}


def rgb(path: Path) -> np.ndarray:
    """A page's pixels as int16 RGB."""
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB")).astype(np.int16)


def outline_share(page: np.ndarray, box, colour) -> float:
    """Share of the pixels on the outline around `box` that have `colour` (JPEG tolerance)."""
    x0, y0, x1, y1 = mark_outline(box)
    ring = np.concatenate([page[y0, x0:x1], page[y1, x0:x1], page[y0:y1, x0], page[y0:y1, x1]])
    return float((np.abs(ring - np.array(colour)).max(axis=1) < 60).mean())


def test_page_counts_per_condition():
    assert n_pages("natural") == 12 and n_pages("synthetic") == 13
    assert len(instructions.instruction_pages("natural")) == 12
    assert instructions.instruction_pages("synthetic")[-1].topic == "first example"
    with pytest.raises(ValueError, match="natural, synthetic"):
        n_pages("optimized")


def test_each_page_illustrates_its_caption(pages):
    assert sorted(pages) == list(range(1, 14))
    for number, (_, words) in CAPTIONS.items():
        assert PAGES[number - 1].topic == TOPICS[number]
        with Image.open(pages[number]) as img:
            assert img.format == "JPEG" and img.size == instructions.PAGE_SIZE
            comment = img.info["comment"].decode()
        prefix = f"unitpsych instruction page {number}/13: {TOPICS[number]}: "
        assert comment.startswith(prefix)
        title = comment.removeprefix(prefix).lower()
        assert all(word in title for word in words), (number, title)
    # the upper/lower pages do not mention the other row
    assert "lower" not in PAGES[3].title.lower() and "upper" not in PAGES[4].title.lower()


@pytest.mark.parametrize(
    ("number", "marked", "unmarked"),
    [
        (1, ["left_group", "right_group"], ["queries", "prompt"]),
        (2, ["queries"], ["left_group", "right_group"]),
        (3, ["prompt"], ["queries", "left_group"]),
        (4, ["upper_buttons"], ["lower_buttons", "lower_query"]),
        (5, ["lower_buttons"], ["upper_buttons", "upper_query"]),
        (6, ["upper_choice"], ["lower_query", "lower_buttons"]),
        (7, ["lower_choice"], ["upper_query", "upper_buttons"]),
        (8, ["choices"], ["prompt", "left_group", "right_group"]),
        (11, ["continue"], ["left_group"]),
        (12, ["previous"], ["next", "queries"]),
        (13, ["first_left", "first_right"], ["queries", "prompt"]),
    ],
)
def test_the_caption_s_part_of_the_screen_is_marked(pages, number, marked, unmarked):
    page, boxes = rgb(pages[number]), screen_layout()
    for part in marked:
        assert outline_share(page, boxes[part], ORANGE) > 0.9, part
    for part in unmarked:
        assert outline_share(page, boxes[part], ORANGE) < 0.05, part


def test_answer_states_are_drawn(pages):
    boxes = screen_layout()
    x0, y0, x1, y1 = boxes["upper_query"]
    frame = (slice(y0 + 1, y0 + 4), slice(x0 + 20, x1 - 20))  # the band around the image
    colours = {n: rgb(pages[n])[frame].reshape(-1, 3).mean(axis=0) for n in (2, 9, 10, 11)}
    assert np.abs(colours[2] - instructions.UI_GREY).max() < 10  # no answer yet: grey
    assert colours[9].max() < 30  # page 9: black behind the chosen image
    for n in (10, 11):  # feedback: green border
        assert np.abs(colours[n] - instructions.GREEN).max() < 40
    # page 10 also shows what a wrong answer looks like (a dark-red frame)
    assert (np.abs(rgb(pages[10]) - instructions.DARK_RED).max(axis=2) < 30).sum() > 200
    assert (np.abs(rgb(pages[9]) - instructions.DARK_RED).max(axis=2) < 30).sum() == 0
    # the Continue button exists only once the trial is over; a pressed button on pages 6 and 7
    cont = boxes["continue"]
    centre = (slice(cont[1] + 3, cont[1] + 8), slice(cont[0] + 5, cont[0] + 15))
    assert rgb(pages[11])[centre].min() > 240 and rgb(pages[10])[centre].max() < 140
    upper = instructions._button_row(
        boxes["upper_buttons"][1], (boxes["upper_buttons"][0] + boxes["upper_buttons"][2]) // 2
    )
    lower = instructions._button_row(
        boxes["lower_buttons"][1], (boxes["lower_buttons"][0] + boxes["lower_buttons"][2]) // 2
    )
    pressed = {6: upper[2], 7: lower[1]}
    for n, (bx0, by0, _, _) in pressed.items():
        inside = rgb(pages[n])[by0 + 4 : by0 + 8, bx0 + 4 : bx0 + 8]
        assert np.abs(inside - 200).max() < 25  # the pressed button is grey, the others white
        assert rgb(pages[2])[by0 + 4 : by0 + 8, bx0 + 4 : bx0 + 8].min() > 240


def test_pages_show_the_example_trial_and_are_deterministic(pages, tmp_path):
    boxes = screen_layout()
    page = rgb(pages[1])
    x0, y0 = boxes["left"][:2]
    left_tile = page[y0 + 10 : y0 + 90, x0 + 10 : x0 + 90].reshape(-1, 3).mean(axis=0)
    x0, y0 = boxes["right"][:2]
    right_tile = page[y0 + 10 : y0 + 90, x0 + 10 : x0 + 90].reshape(-1, 3).mean(axis=0)
    assert left_tile[2] > 150 > left_tile[0]  # min references (blue) on the left
    assert right_tile[0] > 150 > right_tile[2]  # max references (yellow) on the right
    again = write_pages(tmp_path / "again", "synthetic", example_files(tmp_path), 9)
    assert [p.read_bytes() for p in again] == [pages[n].read_bytes() for n in range(1, 14)]
    natural = write_pages(tmp_path / "natural", "natural", example_files(tmp_path), 9)
    assert len(natural) == 12  # the same drawings, numbered n / 12
    assert np.abs(rgb(natural[4])[100:] - rgb(pages[5])[100:]).max() < 40


def test_ready_pages_are_checked(tmp_path):
    folder = tmp_path / "ready"
    folder.mkdir()
    for i in range(1, 13):
        Image.new("RGB", (1684, 900)).save(folder / f"{i}.jpg")
    assert len(check_pages(folder, "natural")) == 12
    with pytest.raises(ValueError, match=r"missing 13.jpg \(synthetic needs 1.jpg..13.jpg\)"):
        check_pages(folder, "synthetic")
    Image.new("RGB", (1684, 900)).save(folder / "13.png")
    Image.new("RGB", (500, 400)).save(folder / "4.jpg")
    Image.new("RGB", (800, 900)).save(folder / "5.jpg")
    Image.new("RGB", (800, 600)).save(folder / "6.jpg", format="PNG")
    with pytest.raises(ValueError) as err:
        check_pages(folder, "natural")
    message = str(err.value)
    assert "4.jpg: 500×400 px" in message and "5.jpg: 800×900 px" in message
    assert "6.jpg: a PNG file, not a JPEG" in message
    with pytest.raises(ValueError, match="experiments.instructions = .*is not a folder"):
        instructions.check_ready_pages(tmp_path / "nowhere", "natural")

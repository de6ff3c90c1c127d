"""Instruction pages of the 2-AFC UI (`instructions/<n>.jpg`), drawn to match the UI's captions.

The experiment UI (IMI `task.js`) shows instruction image n under its own fixed caption n, so page
n must illustrate what caption n says. `PAGES` is that per-page topic table: 12 pages for natural
experiments, 13 for synthetic ones (page 13 is about the special first example image, which the
UI shows only for the synthetic condition). Each page is a drawing of the trial screen (our own
words and drawing, with the experiment's clearest practice trial as the example) in the state the
caption talks about, with the parts it talks about outlined in orange. Pages are drawn with Pillow
and the bundled DejaVu font and saved with fixed JPEG settings, so the same example trial gives
byte-identical pages; each JPEG's comment names its page and topic.

Config `experiments.instructions` is `generated` (these pages) or a folder of ready pages
`1.jpg ... 13.jpg` (for example the authors' own screenshots), checked by `check_pages`.
"""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from unitpsych import ui_layout

GENERATED = "generated"
PAGE_SIZE = (1280, 760)
JPEG_SETTINGS = {"quality": 90, "optimize": False, "progressive": False, "subsampling": 0}
#: Ready pages: JPEGs at least this wide, no taller than wide (the UI shows them at 50 % width).
MIN_PAGE_WIDTH, MAX_PAGE_WIDTH = 640, 4096

Box = tuple[int, int, int, int]  # x0, y0, x1, y1
UI_GREY, MARK, ARROW_GREY = (116, 116, 116), (255, 140, 0), (211, 211, 211)
GREEN, DARK_RED = (0, 128, 0), (139, 0, 0)


@dataclass(frozen=True)
class Page:
    """One instruction page: the topic of the UI's caption n, our title and note, what to mark."""

    topic: str
    title: str
    note: str
    marks: tuple[str, ...] = ()
    state: str = (
        "open"  # open | pressed_upper | pressed_lower | chosen | correct | continue | navigation
    )


PAGES: tuple[Page, ...] = (
    Page(
        "example groups",
        "Two groups of example images",
        "One group on the left, one on the right: the Left Examples and the Right Examples.",
        ("left_group", "right_group"),
    ),
    Page(
        "centre images",
        "Two more images in the centre",
        "One of the two centre images belongs to the left group, the other to the right group.",
        ("queries",),
    ),
    Page(
        "question",
        "The question is always the same",
        "Which of the two centre images fits the Right Examples better?",
        ("prompt",),
    ),
    Page(
        "upper numbers",
        "Numbers below the upper image",
        "Right under the upper centre image there is a row of numbers 1, 2, 3.",
        ("upper_buttons",),
    ),
    Page(
        "lower numbers",
        "Numbers above the lower image",
        "Right over the lower centre image there is a second row of numbers 1, 2, 3.",
        ("lower_buttons",),
    ),
    Page(
        "choose upper",
        "Upper image fits better: use the upper row",
        "To pick the upper image, click a number in the row just below it.",
        ("upper_choice",),
        "pressed_upper",
    ),
    Page(
        "choose lower",
        "Lower image fits better: use the lower row",
        "To pick the lower image, click a number in the row just above it.",
        ("lower_choice",),
        "pressed_lower",
    ),
    Page(
        "confidence",
        "Higher number: more confident",
        "1 = not sure (a best guess is fine), 2 = fairly sure, 3 = very sure.",
        ("choices",),
    ),
    Page(
        "black frame",
        "A black frame marks your choice",
        "After you click, the image you picked gets a black frame.",
        (),
        "chosen",
    ),
    Page(
        "feedback",
        "Feedback: green frame if right, red frame if wrong",
        "A green frame: you picked the image of the Right Examples. A red frame: you did not.",
        (),
        "correct",
    ),
    Page(
        "continue",
        "Continue to the next trial",
        "Click Continue to go on; every trial stands on its own.",
        ("continue",),
        "continue",
    ),
    Page(
        "previous",
        "Use Previous to read again, or start the practice",
        "Go back with Previous to re-read the instructions; practice trials come next.",
        ("previous",),
        "navigation",
    ),
    Page(
        "first example",
        "The first example image is special",
        "The first image of each group may look a little different; in doubt, look at it most.",
        ("first_left", "first_right"),
    ),
)
N_PAGES = {"natural": 12, "synthetic": 13}


def n_pages(condition: str) -> int:
    """How many instruction pages the UI shows for a condition (12 natural, 13 synthetic)."""
    if condition not in N_PAGES:
        raise ValueError(f"condition {condition!r} is not one of {', '.join(N_PAGES)}")
    return N_PAGES[condition]


def instruction_pages(condition: str) -> tuple[Page, ...]:
    """The pages of a condition, page n at index n - 1."""
    return PAGES[: n_pages(condition)]


# --------------------------------------------------------------------------------------------
# Drawing


@cache
def _font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    """DejaVu Sans (shipped with matplotlib) at `size` px."""
    import matplotlib

    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name), size)


TILE, GAP, QUERY_PAD = 108, 8, 10
SCREEN: Box = (40, 100, 1240, 640)


def _button_row(top: int, cx: int) -> list[Box]:
    """Three number buttons centred on `cx`."""
    return [(cx + dx - 18, top, cx + dx + 18, top + 30) for dx in (-45, 0, 45)]


@cache
def screen_layout() -> dict[str, Box]:
    """Boxes of the parts of the drawn trial screen (the UI's arrangement, at half size)."""
    cx, grid = (SCREEN[0] + SCREEN[2]) // 2, 3 * TILE + 2 * GAP
    boxes: dict[str, Box] = {"prompt": (cx - 380, 106, cx + 380, 138)}
    boxes["left"] = (70, 208, 70 + grid, 208 + grid)
    boxes["right"] = (SCREEN[2] - 30 - grid, 208, SCREEN[2] - 30, 208 + grid)
    boxes["left_title"] = (boxes["left"][0], 172, boxes["left"][2], 200)
    boxes["right_title"] = (boxes["right"][0], 172, boxes["right"][2], 200)
    half = TILE // 2 + QUERY_PAD
    boxes["upper_query"] = (cx - half, 190, cx + half, 190 + 2 * half)
    upper = _button_row(boxes["upper_query"][3] + 8, cx)
    boxes["upper_buttons"] = (upper[0][0], upper[0][1], upper[2][2], upper[2][3])
    boxes["arrow"] = (
        cx - 64,
        boxes["upper_buttons"][3] + 8,
        cx + 64,
        boxes["upper_buttons"][3] + 36,
    )
    lower = _button_row(boxes["arrow"][3] + 8, cx)
    boxes["lower_buttons"] = (lower[0][0], lower[0][1], lower[2][2], lower[2][3])
    boxes["choices"] = (*boxes["upper_buttons"][:2], *boxes["lower_buttons"][2:])
    top = boxes["lower_buttons"][3] + 8
    boxes["lower_query"] = (cx - half, top, cx + half, top + 2 * half)
    boxes["queries"] = (cx - half, boxes["upper_query"][1], cx + half, boxes["lower_query"][3])
    boxes["upper_choice"] = (
        cx - half,
        boxes["upper_query"][1],
        cx + half,
        boxes["upper_buttons"][3],
    )
    boxes["lower_choice"] = (
        cx - half,
        boxes["lower_buttons"][1],
        cx + half,
        boxes["lower_query"][3],
    )
    boxes["continue"] = (
        cx - 60,
        boxes["lower_query"][3] + 20,
        cx + 60,
        boxes["lower_query"][3] + 56,
    )
    for side in ("left", "right"):
        x, y = boxes[side][:2]
        boxes[f"first_{side}"] = (x, y, x + TILE, y + TILE)
        boxes[f"{side}_group"] = (x, boxes[f"{side}_title"][1], boxes[side][2], boxes[side][3])
    boxes["previous"] = (860, 680, 1020, 720)
    boxes["next"] = (1060, 680, 1220, 720)
    return boxes


def mark_outline(box: Box) -> Box:
    """The orange outline drawn around a marked part (centre of its 5 px stroke)."""
    return (box[0] - 9, box[1] - 9, box[2] + 9, box[3] + 9)


def _tile(path: Path, size: int = TILE) -> Image.Image:
    """A stimulus as a size × size RGB image."""
    with Image.open(path) as img:
        return img.convert("RGB").resize((size, size), Image.Resampling.LANCZOS)


def _text_centre(draw: ImageDraw.ImageDraw, box: Box, text: str, font, fill) -> None:
    """Text centred in a box."""
    draw.text(
        ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2), text, font=font, fill=fill, anchor="mm"
    )


def _draw_screen(page: Page, tiles: Mapping[str, Image.Image], canvas: Image.Image) -> None:
    """The trial screen in the page's state."""
    draw = ImageDraw.Draw(canvas)
    boxes = screen_layout()
    draw.rectangle(SCREEN, fill=UI_GREY)
    _text_centre(
        draw,
        boxes["prompt"],
        "Which image at the centre fits the Right Examples better?",
        _font(22),
        "white",
    )
    for side, title in (("left", "Left Examples"), ("right", "Right Examples")):
        _text_centre(draw, boxes[f"{side}_title"], title, _font(20), "white")
        x0, y0 = boxes[side][:2]
        for k in range(9):
            r, c = divmod(k, 3)
            canvas.paste(tiles[f"{side}_{k}"], (x0 + c * (TILE + GAP), y0 + r * (TILE + GAP)))
    # the upper image is the one picked: black behind it once chosen, a green border with feedback
    if page.state == "chosen":
        draw.rectangle(boxes["upper_query"], fill="black")
    elif page.state in ("correct", "continue"):
        draw.rectangle(boxes["upper_query"], outline=GREEN, width=5)
    for name, tile in (("upper_query", tiles["upper"]), ("lower_query", tiles["lower"])):
        canvas.paste(tile, (boxes[name][0] + QUERY_PAD, boxes[name][1] + QUERY_PAD))
    pressed = {"pressed_upper": ("upper", 2), "pressed_lower": ("lower", 1)}.get(page.state)
    for row in ("upper", "lower"):
        top = boxes[f"{row}_buttons"][1]
        for k, button in enumerate(_button_row(top, (SCREEN[0] + SCREEN[2]) // 2)):
            down = pressed == (row, k)
            draw.rounded_rectangle(
                button,
                5,
                fill=(200, 200, 200) if down else "white",
                outline=(0, 0, 0) if down else (160, 160, 160),
                width=2,
            )
            _text_centre(draw, button, str(k + 1), _font(18, bold=down), "black")
    x0, y0, x1, y1 = boxes["arrow"]
    draw.rectangle((x0, y0 + 6, x1 - 18, y1 - 6), fill=ARROW_GREY)
    draw.polygon([(x1 - 18, y0), (x1, (y0 + y1) / 2), (x1 - 18, y1)], fill=ARROW_GREY)
    _text_centre(draw, (x0, y0, x1 - 10, y1), "More Confident", _font(13), "black")
    if page.state == "correct":  # the other outcome, small, beside the centre column
        x, y = boxes["upper_query"][2] + 30, boxes["upper_query"][1] + 10
        for colour, label in ((GREEN, "right"), (DARK_RED, "wrong")):
            draw.rectangle((x, y, x + 36, y + 36), outline=colour, width=5)
            draw.text((x + 46, y + 18), label, font=_font(16), fill="white", anchor="lm")
            y += 50
    if page.state == "continue":
        draw.rounded_rectangle(boxes["continue"], 6, fill="white", outline=(160, 160, 160), width=2)
        _text_centre(draw, boxes["continue"], "Continue", _font(18), "black")


def render_page(
    page: Page, number: int, total: int, tiles: Mapping[str, Image.Image]
) -> Image.Image:
    """One page as an RGB image: title, the trial screen in the page's state, a note."""
    canvas = Image.new("RGB", PAGE_SIZE, "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((40, 50), page.title, font=_font(34, bold=True), fill="black", anchor="lm")
    draw.text((1240, 50), f"{number} / {total}", font=_font(20), fill=(100, 100, 100), anchor="rm")
    _draw_screen(page, tiles, canvas)
    note_width = 60 if page.state == "navigation" else 95
    for k, line in enumerate(textwrap.wrap(page.note, note_width)[:2]):
        draw.text((40, 668 + 32 * k), line, font=_font(22), fill="black")
    boxes = screen_layout()
    if page.state == "navigation":
        for name, label in (("previous", "< Previous"), ("next", "Next >")):
            draw.rounded_rectangle(boxes[name], 6, fill="white", outline=(120, 120, 120), width=2)
            _text_centre(draw, boxes[name], label, _font(18), "black")
    for part in page.marks:
        x0, y0, x1, y1 = mark_outline(boxes[part])
        draw.rectangle((x0 - 2, y0 - 2, x1 + 2, y1 + 2), outline=MARK, width=5)
    return canvas


def example_tiles(files: Mapping[str, Path], n_references: int) -> dict[str, Image.Image]:
    """The example trial's images as the screen shows them (most extreme reference first)."""
    order = list(range(n_references - 1, -1, -1))[:9]
    tiles = {}
    for side, ui_side in (("min", "left"), ("max", "right")):
        for k, i in enumerate(order):
            tiles[f"{ui_side}_{k}"] = _tile(files[ui_layout.reference_file(side, i)])
    for k in range(len(order), 9):  # fewer than 9 references: blank cells
        for ui_side in ("left", "right"):
            tiles[f"{ui_side}_{k}"] = Image.new("RGB", (TILE, TILE), UI_GREY)
    tiles["upper"], tiles["lower"] = (_tile(files[ui_layout.query_file(s)]) for s in ("max", "min"))
    return tiles


def write_pages(
    folder: Path, condition: str, example_files: Mapping[str, Path], n_references: int
) -> list[Path]:
    """Write `folder/1.jpg ...` of a condition around the example trial's images."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tiles = example_tiles(example_files, n_references)
    pages = instruction_pages(condition)
    out = []
    for number, page in enumerate(pages, start=1):
        path = folder / f"{number}.jpg"
        comment = f"unitpsych instruction page {number}/{len(pages)}: {page.topic}: {page.title}"
        render_page(page, number, len(pages), tiles).save(
            path, format="JPEG", comment=comment, **JPEG_SETTINGS
        )
        out.append(path)
    return out


# --------------------------------------------------------------------------------------------
# Ready pages (config `experiments.instructions` = a folder) and the page check


def check_pages(folder: Path, condition: str, exact: bool = False) -> list[Path]:
    """Pages 1..n of a condition in `folder` (JPEG, 640-4096 px wide, not taller than wide).

    With `exact`, no other `.jpg` may be there (a built experiment folder); otherwise extra pages
    are allowed (a natural experiment takes the first 12 of a 13-page set). Raises ValueError
    naming every problem.
    """
    folder = Path(folder)
    n = n_pages(condition)
    wanted = [folder / f"{i}.jpg" for i in range(1, n + 1)]
    if not folder.is_dir():
        raise ValueError(f"instruction pages: {folder} is not a folder")
    found = {p.name for p in folder.glob("*.jpg")}
    problems = []
    missing = [p.name for p in wanted if p.name not in found]
    if missing:
        problems.append(f"missing {', '.join(missing)} ({condition} needs 1.jpg..{n}.jpg)")
    extra = sorted(found - {p.name for p in wanted})
    if exact and extra:
        problems.append(f"unexpected {', '.join(extra)} ({condition} has {n} pages)")
    for path in wanted:
        if path.name not in found:
            continue
        try:
            with Image.open(path) as img:
                fmt, (width, height) = img.format, img.size
        except OSError as err:
            problems.append(f"{path.name}: not a readable image ({err})")
            continue
        if fmt != "JPEG":
            problems.append(f"{path.name}: a {fmt} file, not a JPEG")
        if not MIN_PAGE_WIDTH <= width <= MAX_PAGE_WIDTH or height > width:
            problems.append(
                f"{path.name}: {width}×{height} px; pages must be "
                f"{MIN_PAGE_WIDTH}-{MAX_PAGE_WIDTH} "
                "px wide and no taller than wide (the UI shows them at half the window width)"
            )
    if problems:
        raise ValueError(f"instruction pages in {folder}: " + "; ".join(problems))
    return wanted


def check_ready_pages(folder: Path, condition: str) -> list[Path]:
    """Check a folder named by config `experiments.instructions` (the error names the key)."""
    try:
        return check_pages(folder, condition)
    except ValueError as err:
        raise ValueError(
            f"experiments.instructions = {str(folder)!r} ({GENERATED!r} or a folder of ready "
            f"pages): {err}"
        ) from err


def copy_ready_pages(source: Path, folder: Path, condition: str) -> list[Path]:
    """Copy a condition's ready pages 1..n from `source` into `folder` (checked first)."""
    pages = check_ready_pages(source, condition)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for page in pages:
        shutil.copyfile(page, folder / page.name)
        out.append(folder / page.name)
    return out

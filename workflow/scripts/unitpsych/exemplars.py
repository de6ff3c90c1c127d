"""Natural exemplars of a unit: reference bins, query rank windows and fair batches (protocol §4).

Per unit and side (min, max) the `n_references * B` most extreme images (B = number of batches) are
the references, cut into `n_references` bins of B images (the last bin is the most extreme); the B
queries come from a rank window that depends on the difficulty's quantile q. Each bin, and the query
bin, is shuffled with a generator seeded from the exemplar seed, the model and the unit; batch b takes
element b of every bin, so batch b holds `{min,max}_{0..n_references}` with the query at the last index.

The shuffles consume random numbers that depend only on the bin sizes, so for a given model and unit
every difficulty gets the same references in the same batches; only the queries differ.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from unitpsych.images import load_rgb
from unitpsych.io import derive_seed

log = logging.getLogger("unitpsych.exemplars")

SIDES = ("min", "max")
METADATA_FILE = "exemplars.csv"


@dataclass(frozen=True)
class RankWindows:
    """Where references and queries lie among the N images sorted by ascending activation."""

    n_images: int
    n_batches: int
    n_references: int
    start_min: int
    stop_max: int

    def collapsed(self, quantile: float) -> bool:
        """Whether a quantile > 0 falls inside the references, so its queries are the easy ones."""
        return quantile > 0 and math.floor(quantile * self.n_images) < self.n_reference_images

    @property
    def n_reference_images(self) -> int:
        """References per side (9·B in the paper)."""
        return self.n_references * self.n_batches

    @property
    def min_references(self) -> range:
        """Sorted positions of the min references: the 9·B lowest."""
        return range(0, self.n_reference_images)

    @property
    def max_references(self) -> range:
        """Sorted positions of the max references: the 9·B highest."""
        return range(self.n_images - self.n_reference_images, self.n_images)

    @property
    def min_queries(self) -> range:
        """Sorted positions of the min queries: [start_min, start_min + B)."""
        return range(self.start_min, self.start_min + self.n_batches)

    @property
    def max_queries(self) -> range:
        """Sorted positions of the max queries: [stop_max - B, stop_max)."""
        return range(self.stop_max - self.n_batches, self.stop_max)


def _window_bounds(n, n_batches: int, quantile: float, n_references: int):
    """(start_min, stop_max, valid) for scalar or array N; valid = windows and references disjoint."""
    n = np.asarray(n, dtype=np.int64)
    refs = n_references * n_batches
    offset = np.floor(quantile * n).astype(np.int64)
    start_min = np.maximum(refs, offset)
    stop_max = np.minimum(n - refs - 1, n - offset)
    # start_min >= refs and stop_max < n - refs hold by construction (the authors' two asserts);
    # the min queries must also lie below the max queries.
    valid = start_min + n_batches <= stop_max - n_batches
    return start_min, stop_max, valid


def _check_quantile(quantile: float) -> None:
    """Quantiles must lie in [0, 0.5): at 0.5 the two query windows meet."""
    if not 0.0 <= quantile < 0.5:
        raise ValueError(
            f"difficulty quantile {quantile!r} is outside [0, 0.5); use e.g. 0.0 (easy), "
            "0.01 (hard99), 0.05 (hard95) or 0.15 (hard85)"
        )


def minimum_n_images(n_batches: int, quantile: float, n_references: int = 9) -> int:
    """The smallest N from which on every image set has disjoint references and query windows."""
    _check_quantile(quantile)
    refs = n_references * n_batches
    # Above this bound all four pairwise window conditions hold (floor(qN) <= qN).
    upper = max(
        2 * refs + 2 * n_batches + 1,
        math.ceil((refs + 2 * n_batches + 1) / (1 - quantile)),
        math.ceil(2 * n_batches / (1 - 2 * quantile)),
    )
    candidates = np.arange(1, upper + 2)
    _, _, valid = _window_bounds(candidates, n_batches, quantile, n_references)
    invalid = np.flatnonzero(~valid)
    return int(candidates[invalid[-1]] + 1) if len(invalid) else 1


def rank_windows(
    n_images: int, n_batches: int, quantile: float, n_references: int = 9
) -> RankWindows:
    """Query windows scaling with N: start_min = max(9B, ⌊qN⌋), stop_max = min(N-9B-1, N-⌊qN⌋)."""
    _check_quantile(quantile)
    if n_batches < 1 or n_references < 1:
        raise ValueError(
            f"n_batches ({n_batches}) and n_references ({n_references}) must both be at least 1"
        )
    start_min, stop_max, valid = _window_bounds(n_images, n_batches, quantile, n_references)
    if not bool(valid):
        need = minimum_n_images(n_batches, quantile, n_references)
        raise ValueError(
            f"{n_images} images are too few for exemplars with n_batches={n_batches}, "
            f"n_references={n_references} and query quantile {quantile}: references and queries "
            f"would overlap; need at least N = {need} images (or fewer batches)"
        )
    return RankWindows(n_images, n_batches, n_references, int(start_min), int(stop_max))


def make_fair_batches(bins: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Shuffle each bin (row) in place order; batch b takes element b of every bin -> (B, n_bins)."""
    shuffled = np.array([rng.permutation(row) for row in bins])
    return shuffled.T


def select_exemplars(
    activations: np.ndarray,
    n_batches: int,
    quantile: float,
    n_references: int = 9,
    seed: int = 42,
) -> pd.DataFrame:
    """Every exemplar of one unit and difficulty: batch, side, index, role, image row, rank, activation.

    `index` is the position within the batch (0..n_references-1 references, bin n_references-1 the
    most extreme; n_references = the query); `rank` is the 0-based position in the ascending sort
    (a stable sort, so ties keep the image order); `image` is the row in `activations`.
    """
    values = np.asarray(activations)
    if values.ndim != 1:
        raise ValueError(f"activations must be one value per image, got shape {values.shape}")
    if not np.all(np.isfinite(values)):
        bad = np.flatnonzero(~np.isfinite(values))
        raise ValueError(
            f"{len(bad)} activations are not finite (first at image row {bad[0]}); "
            "exemplars need a finite value for every image"
        )
    windows = rank_windows(len(values), n_batches, quantile, n_references)
    order = np.argsort(values, kind="stable")
    rng = np.random.default_rng(seed)
    b = n_batches
    # min side: queries then references, reversed, so bin 0 is the least extreme reference bin and
    # the last bin holds the queries; max side: references ascending, then queries.
    min_ranks = np.r_[np.array(windows.min_queries), np.array(windows.min_references)][::-1]
    max_ranks = np.r_[np.array(windows.max_references), np.array(windows.max_queries)]
    rows = []
    for side, ranks in (("min", min_ranks), ("max", max_ranks)):
        batches = make_fair_batches(ranks.reshape(-1, b), rng)
        for batch in range(b):
            for index, rank in enumerate(batches[batch]):
                rows.append((batch, side, index, int(rank)))
    table = pd.DataFrame(rows, columns=["batch", "side", "index", "rank"])
    table.insert(3, "role", np.where(table["index"] == n_references, "query", "reference"))
    table["image"] = order[table["rank"].to_numpy()]
    table["activation"] = values[table["image"].to_numpy()].astype(np.float64)
    return table


def resize_center_crop(img: Image.Image, resize: int = 256, size: int = 224) -> Image.Image:
    """torchvision's Resize(resize) then CenterCrop(size) on a PIL image, without importing torch.

    Same output size rule (shorter side to `resize`, longer side truncated), the same PIL bilinear
    filter and the same crop offsets; tests check it is pixel-identical to torchvision.
    """
    if size > resize:
        raise ValueError(
            f"exemplars.image_size ({size}) must not exceed exemplars.resize ({resize})"
        )
    w, h = img.size
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = resize, int(resize * long / short)
    new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    if (new_w, new_h) != (w, h):
        img = img.resize((new_w, new_h), Image.Resampling.BILINEAR)
    top = int(round((new_h - size) / 2.0))
    left = int(round((new_w - size) / 2.0))
    return img.crop((left, top, left + size, top + size))


def exemplar_path(folder: str | Path, batch: int, side: str, index: int) -> Path:
    """`<folder>/batch_<b>/<side>_<i>.png`."""
    return Path(folder) / f"batch_{batch}" / f"{side}_{index}.png"


def save_exemplars(
    table: pd.DataFrame,
    image_root: str | Path,
    image_paths: list[str],
    folder: str | Path,
    resize: int = 256,
    size: int = 224,
    progress=None,
) -> pd.DataFrame:
    """Write every exemplar as an RGB PNG and `exemplars.csv`; return the table with `source` paths."""
    folder = Path(folder)
    table = table.copy()
    table["source"] = [image_paths[i] for i in table["image"]]
    cache: dict[int, Image.Image] = {}
    items = table.itertuples(index=False)
    for row in progress(items, total=len(table)) if progress else items:
        img = cache.get(row.image)
        if img is None:
            img = resize_center_crop(load_rgb(Path(image_root) / row.source), resize, size)
            cache[row.image] = img
        out = exemplar_path(folder, row.batch, row.side, row.index)
        out.parent.mkdir(parents=True, exist_ok=True)
        img.save(out, format="PNG", compress_level=1)
    columns = ["batch", "side", "index", "role", "source", "rank", "activation"]
    table[columns].to_csv(folder / METADATA_FILE, index=False)
    return table


def model_difficulties(model: str, experiments: list[dict], difficulties: list[str]) -> list[str]:
    """`easy` plus every difficulty an experiment of `model` uses (any condition), in config order."""
    used = {"easy"} | {e.get("difficulty", "easy") for e in experiments if e["model"] == model}
    unknown = used - set(difficulties)
    if unknown:
        raise ValueError(
            f"difficulties {sorted(unknown)} of model {model!r} are not in exemplars.difficulties "
            f"({', '.join(difficulties)})"
        )
    return [d for d in difficulties if d in used]


def unit_seed(seed: int, model: str, unit: str) -> int:
    """The shuffle seed of one unit: the exemplar seed, the model and the unit name."""
    return derive_seed(seed, "exemplars", model, unit)


def read_exemplars(folder: str | Path) -> pd.DataFrame:
    """The metadata table of one natural-exemplar folder."""
    path = Path(folder) / METADATA_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; run the extract_exemplars rule first")
    return pd.read_csv(path)


def extract_unit_exemplars(
    h5_path: str | Path,
    model: str,
    unit: str,
    folder: str | Path,
    quantile: float,
    n_batches: int = 20,
    n_references: int = 9,
    seed: int = 42,
    resize: int = 256,
    size: int = 224,
    image_root: str | Path | None = None,
    progress=None,
) -> tuple[pd.DataFrame, RankWindows]:
    """Select one unit's exemplars from the activation cache and save them into `folder`."""
    from unitpsych.activations import read_image_root, read_unit_activations

    values, paths = read_unit_activations(h5_path, unit)
    root = Path(image_root) if image_root is not None else Path(read_image_root(h5_path))
    windows = rank_windows(len(values), n_batches, quantile, n_references)
    if windows.collapsed(quantile):
        log.warning(
            "quantile %s of %d images falls inside the references; the queries start right after "
            "them (the easy window)", quantile, len(values),
        )  # fmt: skip
    log.info(
        "%s %s: N=%d, min queries at ranks %d-%d, max queries at ranks %d-%d",
        model, unit, len(values), windows.min_queries[0], windows.min_queries[-1],
        windows.max_queries[0], windows.max_queries[-1],
    )  # fmt: skip
    table = select_exemplars(
        values, n_batches, quantile, n_references, unit_seed(seed, model, unit)
    )
    table = save_exemplars(table, root, paths, folder, resize, size, progress)
    return table, windows


# --------------------------------------------------------------------------- preview sheet
#
# The preview sheet lives here rather than in figures.py: it is a per-unit view of the stimuli this
# module writes (it reads exemplars.csv and the FV stage's fv.json), it runs as one tiny job per
# unit, and composing thumbnails with Pillow takes a fraction of the time a Matplotlib figure with
# dozens of axes would (figures.py holds the analysis figures).

THUMB = 112
GAP = 6
CAPTION = 16
ROW_TITLE = 22


def _font(size: int):
    """DejaVu Sans (shipped with Matplotlib) at `size` px, or Pillow's default font."""
    from PIL import ImageFont

    try:
        import matplotlib.font_manager as fm

        return ImageFont.truetype(fm.findfont("DejaVu Sans"), size)
    except Exception:  # noqa: BLE001 - any font problem falls back to the built-in font
        return ImageFont.load_default(size)


def _fv_side(fv: dict, side: str) -> tuple[list[float], float | None]:
    """(activations, α) of one FV side from fv.json (per-side blocks or per-key maps)."""
    if isinstance(fv.get(side), dict):
        block = fv[side]
        return list(block.get("activations", [])), block.get("alpha")
    return list(fv.get("activations", {}).get(side, [])), fv.get("alpha", {}).get(side)


def _fmt(value: float) -> str:
    """An activation in four significant digits."""
    return f"{value:.4g}"


def unit_preview_sheet(
    natural: dict[str, str | Path],
    synthetic: str | Path | None = None,
    title: str = "",
    batch: int = 0,
) -> Image.Image:
    """One image to eyeball a unit: natural batch `batch` and both FV rows, activations underneath.

    Columns, from the left: the min references (most extreme first), the min and max queries, the
    max references (most extreme last). Rows: the first difficulty in `natural` (easy) with its
    references; every further difficulty's queries; the feature visualisations (min_8 ... min_0 |
    max_0 ... max_8) with α and success when `synthetic` (a folder with fv.json) is given.
    """
    from PIL import ImageDraw

    if not natural:
        raise ValueError("the preview sheet needs at least one natural-exemplar folder")
    tables = {d: read_exemplars(folder) for d, folder in natural.items()}
    first = next(iter(natural))
    main = tables[first]
    n_refs = int(main["index"].max())
    if batch not in set(main["batch"]):
        raise ValueError(f"batch {batch} is not among the batches 0..{main['batch'].max()}")
    n_cols = 2 * n_refs + 2
    sep = 3 * GAP  # extra space around the query columns
    width = GAP + n_cols * (THUMB + GAP) + 2 * sep
    cell_h = THUMB + CAPTION
    fv = None
    if synthetic is not None:
        import json

        fv = json.loads((Path(synthetic) / "fv.json").read_text())
    n_rows = len(tables) + (fv is not None)
    header = 46
    height = header + n_rows * (ROW_TITLE + cell_h + GAP) + GAP
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    font, small, big = _font(13), _font(11), _font(17)
    draw.text((GAP, 6), title, fill="black", font=big)
    all_values = pd.concat(tables.values())["activation"]
    draw.text(
        (GAP, 27),
        f"dataset range of the unit's activation: {_fmt(all_values.min())} … {_fmt(all_values.max())}"
        f" · batch {batch} · min references (most extreme at the left) | queries | max references "
        "(most extreme at the right)",
        fill="dimgray",
        font=small,
    )

    def x_of(col: int) -> int:
        shift = sep if col >= n_refs else 0
        shift += sep if col >= n_refs + 2 else 0
        return GAP + col * (THUMB + GAP) + shift

    def paste(path: Path, col: int, y: int, caption: str, colour: str = "black") -> None:
        with Image.open(path) as img:
            sheet.paste(img.convert("RGB").resize((THUMB, THUMB), Image.Resampling.LANCZOS),
                        (x_of(col), y))  # fmt: skip
        draw.text((x_of(col) + 2, y + THUMB + 1), caption, fill=colour, font=small)

    y = header
    for row, (difficulty, table) in enumerate(tables.items()):
        part = table[table["batch"] == batch].set_index(["side", "index"])
        folder = Path(natural[difficulty])
        ranks = table[table["role"] == "query"].groupby("side")["rank"].agg(["min", "max"])
        label = (
            f"natural, {difficulty}: queries at ranks {ranks.loc['min', 'min']}–"
            f"{ranks.loc['min', 'max']} (min) and {ranks.loc['max', 'min']}–{ranks.loc['max', 'max']}"
            " (max) of the ascending sort"
        )
        draw.text((GAP, y + 3), label, fill="black", font=font)
        y += ROW_TITLE
        if row == 0:
            for i in range(n_refs):
                for side, col in (("min", n_refs - 1 - i), ("max", n_refs + 2 + i)):
                    act = part.loc[(side, i), "activation"]
                    paste(exemplar_path(folder, batch, side, i), col, y, _fmt(act))
        for side, col, colour in (("min", n_refs, "navy"), ("max", n_refs + 1, "darkred")):
            act = part.loc[(side, n_refs), "activation"]
            paste(
                exemplar_path(folder, batch, side, n_refs), col, y, f"{side} q {_fmt(act)}", colour
            )
        y += cell_h + GAP
    if fv is not None:
        alphas = {side: "–" if (a := _fv_side(fv, side)[1]) is None else _fmt(a) for side in SIDES}
        status = (
            "successful" if fv.get("success", True) else f"unsuccessful: {fv.get('reason', '')}"
        )
        draw.text(
            (GAP, y + 3),
            f"feature visualisations ({status}); α min = {alphas['min']}, α max = {alphas['max']}; "
            "index 8 = the strongest non-diverse image (outermost)",
            fill="black" if fv.get("success", True) else "darkred",
            font=font,
        )
        y += ROW_TITLE
        for side in SIDES:
            acts, _ = _fv_side(fv, side)
            n = len(acts)
            for i, act in enumerate(acts):
                col = (n_refs - 1 - i) if side == "min" else (n_refs + 2 + i)
                if 0 <= col < n_cols and (side == "min" or col >= n_refs + 2):
                    paste(Path(synthetic) / f"{side}_{i}.png", col, y, _fmt(act))
            if n != n_refs:
                log.warning("%d %s feature visualisations, %d reference bins", n, side, n_refs)
    return sheet


def _hidden(path: Path, root: Path) -> bool:
    """Whether a file under `root` is hidden (Snakemake's `.snakemake_timestamp` and the like)."""
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def stimulus_index(folders: list[str | Path]) -> pd.DataFrame:
    """One row per stimulus file under the given unit folders/files: unit, kind, path, bytes, sha256.

    `kind` is the folder name (`natural_<difficulty>`, `synthetic`) or `preview`; the checksums let a
    researcher (and the tests) compare two runs file by file.
    """
    import hashlib

    rows = []
    for item in map(Path, folders):
        files = (
            sorted(p for p in item.rglob("*") if p.is_file() and not _hidden(p, item))
            if item.is_dir()
            else [item]
        )
        kind = item.name if item.is_dir() else item.stem
        unit = item.parent.name
        for f in files:
            data = f.read_bytes()
            rows.append(dict(unit=unit, kind=kind, path=f.as_posix(), bytes=len(data),
                             sha256=hashlib.sha256(data).hexdigest()))  # fmt: skip
    return pd.DataFrame(rows, columns=["unit", "kind", "path", "bytes", "sha256"])

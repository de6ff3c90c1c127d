"""Natural exemplars of a unit: reference bins, query rank windows and fair batches (protocol §4).

Per unit and side (min, max) the `n_references * B` most extreme images (B = number of batches) are
the references, cut into `n_references` bins of B images (the last bin is the most extreme); the B
queries come from a rank window that depends on the difficulty's quantile q. Each bin, and the query
bin, is shuffled with a generator seeded from the exemplar seed, the model and the unit; batch b
takes
element b of every bin, so batch b holds `{min,max}_{0..n_references}` with the query at the last
index.

The shuffles consume random numbers that depend only on the bin sizes, so for a given model and unit
every difficulty gets the same references in the same batches; only the queries differ.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
from PIL import Image

from unitpsych.images import load_rgb
from unitpsych.io import derive_seed, write_json
from unitpsych.paths import SIDES, exemplar_file, exemplar_table, natural_record

log = logging.getLogger("unitpsych.exemplars")

TABLE_COLUMNS = ["batch", "side", "index", "role", "source", "rank", "activation"]


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
    """(start_min, stop_max, valid) for scalar or array N; valid = windows and references
    disjoint."""
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


def minimum_n_images(n_batches: int, quantile: float, n_references: int) -> int:
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


def rank_windows(n_images: int, n_batches: int, quantile: float, n_references: int) -> RankWindows:
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
    """Shuffle each bin (row) in place order; batch b takes element b of every bin -> (B,
    n_bins)."""
    shuffled = np.array([rng.permutation(row) for row in bins])
    return shuffled.T


def select_exemplars(
    activations: np.ndarray,
    n_batches: int,
    quantile: float,
    n_references: int,
    seed: int,
) -> pd.DataFrame:
    """Every exemplar of one unit and difficulty: batch, side, index, role, image row, rank,
    activation.

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
    for side, ranks in zip(SIDES, (min_ranks, max_ranks), strict=True):
        batches = make_fair_batches(ranks.reshape(-1, b), rng)
        for batch in range(b):
            for index, rank in enumerate(batches[batch]):
                rows.append((batch, side, index, int(rank)))
    table = pd.DataFrame(rows, columns=["batch", "side", "index", "rank"])
    table.insert(3, "role", np.where(table["index"] == n_references, "query", "reference"))
    table["image"] = order[table["rank"].to_numpy()]
    table["activation"] = values[table["image"].to_numpy()].astype(np.float64)
    return table


def resize_center_crop(img: Image.Image, resize: int, size: int) -> Image.Image:
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
    return Path(exemplar_file(str(folder), batch, side, index))


def save_exemplars(
    table: pd.DataFrame,
    image_root: str | Path,
    image_paths: list[str],
    folder: str | Path,
    resize: int,
    size: int,
    progress: IO[str] | None = None,
) -> pd.DataFrame:
    """Write every exemplar as an RGB PNG and `exemplars.csv`; return the table with `source` paths.

    `progress`: a text stream (the rule's log) for a tqdm bar, or None.
    """
    from tqdm import tqdm

    folder = Path(folder)
    table = table.copy()
    table["source"] = [image_paths[i] for i in table["image"]]
    cache: dict[int, Image.Image] = {}
    items = tqdm(
        table.itertuples(index=False),
        total=len(table),
        file=progress,
        disable=progress is None,
        mininterval=5,
        desc=f"{folder.name} exemplars",
    )
    for row in items:
        img = cache.get(row.image)
        if img is None:
            img = resize_center_crop(load_rgb(Path(image_root) / row.source), resize, size)
            cache[row.image] = img
        out = exemplar_path(folder, row.batch, row.side, row.index)
        out.parent.mkdir(parents=True, exist_ok=True)
        img.save(out, format="PNG", compress_level=1)
    table[TABLE_COLUMNS].to_csv(exemplar_table(str(folder)), index=False)
    return table


def model_difficulties(model: str, experiments: list[dict], difficulties: list[str]) -> list[str]:
    """`easy` plus every difficulty an experiment of `model` uses (any condition), in config
    order."""
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
    path = Path(exemplar_table(str(folder)))
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; run the extract_exemplars rule first")
    return pd.read_csv(path)


def natural_json(
    model: str, unit: str, difficulty: str, quantile: float, seed: int, windows: RankWindows
) -> dict[str, Any]:
    """What `natural.json` records about a natural-exemplar folder: the rank windows and counts."""
    return {
        "model": model,
        "unit": unit,
        "difficulty": difficulty,
        "quantile": quantile,
        "n_images": windows.n_images,
        "n_batches": windows.n_batches,
        "n_references": windows.n_references,
        "start_min": windows.start_min,
        "stop_max": windows.stop_max,
        "min_query_ranks": [windows.min_queries[0], windows.min_queries[-1]],
        "max_query_ranks": [windows.max_queries[0], windows.max_queries[-1]],
        "seed": seed,
        "window_inside_references": windows.collapsed(quantile),
    }


def extract_unit_exemplars(
    h5_path: str | Path,
    model: str,
    unit: str,
    difficulty: str,
    folder: str | Path,
    cfg: Mapping[str, Any],
    image_root: str | Path | None = None,
    progress: IO[str] | None = None,
) -> tuple[pd.DataFrame, RankWindows]:
    """Select one unit's exemplars from the activation cache; save PNGs, exemplars.csv and
    natural.json.

    `cfg` is the exemplars config slice with this difficulty's `quantile` (keys quantile,
    n_batches, n_references, seed, resize, image_size); `image_root` defaults to the cache's.
    """
    from unitpsych.activations.cache import read_image_root, read_unit_activations

    quantile, n_batches, n_references = cfg["quantile"], cfg["n_batches"], cfg["n_references"]
    values, paths = read_unit_activations(h5_path, unit)
    root = Path(image_root) if image_root is not None else Path(read_image_root(h5_path))
    windows = rank_windows(len(values), n_batches, quantile, n_references)
    if windows.collapsed(quantile):
        log.warning(
            "quantile %s of %d images falls inside the references; the queries start right after "
            "them (the easy window)",
            quantile,
            len(values),
        )
    log.info(
        "%s %s: N=%d, min queries at ranks %d-%d, max queries at ranks %d-%d",
        model,
        unit,
        len(values),
        windows.min_queries[0],
        windows.min_queries[-1],
        windows.max_queries[0],
        windows.max_queries[-1],
    )
    seed = unit_seed(cfg["seed"], model, unit)
    table = select_exemplars(values, n_batches, quantile, n_references, seed)
    table = save_exemplars(table, root, paths, folder, cfg["resize"], cfg["image_size"], progress)
    record = natural_json(model, unit, difficulty, quantile, cfg["seed"], windows)
    write_json(natural_record(str(folder)), record)
    return table, windows


def _hidden(path: Path, root: Path) -> bool:
    """Whether a file under `root` is hidden (Snakemake's `.snakemake_timestamp` and the like)."""
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _stimulus_folders(item: Path) -> list[tuple[str, str, Path]]:
    """(unit, kind, folder or file) of an index input: a natural-exemplar set (natural_<d>/, a
    folder per unit), a unit's synthetic folder, or a file such as its preview sheet."""
    if item.is_dir() and item.name.startswith("natural_"):
        units = sorted(p for p in item.iterdir() if p.is_dir() and not p.name.startswith("."))
        return [(u.name, item.name, u) for u in units]
    return [(item.parent.name, item.name if item.is_dir() else item.stem, item)]


def stimulus_index(folders: list[str | Path]) -> pd.DataFrame:
    """One row per stimulus file under the given folders/files: unit, kind, path, bytes, sha256.

    `kind` is the natural set's folder name (`natural_<difficulty>`), `synthetic` or `preview`;
    the checksums let a researcher (and the tests) compare two runs file by file.
    """
    import hashlib

    rows = []
    for unit, kind, item in (row for f in map(Path, folders) for row in _stimulus_folders(f)):
        files = (
            sorted(p for p in item.rglob("*") if p.is_file() and not _hidden(p, item))
            if item.is_dir()
            else [item]
        )
        for f in files:
            data = f.read_bytes()
            rows.append(
                dict(
                    unit=unit,
                    kind=kind,
                    path=f.as_posix(),
                    bytes=len(data),
                    sha256=hashlib.sha256(data).hexdigest(),
                )
            )
    return pd.DataFrame(rows, columns=["unit", "kind", "path", "bytes", "sha256"])

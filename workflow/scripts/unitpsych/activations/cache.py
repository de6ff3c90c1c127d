"""Activation cache: one pass over the image set hooks every sampled layer at once (protocol §3).

The cache `activations.h5` holds `activations` float32 [n_images, n_units] chunked by column blocks
so one unit's values are a fast read, `units`, `images` (relative to the image root) and attributes.
Work in progress lives in `<out>.partial`: rows are written a block at a time and the number of
finished rows is an attribute, so a crashed or killed pass resumes from the last finished block.
When the pass is complete, readable rows are copied into a temporary file that is renamed onto
`<out>`; unreadable images are listed (path, error) in a CSV and left out of the cache. The pass
itself (batches, resume blocks, the partial file) is `unitpsych.activations.image_pass`.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import h5py
import numpy as np
import pandas as pd

from unitpsych import __version__
from unitpsych.activations.image_pass import (
    DEFAULT_PASS,
    STR,
    ImagePass,
    channel_selectors,
    fingerprint,
    image_loader,
    open_partial,
    write_blocks,
)
from unitpsych.io import atomic_path

log = logging.getLogger("unitpsych.activations")


@dataclass
class CacheResult:
    """Summary of a finished collection."""

    n_images: int
    n_unreadable: int


COLUMN_CHUNKS = (65536, 1)  # a few sampled units: one column per chunk, a unit is one fast read


def collect_activations(
    model: Any,
    units: list[str],
    image_root: str | Path,
    paths: list[str],
    out: str | Path,
    unreadable_csv: str | Path | None,
    image_pass: ImagePass = DEFAULT_PASS,
    progress: IO[str] | None = None,
    chunk: tuple[int, int] = COLUMN_CHUNKS,
) -> CacheResult:
    """Forward every image once, store each unit's per-image value; resumable; returns a summary.

    `model` is a `unitpsych.models.registry.LoadedModel`. A crash leaves the partial file with every
    finished block; the next call with the same model, units and images resumes from there.
    `chunk` (rows, columns) shapes the final dataset's chunks (COLUMN_CHUNKS: a unit is one read);
    without `unreadable_csv` the unreadable images are only logged.
    """
    import torch
    from tqdm import tqdm

    out = Path(out)
    partial = out.with_name(out.name + ".partial")
    n, u = len(paths), len(units)
    selectors = channel_selectors(model, units)
    block_size = image_pass.resume_block
    attrs = {
        "model": model.name,
        "arch": model.arch,
        "image_root": str(image_root),
        "preprocessing": repr(model.transform()),
        "code_version": __version__,
    }
    fp = fingerprint(model.name, units, paths, attrs["preprocessing"])
    f = open_partial(partial, fp, n, u, block_size, attrs)
    try:
        start = int(f.attrs["n_done"])
        loader = image_loader(model, image_root, paths, start, image_pass)

        def pick(layer: str, output):
            return model.reduce(layer, output).index_select(1, selectors[layer][1]).float()

        bar = tqdm(
            total=n, initial=start, file=progress, mininterval=5, desc=f"activations {model.name}"
        )
        with torch.inference_mode(), model.record(list(selectors), pick) as store:

            def rows(x) -> np.ndarray:
                model.module(x.to(model.device, non_blocking=True))
                out = np.empty((len(x), u), dtype=np.float32)
                for layer, (cols, _) in selectors.items():
                    out[:, cols] = store[layer].cpu().numpy()
                return out

            write_blocks(f, loader, paths, rows, start, block_size, u, bar)
        bar.close()
        return _finalize(f, partial, out, unreadable_csv, units, paths, chunk)
    finally:
        if f.id.valid:
            f.close()


def _finalize(
    f: h5py.File,
    partial: Path,
    out: Path,
    unreadable_csv: str | Path | None,
    units: list[str],
    paths: list[str],
    chunk: tuple[int, int] = COLUMN_CHUNKS,
) -> CacheResult:
    """Write the unreadable-image table, copy readable rows into the final cache, drop the
    partial."""
    errors = pd.DataFrame(f["errors"].asstr()[:].reshape(-1, 2), columns=["path", "error"])
    if unreadable_csv is not None:
        with atomic_path(unreadable_csv) as tmp:
            errors.to_csv(tmp, index=False)
    keep = np.flatnonzero(f["valid"][:])
    n_keep, u = len(keep), len(units)
    rows = min(max(n_keep, 1), chunk[0])
    with atomic_path(out) as tmp:
        cache = max(64 << 20, 2 * u * rows * 4)
        with h5py.File(tmp, "w", rdcc_nbytes=cache, rdcc_nslots=100003) as g:
            ds = g.create_dataset(
                "activations",
                shape=(n_keep, u),
                dtype="float32",
                chunks=(rows, min(max(u, 1), chunk[1])),
                compression=None,
            )
            step = chunk[0]
            src = f["activations"]
            for s in range(0, len(paths), step):
                sel = keep[(keep >= s) & (keep < s + step)]
                if len(sel):
                    block = src[s : s + step][sel - s]
                    first = int(np.searchsorted(keep, sel[0]))
                    ds[first : first + len(sel)] = block
            g.create_dataset("units", data=np.array(units, dtype=object), dtype=STR)
            g.create_dataset(
                "images", data=np.array([paths[i] for i in keep], dtype=object), dtype=STR
            )
            for key in ("model", "arch", "image_root", "preprocessing", "code_version"):
                g.attrs[key] = f.attrs[key]
            g.attrs["n_unreadable"] = int(len(paths) - n_keep)
            g.attrs["complete"] = True
    f.close()
    os.remove(partial)
    return CacheResult(n_keep, len(paths) - n_keep)


def read_unit_activations(h5_path: str | Path, unit: str) -> tuple[np.ndarray, list[str]]:
    """One unit's value per image and the image paths (relative to the image root)."""
    with h5py.File(h5_path, "r") as f:
        if not f.attrs.get("complete", False):
            raise RuntimeError(f"{h5_path} is not a complete activation cache")
        units = list(f["units"].asstr()[:])
        try:
            col = units.index(unit)
        except ValueError:
            raise KeyError(f"unit {unit!r} is not in {h5_path}") from None
        return f["activations"][:, col], list(f["images"].asstr()[:])


def read_image_root(h5_path: str | Path) -> str:
    """The image root the cache was computed on."""
    with h5py.File(h5_path, "r") as f:
        return str(f.attrs["image_root"])


def read_activations(h5_path: str | Path) -> tuple[np.ndarray, list[str], list[str]]:
    """The whole cache: (activations [n_images, n_units], units, images)."""
    with h5py.File(h5_path, "r") as f:
        return f["activations"][:], list(f["units"].asstr()[:]), list(f["images"].asstr()[:])

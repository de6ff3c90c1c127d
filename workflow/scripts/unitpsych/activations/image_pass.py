"""The resumable pass over an image set, shared by the activation cache, the observer's embedding
cache, the unit statistics and (its batches and loader) the every-unit MIS's quantile sets (protocol
§3).

A pass forwards the images in batches (`ImagePass`) and checkpoints every block of
`resume_block` images: an HDF5 pass writes each finished block's rows to `<out>.partial` and
records the number of finished rows (`n_done`) last, so a crashed or killed pass resumes from the
last finished block of the same collection (`fingerprint`: model, units or backend, images and
preprocessing). `DEFAULT_BLOCK_SIZE` is the one default of the block size (config
`images.block_size`, whose schema default it must equal).
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from unitpsych.units.sampling import split_unit

log = logging.getLogger("unitpsych.activations")

DEFAULT_BLOCK_SIZE = 8192  # images per resume block (rounded down to whole batches)
STR = h5py.string_dtype("utf-8")


@dataclass(frozen=True)
class ImagePass:
    """How a pass over the image set batches, loads and checkpoints its images."""

    batch_size: int
    num_workers: int
    block_size: int

    @property
    def resume_block(self) -> int:
        """Images per resume block: `block_size` rounded down to whole batches, at least one
        batch."""
        return max(self.batch_size, self.block_size // self.batch_size * self.batch_size)


DEFAULT_PASS = ImagePass(batch_size=32, num_workers=0, block_size=DEFAULT_BLOCK_SIZE)


def fingerprint(model: str, units: list[str], paths: list[str], preprocessing: str) -> str:
    """Identity of a collection: a partial file is resumed only if it matches."""
    h = hashlib.sha256()
    for part in [model, preprocessing, *units, "\x00", *paths]:
        h.update(part.encode())
        h.update(b"\x1f")
    return h.hexdigest()


def units_by_layer(units: list[str]) -> dict[str, list[tuple[int, int]]]:
    """layer -> [(column in the cache, channel)], in unit order."""
    groups: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for col, unit in enumerate(units):
        layer, channel = split_unit(unit)
        groups[layer].append((col, channel))
    return dict(groups)


def channel_selectors(model: Any, units: list[str]) -> dict[str, tuple[np.ndarray, Any]]:
    """layer -> (its units' columns, their channels as a tensor on the model's device).

    Every layer is looked up in the model first, so an unknown layer fails before any work.
    """
    import torch

    groups = units_by_layer(units)
    for layer in groups:
        model.get_layer_module(layer)
    return {
        layer: (
            np.array([c for c, _ in cols]),
            torch.tensor([ch for _, ch in cols], device=model.device),
        )
        for layer, cols in groups.items()
    }


def image_loader(
    model: Any, image_root: str | Path, paths: list[str], start: int, image_pass: ImagePass
) -> Any:
    """Batches (images, indices, errors) of `paths[start:]`, cut as `model` expects, in order."""
    from torch.utils.data import DataLoader, Subset

    from unitpsych.images import ImageDataset

    dataset = ImageDataset(image_root, paths, model.transform(), model.input_size)
    return DataLoader(
        Subset(dataset, list(range(start, len(paths)))),
        batch_size=image_pass.batch_size,
        shuffle=False,
        num_workers=image_pass.num_workers,
        pin_memory=model.device.type == "cuda",
    )


def open_partial(
    path: Path, fingerprint: str, n: int, u: int, block: int, attrs: dict
) -> h5py.File:
    """Open a matching partial file to resume, or start a new one."""
    if path.exists():
        try:
            f = h5py.File(path, "a")
            if f.attrs.get("fingerprint") == fingerprint:
                log.info("resuming %s at image %d of %d", path, int(f.attrs["n_done"]), n)
                return f
            f.close()
            log.info("partial file %s belongs to another collection; starting over", path)
        except OSError as err:
            log.warning("partial file %s is unreadable (%s); starting over", path, err)
        path.unlink()
    f = h5py.File(path, "w")
    f.create_dataset(
        "activations", shape=(n, u), dtype="float32", chunks=(min(n, block), min(u, 64))
    )
    f.create_dataset("valid", shape=(n,), dtype="bool", fillvalue=False)
    f.create_dataset("errors", shape=(0, 2), maxshape=(None, 2), dtype=STR)
    f.attrs.update(attrs)
    f.attrs["fingerprint"] = fingerprint
    f.attrs["n_done"] = 0
    return f


def write_blocks(
    f: h5py.File,
    loader,
    paths: Sequence[str],
    rows: Callable,
    start: int,
    block_size: int,
    width: int,
    bar,
) -> None:
    """Write `rows(x)` of every batch to the partial file a block at a time (each a resume point).

    The loader yields (images, indices, errors); unreadable images get invalid rows, a warning and
    an entry in the block's error list.
    """
    buf = np.zeros((block_size, width), dtype=np.float32)
    valid = np.zeros(block_size, dtype=bool)
    errors: list[tuple[str, str]] = []
    n = len(paths)
    row0, filled = start, 0
    for x, idx, err in loader:
        b = len(idx)
        buf[filled : filled + b] = rows(x)
        valid[filled : filled + b] = [e == "" for e in err]
        for i, e in zip(idx.tolist(), err, strict=True):
            if e:
                errors.append((paths[i], e))
                log.warning("unreadable image %s: %s", paths[i], e)
        filled += b
        bar.update(b)
        if filled == block_size or row0 + filled == n:
            _flush(f, row0, buf[:filled], valid[:filled], errors)
            row0, filled, errors = row0 + filled, 0, []
            log.info("block written: %d of %d images done (the resume point)", row0, n)


def _flush(f: h5py.File, row0: int, acts, valid, errors) -> None:
    """Write one finished block and advance `n_done` (the resume point) last."""
    rows = slice(row0, row0 + len(acts))
    f["activations"][rows] = acts
    f["valid"][rows] = valid
    if errors:
        ds = f["errors"]
        ds.resize(len(ds) + len(errors), axis=0)
        ds[-len(errors) :] = np.array(errors, dtype=object)
    f.attrs["n_done"] = row0 + len(acts)
    f.flush()

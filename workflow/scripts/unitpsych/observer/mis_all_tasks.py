"""Every channel's MIS tasks, drawn from top and bottom quantile sets kept while streaming once.

The MIS tasks of a unit draw their images from its top and bottom `quantile` of activations
(`unitpsych.observer.mis`), so the every-unit MIS needs, per channel, only those images: ceil(n · q)
per side, and whether the channel was finite and constant. The pass keeps them in a streaming state
(`QuantileSets`): new rows wait in a buffer that is merged (top-k over unique (value, index) keys)
whenever it holds as many rows as a set, so no per-image value is stored and memory is bounded by
the sets (`state_bytes`, about 20 bytes per channel and set image), not by the images seen; an image
set larger than `max_images` is streamed through a fixed random subset of that many images
(`mis_all_subset`), which bounds it whatever the image set. The sets are ordered exactly as a stable
argsort of all values, so the tasks drawn from them are those of the full matrix.

At the end every unit's tasks are drawn (`mis.draw_every_unit`) and only they are written:
`mis_all_tasks.h5` holds `top`, `bottom` ([n_units, N, K+1] int32 ids into `images`, most extreme
first), `excluded` (the reason, or empty), `units`, `images` and attributes; 8·N·(K+1) bytes per
channel whatever the number of images.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import h5py
import numpy as np

from unitpsych import __version__
from unitpsych.activations.image_pass import DEFAULT_PASS, STR, ImagePass, image_loader
from unitpsych.io import atomic_path, derive_seed
from unitpsych.units.sampling import make_unit

log = logging.getLogger("unitpsych.mis_all_tasks")

NON_FINITE = "non-finite activations"
CONSTANT = "constant activation over the image set"


def set_size(n_images: int, quantile: float) -> int:
    """Images in one quantile set of `n_images`: ceil(n · quantile) (as `mis.quantile_size`)."""
    return math.ceil(n_images * quantile)


MERGE_UNITS = 1024  # units merged at a time: the sort's working memory is this many units' worth


def state_bytes(n_units: int, size: int) -> int:
    """Memory of the streaming state: two sets of (value, int32 id) and a buffer of values as
    large, per unit, plus one slab of MERGE_UNITS units being merged twice over."""
    return (n_units * 20 + 2 * min(n_units, MERGE_UNITS) * 2 * 20) * size


def sort_keys(values: Any, index: Any) -> Any:
    """int64 keys that order as (value, image index): float32 `values` mapped to order-preserving
    int32 bits (−0.0 as 0.0, which compare equal) in the high half, the image `index`
    (broadcastable to `values`) in the low half. No two keys of a unit are equal, so `topk` needs
    no stable tie rule."""
    import torch

    bits = (values + 0.0).view(torch.int32)  # + 0.0 turns −0.0 into 0.0
    bits = torch.where(bits < 0, bits ^ 0x7FFFFFFF, bits).to(torch.int64)
    return bits.mul_(2**32).add_(index)


def key_values(keys: Any) -> Any:
    """The float32 values of `sort_keys` keys."""
    import torch

    bits = torch.div(keys, 2**32, rounding_mode="floor").to(torch.int32)
    return torch.where(bits < 0, bits ^ 0x7FFFFFFF, bits).view(torch.float32)


def key_index(keys: Any) -> Any:
    """The image indices (int32) of `sort_keys` keys."""
    import torch

    return (keys - torch.div(keys, 2**32, rounding_mode="floor") * 2**32).to(torch.int32)


@contextmanager
def one_cpu_thread(device: Any) -> Iterator[None]:
    """Run the torch ops inside on one CPU thread (nothing changes on a GPU).

    The pass's own work (each hooked output's spatial mean, the quantile bookkeeping) is memory
    bound: on 2 CPU threads torch's split of these ops ran 3-6x slower than one thread (see
    docs/performance.md). Each output element is computed the same way either way, so the values
    are identical.
    """
    import torch

    threads = torch.get_num_threads()
    if getattr(device, "type", device) != "cpu" or threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class QuantileSets:
    """The streaming state of one pass: per unit the `capacity` highest and lowest values seen.

    `top` is ordered by value descending, ties by image index descending; `bottom` by value
    ascending, ties by index ascending: the order of `numpy.argsort(kind="stable")` over all rows
    read backwards (top) and forwards (bottom). Rows must arrive in image-index order. Both sets are
    kept as `sort_keys` (value and index in one int64, 8 bytes as the pair), merged by `topk`.
    """

    def __init__(self, n_units: int, capacity: int, device: Any = "cpu") -> None:
        import torch

        self.capacity, self.device = capacity, device
        self.top_key = torch.empty(n_units, 0, dtype=torch.int64, device=device)
        self.bot_key = self.top_key.clone()
        self.finite = torch.ones(n_units, dtype=torch.bool, device=device)
        self.low = torch.full((n_units,), math.inf, device=device)
        self.high = torch.full((n_units,), -math.inf, device=device)
        self._vals: list[Any] = []
        self._idx: list[Any] = []
        self._pending = 0
        self.n_rows = 0

    def add(self, values: Any, index: Any) -> None:
        """Take rows `values` (B, n_units) of images `index` (B,), in increasing index order."""
        import torch

        values = values.to(self.device, torch.float32)
        ok = torch.isfinite(values)
        self.finite &= ok.all(0)
        self.low = torch.minimum(self.low, torch.where(ok, values, math.inf).amin(0))
        self.high = torch.maximum(self.high, torch.where(ok, values, -math.inf).amax(0))
        self._vals.append(torch.where(ok, values, 0.0))
        self._idx.append(torch.as_tensor(index, dtype=torch.int32, device=self.device))
        self._pending += len(index)
        self.n_rows += len(index)
        if self._pending >= max(self.capacity, 1):
            self._merge()

    def _merge(self) -> None:
        """Merge the buffered rows into both sets (`topk` over unique keys) and keep `capacity`
        of each."""
        import torch

        if not self._pending:
            return
        vals = torch.cat(self._vals)  # (rows, units)
        idx = torch.cat(self._idx)
        self._vals, self._idx, self._pending = [], [], 0
        k, step = self.capacity, MERGE_UNITS
        tops, bots = [], []
        for s in range(0, vals.shape[1], step):  # slabs of units bound the working memory
            new = sort_keys(vals[:, s : s + step], idx[:, None]).T
            for keys, out, largest in ((self.top_key, tops, True), (self.bot_key, bots, False)):
                both = torch.cat([keys[s : s + step], new], dim=1)
                out.append(torch.topk(both, min(k, both.shape[1]), 1, largest, True).values)
        self.top_key, self.bot_key = torch.cat(tops), torch.cat(bots)

    def slab(self, start: int, stop: int, size: int) -> QuantileSlab:
        """Units [start, stop): their sets cut to `size` (at most `capacity`) and reasons, in
        numpy."""
        self._merge()
        if size > self.capacity:
            raise ValueError(f"a quantile set of {size} exceeds the capacity {self.capacity}")
        part = slice(start, stop)
        reasons = excluded_reasons(
            self.finite[part].cpu().numpy(),
            self.low[part].cpu().numpy(),
            self.high[part].cpu().numpy(),
        )
        top, bot = self.top_key[part, :size], self.bot_key[part, :size]
        return QuantileSlab(
            key_index(top).cpu().numpy().astype(np.int64),
            key_values(top).cpu().numpy().astype(np.float64),
            key_index(bot).cpu().numpy().astype(np.int64),
            key_values(bot).cpu().numpy().astype(np.float64),
            reasons,
        )


@dataclass(frozen=True)
class QuantileSlab:
    """The quantile sets of a slab of units ([U, size], most extreme first) and why any is
    unusable."""

    top: np.ndarray
    top_values: np.ndarray
    bottom: np.ndarray
    bottom_values: np.ndarray
    excluded: list[str | None]


def slab_from_activations(acts: np.ndarray, size: int) -> QuantileSlab:
    """The quantile sets of every column of `acts` [n_images, U], as the streaming pass keeps
    them."""
    acts = np.asarray(acts)
    finite = np.isfinite(acts)
    safe = np.where(finite, acts, 0.0)
    order = np.argsort(safe, axis=0, kind="stable")
    bottom, top = order[:size].T, order[::-1][:size].T
    cols = safe.T
    empty = np.zeros(acts.shape[1])
    reasons = excluded_reasons(
        finite.all(0), safe.min(0) if len(acts) else empty, safe.max(0) if len(acts) else empty
    )
    return QuantileSlab(
        top, np.take_along_axis(cols, top, 1), bottom, np.take_along_axis(cols, bottom, 1), reasons
    )


def excluded_reasons(finite: np.ndarray, low: np.ndarray, high: np.ndarray) -> list[str | None]:
    """Why each unit cannot be scored (non-finite, or constant over the image set), or None."""
    return [
        None if f and lo != hi else (NON_FINITE if not f else CONSTANT)
        for f, lo, hi in zip(finite, low, high, strict=True)
    ]


def mis_all_subset(n_images: int, max_images: int | None, seed: int) -> np.ndarray:
    """The image indices the every-unit pass streams: all, or a fixed random `max_images` of them
    in index order (the same subset for every model, so their scores compare)."""
    if max_images is None or n_images <= max_images:
        return np.arange(n_images)
    rng = np.random.default_rng(derive_seed(seed, "mis_all", "images"))
    return np.sort(rng.choice(n_images, size=max_images, replace=False))


def stream_quantile_sets(
    model: Any,
    image_root: str | Path,
    paths: list[str],
    quantile: float,
    image_pass: ImagePass = DEFAULT_PASS,
    progress: IO[str] | None = None,
) -> tuple[list[str], list[str], QuantileSets, int]:
    """One pass: every channel of every layer of interest, its top and bottom `quantile` sets.

    `model` is a `unitpsych.models.LoadedModel`; a channel's value per image is the layer's
    reduction (`model.reduce`: spatial or token mean), as in the activation cache. Unreadable
    images are logged and left out; ids count the readable images in order. Returns the units,
    the readable images, the state and the number of unreadable images.
    """
    import torch
    from tqdm import tqdm

    sizes = model.layer_sizes()
    layers = list(sizes)
    units = [make_unit(layer, c) for layer in layers for c in range(sizes[layer])]
    capacity = set_size(len(paths), quantile)
    log.info(
        "streaming quantile sets: %d units × %d images per side; state %.1f MB on %s",
        len(units),
        capacity,
        state_bytes(len(units), capacity) / 2**20,
        model.device,
    )
    state = QuantileSets(len(units), capacity, model.device)
    readable: list[int] = []
    n_bad = 0
    loader = image_loader(model, image_root, paths, 0, image_pass)
    bar = tqdm(total=len(paths), file=progress, mininterval=5, desc=f"quantile sets {model.name}")

    def reduce(layer: str, out: Any) -> Any:
        """The layer's spatial (token) mean, on one CPU thread."""
        with one_cpu_thread(model.device):
            return model.reduce(layer, out)

    with torch.inference_mode(), model.record(layers, reduce) as store:
        for x, idx, err in loader:
            model.module(x.to(model.device, non_blocking=True))
            ok = torch.tensor([e == "" for e in err])
            for i, e in zip(idx.tolist(), err, strict=True):
                if e:
                    n_bad += 1
                    log.warning("unreadable image %s: %s", paths[i], e)
            rows = torch.cat([store[layer].float() for layer in layers], dim=1)[ok.to(model.device)]
            ids = torch.arange(len(readable), len(readable) + int(ok.sum()))
            readable += idx[ok].tolist()
            if len(ids):
                with one_cpu_thread(model.device):
                    state.add(rows, ids)
            bar.update(len(idx))
    bar.close()
    return units, [paths[i] for i in readable], state, n_bad


def write_task_file(
    out: str | Path,
    top: np.ndarray,
    bottom: np.ndarray,
    excluded: Sequence[str | None],
    units: Sequence[str],
    images: Sequence[str],
    attrs: dict,
) -> None:
    """Write every unit's MIS tasks atomically (image ids as int32, chunked by 1,024 units)."""
    with atomic_path(out) as tmp, h5py.File(tmp, "w") as f:
        for key, arr in (("top", top), ("bottom", bottom)):
            chunks = (min(1024, max(len(arr), 1)), *arr.shape[1:]) if arr.size else None
            f.create_dataset(key, data=arr.astype(np.int32), chunks=chunks)
        f.create_dataset(
            "excluded", data=np.array([r or "" for r in excluded], dtype=object), dtype=STR
        )
        f.create_dataset("units", data=np.array(list(units), dtype=object), dtype=STR)
        f.create_dataset("images", data=np.array(list(images), dtype=object), dtype=STR)
        f.attrs.update(attrs)
        f.attrs.update({"n_images": len(images), "code_version": __version__, "complete": True})


@dataclass(frozen=True)
class TaskFile:
    """A finished `mis_all_tasks.h5`: every unit's tasks, read whole (8·N·(K+1) bytes a unit)."""

    units: list[str]
    images: list[str]
    top: np.ndarray
    bottom: np.ndarray
    excluded: list[str | None]
    attrs: dict

    @classmethod
    def read(cls, path: str | Path) -> TaskFile:
        """Read the file; an error if it is not complete."""
        with h5py.File(path, "r") as f:
            if not f.attrs.get("complete", False):
                raise RuntimeError(f"{path} is not a complete MIS task file")
            return cls(
                list(f["units"].asstr()[:]),
                list(f["images"].asstr()[:]),
                f["top"][:].astype(np.int64),
                f["bottom"][:].astype(np.int64),
                [r or None for r in f["excluded"].asstr()[:]],
                dict(f.attrs),
            )

"""Unit statistics for the baselines of protocol §9: pixel sparsity, channel sparsity, local
contrast.

One pass over an image set per model hooks every sampled layer at once (the activation cache's
hooks, image loader and unit grouping). Per image and unit, on the unit's channel of the hooked
output (channels first; ConvNeXt's channel-last maps permuted, transformer tokens as positions):

- pixel sparsity: the fraction of positions with activation <= 0;
- channel sparsity: 1 if every position is <= 0, else 0;
- local contrast (conv maps only; NaN for tokens and for outputs without a spatial map): zero-pad
  the map by 1, sum the absolute differences to the 4 neighbours (shifted copies via `torch.roll`),
  drop the padding, average over positions.

Each is averaged over the readable images. Output table (`results/{model}/unit_statistics.csv`):
unit, layer, channel, pixel_sparsity, channel_sparsity, local_contrast, n_images.

Resumable (`unitpsych.activations.image_pass`): after every block of images the running sums and
the number of finished images are written atomically to `<out>.partial.npz`; a rerun with the same
model, units and images resumes from there. Sums are float64, added batch by batch in image order
whatever the block size, so a resumed pass gives the same numbers and the block size only sets how
often the pass checkpoints.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from unitpsych.activations.image_pass import (  # the shared pass: settings, identity, loader
    DEFAULT_PASS,
    ImagePass,
    channel_selectors,
    fingerprint,
    image_loader,
)
from unitpsych.io import atomic_path

log = logging.getLogger("unitpsych.unit_statistics")

STATISTICS = ("pixel_sparsity", "channel_sparsity", "local_contrast")
COLUMNS = ["unit", "layer", "channel", *STATISTICS, "n_images"]


def local_contrast(maps):
    """Mean over positions of the summed absolute differences to the 4 neighbours (zero-padded).

    `maps` is a tensor (..., H, W); returns (...).
    """
    import torch.nn.functional as F

    p = F.pad(maps, (1, 1, 1, 1))
    diff = sum(
        (p - p.roll(shift, dims=dim)).abs() for shift, dim in ((1, -2), (-1, -2), (1, -1), (-1, -1))
    )
    return diff[..., 1:-1, 1:-1].mean(dim=(-2, -1))


def sparsity(bcn):
    """(pixel sparsity, channel sparsity) per image and channel of a (B, C, N) tensor."""
    off = bcn <= 0
    return off.float().mean(-1), off.all(-1).float()


def spatial_map(model: Any, layer: str, output) -> Any | None:
    """The hooked output as (B, C, H, W), or None when it has no spatial map (tokens, vectors)."""
    act = output[0] if isinstance(output, tuple) else output
    if model.layout(layer) in ("bnc", "nbc") or act.dim() != 4:
        return None
    return act.movedim(-1, 1) if model.channel_last(layer) else act


def layer_statistics(model: Any, layer: str, output, channels) -> Any:
    """(B, k, 3) statistics of the selected channels of one hooked output (float64)."""
    import torch

    bcn = model.as_bcn(layer, output).index_select(1, channels).double()
    pixel, channel = sparsity(bcn)
    maps = spatial_map(model, layer, output)
    if maps is None:
        contrast = torch.full_like(pixel, float("nan"))
    else:
        contrast = local_contrast(maps.index_select(1, channels).double())
    return torch.stack([pixel, channel, contrast], dim=-1)


def _load_partial(path: Path, fingerprint: str, u: int) -> tuple[np.ndarray, np.ndarray, int]:
    """(sums [u, 3], counts [u, 3], images done) from a matching partial file, else zeros."""
    if path.exists():
        try:
            with np.load(path) as state:
                if str(state["fingerprint"]) == fingerprint:
                    done = int(state["n_done"])
                    log.info("resuming %s at image %d", path, done)
                    return state["sums"], state["counts"], done
            log.info("partial file %s belongs to another pass; starting over", path)
        except (OSError, ValueError, KeyError) as err:
            log.warning("partial file %s is unreadable (%s); starting over", path, err)
    return np.zeros((u, 3)), np.zeros((u, 3)), 0


def _save_partial(path: Path, fingerprint: str, sums, counts, n_done: int) -> None:
    """Write the running sums and the resume point atomically."""
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, fingerprint=fingerprint, sums=sums, counts=counts, n_done=n_done)


def select_images(paths: list[str], n_images: int | None) -> list[str]:
    """`n_images` paths evenly spaced over the sorted set (all when None or larger)."""
    if n_images is None or n_images >= len(paths):
        return list(paths)
    idx = np.unique(np.linspace(0, len(paths) - 1, n_images).round().astype(int))
    return [paths[i] for i in idx]


def compute_unit_statistics(
    model: Any,
    units: list[str],
    image_root: str | Path,
    paths: list[str],
    out: str | Path,
    image_pass: ImagePass = DEFAULT_PASS,
    progress: IO[str] | None = None,
) -> pd.DataFrame:
    """One pass over `paths`; writes and returns the unit statistics table (resumable).

    `model` is a `unitpsych.models.registry.LoadedModel`; each finished block is saved as a resume
    point.
    """
    import torch
    from tqdm import tqdm

    out = Path(out)
    partial = out.with_name(out.name + ".partial.npz")
    n, u = len(paths), len(units)
    selectors = channel_selectors(model, units)
    fp = fingerprint(model.name, units, paths, repr(model.transform()))
    sums, counts, start = _load_partial(partial, fp, u)
    block_size = image_pass.resume_block

    def pick(layer: str, output):
        return layer_statistics(model, layer, output, selectors[layer][1])

    loader = image_loader(model, image_root, paths, start, image_pass)
    done, in_block = start, 0
    bar = tqdm(
        total=n, initial=start, file=progress, mininterval=5, desc=f"unit statistics {model.name}"
    )
    with torch.inference_mode(), model.record(list(selectors), pick) as store:
        for x, idx, err in loader:
            model.module(x.to(model.device, non_blocking=True))
            ok = np.array([e == "" for e in err])
            for i, e in zip(idx.tolist(), err, strict=True):
                if e:
                    log.warning("unreadable image %s: %s", paths[i], e)
            for layer, (cols, _) in selectors.items():
                values = store[layer].cpu().numpy()[ok]  # (b_ok, k, 3)
                finite = np.isfinite(values)
                sums[cols] += np.where(finite, values, 0).sum(0)
                counts[cols] += finite.sum(0)
            done += len(idx)
            in_block += len(idx)
            bar.update(len(idx))
            if in_block >= block_size or done == n:
                in_block = 0
                _save_partial(partial, fp, sums, counts, done)
                log.info("block written: %d of %d images done (the resume point)", done, n)
    bar.close()
    if start == n and n > 0:
        log.info("every image was already done in %s", partial)
    table = statistics_table(units, sums, counts)
    with atomic_path(out) as tmp:
        table.to_csv(tmp, index=False)
    partial.unlink(missing_ok=True)
    return table


def statistics_table(units: list[str], sums: np.ndarray, counts: np.ndarray) -> pd.DataFrame:
    """The per-unit means from running sums and counts (NaN where nothing was counted)."""
    from unitpsych.units.sampling import split_unit

    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    layers, channels = zip(*(split_unit(x) for x in units), strict=True) if units else ((), ())
    table = pd.DataFrame({"unit": units, "layer": list(layers), "channel": list(channels)})
    for j, name in enumerate(STATISTICS):
        table[name] = means[:, j]
    table["n_images"] = counts[:, 0].astype(int)
    return table[COLUMNS]

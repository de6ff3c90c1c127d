"""The observer's embedding cache: every image of the image set embedded once per backend.

`embeddings.h5` holds every image of the image set once per similarity backend
(`unitpsych.observer.similarity`), written by the resumable block pass
(`unitpsych.activations.image_pass`). Natural images are cut as the exemplars are (Resize,
CenterCrop), so an
image-set embedding is the embedding of the shown exemplar; stimuli outside the image set (feature
visualisations) are embedded from the files as shown.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import h5py
import numpy as np

from unitpsych import __version__
from unitpsych.activations.image_pass import (
    DEFAULT_PASS,
    STR,
    ImagePass,
    fingerprint,
    open_partial,
    write_blocks,
)
from unitpsych.io import atomic_path
from unitpsych.observer.similarity import Backend


@dataclass
class EmbedResult:
    """Summary of a finished embedding pass."""

    n_images: int
    n_unreadable: int
    dim: int


def natural_transform(resize: int, image_size: int) -> Callable:
    """PIL image -> (3, S, S) in [0, 1], cut exactly as the exemplars are (Resize, CenterCrop)."""
    from torchvision.transforms.functional import to_tensor

    from unitpsych.exemplars.natural import resize_center_crop

    def transform(img):
        return to_tensor(resize_center_crop(img, resize, image_size))

    return transform


def load_shown(path: str | Path, image_size: int):
    """A stimulus file as the UI shows it: RGB, scaled to image_size², in [0, 1]."""
    from PIL import Image
    from torchvision.transforms.functional import to_tensor

    from unitpsych.images import load_rgb

    img = load_rgb(path)
    if img.size != (image_size, image_size):
        img = img.resize((image_size, image_size), Image.Resampling.BILINEAR)
    return to_tensor(img)


def embed_files(
    backend: Backend, files: Sequence[str | Path], image_size: int, batch_size: int = 32
) -> np.ndarray:
    """Embed stimulus files as shown (feature visualisations): (n, D) float32."""
    import torch

    out = []
    for s in range(0, len(files), batch_size):
        x = torch.stack([load_shown(f, image_size) for f in files[s : s + batch_size]])
        out.append(backend(x).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def _open_embedding_partial(
    backend: Backend,
    image_root: str | Path,
    paths: list[str],
    partial: Path,
    cut: tuple[int, int],
    dim: int,
    block_size: int,
):
    """The partial file of an embedding pass (new, or resumed when its fingerprint matches)."""
    resize, image_size = cut
    preprocessing = f"Resize({resize}) CenterCrop({image_size}); {backend.description}"
    attrs = {
        "model": backend.spec.name,  # the activation cache's attribute names (shared helpers)
        "arch": backend.spec.kind,
        "image_root": str(image_root),
        "preprocessing": preprocessing,
        "code_version": __version__,
    }
    fp = fingerprint(backend.spec.name, [backend.similarity, str(dim)], paths, preprocessing)
    return open_partial(partial, fp, len(paths), dim, block_size, attrs)


def embed_image_set(
    backend: Backend,
    image_root: str | Path,
    paths: list[str],
    out: str | Path,
    resize: int = 256,
    image_size: int = 224,
    image_pass: ImagePass = DEFAULT_PASS,
    progress: IO[str] | None = None,
) -> EmbedResult:
    """Embed every image of the image set once; resumable from the last finished block.

    Blocks go to `<out>.partial` (the shared image pass); when complete, readable rows are
    written to `out` (datasets `embeddings` [n, D] float32, `images`, `unreadable`). A crash leaves
    the partial file with every finished block; the next call with the same backend, cut and images
    resumes from there.
    """
    import torch
    from torch.utils.data import DataLoader, Subset
    from tqdm import tqdm

    from unitpsych.images import ImageDataset

    out = Path(out)
    partial = out.with_name(out.name + ".partial")
    dim = int(backend(torch.zeros(1, 3, image_size, image_size)).shape[1])
    n = len(paths)
    block_size = image_pass.resume_block
    cut = (resize, image_size)
    f = _open_embedding_partial(backend, image_root, paths, partial, cut, dim, block_size)
    try:
        start = int(f.attrs["n_done"])
        dataset = ImageDataset(image_root, paths, natural_transform(resize, image_size), image_size)
        loader = DataLoader(
            Subset(dataset, list(range(start, n))),
            batch_size=image_pass.batch_size,
            shuffle=False,
            num_workers=image_pass.num_workers,
        )
        bar = tqdm(
            total=n,
            initial=start,
            file=progress,
            mininterval=5,
            desc=f"embeddings {backend.spec.name}",
        )
        write_blocks(
            f, loader, paths, lambda x: backend(x).cpu().numpy(), start, block_size, dim, bar
        )
        bar.close()
        return _finalize_embeddings(f, partial, out, paths, backend, dim, resize, image_size)
    finally:
        if f.id.valid:
            f.close()


def _finalize_embeddings(
    f: h5py.File,
    partial: Path,
    out: Path,
    paths: list[str],
    backend: Backend,
    dim: int,
    resize: int,
    image_size: int,
) -> EmbedResult:
    """Copy readable rows into the final cache (row-chunked), drop the partial file."""
    keep = np.flatnonzero(f["valid"][:])
    errors = f["errors"].asstr()[:].reshape(-1, 2)
    rows = max(1, min(len(keep) or 1, (1 << 20) // (4 * dim)))  # ~1 MB chunks of whole rows
    with atomic_path(out) as tmp, h5py.File(tmp, "w") as g:
        ds = g.create_dataset(
            "embeddings",
            shape=(len(keep), dim),
            dtype="float32",
            chunks=(rows, dim) if len(keep) else None,
        )
        src = f["activations"]
        step = max(rows, 4096)
        for s in range(0, len(keep), step):
            sel = keep[s : s + step]
            ds[s : s + len(sel)] = src[int(sel[0]) : int(sel[-1]) + 1][sel - sel[0]]
        g.create_dataset("images", data=np.array([paths[i] for i in keep], dtype=object), dtype=STR)
        g.create_dataset("unreadable", data=np.array(errors, dtype=object), dtype=STR)
        g.attrs.update(
            {
                "backend": backend.spec.name,
                "similarity": backend.similarity,
                "description": backend.description,
                "image_root": f.attrs["image_root"],
                "resize": resize,
                "image_size": image_size,
                "code_version": __version__,
                "n_unreadable": len(paths) - len(keep),
                "complete": True,
            }
        )
    f.close()
    os.remove(partial)
    return EmbedResult(len(keep), len(paths) - len(keep), dim)


class EmbeddingCache:
    """Read access to a finished embeddings.h5: rows by image path."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        with h5py.File(self.path, "r") as f:
            if not f.attrs.get("complete", False):
                raise RuntimeError(f"{self.path} is not a complete embedding cache")
            self.images = list(f["images"].asstr()[:])
            self.backend = str(f.attrs["backend"])
            self.similarity = str(f.attrs["similarity"])
            self.image_size = int(f.attrs["image_size"])
            self.shape = f["embeddings"].shape
        self.row = {p: i for i, p in enumerate(self.images)}

    def __contains__(self, image: str) -> bool:
        return image in self.row

    def rows(self, idx: np.ndarray) -> np.ndarray:
        """Embeddings of the given rows (any shape, order and repeats): (*idx.shape, D).

        Reads the file once in slabs of whole chunks and keeps only the rows asked for, so a sparse
        selection of a large cache (ImageNet) costs one pass and little memory.
        """
        idx = np.asarray(idx, dtype=np.int64)
        uniq, inverse = np.unique(idx, return_inverse=True)
        out = np.empty((len(uniq), self.shape[1]), np.float32)
        with h5py.File(self.path, "r") as f:
            ds = f["embeddings"]
            chunk = ds.chunks[0] if ds.chunks else 1
            step = max(1, (256 << 20) // (4 * max(1, self.shape[1]) * chunk)) * chunk  # ~256 MB
            for s in range(0, self.shape[0], step):
                lo, hi = np.searchsorted(uniq, [s, s + step])
                if hi > lo:
                    block = ds[s : min(s + step, self.shape[0])]
                    out[lo:hi] = block[uniq[lo:hi] - s]
        return out[inverse.reshape(idx.shape)]

    def lookup(self, images: Sequence[str]) -> np.ndarray:
        """Embeddings of image-set paths."""
        return self.rows(np.array([self.row[p] for p in images], dtype=np.int64))

"""The image set: a sorted, deterministic index, a loader that reports unreadable files, and the
offline demo image set generated from photographs bundled with scikit-image, scikit-learn and
matplotlib plus procedural images."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image, ImageEnhance, ImageOps

log = logging.getLogger("unitpsych.images")

DEFAULT_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def index_images(
    root: str | Path,
    list_file: str | Path | None = None,
    extensions: tuple[str, ...] = DEFAULT_EXTENSIONS,
) -> pd.DataFrame:
    """Sorted table (path relative to root, class): class = first folder level, '' for loose
    files."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(
            f"images.root {str(root)!r} is not a folder; point images.root in the config at the "
            "image set "
            "(e.g. ImageNet's train/ folder)"
        )
    exts = {e.lower() for e in extensions}
    if list_file:
        paths = [p.strip() for p in Path(list_file).read_text().splitlines() if p.strip()]
        missing = [p for p in paths if not (root / p).is_file()]
        if missing:
            raise FileNotFoundError(
                f"{len(missing)} listed images do not exist under {root}, e.g. {missing[:3]}"
            )
    else:
        paths = []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            rel = os.path.relpath(dirpath, root)
            for f in filenames:
                if os.path.splitext(f)[1].lower() in exts and not f.startswith("."):
                    paths.append(f if rel == "." else f"{rel}/{f}")
    if not paths:
        raise FileNotFoundError(f"no images ({', '.join(sorted(exts))}) found under {root}")
    paths = sorted(set(paths))
    classes = [p.split("/", 1)[0] if "/" in p else "" for p in paths]
    return pd.DataFrame({"path": paths, "class": classes})


def imagenet_synsets() -> dict[str, int]:
    """WordNet id -> ImageNet-1k class index, in the usual sorted-synset order (torchvision,
    timm)."""
    from timm.data import ImageNetInfo

    return {s: i for i, s in enumerate(ImageNetInfo().label_names())}


def imagenet_labels(classes: pd.Series) -> np.ndarray:
    """ImageNet-1k class index per image when the class folders are WordNet synsets, else -1."""
    synsets = imagenet_synsets()
    return np.array([synsets.get(c, -1) for c in classes], dtype=np.int64)


def load_rgb(path: str | Path) -> Image.Image:
    """Open an image fully (decode errors surface here) as RGB (CMYK, grey, palette converted)."""
    with Image.open(path) as img:
        img.load()
        return img.convert("RGB")


class ImageDataset:
    """Map-style dataset: (tensor, index, error message or '') so a bad image never stops a pass."""

    def __init__(
        self, root: str | Path, paths: list[str], transform: Callable[[Image.Image], Any], size: int
    ):
        self.root = Path(root)
        self.paths = paths
        self.transform = transform
        self.size = size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        import torch

        try:
            return self.transform(load_rgb(self.root / self.paths[i])), i, ""
        except Exception as err:  # noqa: BLE001 - any decode failure is reported, not fatal
            return torch.zeros(3, self.size, self.size), i, f"{type(err).__name__}: {err}"


# --------------------------------------------------------------------------- demo image set


def bundled_photographs() -> dict[str, np.ndarray]:
    """The sample photographs that ship with scikit-image, scikit-learn and matplotlib (RGB
    uint8)."""
    import matplotlib.cbook
    import skimage.data
    from sklearn.datasets import load_sample_images

    photos: dict[str, np.ndarray] = {}
    for name in (
        "astronaut",
        "chelsea",
        "coffee",
        "rocket",
        "cat",
        "camera",
        "coins",
        "moon",
        "page",
        "text",
        "immunohistochemistry",
        "hubble_deep_field",
        "retina",
        "colorwheel",
    ):
        # all of these ship inside the scikit-image wheel; a missing one is an error, not a skip,
        # so the generated image set is the same on every machine
        arr = np.asarray(getattr(skimage.data, name)())
        if arr.ndim == 2:
            arr = np.stack([arr] * 3, -1)
        photos[f"skimage_{name}"] = arr[..., :3].astype(np.uint8)
    for fname, arr in zip(load_sample_images().filenames, load_sample_images().images, strict=True):
        photos[f"sklearn_{Path(fname).stem}"] = np.asarray(arr)[..., :3]
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        photos["matplotlib_grace_hopper"] = np.asarray(Image.open(f).convert("RGB"))
    return photos


def _photo_crop(photo: np.ndarray, rng: np.random.Generator, size: int) -> Image.Image:
    """A random crop (10–100 % of the shorter side), flip, colour and contrast change of a photo."""
    img = Image.fromarray(photo)
    w, h = img.size
    side = int(min(w, h) * rng.uniform(0.1, 1.0))
    side = max(side, 16)
    x0 = int(rng.integers(0, w - side + 1))
    y0 = int(rng.integers(0, h - side + 1))
    img = img.crop((x0, y0, x0 + side, y0 + side)).resize((size, size), Image.Resampling.BICUBIC)
    if rng.random() < 0.5:
        img = ImageOps.mirror(img)
    img = ImageEnhance.Color(img).enhance(rng.uniform(0.2, 1.8))
    img = ImageEnhance.Contrast(img).enhance(rng.uniform(0.5, 1.6))
    img = ImageEnhance.Brightness(img).enhance(rng.uniform(0.6, 1.4))
    if rng.random() < 0.3:  # hue rotation by channel permutation and mixing
        arr = np.asarray(img).astype(np.float32)
        mix = np.eye(3)[rng.permutation(3)] * 0.7 + 0.1
        img = Image.fromarray(np.clip(arr @ mix.T, 0, 255).astype(np.uint8))
    return img


def _procedural(rng: np.random.Generator, size: int) -> Image.Image:
    """Gratings, checkerboards, radial patterns, blobs or colour fields with random parameters."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    kind = int(rng.integers(0, 5))
    colours = rng.uniform(0, 255, size=(2, 3)).astype(np.float32)
    if kind == 0:  # sinusoidal grating
        theta, freq = rng.uniform(0, np.pi), rng.uniform(2, 20)
        t = 0.5 + 0.5 * np.sin(
            2 * np.pi * freq * (xx * np.cos(theta) + yy * np.sin(theta)) + rng.uniform(0, 6.3)
        )
    elif kind == 1:  # checkerboard
        n = int(rng.integers(2, 16))
        t = ((np.floor(xx * n) + np.floor(yy * n)) % 2).astype(np.float32)
    elif kind == 2:  # radial / concentric
        cx, cy, freq = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), rng.uniform(3, 25)
        t = 0.5 + 0.5 * np.cos(2 * np.pi * freq * np.hypot(xx - cx, yy - cy))
    elif kind == 3:  # smooth blobs: low-pass noise
        noise = rng.normal(size=(size, size))
        spec = np.fft.rfft2(noise)
        fy = np.fft.fftfreq(size)[:, None]
        fx = np.fft.rfftfreq(size)[None, :]
        spec *= np.exp(-(fx**2 + fy**2) / (2 * rng.uniform(0.005, 0.05) ** 2))
        t = np.fft.irfft2(spec, s=(size, size))
        t = (t - t.min()) / (np.ptp(t) + 1e-8)
    else:  # colour field with edges
        t = (xx * rng.uniform(-1, 1) + yy * rng.uniform(-1, 1) > rng.uniform(-0.5, 0.5)).astype(
            np.float32
        )
        t = 0.8 * t + 0.2 * yy
    arr = colours[0] * (1 - t[..., None]) + colours[1] * t[..., None]
    arr += rng.normal(0, rng.uniform(0, 12), size=arr.shape)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def generate_image_set(
    root: str | Path, n_images: int, size: int, n_classes: int, seed: int
) -> pd.DataFrame:
    """Write a deterministic demo image set (2/3 photo crops, 1/3 procedural) into class folders."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    photos = bundled_photographs()
    names = sorted(photos)
    rows = []
    for i in range(n_images):
        cls = f"class_{i % n_classes:03d}"
        if rng.random() < 2 / 3:
            source = names[int(rng.integers(0, len(names)))]
            img = _photo_crop(photos[source], rng, size)
        else:
            source = "procedural"
            img = _procedural(rng, size)
        rel = f"{cls}/img_{i:06d}.jpg"
        (root / cls).mkdir(parents=True, exist_ok=True)
        img.save(root / rel, format="JPEG", quality=90)
        rows.append({"path": rel, "source": source})
    return pd.DataFrame(rows)


def loader_workers(images_cfg: dict, threads: int) -> int:
    """DataLoader workers of a pass over images: `images.num_workers`, else the job's threads."""
    workers = images_cfg.get("num_workers")
    return threads if workers is None else workers

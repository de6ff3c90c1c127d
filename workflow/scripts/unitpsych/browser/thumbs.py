"""Thumbnails of the browser: one JPEG per image, written once however many units show it.

A natural image is named by its path in the image set (a hash of it), cropped as the exemplars
are (`exemplars.resize_center_crop`) and shrunk to `size` pixels; a feature visualisation is
shrunk from its PNG under its unit's name. So the site grows with the images shown, not with the
image set, and the full-size stimuli are never copied.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from PIL import Image

from unitpsych.exemplars.natural import resize_center_crop
from unitpsych.images import load_rgb

FOLDER = "thumbs"
QUALITY = 85


class Thumbnails:
    """Writes thumbnails into `<site>/thumbs/` and returns their paths relative to the site."""

    def __init__(self, site: str | Path, image_root: str | Path, resize: int, crop: int, size: int):
        self.site, self.image_root = Path(site), Path(image_root)
        self.resize, self.crop, self.size = resize, crop, size
        self.written: dict[str, str] = {}

    def _save(self, img: Image.Image, rel: str) -> str:
        """Shrink and write one thumbnail (deterministic JPEG bytes)."""
        out = self.site / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        img.convert("RGB").resize((self.size, self.size), Image.Resampling.LANCZOS).save(
            out, format="JPEG", quality=QUALITY
        )
        return rel

    @staticmethod
    def name(source: str) -> str:
        """The thumbnail file of an image-set image, named by its path: <hash>.jpg."""
        return f"{hashlib.sha1(source.encode()).hexdigest()[:16]}.jpg"

    def natural(self, source: str) -> str:
        """The thumbnail of an image of the image set (its path relative to the image root)."""
        if source not in self.written:
            img = resize_center_crop(load_rgb(self.image_root / source), self.resize, self.crop)
            self.written[source] = self._save(img, f"{FOLDER}/{self.name(source)}")
        return self.written[source]

    def file(self, path: str | Path, name: str) -> str:
        """The thumbnail of an image file that belongs to one unit (a feature visualisation)."""
        key = f"file:{path}"
        if key not in self.written:
            with Image.open(path) as img:
                self.written[key] = self._save(img, f"{FOLDER}/{name}.jpg")
        return self.written[key]

    def bytes_written(self) -> int:
        """Total size of the thumbnails written so far."""
        return sum((self.site / rel).stat().st_size for rel in self.written.values())

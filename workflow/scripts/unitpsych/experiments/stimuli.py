"""The stimuli an experiment shows: their metadata, and their files in the trial folders.

The experiment UI lays out every image at its own pixel size in a grid built for 224 px images
(`task.css`), so every image in a task or practice folder is `UI_IMAGE_SIZE` square. A stored
stimulus of that size is hard-linked into the folder (copied where the file system refuses
links, never symlinked, so the folder can be uploaded as it is); any other size (the demo's 48 px
feature visualisations) is resampled once with Lanczos and the copy hard-linked wherever the
stimulus appears again.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from PIL import Image

from unitpsych import paths

UI_IMAGE_SIZE = 224


class StimulusInfo:
    """Source image and activation of stimuli, read lazily from the stimulus metadata."""

    def __init__(self, results_dir: Path) -> None:
        self.results_dir = Path(results_dir)
        self._natural: dict[str, dict[tuple[int, str, int], tuple[str, float]]] = {}
        self._synthetic: dict[str, dict[tuple[str, int], float]] = {}

    def natural(
        self, model: str, unit: str, difficulty: str, batch: int, side: str, index: int
    ) -> tuple[str, float]:
        """(data-set image relative to the image root, activation) of a natural exemplar."""
        folder = paths.natural_dir(model, unit, difficulty, root=str(self.results_dir))
        if folder not in self._natural:
            from unitpsych.exemplars.natural import read_exemplars

            table = read_exemplars(folder)
            missing = {"batch", "side", "index", "source", "activation"} - set(table.columns)
            if missing:
                raise ValueError(f"{folder}: exemplar metadata lacks the columns {sorted(missing)}")
            self._natural[folder] = {
                (int(r.batch), str(r.side), int(r.index)): (str(r.source), float(r.activation))
                for r in table.itertuples(index=False)
            }
        key = (batch, side, index)
        if key not in self._natural[folder]:
            raise KeyError(f"{folder}: exemplar metadata has no row for (batch, side, index) {key}")
        return self._natural[folder][key]

    def synthetic(self, model: str, unit: str, side: str, index: int) -> tuple[str, float]:
        """(stimulus file relative to the results folder, activation) of a feature visualisation."""
        folder = paths.synthetic_dir(model, unit, root="")
        if folder not in self._synthetic:
            from unitpsych.visualizations.featureviz import read_fv

            fv = read_fv(self.results_dir / folder)
            self._synthetic[folder] = {
                (s, i): float(v)
                for s, result in fv.sides.items()
                for i, v in enumerate(result.activations)
            }
        key = (side, index)
        if key not in self._synthetic[folder]:
            raise KeyError(f"{folder}: fv.json has no activation for (side, index) {key}")
        return paths.stimulus_file(folder, side, index), self._synthetic[folder][key]


def link_or_copy(src: Path, dst: Path) -> bool:
    """Hard-link `src` to `dst` (True), or copy it where the file system refuses links (False)."""
    try:
        os.link(src, dst)
        return True
    except OSError as err:
        if err.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES):
            raise
        shutil.copyfile(src, dst)
        return False


def resample(src: Path, dst: Path, size: int = UI_IMAGE_SIZE) -> None:
    """Write `src` resized to size × size (Lanczos) as a PNG at `dst` (deterministic bytes)."""
    with Image.open(src) as img:
        rgb = img.convert("RGB")
    rgb.resize((size, size), Image.Resampling.LANCZOS).save(dst, format="PNG")


class StimulusPlacer:
    """Puts stimulus files into trial folders at the UI's size and counts what it did."""

    def __init__(self, results_dir: Path, size: int = UI_IMAGE_SIZE) -> None:
        self.results_dir = Path(results_dir)
        self.size = size
        self._resampled: dict[Path, Path] = {}  # source -> its first resampled copy
        self._fits: dict[Path, bool] = {}
        self.n_files = self.n_copies = self.n_resampled = 0

    def _fits_ui(self, source: Path) -> bool:
        """Whether a stimulus already has the UI's size (header read only, cached)."""
        if source not in self._fits:
            with Image.open(source) as img:
                self._fits[source] = img.size == (self.size, self.size)
        return self._fits[source]

    def place(self, stimulus: str, dst: Path) -> None:
        """Put the stimulus (relative to the results folder) at `dst`."""
        source = self.results_dir / stimulus
        if not source.is_file():
            raise FileNotFoundError(f"stimulus {source} is missing")
        self.n_files += 1
        if self._fits_ui(source):
            linked = link_or_copy(source, dst)
        elif source in self._resampled:
            linked = link_or_copy(self._resampled[source], dst)
        else:
            resample(source, dst, self.size)
            self._resampled[source] = dst
            self.n_resampled += 1
            return
        self.n_copies += not linked

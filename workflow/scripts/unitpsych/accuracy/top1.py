"""Accuracy check: top-1 on a labelled image set against the registry's value (protocol §1.1–§1.2).

A wrong key strip, a broken CLIP patch or a missing classifier head would silently corrupt a
study; the check runs each model's classifier over a labelled set (the ImageNet validation set)
with the activation pass's own preprocessing and fails when |top-1 - expected| > tolerance.
ImageNet-1k classes are indices 0..999 in the usual sorted-synset order (torchvision/timm).
GoogLeNet (Lucid's InceptionV1) has 1008 logits in Lucid's own label order; its 1000 ImageNet
logits are picked by synset. CLIP models are checked zero-shot: the 1000 class names in the 80
OpenAI prompt templates give one normalised text embedding per class, and the logits are
100 · normalize(image embedding) @ those embeddings.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from unitpsych.images import ImageDataset, imagenet_labels, imagenet_synsets, index_images
from unitpsych.models.registry import get_spec

log = logging.getLogger("unitpsych.accuracy")

# Lucid's label order of InceptionV1's 1008 logits (`synsets_path` of lucid.modelzoo's InceptionV1).
LUCID_SYNSETS_URL = "https://storage.googleapis.com/modelzoo/labels/ImageNet_alternate_synsets.txt"
_SYNSET = re.compile(r"n\d{8}")


class AccuracyError(RuntimeError):
    """A model's top-1 accuracy is not what its checkpoint should give."""


@dataclass(frozen=True)
class AccuracyResult:
    """Outcome of one model's check (written as accuracy.json)."""

    model: str
    arch: str
    top1: float
    expected: float | None
    tolerance: float
    n_images: int
    n_unreadable: int

    @property
    def passed(self) -> bool | None:
        """Whether |top1 - expected| <= tolerance; None when there is no expected value."""
        if self.expected is None:
            return None
        return abs(self.top1 - self.expected) <= self.tolerance + 1e-12

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready record, with `passed`."""
        return asdict(self) | {"passed": self.passed}


# --------------------------------------------------------------------------- labels


def class_index(value: str, synsets: dict[str, int] | None = None) -> int:
    """An ImageNet-1k class index from an integer (0..999) or a WordNet id (n01440764)."""
    value = value.strip()
    if value.lstrip("-").isdigit():
        index = int(value)
        if not 0 <= index < 1000:
            raise ValueError(f"class index {index} is outside 0..999")
        return index
    synsets = synsets if synsets is not None else imagenet_synsets()
    if value not in synsets:
        raise ValueError(f"{value!r} is neither a class index 0..999 nor an ImageNet-1k synset")
    return synsets[value]


def read_labels_file(path: str | Path) -> pd.DataFrame:
    """(path, label) from a file of `<image path> <class>` lines (comma or whitespace separated).

    The class is an index 0..999 or a WordNet id; `#` comments, blank lines and a header line
    (`path,label`) are skipped.
    """
    synsets = imagenet_synsets()
    rows = []
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = re.split(r"\s*,\s*|\s+", line)
        if len(parts) < 2:
            raise ValueError(f"{path}:{number}: want `<image path> <class>`, got {line!r}")
        if not rows and parts[1].lower() in ("label", "class", "class_index"):
            continue  # header
        try:
            rows.append((parts[0], class_index(parts[1], synsets)))
        except ValueError as err:
            raise ValueError(f"{path}:{number}: {err}") from None
    if not rows:
        raise ValueError(f"labels file {path} lists no images")
    return pd.DataFrame(rows, columns=["path", "label"])


def labelled_set(root: str | Path, labels: str | Path | None = None) -> pd.DataFrame:
    """The labelled set as (path relative to root, label), sorted by path.

    With a labels file, its listed images; without, every image under `root` labelled by its
    synset folder (ImageNet's val/ sorted into class folders).
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"accuracy.root {str(root)!r} is not a folder")
    if labels:
        table = read_labels_file(labels)
        missing = [p for p in table["path"] if not (root / p).is_file()]
        if missing:
            raise FileNotFoundError(
                f"{len(missing)} images of {labels} are not under {root}, e.g. {missing[:3]}"
            )
    else:
        table = index_images(root)
        table["label"] = imagenet_labels(table["class"])
        unknown = sorted(set(table.loc[table["label"] < 0, "class"]))
        if unknown:
            raise ValueError(
                f"accuracy.root: folders {unknown[:3]} are not ImageNet synsets; sort the images "
                "into synset folders or give accuracy.labels"
            )
        table = table[["path", "label"]]
    return table.sort_values("path", ignore_index=True)


def expected_accuracy(model_cfg: dict) -> float | None:
    """The top-1 the model should reach: the config's override, else the registry's table value.

    The table holds the published checkpoints' values, so it does not apply to `weights: random`.
    """
    if model_cfg.get("expected_accuracy") is not None:
        return float(model_cfg["expected_accuracy"])
    if str(model_cfg.get("weights", "pretrained")) == "random":
        return None
    return get_spec(model_cfg["arch"]).expected_accuracy


# --------------------------------------------------------------------------- heads


def lucid_logit_indices(synsets_file: str | Path) -> np.ndarray:
    """For each ImageNet-1k class (sorted-synset order), its logit among InceptionV1's 1008.

    Logit 0 is Lucid's background ("dummy") class, so a list that starts with a synset is
    shifted by one; the authors' label translator (label + 1) does the same.
    """
    entries = [ln.split()[0] for ln in Path(synsets_file).read_text().splitlines() if ln.strip()]
    if entries and _SYNSET.fullmatch(entries[0]):
        entries = ["dummy", *entries]
    position = {s: i for i, s in enumerate(entries) if _SYNSET.fullmatch(s)}
    indices = imagenet_synsets()
    order = sorted(indices, key=indices.get)
    missing = [s for s in order if s not in position]
    if missing:
        raise ValueError(
            f"{synsets_file} lacks {len(missing)} ImageNet synsets, e.g. {missing[:3]}"
        )
    return np.array([position[s] for s in order], dtype=np.int64)


def lucid_synsets_file(path: str | Path | None = None) -> Path:
    """Lucid's InceptionV1 label order: a local file, or downloaded once into torch hub's cache."""
    if path:
        if not Path(path).is_file():
            raise FileNotFoundError(f"accuracy.lucid_synsets: {path} does not exist")
        return Path(path)
    import torch.hub

    cached = Path(torch.hub.get_dir()) / "lucid" / Path(LUCID_SYNSETS_URL).name
    if not cached.exists():
        cached.parent.mkdir(parents=True, exist_ok=True)
        log.info("downloading %s", LUCID_SYNSETS_URL)
        torch.hub.download_url_to_file(LUCID_SYNSETS_URL, str(cached), progress=False)
    return cached


def imagenet_head(model: Any, lucid_synsets: str | Path | None = None) -> Callable:
    """A function from the hooked module's output to ImageNet-1k logits in sorted-synset order."""
    import torch

    if model.is_clip:
        classifier = clip_zero_shot_classifier(model)

        def clip_logits(out: torch.Tensor) -> torch.Tensor:
            return 100.0 * torch.nn.functional.normalize(out, dim=-1) @ classifier

        return clip_logits
    if model.arch == "googlenet":
        index = torch.as_tensor(lucid_logit_indices(lucid_synsets_file(lucid_synsets)))

        def lucid_logits(out: torch.Tensor) -> torch.Tensor:
            return out.index_select(1, index.to(out.device))

        return lucid_logits

    def plain_logits(out: torch.Tensor) -> torch.Tensor:
        if out.dim() != 2 or out.shape[1] != 1000:
            raise AccuracyError(
                f"model {model.name} ({model.arch}) gives outputs of shape {tuple(out.shape)}, "
                "not 1000 ImageNet logits; set no accuracy check for it"
            )
        return out

    return plain_logits


def clip_zero_shot_classifier(
    model: Any, classnames: list[str] | None = None, templates: list | None = None
):
    """Text embeddings [dim, n classes]: each class name in every prompt template, averaged and
    normalised (default: the 1000 ImageNet class names and the 80 OpenAI templates)."""
    import open_clip

    library = model.spec.library  # open_clip:<model>: its own tokenizer (fetched by `weights`)
    preset = "RN50" if "resnet" in model.arch else "ViT-B-32"
    tokenizer = open_clip.get_tokenizer(library.model if library else preset)
    return open_clip.build_zero_shot_classifier(
        model.full,
        tokenizer=tokenizer,
        classnames=classnames or open_clip.IMAGENET_CLASSNAMES,
        templates=templates or open_clip.OPENAI_IMAGENET_TEMPLATES,
        device=model.device,
        use_tqdm=False,
    )


# --------------------------------------------------------------------------- the check


def top1_accuracy(
    model: Any,
    root: str | Path,
    table: pd.DataFrame,
    head: Callable,
    batch_size: int = 32,
    num_workers: int = 0,
    progress: IO[str] | None = None,
) -> tuple[float, int]:
    """(top-1 over the readable images, number unreadable), with the activation pass's transform."""
    import torch
    from torch.utils.data import DataLoader
    from tqdm import tqdm

    dataset = ImageDataset(root, list(table["path"]), model.transform(), model.input_size)
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        pin_memory=model.device.type == "cuda",
    )
    labels = table["label"].to_numpy()
    hits, counted, unreadable = 0, 0, 0
    with torch.inference_mode():
        for x, idx, err in tqdm(loader, file=progress, mininterval=5, desc=f"top-1 {model.name}"):
            ok = np.array([e == "" for e in err])
            for i, e in zip(idx.tolist(), err, strict=True):
                if e:
                    log.warning("unreadable image %s: %s", table["path"].iloc[i], e)
            unreadable += int((~ok).sum())
            predicted = head(model.module(x.to(model.device))).argmax(-1).cpu().numpy()
            hits += int((predicted == labels[idx.numpy()])[ok].sum())
            counted += int(ok.sum())
    if counted == 0:
        raise AccuracyError(f"no readable image in the labelled set under {root}")
    return hits / counted, unreadable


def check(result: AccuracyResult) -> None:
    """Raise AccuracyError naming the model and both numbers when the check fails."""
    if result.passed is False:
        raise AccuracyError(
            f"model {result.model} ({result.arch}): top-1 accuracy {result.top1:.4f} on the "
            f"labelled set differs from the expected {result.expected:.4f} by more than the "
            f"tolerance {result.tolerance} ({result.n_images} images); is the checkpoint loaded "
            "correctly?"
        )

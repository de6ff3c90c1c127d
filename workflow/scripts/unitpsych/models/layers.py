"""Layer names, layers of interest per model family, and the per-image reduction (protocol
§1.3–§1.4).

Importable without torch: the rules are plain string predicates; torch is imported where tensors are
touched.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

CLIP_PREFIX = "visual_"

_RESNET_ENDINGS = ("conv1", "conv2", "conv3", "bn1", "bn2", "bn3", "shortcut")
_DENSE_BLOCK_ENDINGS = ("conv1", "conv2", "norm1", "norm2")
_CONVNEXT_BLOCK = re.compile(r"stages_\d+_blocks_\d+")
_CONVNEXT_ENDINGS = ("conv_dw", "norm", "mlp_fc1", "mlp_fc2")
_VIT_TIMM_ENDINGS = ("norm1", "ls1", "norm2", "mlp_fc1", "mlp_fc2", "ls2")
_VIT_CLIP_ENDINGS = ("ln_1", "ls_1", "ln_2", "mlp_c_fc", "mlp_c_proj", "ls_2")
_EFFNET_BLOCK = re.compile(r"blocks_\d+_\d+")
_EFFNET_ENDINGS = ("conv_pw", "conv_dw", "conv_pwl", "bn1", "bn2", "bn3")


def googlenet_rule(name: str) -> bool:
    """GoogLeNet: the six pre-ReLU convolutions of every inception block (54 layers)."""
    return name.startswith("mixed") and "pre_relu_conv" in name


def resnet_rule(name: str) -> bool:
    """ResNet-50 type: conv/bn of every bottleneck and the pre-ReLU residual sum `shortcut`
    (112)."""
    return name.startswith("layer") and name.endswith(_RESNET_ENDINGS)


def densenet_rule(name: str) -> bool:
    """DenseNet-201: conv/norm of every dense layer and of every transition (398)."""
    if name.startswith("features_denseblock"):
        return name.endswith(_DENSE_BLOCK_ENDINGS)
    if name.startswith("features_transition"):
        return name.endswith(("conv", "norm"))
    return False


def _block_or_part(block: re.Pattern[str], endings: tuple[str, ...], name: str) -> bool:
    """True for a block's own output (`name` matches `block` fully) or one of its `endings`
    parts."""
    match = block.match(name)
    if match is None:
        return False
    rest = name[match.end() :]
    return rest == "" or rest.lstrip("_") in endings


def convnext_rule(name: str) -> bool:
    """ConvNeXt: each block's output and its conv_dw, norm, mlp_fc1, mlp_fc2.

    timm >= 0.9 adds an Identity `mlp_norm` inside every block's Mlp; the authors' rule (`endswith
    "norm"`) would pick it up, duplicating the post-GELU input of mlp_fc2. We exclude it so every
    block contributes exactly the five layers the paper describes (36 × 5 = 180 for ConvNeXt-B).
    """
    return _block_or_part(_CONVNEXT_BLOCK, _CONVNEXT_ENDINGS, name)


def convnext_channel_last(name: str) -> bool:
    """ConvNeXt (timm, conv_mlp=False): norm and MLP outputs are (B, H, W, C)."""
    return "mlp_fc" in name or name.endswith("norm")


def vit_timm_rule(name: str) -> bool:
    """timm ViT: norms, LayerScale outputs and both MLP linears of every block (72 for ViT-B/32)."""
    return name.startswith("blocks_") and name.endswith(_VIT_TIMM_ENDINGS)


def vit_clip_rule(name: str) -> bool:
    """open_clip ViT: ln_1, ls_1, ln_2, mlp_c_fc, mlp_c_proj, ls_2 of every resblock (72)."""
    return name.startswith("transformer_resblocks") and name.endswith(_VIT_CLIP_ENDINGS)


def efficientnet_rule(name: str) -> bool:
    """EfficientNet(-lite), timm: every block's output and its convs and (BN+act) layers."""
    return _block_or_part(_EFFNET_BLOCK, _EFFNET_ENDINGS, name)


def never_channel_last(name: str) -> bool:
    """Every layer is channel-first (B, C, ...)."""
    return False


LayerRule = Callable[[str], bool]


def as_bcn(act: torch.Tensor, tokens: str | None, channel_last: bool) -> torch.Tensor:
    """View a hooked output as (B, C, N): channels first, positions or tokens flattened.

    `tokens` is "bnc" (timm, open_clip batch-first), "nbc" (open_clip sequence-first) or None for
    conv maps; `channel_last` marks (B, H, W, C) maps (ConvNeXt norms and MLPs).
    """
    if isinstance(act, tuple):  # some modules return (output, extras)
        act = act[0]
    if tokens == "bnc":
        return act.transpose(1, 2)
    if tokens == "nbc":
        return act.permute(1, 2, 0)
    if act.dim() == 2:
        return act.unsqueeze(-1)
    if channel_last:
        act = act.movedim(-1, 1)
    return act.flatten(2)

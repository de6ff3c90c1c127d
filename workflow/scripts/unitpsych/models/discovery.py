"""Layers of interest by rule for models outside the presets, and each layer's layout.

Default rule: the outputs of conv, linear and batch/layer/group-norm modules inside the network's
body, i.e. inside its repeated blocks (children of one nn.Sequential / nn.ModuleList that share its
most common class: ResNet blocks, ViT blocks, MobileNet's inverted residuals). The stem before the
first block and whatever follows the last (final norm, pooling, classifier) are left out. A model's
`layers: {include: [regex...], exclude: [regex...]}` overrides it (`re.search` on layer names,
dots written as `_`). A layer's layout is read off its module and its output on a probe batch.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("unitpsych.models")

LAYOUTS = ("bchw", "bhwc", "bnc", "nbc")  # channel-first map, channel-last map, tokens (2 orders)
PROBE_BATCH = 2


@dataclass(frozen=True)
class LayerInfo:
    """One layer of interest: its layout and channel count."""

    layout: str
    channels: int


def layer_name(module_name: str) -> str:
    """A module's layer name: dots become underscores (unit ids are `<layer>__<channel>`)."""
    return module_name.replace(".", "_")


def _candidate_types() -> tuple[type, ...]:
    """Conv, linear and batch/layer/group-norm module classes."""
    from torch import nn

    return (
        nn.Conv1d,
        nn.Conv2d,
        nn.Linear,
        nn.BatchNorm1d,
        nn.BatchNorm2d,
        nn.LayerNorm,
        nn.GroupNorm,
    )


def block_names(module: Any) -> set[str]:
    """Names of the repeated blocks: non-leaf children of a sequence (nn.Sequential, nn.ModuleList)
    sharing its most common class (at least two of them)."""
    from torch import nn

    blocks = set()
    for name, parent in module.named_modules():
        if not isinstance(parent, (nn.Sequential, nn.ModuleList)):
            continue
        kids = [(n, c) for n, c in parent.named_children() if any(True for _ in c.children())]
        counts = Counter(type(c) for _, c in kids)
        if not counts:
            continue
        top = max(counts.values())
        if top < 2:
            continue
        prefix = f"{name}." if name else ""
        blocks |= {prefix + n for n, c in kids if counts[type(c)] == top}
    return blocks


def default_layers(module: Any) -> list[str]:
    """Module names the default rule picks: conv/linear/norm modules inside a repeated block."""
    types = _candidate_types()
    blocks = block_names(module)
    return [
        name
        for name, m in module.named_modules()
        if isinstance(m, types) and any(name.startswith(b + ".") for b in blocks)
    ]


def _norm_is_channel_last(m: Any, out: Any) -> bool:
    """A plain nn.LayerNorm normalises the last dimension; subclasses that override forward
    (timm's LayerNorm2d) normalise channels first."""
    from torch import nn

    if isinstance(m, nn.Linear):
        return True
    if isinstance(m, nn.LayerNorm):
        return type(m).forward is nn.LayerNorm.forward or out.shape[1] != m.normalized_shape[0]
    return False


def layout_of(m: Any, out: Any, batch: int = PROBE_BATCH) -> LayerInfo | str:
    """The layout of module `m`'s output on a probe batch, or why it is not one map or token
    sequence per image."""
    import torch

    if not isinstance(out, torch.Tensor):
        return f"returns {type(out).__name__}, not one tensor"
    shape = tuple(out.shape)
    if out.dim() == 2:
        return f"output {shape} is one vector per image (pooled), not a map or tokens"
    if out.dim() == 3 and shape[0] == batch:
        conv = isinstance(m, (torch.nn.Conv1d, torch.nn.BatchNorm1d, torch.nn.GroupNorm))
        return LayerInfo("bchw", shape[1]) if conv else LayerInfo("bnc", shape[2])
    if out.dim() == 3 and shape[1] == batch:
        return LayerInfo("nbc", shape[2])
    if out.dim() == 4 and shape[0] == batch:
        if _norm_is_channel_last(m, out):
            return LayerInfo("bhwc", shape[3])
        return LayerInfo("bchw", shape[1])
    return f"output {shape} does not hold one map or token sequence per image of {batch}"


def probe(module: Any, names: list[str], input_size: int) -> dict[str, LayerInfo | str]:
    """Run a probe batch through `module`; each named module's layout (or why it has none)."""
    import torch

    modules = dict(module.named_modules())
    found: dict[str, LayerInfo | str] = {}
    handles = []
    for name in names:

        def hook(m, _inp, out, name=name):
            if name not in found:
                found[name] = layout_of(m, out)

        handles.append(modules[name].register_forward_hook(hook))
    g = torch.Generator().manual_seed(0)
    x = torch.rand(PROBE_BATCH, 3, input_size, input_size, generator=g)
    try:
        with torch.no_grad():
            module(x.to(next(module.parameters()).device))
    finally:
        for handle in handles:
            handle.remove()
    never = "never runs as a module in a forward pass (its parent uses its weights directly)"
    return {name: found.get(name, never) for name in names}


def _matches(name: str, patterns: list[str]) -> bool:
    """Whether `re.search` finds any of `patterns` in the layer name."""
    return any(re.search(p, name) for p in patterns)


def select_layers(module: Any, input_size: int, rule: dict | None, model: str) -> dict[str, Any]:
    """Layers of interest (layer name -> LayerInfo) by the default rule or `rule`'s include /
    exclude; refuses included layers without a map or token layout, and an empty selection."""
    rule = rule or {}
    include, exclude = rule.get("include") or [], rule.get("exclude") or []
    names = [n for n, _ in module.named_modules() if n]
    if include:
        chosen = [n for n in names if _matches(layer_name(n), include)]
    else:
        chosen = default_layers(module)
    chosen = [n for n in chosen if not _matches(layer_name(n), exclude)]
    if not chosen:
        some = ", ".join(layer_name(n) for n in default_layers(module)[:8] or names[:8])
        raise ValueError(
            f"model {model!r}: the layer rule {rule or 'default'} selects no layer; some of its "
            f"layers: {some}"
        )
    infos = probe(module, chosen, input_size)
    bad = {n: v for n, v in infos.items() if isinstance(v, str)}
    if include and bad:
        n, why = next(iter(bad.items()))
        raise ValueError(
            f"model {model!r}: layers.include selects {len(bad)} layer(s) without one map or "
            f"token sequence per image, e.g. {layer_name(n)}: {why}; exclude them"
        )
    for n, why in bad.items():
        log.info("%s: layer %s left out: %s", model, layer_name(n), why)
    return {layer_name(n): v for n, v in infos.items() if not isinstance(v, str)}

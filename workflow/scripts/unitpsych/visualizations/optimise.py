"""The torch optimisation of feature visualisations (protocol §5.1), many runs of a unit at once.

One optimisation *run* is a batch of `n` images optimised for one side (maximise or minimise the
unit's channel mean) with one diversity weight α. `optimise_runs` optimises several runs of one unit
together on the device; `evaluate_images` re-evaluates the stored images as the authors did.

Why batching several runs is exact: the authors reset every seed before each run, so every run of a
unit starts from the same noise (the first `n` images of the same draw) and sees the same sequence
of
random transforms (lucent draws one jitter/scale/angle per step for the whole batch). Stacking the
runs of a unit along the batch axis therefore reproduces every run: the transforms are per-image
operations, the model is in eval mode (no batch statistics), the loss is the sum of the runs'
own losses (each with its own 1/n and α) and Adam is element-wise. Each run keeps its own plateau
check and leaves the batch when it stops. A different batch composition changes results only by
float rounding (BLAS blocking), which Adam's normalised steps can amplify slightly.

Units are not stacked: each unit has its own seed (config seed + unit name), hence its own
transform draws and image sizes per step, which cannot share a forward pass.
Two further savings that do not change results: the model's weights get no gradients (this sets
requires_grad off on the model), and the forward pass stops right after the unit's layer (later
layers cannot influence the objective).

torch and lucent are imported inside the functions, so the settings import without them.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from unitpsych.visualizations.search import RunResult, RunSpec
from unitpsych.visualizations.settings import FVSettings, PlateauSettings

if TYPE_CHECKING:
    import torch

    from unitpsych.models.registry import LoadedModel

TRANSFORM_SCALES = (1.0, 0.975, 1.025, 0.95, 1.05)
TRANSFORM_ANGLES = tuple(range(-5, 6))
PAPER_PARAM_SIZE = 256  # the authors' FFT image side; the jitters below are given for it


class PlateauStop:
    """Exponentially smoothed gradient norm; stop when it no longer falls
    (RGBGradientNormInterruptCheck).

    After each step: s_t = w·s_{t−1} + (1−w)·g_t (s_0 = g_0). Once more than max(window, min_steps)
    values exist, stop when mean(s[−window:−window/2]) / mean(s[−window/2:]) <= ratio.
    """

    def __init__(self, settings: PlateauSettings):
        self.settings = settings
        self.smoothed: list[float] = []

    def update(self, grad_norm: float) -> bool:
        """Record one step's gradient norm; True when the optimisation should stop."""
        s = self.settings
        last = self.smoothed[-1] if self.smoothed else grad_norm
        self.smoothed.append(last * s.smoothing + (1 - s.smoothing) * grad_norm)
        if len(self.smoothed) <= max(s.window, s.min_steps):
            return False
        half = s.window // 2
        first = float(np.mean(self.smoothed[-s.window : -half]))
        second = float(np.mean(self.smoothed[-half:]))
        return first / second <= s.ratio


# --------------------------------------------------------------------------- optimisation


class _StopForward(Exception):
    """Raised by a hook to end the forward pass after the unit's layer."""


def _stop_forward(_module: Any, _inputs: Any, _output: Any) -> None:
    raise _StopForward


def forward_to_layer(model: LoadedModel, layer: str, x: torch.Tensor) -> torch.Tensor:
    """Forward `x` (model input space) up to `layer`; its output as (B, C, N)."""
    with model.record([layer]) as rec:
        handle = model.get_layer_module(layer).register_forward_hook(_stop_forward)
        try:
            model.module(x)
        except _StopForward:
            pass
        finally:
            handle.remove()
    if layer not in rec:
        raise RuntimeError(f"layer {layer!r} did not run in a forward pass of {model.name}")
    return model.as_bcn(layer, rec[layer])


def gram_similarity(act: torch.Tensor) -> torch.Tensor:
    """Σ_{i≠j} ⟨Ĝ_i, Ĝ_j⟩ per run for act (R, n, C, N); Ĝ = Frobenius-normalised C×C Gram matrix.

    Lucid's diversity term is −this / n. When C is large and N small (late layers, ViT tokens) the
    Gram inner products are computed as ‖F_iᵀF_j‖² (N×N), which is the same number at less memory.
    """
    import torch

    r, n, c, npos = act.shape
    if c <= n * npos:
        grams = act @ act.transpose(-1, -2)  # (R, n, C, C)
        norms = grams.flatten(2).norm(dim=-1).clamp_min(1e-12)  # F.normalize's eps
        grams = grams / norms[..., None, None]
        total = grams.sum(1)
        return (total * total).sum((-1, -2)) - (grams * grams).sum((1, 2, 3))
    cross = torch.einsum("aicp,ajcq->aijpq", act, act)  # F_iᵀ F_j, (R, n, n, N, N)
    inner = (cross * cross).sum((-1, -2))  # ⟨G_i, G_j⟩
    norms = torch.diagonal(inner, dim1=1, dim2=2).sqrt().clamp_min(1e-12)
    cos = inner / (norms[:, :, None] * norms[:, None, :])
    return cos.sum((1, 2)) - torch.diagonal(cos, dim1=1, dim2=2).sum(-1)


def jitters(param_size: int) -> tuple[int, int]:
    """The two jitters in px: the paper's 16 and 8 at 256 px, scaled with smaller images (>= 1)."""
    return tuple(max(1, round(j * param_size / PAPER_PARAM_SIZE)) for j in (16, 8))  # type: ignore[return-value]


def lucent_transforms(param_size: int = PAPER_PARAM_SIZE) -> list[Callable]:
    """The paper's transforms: jitter 16, random scale, rotate −5..5°, jitter 8 (lucent).

    The jitters keep their share of the image at other sizes (4 and 2 px at 64 px), so that a
    small image is moved by what moves a 256 px one: unscaled, 64 px images lose 24 of 64 px to
    the jitters and are then evaluated on a view that the optimisation rarely saw.
    """
    from lucent.optvis import transform

    first, second = jitters(param_size)
    return [
        transform.jitter(first),
        transform.random_scale(TRANSFORM_SCALES),
        transform.random_rotate(TRANSFORM_ANGLES),
        transform.jitter(second),
    ]


@contextlib.contextmanager
def lucent_on(device: torch.device) -> Iterator[None]:
    """Point lucent's tensors at `device` while the block runs (a narrow patch of lucent 0.1.8).

    lucent creates the FFT parameter, the jitter offsets and the rotation matrices on a module-level
    `device` (cuda:0 whenever CUDA is visible), and builds the colour-decorrelation matrix on cuda:0
    inside `_linear_decorrelate_color`; a model on another device (CPU tests on a GPU machine)
    would meet tensors on the wrong device. Same arithmetic, only the device changes.
    """
    import torch
    from lucent.optvis import transform
    from lucent.optvis.param import color, spatial

    def decorrelate(image: torch.Tensor) -> torch.Tensor:
        matrix = torch.tensor(color.color_correlation_normalized.T, device=image.device)
        return torch.matmul(image.permute(0, 2, 3, 1), matrix).permute(0, 3, 1, 2)

    saved = transform.device, spatial.device, color._linear_decorrelate_color
    transform.device = spatial.device = torch.device(device)
    color._linear_decorrelate_color = decorrelate
    try:
        yield
    finally:
        transform.device, spatial.device, color._linear_decorrelate_color = saved


def reset_seeds(seed: int) -> None:
    """The authors' per-run reset of numpy, random and torch seeds."""
    import torch

    np.random.seed(seed)
    random.seed(seed)
    torch.manual_seed(seed)


def fv_input_crop(model: LoadedModel) -> int | None:
    """Centre crop applied after the transforms: CLIP's 224 (§5.1), or a transformer's fixed size.

    Conv nets see the whole transformed image. The authors only visualised CLIP's ViT (cropped);
    timm ViTs also reject other sizes, so they get the same crop to their input size.
    """
    return model.fv_input_crop


def _center_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    """Central size×size crop of (B, C, H, W)."""
    oy = (x.shape[2] - size) // 2
    ox = (x.shape[3] - size) // 2
    return x[:, :, oy : oy + size, ox : ox + size]


def optimise_runs(
    model: LoadedModel,
    layer: str,
    channel: int,
    runs: list[RunSpec],
    settings: FVSettings,
    seed: int,
    progress: Any = None,
) -> list[RunResult]:
    """Optimise all `runs` of one unit together (§5.1); each gives what a separate run would."""
    import torch
    from lucent.optvis import param
    from tqdm import tqdm

    with lucent_on(model.device):  # lucent's tensors on the model's device
        size = settings.param_size
        crop = fv_input_crop(model)
        if crop and size < crop:
            raise ValueError(
                f"featureviz.param_size ({size}) must be >= {crop}: {model.name} takes {crop} px "
                "inputs"
            )
        model.module.requires_grad_(False)

        spectra, image_fs = [], []
        for run in runs:
            reset_seeds(seed)  # every run starts from the same noise, as in the authors' code
            params, image_f = param.image(size, batch=run.n, fft=True, decorrelate=True)
            spectra.append(params[0])
            image_fs.append(image_f)
        reset_seeds(seed)  # the transforms' draws: one sequence shared by all runs
        transforms = lucent_transforms(size)
        optimizer = torch.optim.Adam(spectra, lr=settings.lr)

        checks = [PlateauStop(settings.plateau) for _ in runs]
        steps = [0] * len(runs)
        finals: list[torch.Tensor | None] = [None] * len(runs)
        active = list(range(len(runs)))
        bar = tqdm(
            total=settings.max_steps,
            file=progress,
            disable=progress is None,
            mininterval=5,
            desc=f"{layer}__{channel} {len(runs)} runs {sum(r.n for r in runs)} images",
        )
        with model.record([layer]) as rec:
            stop_handle = model.get_layer_module(layer).register_forward_hook(_stop_forward)
            try:
                for step in range(1, settings.max_steps + 1):
                    optimizer.zero_grad(set_to_none=True)
                    x = torch.cat([image_fs[i]() for i in active])
                    for t in transforms:
                        x = t(x)
                    if crop:
                        x = _center_crop(x, crop)
                    try:
                        model.module(model.normalize(x))
                    except _StopForward:
                        pass
                    act = model.as_bcn(layer, rec[layer])
                    loss = _loss(act, channel, [runs[i] for i in active])
                    loss.backward()
                    optimizer.step()

                    norms = _grad_norms([spectra[i] for i in active], size)
                    still = []
                    for i, g in zip(active, norms, strict=True):
                        steps[i] = step
                        if checks[i].update(g) or step == settings.max_steps:
                            with torch.no_grad():
                                finals[i] = image_fs[i]().detach()
                        else:
                            still.append(i)
                    active = still
                    bar.update(1)
                    if not active:
                        break
            finally:
                stop_handle.remove()
                bar.close()

        results = []
        for i, run in enumerate(runs):
            img = _center_crop(finals[i], settings.crop_size)
            results.append(RunResult(run, img.permute(0, 2, 3, 1).cpu().numpy(), steps[i]))
        return results


def _loss(act: torch.Tensor, channel: int, runs: list[RunSpec]) -> torch.Tensor:
    """Σ over runs of the lucent loss: ∓ channel mean (+ α · Σ_{i≠j} Gram cosine / n)."""
    import torch

    values = act[:, channel, :].mean(-1)  # per image
    weights = torch.cat(
        [
            torch.full((r.n,), (-1.0 if r.side == "max" else 1.0) / r.n, device=act.device)
            for r in runs
        ]
    )
    loss = (values * weights).sum()
    start = 0
    groups: dict[int, list[tuple[int, float]]] = {}
    for r in runs:
        if r.alpha:
            groups.setdefault(r.n, []).append((start, r.alpha))
        start += r.n
    for n, members in groups.items():
        acts = torch.stack([act[s : s + n] for s, _ in members])  # (R, n, C, N)
        alphas = torch.tensor([a for _, a in members], device=act.device, dtype=act.dtype)
        loss = loss + (alphas * gram_similarity(acts) / n).sum()
    return loss


def _grad_norms(spectra: list[torch.Tensor], size: int) -> list[float]:
    """Per run: max over its images of ‖irfftn(∂loss/∂spectrum)‖₂ (the plateau check's signal)."""
    import torch

    with torch.no_grad():
        grads = torch.cat([s.grad for s in spectra])
        pixels = torch.fft.irfftn(
            torch.view_as_complex(grads.contiguous()), s=(size, size), norm="ortho"
        )
        per_image = pixels.flatten(1).norm(dim=-1)
        out, start = [], 0
        for s in spectra:
            out.append(per_image[start : start + s.shape[0]].max())
            start += s.shape[0]
        return torch.stack(out).cpu().tolist()


def evaluate_images(
    model: LoadedModel, layer: str, channel: int, images: np.ndarray, batch_size: int = 64
) -> np.ndarray:
    """The unit's activation for images (B, H, W, 3) in [0, 1], as the authors re-evaluated FVs
    (§5.1)."""
    import torch

    out = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            x = torch.as_tensor(images[start : start + batch_size], dtype=torch.float32)
            x = x.permute(0, 3, 1, 2).to(model.device)
            act = forward_to_layer(model, layer, model.normalize(x))
            out.append(act[:, channel, :].mean(-1).cpu().numpy())
    return np.concatenate(out).astype(np.float64)

"""The torch optimisation of feature visualisations (protocol §5.1), many runs and units at once.

One optimisation *run* is a batch of `n` images optimised for one side (maximise or minimise the
unit's channel mean) with one diversity weight α. `optimise_runs` optimises several runs of one unit
together on the device; `evaluate_images` re-evaluates the stored images as the authors did.

Why batching several runs is exact: the authors reset every seed before each run, so every run of a
unit starts from the same noise (the first `n` images of the same draw) and sees the same sequence
of random transforms (lucent draws one jitter/scale/angle per step for the whole batch). Stacking
the runs of a unit along the batch axis therefore reproduces every run: the transforms are per-image
operations, the model is in eval mode (no batch statistics), the loss is the sum of the runs' own
losses (each with its own 1/n and α) and Adam is element-wise. Each run keeps its own plateau check
and leaves the batch when it stops. A different batch composition changes results only by float
rounding (BLAS blocking), which Adam's normalised steps can amplify slightly.

Several units are optimised together too (`optimise_jobs`, one `UnitJob` per unit's runs): each
unit has its own seed (config seed + unit name), so each job keeps its own random streams (numpy,
random, torch states swapped in around its transforms) and draws exactly the transforms it would
draw alone. The random scale makes the image sizes differ between jobs, so every step runs one
forward and backward pass per image shape (at most five), each stopping after the deepest layer its
jobs need; each image gets its own unit's objective.

Three further savings that do not change results: the model's weights get no gradients (this sets
requires_grad off on the model), the forward pass stops right after the unit's layer (later
layers cannot influence the objective), and freed memory stays in the process while it runs
(`reused_heap`: on a CPU at 256 px, glibc otherwise hands every large activation buffer back to
the kernel and the kernel zero-fills a fresh one on the next step).

torch and lucent are imported inside the functions, so the settings import without them.
"""

from __future__ import annotations

import contextlib
import ctypes
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
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


# glibc's mallopt parameters and their defaults (malloc.h)
M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4
GLIBC_TRIM_THRESHOLD, GLIBC_MMAP_MAX = 128 * 1024, 65536
_heap_depth = [0]  # nested reused_heap blocks: only the outermost sets and restores


def _glibc() -> Any:
    """The C library when it is glibc (has mallopt and malloc_trim), else None."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


@contextlib.contextmanager
def reused_heap() -> Iterator[None]:
    """Keep freed memory in the process while the block runs (glibc; elsewhere a no-op).

    glibc serves every allocation above its mmap threshold (at most 32 MB) from a fresh mapping
    and unmaps it when freed, so each step's activation buffers (about 100 MB each for 18 images
    at 256 px) come back from the kernel as new pages, zero-filled on first touch: on a CPU that
    cost more than the convolutions. Here they come from the heap, which is not trimmed; the
    outermost block restores glibc's defaults and trims the heap. Wrapping several
    `optimise_jobs` calls (rounds) in one block keeps the heap between them. Same arithmetic, so
    the same results.
    """
    libc = _glibc()
    if libc is None or _heap_depth[0]:
        _heap_depth[0] += 1
        try:
            yield
        finally:
            _heap_depth[0] -= 1
        return
    libc.mallopt(M_MMAP_MAX, 0)
    libc.mallopt(M_TRIM_THRESHOLD, 2**31 - 1)
    _heap_depth[0] = 1
    try:
        yield
    finally:
        _heap_depth[0] = 0
        libc.mallopt(M_MMAP_MAX, GLIBC_MMAP_MAX)
        libc.mallopt(M_TRIM_THRESHOLD, GLIBC_TRIM_THRESHOLD)
        libc.malloc_trim(0)


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


@dataclass(frozen=True)
class UnitJob:
    """Runs of one unit optimised together from one seed: what one `optimise_runs` call did."""

    layer: str
    channel: int
    seed: int
    runs: tuple[RunSpec, ...]


@dataclass
class _JobState:
    """A job's optimisation state: its spectra, images, own random streams and plateau checks."""

    job: UnitJob
    spectra: list[Any]
    image_fs: list[Callable]
    rng: tuple[Any, Any, Any]
    checks: list[PlateauStop]
    steps: list[int] = field(default_factory=list)
    finals: list[Any] = field(default_factory=list)
    active: list[int] = field(default_factory=list)


def _start_job(job: UnitJob, settings: FVSettings) -> _JobState:
    """Every run of the job from the same noise; the transforms' random streams from its seed."""
    import torch
    from lucent.optvis import param

    spectra, image_fs = [], []
    for run in job.runs:
        reset_seeds(job.seed)  # every run starts from the same noise, as in the authors' code
        params, image_f = param.image(settings.param_size, batch=run.n, fft=True, decorrelate=True)
        spectra.append(params[0])
        image_fs.append(image_f)
    reset_seeds(job.seed)  # the transforms' draws: one sequence shared by all runs of the job
    n = len(job.runs)
    return _JobState(
        job,
        spectra,
        image_fs,
        (np.random.get_state(), random.getstate(), torch.get_rng_state()),
        [PlateauStop(settings.plateau) for _ in job.runs],
        [0] * n,
        [None] * n,
        list(range(n)),
    )


def _transformed(state: _JobState, transforms: list[Callable], crop: int | None) -> torch.Tensor:
    """The job's active images through the transforms, drawn from the job's own random streams."""
    import torch

    saved = np.random.get_state(), random.getstate(), torch.get_rng_state()
    np.random.set_state(state.rng[0])
    random.setstate(state.rng[1])
    torch.set_rng_state(state.rng[2])
    try:
        x = torch.cat([state.image_fs[i]() for i in state.active])
        for t in transforms:
            x = t(x)
        state.rng = (np.random.get_state(), random.getstate(), torch.get_rng_state())
    finally:
        np.random.set_state(saved[0])
        random.setstate(saved[1])
        torch.set_rng_state(saved[2])
    return _center_crop(x, crop) if crop else x


class _StopAfter:
    """Forward hooks that end the pass once every layer in `needed` has been recorded."""

    def __init__(self, model: LoadedModel, layers: list[str], rec: dict[str, Any]):
        self.needed: set[str] = set()
        self.rec = rec
        self.handles = [
            model.get_layer_module(layer).register_forward_hook(self._hook) for layer in layers
        ]

    def _hook(self, _module: Any, _inputs: Any, _output: Any) -> None:
        if self.needed <= self.rec.keys():
            raise _StopForward

    def remove(self) -> None:
        """Take the hooks off the model."""
        for handle in self.handles:
            handle.remove()


def _backward_step(
    model: LoadedModel,
    states: list[_JobState],
    rec: dict[str, Any],
    stop: _StopAfter,
    settings: FVSettings,
) -> None:
    """One forward and backward pass per image shape over the active jobs, each with its own loss.

    The jobs' transforms draw their own scales, so images of one shape share a pass; the pass stops
    after the deepest layer that its jobs need.
    """
    transforms = lucent_transforms(settings.param_size)
    crop = fv_input_crop(model)
    by_shape: dict[tuple[int, ...], list[tuple[_JobState, torch.Tensor]]] = {}
    for state in states:
        if state.active:
            x = _transformed(state, transforms, crop)
            by_shape.setdefault(tuple(x.shape[1:]), []).append((state, x))
    for group in by_shape.values():
        import torch

        rec.clear()
        stop.needed = {state.job.layer for state, _ in group}
        try:
            model.module(model.normalize(torch.cat([x for _, x in group])))
        except _StopForward:
            pass
        losses, start = [], 0
        for state, x in group:
            job = state.job
            act = model.as_bcn(job.layer, rec[job.layer])[start : start + len(x)]
            losses.append(_loss(act, job.channel, [job.runs[i] for i in state.active]))
            start += len(x)
        sum(losses[1:], losses[0]).backward()


def _after_step(state: _JobState, step: int, settings: FVSettings) -> None:
    """Plateau checks of the job's active runs; a run that stops keeps its final images."""
    import torch

    norms = _grad_norms([state.spectra[i] for i in state.active], settings.param_size)
    still = []
    for i, g in zip(state.active, norms, strict=True):
        state.steps[i] = step
        if state.checks[i].update(g) or step == settings.max_steps:
            with torch.no_grad():
                state.finals[i] = state.image_fs[i]().detach()
        else:
            still.append(i)
    state.active = still


def _check_size(model: LoadedModel, settings: FVSettings) -> None:
    """A transformer's fixed input size must fit in the optimised image."""
    crop = fv_input_crop(model)
    if crop and settings.param_size < crop:
        raise ValueError(
            f"featureviz.param_size ({settings.param_size}) must be >= {crop}: {model.name} takes "
            f"{crop} px inputs"
        )


def optimise_jobs(
    model: LoadedModel, jobs: list[UnitJob], settings: FVSettings, progress: Any = None
) -> list[list[RunResult]]:
    """Optimise the runs of several jobs (units) together (§5.1); each gives what it would alone.

    Every job keeps its own seed, noise, transform draws, loss and plateau checks; one Adam over
    all spectra is the same as one per job (Adam is element-wise).
    """
    import torch
    from tqdm import tqdm

    with lucent_on(model.device), reused_heap():  # lucent's tensors on the model's device
        _check_size(model, settings)
        model.module.requires_grad_(False)
        states = [_start_job(job, settings) for job in jobs]
        optimizer = torch.optim.Adam([s for st in states for s in st.spectra], lr=settings.lr)
        images = sum(r.n for job in jobs for r in job.runs)
        desc = ", ".join(dict.fromkeys(f"{j.layer}__{j.channel}" for j in jobs))
        bar = tqdm(
            total=settings.max_steps,
            file=progress,
            disable=progress is None,
            mininterval=5,
            desc=f"{desc} {sum(len(j.runs) for j in jobs)} runs {images} images",
        )
        layers = list(dict.fromkeys(job.layer for job in jobs))
        with model.record(layers) as rec:
            stop = _StopAfter(model, layers, rec)
            try:
                for step in range(1, settings.max_steps + 1):
                    optimizer.zero_grad(set_to_none=True)
                    _backward_step(model, states, rec, stop, settings)
                    optimizer.step()
                    for state in states:
                        if state.active:
                            _after_step(state, step, settings)
                    bar.update(1)
                    if not any(state.active for state in states):
                        break
            finally:
                stop.remove()
                bar.close()
        return [_results(state, settings) for state in states]


def _results(state: _JobState, settings: FVSettings) -> list[RunResult]:
    """The job's runs: final images centre-cropped to the stored size, (n, crop, crop, 3)."""
    out = []
    for i, run in enumerate(state.job.runs):
        img = _center_crop(state.finals[i], settings.crop_size)
        out.append(RunResult(run, img.permute(0, 2, 3, 1).cpu().numpy(), state.steps[i]))
    return out


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
    job = UnitJob(layer, channel, seed, tuple(runs))
    return optimise_jobs(model, [job], settings, progress)[0]


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

"""Synthetic feature visualisations with the diversity search (protocol §5).

One optimisation *run* (§5.1) is a batch of `n` images optimised for one side (maximise or minimise
the unit's channel mean) with one diversity weight α. The diversity search (§5.2) decides, run by
run, which α to try next. This module keeps the two apart:

- `alpha_search_steps` is the protocol's search as a pure generator (it yields α, receives whether
  the batch "worked"); `sequential_alpha_search` drives it with any objective, and `AlphaSearch`
  replays it over known outcomes to say which α is needed next and which α might be needed later.
- `optimise_runs` optimises many runs *at once* on the device, and `visualize_unit` schedules them.

Why batching several runs is exact: the authors reset every seed before each run, so every run of a
unit starts from the same noise (the first `n` images of the same draw) and sees the same sequence of
random transforms (lucent draws one jitter/scale/angle per step for the whole batch). Stacking the
runs of a unit along the batch axis therefore reproduces every run: the transforms are per-image
operations, the model is in eval mode (no batch statistics), the loss is the sum of the runs'
own losses (each with its own 1/n and α) and Adam is element-wise. Each run keeps its own plateau
check and leaves the batch when it stops. What we stack (fills the device):

1. both sides (min and max) of a unit in every round;
2. speculative α candidates: the α values the search may need next (breadth-first over both
   outcomes of the pending runs), as far as `batch_images` allows. The search only ever *reads*
   results in the protocol's order, so speculation changes the cost, never the outcome (tested
   against the sequential search). `batch_images` = 2·n_images turns speculation off; on a CPU
   at 256 px, n_images (one run at a time) is fastest: larger batches fall out of the cache.

Units are not stacked: each unit has its own seed (config seed + unit name), hence its own
transform draws and image sizes per step, which cannot share a forward pass.
Two further savings that do not change results: the model's weights get no gradients (this sets
requires_grad off on the model), and the forward pass stops right after the unit's layer (later
layers cannot influence the objective). A different batch composition changes results only by
float rounding (BLAS blocking), which Adam's normalised steps can amplify slightly.

Compared with the authors' code: the image is re-evaluated in float (as they did) and stored as
uint8(img·255); the fork's 16-step ReLU/GELU gradient redirection warm-up is not reproduced (§5 does
not list it); when the search falls back to the non-diverse batch (α = 0) we store its 9 images
instead of appending its strongest image a second time (the authors' 10-image edge case); a unit
whose dataset activations are constant is kept with its non-diverse FVs and marked unsuccessful
(the authors' assertion skipped it); timm ViTs are centre-cropped to their input size like CLIP.
"""

from __future__ import annotations

import contextlib
import logging
import random
from collections.abc import Callable, Generator, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
    import torch

    from unitpsych.models import LoadedModel

log = logging.getLogger("unitpsych.featureviz")

SIDES = ("min", "max")
TRANSFORM_SCALES = (1.0, 0.975, 1.025, 0.95, 1.05)
TRANSFORM_ANGLES = tuple(range(-5, 6))


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class PlateauSettings:
    """Gradient-plateau early stop (the authors' RGBGradientNormInterruptCheck)."""

    min_steps: int = 2500
    window: int = 2000
    ratio: float = 1.1
    smoothing: float = 0.99


@dataclass(frozen=True)
class AlphaSettings:
    """Diversity-weight search: ×factor from `start` while ≤ `max`, then bisection steps."""

    start: float = 1.0
    factor: float = 10.0
    max: float = 999_999.0
    bisection_steps: int = 7


@dataclass(frozen=True)
class FVSettings:
    """Everything that fixes a unit's feature visualisations (config `featureviz`)."""

    n_images: int = 9
    param_size: int = 256
    crop_size: int = 224
    lr: float = 0.05
    max_steps: int = 20_000
    plateau: PlateauSettings = field(default_factory=PlateauSettings)
    alpha: AlphaSettings = field(default_factory=AlphaSettings)
    diversity: bool = True
    batch_images: int = 32  # ConvNeXt-B, deepest layer: ~0.5 GiB per 256 px image -> fits 24 GB
    seed: int = 42

    @classmethod
    def from_config(cls, cfg: dict[str, Any] | None) -> FVSettings:
        """Build from the config slice; unknown keys and impossible values raise ValueError."""
        cfg = dict(cfg or {})
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(cfg) - known
        if unknown:
            raise ValueError(
                f"unknown featureviz settings {sorted(unknown)}; known: {sorted(known)}"
            )
        plateau = PlateauSettings(**cfg.pop("plateau", {}) or {})
        alpha = AlphaSettings(**cfg.pop("alpha", {}) or {})
        settings = cls(plateau=plateau, alpha=alpha, **cfg)
        settings.check()
        return settings

    def check(self) -> None:
        """Raise ValueError naming the first impossible value."""
        if self.n_images < 2:
            raise ValueError(
                f"featureviz.n_images must be >= 2 (8 diverse + 1 non-diverse in the paper), got {self.n_images}"
            )
        if not 0 < self.crop_size <= self.param_size or (self.param_size - self.crop_size) % 2:
            raise ValueError(
                f"featureviz.crop_size ({self.crop_size}) must be <= param_size ({self.param_size}) "
                "and differ from it by an even number (the crop is central)"
            )
        if self.param_size < 16:
            raise ValueError(
                f"featureviz.param_size must be >= 16 (jitter moves up to 15 px), got {self.param_size}"
            )
        if self.max_steps < 1 or self.lr <= 0:
            raise ValueError(
                f"featureviz.max_steps must be >= 1 and lr > 0, got {self.max_steps}, {self.lr}"
            )
        if self.batch_images < 1:
            raise ValueError(f"featureviz.batch_images must be >= 1, got {self.batch_images}")
        if self.alpha.factor <= 1 or self.alpha.start <= 0 or self.alpha.bisection_steps < 0:
            raise ValueError(
                f"featureviz.alpha needs factor > 1, start > 0, bisection_steps >= 0: {self.alpha}"
            )
        if not 0 <= self.plateau.smoothing < 1 or self.plateau.window < 2:
            raise ValueError(
                f"featureviz.plateau needs 0 <= smoothing < 1 and window >= 2: {self.plateau}"
            )


# --------------------------------------------------------------------------- early stop


class PlateauStop:
    """Exponentially smoothed gradient norm; stop when it no longer falls (RGBGradientNormInterruptCheck).

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


# --------------------------------------------------------------------------- α search (pure)


@dataclass(frozen=True)
class AlphaOutcome:
    """Result of one side's search: the α whose batch is used and where it came from."""

    alpha: float  # 0.0 when the non-diverse batch is used
    source: str  # "bisection" | "exponential" | "non_diverse"
    tried: tuple[float, ...]  # α values the sequential protocol evaluates, in order


def alpha_search_steps(s: AlphaSettings) -> Generator[float, bool, AlphaOutcome]:
    """The protocol's search (§5.2 step 5) as a generator: yields α, receives 'the batch worked'."""
    tried: list[float] = []

    def attempt(alpha: float) -> Generator[float, bool, bool]:
        tried.append(alpha)
        works = yield alpha
        return bool(works)

    last_ok: float | None = None
    alpha = s.start
    while alpha <= s.max:
        if (yield from attempt(alpha)):
            last_ok = alpha
            alpha *= s.factor
        else:
            break
    if alpha >= s.max:  # the ladder ran past its bound: keep its largest working α
        if last_ok is None:
            return AlphaOutcome(0.0, "non_diverse", tuple(tried))
        return AlphaOutcome(last_ok, "exponential", tuple(tried))
    lo = 0.0 if alpha == s.start else alpha / s.factor
    hi = alpha
    best: float | None = None
    for _ in range(s.bisection_steps):
        mid = (lo + hi) / 2
        if (yield from attempt(mid)):
            best, lo = mid, mid
        else:
            hi = mid
    if best is not None:
        return AlphaOutcome(best, "bisection", tuple(tried))
    if last_ok is not None:
        return AlphaOutcome(last_ok, "exponential", tuple(tried))
    return AlphaOutcome(0.0, "non_diverse", tuple(tried))


def sequential_alpha_search(works: Callable[[float], bool], s: AlphaSettings) -> AlphaOutcome:
    """Run the search one α at a time against `works(α)` (the authors' order of evaluation)."""
    steps = alpha_search_steps(s)
    try:
        alpha = next(steps)
        while True:
            alpha = steps.send(works(alpha))
    except StopIteration as stop:
        return stop.value


def _replay(s: AlphaSettings, known: dict[float, bool]) -> tuple[float | None, AlphaOutcome | None]:
    """Drive the search with known outcomes: (the first α without one, None) or (None, outcome)."""
    steps = alpha_search_steps(s)
    try:
        alpha = next(steps)
        while alpha in known:
            alpha = steps.send(known[alpha])
        steps.close()
        return alpha, None
    except StopIteration as stop:
        return None, stop.value


class AlphaSearch:
    """One side's search over outcomes that arrive in any order (speculative batching).

    `needed()` is the α the sequential protocol evaluates next; `candidates(k)` lists it followed by
    the α values of the following steps for either outcome (breadth-first), which may be optimised
    early when the device has room. Outcomes are consumed in protocol order only.
    """

    def __init__(self, settings: AlphaSettings):
        self.settings = settings
        self.known: dict[float, bool] = {}

    def tell(self, alpha: float, works: bool) -> None:
        """Record whether the batch optimised with `alpha` beat the target."""
        self.known[alpha] = bool(works)

    @property
    def outcome(self) -> AlphaOutcome | None:
        """The final outcome once the protocol's sequence is fully known."""
        return _replay(self.settings, self.known)[1]

    def needed(self) -> float | None:
        """The next α of the protocol's sequence without an outcome (None when done)."""
        return _replay(self.settings, self.known)[0]

    def candidates(self, k: int) -> list[float]:
        """Up to k α values without outcome: the needed one, then later ones breadth-first."""
        out: list[float] = []
        frontier = [dict(self.known)]
        while frontier and len(out) < k:
            nxt = []
            for assumed in frontier:
                alpha, _ = _replay(self.settings, assumed)
                if alpha is None:
                    continue
                if alpha not in out and alpha not in self.known:
                    out.append(alpha)
                    if len(out) == k:
                        break
                nxt += [{**assumed, alpha: True}, {**assumed, alpha: False}]
            frontier = nxt
        return out


# --------------------------------------------------------------------------- optimisation


@dataclass(frozen=True)
class RunSpec:
    """One optimisation run: a side, a diversity weight and a batch size."""

    side: str  # "min" | "max"
    alpha: float
    n: int


@dataclass
class RunResult:
    """A finished run: its images (n, crop, crop, 3) in [0, 1] and the steps it took."""

    spec: RunSpec
    images: np.ndarray
    steps: int
    activations: np.ndarray | None = None  # re-evaluated, same order as images


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


def lucent_transforms() -> list[Callable]:
    """The paper's transforms: jitter 16, random scale, rotate −5..5°, jitter 8 (lucent)."""
    from lucent.optvis import transform

    return [
        transform.jitter(16),
        transform.random_scale(TRANSFORM_SCALES),
        transform.random_rotate(TRANSFORM_ANGLES),
        transform.jitter(8),
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
    if model.fv_crop:
        return model.fv_crop
    return model.input_size if getattr(model.spec, "tokens", None) else None


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
    with lucent_on(model.device):
        return _optimise_runs(model, layer, channel, runs, settings, seed, progress)


def _optimise_runs(
    model: LoadedModel,
    layer: str,
    channel: int,
    runs: list[RunSpec],
    settings: FVSettings,
    seed: int,
    progress: Any = None,
) -> list[RunResult]:
    """The optimisation loop of `optimise_runs` (lucent already pointed at the model's device)."""
    import torch
    from lucent.optvis import param
    from tqdm import tqdm

    size = settings.param_size
    crop = fv_input_crop(model)
    if crop and size < crop:
        raise ValueError(
            f"featureviz.param_size ({size}) must be >= {crop}: {model.name} takes {crop} px inputs"
        )
    model.module.requires_grad_(False)

    spectra, image_fs = [], []
    for run in runs:
        reset_seeds(seed)  # every run starts from the same noise, as in the authors' code
        params, image_f = param.image(size, batch=run.n, fft=True, decorrelate=True)
        spectra.append(params[0])
        image_fs.append(image_f)
    reset_seeds(seed)  # the transforms' draws: one sequence shared by all runs
    transforms = lucent_transforms()
    optimizer = torch.optim.Adam(spectra, lr=settings.lr)

    checks = [PlateauStop(settings.plateau) for _ in runs]
    steps = [0] * len(runs)
    finals: list[torch.Tensor | None] = [None] * len(runs)
    active = list(range(len(runs)))
    bar = tqdm(total=settings.max_steps, file=progress, disable=progress is None, mininterval=5,
               desc=f"{layer}__{channel} {len(runs)} runs {sum(r.n for r in runs)} images")  # fmt: skip
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
    """The unit's activation for images (B, H, W, 3) in [0, 1], as the authors re-evaluated FVs (§5.1)."""
    import torch

    out = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            x = torch.as_tensor(images[start : start + batch_size], dtype=torch.float32)
            x = x.permute(0, 3, 1, 2).to(model.device)
            act = forward_to_layer(model, layer, model.normalize(x))
            out.append(act[:, channel, :].mean(-1).cpu().numpy())
    return np.concatenate(out).astype(np.float64)


# --------------------------------------------------------------------------- one unit


@dataclass
class SideResult:
    """The stored visualisations of one side: images sorted weakest → strongest, and their values."""

    images: np.ndarray
    activations: list[float]
    alpha: float | None
    alpha_source: str


@dataclass
class UnitFV:
    """Everything `fv.json` records about a unit's feature visualisations."""

    unit: str
    layer: str
    channel: int
    dataset_min: float
    dataset_max: float
    success: bool
    reason: str
    sides: dict[str, SideResult]
    runs: list[dict[str, Any]]
    settings: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """JSON-ready summary (images are stored next to it as PNG)."""
        sides = {
            side: {
                "alpha": r.alpha,
                "alpha_source": r.alpha_source,
                "activations": r.activations,
                "images": [f"{side}_{i}.png" for i in range(len(r.activations))],
            }
            for side, r in self.sides.items()
        }
        return {
            "unit": self.unit,
            "layer": self.layer,
            "channel": self.channel,
            "success": self.success,
            "reason": self.reason,
            "dataset": {"min": self.dataset_min, "max": self.dataset_max},
            **sides,
            "runs": self.runs,
            "settings": self.settings,
        }


def _sorted_weakest_first(result: RunResult) -> tuple[np.ndarray, np.ndarray]:
    """Images and activations sorted weakest → strongest (ascending for max, descending for min)."""
    acts = result.activations
    order = np.argsort(acts, kind="stable")
    if result.spec.side == "min":
        order = order[::-1]
    return result.images[order], acts[order]


def _works(result: RunResult, target: float) -> bool:
    """A batch works if its weakest image beats the dataset extreme (§5.2 step 3)."""
    weakest = _sorted_weakest_first(result)[1][0]
    return bool(weakest > target) if result.spec.side == "max" else bool(weakest < target)


class UnitPlan:
    """The runs a unit needs, in the protocol's order, plus speculative ones (§5.2)."""

    def __init__(self, settings: FVSettings, dataset_min: float, dataset_max: float):
        self.settings = settings
        self.target = {"min": dataset_min, "max": dataset_max}
        self.results: dict[tuple[str, float], RunResult] = {}
        self.searches = {side: AlphaSearch(settings.alpha) for side in SIDES}

    def add(self, result: RunResult) -> None:
        """Store a finished (re-evaluated) run and tell its side's search."""
        key = (result.spec.side, result.spec.alpha)
        self.results[key] = result
        if result.spec.alpha:
            self.searches[result.spec.side].tell(
                result.spec.alpha, _works(result, self.target[result.spec.side])
            )

    def non_diverse_too_weak(self) -> dict[str, bool] | None:
        """Per side, whether the non-diverse batch's weakest image fails the target (None: unknown)."""
        if not all((side, 0.0) in self.results for side in SIDES):
            return None
        return {side: not _works(self.results[(side, 0.0)], self.target[side]) for side in SIDES}

    @property
    def constant(self) -> bool:
        """A unit whose dataset minimum is not below its maximum (e.g. a dead ReLU) is not searched.

        The authors' code stops such a unit with an assertion and lists it as skipped.
        """
        return not self.target["max"] > self.target["min"]

    def searching(self) -> bool:
        """Whether the diversity search runs (unknown non-diverse results count as yes)."""
        weak = self.non_diverse_too_weak()
        if not self.settings.diversity or self.constant:
            return False
        return not (weak is not None and all(weak.values()))

    def requests(self, budget: int) -> list[RunSpec]:
        """Runs for the next round: every needed run, then speculative ones while `budget` allows.

        Needed are the non-diverse runs until they are known, then each side's next α. The
        searches' later candidates (breadth-first over both outcomes) fill the rest of the budget,
        alternating sides.
        """
        n = self.settings.n_images
        needed = [RunSpec(side, 0.0, n) for side in SIDES if (side, 0.0) not in self.results]
        if not self.searching():
            return needed
        if not needed:
            for side in SIDES:
                alpha = self.searches[side].needed()
                if alpha is not None:
                    needed.append(RunSpec(side, alpha, n - 1))
        used = sum(r.n for r in needed)
        chosen = {(r.side, r.alpha) for r in needed}
        queues = {side: self.searches[side].candidates(1 + budget // (n - 1)) for side in SIDES}
        extra = []
        for rank in range(max(len(q) for q in queues.values())):
            for side in SIDES:
                if rank < len(queues[side]) and used + n - 1 <= budget:
                    alpha = queues[side][rank]
                    if (side, alpha) not in chosen:
                        extra.append(RunSpec(side, alpha, n - 1))
                        chosen.add((side, alpha))
                        used += n - 1
        return needed + extra

    def done(self) -> bool:
        """Whether the final images are known."""
        if self.non_diverse_too_weak() is None:
            return False
        if not self.searching():
            return True
        return all(s.outcome is not None for s in self.searches.values())


def visualize_unit(
    model: LoadedModel,
    unit: str,
    dataset_min: float,
    dataset_max: float,
    settings: FVSettings,
    seed: int,
    progress: Any = None,
) -> UnitFV:
    """Feature visualisations of one unit with the diversity search (§5.2), batched on the device."""
    from unitpsych.units import split_unit

    layer, channel = split_unit(unit)
    model.get_layer_module(layer)  # a clear error for a layer the model does not have
    plan = UnitPlan(settings, dataset_min, dataset_max)
    rounds = 0
    while not plan.done():
        requests = plan.requests(settings.batch_images)
        rounds += 1
        log.info(
            "%s round %d: %s", unit, rounds, ", ".join(f"{r.side} α={r.alpha:g}" for r in requests)
        )
        for chunk in _chunks(requests, settings.batch_images):
            for result in optimise_runs(model, layer, channel, chunk, settings, seed, progress):
                result.activations = evaluate_images(
                    model, layer, channel, result.images, settings.batch_images
                )
                plan.add(result)
    return _assemble(unit, layer, channel, plan, settings, rounds)


def _chunks(runs: list[RunSpec], budget: int) -> list[list[RunSpec]]:
    """Split runs into consecutive groups of at most `budget` images (a run is never split)."""
    chunks: list[list[RunSpec]] = [[]]
    used = 0
    for run in runs:
        if chunks[-1] and used + run.n > budget:
            chunks.append([])
            used = 0
        chunks[-1].append(run)
        used += run.n
    return chunks


def _assemble(
    unit: str, layer: str, channel: int, plan: UnitPlan, settings: FVSettings, rounds: int
) -> UnitFV:
    """The protocol's final selection: 8 diverse images (weakest → strongest) + the strongest non-diverse."""
    weak = plan.non_diverse_too_weak()
    assert weak is not None
    sides: dict[str, SideResult] = {}
    reasons = []
    for side in SIDES:
        nondiv_imgs, nondiv_acts = _sorted_weakest_first(plan.results[(side, 0.0)])
        if weak[side]:
            extreme = "minimum" if side == "min" else "maximum"
            reasons.append(
                f"{side}: the weakest non-diverse FV ({nondiv_acts[0]:.4g}) does not beat the "
                f"dataset {extreme} ({plan.target[side]:.4g})"
            )
        outcome = plan.searches[side].outcome if plan.searching() else None
        if outcome is None or outcome.alpha == 0.0:
            source = (
                "non_diverse"
                if outcome is not None
                else ("no_diversity" if not settings.diversity else "skipped")
            )
            sides[side] = SideResult(
                nondiv_imgs, nondiv_acts.tolist(), 0.0 if outcome else None, source
            )
            continue
        imgs, acts = _sorted_weakest_first(plan.results[(side, outcome.alpha)])
        sides[side] = SideResult(
            np.concatenate([imgs, nondiv_imgs[-1:]]),
            acts.tolist() + [float(nondiv_acts[-1])],
            outcome.alpha,
            outcome.source,
        )
    success = not any(weak.values()) and not plan.constant
    if plan.constant:
        reasons.insert(0, f"the unit's dataset activations are constant ({plan.target['min']:.4g})")
    if success:
        reason = "ok"
    elif all(weak.values()) or plan.constant:
        reason = "; ".join(reasons) + "; non-diverse FVs stored, no diversity search"
    else:
        reason = "; ".join(reasons)
    runs = [
        {
            "side": r.spec.side,
            "alpha": r.spec.alpha,
            "n_images": r.spec.n,
            "steps": r.steps,
            "works": _works(r, plan.target[r.spec.side]),
            "activations": [float(a) for a in r.activations],
        }
        for r in plan.results.values()
    ]
    settings_json = asdict(settings)
    settings_json["rounds"] = rounds
    return UnitFV(unit, layer, channel, float(plan.target["min"]), float(plan.target["max"]), success, reason,
                  sides, runs, settings_json)  # fmt: skip


def to_uint8(images: np.ndarray) -> np.ndarray:
    """The authors' conversion to PNG pixels: uint8(img · 255) (truncation)."""
    return np.uint8(np.clip(images, 0.0, 1.0) * 255)


SUMMARY_COLUMNS = [
    "unit", "layer", "channel", "success", "reason", "dataset_min", "dataset_max",
    "alpha_min", "alpha_max", "alpha_source_min", "alpha_source_max",
    "weakest_min", "strongest_min", "weakest_max", "strongest_max",
    "activations_min", "activations_max", "n_runs", "steps_total",
]  # fmt: skip


def summarize_fv_folders(folders: list[str | Path]) -> pd.DataFrame:
    """One row per unit folder (its fv.json): success, reason, α and activations per side."""
    import json

    import pandas as pd

    rows = []
    for folder in folders:
        fv = json.loads((Path(folder) / "fv.json").read_text())
        row = {k: fv[k] for k in ("unit", "layer", "channel", "success", "reason")}
        row["dataset_min"], row["dataset_max"] = fv["dataset"]["min"], fv["dataset"]["max"]
        for side in SIDES:
            acts = fv[side]["activations"]
            row[f"alpha_{side}"] = fv[side]["alpha"]
            row[f"alpha_source_{side}"] = fv[side]["alpha_source"]
            row[f"weakest_{side}"], row[f"strongest_{side}"] = acts[0], acts[-1]
            row[f"activations_{side}"] = json.dumps([round(a, 6) for a in acts])
        row["n_runs"] = len(fv["runs"])
        row["steps_total"] = sum(r["steps"] for r in fv["runs"])
        rows.append(row)
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS).sort_values("unit", kind="stable")

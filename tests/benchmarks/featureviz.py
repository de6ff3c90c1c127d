"""Benchmark: feature visualisations per hour, our batched rule function vs lucent's render_vis.

Both sides run the protocol's full per-unit procedure (§5.2: non-diverse min and max batches, then
the α search per side) with the same model, units, image size, steps and targets:

- ours: `unitpsych.visualizations.featureviz.visualize_units` on all units at once (runs of a unit
  stacked in one batch, speculative α candidates up to `--batch-images`, the rounds of up to
  `--batch-units` units in one optimisation, no weight gradients, forward stops at the deepest
  layer needed);
- baseline: the authors' way, one lucent `render_vis` call per run, one run at a time, each followed
  by the same re-evaluation, the α sequence driven by `sequential_alpha_search`.

The targets stand in for a unit's dataset extremes: the unit's range over the starting noise
images, which the non-diverse FVs beat, so the diversity search runs in full. Prints units per
hour for each, their ratio, and peak memory (GPU: torch.cuda.max_memory_allocated; CPU: peak RSS),
and, from the activations autograd keeps per image, the batch that fills a 40 or 80 GiB GPU.
`--lucent-heap` runs lucent inside our `reused_heap` too (what that allocator setting alone buys
lucent on a CPU).

    .venv/bin/python tests/benchmarks/featureviz.py                      # CPU defaults
    .venv/bin/python tests/benchmarks/featureviz.py --size 256 --steps 200 --batch-images 128  # GPU
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "workflow" / "scripts"))

from snakemake.utils import validate  # noqa: E402

from unitpsych.io import derive_seed  # noqa: E402
from unitpsych.models.registry import load_model  # noqa: E402
from unitpsych.visualizations import FVSettings  # noqa: E402
from unitpsych.visualizations.featureviz import UnitTarget, visualize_units  # noqa: E402
from unitpsych.visualizations.optimise import (  # noqa: E402
    evaluate_images,
    lucent_transforms,
    reset_seeds,
    reused_heap,
)
from unitpsych.visualizations.search import sequential_alpha_search  # noqa: E402

DEFAULT_UNITS = ["blocks_2_1_conv_pwl__3", "blocks_4_0_conv_pwl__5", "blocks_5_2__40"]
GPU_GIB = (40, 80)  # GPU memory sizes the batch guidance is printed for
GPU_SHARE = 0.8  # share of a GPU's memory given to the saved activations (the rest: model, spectra)


def start_range(model, unit: str, settings: FVSettings, seed: int) -> tuple[float, float]:
    """The unit's range over the images a run starts from (stand-in for the dataset extremes)."""
    from lucent.optvis import param

    layer, channel = unit.rsplit("__", 1)
    reset_seeds(seed)
    _, image_f = param.image(settings.param_size, batch=settings.n_images)
    m, c = (settings.param_size - settings.crop_size) // 2, settings.crop_size
    with torch.no_grad():
        imgs = image_f()[:, :, m : m + c, m : m + c].permute(0, 2, 3, 1).cpu().numpy()
    acts = evaluate_images(model, layer, int(channel), imgs)
    return float(acts.min()), float(acts.max())


def lucent_run(
    model, layer: str, channel: int, maximise: bool, alpha: float, n: int, settings, seed
):
    """One optimisation run as the authors made it: lucent render_vis, then re-evaluation."""
    from lucent.optvis import objectives, param, render

    reset_seeds(seed)
    obj = objectives.channel(layer, channel)
    if not maximise:
        obj = -1 * obj
    if alpha:
        obj = obj - alpha * objectives.diversity(layer)
    images = render.render_vis(
        model.module,
        obj,
        param_f=lambda: param.image(settings.param_size, batch=n),
        optimizer=lambda params: torch.optim.Adam(params, lr=settings.lr),
        transforms=lucent_transforms(settings.param_size),
        thresholds=(settings.max_steps,),
        show_image=False,
        progress=False,
        preprocess=True,
    )[-1]
    # lucent 0.1.8 leaves its forward hooks on every module (the authors' fork removes them);
    # remove them so the baseline does not slow down from run to run
    for module in model.module.modules():
        module._forward_hooks.clear()
    m, c = (settings.param_size - settings.crop_size) // 2, settings.crop_size
    images = images[:, m : m + c, m : m + c, :]
    acts = evaluate_images(model, layer, channel, images)
    return acts


def lucent_unit(model, unit: str, lo: float, hi: float, settings: FVSettings, seed: int) -> int:
    """The protocol's per-unit procedure with one render_vis call per run; returns the run count."""
    layer, channel = unit.rsplit("__", 1)
    channel = int(channel)
    runs = 0
    weak = {}
    for side, maximise in (("min", False), ("max", True)):
        acts = lucent_run(model, layer, channel, maximise, 0.0, settings.n_images, settings, seed)
        runs += 1
        weak[side] = acts.min() <= hi if maximise else acts.max() >= lo
    if all(weak.values()):
        return runs
    for side, maximise in (("min", False), ("max", True)):

        def works(alpha: float, side=side, maximise=maximise) -> bool:
            nonlocal runs
            runs += 1
            acts = lucent_run(
                model, layer, channel, maximise, alpha, settings.n_images - 1, settings, seed
            )
            return bool(acts.min() > hi) if maximise else bool(acts.max() < lo)

        sequential_alpha_search(works, settings.alpha)
    return runs


def peak_memory() -> str:
    """Peak device memory (GPU) or peak resident memory of this process (CPU)."""
    if torch.cuda.is_available():
        return f"peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB"
    return f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB"


def main() -> None:
    """Parse options, time both procedures on the same units, print the ratio."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="efficientnet_lite0")
    ap.add_argument("--units", nargs="+", default=DEFAULT_UNITS)
    ap.add_argument("--size", type=int, default=96, help="optimised image side (paper 256)")
    ap.add_argument("--crop", type=int, default=None, help="stored side (default size − 32)")
    ap.add_argument("--steps", type=int, default=20, help="steps per run (no plateau stop)")
    ap.add_argument("--alpha-max", type=float, default=99.0)
    ap.add_argument("--bisection-steps", type=int, default=2)
    ap.add_argument("--batch-images", type=int, default=18, help="our batch budget (GPU: 64-256)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-lucent", action="store_true")
    ap.add_argument(
        "--smoke",
        action="store_true",
        help="tiny sizes, seconds: CI runs it so a broken benchmark fails (test_benchmarks.py)",
    )
    ap.add_argument(
        "--batch-units", type=int, default=1, help="units sharing one optimisation (GPU: many)"
    )
    ap.add_argument("--repeats", type=int, default=1, help="alternating repeats of both sides")
    ap.add_argument(
        "--lucent-heap", action="store_true", help="run lucent inside reused_heap as well"
    )
    args = ap.parse_args()
    if args.smoke:  # one unit, both procedures, a few steps
        args.units, args.size, args.steps, args.alpha_max = args.units[:1], 48, 2, 3.0
        args.bisection_steps, args.batch_images = 1, 6

    torch.set_num_threads(args.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = load_model(args.arch, {"arch": args.arch, "weights": "pretrained"}, device=device)
    cfg = {
        "visualizations": {
            "param_size": args.size,
            "crop_size": args.crop or args.size - 32,
            "max_steps": args.steps,
            "plateau": {"min_steps": args.steps + 1},
            "alpha": {"max": args.alpha_max, "bisection_steps": args.bisection_steps},
        }
    }
    validate(cfg, str(REPO / "workflow" / "schemas" / "config.schema.yaml"))  # fills defaults
    for key in ("batch_images", "units_per_job"):  # speed only: not settings
        cfg["visualizations"].pop(key)
    settings = FVSettings.from_config(cfg["visualizations"])
    print(
        f"{args.arch} on {device}: {len(args.units)} units, {args.size} px, {args.steps} "
        "steps/run, "
        f"α ≤ {args.alpha_max:g} + {args.bisection_steps} bisection steps, batch budget "
        f"{args.batch_images}"
    )
    targets = {
        u: start_range(model, u, settings, derive_seed(settings.seed, u)) for u in args.units
    }

    print_gpu_batches(model, args)
    times, runs, peaks = time_both(model, args, settings, targets)
    report(len(args.units) * args.repeats, times, runs, peaks)


def saved_mb_per_image(model, unit: str, size: int, n: int = 2) -> float:
    """MB that autograd keeps per image for one step's backward pass to the unit's layer (the
    activations saved for backward, device independent): what bounds a GPU's batch."""
    from lucent.optvis import param

    from unitpsych.visualizations.optimise import forward_to_layer, lucent_on

    layer = unit.rsplit("__", 1)[0]
    seen: dict[tuple, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        seen[(t.untyped_storage().data_ptr(), t.dtype)] = t.untyped_storage().nbytes()
        return t

    model.module.requires_grad_(False)
    with lucent_on(model.device):
        _, image_f = param.image(size, batch=n)
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            act = forward_to_layer(model, layer, model.normalize(image_f()))
            act.mean().backward()
    return sum(seen.values()) / n / 2**20


def print_gpu_batches(model, args) -> None:
    """Per unit, the MB autograd keeps per image and the batch that fills a GPU's memory."""
    for unit in args.units:
        mb = saved_mb_per_image(model, unit, args.size)
        fills = ", ".join(
            f"{gib} GiB: {int(GPU_SHARE * gib * 1024 / mb)} images "
            f"(batch_units {int(GPU_SHARE * gib * 1024 / mb) // args.batch_images})"
            for gib in GPU_GIB
        )
        print(f"  {unit}: {mb:.1f} MB saved for backward per {args.size} px image")
        print(f"    the batch that fills a GPU ({GPU_SHARE:.0%} of its memory): {fills}")


def time_both(model, args, settings: FVSettings, targets: dict) -> tuple[dict, dict, dict]:
    """Seconds, runs and peak memory of ours and of lucent over `args.repeats` alternations."""
    seeds = {u: derive_seed(settings.seed, u) for u in args.units}
    fv_targets = [UnitTarget(u, *targets[u], seeds[u]) for u in args.units]
    # ours: all units in one call (their rounds share device batches of up to --batch-units
    # units); the baseline one unit at a time; the two alternate so that load changes on a shared
    # machine hit both alike
    times = {"ours": 0.0, "lucent": 0.0}
    runs = {"ours": 0, "lucent": 0}
    peaks = {}
    for _ in range(args.repeats):
        reset_peak()
        t0 = time.perf_counter()
        fvs = visualize_units(model, fv_targets, settings, args.batch_images, args.batch_units)
        times["ours"] += time.perf_counter() - t0
        runs["ours"] += sum(len(fv.runs) for fv in fvs)
        peaks["ours"] = peak_memory()
        for fv in fvs:
            print(
                f"  ours   {fv.unit}: {len(fv.runs)} runs in {fv.settings['rounds']} rounds, "
                f"α min={fv.sides['min'].alpha} max={fv.sides['max'].alpha}",
                flush=True,
            )
        if args.skip_lucent:
            continue
        reset_peak()
        model.module.requires_grad_(True)  # as in the authors' runs (ours switches them off)
        t0 = time.perf_counter()
        with reused_heap() if args.lucent_heap else contextlib.nullcontext():
            for unit in args.units:
                n_runs = lucent_unit(model, unit, *targets[unit], settings, seeds[unit])
                runs["lucent"] += n_runs
                print(f"  lucent {unit}: {n_runs} runs", flush=True)
        times["lucent"] += time.perf_counter() - t0
        peaks["lucent"] = peak_memory()
    return times, runs, peaks


def reset_peak() -> None:
    """Start a fresh GPU peak-memory count (CPU: the process peak RSS cannot be reset)."""
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def report(n: int, times: dict, runs: dict, peaks: dict) -> None:
    """Print units per hour of both sides and the ratio."""
    for name in times:
        if name in peaks:
            t = times[name]
            print(
                f"{name}: {t:.1f} s, {n / t * 3600:.1f} units/h, {runs[name]} runs; {peaks[name]}"
            )
    if "lucent" in peaks:
        ratio = times["lucent"] / times["ours"]
        print(f"ratio (ours / lucent render_vis, units per hour): {ratio:.2f}x")


if __name__ == "__main__":
    main()

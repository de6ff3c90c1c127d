"""Benchmark: feature visualisations per hour, our batched rule function vs lucent's render_vis.

Both sides run the protocol's full per-unit procedure (§5.2: non-diverse min and max batches, then
the α search per side) with the same model, units, image size, steps and targets:

- ours: `unitpsych.visualizations.featureviz.visualize_unit` (runs of a unit stacked in one batch,
speculative α
  candidates up to `--batch-images`, no weight gradients, forward stops at the unit's layer);
- baseline: the authors' way, one lucent `render_vis` call per run, one run at a time, each followed
  by the same re-evaluation, the α sequence driven by `sequential_alpha_search`.

The targets stand in for a unit's dataset extremes: the unit's range over the starting noise
images, which the non-diverse FVs beat, so the diversity search runs in full. Prints units per
hour for each, their ratio, and peak memory (GPU: torch.cuda.max_memory_allocated; CPU: peak RSS).

    .venv/bin/python tests/benchmarks/featureviz.py                      # CPU defaults
    .venv/bin/python tests/benchmarks/featureviz.py --size 256 --steps 200 --batch-images 128  # GPU
"""

from __future__ import annotations

import argparse
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
from unitpsych.visualizations import FVSettings, visualize_unit  # noqa: E402
from unitpsych.visualizations.optimise import evaluate_images, lucent_transforms, reset_seeds  # noqa: E402
from unitpsych.visualizations.search import sequential_alpha_search  # noqa: E402

DEFAULT_UNITS = ["blocks_2_1_conv_pwl__3", "blocks_4_0_conv_pwl__5", "blocks_5_2__40"]


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
    cfg["visualizations"].pop("batch_images")
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

    # interleave the two per unit so that load changes on a shared machine hit both alike
    ours = base = 0.0
    ours_runs = base_runs = 0
    peaks = {}
    for unit in args.units:
        lo, hi = targets[unit]
        seed = derive_seed(settings.seed, unit)
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        fv = visualize_unit(model, unit, lo, hi, settings, seed, args.batch_images)
        ours += time.perf_counter() - t0
        ours_runs += len(fv.runs)
        peaks["ours"] = peak_memory()
        print(
            f"  ours   {unit}: {len(fv.runs)} runs in {fv.settings['rounds']} rounds, "
            f"α min={fv.sides['min'].alpha} max={fv.sides['max'].alpha}",
            flush=True,
        )
        if args.skip_lucent:
            continue
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        # as in the authors' runs (ours switches the weights' gradients off)
        model.module.requires_grad_(True)
        t0 = time.perf_counter()
        n_runs = lucent_unit(model, unit, lo, hi, settings, seed)
        base += time.perf_counter() - t0
        base_runs += n_runs
        peaks["lucent"] = peak_memory()
        print(f"  lucent {unit}: {n_runs} runs", flush=True)
    n = len(args.units)
    print(f"ours:   {ours:.1f} s, {n / ours * 3600:.1f} units/h, {ours_runs} runs; {peaks['ours']}")
    if args.skip_lucent:
        return
    print(
        f"lucent: {base:.1f} s, {n / base * 3600:.1f} units/h, {base_runs} runs; {peaks['lucent']}"
    )
    print(f"ratio (ours / lucent render_vis, units per hour): {base / ours:.2f}x")


if __name__ == "__main__":
    main()

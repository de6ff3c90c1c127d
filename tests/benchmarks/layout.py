"""Benchmark the memory layout of CPU models (why `load_model` puts them in channels-last).

For each layout: images/s of a no-grad forward pass at 224 px (the activation, embedding and
unit-statistics passes) and steps/s of a forward + backward pass at the demo's FV size (56 px,
18 images: both sides of a non-diverse feature visualisation), best of a few repeats.

Usage: .venv/bin/python tests/benchmarks/layout.py [--arch efficientnet_lite0] [--threads 2]
       [--smoke]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "workflow" / "scripts"))

from unitpsych.models.registry import load_model  # noqa: E402


def best_seconds(step, repeats: int) -> float:
    """The fastest of `repeats` calls of `step`, after one warm-up call."""
    step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    """Print both layouts' pass and FV-step speeds for one architecture."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="efficientnet_lite0")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument(
        "--smoke",
        action="store_true",
        help="tiny sizes, seconds: CI runs it so a broken benchmark fails (test_benchmarks.py)",
    )
    args = ap.parse_args()
    pass_repeats, step_repeats = (1, 1) if args.smoke else (3, 10)
    if args.smoke:
        args.batch = 2
    torch.set_num_threads(args.threads)
    model = load_model(args.arch, {"arch": args.arch}).module
    images = torch.rand(args.batch, 3, 224, 224)
    fv = torch.rand(18, 3, 56, 56)

    def forward() -> None:
        with torch.no_grad():
            model(images)

    def fv_step() -> None:
        x = fv.clone().requires_grad_(True)
        model(x).mean().backward()

    for layout in (torch.contiguous_format, torch.channels_last):
        model.to(memory_format=layout)
        pass_s = best_seconds(forward, pass_repeats)
        step_s = best_seconds(fv_step, step_repeats)
        print(
            f"{args.arch} {str(layout).removeprefix('torch.'):17s} {args.threads} threads: "
            f"pass {args.batch / pass_s:6.1f} images/s, FV step {1 / step_s:5.1f} steps/s"
        )


if __name__ == "__main__":
    main()

"""Benchmark the activation cache.

(a) throughput of `collect_activations` divided by a bare forward loop over the same images and
    DataLoader (no hooks, no HDF5) — goal >= 0.9;
(b) dataset passes per paper model: ours (one pass hooks every sampled layer) vs the authors'
    scheme (2 layers per pass; 4 for DenseNet-201 and ConvNeXt-B), for 100 units sampled with seed
    42.

Usage: .venv/bin/python tests/benchmarks/activations.py [--images N] [--units U] [--arch A]
       [--smoke]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "workflow" / "scripts"))

from unitpsych.activations import DEFAULT_PASS, collect_activations  # noqa: E402
from unitpsych.images import ImageDataset, generate_image_set, index_images  # noqa: E402
from unitpsych.models.registry import load_model  # noqa: E402
from unitpsych.units.sampling import sample_units, split_unit  # noqa: E402

PAPER = [
    "googlenet",
    "densenet_201",
    "resnet50",
    "resnet50-l2",
    "clip-resnet50",
    "wide_resnet50",
    "in1k-vit_b32",
    "clip-vit_b32",
    "convnext_b",
]


def bare_loop(model, root, paths, batch_size, workers) -> float:
    """Seconds for DataLoader + forward over all images, nothing recorded."""
    loader = torch.utils.data.DataLoader(
        ImageDataset(root, paths, model.transform(), model.input_size),
        batch_size=batch_size,
        num_workers=workers,
        pin_memory=model.device.type == "cuda",
    )
    if model.device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    with torch.inference_mode():
        for x, _, _ in loader:
            model.module(x.to(model.device, non_blocking=True))
    if model.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t


def main() -> None:
    """Print both benchmark numbers."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=600)
    ap.add_argument("--units", type=int, default=100)
    ap.add_argument("--arch", default="efficientnet_lite0")
    ap.add_argument("--batch-size", type=int, default=50)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument(
        "--smoke",
        action="store_true",
        help="tiny sizes, seconds: CI runs it so a broken benchmark fails (test_benchmarks.py)",
    )
    args = ap.parse_args()
    paper = PAPER
    if args.smoke:  # (b) on one paper model
        args.images, args.units, args.batch_size, args.workers, args.repeats = 20, 10, 10, 0, 1
        paper = PAPER[:1]
    device = "cuda" if torch.cuda.is_available() else "cpu"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "images"
        generate_image_set(root, args.images, 288, 10, seed=0)
        paths = index_images(root)["path"].tolist()
        weights = "pretrained" if args.arch.startswith("efficientnet") else "random"
        model = load_model(args.arch, {"arch": args.arch, "weights": weights}, device=device)
        units = sample_units(model.layers, model.layer_sizes(), args.units, seed=42)
        n_layers = len({split_unit(u)[0] for u in units})
        bare_loop(
            model, root, paths[: args.batch_size * 2], args.batch_size, args.workers
        )  # warm-up
        bare, ours = [], []
        for r in range(args.repeats):  # interleaved, best of
            bare.append(bare_loop(model, root, paths, args.batch_size, args.workers))
            t = time.perf_counter()
            collect_activations(
                model,
                units,
                root,
                paths,
                Path(tmp) / f"a{r}.h5",
                Path(tmp) / "u.csv",
                replace(DEFAULT_PASS, batch_size=args.batch_size, num_workers=args.workers),
            )
            ours.append(time.perf_counter() - t)
        print(
            f"(a) {args.arch} on {device}: {len(paths)} images, {len(units)} units in {n_layers} "
            "layers"
        )
        print(
            f"    bare forward loop {len(paths) / min(bare):.1f} img/s, cache "
            f"{len(paths) / min(ours):.1f} img/s"
        )
        print(f"    throughput ratio cache / bare = {min(bare) / min(ours):.3f} (goal >= 0.9)")
    print("(b) dataset passes for 100 units (seed 42): ours vs the authors' layers-per-pass scheme")
    total_ours = total_theirs = 0
    for arch in paper:
        m = load_model(arch, {"arch": arch, "weights": "random"})
        units = sample_units(m.layers, m.layer_sizes(), 100, seed=42)
        layers = len({split_unit(u)[0] for u in units})
        per_pass = 4 if arch in ("densenet_201", "convnext_b") else 2
        theirs = math.ceil(layers / per_pass)
        total_ours += 1
        total_theirs += theirs
        print(
            f"    {arch:14s} {layers:3d} sampled layers: 1 pass vs {theirs:2d} passes ({theirs}x "
            "fewer image reads)"
        )
    print(f"    all nine models: {total_ours} passes vs {total_theirs} passes over the image set")


if __name__ == "__main__":
    main()

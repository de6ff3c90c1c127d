"""Benchmark the machine observer.

(a) embedding throughput of `embed_image_set` (loader, backend, HDF5 blocks) divided by a bare
    forward loop of the backend's model over the same images and DataLoader — goal >= 0.9;
(b) time for MIS of 84 units x 20 tasks (K = 9, quantile 0.2) from cached embeddings: sampling the
    tasks, reading the embedding rows and the decision variable — goal < 10 s on 2 cores.

Usage: .venv/bin/python tests/benchmarks/observer.py [--images N] [--backend B] [--mis-images M]
       [--smoke]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "workflow" / "scripts"))

from unitpsych.activations.cache import ImagePass  # noqa: E402
from unitpsych.images import ImageDataset, generate_image_set, index_images  # noqa: E402
from unitpsych.observer.embeddings import EmbeddingCache, embed_image_set, natural_transform  # noqa: E402
from unitpsych.observer.mis import mis_table, mis_tasks  # noqa: E402
from unitpsych.observer.similarity import load_backend  # noqa: E402


def bare_loop(backend, root, paths, batch_size, workers) -> float:
    """Seconds for DataLoader + the backend model's forward over all images, nothing kept."""
    dataset = ImageDataset(root, paths, natural_transform(256, 224), 224)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, num_workers=workers)
    module, normalize = backend.model.module, backend.model.normalize
    t = time.perf_counter()
    with torch.inference_mode():
        for x, _, _ in loader:
            module(normalize(x.to(backend.device)))
    if backend.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t


def fake_cache(path: Path, n: int, dim: int, seed: int = 0) -> list[str]:
    """An embedding cache of n random unit vectors (the MIS step never looks at pixels)."""
    import h5py

    rng = np.random.default_rng(seed)
    e = rng.normal(size=(n, dim)).astype(np.float32)
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    images = [f"class_{i % 1000:04d}/img_{i:07d}.jpg" for i in range(n)]
    with h5py.File(path, "w") as f:
        f.create_dataset("embeddings", data=e, chunks=(max(1, (1 << 20) // (4 * dim)), dim))
        f.create_dataset("images", data=np.array(images, dtype=object), dtype=h5py.string_dtype())
        f.attrs.update(
            {"backend": "random", "similarity": "cosine", "image_size": 224, "complete": True}
        )
    return images


def main() -> None:
    """Print both benchmark numbers."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=300)
    ap.add_argument("--backend", default="features:efficientnet_lite0")
    ap.add_argument("--batch-size", type=int, default=50)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--mis-images", type=int, default=50_000)
    ap.add_argument("--dim", type=int, default=1792, help="embedding size for (b); DreamSim: 1792")
    ap.add_argument(
        "--smoke",
        action="store_true",
        help="tiny sizes, seconds: CI runs it so a broken benchmark fails (test_benchmarks.py)",
    )
    args = ap.parse_args()
    if args.smoke:
        args.images, args.batch_size, args.workers, args.repeats = 20, 10, 0, 1
        args.mis_images, args.dim = 5_000, 64  # (b) writes 4,096-row blocks
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "images"
        generate_image_set(root, args.images, 256, 10, seed=0)
        paths = index_images(root)["path"].tolist()
        backend = load_backend(args.backend, device=device)
        bare_loop(backend, root, paths[: args.batch_size], args.batch_size, args.workers)  # warm-up
        bare, ours = [], []
        for r in range(args.repeats):  # interleaved, best of
            bare.append(bare_loop(backend, root, paths, args.batch_size, args.workers))
            t = time.perf_counter()
            image_pass = ImagePass(
                batch_size=args.batch_size, num_workers=args.workers, block_size=4 * args.batch_size
            )
            embed_image_set(backend, root, paths, Path(tmp) / f"e{r}.h5", image_pass=image_pass)
            ours.append(time.perf_counter() - t)
        print(f"(a) {args.backend} on {device}: {len(paths)} images")
        print(
            f"    bare forward loop {len(paths) / min(bare):.1f} img/s, "
            f"embedding cache {len(paths) / min(ours):.1f} img/s"
        )
        print(f"    throughput ratio cache / bare = {min(bare) / min(ours):.3f} (goal >= 0.9)")

        cache_path = Path(tmp) / "mis.h5"
        images = fake_cache(cache_path, args.mis_images, args.dim)
        rng = np.random.default_rng(1)
        acts = rng.gamma(1.0, size=(args.mis_images, 84)).astype(np.float32)
        units = [f"layer_{i % 7}__{i}" for i in range(84)]
        t = time.perf_counter()
        cache = EmbeddingCache(cache_path)
        tasks = mis_tasks(acts, units, images, cache, "bench", seed=42, n_tasks=20)
        table = mis_table(tasks, "bench", "random", 0.16, "given")
        elapsed = time.perf_counter() - t
        print(
            f"(b) MIS of {len(table)} units x 20 tasks over {args.mis_images} cached embeddings "
            f"({args.dim} dims): {elapsed:.2f} s (goal < 10 s on 2 cores)"
        )


if __name__ == "__main__":
    main()

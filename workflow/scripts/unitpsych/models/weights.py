"""The weights cache for compute nodes without internet (target `weights`).

The `weights` rule (a local rule: it runs where Snakemake runs, e.g. a cluster's login node) loads
every configured model's and observer backend's pretrained weights once with the hubs online, into
one folder (`weights_cache`), and records each file's SHA-256 in `<cache>/manifest.json`. Every
job runs with the library caches pointed at that folder and the hubs offline (`job_environment`);
a job whose pretrained weights are not in the manifest fails at once, naming the target.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from unitpsych.io import read_json

CACHE_VARIABLE = "UNITPSYCH_WEIGHTS_CACHE"
FETCH_VARIABLE = "UNITPSYCH_WEIGHTS_FETCH"  # set while the `weights` target downloads
OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")
# presets whose pretrained weights ship with an installed package (nothing to download)
BUNDLED = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2", "vit_tiny")


class WeightsNotCached(RuntimeError):
    """A job needs pretrained weights that the `weights` target has not fetched."""


def manifest_path(cache: str | Path) -> Path:
    """The cache's manifest: {"models": {arch: {"files": {relative path: sha256}}}}."""
    return Path(cache) / "manifest.json"


def job_environment(cache: str | Path, offline: bool = True) -> dict[str, str]:
    """Environment variables that point torch hub, Hugging Face and open_clip at the cache and
    (offline) switch the hubs off."""
    cache = Path(cache).resolve()
    env = {
        CACHE_VARIABLE: str(cache),
        "TORCH_HOME": str(cache / "torch"),
        "HF_HOME": str(cache / "huggingface"),
    }
    env |= {name: "1" if offline else "0" for name in OFFLINE_VARIABLES}
    return env | {FETCH_VARIABLE: "0" if offline else "1"}


def active_cache() -> Path | None:
    """The cache a job was started with (None: no cache configured, libraries use their own)."""
    value = os.environ.get(CACHE_VARIABLE)
    return Path(value) if value else None


def open_clip_cache_dir() -> str | None:
    """open_clip's download folder inside the cache (its default is ~/.cache/clip)."""
    cache = active_cache()
    return str(cache / "open_clip") if cache else None


def needs_download(arch: str) -> bool:
    """Whether `pretrained` weights of `arch` come from a hub or URL (not from a package)."""
    return arch not in BUNDLED


def require_cached(arch: str, weights: str) -> None:
    """Fail at once when a job needs pretrained weights of `arch` that are not in the cache."""
    cache = active_cache()
    if cache is None or weights != "pretrained" or not needs_download(arch):
        return
    if os.environ.get(FETCH_VARIABLE) == "1":
        return
    manifest = manifest_path(cache)
    entry = read_json(manifest).get("models", {}).get(arch) if manifest.is_file() else None
    missing = [f for f in (entry or {}).get("files", {}) if not (cache / f).is_file()]
    if entry is None or missing:
        what = "are not" if entry is None else f"are incomplete ({missing[0]} is gone)"
        raise WeightsNotCached(
            f"the pretrained weights of {arch} {what} in the weights cache {cache}: run "
            "`snakemake weights` once on a machine with internet (e.g. the cluster's login "
            "node), then rerun; jobs never download"
        )


def sha256(path: str | Path) -> str:
    """SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_files(cache: Path) -> dict[str, Path]:
    """Every regular file under the cache (relative path -> path), links resolved, no manifest."""
    if not cache.is_dir():
        return {}
    files = {}
    for path in sorted(cache.rglob("*")):
        if path.is_file() and path.name != "manifest.json" and ".lock" not in path.suffixes:
            files[str(path.relative_to(cache))] = path
    return files


@contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the block, restoring the old values after."""
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def fetch(cache: str | Path, loaders: dict[str, Any], log: Any) -> dict[str, Any]:
    """Run each `loaders[arch]()` with the hubs online and the caches in `cache`; the manifest of
    the files each one added (or, already cached, those of the previous manifest), with SHA-256s."""
    cache = Path(cache).resolve()
    previous = read_json(manifest_path(cache)) if manifest_path(cache).is_file() else {}
    entries = {}
    with environment(job_environment(cache, offline=False)):
        for arch, load in loaders.items():
            before = {k: p.stat().st_mtime_ns for k, p in cache_files(cache).items()}
            log.info("fetching the pretrained weights of %s into %s", arch, cache)
            load()
            after = cache_files(cache)
            new = [k for k, p in after.items() if before.get(k) != p.stat().st_mtime_ns]
            old = [k for k in previous.get("models", {}).get(arch, {}).get("files", {})]
            files = new or [k for k in old if k in after] or sorted(after)
            entries[arch] = {"files": {k: sha256(after[k]) for k in files}}
            log.info("%s: %d file(s)", arch, len(files))
    return {"cache": str(cache), "models": entries}

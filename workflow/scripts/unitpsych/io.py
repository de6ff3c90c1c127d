"""Small shared helpers: atomic writes, logging to a rule's log, seeds derived from names."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _umask() -> int:
    """The process umask (read without changing it for good)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def derive_seed(base: int, *names: str) -> int:
    """A seed that depends only on `base` and `names` (stable across runs and configs)."""
    key = "\x1f".join(names).encode()
    return (zlib.crc32(key) ^ (base * 2654435761)) % (2**31 - 1)


#: The temporary files atomic_path makes: `.<name>.<8 random characters><suffix>`.
TEMPORARY = re.compile(r"^\.(?P<name>.+)\.[a-z0-9_]{8}(?P<suffix>\.[^.]+)$")


def fsync(path: str | Path) -> None:
    """Flush a file's (or a folder's entries') data to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def stale_temporaries(folder: str | Path) -> list[Path]:
    """Temporary files that atomic_path left in `folder` when its process was killed."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and TEMPORARY.match(p.name))


@contextlib.contextmanager
def atomic_path(
    path: str | Path, suffix: str | None = None, durable: bool = False
) -> Iterator[Path]:
    """Yield a temporary path next to `path`; rename it onto `path` only if the block succeeds.

    `durable`: fsync the file before the rename and the folder after it, so a power cut leaves
    either the whole file or none.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=suffix or path.suffix or ".tmp", dir=path.parent
    )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():  # mkstemp makes 0600; give the file the usual umask permissions
            os.chmod(tmp_path, 0o666 & ~_umask())
            if durable:
                fsync(tmp_path)
        os.replace(tmp_path, path)
        if durable:
            fsync(path.parent)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary folder next to `path`; it replaces `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; a web server must read it
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def write_json(path: str | Path, obj: Any, indent: int | None = 1) -> None:
    """Write `obj` as JSON atomically (sorted keys are left to the caller)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=indent) + "\n")


def read_json(path: str | Path) -> Any:
    """Read a JSON file."""
    return json.loads(Path(path).read_text())


def setup_logging(log_path: str | Path | None = None, level: int = logging.INFO) -> logging.Logger:
    """Send the `unitpsych` logger (and warnings) to a rule's log file, or to stderr."""
    logger = logging.getLogger("unitpsych")
    logger.handlers.clear()
    logger.setLevel(level)
    if log_path is not None:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.FileHandler(log_path, mode="a")
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logging.captureWarnings(True)
    logging.getLogger("py.warnings").addHandler(handler)
    if log_path is not None:
        sys.excepthook = _log_uncaught
    return logger


def _log_uncaught(kind: type[BaseException], value: BaseException, tb: Any) -> None:
    """Write an uncaught exception to the rule's log, then print it to stderr as Python does."""
    logging.getLogger("unitpsych").critical("the job failed:", exc_info=(kind, value, tb))
    sys.__excepthook__(kind, value, tb)


def log_stream(log_path: str | Path | None):
    """An open text stream on the rule's log (for tqdm progress), or stderr."""
    if log_path is None:
        return sys.stderr
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    return open(log_path, "a", buffering=1)  # noqa: SIM115 - caller closes

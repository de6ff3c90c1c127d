"""requirements.lock, which `make setup` installs, agrees with requirements.txt, its input."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\#]+)", re.M)


def _pins(path: Path) -> dict[str, str]:
    """Package name (normalised as pip does) -> pinned version."""
    return {
        re.sub(r"[-_.]+", "-", name).lower(): version
        for name, version in PIN.findall(path.read_text())
    }


def test_the_lock_pins_every_direct_dependency_at_its_version():
    direct, locked = _pins(REPO / "requirements.txt"), _pins(REPO / "requirements.lock")
    assert len(direct) >= 30 and len(locked) > len(direct)
    stale = {n: (v, locked.get(n)) for n, v in direct.items() if locked.get(n) != v}
    assert not stale, f"refresh requirements.lock (docs/design.md): {stale}"


def test_every_locked_package_carries_a_hash():
    blocks = re.split(r"\n(?=[A-Za-z0-9])", (REPO / "requirements.lock").read_text())
    packages = [b for b in blocks if PIN.match(b)]
    assert packages and all("--hash=sha256:" in b for b in packages)
    assert "--require-hashes -r requirements.lock" in (REPO / "Makefile").read_text()

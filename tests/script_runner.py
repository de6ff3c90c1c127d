"""Run a workflow script's `main(snakemake)` outside Snakemake, with a fake `snakemake` object
(the way PyPSA's `mock_snakemake` serves its scripts): the one way tests run scripts.

    fake = mock_snakemake(input={"h5": h5}, output={"folder": out}, log=[log], params={...})
    run_script("extract_exemplars", fake)

Each part (input, output, params, log, wildcards, resources) is a `Files`: a list with names, as
Snakemake's own, so a script reads `snakemake.input.h5`, `snakemake.input["h5"]`,
`snakemake.log[0]` or `list(snakemake.input)` alike; a missing name raises AttributeError, so
`getattr(snakemake.input, "name", default)` works too.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any


class Files(list):
    """A list whose entries may have names (attribute and index access), like Snakemake's."""

    def __init__(self, entries: Mapping[str, Any] | Sequence[Any] | None = None) -> None:
        named = dict(entries) if isinstance(entries, Mapping) else {}
        positional = [] if isinstance(entries, Mapping) or entries is None else list(entries)
        super().__init__([*map(_plain, positional), *map(_plain, named.values())])
        object.__setattr__(self, "_names", {k: _plain(v) for k, v in named.items()})

    def __getattr__(self, name: str) -> Any:
        try:
            return object.__getattribute__(self, "_names")[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self._names[name] = value

    def __getitem__(self, key):
        return self._names[key] if isinstance(key, str) else super().__getitem__(key)

    def get(self, name: str, default: Any = None) -> Any:
        """The entry called `name`, or `default`."""
        return self._names.get(name, default)

    def keys(self):
        """The names, in order."""
        return self._names.keys()

    def items(self):
        """(name, value) pairs, in order."""
        return self._names.items()


def _plain(value: Any) -> Any:
    """A path as the string Snakemake passes; lists of paths likewise; anything else as is."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list | tuple) and any(isinstance(v, Path) for v in value):
        return [str(v) if isinstance(v, Path) else v for v in value]
    return value


def mock_snakemake(
    input: Mapping[str, Any] | Sequence[Any] | None = None,  # noqa: A002 - Snakemake's name
    output: Mapping[str, Any] | Sequence[Any] | None = None,
    params: Mapping[str, Any] | None = None,
    log: Mapping[str, Any] | Sequence[Any] | None = None,
    wildcards: Mapping[str, Any] | None = None,
    resources: Mapping[str, Any] | None = None,
    threads: int = 1,
    config: Mapping[str, Any] | None = None,
) -> SimpleNamespace:
    """A stand-in for the `snakemake` object of one job (paths may be given as Path)."""
    return SimpleNamespace(
        input=Files(input),
        output=Files(output),
        params=Files(params),
        log=Files(log),
        wildcards=Files(wildcards),
        resources=Files(resources),
        threads=threads,
        config=dict(config or {}),
    )


def run_script(script: str, snakemake: SimpleNamespace) -> None:
    """Run workflow/scripts/<script>.py's `main` with `snakemake` (a mock_snakemake object)."""
    importlib.import_module(script).main(snakemake)

"""The library's shape: every module imports, the sub-packages depend on each other without a
circle, no private name crosses a sub-package, each rule file names its sub-package, and planning
(the Snakefile and its rule files) does not import matplotlib."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

import unitpsych

REPO = Path(__file__).resolve().parents[2]
LIBRARY = Path(unitpsych.__file__).parent


def modules() -> list[str]:
    """Every module of the library, packages included, by dotted name."""
    found = ["unitpsych"]
    found += [m.name for m in pkgutil.walk_packages([str(LIBRARY)], prefix="unitpsych.")]
    return sorted(found)


def source_of(module: str) -> Path:
    """The file of a module (a package's __init__.py)."""
    path = LIBRARY.joinpath(*module.split(".")[1:])
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def imports_of(module: str) -> list[tuple[str, str]]:
    """(imported module, imported name or '') for every unitpsych import of a module, wherever in
    the file (imports inside functions are dependencies too)."""
    known = set(modules())
    package = module if source_of(module).name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(source_of(module).read_text())):
        if isinstance(node, ast.Import):
            out += [(a.name, "") for a in node.names if a.name.split(".")[0] == "unitpsych"]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            if base.split(".")[0] != "unitpsych":
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                out.append((sub, "") if sub in known else (base, alias.name))
    return out


def owner(module: str) -> str:
    """The node of the package graph a module belongs to: its sub-package, or itself at the top."""
    return ".".join(module.split(".")[:2])


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A circle in a directed graph as a list of nodes, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


@pytest.mark.parametrize("module", modules())
def test_every_module_imports(module):
    importlib.import_module(module)


def test_no_import_circle_between_sub_packages_or_modules():
    packages: dict[str, set[str]] = defaultdict(set)
    files: dict[str, set[str]] = defaultdict(set)
    for module in modules():
        for target, _ in imports_of(module):
            files[module].add(target)
            if owner(target) != owner(module) and owner(target) != "unitpsych":
                packages[owner(module)].add(owner(target))
    assert find_cycle(packages) is None, f"sub-packages import in a circle: {find_cycle(packages)}"
    assert find_cycle(files) is None, f"modules import in a circle: {find_cycle(files)}"


def test_no_private_name_crosses_a_sub_package():
    crossing = [
        f"{module}: from {target} import {name}"
        for module in modules()
        for target, name in imports_of(module)
        if name.startswith("_") and name != "__version__" and owner(target) != owner(module)
    ]
    assert not crossing


def test_each_rule_file_names_its_sub_package():
    rule_files = {p.stem for p in (REPO / "workflow" / "rules").glob("*.smk")} - {"common"}
    assert set(unitpsych.RULE_FILES) == rule_files
    for rule_file, package in unitpsych.RULE_FILES.items():
        assert (LIBRARY / package.removeprefix("unitpsych.").replace(".", "/")).is_dir() or (
            LIBRARY / f"{package.removeprefix('unitpsych.').replace('.', '/')}.py"
        ).is_file(), f"{rule_file}.smk names {package}, which does not exist"


def test_planning_does_not_import_matplotlib():
    """Every unitpsych import of the Snakefile and the rule files, in a fresh interpreter."""
    texts = [(REPO / "Snakefile").read_text()]
    texts += [p.read_text() for p in (REPO / "workflow" / "rules").rglob("*.smk")]
    pattern = r"^[ \t]*(from unitpsych[\w.]* import (?:\([^)]*\)|[^\n#]*))"
    statements = sorted({m[1].strip() for t in texts for m in re.finditer(pattern, t, re.M)})
    assert statements, "found no unitpsych imports in the rule files"
    code = "\n".join(
        ["import sys", *statements, "assert 'matplotlib' not in sys.modules, 'matplotlib'"]
    )
    env_path = str(REPO / "workflow" / "scripts")
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": env_path, "PATH": ""},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]

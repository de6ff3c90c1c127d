"""No function of the workflow's Python code (the package and the scripts) runs over 60 lines
(house style: long functions are split into named steps)."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO

MAX_LINES = 60


def long_functions(root: Path) -> dict[str, int]:
    """'<file>:<function>' -> its length in lines, for every function over MAX_LINES under root."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_LINES:
                    found[f"{path.relative_to(REPO).as_posix()}:{node.name}"] = length
    return found


def test_no_function_over_60_lines():
    too_long = long_functions(REPO / "workflow")
    assert not too_long, (
        f"functions over {MAX_LINES} lines (split them into named steps): {too_long}"
    )

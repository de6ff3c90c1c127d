"""No function of the workflow's Python code (the package and the scripts) runs over 60 lines
(house style: long functions are split into named steps)."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO

MAX_LINES = 60
# Functions that other work is rewriting at the time of issue 24 (to be split there):
# batched feature visualisations, the every-unit pass's speed, the paper's CIs in the reproduction.
EXEMPT = {
    "workflow/scripts/unitpsych/visualizations/optimise.py:optimise_runs",
    "workflow/scripts/unitpsych/visualizations/featureviz.py:_assemble",
    "workflow/scripts/unitpsych/observer/mis.py:mis_tasks",
    "workflow/scripts/unitpsych/observer/mis.py:collect_mis_all_tasks",
    "workflow/scripts/unitpsych/observer/embeddings.py:embed_image_set",
    "workflow/scripts/mis_all.py:main",
    "workflow/scripts/unitpsych/figures/extra.py:reproduction",
}


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
    too_long = {k: v for k, v in long_functions(REPO / "workflow").items() if k not in EXEMPT}
    assert not too_long, (
        f"functions over {MAX_LINES} lines (split them into named steps): {too_long}"
    )

"""`helpers` is what the notebooks import, and nothing else: the tools (course/, book/, tools/) live with what they
build.

Two directions are checked by parsing the code: every code cell of every notebook (the main ones and the student
versions) imports nothing of the project outside `helpers`, and `helpers` imports nothing from the tools or tests.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOL_PACKAGES = ("course", "book", "tools", "tests")
NOTEBOOKS = sorted(ROOT.glob("notebooks/*.ipynb")) + sorted(ROOT.glob("notebooks/assignments/*.ipynb"))


def imported_modules(code: str) -> set[str]:
    """Top-level names of the modules `code` imports (IPython magics and shell lines are skipped)."""
    python = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in code.splitlines())
    found = set()
    for node in ast.walk(ast.parse(python)):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def tool_imports(code: str) -> set[str]:
    return imported_modules(code) & set(TOOL_PACKAGES)


def notebook_code(path: Path) -> str:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return "\n".join("".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                     for c in cells if c["cell_type"] == "code")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebooks_import_only_helpers_of_the_project(path):
    assert imported_modules(notebook_code(path)) & {"helpers"}, f"{path.name} imports no helpers at all"
    assert not tool_imports(notebook_code(path)), f"{path.name} imports a tool package; move what it needs to helpers"


def test_helpers_imports_no_tool():
    offenders = {str(p.relative_to(ROOT)): sorted(tool_imports(p.read_text(encoding="utf-8")))
                 for p in sorted((ROOT / "helpers").rglob("*.py"))}
    assert not {path: names for path, names in offenders.items() if names}


def test_the_check_sees_planted_imports():
    planted = "import numpy as np\n%matplotlib inline\nfrom course.grading import grade\nimport tools.figures\n"
    assert tool_imports(planted) == {"course", "tools"}
    assert tool_imports("from helpers import data\nfrom . import sibling\n") == set()

"""Reading the main notebooks: where things are, their exercises and their nbgrader cell metadata."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
ASSIGNMENTS = NOTEBOOKS / "assignments"
HELPERS = ROOT / "helpers"
COURSE_CONFIG = ROOT / "course" / "nbgrader_config.py"
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
NBVAL_MARKER = "# NBVAL_CHECK_OUTPUT"
EXERCISE_HEADING = re.compile(r"^#{2,4}\s*Exercise\s+(\d+\.\d+)\s*[—–-]\s*(.+?)\s*$", re.MULTILINE)
CHECK_CALL = re.compile(r"^(check_\w+)\((\w+)\)\s*$", re.MULTILINE)
HIDDEN_SEED = re.compile(r"seed=(\d+)")
SOURCE_NOTEBOOK = re.compile(r"^(\d\d_\w+)\.ipynb$")
SUFFIX = "_assignment"
POINTS = 1



@dataclass(frozen=True)
class Exercise:
    number: str
    title: str


def cell_source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def read_notebook(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def dumps_notebook(nb: dict) -> str:
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def find_exercises(nb: dict) -> list[Exercise]:
    """The exercises of a notebook, in order, from their `### Exercise N.M — title` headings."""
    found = []
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            found += [Exercise(n, t) for n, t in EXERCISE_HEADING.findall(cell_source(cell))]
    return found


def nbgrader_meta(cell: dict) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def make_grade_id(kind: str, number: str) -> str:
    """nbgrader ids allow letters, digits, - and _ only: exercise 2.1's test cell is `check-2_1`."""
    return f"{kind}-{number.replace('.', '_')}"


def exercise_of(grade_id: str) -> str:
    return grade_id.split("-", 1)[1].replace("_", ".")


def graded_exercises(nb: dict) -> list[str]:
    """Exercise numbers of the notebook's autograded test cells (grade ids `check-N_M`), in order."""
    return [exercise_of(meta["grade_id"]) for meta in map(nbgrader_meta, nb["cells"])
            if meta.get("grade") and meta.get("grade_id", "").startswith("check-")]


def cell_meta(grade_id: str, *, solution: bool = False, grade: bool = False, locked: bool = False) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3, "solution": solution,
            "task": False}
    if grade:
        meta["points"] = POINTS
    return meta

"""The student-notebook generator and the grader, on small synthetic notebooks and on the series itself."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import nbformat
import pytest

from helpers import assignments

CHECK_CELL = """\
from helpers.checks.core import Failed, call_student, exercise

@exercise("9.1", "Add two numbers")
def check_add(student_fn):
    got = call_student(student_fn, 2, 3)
    if got != 5:
        raise Failed(f"for a=2, b=3, expected 5, got {got!r}.")"""

SOLUTION = """\
def add(a, b):
    \"\"\"a + b.\"\"\"
    ### BEGIN SOLUTION
    return a + b
    ### END SOLUTION"""


def make_notebook(solution: str = SOLUTION, extra_cells: tuple[str, ...] = ()) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# 99 — A tiny notebook\nBlog post: none."),
        nbformat.v4.new_code_cell(CHECK_CELL),
        *(nbformat.v4.new_code_cell(source) for source in extra_cells),
        nbformat.v4.new_markdown_cell("### Exercise 9.1 — Add two numbers\nReturn a + b."),
        nbformat.v4.new_code_cell(solution),
        nbformat.v4.new_code_cell("# NBVAL_CHECK_OUTPUT\ncheck_add(add)"),
        nbformat.v4.new_code_cell("print('the end')"),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def write(nb, path: Path) -> Path:
    nbformat.write(nb, str(path))
    return path


def student_version(nb) -> dict:
    return assignments.build_notebook(json.loads(nbformat.writes(nb)), "99_tiny.ipynb")


def test_stub_replaces_exactly_the_solution():
    student = student_version(make_notebook())
    code = [c["source"] for c in student["cells"] if c["cell_type"] == "code"]
    assert 'def add(a, b):\n    """a + b."""\n    raise NotImplementedError("Exercise 9.1: Add two numbers")' in code
    assert all("BEGIN SOLUTION" not in c and "return a + b" not in c for c in code)
    assert all("NBVAL_CHECK_OUTPUT" not in c for c in code), "nbval markers are stripped for students"
    assert student["cells"][0]["source"].startswith("# Student version — 99 — A tiny notebook")
    assert all(c.get("outputs", []) == [] for c in student["cells"])


def test_build_rejects_unbalanced_markers():
    broken = make_notebook(solution="def add(a, b):\n    ### BEGIN SOLUTION\n    return a + b")
    with pytest.raises(ValueError, match="without ### END SOLUTION"):
        student_version(broken)


def test_build_rejects_a_solution_without_an_exercise_heading():
    nb = make_notebook()
    nb.cells = [c for c in nb.cells if "Exercise 9.1 —" not in c.source]
    with pytest.raises(ValueError, match="no `### Exercise N.M"):
        student_version(nb)


def test_build_is_deterministic(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    write(make_notebook(), source / "99_tiny.ipynb")
    first = assignments.build(source, tmp_path / "a")
    second = assignments.build(source, tmp_path / "b")
    assert [p.name for p in first] == ["99_tiny_assignment.ipynb"]
    assert first[0].read_bytes() == second[0].read_bytes()


def test_committed_student_notebooks_are_up_to_date(tmp_path):
    fresh = {p.name: p.read_bytes() for p in assignments.build(out_dir=tmp_path)}
    committed = {p.name: p.read_bytes() for p in assignments.ASSIGNMENTS.glob("*_assignment.ipynb")}
    assert sorted(fresh) == sorted(committed), "run `make assignments` and commit notebooks/assignments/"
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert not stale, f"out of date with their source notebooks: {stale}; run `make assignments`"


def test_every_exercise_in_the_series_is_built_and_checked():
    for path in sorted(assignments.NOTEBOOKS.glob("0*.ipynb")):
        nb = json.loads(path.read_text())
        exercises = assignments.find_exercises(nb)
        solutions = sum(assignments.BEGIN in assignments._source(c) for c in nb["cells"] if c["cell_type"] == "code")
        assert solutions == len(exercises), f"{path.name}: {len(exercises)} exercise headings, {solutions} solutions"
        for exercise in exercises:
            texts = ["".join(o.get("text", "")) for c in nb["cells"] if c["cell_type"] == "code"
                     for o in c.get("outputs", [])]
            verdicts = [text for text in texts if f"Exercise {exercise.number} " in text]
            assert any(text.startswith("✅") for text in verdicts), (
                f"{path.name}: the stored check of exercise {exercise.number} does not say ✅")


def test_check_cells_are_compared_by_nbval():
    """A check that stops passing must fail `make test`: its cell's output is compared by nbval."""
    for path in sorted(assignments.NOTEBOOKS.glob("0*.ipynb")):
        nb = json.loads(path.read_text())
        for cell in nb["cells"]:
            source = assignments._source(cell)
            if cell["cell_type"] == "code" and source.lstrip().startswith(("check_", "# NBVAL")) and "check_" in source:
                assert assignments.NBVAL_MARKER in source, f"{path.name}: add {assignments.NBVAL_MARKER} to {source!r}"


# ---------------------------------------------------------------- the grader


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("submissions")
    wrong = SOLUTION.replace("return a + b", "return a - b")
    submissions = {
        "passing": write(make_notebook(), folder / "passing.ipynb"),
        "failing": write(make_notebook(solution=wrong), folder / "failing.ipynb"),
        "stub": folder / "stub.ipynb",
        "erroring": write(make_notebook(extra_cells=("1 / 0",)), folder / "erroring.ipynb"),
        "looping": write(make_notebook(extra_cells=("while True:\n    pass",)), folder / "looping.ipynb"),
        "malformed": folder / "malformed.ipynb",
        "missing": folder / "missing.ipynb",
    }
    submissions["stub"].write_text(json.dumps(student_version(make_notebook())))
    submissions["malformed"].write_text('{"cells": [ this is not json')
    csv_path = folder / "grades.csv"
    rows = assignments.grade(list(submissions.values()), cell_timeout=20, csv_path=csv_path)
    return dict(zip(submissions, rows)), csv_path


def test_grader_passing_and_failing(graded):
    rows, _ = graded
    assert rows["passing"].verdicts == {"9.1": "passed"} and rows["passing"].reason == ""
    assert rows["failing"].verdicts == {"9.1": "failed"} and rows["failing"].reason == ""
    assert rows["stub"].verdicts == {"9.1": "failed"} and rows["stub"].reason == "", "a stub is a failed check only"


def test_grader_survives_errors_loops_and_garbage(graded):
    rows, _ = graded
    assert rows["erroring"].verdicts == {"9.1": "passed"}, "an error elsewhere must not cost the exercise"
    assert "ZeroDivisionError" in rows["erroring"].reason
    assert "longer than 20 s" in rows["looping"].reason
    assert rows["looping"].verdicts == {"9.1": "not run"}
    assert rows["malformed"].reason.startswith("unreadable notebook") and rows["malformed"].passed == 0
    assert rows["missing"].reason.startswith("unreadable notebook")


def test_grader_writes_csv(graded):
    rows, csv_path = graded
    with open(csv_path, newline="") as handle:
        table = list(csv.DictReader(handle))
    assert [r["notebook"] for r in table] == [r.notebook for r in rows.values()]
    assert [r["passed"] for r in table] == ["1", "0", "0", "1", "0", "0", "0"]
    assert table[0]["exercise 9.1"] == "passed"


def test_grader_cli_rejects_bad_timeout(capsys):
    with pytest.raises(SystemExit):
        assignments.main(["grade", "x.ipynb", "--timeout", "0"])
    assert "--timeout must be positive" in capsys.readouterr().err


# ---------------------------------------------------------------- the series' student notebooks, run as handed out


STUDENT_NOTEBOOKS = sorted(assignments.ASSIGNMENTS.glob("*_assignment.ipynb"))


@pytest.mark.slow
@pytest.mark.parametrize("path", STUDENT_NOTEBOOKS, ids=[p.stem for p in STUDENT_NOTEBOOKS])
def test_student_notebook_fails_exactly_its_checks(path):
    row = assignments.grade_notebook(path, cell_timeout=300)
    exercises = [e.number for e in assignments.find_exercises(json.loads(path.read_text()))]
    assert exercises, f"{path.name} has no exercises"
    assert row.verdicts == {number: "failed" for number in exercises}, (
        f"{path.name}: every check must run and fail on the stubs, got {row.verdicts}")
    assert row.reason == "", f"{path.name}: only the stubs may fail, but: {row.reason}"

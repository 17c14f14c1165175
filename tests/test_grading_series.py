"""`make grade` on every assignment of the series, as grading runs them: locked demonstration cells skipped
(course/grading_plan.py). A solved notebook keeps full marks and an unsolved one gets none, in one batch (JOBS=2)."""

from __future__ import annotations

import contextlib
import io
import json

import pytest

from course import grading, notebooks
from tests.test_grading import load, solve

ASSIGNMENTS = sorted(p.name.removesuffix(f"{notebooks.SUFFIX}.ipynb") for p in notebooks.ASSIGNMENTS.glob("*.ipynb"))


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    submissions = tmp_path_factory.mktemp("series") / "submissions"
    for assignment in ASSIGNMENTS:
        name = f"{assignment}{notebooks.SUFFIX}.ipynb"
        student, main = load(notebooks.ASSIGNMENTS / name), load(notebooks.NOTEBOOKS / f"{assignment}.ipynb")
        for who, nb in (("solved", solve(student, main, set(notebooks.graded_exercises(main)))),
                        ("unsolved", student)):
            (submissions / who).mkdir(parents=True, exist_ok=True)
            (submissions / who / name).write_text(json.dumps(nb), encoding="utf-8")
    with contextlib.redirect_stdout(io.StringIO()):
        graded = grading.grade(submissions, submissions.parent / "grades.csv", jobs=2)
    return {(row["student"], row["assignment"]): row for row in graded}


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_skipping_demonstrations_keeps_full_marks_for_solved_work_and_none_for_unsolved(rows, assignment):
    solved, unsolved = rows["solved", assignment], rows["unsolved", assignment]
    assert solved["score"] == solved["max_score"] > 0 and solved["reason"] == "" and solved["flags"] == "", solved
    assert unsolved["score"] == 0, unsolved

"""The grades CSV's `flags` column (course/flags.py): quiet on the reference solutions, loud on every back door.

A flag that fires on every correct notebook hides the real cheats, so the main notebooks' own solutions, put into
the student versions as a student would type them, must raise none; and each exercise's tested copy, reached by an
import, a module attribute or an alias, must be named.
"""

from __future__ import annotations

import copy
import json
import re

import pytest

from course.flags import answer_flags
from course.notebooks import ASSIGNMENTS, NOTEBOOKS, cell_source, exercise_of, nbgrader_meta
from helpers.checks import FORBIDDEN

STUDENT_NOTEBOOKS = sorted(ASSIGNMENTS.glob("*_assignment.ipynb"))


def _release_and_solutions(student_path) -> tuple[dict, dict[str, str]]:
    release = json.loads(student_path.read_text(encoding="utf-8"))
    main = json.loads((NOTEBOOKS / student_path.name.replace("_assignment", "")).read_text(encoding="utf-8"))
    solutions = {nbgrader_meta(c)["grade_id"]: re.sub(r"[ \t]*### (BEGIN|END) SOLUTION\n?", "", cell_source(c))
                 for c in main["cells"] if nbgrader_meta(c).get("solution")}
    return release, solutions


def _answered(release: dict, answers: dict[str, str]) -> dict:
    submission = copy.deepcopy(release)
    for cell in submission["cells"]:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if grade_id in answers:
            cell["source"] = answers[grade_id]
    return submission


@pytest.mark.parametrize("path", STUDENT_NOTEBOOKS, ids=[p.stem for p in STUDENT_NOTEBOOKS])
def test_the_reference_solutions_raise_no_flag(path):
    release, solutions = _release_and_solutions(path)
    assert solutions, f"{path.name}: no solution cells found in its main notebook"
    assert answer_flags(_answered(release, solutions), release) == []


def _tested_copies() -> list[tuple[str, str, str]]:
    """(exercise, module, name) of every function an exercise's answer must not call."""
    return [(number, target.__module__, target.__name__) for number, rules in FORBIDDEN.items()
            for _, target in rules if callable(target) and not isinstance(target, str)]


def _notebook_of(number: str):
    for path in STUDENT_NOTEBOOKS:
        release = json.loads(path.read_text(encoding="utf-8"))
        if any(exercise_of(nbgrader_meta(c).get("grade_id", "x-0")) == number
               for c in release["cells"] if nbgrader_meta(c).get("solution")):
            return release
    raise LookupError(number)


@pytest.mark.parametrize("way", ["import", "alias", "attribute"])
@pytest.mark.parametrize(("number", "module", "name"), _tested_copies(), ids=lambda v: str(v))
def test_every_tested_copy_is_named_however_it_is_reached(number, module, name, way):
    answer = {"import": f"from {module} import {name}\n\ndef answer(*args):\n    return {name}(*args)\n",
              "alias": f"from {module} import {name} as mine\n\ndef answer(*args):\n    return mine(*args)\n",
              "attribute": f"import {module} as lib\n\ndef answer(*args):\n    return lib.{name}(*args)\n"}[way]
    release = _notebook_of(number)
    grade_id = next(nbgrader_meta(c)["grade_id"] for c in release["cells"]
                    if nbgrader_meta(c).get("grade_id") == f"answer-{number.replace('.', '_')}")
    assert f"calls {name}" in " ".join(answer_flags(_answered(release, {grade_id: answer}), release))


def test_a_function_named_like_the_tested_copy_is_the_students_own():
    release = _notebook_of("4.1")
    own = ("import torch\n\ndef reparameterize(mu, logvar):\n"
           "    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)\n")
    assert answer_flags(_answered(release, {"answer-4_1": own}), release) == []

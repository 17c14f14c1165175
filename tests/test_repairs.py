"""The grader repairs what students break by accident (issue 26, item 4): each accident on a solved notebook 02.

These test `repair.repair_submission` alone, in milliseconds; tests/test_grading.py runs repaired notebooks
through nbgrader's autograde and asserts their scores (solved: full marks, unsolved: 0).
"""

from __future__ import annotations

import copy
import json

import pytest

from course import notebooks, repair
from tests.test_grading import ASSIGNMENT, NAME, grade_id, index_of, load, solve


@pytest.fixture(scope="module")
def release() -> dict:
    return load(notebooks.ASSIGNMENTS / NAME)


@pytest.fixture
def solved(release) -> dict:
    return solve(release, load(notebooks.NOTEBOOKS / f"{ASSIGNMENT}.ipynb"), {"2.1", "2.2"})


def graded_ids(nb: dict) -> list[str]:
    return [grade_id(c) for c in nb["cells"] if grade_id(c)]


def repaired(nb: dict, release: dict) -> tuple[dict, list[str]]:
    nb = copy.deepcopy(nb)
    notes = repair.repair_submission(nb, release)
    return nb, notes


def test_an_untouched_notebook_is_left_as_it_is(solved, release):
    fixed, notes = repaired(solved, release)
    assert notes == [] and fixed == solved


def test_a_pasted_copy_of_a_check_cell_is_dropped(solved, release):
    nb = copy.deepcopy(solved)
    nb["cells"].insert(index_of(nb, "check-2_1") + 5, copy.deepcopy(nb["cells"][index_of(nb, "check-2_1")]))
    fixed, notes = repaired(nb, release)
    assert graded_ids(fixed) == graded_ids(release) and len(fixed["cells"]) == len(release["cells"])
    assert notes == ["the locked cell check-2_1 was there 2 times (copy-paste): kept one"]


def test_a_copy_of_an_answer_cell_elsewhere_runs_but_the_last_copy_is_graded(solved, release):
    nb = copy.deepcopy(solved)
    answer = nb["cells"][index_of(nb, "answer-2_1")]
    nb["cells"].insert(3, copy.deepcopy(answer))
    answer["source"] = "# my final version\n" + answer["source"]
    fixed, notes = repaired(nb, release)
    assert graded_ids(fixed) == graded_ids(release)
    assert fixed["cells"][index_of(fixed, "answer-2_1")]["source"].startswith("# my final version")
    assert "nbgrader" not in fixed["cells"][3]["metadata"] and fixed["cells"][3]["cell_type"] == "code"
    assert "graded the last copy" in notes[0]


def test_a_split_answer_cell_is_joined_back(solved, release):
    nb = copy.deepcopy(solved)
    at = index_of(nb, "answer-2_2")
    lines = nb["cells"][at]["source"].split("\n")
    first, second = copy.deepcopy(nb["cells"][at]), nb["cells"][at]
    first["source"], second["source"] = "\n".join(lines[:3]), "\n".join(lines[3:])
    nb["cells"].insert(at, first)
    fixed, notes = repaired(nb, release)
    joined = fixed["cells"][index_of(fixed, "answer-2_2")]["source"]
    assert joined == solved["cells"][at]["source"] and graded_ids(fixed) == graded_ids(release)
    assert "joined" in notes[0]


@pytest.mark.parametrize("kind", ["markdown", "raw"])
def test_an_answer_cell_turned_into_text_becomes_code_again(solved, release, kind):
    nb = copy.deepcopy(solved)
    cell = nb["cells"][index_of(nb, "answer-2_1")]
    cell["cell_type"] = kind
    del cell["outputs"], cell["execution_count"]
    fixed, notes = repaired(nb, release)
    cell = fixed["cells"][index_of(fixed, "answer-2_1")]
    assert cell["cell_type"] == "code" and cell["outputs"] == [] and cell["execution_count"] is None
    assert notes == [f"the cell answer-2_1 was {kind}: turned back into code"]


def test_moved_cells_go_back_into_the_handout_order_with_the_students_own_cells(solved, release):
    nb = copy.deepcopy(solved)
    check = nb["cells"].pop(index_of(nb, "check-2_2"))
    own = {"cell_type": "code", "id": "mine", "metadata": {}, "outputs": [], "execution_count": None,
           "source": "print('my note')"}
    nb["cells"][index_of(nb, "answer-2_2"):index_of(nb, "answer-2_2")] = [check]  # the check above its answer
    nb["cells"].insert(index_of(nb, "answer-2_1") + 1, own)
    fixed, notes = repaired(nb, release)
    assert graded_ids(fixed) == graded_ids(release)
    assert fixed["cells"][index_of(fixed, "answer-2_1") + 1]["id"] == "mine", "an added cell moves with its cell"
    assert index_of(fixed, "check-2_2") > index_of(fixed, "answer-2_2")
    assert notes == ["cells had been moved: put back in the hand-out's order (added cells move with the cell above "
                     "them)"]


def test_deleted_cells_come_back_where_they_were(solved, release):
    nb = copy.deepcopy(solved)
    nb["cells"] = [c for c in nb["cells"] if grade_id(c) not in ("answer-2_2", "check-2_2")]
    fixed, notes = repaired(nb, release)
    assert graded_ids(fixed) == graded_ids(release) and notes == ["2 deleted hand-out cell(s) put back"]


def test_a_notebook_from_an_older_jupyterlab_gets_cell_ids(solved, release):
    nb = copy.deepcopy(solved)
    nb["nbformat_minor"] = 4
    for cell in nb["cells"]:
        del cell["id"]
    nb["cells"][5]["id"] = None
    fixed, notes = repaired(nb, release)
    ids = [c["id"] for c in fixed["cells"]]
    assert fixed["nbformat_minor"] == release["nbformat_minor"] and None not in ids and len(set(ids)) == len(ids)
    assert "renewed" in notes[0]


def test_not_a_notebook_is_passed_on_unchanged(release):
    for content in (b"not json", b"[]", b'{"cells": [1]}', b"{}"):
        assert repair.repaired(content, release) == (content, [])  # noqa: SLF001
    fixed, notes = repair.repaired(json.dumps({"cells": [], "metadata": {}}).encode(), release)  # noqa: SLF001
    assert graded_ids(json.loads(fixed)) == graded_ids(release) and notes

"""Which demonstration cells grading skips (course/grading_plan.py): only those no cell that runs after them needs."""

from __future__ import annotations

import json

import pytest

from course import notebooks
from course.grading_plan import skippable_cells, with_demonstrations_skipped


def cell(source: str, kind: str = "demo", grade_id: str | None = None) -> dict:
    meta = {"demo": {"locked": True, "grade": False, "solution": False},
            "answer": {"locked": False, "grade": False, "solution": True},
            "test": {"locked": True, "grade": True, "solution": False, "points": 1},
            "added": None}[kind]
    metadata = {} if meta is None else {"nbgrader": {**meta, "grade_id": grade_id or f"{kind}-{abs(hash(source))}"}}
    return {"cell_type": "code", "metadata": metadata, "source": source, "outputs": [], "execution_count": None}


def plan(*cells: dict) -> list[int]:
    nb = {"cells": list(cells)}
    return skippable_cells(nb, nb)


IMPORTS = cell("import torch\nfrom helpers import seed_everything")
TRAIN = cell("model = torch.nn.Linear(2, 2)\nfor _ in range(100):\n    model.weight.data.mul_(0.9)")
FIGURE = cell("fig, ax = plt.subplots()\nax.plot([1, 2])")
ANSWER = cell("def f(x, model=None):\n    return x * 2", "answer")
TEST = cell("from helpers.checks import check_f\ncheck_f(f)", "test")


def test_a_cell_that_only_trains_or_draws_for_the_reader_is_skipped():
    assert plan(IMPORTS, TRAIN, FIGURE, ANSWER, TEST) == [1, 2]


def test_a_cell_defining_or_changing_what_a_graded_cell_reads_runs():
    uses_model = cell("def f(x):\n    return model(x)", "answer")
    assert plan(IMPORTS, TRAIN, FIGURE, uses_model, TEST) == [2]
    retrained = cell("model.eval()")  # mutates the model through a method: it runs too
    assert plan(IMPORTS, TRAIN, retrained, FIGURE, uses_model, TEST) == [3]


def test_what_a_kept_demonstration_reads_is_kept_in_turn():
    data = cell("x_train = torch.rand(10, 2)")
    trained = cell("model = fit(x_train)")
    answer = cell("def f(x):\n    return model(x)", "answer")
    assert plan(IMPORTS, data, trained, FIGURE, answer, TEST) == [3]


def test_a_cell_the_student_added_counts_like_an_answer():
    peek = cell("print(model.weight)", "added")
    assert plan(IMPORTS, TRAIN, FIGURE, peek, ANSWER, TEST) == [2]


def test_function_parameters_and_locals_are_not_globals():
    local = cell("def f(model, x):\n    y = model(x)\n    return y", "answer")
    assert plan(IMPORTS, TRAIN, local, TEST) == [1]


@pytest.mark.parametrize("dynamic", ["globals()['model']", "eval('model')", "sys.modules['__main__'].model",
                                     "vars()['model']", "get_ipython().user_ns['model']",
                                     "import __main__\n__main__.__dict__['model']"])
def test_names_reached_dynamically_keep_every_cell(dynamic):
    answer = cell(f"def f(x):\n    return {dynamic}(x)", "answer")
    assert plan(IMPORTS, TRAIN, FIGURE, answer, TEST) == []


def test_a_cell_that_does_not_parse_keeps_every_cell():
    assert plan(IMPORTS, TRAIN, cell("def f(x):\n    return x +", "answer"), TEST) == []
    assert plan(IMPORTS, TRAIN, cell("%time model", "added"), ANSWER, TEST) == [], "a magic calls get_ipython()"


def test_the_hand_outs_source_is_read_not_the_students_edit_of_a_locked_cell():
    release = {"cells": [IMPORTS, TRAIN, FIGURE, ANSWER, TEST]}
    edited = json.loads(json.dumps(release))
    edited["cells"][2]["source"] = "model = 3"  # nbgrader restores the hand-out's source before running it
    assert skippable_cells(edited, release) == [1, 2]


def test_tagging_leaves_a_file_that_is_not_a_notebook_as_it_is():
    assert with_demonstrations_skipped(b"not json", {"cells": []}, "skip") == (b"not json", 0)
    tagged, count = with_demonstrations_skipped(json.dumps({"cells": [IMPORTS, TRAIN, ANSWER, TEST]}).encode(),
                                                {"cells": [IMPORTS, TRAIN, ANSWER, TEST]}, "skip-me")
    assert count == 1 and json.loads(tagged)["cells"][1]["metadata"]["tags"] == ["skip-me"]


@pytest.mark.parametrize("assignment", sorted(p.name.removesuffix(f"{notebooks.SUFFIX}.ipynb")
                                        for p in notebooks.ASSIGNMENTS.glob("*.ipynb")))
def test_every_assignment_skips_its_training_and_keeps_its_graded_chain(assignment):
    """The series' own hand-outs: every answer and test cell runs; every cell skipped is a locked demonstration."""
    release = json.loads((notebooks.ASSIGNMENTS / f"{assignment}{notebooks.SUFFIX}.ipynb").read_text())
    skipped = skippable_cells(release, release)
    assert skipped, "nothing skipped: the reading fell back to running everything"
    for index in skipped:
        meta = notebooks.nbgrader_meta(release["cells"][index])
        assert meta.get("locked") and not meta.get("grade") and not meta.get("solution")

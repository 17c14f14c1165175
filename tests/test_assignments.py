"""nbgrader metadata in the main notebooks, the student versions nbgrader builds from them, and Validate on them."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys

import nbformat
import pytest

from course import flags, layout, notebooks, tagging

CHECK_CELL = "# NBVAL_CHECK_OUTPUT\ncheck_add(add)"
SOLUTION = 'def add(a, b):\n    """a + b."""\n    ### BEGIN SOLUTION\n    return a + b\n    ### END SOLUTION'


def tiny_notebook(*extra: str, number: str = "9.1") -> dict:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# 99 — A tiny notebook"),
        nbformat.v4.new_code_cell("from helpers.checks import check_add\nimport math"),
        nbformat.v4.new_markdown_cell(f"### Exercise {number} — Add two numbers\nReturn a + b."),
        nbformat.v4.new_code_cell(SOLUTION),
        nbformat.v4.new_code_cell(CHECK_CELL),
        *(nbformat.v4.new_code_cell(source) for source in extra),
    ]
    return json.loads(nbformat.writes(nb))


def plain(nb: dict) -> list[tuple[str, str, dict]]:
    """Each cell's id, source (one string, however it was saved) and nbgrader metadata."""
    return [(c["id"], "".join(c["source"]), c.get("metadata", {}).get("nbgrader")) for c in nb["cells"]]


def meta(cell: dict) -> dict:
    return cell["metadata"].get("nbgrader", {})


def test_tag_marks_solution_test_and_locked_cells():
    tagged = tagging.tag_notebook(tiny_notebook("print('the end')"))
    kinds = [(meta(c)["grade_id"].split("-")[0], meta(c)["solution"], meta(c)["grade"], meta(c)["locked"])
             for c in tagged["cells"]]
    assert kinds == [("cell", False, False, True), ("cell", False, False, True), ("cell", False, False, True),
                     ("answer", True, False, False), ("check", False, True, True), ("cell", False, False, True)]
    test = tagged["cells"][4]
    assert meta(test)["grade_id"] == "check-9_1" and meta(test)["points"] == 1
    lines = test["source"].split("\n")
    assert lines[:4] == ["# NBVAL_CHECK_OUTPUT", "from helpers.checks import check_add", "", "check_add(add)"]
    assert lines[4] == notebooks.HIDDEN_BEGIN and re.fullmatch(r"check_add\(add, seed=\d{6}\)", lines[5])
    assert "check_add" not in tagged["cells"][1]["source"], "the test cell imports its check itself"
    assert notebooks.graded_exercises(tagged) == ["9.1"]


def test_tag_is_idempotent_and_keeps_the_hidden_seed():
    once = tagging.tag_notebook(tiny_notebook())
    assert tagging.tag_notebook(once) == once
    assert tagging.tag_notebook(copy.deepcopy(once))["cells"][4]["source"] == once["cells"][4]["source"]


def test_tag_rejects_a_solution_without_heading_or_check():
    nb = tiny_notebook()
    del nb["cells"][2]
    with pytest.raises(ValueError, match="no `### Exercise N.M"):
        tagging.tag_notebook(nb)
    nb = tiny_notebook()
    del nb["cells"][4]
    with pytest.raises(ValueError, match="the last solution has no test cell"):
        tagging.tag_notebook(nb)


def test_course_notebook_clears_outputs_and_nbval_markers_and_adds_a_locked_header():
    course = layout.course_notebook(tagging.tag_notebook(tiny_notebook()), "99_tiny.ipynb")
    assert course["cells"][0]["source"].startswith("# Student version — 99 — A tiny notebook")
    assert meta(course["cells"][0])["locked"]
    assert all(notebooks.NBVAL_MARKER not in c["source"] for c in course["cells"])
    with pytest.raises(ValueError, match="run `python -m course tag`"):
        layout.course_notebook(tiny_notebook(), "99_tiny.ipynb")


def test_the_main_notebooks_are_tagged():
    for path in sorted(notebooks.NOTEBOOKS.glob("0*.ipynb")):
        nb = json.loads(path.read_text())
        if notebooks.find_exercises(nb):
            assert plain(tagging.tag_notebook(nb)) == plain(nb), (
                f"run `python -m course tag` ({path.name})")
            assert notebooks.graded_exercises(nb) == [e.number for e in notebooks.find_exercises(nb)]


@pytest.fixture(scope="module")
def fresh_build(tmp_path_factory):
    out = tmp_path_factory.mktemp("assignments")
    return {p.name: p.read_bytes() for p in layout.build(out_dir=out)}


def test_committed_student_notebooks_are_nbgraders_output_and_up_to_date(fresh_build):
    committed = {p.name: p.read_bytes() for p in notebooks.ASSIGNMENTS.glob("*_assignment.ipynb")}
    assert sorted(fresh_build) == sorted(committed), "run `make assignments` and commit notebooks/assignments/"
    stale = [name for name in fresh_build if fresh_build[name] != committed[name]]
    assert not stale, f"out of date with their source notebooks: {stale}; run `make assignments`"


def test_student_versions_hide_solutions_and_hidden_tests(fresh_build):
    for name, content in fresh_build.items():
        student = json.loads(content)
        main = json.loads((notebooks.NOTEBOOKS / name.replace("_assignment", "")).read_text())
        text = "\n".join("".join(c["source"]) for c in student["cells"] if c["cell_type"] == "code")
        tests = "\n".join("".join(c["source"]) for c in student["cells"] if meta(c).get("grade"))
        assert notebooks.BEGIN not in text and notebooks.HIDDEN_BEGIN not in text and "seed=" not in tests
        for cell in main["cells"]:
            if meta(cell).get("solution"):
                body = "".join(cell["source"]).split(notebooks.BEGIN)[1].split(notebooks.END)[0]
                leaked = [line.strip() for line in body.split("\n") if len(line.strip()) > 12 and line.strip() in text]
                assert not leaked, f"{name}: solution lines in the student version: {leaked}"


# Stubs and task text must not state the solution (issue 15, item 6).
GIVEAWAYS = {"03_variational_inference_assignment.ipynb": ["(N / |B|) · Σ", "n_total / len("],
             "04_reparameterization_trick_assignment.ipynb": ["z = mu + exp(½·logvar) ⊙ ε"]}


def test_stubs_do_not_give_the_answer_away(fresh_build):
    for name, phrases in GIVEAWAYS.items():
        student = json.loads(fresh_build[name])
        code = "\n".join("".join(c["source"]) for c in student["cells"] if c["cell_type"] == "code")
        assert not [p for p in phrases if p in code], f"{name} states the solution in a stub"


# ---------------------------------------------------------------- the flags column


def answered(source: dict, answer: str, *extra: str) -> dict:
    submission = copy.deepcopy(source)
    next(c for c in submission["cells"] if meta(c).get("solution"))["source"] = answer
    submission["cells"] += [nbformat.v4.new_code_cell(text) for text in extra]
    return json.loads(json.dumps(submission))


FRAMES = "inspects frames or reloads modules"


@pytest.mark.parametrize(("answer", "flag"), [
    ("import helpers.checks as c\nc.check_add = print", "touches helpers.checks"),
    ("def check_add(fn, seed=None):\n    pass", "touches helpers.checks"),
    ("def add(a, b):\n    print('✅ Exercise 3.2: correct')", "prints a verdict mark"),
    ("import builtins\nbuiltins.print = len", "patches builtins or output"),
    ("import sys\nsys.stdout = None", "patches builtins or output"),
    ("from helpers.vi_models import minibatch_elbo as add", "calls minibatch_elbo"),
    ("import helpers.vi_models as vm\nadd = vm.minibatch_elbo", "calls minibatch_elbo"),
    ("import os\nos._exit(0)", "files, processes or environment"),
    ("open('/tmp/x', 'w').write('')", "files, processes or environment"),
    ("import sys\ndef add(a, b):\n    return sys._getframe(1).f_locals['expected']", FRAMES),
    ("from sys import _getframe\nadd = lambda a, b: _getframe(1).f_back", FRAMES),
    ("import inspect\nadd = lambda a, b: inspect.currentframe()", FRAMES),
    ("import importlib, helpers\nimportlib.reload(helpers)", FRAMES),
    ("add = lambda a, b: vars()['a'] + b", FRAMES),
    ("import gc\nadd = lambda a, b: gc.get_objects()", FRAMES),
    ("import sys\nsys.modules['helpers.checks.core'].AUTO = 0", "touches helpers.checks"),
])
def test_flags_name_what_an_answer_cell_does(answer, flag):
    source = tagging.tag_notebook(tiny_notebook(number="3.2"))
    assert flag in flags.answer_flags(answered(source, answer), source)


def test_flags_cover_added_cells_and_restored_edits_but_not_a_plain_answer():
    source = tagging.tag_notebook(tiny_notebook(number="3.2"))
    assert flags.answer_flags(answered(source, "def add(a, b):\n    return a + b"), source) == []
    added = answered(source, "def add(a, b):\n    return a + b", "print('✅ all good')")
    assert flags.answer_flags(added, source) == ["prints a verdict mark"]
    edited = answered(source, "def add(a, b):\n    return a + b")
    edited["cells"][4]["source"] = "print('✅')"
    edited["cells"] = [c for c in edited["cells"] if meta(c).get("grade_id") != "cell-" + source["cells"][1]["id"]]
    raised = flags.answer_flags(edited, source)
    assert "edited locked cells (restored): 1" in raised and "deleted cells (restored): 1" in raised


# ---------------------------------------------------------------- nbgrader Validate on the student notebooks


STUDENT_NOTEBOOKS = sorted(notebooks.ASSIGNMENTS.glob("*_assignment.ipynb"))


def validate(path):
    """nbgrader's Validate (what the JupyterLab button runs), with a per-cell limit fit for a busy 2-core machine."""
    from nbgrader.validator import Validator
    from traitlets.config import Config

    config = Config({"Execute": {"timeout": 300, "iopub_timeout": 30, "raise_on_iopub_timeout": False}})
    return Validator(config=config).validate(str(path))


@pytest.mark.slow
@pytest.mark.parametrize("path", STUDENT_NOTEBOOKS, ids=[p.stem for p in STUDENT_NOTEBOOKS])
def test_validate_fails_exactly_the_test_cells_of_a_student_notebook(path):
    """As handed out, every check fails (the stubs) and Validate names those cells, and only those."""
    nb = json.loads(path.read_text())
    exercises = notebooks.graded_exercises(nb)
    result = validate(path)
    failed = result.get("failed", [])
    assert len(failed) == len(exercises) and not result.get("changed"), result
    for failure, number in zip(failed, exercises):
        assert failure["source"].startswith("from helpers.checks import check_"), failure
        words = " ".join(failure["raw_error"].split())  # the verdict is wrapped to the report's width
        assert f"Exercise {number}" in words and "not implemented yet" in words, failure
        assert_readable(failure["raw_error"], number)


def assert_readable(error: str, number: str) -> None:
    """Validate's report shows the ❌ line first and whole: no traceback, no line nbgrader would cut (87 columns
    after its 4-space indent)."""
    lines = error.splitlines()
    assert lines[0].startswith(f"❌ Exercise {number} ("), error
    assert all(len(line) <= 80 for line in lines), error
    assert "Traceback" not in error and "During handling" not in error and ".py" not in error, error


@pytest.mark.slow
def test_course_validate_exits_0_on_a_solved_notebook_and_1_on_a_wrong_one(tmp_path):
    """`python -m course validate` prints nbgrader's report and, unlike `nbgrader validate` (jupyter/nbgrader#1908),
    exits non-zero when a notebook fails; a wrong answer's ❌ line heads its error, whole."""
    path = notebooks.ASSIGNMENTS / "02_kl_divergence_and_elbo_assignment.ipynb"
    student, main = json.loads(path.read_text()), json.loads((notebooks.NOTEBOOKS / path.name.replace(
        "_assignment", "")).read_text())
    answers = {meta(c)["grade_id"]: "".join(c["source"]) for c in main["cells"] if meta(c).get("solution")}
    for cell in student["cells"]:
        if meta(cell).get("grade_id") in answers:
            cell["source"] = answers[meta(cell)["grade_id"]].replace(notebooks.BEGIN, "").replace(notebooks.END, "")
    solved, wrong = tmp_path / "solved" / path.name, tmp_path / "wrong" / path.name
    halved = "return 0.25 * per_dim.sum(dim=-1)"  # a wrong answer to 2.1: half the KL
    for folder, text in ((solved, json.dumps(student)),
                         (wrong, json.dumps(student).replace("return 0.5 * per_dim.sum(dim=-1)", halved))):
        folder.parent.mkdir()
        folder.write_text(text)
    assert halved in wrong.read_text(), "the planted mistake must change the KL answer"

    def course_validate(notebook):
        return subprocess.run([sys.executable, "-m", "course", "validate", "--timeout", "300", str(notebook)],
                              cwd=notebooks.ROOT, capture_output=True, text=True, timeout=900)

    passed, failed = course_validate(solved), course_validate(wrong)
    assert passed.returncode == 0 and "Success! Your notebook passes all the tests." in passed.stdout, passed
    assert failed.returncode == 1 and "VALIDATION FAILED" in failed.stdout, failed
    report = failed.stdout[failed.stdout.index("The error was:"):].splitlines()
    error = "\n".join(line.removeprefix("    ") for line in report[2:] if line.strip())
    assert_readable(error.split("\n===")[0], "2.1")

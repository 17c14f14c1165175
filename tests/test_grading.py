"""`make grade` on fabricated submissions: nbgrader's autograde, the CSV, and the attacks it must withstand.

One batch per session (JOBS=2) on notebook 02, the fastest assignment (about 8 s a run): a solved and a partly solved
submission, and the attacks from issue 15: one attacker overwrites another student's file and patches
`helpers/checks` on disk (its victims are graded after it), one ships saved ✅ outputs and exits, one ships them and
loops (unsolved otherwise), one edits the check cells, prints fake verdicts, redefines a check and monkeypatches
another. Each attack must end with the right score; the one thing a Python process cannot stop (an answer cell
monkeypatching `helpers.checks`) must be flagged.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import io
import json
import shutil
from pathlib import Path

import pytest

from course import confinement, grading, layout, notebooks, sandbox

ASSIGNMENT = "02_kl_divergence_and_elbo"
NAME = f"{ASSIGNMENT}_assignment.ipynb"
STUB = "raise NotImplementedError()"
CELL_TIMEOUT = 30  # seconds per cell: the endless loop below costs this much
# Seconds per notebook, far below the sleeper's hour: a grader that waited for a background process (it holds the
# job's output) would time the '-h' submission out, and its 2/2 would fail.
NOTEBOOK_TIMEOUT = 400


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def grade_id(cell: dict) -> str:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")


def code(source: str) -> dict:
    return {"cell_type": "code", "execution_count": None, "id": f"added-{len(source)}",
            "metadata": {}, "outputs": [], "source": source}


def index_of(nb: dict, wanted: str) -> int:
    return next(i for i, cell in enumerate(nb["cells"]) if grade_id(cell) == wanted)


def solve(student: dict, main: dict, numbers: set[str]) -> dict:
    """The student notebook with the main notebook's solutions pasted into the answer cells of `numbers`."""
    answers = {grade_id(c): "".join(c["source"]) for c in main["cells"]
               if c.get("metadata", {}).get("nbgrader", {}).get("solution")}
    solved = copy.deepcopy(student)
    for cell in solved["cells"]:
        if grade_id(cell) in answers and grade_id(cell).split("-")[1].replace("_", ".") in numbers:
            cell["source"] = "\n".join(line for line in answers[grade_id(cell)].split("\n") if "### " not in line)
    return solved


def append_to(nb: dict, wanted: str, extra: str) -> dict:
    nb = copy.deepcopy(nb)
    cell = nb["cells"][index_of(nb, wanted)]
    cell["source"] = "".join(cell["source"]) + "\n" + extra
    return nb


def with_saved_verdicts(nb: dict, main: dict) -> dict:
    """Ship the main notebook's ✅ outputs in the check cells, as if the checks had passed."""
    nb = copy.deepcopy(nb)
    for wanted in ("check-2_1", "check-2_2"):
        nb["cells"][index_of(nb, wanted)]["outputs"] = main["cells"][index_of(main, wanted)]["outputs"]
    return nb


def insert_before(nb: dict, wanted: str, source: str) -> dict:
    nb = copy.deepcopy(nb)
    nb["cells"].insert(index_of(nb, wanted), code(source))
    return nb


PATCH_CHECKS = """
import pathlib
for target in [pathlib.Path({repo!r}) / "checks" / "nb02.py"]:
    try:
        target.write_text(target.read_text() + "\\ndef check_mc_elbo(student_fn, seed=None):\\n    print('✅')\\n")
    except OSError as exc:
        print("could not patch", type(exc).__name__)
"""

OVERWRITE_OTHERS = """
import glob, pathlib
for path in [{victim!r}, *glob.glob("/tmp/vae-grade-*/jobs/*/course/submitted/*/*/*.ipynb")]:
    try:
        pathlib.Path(path).write_text(pathlib.Path({stub!r}).read_text())
    except OSError as exc:
        print("could not overwrite", type(exc).__name__)
"""

REDEFINE_CHECK = """
def check_kl_diag_gaussians(student_fn, seed=None):
    print("✅ Exercise 2.1 (Closed-form KL between diagonal Gaussians): correct.")
"""

SLEEPER = "vae-notes-background-sleeper"
BACKGROUND_PROCESS = f"""
import subprocess, sys
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)", "{SLEEPER}"], start_new_session=True)
"""

MEMORY_HOG = "held = bytearray(6 << 30)  # 6 GiB, more than a submission may hold"

# Each probe earns its exercise's point only if the attack works: the answer is the main notebook's solution, run only
# when the attack succeeds (`exec`, so that a working attack shows up as a score).
TEACHER_SECRET = "teacher-notes.txt"  # written into the teacher's home and beside the CSV by the fixture
READ_TEACHER_FILES = """
import os, pathlib
def _readable(path):
    try:
        return bool(pathlib.Path(path).read_bytes())
    except OSError:
        return False
_leaks = [path for path in {paths!r} if _readable(path)]
print("readable teacher files:", _leaks)
if _leaks:
    exec({solution!r})
"""

REACH_THE_GRADER = """
import os
def _works(action):
    try:
        action()
        return True
    except OSError:
        return False
_escapes = [name for name, action in [("signal the grader", lambda: os.kill(os.getppid(), 0)),
                                      ("enter its root", lambda: os.listdir(f"/proc/{{os.getppid()}}/root"))]
            if _works(action)]
print("reached the grader:", _escapes)
if _escapes:
    exec({solution!r})
"""

MANY_PROCESSES = """
import subprocess
_children = []
try:
    for _ in range(400):
        _children.append(subprocess.Popen(["sleep", "600"]))
except OSError as error:
    print("stopped:", error)
print("started", len(_children), "processes")
for _child in _children:
    _child.kill()
    _child.wait()
if len(_children) == 400:
    exec({solution!r})
"""

MEMORY_IN_MANY_PROCESSES = """
import subprocess, sys
_hogs = [subprocess.Popen([sys.executable, "-c", "import time; held = b'1' * (2 << 30); time.sleep(5)"])
         for _ in range(3)]  # 6 GiB in all, each process under the per-process limit
_held = [hog.wait() == 0 for hog in _hogs]
print("processes that held 2 GiB:", _held)
if all(_held):
    exec({solution!r})
"""

MONKEYPATCH_CHECKS = """
import helpers.checks
import helpers.checks.nb02
helpers.checks.check_mc_elbo = helpers.checks.nb02.check_mc_elbo = lambda student_fn, seed=None: print("✅")
"""


def fabricate(folder: Path, repo_helpers: Path) -> dict[str, Path]:
    """One folder per student; names sort so that the attackers are graded before their victims."""
    student_path = notebooks.ASSIGNMENTS / NAME
    student, main = load(student_path), load(notebooks.NOTEBOOKS / f"{ASSIGNMENT}.ipynb")
    stub_copy = folder.parent / "stub-copy.ipynb"
    shutil.copyfile(student_path, stub_copy)
    solved = solve(student, main, {"2.1", "2.2"})
    partial = solve(student, main, {"2.1"})
    partial["cells"] = [c for c in partial["cells"] if grade_id(c) not in ("answer-2_2", "check-2_2")]
    cheater = append_to(append_to(student, "answer-2_1", REDEFINE_CHECK), "answer-2_2", MONKEYPATCH_CHECKS)
    for wanted, number in (("check-2_1", "2.1"), ("check-2_2", "2.2")):
        cheater["cells"][index_of(cheater, wanted)]["source"] = f'print("✅ Exercise {number} (any): correct.")'
    cheater["cells"].append(code('print("✅ Exercise 9.9 (a bonus): correct.")'))
    submissions = {
        "a_attacker": append_to(append_to(student, "answer-2_2", PATCH_CHECKS.format(repo=str(repo_helpers))),
                                "answer-2_1", OVERWRITE_OTHERS.format(victim=str(folder / "c_solved" / NAME),
                                                                      stub=str(stub_copy))),
        "c_solved": solved,
        "d_partial_deleted": partial,
        "f_saved_then_exit": insert_before(with_saved_verdicts(student, main), "answer-2_1",
                                           "import os\nos._exit(0)"),
        "g_saved_then_loop": insert_before(with_saved_verdicts(student, main), "answer-2_1", "while True:\n    pass"),
        "h_cheater": cheater,
    }
    submissions.update(accidents(student, solved))
    submissions.update(confinement_probes(student, main, folder))
    submissions.update({"-h": append_to(solved, "answer-2_1", BACKGROUND_PROCESS), "weird[1]": solved,
                        "=1+2": student, "l_memory_hog": insert_before(solved, "answer-2_1", MEMORY_HOG)})
    paths = {}
    for name, nb in submissions.items():
        (folder / name).mkdir(parents=True)
        paths[name] = folder / name / NAME
        paths[name].write_text(json.dumps(nb), encoding="utf-8")
    (folder / "c_solved" / "notes.ipynb").write_text("{}")  # not an assignment: skipped, no row
    return paths


def solution_of(main: dict, wanted: str) -> str:
    return "\n".join(line for line in "".join(main["cells"][index_of(main, wanted)]["source"]).split("\n")
                     if "### " not in line)


def confinement_probes(student: dict, main: dict, folder: Path) -> dict[str, dict]:
    """Unsolved notebooks whose answers solve an exercise only when an attack on the grader works (issue 26)."""
    secrets = [str(notebooks.NOTEBOOKS / f"{ASSIGNMENT}.ipynb"), str(notebooks.ROOT / ".git" / "HEAD"),
               str(Path.home() / TEACHER_SECRET), "../../../gradebook.db", str(folder / "c_solved" / NAME),
               str(folder.parent / TEACHER_SECRET)]
    readers = append_to(student, "answer-2_1", READ_TEACHER_FILES.format(
        paths=secrets, solution=solution_of(main, "answer-2_1")))
    readers = append_to(readers, "answer-2_2", REACH_THE_GRADER.format(solution=solution_of(main, "answer-2_2")))
    hogs = append_to(student, "answer-2_1", MANY_PROCESSES.format(solution=solution_of(main, "answer-2_1")))
    hogs = append_to(hogs, "answer-2_2", MEMORY_IN_MANY_PROCESSES.format(solution=solution_of(main, "answer-2_2")))
    return {"m_reads_teacher_files": readers, "n_resource_hog": hogs}


def accidents(student: dict, solved: dict) -> dict[str, dict]:
    """What students break without meaning to (issue 26): two solved notebooks and an unsolved one, damaged."""
    copies = copy.deepcopy(solved)  # a check cell pasted further down, an answer copied to the top, nbformat 4.4
    copies["cells"].insert(index_of(copies, "check-2_1") + 3, copy.deepcopy(copies["cells"][index_of(copies,
                                                                                                  "check-2_1")]))
    copies["cells"].insert(1, copy.deepcopy(copies["cells"][index_of(copies, "answer-2_1")]))
    copies["nbformat_minor"] = 4
    for cell in copies["cells"]:
        cell.pop("id", None)
    moved = copy.deepcopy(solved)  # an answer split in two, another turned Markdown, a check moved above its answer
    split_in_two(moved, "answer-2_2")
    moved["cells"][index_of(moved, "answer-2_1")]["cell_type"] = "markdown"
    check = moved["cells"].pop(index_of(moved, "check-2_2"))
    moved["cells"].insert(index_of(moved, "answer-2_2"), check)
    unsolved = copy.deepcopy(student)
    unsolved["cells"].insert(index_of(unsolved, "check-2_1"), copy.deepcopy(unsolved["cells"][index_of(unsolved,
                                                                                                      "check-2_1")]))
    split_in_two(unsolved, "answer-2_2")
    return {"i_accident_copies": copies, "j_accident_split_moved": moved, "k_accident_unsolved": unsolved}


def split_in_two(nb: dict, wanted: str) -> None:
    """JupyterLab's split cell: both halves keep the cell's metadata (so its nbgrader grade id)."""
    at = index_of(nb, wanted)
    lines = "".join(nb["cells"][at]["source"]).split("\n")
    first, second = copy.deepcopy(nb["cells"][at]), nb["cells"][at]
    first["source"], second["source"] = "\n".join(lines[:2]), "\n".join(lines[2:])
    first["id"] = f"{first.get('id', 'cell')}-split"
    nb["cells"].insert(at, first)


@pytest.fixture(scope="session")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("grading")
    repo_helpers = base / "repo-helpers"
    shutil.copytree(notebooks.HELPERS, repo_helpers, ignore=shutil.ignore_patterns("__pycache__"))
    submissions = base / "submissions"
    home = tmp_path_factory.mktemp("teacher-home")
    for folder in (home, base):
        (folder / TEACHER_SECRET).write_text("the answers to 2.1 and 2.2")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(home))
        fabricate(submissions, repo_helpers)
    csv_path = base / "grades.csv"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(home))
        rows = grading.grade(submissions, csv_path, jobs=2, cell_timeout=CELL_TIMEOUT,
                             notebook_timeout=NOTEBOOK_TIMEOUT, helpers_dir=repo_helpers)
    (base / "printed.txt").write_text(printed.getvalue(), encoding="utf-8")
    with open(csv_path, newline="", encoding="utf-8") as handle:
        table = {row["student"]: row for row in csv.DictReader(handle)}
    return rows, table, csv_path, submissions


def scores(row: dict) -> tuple[str, str, str]:
    return row["2.1"], row["2.2"], row["score"]


def test_the_csv_has_one_row_per_student_and_the_columns_of_the_source(graded):
    _, table, csv_path, _ = graded
    with open(csv_path, newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle))
    exercises = [n for nb in layout.assignment_sources().values() for n in notebooks.graded_exercises(nb)]
    assert header == ["student", "assignment", *exercises, "score", "max_score", "reason", "flags"]
    assert "9.9" not in header and len(exercises) == 13
    assert sorted(table) == ["'-h", "'=1+2", "a_attacker", "c_solved", "d_partial_deleted", "f_saved_then_exit",
                             "g_saved_then_loop", "h_cheater", "i_accident_copies", "j_accident_split_moved",
                             "k_accident_unsolved", "l_memory_hog", "m_reads_teacher_files", "n_resource_hog",
                             "weird[1]"]
    assert all(row["max_score"] == "2" and row["assignment"] == ASSIGNMENT for row in table.values())


def test_solved_partly_solved_and_unsolved_get_their_scores(graded):
    _, table, _, _ = graded
    assert scores(table["c_solved"]) == ("1", "1", "2") and table["c_solved"]["flags"] == ""
    assert scores(table["d_partial_deleted"]) == ("1", "0", "1"), "a deleted exercise still counts, as 0"
    assert "deleted test cells (restored): 2.2" in table["d_partial_deleted"]["flags"]
    assert scores(table["g_saved_then_loop"]) == ("0", "0", "0"), "unsolved (and a cell that loops)"


def test_edited_check_cells_printed_verdicts_and_a_redefined_check_earn_nothing(graded):
    _, table, _, _ = graded
    row = table["h_cheater"]
    assert row["2.1"] == "0", "test cells are restored and import their check afresh: a redefinition is ignored"
    assert "prints a verdict mark" in row["flags"] and "edited locked cells (restored): 2" in row["flags"]


def test_saved_outputs_do_not_count_when_the_kernel_stops_or_loops(graded):
    _, table, _, _ = graded
    assert scores(table["f_saved_then_exit"]) == ("0", "0", "0")
    assert "kernel died" in table["f_saved_then_exit"]["reason"]
    assert scores(table["g_saved_then_loop"]) == ("0", "0", "0")
    assert "time limit" in table["g_saved_then_loop"]["reason"]


def test_a_monkeypatch_of_the_checks_is_flagged(graded):
    _, table, _, _ = graded
    row = table["h_cheater"]
    assert "touches helpers.checks" in row["flags"], "a monkeypatch cannot be stopped in-process: it must be flagged"


def test_a_submission_cannot_change_another_ones_grade(graded):
    _, table, _, submissions = graded
    assert scores(table["c_solved"]) == ("1", "1", "2"), "overwriting another student's file must not change it"
    for victim in ("d_partial_deleted", "f_saved_then_exit", "g_saved_then_loop"):  # graded after the attacker
        assert table[victim]["2.2"] == "0", "patching helpers/checks on disk must not help the others"
    assert "files, processes or environment" in table["a_attacker"]["flags"]
    assert scores(table["a_attacker"]) == ("0", "0", "0")


def test_accidents_are_repaired_solved_work_keeps_full_marks_and_unsolved_gets_none(graded):
    _, table, _, _ = graded
    for name in ("i_accident_copies", "j_accident_split_moved"):
        row = table[name]
        assert scores(row) == ("1", "1", "2"), f"{name}: {row['reason']}"
        assert "repaired:" in row["reason"] and "traceback" not in row["reason"] and row["flags"] == ""
    assert "check-2_1 was there 2 times" in table["i_accident_copies"]["reason"]
    assert "answer-2_1 was there 2 times" in table["i_accident_copies"]["reason"]
    assert "renewed" in table["i_accident_copies"]["reason"]
    reason = table["j_accident_split_moved"]["reason"]
    assert "joined" in reason and "was markdown" in reason and "moved" in reason
    assert scores(table["k_accident_unsolved"]) == ("0", "0", "0"), "repairs must not earn an unsolved notebook points"
    assert "repaired:" in table["k_accident_unsolved"]["reason"]


def test_a_second_run_resumes_from_the_csv(graded, tmp_path):
    _, table, csv_path, submissions = graded
    before = csv_path.read_bytes()
    only = tmp_path / "again"
    shutil.copytree(submissions / "c_solved", only / "c_solved")
    assert grading.grade(only, csv_path, jobs=1) == [], "rows already in the CSV are not graded again"
    assert csv_path.read_bytes() == before


def test_grade_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="jobs must be a positive number, got 0"):
        grading.grade(tmp_path, tmp_path / "g.csv", jobs=0)
    with pytest.raises(ValueError, match="submissions_dir must be a folder"):
        grading.grade(tmp_path / "missing", tmp_path / "g.csv")


def test_any_student_name_is_graded_and_none_becomes_a_spreadsheet_formula(graded):
    _, table, _, _ = graded
    assert scores(table["weird[1]"]) == ("1", "1", "2") and scores(table["'-h"]) == ("1", "1", "2")
    assert scores(table["'=1+2"]) == ("0", "0", "0"), "escaped with a leading ' so a spreadsheet shows it as text"


def test_a_background_process_started_by_an_answer_does_not_outlive_its_grading(graded):
    if sandbox.sandbox_command() is None:
        pytest.skip("needs a mount namespace (unshare) to find the job's processes; CI has one")
    alive = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if entry.name.isdigit() and SLEEPER.encode() in (entry / "cmdline").read_bytes():
                alive.append(int(entry.name))
    assert not alive, f"processes a graded answer started are still running: {alive}"


def test_make_grade_prints_progress_rate_and_a_summary(graded):
    _, table, csv_path, _ = graded
    printed = (csv_path.parent / "printed.txt").read_text(encoding="utf-8")
    total = len(table)
    assert f"[1/{total}]" in printed and f"[{total}/{total}]" in printed and "per min, about" in printed
    assert f"graded {total} submissions in" in printed and "200 students x 6 assignments take about" in printed
    assert "  2.1: mean" in printed and "flagged:" in printed and "a_attacker" in printed.split("flagged:")[1]


def test_an_answer_holding_too_much_memory_is_stopped_and_reported(graded):
    _, table, _, _ = graded
    row = table["l_memory_hog"]
    assert scores(row) == ("1", "1", "2") and "more memory than a submission may hold" in row["reason"], row


def test_an_answer_reads_no_solution_hidden_test_or_other_submission(graded):
    """The solutions (main notebooks, the repository's history), the gradebook's hidden tests, the teacher's home,
    the other submissions and the CSV's folder are out of the kernel's reach: the probe's 2.1 would score 1."""
    if sandbox.sandbox_command() is None:
        pytest.skip("needs a mount namespace (unshare) to hide the teacher's files; CI has one")
    _, table, _, _ = graded
    assert table["m_reads_teacher_files"]["2.1"] == "0", "an answer read a teacher's file and earned the point"


def test_as_root_an_answer_cannot_signal_the_grader_or_enter_its_root(graded):
    if not confinement.privileged():
        pytest.skip("the kernel runs as another user only when the grader runs as root (CI does)")
    _, table, _, _ = graded
    assert table["m_reads_teacher_files"]["2.2"] == "0", "the kernel could signal nbgrader or read /proc/<pid>/root"


def test_as_root_a_submission_has_a_process_and_a_memory_limit_in_all(graded):
    if not (confinement.privileged() and confinement.JobCgroup.available()):
        pytest.skip("per-submission limits need root and cgroup v1's memory and pids controllers (CI has them)")
    _, table, _, _ = graded
    row = table["n_resource_hog"]
    assert row["2.1"] == "0", "400 processes started: no process limit"
    assert row["2.2"] == "0" and "more memory than it may (4 GiB in all)" in row["reason"], row

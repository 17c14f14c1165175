"""`make grade`: autograde every submission with nbgrader, each in a fresh folder, rows to the grades CSV."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from course.confinement import (
    KERNEL_NAME,
    GradingUsers,
    JobCgroup,
    prepare_unprivileged_job,
    privileged,
    remove_stale_cgroups,
)
from course.flags import answer_flags
from course.grade_report import GradeReport
from course.grades_csv import GradesCsv
from course.grading_plan import with_demonstrations_skipped
from course.layout import assignment_sources, generate, lay_out_course, quick_nbgrader_command
from course.notebooks import HELPERS, POINTS, ROOT, SUFFIX, exercise_of, graded_exercises, nbgrader_meta, read_notebook
from course.repair import repaired
from course.sandbox import (
    DEFAULT_MEMORY_GB,
    GRADE_FOLDER_PREFIX,
    SANDBOX_SCRIPT,
    HeldNamespace,
    Snapshot,
    hidden_and_kept,
    kernel_env,
    mark_as_ours,
    memory_limited,
    namespace_of_job,
    remove_stale_folders,
    sandbox_command,
)

# Inside its job folder every submission is graded as this student: a name like `-h` or `weird[1]` never reaches
# nbgrader's command line or its file patterns. The real name goes into the CSV.
GRADED_AS = "student"


@dataclass
class Submission:
    student: str
    assignment: str
    content: bytes


def find_submissions(folder: Path, assignments: set[str]) -> tuple[list[Submission], list[str]]:
    """`folder/<student>/<NN_name>_assignment.ipynb`, read into memory now (a submission graded later cannot change
    another one's file in between). Returns (submissions, warnings about files that are not assignments)."""
    found, skipped = [], []
    for path in sorted(Path(folder).glob("*/*.ipynb")):
        assignment = path.name.removesuffix(".ipynb").removesuffix(SUFFIX)
        if assignment in assignments and path.name.endswith(f"{SUFFIX}.ipynb"):
            found.append(Submission(path.parent.name, assignment, path.read_bytes()))
        else:
            skipped.append(f"not an assignment of this course, skipped: {path}")
    return found, skipped



def _columns(sources: dict[str, dict]) -> tuple[list[str], dict[str, list[str]]]:
    per_assignment = {a: graded_exercises(nb) for a, nb in sources.items()}
    exercises = [n for numbers in per_assignment.values() for n in numbers]
    return ["student", "assignment", *exercises, "score", "max_score", "reason", "flags"], per_assignment



def _reason(result: subprocess.CompletedProcess | None, notebook: dict | None, run: _Run,
            out_of_memory: bool) -> str:
    if result is None:
        return f"grading took longer than {run.notebook_timeout:.0f} s and was stopped: every exercise scores 0"
    if out_of_memory:
        return (f"the submission held more memory than it may ({run.memory_bytes / 2**30:g} GiB in all) and a "
                "process of it was stopped: the exercises after that score 0")
    log = result.stdout + result.stderr
    if "DeadKernelError" in log or "Kernel died" in log:
        return "the kernel died (the notebook stopped itself): every exercise scores 0"
    if result.returncode != 0 or notebook is None:
        if os.environ.get("VAE_GRADE_DEBUG"):
            print(log, file=sys.stderr)
        status = (f"stopped by signal {-result.returncode}" if result.returncode < 0
                  else f"exit status {result.returncode}")
        last = [line for line in log.splitlines() if line.strip()][-1:] or [f"no output, {status}"]
        return f"nbgrader could not grade this notebook ({last[0].strip()[:160]}): every exercise scores 0"
    reasons = []
    errors_named = {o.get("ename") for c in notebook["cells"] for o in c.get("outputs", [])}
    if "CellTimeoutError" in errors_named:
        reasons.append("a cell ran past the time limit and was interrupted")
    if "MemoryError" in errors_named:
        reasons.append("a cell asked for more memory than a submission may hold and was stopped")
    errors = [c for c in notebook["cells"] if not nbgrader_meta(c).get("grade")
              and any(o.get("output_type") == "error" and o.get("ename") not in ("NotImplementedError",
                                                                                  "CellTimeoutError")
                      for o in c.get("outputs", []))]
    if errors:
        reasons.append(f"errors in {len(errors)} cell(s) outside the test cells")
    return "; ".join(reasons)


def _scores(course: Path, submission: Submission, exercises: list[str]) -> dict[str, float]:
    from nbgrader.api import Gradebook

    notebook = f"{submission.assignment}{SUFFIX}"
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        graded = gradebook.find_submission_notebook(notebook, submission.assignment, GRADED_AS)
        scores = {exercise_of(g.name): float(g.score) for g in graded.grades if g.name.startswith("check-")}
    return {number: scores.get(number, 0.0) for number in exercises}


def _executed(notebook: dict) -> set[str]:
    """Exercises whose test cell really ran (a cell with no outputs and no execution count was never reached)."""
    return {exercise_of(nbgrader_meta(c)["grade_id"]) for c in notebook["cells"]
            if nbgrader_meta(c).get("grade") and c.get("execution_count") is not None}


@dataclass(frozen=True)
class _Run:
    """How every submission of one `grade` call is run."""

    snapshot: Snapshot
    releases: dict[str, dict]
    per_assignment: dict[str, list[str]]
    base: Path
    sandbox: list[str] | None
    cell_timeout: int
    notebook_timeout: float
    memory_bytes: int
    hide: dict[str, str]  # the sandbox's environment that hides the teacher's files (course/sandbox.py)
    users: GradingUsers | None  # as root: a user of its own for each running job's kernel
    cgroups: bool  # a memory and pids control group per submission
    skip_tag: str | None  # the tag of the demonstration cells grading skips (course/grading_plan.py); None: run all
    running: dict = field(default_factory=dict)  # pid of each autograde now running -> its held mount namespace


def grade_submission(submission: Submission, run: _Run, index: int) -> dict:
    """Autograde one submission in a fresh folder; return its CSV row (never raises for a bad notebook)."""
    exercises = run.per_assignment[submission.assignment]
    job = run.base / "jobs" / f"job-{index}"
    root = run.base / "mine" if run.sandbox else job
    try:
        run.snapshot.write(job)
        target = job / "course" / "submitted" / GRADED_AS / submission.assignment
        target.mkdir(parents=True)
        content, repairs = repaired(submission.content, run.releases[submission.assignment])
        if run.skip_tag:
            content, _ = with_demonstrations_skipped(content, run.releases[submission.assignment], run.skip_tag)
        (target / f"{submission.assignment}{SUFFIX}.ipynb").write_bytes(content)
        result, out_of_memory = _autograde(run, job, root, index, submission.assignment)
        graded_path = job / "course" / "autograded" / GRADED_AS / submission.assignment / \
            f"{submission.assignment}{SUFFIX}.ipynb"
        notebook = read_notebook(graded_path) if result is not None and graded_path.is_file() else None
        reason = "; ".join(filter(None, [*(f"repaired: {note}" for note in repairs),
                                         _reason(result, notebook, run, out_of_memory)]))
        scores = dict.fromkeys(exercises, 0.0)
        if notebook is not None and result.returncode == 0:
            ran = _executed(notebook)
            scores = {n: s if n in ran else 0.0 for n, s in _scores(job / "course", submission, exercises).items()}
    finally:
        shutil.rmtree(job, ignore_errors=True)
    try:
        flags = answer_flags(json.loads(submission.content), run.releases[submission.assignment])
    except (ValueError, KeyError, TypeError, AttributeError):
        flags = ["not a valid notebook"]
    return {"student": submission.student, "assignment": submission.assignment, **scores,
            "score": sum(scores.values()), "max_score": float(POINTS * len(exercises)), "reason": reason,
            "flags": "; ".join(flags)}



def _autograde(run: _Run, job: Path, root: Path, index: int, assignment: str):
    """nbgrader autograde, confined (course/sandbox.py, course/confinement.py); returns (the completed process, or
    None if it ran past the time limit and was killed; whether the submission ran out of memory)."""
    command = quick_nbgrader_command("autograde", assignment, f"--student={GRADED_AS}", "--create", "--force",
                               f"--Execute.timeout={run.cell_timeout}", f"--CourseDirectory.root={root / 'course'}")
    env = kernel_env(job, root)
    uid = run.users.take() if run.users else None
    cgroup = JobCgroup(f"{GRADE_FOLDER_PREFIX}{os.getpid()}-{index}", run.memory_bytes) if run.cgroups else None
    try:
        if run.skip_tag:
            command.append(f"--Execute.skip_cells_with_tag={run.skip_tag}")
        if uid is not None:
            env.update(prepare_unprivileged_job(job, root, uid))
            command.append(f"--Execute.kernel_name={KERNEL_NAME}")
        if run.sandbox:
            command = [*run.sandbox, "sh", "-c", SANDBOX_SCRIPT, "sandbox", str(job), str(root),
                       str(run.base / "jobs"), *command]
            env.update(run.hide)
        command = [*memory_limited(run.memory_bytes), *(cgroup.command_prefix() if cgroup else []), *command]
        return _run_job(command, env, run), cgroup is not None and cgroup.ran_out_of_memory()
    finally:
        if cgroup is not None:
            cgroup.kill_and_remove()
        if uid is not None:
            run.users.give_back(uid)


def _run_job(command: list[str], env: dict[str, str], run: _Run) -> subprocess.CompletedProcess | None:
    # Output goes to files, not pipes: a background process the notebook started inherits them, and waiting for a
    # pipe's end would wait for that process (until the notebook's time limit). We wait for nbgrader alone.
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        process = subprocess.Popen(command, cwd=run.base, env=env, stdout=stdout, stderr=stderr, text=True,
                                   start_new_session=True)
        namespace = namespace_of_job(process.pid) if run.sandbox else None
        run.running[process.pid] = namespace
        try:
            process.wait(timeout=run.notebook_timeout)
        except subprocess.TimeoutExpired:
            return None
        finally:
            _kill_job(process.pid, namespace)  # also what the notebook left running in the background
            process.wait()
            run.running.pop(process.pid, None)
        return subprocess.CompletedProcess(command, process.returncode, _read(stdout), _read(stderr))


def _read(output) -> str:
    output.seek(0)
    return output.read()


def _kill_job(pid: int, namespace: HeldNamespace | None) -> None:
    with contextlib.suppress(OSError):
        os.killpg(pid, signal.SIGKILL)
    if namespace is not None:
        namespace.kill_and_release()


def grade(submissions_dir: Path, csv_path: Path, jobs: int = 1, cell_timeout: int = 120,
          notebook_timeout: float = 1800, source_dir: Path | None = None, helpers_dir: Path | None = None,
          memory_gb: float = DEFAULT_MEMORY_GB, all_cells: bool = False) -> list[dict]:
    """Autograde every `submissions_dir/<student>/<NN_name>_assignment.ipynb`; rows go to `csv_path` as they finish.

    Locked demonstration cells whose results no graded cell needs are skipped, unless `all_cells`
    (course/grading_plan.py): every answer, added and test cell still runs, in a fresh kernel.

    Rows already in `csv_path` (same columns) are kept and not graded again, so a killed run resumes.
    """
    for name, value in (("jobs", jobs), ("cell_timeout", cell_timeout), ("notebook_timeout", notebook_timeout),
                        ("memory_gb", memory_gb)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{name} must be a positive number, got {value!r}")
    if not Path(submissions_dir).is_dir():
        raise ValueError(f"submissions_dir must be a folder of <student>/<notebook> files, got {submissions_dir}")
    sources = assignment_sources(source_dir)
    header, per_assignment = _columns(sources)
    log = GradesCsv(csv_path, header)
    submissions, skipped = find_submissions(submissions_dir, set(sources))
    for message in skipped:
        print(message, file=sys.stderr)
    todo = [s for s in submissions if (s.student, s.assignment) not in log.done]
    repeat = [s for s in todo if log.crashes.get((s.student, s.assignment), 0) >= 2]
    suspects = [s for s in todo if log.crashes.get((s.student, s.assignment), 0) == 1]
    innocent = [s for s in todo if (s.student, s.assignment) not in log.crashes]
    report = GradeReport(len(todo), int(jobs), header[2:-4])
    for submission in repeat:
        _record(log, report, _not_graded_again(submission, per_assignment[submission.assignment]))
    remove_stale_folders()
    if privileged() and JobCgroup.available():
        remove_stale_cgroups()
    with _stopped_cleanly_on_sigterm(), tempfile.TemporaryDirectory(prefix=GRADE_FOLDER_PREFIX) as tmp:
        base = Path(tmp)
        mark_as_ours(base)
        needed = {s.assignment: sources[s.assignment] for s in innocent + suspects}
        course = lay_out_course(base / "build", needed)
        generate(course, list(needed))
        releases = {a: read_notebook(course / "release" / a / f"{a}{SUFFIX}.ipynb") for a in needed}
        teacher_files = [ROOT, Path.home(), submissions_dir, Path(csv_path).absolute().parent,
                         *(p for p in (source_dir, helpers_dir) if p is not None)]
        run = _Run(Snapshot(helpers_dir or HELPERS, course), releases, per_assignment, base, sandbox_command(),
                   cell_timeout, notebook_timeout, int(memory_gb * 2**30),
                   hidden_and_kept(teacher_files, base, other_user=privileged()),
                   GradingUsers(int(jobs)) if privileged() else None, privileged() and JobCgroup.available(),
                   None if all_cells else f"vae-grading-skip-{secrets.token_hex(8)}")
        shutil.rmtree(course)
        (base / "jobs").mkdir()
        (base / "mine").mkdir()
        if run.users is not None:  # the kernels' users pass through (not list) to their job's folder
            for folder in (base, base / "jobs", base / "mine"):
                folder.chmod(0o711)
        if run.sandbox is None:
            print("no mount namespace available (unshare): each submission runs in its own folder, but can still "
                  "write wherever this user can; see docs/teacher-guide.md", file=sys.stderr)
        try:
            # Suspects (in flight when a grader died) go last and alone: an innocent one is graded as usual.
            _grade_all(innocent, run, log, report, int(jobs), first_index=0)
            _grade_all(suspects, run, log, report, 1, first_index=len(innocent))
        except (KeyboardInterrupt, SystemExit):
            for pid, namespace in list(run.running.items()):
                _kill_job(pid, namespace)
            log.stopped_cleanly()
            raise
    print(report.summary(), flush=True)
    return report.rows


def _grade_all(submissions: list[Submission], run: _Run, log: GradesCsv, report: GradeReport, jobs: int,
               first_index: int) -> None:
    def graded(index: int, submission: Submission) -> dict:
        log.started(submission.student, submission.assignment)
        return grade_submission(submission, run, index)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(graded, first_index + i, s) for i, s in enumerate(submissions)]
        try:
            for future in as_completed(futures):
                _record(log, report, future.result())
        finally:
            for future in futures:
                future.cancel()


def _record(log: GradesCsv, report: GradeReport, row: dict) -> None:
    log.append(row)
    print(report.row_done(row), flush=True)


def _not_graded_again(submission: Submission, exercises: list[str]) -> dict:
    return {"student": submission.student, "assignment": submission.assignment, **dict.fromkeys(exercises, 0.0),
            "score": 0.0, "max_score": float(POINTS * len(exercises)), "flags": "",
            "reason": "not graded again: the grader stopped twice while grading this submission (it may kill the "
                      "grader); every exercise scores 0 until you grade it by hand"}


@contextlib.contextmanager
def _stopped_cleanly_on_sigterm():
    """SIGTERM (a teacher's `kill`, a closed session) ends the run like Ctrl-C: temporary folders removed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)

"""The grader's bookkeeping, without running nbgrader: the CSV against formula injection, the in-flight journal that
keeps one deadly submission from stopping a course's grading for good, and the folders a killed grader leaves."""

from __future__ import annotations

import csv
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from course import grading, sandbox
from course.grades_csv import GradesCsv, cell_text, text_of

HEADER = ["student", "assignment", "2.1", "score", "max_score", "reason", "flags"]


@pytest.mark.parametrize("name", ["=1+2", "+SUM(A1)", "-h", "@cmd", "\tx", "'quoted", "plain", "weird[1]"])
def test_a_name_is_written_as_text_and_read_back_as_itself(name):
    written = cell_text(name)
    assert not written.startswith(("=", "+", "-", "@", "\t", "\r")) and text_of(written) == name


def row(student: str) -> dict:
    return {"student": student, "assignment": "02_x", "2.1": 1.0, "score": 1.0, "max_score": 1.0, "reason": "",
            "flags": ""}


def test_a_resumed_run_knows_the_students_it_graded_whatever_their_names(tmp_path):
    log = GradesCsv(tmp_path / "g.csv", HEADER)
    for name in ("=1+2", "-h", "ok"):
        log.append(row(name))
    with open(tmp_path / "g.csv", newline="", encoding="utf-8") as handle:
        assert [r[0] for r in csv.reader(handle)][1:] == ["'=1+2", "'-h", "ok"]
    assert GradesCsv(tmp_path / "g.csv", HEADER).done == {("=1+2", "02_x"), ("-h", "02_x"), ("ok", "02_x")}


def test_the_journal_counts_the_deaths_a_submission_was_in_flight_for(tmp_path):
    path = tmp_path / "g.csv"
    first = GradesCsv(path, HEADER)
    first.started("deadly", "02_x")
    first.started("innocent", "02_x")  # the grader dies here: neither row is written
    second = GradesCsv(path, HEADER)
    assert second.crashes == {("deadly", "02_x"): 1, ("innocent", "02_x"): 1}
    second.started("innocent", "02_x")
    second.append(row("innocent"))
    second.started("deadly", "02_x")  # dies again
    assert GradesCsv(path, HEADER).crashes == {("deadly", "02_x"): 2}


def test_a_clean_stop_blames_nobody(tmp_path):
    log = GradesCsv(tmp_path / "g.csv", HEADER)
    log.started("someone", "02_x")
    log.stopped_cleanly()
    assert GradesCsv(tmp_path / "g.csv", HEADER).crashes == {} and not log.journal.exists()


def test_a_submission_in_flight_at_two_deaths_is_recorded_not_graded_again(tmp_path, capsys):
    submissions = tmp_path / "submissions" / "deadly"
    submissions.mkdir(parents=True)
    (submissions / "02_kl_divergence_and_elbo_assignment.ipynb").write_text("{}")
    csv_path = tmp_path / "grades.csv"
    GradesCsv(csv_path, grading._columns(grading.assignment_sources())[0])  # noqa: SLF001
    csv_path.with_name("grades.csv.inflight").write_text("deadly,02_kl_divergence_and_elbo,2\n")
    (row_written,) = grading.grade(tmp_path / "submissions", csv_path)
    assert row_written["score"] == 0.0 and "not graded again" in row_written["reason"]
    assert "not graded or failed: 1" in capsys.readouterr().out


def test_folders_of_a_killed_grader_are_removed_and_live_ones_kept(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    folders = {name: tmp_path / f"{sandbox.GRADE_FOLDER_PREFIX}{name}" for name in ("dead", "live", "new", "old")}
    for folder in folders.values():
        folder.mkdir()
    (folders["dead"] / sandbox.OWNER_FILE).write_text(f"{dead.pid} 1")
    sandbox.mark_as_ours(folders["live"])
    os.utime(folders["old"], (time.time() - 7200, time.time() - 7200))
    removed = sandbox.remove_stale_folders(tmp_path)
    assert sorted(p.name for p in removed) == sorted(folders[n].name for n in ("dead", "old"))
    assert folders["live"].is_dir() and folders["new"].is_dir()


def test_a_graded_answer_reaches_no_server_outside_its_job(tmp_path):
    """The grading sandbox has its own loopback only: a server this test runs on 127.0.0.1 is out of reach."""
    command = sandbox.sandbox_command()
    if command is None or "--net" not in command:
        pytest.skip("needs unshare with a network namespace; CI (root) has one")
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    connect = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=3); print('reached')"
    folders = [tmp_path / name for name in ("job", "seen", "jobs")]
    for folder in folders:
        folder.mkdir()
    try:
        outside = subprocess.run([sys.executable, "-c", connect], capture_output=True, text=True, timeout=30)
        inside = subprocess.run([*command, "sh", "-c", sandbox.SANDBOX_SCRIPT, "sandbox", *map(str, folders),
                                 sys.executable, "-c", connect], capture_output=True, text=True, timeout=30)
    finally:
        server.close()
    assert outside.stdout.strip() == "reached", outside.stderr
    assert inside.returncode != 0 and "reached" not in inside.stdout and "ConnectionRefused" in inside.stderr


def test_a_grading_process_cannot_hold_more_memory_than_its_limit():
    prefix = sandbox.memory_limited(int(sandbox.DEFAULT_MEMORY_GB * 2**30))
    assert prefix, "prlimit (util-linux) is missing: the grader would run without a memory limit"
    hog = subprocess.run([*prefix, sys.executable, "-c", "bytearray(6 << 30)"], capture_output=True, text=True,
                         timeout=60)
    assert hog.returncode != 0 and "MemoryError" in hog.stderr
    fits = subprocess.run([*prefix, sys.executable, "-c", "import torch; torch.zeros(64, 2**20)"],
                          capture_output=True, text=True, timeout=120)
    assert fits.returncode == 0, f"a torch process with 256 MB must fit: {fits.stderr[-300:]}"


def test_the_folders_to_hide_never_include_the_jobs_or_a_folder_inside_another(tmp_path):
    teacher, jobs = tmp_path / "teacher", tmp_path / "teacher" / "tmp" / "vae-grade-x"
    (teacher / "course").mkdir(parents=True)
    jobs.mkdir(parents=True)
    other = tmp_path / "submissions"
    other.mkdir()
    (other / "grades.csv").write_text("")
    env = sandbox.hidden_and_kept([teacher / "course", teacher, other / "grades.csv", Path("/"), tmp_path / "gone"],
                                  tmp_path / "elsewhere")
    assert env["VAE_SANDBOX_HIDE"].split("\n") == [str(other.resolve()), str(teacher.resolve())]
    env = sandbox.hidden_and_kept([teacher, other], jobs)
    assert env["VAE_SANDBOX_HIDE"].split("\n") == [str(other.resolve())], "the jobs' own folder stays visible"


def test_the_sandbox_hides_the_teachers_folders_and_keeps_this_python(tmp_path):
    command = sandbox.sandbox_command()
    if command is None:
        pytest.skip("needs a mount namespace (unshare); CI (root) has one")
    teacher = tmp_path / "teacher"
    teacher.mkdir()
    (teacher / "solutions.txt").write_text("2.1: ...")
    folders = [tmp_path / name for name in ("job", "seen", "jobs")]
    for folder in folders:
        folder.mkdir()
    python_home = Path(sys.prefix).resolve()
    env = {**os.environ, **sandbox.hidden_and_kept([teacher, python_home.parent], tmp_path / "jobs",
                                                   other_user=os.geteuid() == 0)}
    probe = f"import pathlib, torch; print(pathlib.Path({str(teacher / 'solutions.txt')!r}).exists())"
    inside = subprocess.run([*command, "sh", "-c", sandbox.SANDBOX_SCRIPT, "sandbox", *map(str, folders),
                             sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, env=env)
    assert inside.returncode == 0, inside.stderr[-500:]
    assert inside.stdout.strip() == "False", "the teacher's folder is still visible"
    assert str(python_home.parent) in env["VAE_SANDBOX_HIDE"] and str(python_home) in env["VAE_SANDBOX_KEEP"]


def test_killing_a_finished_jobs_namespace_spares_the_job_started_after_it():
    """Linux gives a freed namespace's id to the next one created: a job whose processes all exited would share its
    id with a job just started on the other worker, and "kill every process in it" killed that job (a solved
    notebook graded 0, "stopped by signal 9", in about one batch of two). A held namespace is not freed."""
    command = sandbox.sandbox_command()
    if command is None:
        pytest.skip("needs a mount namespace (unshare); CI (root) has one")
    finished = subprocess.Popen([*command, "sleep", "0.3"])
    held = sandbox.namespace_of_job(finished.pid)
    finished.wait()
    started = subprocess.Popen([*command, "sleep", "30"])
    later = sandbox.namespace_of_job(started.pid)
    try:
        assert later is not None and held is not None and held.kill_and_release() == 0
        time.sleep(0.2)
        assert started.poll() is None, "the next job was killed with the finished job's namespace"
    finally:
        if later is not None:
            later.kill_and_release()
        started.wait()

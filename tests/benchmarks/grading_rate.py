"""`make bench`'s grading section: how fast `make grade` grades a class, on fabricated submissions.

Student k of the sample solves the first k mod (n + 1) exercises of each assignment (n = the assignment's exercises):
solved, partly solved and unsolved notebooks in the proportions of a class that did part of the work. Every
submission's score must come out as fabricated; the rate per submission is extrapolated to a course of 200 students
and the six assignments. README's grading line is written from the record (a test checks that they agree).
"""

from __future__ import annotations

import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path

from course import grading, notebooks
from tests.generated_block import read_block, write_block

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
BEGIN = "<!-- grading rate: written by `make bench` from tests/benchmarks/results.json, do not edit -->"
END = "<!-- end of grading rate -->"
COURSE_STUDENTS = 200
GOAL_MINUTES = 60


def assignments() -> list[str]:
    return sorted(p.name.removesuffix(f"{notebooks.SUFFIX}.ipynb") for p in notebooks.ASSIGNMENTS.glob("*.ipynb"))


def fabricate(folder: Path, students: int) -> dict[tuple[str, str], float]:
    """Write the sample's submissions into `folder`; returns the score each one must get."""
    from tests.test_grading import load, solve

    expected = {}
    for assignment in assignments():
        name = f"{assignment}{notebooks.SUFFIX}.ipynb"
        student = load(notebooks.ASSIGNMENTS / name)
        main = load(notebooks.NOTEBOOKS / f"{assignment}.ipynb")
        exercises = notebooks.graded_exercises(main)
        for k in range(students):
            solved = exercises[:k % (len(exercises) + 1)]
            (folder / f"student{k:03d}").mkdir(parents=True, exist_ok=True)
            (folder / f"student{k:03d}" / name).write_text(json.dumps(solve(student, main, set(solved))))
            expected[f"student{k:03d}", assignment] = float(notebooks.POINTS * len(solved))
    return expected


def measure(students: int = 10, jobs: int = 2) -> dict:
    """Grade the sample with `make grade`'s code (its progress lines go to stderr); the rate and the course's time."""
    with tempfile.TemporaryDirectory(prefix="vae-bench-grading-") as tmp:
        submissions = Path(tmp) / "submissions"
        expected = fabricate(submissions, students)
        print(f"[bench grading] {len(expected)} fabricated submissions, JOBS={jobs}", file=sys.stderr)
        start = time.perf_counter()
        with contextlib.redirect_stdout(sys.stderr):
            rows = grading.grade(submissions, Path(tmp) / "grades.csv", jobs=jobs)
        seconds = time.perf_counter() - start
    mismatches = [f"{row['student']} {row['assignment']}: {row['score']:g} instead of "
                  f"{expected[row['student'], row['assignment']]:g} ({row['reason'] or 'no reason'})"
                  for row in rows if row["score"] != expected[row["student"], row["assignment"]]]
    per_submission = seconds / len(rows)
    return {"students": students, "assignments": len(assignments()), "submissions": len(rows), "jobs": jobs,
            "seconds": seconds, "per_submission_s": per_submission, "scores_as_fabricated": len(rows) - len(mismatches),
            "mismatches": mismatches, "course_minutes": per_submission * COURSE_STUDENTS * len(assignments()) / 60}


def table(entry: dict) -> list[str]:
    verdict = "met" if entry["course_minutes"] <= GOAL_MINUTES else "NOT met"
    return [f"## Grading rate (`make grade JOBS={entry['jobs']}`, {entry['submissions']} fabricated submissions)", "",
            "| submissions | scores as fabricated | seconds | per submission (s) | "
            f"{COURSE_STUDENTS} students × {entry['assignments']} assignments (min) |",
            "| ---: | ---: | ---: | ---: | ---: |",
            f"| {entry['submissions']} | {entry['scores_as_fabricated']} | {entry['seconds']:.0f} | "
            f"{entry['per_submission_s']:.2f} | {entry['course_minutes']:.0f} |", "",
            f"Goal: a course in {GOAL_MINUTES} minutes or less on the 2-core machine: {verdict}.", ""]


def readme_line(record: dict) -> str:
    entry, stamp = record["grading"], record["measured"]["grading"]
    return (f"Grading speed: {entry['per_submission_s']:.1f} s per submission with `make grade JOBS={entry['jobs']}`, "
            f"so {COURSE_STUDENTS} students × {entry['assignments']} assignments take about "
            f"{entry['course_minutes']:.0f} minutes (measured {stamp['date']} by `make bench` on {stamp['machine']}, "
            f"{entry['submissions']} fabricated submissions; [Performance](docs/performance.md)).")


def readme_block(page: Path = README) -> str:
    return read_block(page, BEGIN, END)


def write_readme(record: dict, page: Path = README) -> None:
    write_block(page, BEGIN, END, readme_line(record))

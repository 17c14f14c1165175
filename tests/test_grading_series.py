"""`make grade` on every assignment of the series, as grading runs them (locked demonstration cells skipped,
course/grading_plan.py), through the bench's grading section: solved, partly solved and unsolved notebooks of four
fabricated students must score exactly what they solved. Also keeps that bench section from rotting."""

from __future__ import annotations

import pytest

from tests.benchmarks import grading_rate

pytestmark = pytest.mark.slow  # it grades 24 submissions (about 45 s); `make check` grades nothing, `make test` does

STUDENTS = 4  # student k solves the first k mod (n + 1) exercises: each assignment gets 0, some and all solved


@pytest.fixture(scope="module")
def entry():
    return grading_rate.measure(students=STUDENTS, jobs=2)


def test_every_submission_scores_what_it_solved(entry):
    assert entry["mismatches"] == [] and entry["submissions"] == STUDENTS * len(grading_rate.assignments()) == 24
    assert entry["scores_as_fabricated"] == entry["submissions"]


def test_the_rate_is_measured_and_extrapolated_to_a_course(entry):
    assert 0 < entry["per_submission_s"] < 120
    course = entry["per_submission_s"] * grading_rate.COURSE_STUDENTS * entry["assignments"] / 60
    assert entry["course_minutes"] == pytest.approx(course)
    table = "\n".join(grading_rate.table(entry))
    assert "| 24 | 24 |" in table and ("met" in table)

"""What `make grade` prints: a line per graded submission with progress, rate and time left, then a summary."""

from __future__ import annotations

import statistics
import time

from course.notebooks import POINTS

STUDENTS, ASSIGNMENTS = 200, 6  # the course size the rate is extrapolated to (issue 26: ≤ 60 min on 2 cores)


class GradeReport:
    def __init__(self, total: int, jobs: int, exercises: list[str]) -> None:
        self.total, self.jobs, self.exercises = total, jobs, exercises
        self.rows: list[dict] = []
        self.started = time.monotonic()

    def row_done(self, row: dict) -> str:
        self.rows.append(row)
        done, elapsed = len(self.rows), time.monotonic() - self.started
        left = (self.total - done) * elapsed / done
        verdict = f"{row['score']:g}/{row['max_score']:g}  {row['reason']}  {row['flags']}".rstrip()
        return (f"[{done}/{self.total}] {row['student']} {row['assignment']}: {verdict}"
                f"  ({60 * done / elapsed:.1f} per min, about {_duration(left)} left)")

    def summary(self) -> str:
        if not self.rows:
            return "nothing to grade: every submission already has a row in the CSV"
        elapsed = time.monotonic() - self.started
        per_submission = elapsed / len(self.rows)
        course = STUDENTS * ASSIGNMENTS * per_submission
        lines = [f"graded {len(self.rows)} submissions in {_duration(elapsed)} with JOBS={self.jobs}: "
                 f"{per_submission:.1f} s each; at this rate {STUDENTS} students x {ASSIGNMENTS} assignments "
                 f"take about {_duration(course)}", "score per exercise (graded submissions of it):"]
        for number in self.exercises:
            scores = [float(row[number]) for row in self.rows if row.get(number, "") != ""]
            if scores:
                full, zero = sum(s >= POINTS for s in scores), sum(s == 0 for s in scores)
                lines.append(f"  {number}: mean {statistics.fmean(scores):.2f}, full marks {full}, zero {zero}"
                             f" of {len(scores)}")
        failed = [row for row in self.rows if "scores 0" in row["reason"] or "not graded" in row["reason"]]
        flagged = [row for row in self.rows if row["flags"]]
        for title, chosen, column in (("not graded or failed", failed, "reason"), ("flagged", flagged, "flags")):
            lines.append(f"{title}: {len(chosen)}")
            lines += [f"  {row['student']} {row['assignment']}: {row[column]}" for row in chosen]
        return "\n".join(lines)


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"

"""The grades CSV: one row appended and flushed per graded submission, so a killed run resumes.

Beside it, `<csv>.inflight` lists the submissions being graded right now. A grader that was killed (by the system,
or by a submission that reached it) leaves their names there: the next run grades those suspects last and one at
a time, and a submission found in flight twice is not graded a third time but recorded with a reason.
"""

from __future__ import annotations

import csv
import os
import threading
from pathlib import Path

# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection): such text gets a leading '.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class GradesCsv:
    """The grades CSV, one row appended (and flushed to disk) per graded submission; resumable."""

    def __init__(self, path: Path, header: list[str]) -> None:
        self.path, self.header, self.lock = Path(path), header, threading.Lock()
        self.journal = self.path.with_name(self.path.name + ".inflight")
        self.done: set[tuple[str, str]] = set()
        if self.path.is_file() and self.path.stat().st_size:
            with open(self.path, newline="", encoding="utf-8") as handle:
                reader = csv.reader(handle)
                if next(reader, None) != header:
                    raise ValueError(f"csv {self.path} was written for other notebooks (its columns differ): "
                                     "choose another file or delete it")
                self.done = {(text_of(row[0]), text_of(row[1])) for row in reader if len(row) == len(header)}
        else:
            self._write([header], "w")
        self.crashes = self._read_journal()  # (student, assignment) -> times it was in flight when a grader died
        self.inflight: dict[tuple[str, str], int] = {}

    def append(self, row: dict) -> None:
        with self.lock:
            self._write([[cell_text(row.get(column, "")) for column in self.header]], "a")
            self.inflight.pop((row["student"], row["assignment"]), None)
            self._write_journal()

    def started(self, student: str, assignment: str) -> None:
        """Note that a submission is being graded (kept until its row is written, or the run stops cleanly)."""
        with self.lock:
            self.inflight[(student, assignment)] = self.crashes.get((student, assignment), 0) + 1
            self._write_journal()

    def stopped_cleanly(self) -> None:
        """The run was interrupted on purpose (Ctrl-C, SIGTERM): the submissions in flight are not to blame."""
        with self.lock:
            self.inflight.clear()
            self._write_journal()

    def _read_journal(self) -> dict[tuple[str, str], int]:
        if not self.journal.is_file():
            return {}
        with open(self.journal, newline="", encoding="utf-8") as handle:
            return {(row[0], row[1]): int(row[2]) for row in csv.reader(handle) if len(row) == 3 and row[2].isdigit()}

    def _write_journal(self) -> None:
        rows = [[student, assignment, str(count)] for (student, assignment), count in self.inflight.items()]
        temporary = self.journal.with_name(self.journal.name + ".tmp")
        with open(temporary, "w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows(rows)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.journal)
        if not rows:
            self.journal.unlink(missing_ok=True)

    def _write(self, rows: list[list], mode: str) -> None:
        with open(self.path, mode, newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows(rows)
            handle.flush()
            os.fsync(handle.fileno())


def cell_text(value) -> str:
    """What the CSV holds for `value`: numbers as %g, text that a spreadsheet would run as a formula quoted by '."""
    if isinstance(value, float):
        return f"{value:g}"
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) or text.startswith("'") else text


def text_of(cell: str) -> str:
    """The value `cell_text` wrote (so that a resumed run recognises the student `=1+2` it already graded)."""
    return cell[1:] if cell.startswith("'") else cell

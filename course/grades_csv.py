"""The grades CSV: one row appended and flushed per graded submission, so a killed run resumes."""

from __future__ import annotations

import csv
import os
import threading
from pathlib import Path


class GradesCsv:
    """The grades CSV, one row appended (and flushed to disk) per graded submission; resumable."""

    def __init__(self, path: Path, header: list[str]) -> None:
        self.path, self.header, self.lock = Path(path), header, threading.Lock()
        self.done: set[tuple[str, str]] = set()
        if self.path.is_file() and self.path.stat().st_size:
            with open(self.path, newline="", encoding="utf-8") as handle:
                reader = csv.reader(handle)
                if next(reader, None) != header:
                    raise ValueError(f"csv {self.path} was written for other notebooks (its columns differ): "
                                     "choose another file or delete it")
                self.done = {(row[0], row[1]) for row in reader if len(row) == len(header)}
        else:
            self._write([header], "w")

    def append(self, row: dict) -> None:
        with self.lock:
            self._write([[_cell(row.get(column, "")) for column in self.header]], "a")

    def _write(self, rows: list[list], mode: str) -> None:
        with open(self.path, mode, newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows(rows)
            handle.flush()
            os.fsync(handle.fileno())


def _cell(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)

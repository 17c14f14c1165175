"""`python -m course tag`: nbgrader metadata in the main notebooks (solution, test and locked cells)."""

from __future__ import annotations

import copy
import re
import secrets
from pathlib import Path

from course.notebooks import (
    BEGIN,
    CHECK_CALL,
    EXERCISE_HEADING,
    HIDDEN_BEGIN,
    HIDDEN_END,
    HIDDEN_SEED,
    NBVAL_MARKER,
    NOTEBOOKS,
    Exercise,
    cell_meta,
    cell_source,
    find_exercises,
    make_grade_id,
    nbgrader_meta,
    read_notebook,
)


def _test_cell_source(text: str, where: str) -> tuple[str, str]:
    """(source of the test cell, name of its check): import, visible call, hidden call with a kept or new seed."""
    calls = CHECK_CALL.findall(text)
    if not calls:
        raise ValueError(f"{where}: the cell after a solution must call its check, like `check_x(x)`; got {text!r}")
    check, fn = calls[0]
    seed = HIDDEN_SEED.search(text)
    seed = seed.group(1) if seed else str(secrets.randbelow(900_000) + 100_000)  # drawn once, then kept
    lines = [NBVAL_MARKER, f"from helpers.checks import {check}", "", f"{check}({fn})",
             HIDDEN_BEGIN, f"{check}({fn}, seed={seed})", HIDDEN_END]
    return "\n".join(lines), check


def _drop_check_imports(text: str, checks: set[str]) -> str:
    """Remove `from helpers.checks import …` lines that only import checks the test cells import themselves."""
    kept = []
    for line in text.split("\n"):
        match = re.match(r"^from helpers\.checks import (.+)$", line.strip())
        names = {n.strip() for n in match.group(1).split(",")} if match else set()
        if not (names and names <= checks):
            kept.append(line)
    return "\n".join(kept)


def tag_notebook(nb: dict, where: str = "notebook") -> dict:
    """A copy of `nb` with nbgrader metadata: solution cells, test cells (1 point, hidden part), the rest locked.

    Idempotent: tagging a tagged notebook changes nothing (hidden-test seeds are drawn once, then kept).
    """
    nb = copy.deepcopy(nb)
    current, after_solution, checks = None, False, set()
    for index, cell in enumerate(nb["cells"]):
        text, meta = cell_source(cell), cell.setdefault("metadata", {})
        if "id" not in cell:
            raise ValueError(f"{where} cell {index} has no id: save the notebook with nbformat ≥ 4.5")
        if cell["cell_type"] == "markdown":
            headings = EXERCISE_HEADING.findall(text)
            current = Exercise(*headings[-1]) if headings else current
        if cell["cell_type"] == "code" and BEGIN in text:
            if current is None:
                raise ValueError(f"{where} cell {index}: a solution with no `### Exercise N.M — title` above")
            meta["nbgrader"] = cell_meta(make_grade_id("answer", current.number), solution=True)
            after_solution = True
        elif cell["cell_type"] == "code" and after_solution:
            cell["source"], check = _test_cell_source(text, f"{where} cell {index}")
            checks.add(check)
            meta["nbgrader"] = cell_meta(make_grade_id("check", current.number), grade=True, locked=True)
            after_solution = False
        else:
            meta["nbgrader"] = cell_meta(f"cell-{cell['id']}", locked=True)
    for cell in nb["cells"]:
        if cell["cell_type"] == "code" and not nbgrader_meta(cell).get("grade"):
            cell["source"] = _drop_check_imports(cell_source(cell), checks)
    if after_solution:
        raise ValueError(f"{where}: the last solution has no test cell after it")
    return nb


def tag(paths: list[Path] | None = None) -> list[Path]:
    """Tag the main notebooks that have exercises, in place; return the ones that changed."""
    changed = []
    for path in paths or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        nb = read_notebook(path)
        if not find_exercises(nb):
            continue
        text = path.read_text(encoding="utf-8")
        tagged = _as_jupyter_writes_it(tag_notebook(nb, path.name))
        if tagged != text:
            path.write_text(tagged, encoding="utf-8")
            changed.append(path)
    return changed


def _as_jupyter_writes_it(nb: dict) -> str:
    """The notebook's text as JupyterLab and nbconvert save it (sources as lists of lines), so that tagging a
    notebook that needs no new metadata leaves its file byte for byte as it was."""
    import nbformat

    return nbformat.writes(nbformat.from_dict(nb)) + "\n"


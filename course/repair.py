"""Student accidents undone before autograde: copied, split, retyped, moved or deleted cells; cell ids."""

from __future__ import annotations

import copy
import json
import secrets

from course.notebooks import cell_source, nbgrader_meta


def repair_submission(nb: dict, release: dict) -> list[str]:
    """Undo, in place, the damage students do to a notebook without meaning to; return what was done, in words.

    nbgrader refuses a notebook with two cells of one grade id (a copy-pasted or split cell: jupyter/nbgrader#1083)
    and grades 0 when an answer cell became Markdown or a check cell moved above its answer. So, before autograde:
    answer cells turned Markdown/raw become code again; copies of one answer cell next to each other (a split, or a
    paste right below) are joined into one, the last; copies elsewhere become ordinary cells and the last one is
    graded; extra copies of a locked cell are dropped; the hand-out's cells go back into its order, each with the
    cells the student added after it; deleted hand-out cells are put back; missing or repeated cell ids (a notebook
    saved by an older or newer JupyterLab) are renewed.
    """
    handout = {nbgrader_meta(c)["grade_id"]: c for c in release["cells"] if nbgrader_meta(c).get("grade_id")}
    notes = _retype_answer_cells(nb, handout) + _merge_copies(nb, handout) + _restore_order(nb, release)
    notes += _restore_deleted(nb, release) + _renew_cell_ids(nb, release)
    return notes


def _known_id(cell: dict, handout: dict) -> str | None:
    grade_id = nbgrader_meta(cell).get("grade_id")
    return grade_id if grade_id in handout else None


def _retype_answer_cells(nb: dict, handout: dict) -> list[str]:
    notes = []
    for cell in nb["cells"]:
        grade_id = _known_id(cell, handout)
        if grade_id and handout[grade_id]["cell_type"] == "code" and cell.get("cell_type") != "code":
            notes.append(f"the cell {grade_id} was {cell.get('cell_type')}: turned back into code")
            cell.update(cell_type="code", outputs=[], execution_count=None)
            cell.pop("attachments", None)
    return notes


def _merge_copies(nb: dict, handout: dict) -> list[str]:
    notes, cells = [], nb["cells"]
    for grade_id in handout:
        where = [i for i, c in enumerate(cells) if _known_id(c, handout) == grade_id]
        if len(where) < 2:
            continue
        if nbgrader_meta(handout[grade_id]).get("solution"):
            for first, second in reversed(list(zip(where, where[1:]))):
                if second == first + 1:  # a split, or a paste right below: one answer in two cells
                    cells[second]["source"] = cell_source(cells[first]).rstrip("\n") + "\n" + cell_source(cells[second])
                    cells[first] = None
            kept = [i for i in where if cells[i] is not None]
            for i in kept[:-1]:  # copies elsewhere still run, as the student's own cells; the last is graded
                cells[i]["metadata"].pop("nbgrader", None)
            notes.append(f"the answer cell {grade_id} was there {len(where)} times (copy-paste or split): graded the "
                         f"last copy" + (", with the pieces next to it joined" if len(kept) < len(where) else ""))
        else:  # the teacher's cell: keep the copy that sits where the hand-out has it (else the last)
            in_handout = _previous_id(list(handout.values()), list(handout).index(grade_id), handout)
            keep = next((i for i in where if _previous_id(cells, i, handout) == in_handout), where[-1])
            for i in where:
                if i != keep:
                    cells[i] = None
            notes.append(f"the locked cell {grade_id} was there {len(where)} times (copy-paste): kept one")
        cells[:] = [c for c in cells if c is not None]
    return notes


def _previous_id(cells: list, index: int, handout: dict) -> str | None:
    """The grade id of the nearest hand-out cell before `cells[index]` that is not a copy of it."""
    own = _known_id(cells[index], handout)
    earlier = (_known_id(c, handout) for c in reversed(cells[:index]) if c is not None)
    return next((g for g in earlier if g not in (None, own)), None)


def _restore_order(nb: dict, release: dict) -> list[str]:
    """The hand-out's cells in the hand-out's order; a cell the student added moves with the hand-out cell above it."""
    order = [nbgrader_meta(c).get("grade_id") for c in release["cells"] if nbgrader_meta(c).get("grade_id")]
    head, groups = [], []
    for cell in nb["cells"]:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if grade_id in order:
            groups.append((order.index(grade_id), [cell]))
        elif groups:
            groups[-1][1].append(cell)
        else:
            head.append(cell)
    if [rank for rank, _ in groups] == sorted(rank for rank, _ in groups):
        return []
    nb["cells"] = head + [cell for _, group in sorted(groups, key=lambda g: g[0]) for cell in group]
    return ["cells had been moved: put back in the hand-out's order (added cells move with the cell above them)"]


def _restore_deleted(nb: dict, release: dict) -> list[str]:
    """Every nbgrader cell the submission deleted, put back from the student version where it was (nbgrader itself
    puts back deleted test cells only, and fails when the cell before one was deleted too)."""
    present = {nbgrader_meta(c).get("grade_id") for c in nb["cells"]}
    position, restored = 0, 0
    for cell in release["cells"]:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if grade_id in present:
            position = next(i for i, c in enumerate(nb["cells"]) if nbgrader_meta(c).get("grade_id") == grade_id) + 1
        elif grade_id:
            nb["cells"].insert(position, copy.deepcopy(cell))
            position, restored = position + 1, restored + 1
    return [f"{restored} deleted hand-out cell(s) put back"] if restored else []


def _renew_cell_ids(nb: dict, release: dict) -> list[str]:
    """nbformat 4.5 wants a unique id on every cell; 4.4 (older JupyterLab) has none: give the release's format."""
    minor = release.get("nbformat_minor", 5)
    ids = [c.get("id") for c in nb["cells"]]
    renew = minor >= 5 and (None in ids or len(set(ids)) < len(ids))
    changed = renew or nb.get("nbformat_minor") != minor
    if renew:
        seen = set()
        for cell in nb["cells"]:
            if not isinstance(cell.get("id"), str) or cell["id"] in seen:
                cell["id"] = secrets.token_hex(4)
            seen.add(cell["id"])
    nb["nbformat"], nb["nbformat_minor"] = 4, minor
    return ["cell ids missing or repeated, or another nbformat (saved by another JupyterLab version): renewed"] \
        if changed else []


def repaired(content: bytes, release: dict) -> tuple[bytes, list[str]]:
    """The submission after `repair_submission`, and its notes (unchanged when it is not a notebook at all)."""
    try:
        nb = json.loads(content)
        if not isinstance(nb, dict) or not all(isinstance(c, dict) for c in nb["cells"]):
            raise TypeError
        notes = repair_submission(nb, release)
    except (ValueError, KeyError, TypeError, AttributeError):
        return content, []  # not a notebook: nbgrader says so in the reason column
    return json.dumps(nb).encode(), notes


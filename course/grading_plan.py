"""Which locked demonstration cells autograde may skip, because no graded cell needs what they compute.

Grading runs every cell a student wrote or could have changed (answer cells, cells they added) and every test cell,
in a fresh kernel, in order. A locked cell (the hand-out's own code, restored from the gradebook by nbgrader) that
only trains or draws for the reader is skipped when nothing after it that runs reads or changes a name it touches.

The reading is static (Python's own symbol tables) and errs towards running: a cell is kept when it imports, or
mentions at global level (reads, assigns, mutates through a method) any name that a kept cell after it reads, other
than modules and imported functions; every cell is kept when a cell that runs reaches names dynamically
(`globals()`, `exec`, `sys.modules`, `__main__`, ...) or a cell does not parse. Global random state is not carried:
the checks draw their cases from their own seeds, and a correct answer passes whatever the state.

Skipped cells get a grading-only tag that nbclient skips (`--Execute.skip_cells_with_tag`); the tag is made per
run, so a student cannot mark a test cell with it.
"""

from __future__ import annotations

import ast
import builtins
import json
import symtable

from course.notebooks import nbgrader_meta

# Names, attributes and strings through which code reaches variables without naming them: with one of these in a
# cell that runs, skip nothing.
DYNAMIC_NAMES = {"globals", "locals", "vars", "eval", "exec", "get_ipython", "__import__", "sys", "inspect", "gc"}
DYNAMIC_ATTRIBUTES = {"__dict__", "__main__", "__builtins__", "f_globals", "f_locals", "f_back", "user_ns", "modules"}
DYNAMIC_ACCESS = DYNAMIC_NAMES | DYNAMIC_ATTRIBUTES


def _python(source: str) -> str | None:
    """The cell as plain Python (IPython's magics turned into calls), or None when it does not parse."""
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        code = TransformerManager().transform_cell(source)
        ast.parse(code)
    except (SyntaxError, ValueError):
        return None
    return code


def _global_names(table: symtable.SymbolTable) -> tuple[set[str], set[str]]:
    """(global names the cell's code mentions: reads, assigns, deletes or declares; the global names it reads).
    A function's parameters and locals are its own: only the globals it reaches count."""
    module = table.get_type() == "module"
    mentioned, read = set(), set()
    for symbol in table.get_symbols():
        if module or symbol.is_global() or symbol.is_declared_global():
            mentioned.add(symbol.get_name())
            if symbol.is_referenced() or symbol.is_declared_global():
                read.add(symbol.get_name())
    for child in table.get_children():
        child_mentioned, child_read = _global_names(child)
        mentioned |= child_mentioned
        read |= child_read
    return mentioned, read


def _names(code: str) -> tuple[set[str], set[str], set[str], set[str]]:
    """(global names mentioned, global names read, names its import statements bind, attribute and string names
    through which code reaches variables dynamically)."""
    mentioned, read = _global_names(symtable.symtable(code, "<cell>", "exec"))
    imported, dynamic = set(), set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            imported.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.Attribute) and node.attr in DYNAMIC_ATTRIBUTES:
            dynamic.add(node.attr)
        elif isinstance(node, ast.Constant) and node.value in DYNAMIC_ATTRIBUTES:
            dynamic.add(node.value)
    return mentioned, read, imported, dynamic | (read & DYNAMIC_NAMES)


def _is_demonstration(cell: dict) -> bool:
    meta = nbgrader_meta(cell)
    return (cell.get("cell_type") == "code" and meta.get("locked") is True and not meta.get("grade")
            and not meta.get("solution"))


def skippable_cells(submission: dict, release: dict) -> list[int]:
    """Indices of the submission's code cells that grading may skip: locked demonstration cells of the hand-out
    (`release`) whose results no cell that runs after them needs. [] when the reading is not sure."""
    demonstrations = {nbgrader_meta(c)["grade_id"]: "".join(c["source"]) for c in release["cells"]
                      if _is_demonstration(c)}
    cells = []
    for index, cell in enumerate(submission["cells"]):
        if cell.get("cell_type") != "code":
            continue
        grade_id = nbgrader_meta(cell).get("grade_id")
        demo = grade_id in demonstrations
        code = _python(demonstrations[grade_id] if demo else "".join(cell.get("source", "")))
        if code is None:
            return []
        cells.append((index, demo, *_names(code)))
    modules = set().union(*(imported for *_, imported, _ in cells)) | set(dir(builtins))
    wanted, skipped = set(), []
    for index, demo, mentioned, read, imported, dynamic in reversed(cells):
        if demo and not imported and not (mentioned - modules) & wanted:
            skipped.append(index)
            continue
        if dynamic:
            return []
        wanted |= read - modules
    return sorted(skipped)


def with_demonstrations_skipped(content: bytes, release: dict, tag: str) -> tuple[bytes, int]:
    """The submission with `tag` on each cell grading may skip, and how many; unchanged when it is not a notebook."""
    try:
        nb = json.loads(content)
        skipped = skippable_cells(nb, release)
        for index in skipped:
            metadata = nb["cells"][index].setdefault("metadata", {})
            metadata["tags"] = [*metadata.get("tags", []), tag]
    except (ValueError, KeyError, TypeError, AttributeError, IndexError):
        return content, 0
    return json.dumps(nb).encode(), len(skipped)

"""Flags in the grades CSV: what an answer cell should not do (call a tested copy, read files, ...)."""

from __future__ import annotations

import ast
from dataclasses import dataclass

from course.notebooks import cell_source, exercise_of, graded_exercises, nbgrader_meta


@dataclass(frozen=True)
class _Rule:
    flag: str
    names: frozenset = frozenset()
    attributes: frozenset = frozenset()
    modules: tuple = ()


def _forbidden_names(exercises: list[str]) -> frozenset:
    """Names of the tested copies (and ruled-out library calls) that the answers to `exercises` must not call."""
    from helpers.checks import FORBIDDEN

    names = set()
    for number in exercises:
        for label, target in FORBIDDEN.get(number, []):
            names.add(target.rsplit(".", 1)[-1] if isinstance(target, str) else target.__name__)
            names.add(label.split()[0].rsplit(".", 1)[-1])
    return frozenset(names)


def _calls_of(tree: ast.AST, forbidden: frozenset) -> set[str]:
    """The forbidden names a cell uses: imported, read as a module attribute, or read as a name the cell does not
    define itself (an answer that defines `reparameterize` is the student's own function, not the tested copy)."""
    defined = {node.name for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    defined |= {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)}
    used = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in defined:
            used.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
            used.add(node.attr)
        elif isinstance(node, ast.ImportFrom):
            used |= {alias.name for alias in node.names}
    return used & forbidden


_BUILTIN_NAMES = frozenset({"print", "__import__", "exec", "eval", "compile", "open", "input", "isinstance"})
_RULES = (
    _Rule("touches helpers.checks", names=frozenset({"RESULTS", "CheckOutcome", "exercise"}),
          attributes=frozenset({"checks", "core", "RESULTS", "AUTOGRADING"}), modules=("helpers.checks",)),
    _Rule("patches builtins or output", names=frozenset({"builtins", "__builtins__", "setattr"}),
          attributes=frozenset({"stdout", "stderr", "displayhook", "setprofile", "settrace"}),
          modules=("builtins",)),
    _Rule("files, processes or environment", names=frozenset({"open", "exit", "quit"}),
          attributes=frozenset({"_exit", "system", "remove", "unlink", "rmtree", "rename", "write_text",
                                "write_bytes", "copyfile", "chmod", "kill", "environ", "putenv", "popen"}),
          modules=("subprocess", "shutil", "signal", "ctypes")),
    # A check's reference sits in its frames while it runs, and its module can be re-imported with the grading
    # switch off: no exercise needs a frame, a module reload or the garbage collector's view of objects.
    _Rule("inspects frames or reloads modules", names=frozenset({"vars", "globals", "locals", "_getframe"}),
          attributes=frozenset({"_getframe", "currentframe", "getouterframes", "f_back", "f_locals", "f_globals",
                                "tb_frame", "gi_frame", "reload", "import_module", "get_referrers", "get_objects"}),
          modules=("importlib", "inspect", "gc", "sys._getframe")),
)


def _code(text: str) -> ast.AST | None:
    lines = [line for line in text.split("\n") if not line.lstrip().startswith(("%", "!"))]
    try:
        return ast.parse("\n".join(lines))
    except SyntaxError:
        return None


def _flags_of(tree: ast.AST, forbidden: frozenset) -> set[str]:
    calls = _calls_of(tree, forbidden)
    found = {"calls " + "/".join(sorted(calls))} if calls else set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and {"✅", "❌"} & set(node.value):
            found.add("prints a verdict mark")
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and "helpers.checks" in node.value:
            found.add("touches helpers.checks")  # e.g. sys.modules["helpers.checks.core"]
        names = _names_in(node)
        modules = _modules_in(node)
        for rule in _RULES:
            if (isinstance(node, (ast.Name, ast.FunctionDef)) and names & rule.names) or \
                    (isinstance(node, ast.Attribute) and node.attr in rule.attributes) or \
                    any(m.startswith(rule.modules) for m in modules):
                found.add(rule.flag)
        if isinstance(node, (ast.FunctionDef, ast.Assign)) and any(n.startswith("check_") for n in names):
            found.add("touches helpers.checks")
        if isinstance(node, (ast.FunctionDef, ast.Assign)) and names & _BUILTIN_NAMES:
            found.add("patches builtins or output")
    return found


def _names_in(node: ast.AST) -> set[str]:
    if isinstance(node, ast.Name):
        return {node.id}
    if isinstance(node, ast.Attribute):
        return {node.attr}
    if isinstance(node, ast.FunctionDef):
        return {node.name}
    if isinstance(node, ast.Assign):
        return {t.id for t in node.targets if isinstance(t, ast.Name)}
    if isinstance(node, ast.ImportFrom):
        return {alias.name for alias in node.names}
    return set()


def _modules_in(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.module:
        return [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    return []


def answer_flags(submission: dict, source: dict) -> list[str]:
    """What the student's own cells (solution cells and cells they added) do that a grader should look at."""
    source_cells = {nbgrader_meta(c)["grade_id"]: c for c in source["cells"] if nbgrader_meta(c).get("grade_id")}
    forbidden_anywhere = _forbidden_names(graded_exercises(source))
    flags, edited = set(), []
    for cell in submission.get("cells", []):
        grade_id = nbgrader_meta(cell).get("grade_id")
        original = source_cells.get(grade_id)
        if original is not None and not nbgrader_meta(original).get("solution"):
            if cell_source(cell) != cell_source(original):
                edited.append(grade_id)
            continue
        if cell.get("cell_type") == "code":
            tree = _code(cell_source(cell))
            # An answer cell may use what other exercises forbid (5.2 builds on 5.1's tested copy); a cell the
            # student added belongs to no exercise, so nothing forbidden anywhere may appear in it.
            forbidden = _forbidden_names([exercise_of(grade_id)]) if original is not None else forbidden_anywhere
            flags |= _flags_of(tree, forbidden) if tree is not None else set()
    present = {nbgrader_meta(c).get("grade_id") for c in submission.get("cells", [])}
    missing = [g for g in source_cells if g.startswith("check-") and g not in present]
    deleted = [g for g in source_cells if g not in present]
    if edited:
        flags.add(f"edited locked cells (restored): {len(edited)}")
    if missing:
        flags.add("deleted test cells (restored): " + " ".join(exercise_of(m) for m in missing))
    elif deleted:
        flags.add(f"deleted cells (restored): {len(deleted)}")
    return sorted(flags)


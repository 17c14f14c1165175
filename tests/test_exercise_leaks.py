"""No student version shows an exercise's answer outside its solution region (issue 29, item 4).

For every exercise of a main notebook in notebooks/ (its `### BEGIN SOLUTION` ... `### END SOLUTION` region), every
other cell of the student version in notebooks/assignments/ is searched for the answer: code cells, markdown cells
(their code spans and fenced blocks, and their text) and the text outputs; the exercise's own cell outside the region
too (the docstring and the stub). The answers searched for are the solution region and the correct answers written
another way in tests/test_checks_alternatives.py, which catches a locked cell that writes the answer in a form the
reference solution does not use (04's score ε/σ against the solution's (z − μ)/σ²).

What counts as an answer: an **expression** of the answer (the value of an assignment, a return, a bare
expression, or any of their sub-expressions) with at least `MIN_WEIGHT` = 3 operations, counting each arithmetic or
comparison operator, call and subscript once. Below that sit the generic pieces every cell writes, which give no
answer away on their own: `return x`, `n = len(x)`, `log_likelihood - kl`, `torch.exp(0.5 * logvar)`,
`kl_normal(mu, logvar)`, `mu.var(dim=0) > threshold` (2: a call and a comparison; the prompt has to keep such an
exercise from being transcription, this test cannot). The answer's local names are also inlined, in every
combination (`std = torch.exp(0.5 * logvar)`, `eps = torch.randn_like(mu)`, `return mu + std * eps` gives
`mu + torch.exp(0.5 * logvar) * eps`, ...), so a cell that writes the answer in one line, or in other steps, is found.

Near copies: expressions are compared as syntax trees with the variables renamed in order of appearance, so
`mu_x + torch.exp(0.5 * logvar_x) * eps` is the answer's `mu + torch.exp(0.5 * logvar) * eps`. Kept as they are:
names the notebook imports (`torch`, `F`, `kl_normal`, ...), builtins, attribute and keyword names and constants,
so `.sum(dim=1)` is not `.sum(dim=-1)`, but their operand still is. Not caught: an algebraically equivalent form
that neither the solution nor a listed alternative writes (`(z - mu) / sigma**2` for `eps / sigma`), operands in
another order (`logvar * 0.5` for `0.5 * logvar`), an answer spelled in words or LaTeX (the prompts are read by
people: issue 29), and an answer split between cells.

Text: markdown code that is not Python (`mu + exp(0.5·logvar)·ε`) is read with `·`/`×` as `*` and `exp`, `log`,
`sqrt` as torch's; each answer expression of 12 characters or more is also looked for, whitespace removed, in the
markdown, in the comments and docstrings of code cells and in the text outputs.
"""

from __future__ import annotations

import ast
import builtins
import copy
import inspect
import itertools
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
import torch  # noqa: F401  (named in an answer that test_alternatives_are_searched_for reads as source)

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO / "notebooks"
ASSIGNMENT_DIR = NOTEBOOK_DIR / "assignments"
MIN_WEIGHT = 3
MAX_VARIANTS = 256  # inlined forms kept per expression (a solution has a handful of local names)
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
_OPERATIONS = (ast.BinOp, ast.UnaryOp, ast.Compare, ast.BoolOp, ast.Call, ast.Subscript)
_MATH_WORDS = {"exp": "torch.exp", "log": "torch.log", "sqrt": "torch.sqrt"}


# ---------------------------------------------------------------- reading notebooks


def _source(cell) -> str:
    return cell.source if isinstance(cell.source, str) else "".join(cell.source)


def _grade_id(cell) -> str:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")


@dataclass(frozen=True)
class Exercise:
    number: str  # "4.1"
    grade_id: str  # "answer-4_1": the solution cell, in the main notebook and the student version
    solution: str  # the region between the markers, dedented


def exercises(main: nbformat.NotebookNode) -> list[Exercise]:
    """The exercises of a main notebook: one per solution region."""
    found = []
    for cell in main.cells:
        text = _source(cell)
        if BEGIN not in text:
            continue
        region = text.split(BEGIN, 1)[1].split(END, 1)[0]
        region = "\n".join(line for line in region.splitlines() if line.strip())
        grade_id = _grade_id(cell)
        number = re.fullmatch(r"answer-(\d+)_(\d+)", grade_id)
        assert number, f"solution cell with an unexpected grade_id {grade_id!r}"
        found.append(Exercise(f"{number[1]}.{number[2]}", grade_id, textwrap.dedent(region)))
    return found


def imported_names(main: nbformat.NotebookNode) -> frozenset[str]:
    """Names the notebook's code binds by import: kept as they are when expressions are compared."""
    names = set()
    for cell in main.cells:
        if cell.cell_type != "code":
            continue
        tree = _parse(_source(cell))
        for node in ast.walk(tree) if tree else ():
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return frozenset(names)


def _parse(text: str) -> ast.Module | None:
    lines = [line for line in text.splitlines() if not line.lstrip().startswith(("%", "!"))]  # IPython magics
    try:
        return ast.parse(textwrap.dedent("\n".join(lines)))
    except SyntaxError:
        return None


# ---------------------------------------------------------------- comparing expressions


def weight(node: ast.AST) -> int:
    """Operations in an expression: operators, comparisons, calls and subscripts, each counted once."""
    return sum(isinstance(sub, _OPERATIONS) for sub in ast.walk(node))


class _Rename(ast.NodeTransformer):
    """Variables become v0, v1, ... in order of appearance; imported names and builtins stay."""

    def __init__(self, keep: frozenset[str]) -> None:
        self.keep, self.names = keep, {}

    def visit_Name(self, node: ast.Name) -> ast.Name:
        if node.id in self.keep or hasattr(builtins, node.id):
            return ast.Name(node.id, ast.Load())
        return ast.Name(self.names.setdefault(node.id, f"v{len(self.names)}"), ast.Load())


def canonical(node: ast.expr, keep: frozenset[str]) -> str:
    """The expression with its variables renamed in order of appearance (contexts dropped: a load is a load)."""
    renamed = _Rename(keep).visit(copy.deepcopy(node))
    return ast.dump(renamed, annotate_fields=False, include_attributes=False)


def heavy_subexpressions(tree: ast.AST):
    """Every expression node of the tree with at least MIN_WEIGHT operations."""
    return [node for node in ast.walk(tree) if isinstance(node, ast.expr) and weight(node) >= MIN_WEIGHT]


class _Substitute(ast.NodeTransformer):
    def __init__(self, chosen: dict[str, ast.expr]) -> None:
        self.chosen = chosen

    def visit_Name(self, node: ast.Name) -> ast.expr:
        return self.chosen.get(node.id, node)


def _variants(expression: ast.expr, definitions: dict[str, list[ast.expr]]) -> list[ast.expr]:
    """The expression with each local name it uses either kept or replaced by one of that name's own forms."""
    used = sorted({node.id for node in ast.walk(expression) if isinstance(node, ast.Name) and node.id in definitions})
    options = [[None, *definitions[name]] for name in used]
    forms = []
    for choice in itertools.islice(itertools.product(*options), MAX_VARIANTS):
        chosen = {name: form for name, form in zip(used, choice) if form is not None}
        form = copy.deepcopy(expression)
        forms.append(_Substitute(chosen).visit(form) if chosen else form)
    return forms


def answer_expressions(code: str) -> list[ast.expr]:
    """The expressions an answer computes, with its local names inlined in every combination (see the docstring)."""
    tree = ast.parse(code)
    definitions: dict[str, list[ast.expr]] = {}
    expressions: list[ast.expr] = []
    for statement in _statements(tree):
        value = getattr(statement, "value", None)
        if not isinstance(value, ast.expr):
            continue
        forms = _variants(value, definitions)
        expressions.extend(forms)
        targets = getattr(statement, "targets", [getattr(statement, "target", None)])
        if isinstance(statement, ast.Assign) and len(targets) == 1 and isinstance(targets[0], ast.Name):
            definitions[targets[0].id] = forms
    return expressions


def _statements(tree: ast.AST):
    """Statements in source order, the bodies of nested functions, loops and branches included."""
    for node in getattr(tree, "body", []):
        if isinstance(node, (ast.FunctionDef, ast.For, ast.While, ast.If, ast.With)):
            yield from _statements(node)
        else:
            yield node


def answers(exercise: Exercise, alternatives: dict[str, list]) -> list[tuple[str, str]]:
    """(label, code) of every form of the answer: the solution region and the listed alternatives' bodies."""
    forms = [("the solution", exercise.solution)]
    for function in alternatives.get(exercise.number, []):
        body = ast.parse(textwrap.dedent(inspect.getsource(function))).body[0].body
        forms.append((f"tests/test_checks_alternatives.py:{function.__name__}", "\n".join(map(ast.unparse, body))))
    return forms


# ---------------------------------------------------------------- reading the student version


def _markdown_code(text: str) -> list[str]:
    """Fenced blocks and inline code spans of a markdown cell, math written as Python where it is close."""
    fenced = re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S)
    inline = re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
    pieces = []
    for piece in fenced + inline:
        piece = piece.replace("·", "*").replace("×", "*").replace("−", "-")
        pieces.append(re.sub(r"(?<![\w.])(exp|log|sqrt)\(", lambda m: _MATH_WORDS[m[1]] + "(", piece))
    return pieces


def _outputs_text(cell) -> str:
    texts = []
    for output in cell.get("outputs", []):
        texts.append(output.get("text", ""))
        texts.append(output.get("data", {}).get("text/plain", ""))
    return "".join(t if isinstance(t, str) else "".join(t) for t in texts)


def _squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


@dataclass(frozen=True)
class Place:
    cell: int
    what: str  # "code", "markdown code", "markdown text", "output"
    text: str


def student_places(student: nbformat.NotebookNode, skip_grade_id: str, keep: frozenset[str]):
    """(canonical expression -> places) and the squeezed texts of every cell, the exercise's region left out."""
    trees, texts = {}, []
    for index, cell in enumerate(student.cells):
        text = _source(cell)
        if _grade_id(cell) == skip_grade_id:  # the exercise's own cell: only the stub is there
            text = text.replace("# YOUR CODE HERE", "").replace("raise NotImplementedError()", "")
        if cell.cell_type == "code":
            codes, kind = [text], "code"
            texts.append(Place(index, "code text", _squeeze(text)))  # comments and docstrings
            texts.append(Place(index, "output", _squeeze(_outputs_text(cell))))
        else:
            codes, kind = _markdown_code(text), "markdown code"
            texts.append(Place(index, "markdown text", _squeeze(text)))
        for code in codes:
            tree = _parse(code)
            if tree is None:
                texts.append(Place(index, kind, _squeeze(code)))
                continue
            for node in heavy_subexpressions(tree):
                trees.setdefault(canonical(node, keep), []).append(Place(index, kind, ast.unparse(node)))
    return trees, texts


def find_leaks(main: nbformat.NotebookNode, student: nbformat.NotebookNode,
               alternatives: dict[str, list] | None = None) -> list[str]:
    """One line per place of the student version that holds a piece of an exercise's answer."""
    keep = imported_names(main)
    leaks = set()
    for exercise in exercises(main):
        trees, texts = student_places(student, exercise.grade_id, keep)
        for label, code in answers(exercise, alternatives or {}):
            for expression in answer_expressions(code):
                for node in heavy_subexpressions(expression):
                    for place in trees.get(canonical(node, keep), []):
                        leaks.add((exercise.number, place.cell, place.what, place.text, label))
                    line = _squeeze(ast.unparse(node))
                    for place in texts:
                        if len(line) >= 12 and line in place.text:
                            leaks.add((exercise.number, place.cell, place.what, ast.unparse(node), label))
    # a leak found through a larger expression makes the same cell's pieces of it redundant: keep the largest
    kept = []
    for number, cell, what, text, label in sorted(leaks, key=lambda leak: -len(leak[3])):
        if not any(k[0] == number and k[1] == cell and _squeeze(text) in _squeeze(k[3]) for k in kept):
            kept.append((number, cell, what, text, label))
    return sorted(f"Exercise {n}: cell {c} ({w}) holds `{t}` (from {lb})" for n, c, w, t, lb in kept)


# ---------------------------------------------------------------- the tests


def _pairs():
    for main_path in sorted(NOTEBOOK_DIR.glob("*.ipynb")):
        student_path = ASSIGNMENT_DIR / f"{main_path.stem}_assignment.ipynb"
        if student_path.exists():
            yield main_path, student_path


PAIRS = list(_pairs())


def test_every_notebook_with_exercises_has_a_student_version():
    with_exercises = [path for path in sorted(NOTEBOOK_DIR.glob("*.ipynb"))
                      if exercises(nbformat.read(path, as_version=4))]
    assert [main for main, _ in PAIRS] == with_exercises
    assert len(with_exercises) >= 6


@pytest.mark.parametrize("main_path, student_path", PAIRS, ids=[main.stem[:2] for main, _ in PAIRS])
def test_no_answer_outside_its_solution_cell(main_path, student_path):
    from tests.test_checks_alternatives import ALTERNATIVES

    main = nbformat.read(main_path, as_version=4)
    student = nbformat.read(student_path, as_version=4)
    leaks = find_leaks(main, student, ALTERNATIVES)
    assert not leaks, (f"{student_path.name} shows exercise answers outside their solution cells; make the cell call "
                       "a helper (or say it in words) instead:\n" + "\n".join(leaks))


# ---------------------------------------------------------------- the test catches what it should, on a tiny notebook


def _tiny(cells: list[tuple[str, str, str]]) -> nbformat.NotebookNode:
    """A notebook of (kind, grade_id, source) cells."""
    nb = nbformat.v4.new_notebook()
    for kind, grade_id, source in cells:
        cell = nbformat.v4.new_code_cell(source) if kind == "code" else nbformat.v4.new_markdown_cell(source)
        if grade_id:
            cell.metadata["nbgrader"] = {"grade_id": grade_id, "solution": grade_id.startswith("answer")}
        nb.cells.append(cell)
    return nb


SOLUTION = '''def reparameterize(mu, logvar):
    """One sample of N(mu, exp(logvar))."""
    ### BEGIN SOLUTION
    std = torch.exp(0.5 * logvar)
    eps = torch.randn_like(mu)
    return mu + std * eps
    ### END SOLUTION'''
STUB = '''def reparameterize(mu, logvar):
    """One sample of N(mu, exp(logvar))."""
    # YOUR CODE HERE
    raise NotImplementedError()'''
IMPORTS = ("code", "", "import torch\nfrom helpers import models")


def _planted(later: tuple[str, str, str]) -> list[str]:
    main = _tiny([IMPORTS, ("code", "answer-9_1", SOLUTION), ("code", "check-9_1", "check(reparameterize)"), later])
    student = _tiny([IMPORTS, ("code", "answer-9_1", STUB), ("code", "check-9_1", "check(reparameterize)"), later])
    return find_leaks(main, student)


@pytest.mark.parametrize("later", [
    ("code", "", "z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)"),  # the answer in one line
    ("code", "", "z_x = mu_x + torch.exp(0.5 * logvar_x) * noise"),  # other names, noise drawn elsewhere
    ("code", "", "print(encoder(x)[0] + torch.exp(0.5 * logvar_x) * torch.randn_like(mu_x))"),  # inside a call
    ("markdown", "", "The line:\n```python\nz = mu + torch.exp(0.5 * logvar) * eps\n```"),
    ("markdown", "", "The VAE's line is `z = mu + exp(0.5·logvar)·ε`."),
], ids=["one-line", "renamed", "inside-a-call", "fenced", "inline-math"])
def test_a_planted_leak_is_found(later):
    leaks = _planted(later)
    assert leaks and all(leak.startswith("Exercise 9.1: cell 3") for leak in leaks), leaks


@pytest.mark.parametrize("later", [
    ("code", "", "z = models.reparameterize(mu_x, logvar_x)"),
    ("code", "", "sigma = torch.exp(0.5 * logvar)\nn = len(x)\nreturn_value = mu.var(dim=0) > 0.01"),
    ("code", "", "z = mu + torch.exp(logvar) * torch.randn_like(mu)"),  # another formula: σ² where σ belongs
    ("markdown", "", "Sample $z = \\mu + \\sigma\\varepsilon$ with $\\sigma = e^{\\mathrm{logvar}/2}$."),
], ids=["helper-call", "generic-pieces", "different-formula", "latex"])
def test_no_leak_is_reported_where_there_is_none(later):
    assert _planted(later) == []


def test_the_exercise_cell_outside_its_region_is_searched_too():
    solution = SOLUTION.replace('"""One sample of N(mu, exp(logvar))."""',
                                '"""mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)"""')
    stub = STUB.replace('"""One sample of N(mu, exp(logvar))."""', '"""mu + torch.exp(0.5 * logvar) * eps"""')
    main = _tiny([IMPORTS, ("code", "answer-9_1", solution)])
    student = _tiny([IMPORTS, ("code", "answer-9_1", stub)])
    assert find_leaks(main, student) == [
        "Exercise 9.1: cell 1 (code text) holds `mu + torch.exp(0.5 * logvar) * eps` (from the solution)"]
    stub_code = STUB.replace("# YOUR CODE HERE", "z = mu + torch.exp(0.5 * logvar) * eps  # YOUR CODE HERE")
    assert find_leaks(main, _tiny([IMPORTS, ("code", "answer-9_1", stub_code)]))


def test_alternatives_are_searched_for():
    def alternative(mu, logvar):
        return mu + torch.sqrt(torch.exp(logvar)) * torch.randn_like(mu)

    later = ("code", "", "z = m + torch.sqrt(torch.exp(lv)) * torch.randn_like(m)")
    main = _tiny([IMPORTS, ("code", "answer-9_1", SOLUTION), later])
    student = _tiny([IMPORTS, ("code", "answer-9_1", STUB), later])
    assert find_leaks(main, student) == []
    assert find_leaks(main, student, {"9.1": [alternative]}) == [
        "Exercise 9.1: cell 2 (code) holds `m + torch.sqrt(torch.exp(lv)) * torch.randn_like(m)` "
        "(from tests/test_checks_alternatives.py:alternative)"]

"""Wrong answers made by a program: every small mutation of each exercise's reference solution, run through its check.

    python -m tests.mutants                 # print the table (and the unnamed mutants of the tuning half)
    python -m tests.mutants --write         # write the table beside the wrong-answers table (`PAGE`)
    python -m tests.mutants --held-out      # also list the unnamed held-out mutants (to report, not to tune on)

How it works:
- The reference solutions are read from the notebooks (the code between `### BEGIN SOLUTION` and
  `### END SOLUTION` in each nbgrader answer cell). An AST mutator (`mutate`) makes every single-point mutation
  of each solution's body with the operators of `OPERATORS`: + ↔ −, × ↔ ÷, ÷ → //, operands of − ÷ ** swapped,
  a unary − removed, the result or a term negated, a term dropped or duplicated, a constant changed (×2, ÷2, 0, 1, −c),
  an exponent changed, a reduction's dim/axis changed or dropped, keepdim added, sum ↔ mean, var ↔ std, log ↔ exp,
  a function dropped (exp, softplus, degrees, clip…), a function's argument negated, a result square-rooted or
  squared (a variance used as an sd and back), a comparison changed, the arguments of a call or two of the
  function's parameters swapped, an index changed (shape[0] → shape[1]), and the returned pair swapped.
- Equivalent mutants are recognised by running them: a mutant whose outputs equal the reference's (same shapes,
  `np.allclose` with rtol 1e-7, NaN equal to NaN) on every input of `EQUIVALENCE_INPUTS` — a dozen random inputs per
  exercise drawn from their own seeds, in float64, with shapes, sizes and values the check does not use (non-square
  and 3-D batches, other K, N, m, thresholds, β, priors) — computes the same function and is dropped. A mutant that
  raises where the reference does not is kept (not equivalent). Random draws inside the answer (4.1) are made
  equal by seeding torch before each call; in 4.1 a sample mirrored around mu (mu − σ·ε for mu + σ·ε) has the
  same distribution, so it counts as equal too.
- Every other mutant must get ❌ from its check ("caught").
- Each operator names the mistake it makes with `words`: the check's message names the mutant's mistake when it
  contains one of these words (as a whole word: "exp" does not match "expected") and that word does not appear in
  the message the check gives to a nameless wrong answer (the reference's output plus noise), so words from the
  inputs' description or the generic "expected X, got Y" do not count.
- The mutants are split by a hash of their source into a tuning half and a held-out half. The checks' messages
  were written looking at the tuning half only; the table reports naming on the held-out half.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import functools
import hashlib
import io
import json
import math
import re
import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from tests.generated_block import read_block, write_block

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
BEGIN, END = "<!-- mutants:begin -->", "<!-- mutants:end -->"
WRONG_ANSWERS_BEGIN, WRONG_ANSWERS_END = "<!-- wrong-answers:begin -->", "<!-- wrong-answers:end -->"
EXERCISES = ("1.1", "1.2", "2.1", "2.2", "3.1", "3.2", "3.3", "4.1", "4.2", "5.1", "5.2", "7.1", "7.2")

# ---------------------------------------------------------------- the mutation operators and the words that name them

SIGN = ("sign", "flipped", "negative", "negated")
SWAP = ("swapped", "flipped", "inverted", "reversed", "order", "sign")
MISSING = ("missing", "misses", "forgot", "without", "dropped", "not subtracted", "not added", "ignored", "is not ")
TWICE = ("twice", "doubled", "two times", "2×", "2 ×", "counted")
CONSTANT = ("constant", "factor", "½", "2π", "−1", "− 1", "+ 1", "(N+1)", "log K", "times", "scaled", "missing")
POWER = ("square", "squared", "²", "power", "variance", "standard deviation", "exponent", "cube")
DIM = ("dimension", "axis", "batch", "over the", "per example", "per sample", "one value", "rows", "columns",
       "keepdim", "summed", "averaged")
REDUCTION = ("mean", "average", "averaged", "sum", "summed", "total")
SD_VARIANCE = ("standard deviation", "variance", "σ²", "σ =", "square root", "sqrt", "squared", "square")
LOG_EXP = ("where exp belongs", "where log belongs", "exp is missing", "log is missing", "exp() is missing",
           "log() is missing", "exp is applied", "log is applied", "uses log", "uses exp", "exp where", "log where",
           "instead of log", "instead of exp", "exponentiate", "computed with log", "computed with exp")
MULT_DIV = ("divided", "divides", "division", "multiplied", "multiplies", "inverted", "ratio", "scaled", "times")
FLOOR_DIV = ("//", "integer", "floor")
COMPARE = ("strictly", "inverted", ">", "<", "threshold")
ARGUMENTS = ("swapped", "order", "mixed up", "in place of", "where", "instead of")
INDEX = ("index", "dimension", "axis", "rows", "columns", "log K", "log N", "number of", "last m", "first m",
         "U ", "Vᵀ")
TRIG = ("arcsin", "arccos", "radians", "degrees", "cosine")


@dataclass(frozen=True)
class Operator:
    name: str
    words: tuple[str, ...]


OPERATORS = {op.name: op for op in (
    Operator("+ ↔ −", SIGN), Operator("operands swapped", SWAP), Operator("unary − removed", SIGN),
    Operator("result negated", SIGN), Operator("term dropped", MISSING), Operator("term duplicated", TWICE),
    Operator("constant changed", CONSTANT), Operator("sign of a constant flipped", SIGN),
    Operator("exponent changed", POWER), Operator("reduction dim", DIM), Operator("keepdim added", DIM),
    Operator("sum ↔ mean", REDUCTION), Operator("var ↔ std", SD_VARIANCE), Operator("log ↔ exp", LOG_EXP),
    Operator("function dropped", MISSING + LOG_EXP + SD_VARIANCE + TRIG), Operator("argument negated", SIGN),
    Operator("sqrt or square added", SD_VARIANCE + POWER), Operator("× ↔ ÷", MULT_DIV), Operator("÷ → //", FLOOR_DIV),
    Operator("comparison changed", COMPARE), Operator("call arguments swapped", ARGUMENTS),
    Operator("parameters swapped", ARGUMENTS), Operator("index changed", INDEX),
    Operator("returned pair swapped", ARGUMENTS), Operator("arccos ↔ arcsin", TRIG),
    Operator("degrees ↔ radians", TRIG),
)}

_REDUCTIONS = {"sum", "mean", "var", "std", "logsumexp", "max", "min"}
_SWAPPED_FUNCTIONS = {"sum": ("mean", "sum ↔ mean"), "mean": ("sum", "sum ↔ mean"), "var": ("std", "var ↔ std"),
                      "std": ("var", "var ↔ std"), "exp": ("log", "log ↔ exp"), "log": ("exp", "log ↔ exp"),
                      "arccos": ("arcsin", "arccos ↔ arcsin"), "degrees": ("radians", "degrees ↔ radians")}
_DROPPABLE = {"exp", "log", "sqrt", "softplus", "degrees", "clip", "unsqueeze", "sigmoid", "abs", "item"}
_NEGATABLE = {"exp", "softplus", "log", "sigmoid"}


def _call_name(node: ast.Call) -> str | None:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None


def _number(value) -> ast.expr:
    return ast.UnaryOp(ast.USub(), ast.Constant(-value)) if value < 0 else ast.Constant(value)


def _constant_changes(value) -> list:
    changes = [value * 2, value / 2 if isinstance(value, float) else None, 0, 1, -value, value + 1, value - 1]
    return sorted({c for c in changes if c is not None and c != value}, key=lambda c: (type(c).__name__, c))


def dim_argument_of(node: ast.AST, parent: ast.AST | None) -> bool:
    """True for the dimension argument of unsqueeze/squeeze (x.unsqueeze(-1)): changing it changes an axis."""
    return isinstance(parent, ast.Call) and _call_name(parent) in ("unsqueeze", "squeeze") and node in parent.args


def _replacements(node: ast.AST, parent: ast.AST | None, params: list[str]) -> Iterator[tuple[str, ast.AST]]:
    """(operator name, replacement node) for every single mutation of `node` (a node of a copied tree)."""
    c = copy.deepcopy
    if isinstance(node, ast.BinOp):
        ops = {ast.Add: [(ast.Sub, "+ ↔ −")], ast.Sub: [(ast.Add, "+ ↔ −")],
               ast.Mult: [(ast.Div, "× ↔ ÷")], ast.Div: [(ast.Mult, "× ↔ ÷"), (ast.FloorDiv, "÷ → //")],
               ast.Pow: [(ast.Mult, "exponent changed")]}
        for new_op, name in ops.get(type(node.op), []):
            yield name, ast.BinOp(c(node.left), new_op(), c(node.right))
        if isinstance(node.op, (ast.Sub, ast.Div, ast.Pow)):
            yield "operands swapped", ast.BinOp(c(node.right), c(node.op), c(node.left))
        if isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div)) and not isinstance(node.left, ast.Constant):
            yield "term dropped", c(node.left)
        if isinstance(node.op, (ast.Add, ast.Mult)) and not isinstance(node.right, ast.Constant):
            yield "term dropped", c(node.right)
        if isinstance(node.op, ast.Sub):
            yield "term dropped", ast.UnaryOp(ast.USub(), c(node.right))
        if isinstance(node.op, (ast.Add, ast.Sub)):
            yield "term duplicated", ast.BinOp(c(node), c(node.op), c(node.right))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and not isinstance(node.operand, ast.Constant):
        yield "unary − removed", c(node.operand)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float) and not isinstance(
            parent, (ast.keyword, ast.UnaryOp)) and not dim_argument_of(node, parent):  # a negative constant: below
        in_index = isinstance(parent, (ast.Subscript, ast.Slice))
        exponent = (isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.Pow) and parent.right is node
                    or isinstance(parent, ast.Call) and _call_name(parent) == "pow")
        if in_index:
            for other in sorted({0, 1, -1} - {node.value}):
                yield "index changed", _number(other)
        else:
            for other in _constant_changes(node.value):
                yield ("exponent changed" if exponent else "sign of a constant flipped" if other == -node.value
                       else "constant changed"), _number(other)
    if isinstance(node, (ast.Constant, ast.UnaryOp)) and dim_argument_of(node, parent):
        value = ast.literal_eval(node)
        for other in sorted({0, 1, -1, -2} - {value}):
            yield "index changed", _number(other)
    elif (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant)
          and not isinstance(parent, (ast.keyword, ast.Subscript, ast.Slice))):
        for other in _constant_changes(-node.operand.value):
            operator = "sign of a constant flipped" if other == node.operand.value else "constant changed"
            yield operator, _number(other)
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        for new_op in {ast.Gt: (ast.GtE, ast.Lt, ast.LtE), ast.GtE: (ast.Gt, ast.Lt),
                       ast.Lt: (ast.LtE, ast.Gt), ast.LtE: (ast.Lt, ast.Gt)}.get(type(node.ops[0]), ()):
            yield "comparison changed", ast.Compare(c(node.left), [new_op()], c(node.comparators))
    if isinstance(node, ast.Call):
        yield from _call_replacements(node)
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice) and node.slice.upper is not None \
            and node.slice.lower is None:  # vt[:m] → vt[m:], vt[-m:]
        upper = node.slice.upper
        yield "index changed", ast.Subscript(c(node.value), ast.Slice(lower=c(upper)), c(node.ctx))
        yield "index changed", ast.Subscript(c(node.value), ast.Slice(lower=ast.UnaryOp(ast.USub(), c(upper))),
                                             c(node.ctx))
        yield "index changed", ast.Subscript(c(node.value), ast.Tuple([ast.Slice(), c(node.slice)], ast.Load()),
                                             c(node.ctx))
    if isinstance(node, ast.Return) and node.value is not None:
        value = node.value
        if isinstance(value, ast.Tuple) and len(value.elts) == 2:
            yield "returned pair swapped", ast.Return(ast.Tuple([c(value.elts[1]), c(value.elts[0])], ast.Load()))
            for i in range(2):
                elts = [c(e) for e in value.elts]
                elts[i] = ast.UnaryOp(ast.USub(), elts[i])
                yield "result negated", ast.Return(ast.Tuple(elts, ast.Load()))
        elif not isinstance(value, ast.Compare):
            yield "result negated", ast.Return(ast.UnaryOp(ast.USub(), c(value)))
    if isinstance(node, ast.Assign) and not isinstance(node.value, (ast.Tuple, ast.Compare)):
        yield "result negated", ast.Assign([c(t) for t in node.targets], ast.UnaryOp(ast.USub(), c(node.value)))


def _call_replacements(node: ast.Call) -> Iterator[tuple[str, ast.AST]]:
    c = copy.deepcopy
    name = _call_name(node)
    method = isinstance(node.func, ast.Attribute) and not (
        isinstance(node.func.value, ast.Name) and node.func.value.id in ("torch", "np", "math", "F", "objectives"))
    if name in _SWAPPED_FUNCTIONS:
        other, op = _SWAPPED_FUNCTIONS[name]
        new = c(node)
        new.func.attr = other if isinstance(new.func, ast.Attribute) else None
        if isinstance(new.func, ast.Attribute):
            yield op, new
    if name in _DROPPABLE:
        if method and name in ("exp", "unsqueeze", "item", "sqrt", "log", "abs", "sigmoid"):
            yield "function dropped", c(node.func.value)
        elif not method and node.args:
            yield "function dropped", c(node.args[0])
    if name in _NEGATABLE and not method and node.args:
        new = c(node)
        new.args[0] = ast.UnaryOp(ast.USub(), new.args[0])
        yield "argument negated", new
    if name == "exp" or name == "var":
        yield "sqrt or square added", ast.Call(ast.Attribute(c(node), "sqrt", ast.Load()), [], [])
        yield "sqrt or square added", ast.BinOp(c(node), ast.Pow(), ast.Constant(2))
    if name in _REDUCTIONS or name == "svd":
        for i, kw in enumerate(node.keywords):
            if kw.arg in ("dim", "axis"):
                value = ast.literal_eval(kw.value)
                for other in sorted({0, 1, -1, 2} - {value}):
                    new = c(node)
                    new.keywords[i].value = _number(other)
                    yield "reduction dim", new
                new = c(node)
                del new.keywords[i]
                if new.args or method:
                    yield "reduction dim", new
        dims = [kw for kw in node.keywords if kw.arg in ("dim", "axis")]
        if dims and name != "logsumexp":
            new = c(node)
            new.keywords.append(ast.keyword("keepdim" if name not in ("mean",) or method else "keepdims",
                                            ast.Constant(True)))
            yield "keepdim added", new
        if not dims and name in ("sum", "mean") and method and not node.args:
            for other in (0, -1):
                yield "reduction dim", ast.Call(c(node.func), [], [ast.keyword("dim", _number(other))])
    positional = [a for a in node.args if not isinstance(a, ast.Starred)]
    if len(positional) >= 2 and name not in ("clip",):
        for i in range(len(positional) - 1):
            new = c(node)
            new.args[i], new.args[i + 1] = new.args[i + 1], new.args[i]
            yield "call arguments swapped", new


def _sites(tree: ast.AST) -> Iterator[tuple[ast.AST, str, int | None, ast.AST]]:
    for parent in ast.walk(tree):
        for field, value in ast.iter_fields(parent):
            if isinstance(value, ast.AST):
                yield parent, field, None, value
            elif isinstance(value, list):
                for i, item in enumerate(value):
                    if isinstance(item, ast.AST):
                        yield parent, field, i, item


def _body_sites(function: ast.FunctionDef):
    """The sites inside the function's body (not its signature, decorators or docstring)."""
    body = function.body[1:] if (function.body and isinstance(function.body[0], ast.Expr)
                                 and isinstance(function.body[0].value, ast.Constant)) else function.body
    allowed = {id(n) for stmt in body for n in ast.walk(stmt)}
    return [site for site in _sites(function) if id(site[3]) in allowed]


@dataclass(frozen=True)
class Mutant:
    exercise: str
    operator: str
    source: str
    change: str  # the mutated piece of code, before → after

    @property
    def words(self) -> tuple[str, ...]:
        return OPERATORS[self.operator].words

    @property
    def held_out(self) -> bool:
        """The deterministic split: the first byte of the SHA-256 of exercise and source, odd = held-out."""
        return hashlib.sha256(f"{self.exercise}\n{self.source}".encode()).digest()[0] % 2 == 1


def _parameter_swaps(function: ast.FunctionDef) -> Iterator[tuple[str, str, str]]:
    params = [a.arg for a in function.args.args]
    for i, first in enumerate(params):
        for second in params[i + 1:]:
            tree = copy.deepcopy(function)
            for node in ast.walk(tree):
                if isinstance(node, ast.Name) and node.id in (first, second):
                    node.id = second if node.id == first else first
            yield first, second, ast.unparse(tree)


def mutate(exercise: str, source: str) -> list[Mutant]:
    """Every single-point mutant of the solution function in `source` (its unparsed source differs from the
    reference's; duplicates removed)."""
    function = ast.parse(source).body[0]
    reference = ast.unparse(function)
    seen, mutants = {reference}, []

    def add(operator, text, change):
        if text not in seen:
            seen.add(text)
            mutants.append(Mutant(exercise, operator, text, change))

    for index, (_, _, _, original) in enumerate(_body_sites(function)):
        parent = _body_sites(function)[index][0]
        for operator, replacement in _replacements(original, parent, []):
            tree = copy.deepcopy(function)
            p, field, i, _ = _body_sites(tree)[index]
            if i is None:
                setattr(p, field, replacement)
            else:
                getattr(p, field)[i] = replacement
            ast.fix_missing_locations(tree)
            try:
                text = ast.unparse(tree)
                compile(text, "<mutant>", "exec")
            except (SyntaxError, ValueError, TypeError):
                continue
            add(operator, text, f"`{ast.unparse(original)}` → `{ast.unparse(replacement)}`")
    for first, second, text in _parameter_swaps(function):
        add("parameters swapped", text, f"{first} ↔ {second}")
    return mutants


# ---------------------------------------------------------------- the reference solutions


def solutions() -> dict[str, str]:
    """{exercise: source of the reference solution function} from the notebooks' nbgrader answer cells."""
    found = {}
    for path in sorted(NOTEBOOKS.glob("0*.ipynb")):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")
            text = "".join(cell["source"])
            if grade_id.startswith("answer-") and "### BEGIN SOLUTION" in text:
                lines = [line for line in text.splitlines() if "### BEGIN SOLUTION" not in line
                         and "### END SOLUTION" not in line]
                found[grade_id.removeprefix("answer-").replace("_", ".")] = textwrap.dedent("\n".join(lines))
    return found


def namespace() -> dict:
    """The names the notebooks import that the solutions use."""
    from helpers import objectives

    return {"np": np, "torch": torch, "math": math, "F": F, "objectives": objectives,
            "bernoulli_log_prob": objectives.bernoulli_log_prob, "kl_normal": objectives.kl_normal,
            "gaussian_log_prob": objectives.gaussian_log_prob}


def compile_function(source: str) -> Callable:
    scope = namespace()
    exec(compile(source, "<mutant>", "exec"), scope)  # noqa: S102 - the project's own solutions and their mutants
    name = ast.parse(source).body[0].name
    return scope[name]


# ---------------------------------------------------------------- equivalence: inputs the check does not use


@functools.cache
def _equivalence_inputs(exercise: str) -> list[tuple]:
    """A dozen inputs per exercise, float64, in shapes and ranges of their own (not the check's)."""
    gen = torch.Generator().manual_seed(2024)
    rng = np.random.default_rng(2024)

    def randn(*shape):
        return torch.randn(*shape, generator=gen, dtype=torch.float64)

    def rand(*shape):
        return torch.rand(*shape, generator=gen, dtype=torch.float64)

    from helpers import vi_models as vm

    cases: list[tuple] = []
    for i in range(12):
        if exercise == "1.1":
            n, n_train = int(rng.integers(3, 9)), int(rng.integers(9, 20))
            scales = np.linspace(2.0, 0.2, n)
            cases.append((rng.normal(size=(n_train, n)) * scales + rng.normal(size=n), rng.normal(size=(4, n)) * scales
                          + 1.0, int(rng.integers(1, n))))
        elif exercise == "1.2":
            d = int(rng.integers(4, 9))
            p, q = int(rng.integers(1, 4)), int(rng.integers(1, 4))
            cases.append((rng.normal(size=(d, p)) * rng.uniform(0.5, 3, p), rng.normal(size=(d, q))))
        elif exercise == "2.1":
            shape = [(3, 4), (2, 5, 3), (6,), (1, 2)][i % 4]
            cases.append((2 * randn(*shape), 1.5 * randn(*shape), randn(*shape), 1.5 * randn(*shape)))
        elif exercise == "2.2":
            from helpers.checks.nb02 import _log_joint

            s = int(3 + 17 * i)
            cases.append((_log_joint, randn(3), 1.2 * randn(3), randn(s, 3)))
        elif exercise == "3.1":
            n = int(rng.integers(2, 15))
            prior = vm.NormalGamma(*(float(v) for v in (rng.normal(), rng.uniform(0.2, 3), rng.uniform(0.3, 4),
                                                        rng.uniform(0.2, 3))))
            cases.append((1 + randn(n), prior, float(rng.normal()), float(rng.uniform(0.5, 20))))
        elif exercise == "3.2":
            b = int(rng.integers(1, 30))
            cases.append((randn(b) - 2, int(rng.integers(b, 5000))))
        elif exercise == "3.3":
            n = int(rng.integers(1, 12))
            counts = torch.poisson(3 * rand(n) + 0.5, generator=gen)
            cases.append((torch.linspace(-2, 3, 7, dtype=torch.float64) + 0.1 * i, counts,
                          float(rng.uniform(0.2, 5)), float(rng.uniform(0.05, 3))))
        elif exercise == "4.1":
            shape = [(4, 3), (2, 3, 5), (7,), (1, 2)][i % 4]
            cases.append((randn(*shape), randn(*shape)))
        elif exercise == "4.2":
            s, m = int(rng.integers(2, 40)), int(rng.integers(1, 5))
            f = [lambda z: z.pow(2).sum(-1), lambda z: torch.cos(z).sum(-1) + 1.5, lambda z: (z > 0.3).double().sum(-1),
                 lambda z: z.sum(-1) ** 3][i % 4]
            cases.append((f, randn(m), 0.3 + rand(m), randn(s, m)))
        elif exercise in ("5.1", "7.1"):
            n, pixels, m = int(rng.integers(1, 6)), int(rng.integers(2, 30)), int(rng.integers(1, 6))
            args = (torch.bernoulli(0.5 * torch.ones(n, pixels, dtype=torch.float64), generator=gen),
                    2 * randn(n, pixels), randn(n, m), randn(n, m))
            cases.append(args + ((float(rng.uniform(0.1, 5)),) if exercise == "7.1" else ()))
        elif exercise == "5.2":
            k, n, pixels, m = (int(rng.integers(1, 9)), int(rng.integers(1, 5)), int(rng.integers(2, 20)),
                               int(rng.integers(1, 5)))
            mu, logvar = randn(n, m), 0.5 * randn(n, m)
            cases.append((torch.bernoulli(0.4 * torch.ones(n, pixels, dtype=torch.float64), generator=gen),
                          randn(k, n, pixels), mu + (0.5 * logvar).exp() * randn(k, n, m), mu, logvar))
        elif exercise == "7.2":
            n, m = int(rng.integers(2, 30)), int(rng.integers(1, 9))
            cases.append((randn(n, m) * 10 ** (2 * rand(m) - 1.5), float(10 ** rng.uniform(-3, 0))))
    return cases


def _flat(value) -> list[np.ndarray]:
    if isinstance(value, (tuple, list)):
        return [a for v in value for a in _flat(v)]
    if isinstance(value, torch.Tensor):
        return [value.detach().cpu().double().numpy() if value.dtype != torch.bool else value.numpy()]
    if hasattr(value, "a0"):
        return [np.array([getattr(value, k) for k in ("mu0", "lambda0", "a0", "b0")], dtype=float)]
    return [np.asarray(value)]


def _same(first, second) -> bool:
    a, b = _flat(first), _flat(second)
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if x.shape != y.shape or x.dtype.kind != y.dtype.kind and "b" in (x.dtype.kind, y.dtype.kind):
            return False
        if x.dtype.kind == "b":
            if not np.array_equal(x, y):
                return False
        elif not np.allclose(x.astype(float), y.astype(float), rtol=1e-7, atol=1e-10, equal_nan=True):
            return False
    return True


def _run(fn: Callable, args: tuple):
    """fn(*args) on fresh copies, with torch's random numbers fixed; ('raised', type) when it raises."""
    args = tuple(a.clone() if isinstance(a, torch.Tensor) else a.copy() if isinstance(a, np.ndarray) else a
                 for a in args)
    with torch.random.fork_rng(devices=[]), warnings_off():
        torch.manual_seed(0)
        try:
            return fn(*args)
        except Exception as exc:
            return ("raised", type(exc).__name__)


@contextlib.contextmanager
def warnings_off():
    import warnings

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        yield


def equivalent(exercise: str, fn: Callable, reference_outputs: list) -> bool:
    inputs = _equivalence_inputs(exercise)
    for args, expected in zip(inputs, reference_outputs):
        got = _run(fn, args)
        if isinstance(expected, tuple) and expected and expected[0] == "raised":
            if not (isinstance(got, tuple) and got and got[0] == "raised"):
                return False
            continue
        if isinstance(got, tuple) and got and got[0] == "raised":
            return False
        try:
            if not _same(got, expected) and not (exercise == "4.1" and _same(2 * args[0] - got, expected)):
                return False
        except Exception:
            return False
    return True


# ---------------------------------------------------------------- running the mutants through the checks


def _checks() -> dict[str, Callable]:
    import helpers.checks as checks

    return {getattr(checks, name).exercise_number: getattr(checks, name) for name in checks.__all__
            if name.startswith("check_")}


def verdict(check: Callable, fn: Callable) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), warnings_off():
        check(fn)
    return out.getvalue().strip()


def _noisy(fn: Callable) -> Callable:
    """The reference with noise on its output: a wrong answer with no name, whose message holds no diagnosis."""

    def noisy(*args, **kwargs):
        out = fn(*args, **kwargs)
        if isinstance(out, tuple):
            return tuple(o * 1.0173 + 0.0231 for o in out)
        if isinstance(out, torch.Tensor) and out.dtype == torch.bool:
            flipped = out.clone()
            flipped.view(-1)[0] = ~flipped.view(-1)[0]
            return flipped
        return out * 1.0173 + 0.0231

    return noisy


def names(message: str, words: tuple[str, ...], generic: str) -> bool:
    """True when `message` is a ❌ that contains one of `words` not already in the nameless answer's message."""
    return message.startswith("❌") and any(_has(message, w) and not _has(generic, w) for w in words)


def _has(text: str, word: str) -> bool:
    """`word` in `text`, ignoring case, as a whole word where it begins or ends with a letter ("exp" is not in
    "expected", "log" is not in "logvar")."""
    pattern = re.escape(word.lower())
    pattern = (r"(?<![\w])" if word[:1].isalnum() else "") + pattern + (r"(?![\w])" if word[-1:].isalnum() else "")
    return re.search(pattern, text.lower()) is not None


@dataclass(frozen=True)
class Outcome:
    mutant: Mutant
    equivalent: bool
    message: str  # '' for equivalent mutants
    named: bool

    @property
    def caught(self) -> bool:
        return self.message.startswith("❌")


@functools.cache
def outcomes(exercise: str) -> tuple[Outcome, ...]:
    source = solutions()[exercise]
    reference = compile_function(source)
    check = _checks()[exercise]
    reference_outputs = [_run(reference, args) for args in _equivalence_inputs(exercise)]
    generic = verdict(check, _noisy(reference))
    results = []
    for mutant in mutate(exercise, source):
        try:
            fn = compile_function(mutant.source)
        except Exception:
            continue
        if equivalent(exercise, fn, reference_outputs):
            results.append(Outcome(mutant, True, "", False))
            continue
        message = verdict(check, fn)
        results.append(Outcome(mutant, False, message, names(message, mutant.words, generic)))
    return tuple(results)


@dataclass(frozen=True)
class Row:
    mutants: int
    equivalent: int
    caught: int
    held_out: int
    named_held_out: int
    tuning: int
    named_tuning: int
    alternatives: int
    alternatives_accepted: int


def alternatives_accepted(exercise: str) -> tuple[int, int]:
    """(correct answers written another way in tests/test_checks_alternatives.py, how many get ✅ on the visible
    and a hidden seed's inputs)."""
    from tests.test_checks_alternatives import ALTERNATIVES

    check = _checks()[exercise]
    answers = ALTERNATIVES.get(exercise, [])
    with contextlib.redirect_stdout(io.StringIO()), warnings_off():
        accepted = sum(bool(check(answer)) and bool(check(answer, seed=321)) for answer in answers)
    return len(answers), accepted


def row(exercise: str) -> Row:
    results = outcomes(exercise)
    kept = [o for o in results if not o.equivalent]
    held = [o for o in kept if o.mutant.held_out]
    tuning = [o for o in kept if not o.mutant.held_out]
    return Row(len(results), len(results) - len(kept), sum(o.caught for o in kept), len(held),
               sum(o.named for o in held), len(tuning), sum(o.named for o in tuning), *alternatives_accepted(exercise))


def markdown(rows: dict[str, Row]) -> str:
    lines = [
        "The project's own program-made mutants of each reference solution (`tests/mutants.py`: single-point changes "
        "of signs, operators, terms, constants, reduction dims, arguments, log/exp, variance/sd). They are the mutants "
        "this mutator makes, not every possible mistake. Equivalent mutants (same outputs as the reference on a dozen "
        "inputs of their own) are dropped; \"named\" means the ❌ message holds the words of the mutant's mistake. The "
        "messages were written looking at the tuning half; the held-out half measures them. The last column counts the "
        "correct answers written another way (`tests/test_checks_alternatives.py`: another dtype, formula, library or "
        "argument style) that get ✅.",
        "",
        "| exercise | mutants | equivalent (dropped) | caught (❌) | held-out | named (held-out) | named (tuning) "
        "| correct alternatives accepted |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]

    def pct(named, total):  # a share below 100 % as a whole percentage rounded down, so that 100 is never shown
        if not total:
            return "0/0"
        return f"{named}/{total} (all)" if named == total else f"{named}/{total} ({100 * named // total} %)"

    for number, r in rows.items():
        lines.append(f"| {number} | {r.mutants} | {r.equivalent} | {r.caught}/{r.mutants - r.equivalent} | "
                     f"{r.held_out} | {pct(r.named_held_out, r.held_out)} | {pct(r.named_tuning, r.tuning)} | "
                     f"{r.alternatives_accepted}/{r.alternatives} |")
    t = Row(*(sum(getattr(r, f) for r in rows.values()) for f in Row.__dataclass_fields__))
    lines.append(f"| **all** | {t.mutants} | {t.equivalent} | {t.caught}/{t.mutants - t.equivalent} | {t.held_out} | "
                 f"{pct(t.named_held_out, t.held_out)} | {pct(t.named_tuning, t.tuning)} | "
                 f"{t.alternatives_accepted}/{t.alternatives} |")
    return "\n".join(lines)


# ---------------------------------------------------------------- where the table lives


def _page_of_the_wrong_answers_table() -> Path:
    """The page that holds the wrong-answers table (README.md or a page of docs/): the mutants' table sits beside it."""
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        if path.exists() and WRONG_ANSWERS_BEGIN in path.read_text(encoding="utf-8"):
            return path
    raise FileNotFoundError(f"no README.md or docs/*.md holds {WRONG_ANSWERS_BEGIN}")


PAGE = _page_of_the_wrong_answers_table()  # the one page that holds the mutants' table


def read_table() -> str:
    return read_block(PAGE, BEGIN, END)


def write_table(block: str) -> Path:
    """Write `block` between the mutants markers, right after the wrong-answers table (added there the first time)."""
    text = PAGE.read_text(encoding="utf-8")
    if BEGIN in text:
        write_block(PAGE, BEGIN, END, block)
    else:
        head, rest = text.split(WRONG_ANSWERS_END, 1)
        PAGE.write_text(f"{head}{WRONG_ANSWERS_END}\n\n{BEGIN}\n{block}\n{END}\n{rest}", encoding="utf-8")
    return PAGE


def main(argv: list[str]) -> None:
    rows = {number: row(number) for number in EXERCISES}
    block = markdown(rows)
    print(block)
    for number in EXERCISES:
        for o in outcomes(number):
            if o.equivalent or (o.mutant.held_out and "--held-out" not in argv):
                continue
            if not o.caught or not o.named:
                half = "held-out" if o.mutant.held_out else "tuning"
                print(f"\n[{number} {half}] {'NOT CAUGHT' if not o.caught else 'unnamed'} · {o.mutant.operator} · "
                      f"{o.mutant.change}\n    {re.sub(chr(10), ' ', o.message)[:400]}")
    if "--write" in argv:
        print(f"\nwritten to {write_table(block).relative_to(ROOT)}")


if __name__ == "__main__":
    main(sys.argv[1:])

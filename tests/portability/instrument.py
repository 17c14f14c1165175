"""Kernel side of the portability run: record the value of every comparison inside a notebook's `assert`s.

`install(log_path)` registers an IPython AST transformer. Each `assert` test made of comparisons (possibly joined
by `and`/`or`) is rewritten so that every comparison `left op right` is evaluated once, as before, and also logged
as one JSON line: where it is (cell, line, position), its source text, the operator, both sides when they are
scalars, and whether it held. Other assert tests (`all(...)`, `torch.allclose(...)`) are logged as a truth value.
The assert itself still raises as before: the notebook's behaviour does not change, only what we can see of it.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.abc
import importlib.util
import json
import math
import operator
import os
import sys
from pathlib import Path

LOG_VARIABLE = "VAE_NOTES_CLAIMS_LOG"

OPERATORS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=",
             ast.In: "in", ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not"}
EVALUATE = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq,
            "!=": operator.ne, "in": lambda a, b: a in b, "not in": lambda a, b: a not in b,
            "is": operator.is_, "is not": operator.is_not}


def scalar(value) -> float | None:
    """A plain float for a Python, numpy or one-element torch number; None for anything else."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    size = getattr(value, "size", None)
    count = value.numel() if hasattr(value, "numel") else (size if isinstance(size, int) else None)
    if count == 1 and hasattr(value, "item"):
        item = value.item()
        return float(item) if isinstance(item, (int, float)) and not isinstance(item, bool) else None
    return None


def _truth(value) -> bool | None:
    try:
        return bool(value)
    except Exception:  # a multi-element tensor: the assert itself will raise on it
        return None


def cell_key(source: str) -> str:
    """How a log names a cell: a digest of its source (the kernel does not know the cell's index)."""
    return hashlib.sha256(source.strip().encode()).hexdigest()[:16]


class Recorder:
    """Knows which cell is running (from its source) and writes one JSON line per comparison."""

    def __init__(self, log_path: str | Path):
        self.log_path = Path(log_path)
        self.cell = ""
        self.seen: dict[tuple, int] = {}

    def note_cell(self, lines: list[str]) -> list[str]:
        """An IPython input transformer that changes nothing: it only remembers the cell about to run."""
        self.cell = cell_key("".join(lines))
        return lines

    def _write(self, site: tuple, text: str, op: str, left, right, held) -> None:
        occurrence = self.seen.get(site, 0)
        self.seen[site] = occurrence + 1
        row = {"cell": site[0], "line": site[1], "part": site[2], "occurrence": occurrence, "text": text, "op": op,
               "left": scalar(left), "right": scalar(right), "held": _truth(held)}
        for side in ("left", "right"):
            if row[side] is not None and not math.isfinite(row[side]):
                row[side] = None
        with self.log_path.open("a") as log:
            log.write(json.dumps(row) + "\n")

    def compare(self, cell: int, line: int, part: int, texts: list[str], operands: list, ops: list[str]):
        """`operands[0] ops[0] operands[1] ops[1] ...` with Python's chained semantics, each pair logged."""
        result = True
        for k, op in enumerate(ops):
            result = EVALUATE[op](operands[k], operands[k + 1])
            self._write((cell, line, f"{part}.{k}"), texts[k], op, operands[k], operands[k + 1], result)
            if not _truth(result):
                return result
        return result

    def truth(self, cell: int, line: int, part: int, text: str, value):
        self._write((cell, line, str(part)), text, "truth", None, None, value)
        return value


class AssertRewriter(ast.NodeTransformer):
    """Routes the comparisons of every `assert` through `__claims__` (see the module docstring)."""

    def __init__(self, recorder: Recorder):
        self.recorder = recorder

    def visit_Assert(self, node: ast.Assert) -> ast.Assert:
        self.generic_visit(node)
        self.part = 0
        node.test = self._wrap(node.test, node.lineno)
        return ast.fix_missing_locations(node)

    def _call(self, method: str, args: list[ast.expr]) -> ast.Call:
        target = ast.Attribute(value=ast.Name(id="__claims__", ctx=ast.Load()), attr=method, ctx=ast.Load())
        return ast.Call(func=target, args=args, keywords=[])

    def _wrap(self, expr: ast.expr, line: int) -> ast.expr:
        if isinstance(expr, ast.BoolOp):
            expr.values = [self._wrap(value, line) for value in expr.values]
            return expr
        self.part += 1
        site = [ast.Constant(self.recorder.cell), ast.Constant(line), ast.Constant(self.part)]
        if isinstance(expr, ast.Compare) and all(type(op) in OPERATORS for op in expr.ops):
            operands = [expr.left, *expr.comparators]
            texts = [f"{ast.unparse(a)} {OPERATORS[type(op)]} {ast.unparse(b)}"
                     for a, op, b in zip(operands, expr.ops, operands[1:])]
            ops = [ast.Constant(OPERATORS[type(op)]) for op in expr.ops]
            return self._call("compare", [*site, ast.List([ast.Constant(t) for t in texts], ast.Load()),
                                          ast.List(operands, ast.Load()),
                                          ast.List(ops, ast.Load())])
        return self._call("truth", [*site, ast.Constant(ast.unparse(expr)), expr])


def install(log_path: str, threads: int | None = None) -> Recorder:
    """Called in the kernel before the notebook's first cell. Imports neither torch nor numpy: importing them here
    would start their thread pools before the notebook's first cell sets its own (01 sets OPENBLAS_NUM_THREADS)."""
    from IPython import get_ipython

    shell = get_ipython()
    recorder = Recorder(log_path)
    Path(log_path).write_text("")
    shell.user_ns["__claims__"] = recorder
    shell.input_transformers_cleanup.append(recorder.note_cell)
    shell.ast_transformers.append(AssertRewriter(recorder))
    sys.meta_path.insert(0, _OnTorchImport(lambda torch: _start_torch(torch, threads, Path(log_path))))
    return recorder


def _start_torch(torch, threads: int | None, log_path: Path) -> None:
    """Right after the notebook imports torch: its starting thread count (as a machine with `threads` cores would
    give it; the notebook may still set its own), and the log's first line saying how torch started."""
    if threads is not None:
        torch.set_num_threads(threads)
    header = {"kernel": {"threads": torch.get_num_threads(), "capability": torch.backends.cpu.get_cpu_capability()}}
    with log_path.open("a") as log:
        log.write(json.dumps(header) + "\n")


class _OnTorchImport(importlib.abc.MetaPathFinder):
    """Calls `action(torch)` once, when `import torch` has finished executing the package."""

    def __init__(self, action):
        self.action = action

    def find_spec(self, name, path=None, target=None):
        if name != "torch":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        execute, action = spec.loader.exec_module, self.action

        def exec_module(module):
            execute(module)
            action(module)

        spec.loader.exec_module = exec_module
        return spec


def install_from_environment() -> None:
    """IPython startup hook (see tests/conftest.py): instrument this kernel when VAE_NOTES_CLAIMS_LOG names a log."""
    log = os.environ.get(LOG_VARIABLE)
    if log:
        install(log)

"""What every check shares: calling student code safely, comparing answers, reporting.

A check prints one verdict line ("✅ Exercise N.M (title): correct." or "❌ Exercise N.M (title): <what is wrong>")
and returns a `CheckOutcome`. In JupyterLab a wrong answer never raises; when nbgrader runs the notebook (autograde
or Validate: nbgrader sets `NBGRADER_EXECUTION` for the kernel it starts) a wrong answer raises `CheckFailed` after the
verdict line, so the test cell fails and scores 0. The cell's error output is then the ❌ line alone, wrapped to whole
lines of at most `REPORT_COLUMNS` characters, with no traceback: nbgrader's Validate report shows it first and uncut.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import signal
import sys
import textwrap
import threading
import traceback
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["RESULTS", "CheckResult", "CheckOutcome", "CheckFailed", "exercise", "Failed", "call_student",
           "assert_close", "name_the_mistake", "diagnose", "tolerance_for", "swapped_arguments", "hint_over_cases",
           "piece_slips", "cached", "answer_array", "AUTOGRADING", "CALL_TIME_LIMIT"]

# Read once, when the notebook's first cell imports the checks: an answer cell cannot switch it off later by
# editing os.environ (patching this module is possible, and the grader's flags column reports it).
AUTOGRADING = os.environ.get("NBGRADER_EXECUTION", "") in ("autograde", "validate")
CALL_TIME_LIMIT = 20.0  # seconds allowed for one call of a student's function
# nbgrader's Validate report indents each error line by 4 and cuts it at 87 characters: 80 fit whole.
REPORT_COLUMNS = 80


@dataclass(frozen=True)
class CheckResult:
    exercise: str
    passed: bool
    message: str


RESULTS: dict[str, CheckResult] = {}


class CheckOutcome:
    """What a check returns: truthy when the answer passed. It shows nothing in a notebook (the verdict line is
    already printed), so a check cell's output is that one line."""

    def __init__(self, passed: bool) -> None:
        self.passed = passed

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return f"CheckOutcome(passed={self.passed})"

    def _ipython_display_(self) -> None:
        pass


class Failed(Exception):
    """Raised inside a check to stop it with a message for the student."""


class CheckFailed(AssertionError):
    """Raised by a check under nbgrader (autograde, Validate) when the answer is wrong: the test cell fails."""


def verdict_lines(message: str, width: int = REPORT_COLUMNS) -> list[str]:
    """A verdict broken into whole lines of at most `width` characters (words kept whole where they fit)."""
    return [line for paragraph in str(message).splitlines() or [""]
            for line in textwrap.wrap(paragraph, width, break_on_hyphens=False) or [""]]


def _show_verdict_only(shell, etype, value, tb, tb_offset=None) -> list[str]:
    """IPython's handler for CheckFailed: the cell's error output is the verdict, not a traceback into the checks."""
    lines = verdict_lines(str(value))
    shell._showtraceback(etype, value, lines)
    return lines


def _show_failed_checks_as_verdicts() -> None:
    """Under nbgrader, let the kernel report a failed check by its ❌ line alone (see the module's docstring)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None:
        shell.set_custom_exc((CheckFailed,), _show_verdict_only)


if AUTOGRADING:
    _show_failed_checks_as_verdicts()


class _TimeLimit(BaseException):
    """Raised in the student's code when one call runs past CALL_TIME_LIMIT."""


def exercise(number: str, title: str):
    """Decorate a check: it prints one verdict line, records it in RESULTS and returns a CheckOutcome.

    Inside, the check raises `Failed("message")` for a wrong answer; any other exception from the check itself is
    reported as such. The decorated check takes `seed=None` (the visible inputs) or an integer: the hidden tests,
    on inputs drawn from that seed.
    """

    def decorate(check: Callable[..., None]) -> Callable[..., CheckOutcome]:
        @functools.wraps(check)
        def run(student_fn, *args, seed: int | None = None, **kwargs) -> CheckOutcome:
            where = "" if seed is None else " on the hidden tests"
            try:
                with warnings.catch_warnings():  # a warning goes to stderr, which nbgrader scores as a failure
                    warnings.simplefilter("ignore")
                    check(student_fn, *args, **({} if seed is None else {"seed": seed}), **kwargs)
            except Failed as failure:
                return _record(number, False, f"❌ Exercise {number} ({title}){where}: {failure}")
            except Exception as exc:  # a student's answer broke the check itself
                return _record(number, False, f"❌ Exercise {number} ({title}){where}: the check could not "
                               f"use your answer ({type(exc).__name__}: {exc}).")
            return _record(number, True, f"✅ Exercise {number} ({title}): correct{where}.")

        run.exercise_number = number
        return run

    return decorate


def _record(number: str, passed: bool, message: str) -> CheckOutcome:
    RESULTS[number] = CheckResult(number, passed, message)
    print(message, flush=True)
    if AUTOGRADING and not passed:
        raise CheckFailed(message) from None  # not chained to the check's own exception
    return CheckOutcome(passed)


# ---------------------------------------------------------------- calling the student's function


@contextlib.contextmanager
def _time_limit(seconds: float):
    """Interrupt the student's code after `seconds` (main thread only; elsewhere no limit)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def stop(signum, frame):
        raise _TimeLimit()

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# Every exercise: the checks' own code (their private references and helpers) is a tested copy too.
CHECK_INTERNALS = ("the checks' own code (helpers.checks, a tested copy of the answer)", "helpers.checks")


class _Tripwire:
    """Notes calls of forbidden functions (by code object) or modules (by name prefix) while the student's code runs."""

    def __init__(self, forbidden: Iterable[tuple[str, object]], allowed: Iterable = ()) -> None:
        self.codes, self.prefixes, self.hit = {}, {}, None
        self.allowed = {*allowed, _Tripwire.watching.__wrapped__.__code__}  # its own exit runs under the watch
        for label, target in forbidden:
            if isinstance(target, str):
                self.prefixes[target] = label
            elif getattr(target, "__code__", None) is not None:
                self.codes[target.__code__] = label

    def __call__(self, frame, event, arg):
        if event != "call" or self.hit is not None:
            return
        label = self.codes.get(frame.f_code)
        if label is None and self.prefixes and frame.f_code not in self.allowed:
            module = frame.f_globals.get("__name__", "")
            label = next((lab for prefix, lab in self.prefixes.items() if module.startswith(prefix)), None)
        if label is not None:
            self.hit = label

    @contextlib.contextmanager
    def watching(self):
        if not (self.codes or self.prefixes):
            yield
            return
        previous = sys.getprofile()
        sys.setprofile(self)
        try:
            yield
        finally:
            sys.setprofile(previous)


def call_student(fn: Callable, *args, forbidden: Iterable[tuple[str, object]] = (), allow_none: bool = False,
                 **kwargs):
    """Call the student's function; turn a stub, a crash, a stop, a hang, a `None` or a forbidden call into Failed.

    `forbidden` lists (what to tell the student, function or module-name prefix) pairs the answer must not call.
    """
    if not callable(fn):
        raise Failed(f"expected a function, got {type(fn).__name__}.")
    given = {a.__code__ for a in (*args, *kwargs.values()) if getattr(a, "__code__", None) is not None}
    tripwire = _Tripwire([*forbidden, CHECK_INTERNALS], allowed=given)  # the functions handed to the answer may run
    try:
        with _time_limit(CALL_TIME_LIMIT), tripwire.watching():
            result = fn(*args, **kwargs)
    except NotImplementedError:
        raise Failed("not implemented yet: replace the `raise NotImplementedError()` line "
                     "with your code.") from None
    except _TimeLimit:
        raise Failed(f"your function ran for more than {CALL_TIME_LIMIT:.0f} s on one input and was stopped: "
                     "is there an endless loop?") from None
    except (SystemExit, KeyboardInterrupt) as exc:
        raise Failed(f"your function stopped with {type(exc).__name__} instead of returning an answer: remove the "
                     "exit()/sys.exit() or interrupt from it.") from None
    except Exception as exc:
        where = traceback.extract_tb(exc.__traceback__)[-1]
        raise Failed(f"your function raised {type(exc).__name__}: {exc} "
                     f"(line {where.lineno}: `{(where.line or '').strip()}`)." + _exception_hint(exc, fn)) from None
    if tripwire.hit is not None:
        raise Failed(f"{tripwire.hit} is not allowed in this exercise: write it yourself.")
    if result is None and not allow_none:
        raise Failed("your function returned None: did you forget `return`?")
    return result


def _exception_hint(exc: Exception, fn: Callable) -> str:
    """What a few errors usually mean in these exercises."""
    text = str(exc)
    if isinstance(exc, TypeError) and ("'function'" in text or "unsupported operand" in text or "has no len()" in text):
        try:
            order = ", ".join(inspect.signature(fn).parameters)
        except (TypeError, ValueError):
            order = ""
        return (" It looks like a value of the wrong kind (a function, a prior or a plain number) is used in a "
                "computation: are two arguments swapped (in the wrong order)?"
                + (f" The parameters' order is ({order})." if order else ""))
    if "dimensional array given" in text:
        return (" It looks like the SVD/QR got a vector, not a matrix: is the data matrix missing from an expression "
                "(e.g. x_train in x_train − μ)?")
    if isinstance(exc, TypeError) and "bad operand type for unary -" in text:
        return " It looks like a minus sign is applied to a pair (the result of qr/svd): check that sign."
    if isinstance(exc, ValueError) and ("does not line up" in text or "must lie in [0, 1]" in text):
        return " It looks like two arguments are swapped (in the wrong order): check which tensor goes where."
    if isinstance(exc, TypeError) and "missing 1 required positional argument" in text and '"dim"' in text:
        return " It looks like the dimension to reduce over is missing: give dim= (which dimension holds the samples?)."
    if isinstance(exc, AttributeError) and ("'float' object has no attribute" in text
                                            or "'int' object has no attribute" in text):
        return (" It looks like a number is used where a tensor belongs: are two arguments swapped (in the wrong "
                "order)?")
    if "must match the size of tensor" in text or "operands could not be broadcast" in text:
        return (" It looks like two shapes do not line up: is a sum or mean taken over the wrong dimension (dim/axis), "
                "or a term left with one value per sample where one per example belongs, or an unsqueeze(-1)/keepdim "
                "missing, or two arguments swapped?")
    if "Dimension out of range" in text or "out of bounds for axis" in text or "is out of bounds" in text:
        return " It looks like a reduction or an index uses a dimension (dim/axis) that the tensor does not have."
    if isinstance(exc, ValueError) and "math domain error" in text:
        return (" It looks like math.log or math.sqrt got a number ≤ 0: check the sign and the constant inside it "
                "(e.g. log 2π, log K).")
    return ""


# ---------------------------------------------------------------- comparing answers


def _to_array(value, what: str) -> np.ndarray:
    if value is None:
        raise Failed(f"{what} is None: did you forget `return`?")
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().double().numpy()
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise Failed(f"{what} should be a number or tensor, got {type(value).__name__}.") from None


answer_array = _to_array


def _low_precision(value) -> bool:
    """True for a float32/float16/bfloat16 answer (torch or numpy): it carries ~1e-7 relative rounding per step."""
    dtype = getattr(value, "dtype", None)
    return dtype in (torch.float32, torch.float16, torch.bfloat16, np.float32, np.float16)


def tolerance_for(got, expected, rtol: float, atol: float) -> tuple[float, float]:
    """(rtol, atol) widened for a low-precision answer: rtol ≥ 1e-4 and atol ≥ 1e-5 of the largest expected value."""
    if not _low_precision(got):
        return rtol, atol
    scale = float(np.nanmax(np.abs(expected))) if np.size(expected) else 1.0
    return max(rtol, 1e-4), max(atol, 1e-5 * max(scale, 1.0))


def assert_close(got, expected, *, inputs: str, rtol: float = 1e-4, atol: float = 1e-5,
                 mistakes: dict[str, object] | None = None, terms: dict[str, object] | None = None,
                 sizes: dict[str, int] | None = None) -> None:
    """Failed unless `got` ≈ `expected`; the message names the input, both values and the mistake.

    A float32 answer gets the tolerance float32 allows (`tolerance_for`). The mistake is the first of `mistakes`
    (description → the output of that mistake) that matches, else what `diagnose` finds from `terms` and `sizes`."""
    got_a, expected_a = _to_array(got, "your answer"), _to_array(expected, "the reference")
    rtol, atol = tolerance_for(got, expected_a, rtol, atol)
    hint = None
    if got_a.shape != expected_a.shape:
        hint = name_the_mistake(got_a, mistakes, rtol, atol) or diagnose(got_a, expected_a, terms=terms, sizes=sizes,
                                                                         rtol=rtol, atol=atol)
        raise Failed(f"for {inputs}, expected shape {expected_a.shape}, got {got_a.shape}."
                     + (f" It looks like {hint}." if hint else ""))
    if np.allclose(got_a, expected_a, rtol=rtol, atol=atol, equal_nan=False):
        return
    hint = name_the_mistake(got_a, mistakes, rtol, atol) or diagnose(got_a, expected_a, terms=terms, sizes=sizes,
                                                                     rtol=rtol, atol=atol)
    raise Failed(f"for {inputs}, {_difference(expected_a, got_a)}." + (f" It looks like {hint}." if hint else ""))


# ---------------------------------------------------------------- naming a mistake nobody listed

_NICE = (-2.0, -1.0, 1.0, -0.5, 0.5, -1.5, 2.0, 3.0, -3.0)  # coefficients a single slip makes


def diagnose(got, expected, *, terms: dict[str, object] | None = None, sizes: dict[str, int] | None = None,
             rtol: float = 1e-4, atol: float = 1e-5) -> str | None:
    """Name the mistake from how `got` differs from `expected`, without a hand-written variant.

    - a shape that differs by a kept, extra or missing dimension (`sizes` names the dimensions by their size);
    - the whole answer negated, or scaled by a constant (a size in `sizes` means a mean where a sum belongs, or
      the reverse);
    - one of `terms` (name → that term's share of the expected answer, in its shape) missing, with its sign
      flipped, counted twice, or with a wrong factor: got − expected = c·term for one term;
    - the same offset everywhere (a constant term).
    A one-number answer (or one that is all equal) is only named by a term or scale that a single slip makes
    (−1, 2, ½, a size), since any number is some multiple of any other.
    """
    g, e = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    sizes = sizes or {}
    if g.shape != e.shape:
        return _shape_hint(g.shape, e.shape, sizes)
    if np.isnan(g).any() and not np.isnan(e).any():
        return ("your answer contains NaN where the right one is finite: a log or a square root of a negative number "
                "(log where exp belongs, or the square root of a log-variance?)")
    if not (np.all(np.isfinite(g)) and np.all(np.isfinite(e))):
        return None

    def close(a, b):
        return np.allclose(a, b, rtol=rtol, atol=atol)

    few = g.size == 1 or close(e, e.flat[0])
    if close(g, -e):
        return "the sign of the whole answer is flipped"
    d = g - e
    for name, term in (terms or {}).items():
        t = np.broadcast_to(np.asarray(term, dtype=float), e.shape)
        norm = float((t * t).sum())
        if norm == 0 or not np.all(np.isfinite(t)):
            continue
        c = float((d * t).sum() / norm)
        if close(g, e + c * t) and (not few or _nice(1 + c, sizes)):
            return _coefficient_hint(name, 1 + c, sizes)
    norm = float((e * e).sum())
    if norm:
        c = float((g * e).sum() / norm)
        if close(g, c * e) and _nice(c, sizes):  # a scale a single slip makes: −1, 2, ½, a size
            return _coefficient_hint("the whole answer", c, sizes)
    if not few and close(d, np.full_like(d, d.flat[0])):
        return (f"your answer is off by the same amount everywhere ({d.flat[0]:+.4g}): a constant term is wrong or "
                "missing")
    return None


def _transforms(value, fn=None, arg=None, power=None) -> list[tuple[str, Callable]]:
    """(how the piece is changed, the change) for one piece of a formula: generic slips, and those its form allows."""
    lib = torch if isinstance(value, torch.Tensor) else np
    changes = [
        ("the sign of {} is flipped", lambda v: -v),
        ("{} is missing", lambda v: v * 0),
        ("{} is missing (as a factor: replaced by 1)", lambda v: v * 0 + 1),
        ("{} is doubled (counted twice: a factor 2 too many)", lambda v: 2 * v),
        ("{} is halved (a factor ½ too many)", lambda v: 0.5 * v),
        ("{} is off by +1: check its constant", lambda v: v + 1),
        ("{} is off by −1: check its constant", lambda v: v - 1),
        ("the square root of {} is used: a standard deviation where the variance belongs (or a sqrt too many)",
         lambda v: v ** 0.5),
        ("{} is squared: a variance where the standard deviation belongs (or a square too many)", lambda v: v * v),
        ("{} is inverted (1/x): multiplied where it should be divided, or divided where it should be multiplied",
         lambda v: 1 / v),
        ("{} is rounded down: floor division // (an integer division) is used where / belongs", lambda v: v // 1),
        ("exp is applied to {} (exp where log or nothing belongs)", lambda v: lib.exp(v)),
        ("log is applied to {} (log where exp or nothing belongs)", lambda v: lib.log(v)),
    ]
    if fn is not None and arg is not None:
        name = getattr(fn, "__name__", "f")
        other = {"exp": "log", "log": "exp"}.get(name)
        changes.append((f"{name} is missing from {{}}: {name}() is missing", lambda v: arg))
        changes.append((f"the sign inside {name}() is flipped in {{}}", lambda v: fn(-arg)))
        if other:
            changes.append((f"{{}} uses {other} where {name} belongs", lambda v: getattr(lib, other)(arg)))
    if power is not None:
        base, exponent = power
        for k in (-2, -1, 0, 1, 2, 3, 4, 0.5):
            if k != exponent:
                changes.append((f"{{}} has the power {k:g} instead of {exponent:g} (squared: ²)",
                                lambda v, k=k: base ** k))
        changes.append((f"{{}} is written as a product, base·{exponent:g}, instead of a power (base ** {exponent:g}, "
                        "squared)", lambda v: base * exponent))
        changes.append((f"{{}} is written {exponent:g} ** base: the base and the exponent are swapped",
                        lambda v: exponent ** base))
    return changes


class _OnePieceChanged:
    """The `piece` a formula is evaluated with: the index-th piece it names is changed, the others pass through."""

    def __init__(self, index: int, change: Callable) -> None:
        self.index, self.change, self.seen = index, change, 0

    def __call__(self, name, value, **form):
        self.seen += 1
        return self.change(value) if self.seen - 1 == self.index else value


def piece_slips(formula: Callable[[Callable], object]) -> dict[str, object]:
    """{description: output} for every single slip in one named piece of a formula.

    `formula(piece)` computes the answer, passing each named piece through `piece(name, value, fn=, arg=,
    power=)`: `fn`/`arg` say the piece is fn(arg) (exp(logvar): exp dropped, log for exp, the sign inside flipped),
    `power=(base, k)` says it is base ** k (other powers, base·k, k ** base). Each piece gets every slip of
    `_transforms` (sign, missing, doubled, halved, ±1, sqrt, square, inverted, floor, exp, log) in turn."""
    pieces: list[tuple[str, object, dict]] = []

    def record(name, value, **form):
        pieces.append((name, value, form))
        return value

    formula(record)
    found = {}
    changes = [_transforms(value, **form) for _, value, form in pieces]
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for rank in range(max(map(len, changes), default=0)):  # every piece's sign flip first, then each missing…
            for index, (name, _, _) in enumerate(pieces):
                if rank >= len(changes[index]):
                    continue
                template, change = changes[index][rank]
                piece = _OnePieceChanged(index, change)
                try:
                    description = template.format(name)
                    if description not in found:
                        found[description] = formula(piece)
                except Exception:
                    continue
    return found


_CACHE: dict = {}


def cached(key, compute: Callable):
    """compute(), remembered under `key` (the outputs of known mistakes depend only on a check's inputs, which a
    seed and a case number fix: a student who runs a check again does not pay for them twice)."""
    if key not in _CACHE:
        if len(_CACHE) > 512:
            _CACHE.clear()
        _CACHE[key] = compute()
    return _CACHE[key]


def hint_over_cases(answers: list, expected: list, *, mistakes: list[dict] | None = None,
                    terms: list[dict] | None = None, sizes: dict[str, int] | None = None, rtol: float = 1e-6,
                    atol: float = 1e-8) -> str | None:
    """Name the mistake from the answers to several inputs at once (a one-number answer says little alone: over
    several inputs, a term's share or a variant's output is pinned down). `mistakes` and `terms` hold one dict per
    input; only the keys every input has are used."""
    def stacked(values):
        return np.concatenate([np.ravel(_to_array(v, "a value")) for v in values])

    try:
        got = [_to_array(a, "your answer") for a in answers]
        if any(g.shape != _to_array(e, "the reference").shape for g, e in zip(got, expected)):
            return None
        got_all, expected_all = stacked(got), stacked(expected)
        rtol, atol = tolerance_for(answers[0], expected_all, rtol, atol)
        mistakes = [m() if callable(m) else m for m in mistakes] if mistakes else None
        common = [k for k in (mistakes or [{}])[0] if all(k in m for m in mistakes)] if mistakes else []
        variants = {}
        for k in common:
            try:
                variants[k] = stacked([m[k] for m in mistakes])
            except (Failed, ValueError):
                continue
        named = name_the_mistake(got_all, variants, rtol, atol)
        if named:
            return named
        common_terms = [k for k in terms[0] if all(k in t for t in terms)] if terms else []
        return diagnose(got_all, expected_all, terms={k: stacked([t[k] for t in terms]) for k in common_terms},
                        sizes=sizes, rtol=rtol, atol=atol)
    except Failed:
        return None


def swapped_arguments(reference: Callable, args: dict[str, object]) -> dict[str, object]:
    """{"two arguments are swapped …": the reference's output with them swapped} for every pair of arguments of the
    same type and shape (`args` maps each parameter's name to its value, in the signature's order)."""
    names, found = list(args), {}
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            a, b = args[first], args[second]
            if type(a) is not type(b) or (callable(a) and callable(b)):
                continue
            values = dict(args, **{first: b, second: a})
            try:
                with warnings.catch_warnings(), np.errstate(all="ignore"):
                    warnings.simplefilter("ignore")
                    output = reference(*values.values())
            except Exception:
                continue
            found[f"two arguments are swapped: {first} is used where {second} belongs and the other way round "
                  f"(the parameters' order is {', '.join(names)})"] = output
    return found


def _nice(c: float, sizes: dict[str, int]) -> bool:
    candidates = [*_NICE, *(s for s in sizes.values()), *(1 / s for s in sizes.values() if s)]
    return any(abs(c - k) <= 1e-6 * max(1.0, abs(k)) for k in candidates)


def _coefficient_hint(name: str, factor: float, sizes: dict[str, int]) -> str:
    """What `factor` × `name` (instead of 1 ×) says about the mistake."""
    def near(k):
        return abs(factor - k) <= 1e-6 * max(1.0, abs(k))

    if near(0.0):
        return f"{name} is missing"
    if near(-1.0):
        return f"the sign of {name} is flipped"
    if near(2.0):
        return f"{name} is counted twice (doubled)"
    if near(-2.0):
        return (f"{name} has the wrong sign and twice its size: is a −½ (or ½) in front of it missing, or its sign "
                "flipped?")
    for what, size in sizes.items():
        if size > 1 and near(1 / size):
            return (f"{name} is averaged where it should be summed: it is 1/{size} of the right value, and {size} is "
                    f"{what} (take the sum, not the mean)")
        if size > 1 and near(size):
            return (f"{name} is summed where it should be averaged: it is {size} times the right value, and {size} is "
                    f"{what} (take the mean, not the sum)")
    return (f"{name} has a wrong constant factor: it is {factor:.4g} times what it should be (check its constants, "
            "e.g. a ½ or a 2)")


def _shape_hint(got: tuple, expected: tuple, sizes: dict[str, int]) -> str | None:
    def named(size):
        return next((what for what, s in sizes.items() if s == size), f"a dimension of size {size}")

    if len(got) == len(expected) + 1:
        for i in range(len(got)):
            if got[:i] + got[i + 1:] == expected:
                if got[i] == 1:
                    return (f"the reduced dimension is kept (keepdim=True), giving shape {got}: drop it to get "
                            f"shape {expected}")
                return (f"you returned one value per entry of {named(got[i])} (dimension {i}): sum or average over "
                        "that dimension as well")
    if len(got) < len(expected):
        if len(got) == 0:
            return (f"you reduced over the batch dimension too, returning one number: return one value per "
                    f"example, shape {expected}")
        return f"you reduced over a dimension that should stay (shape {got}, expected {expected})"
    if len(got) == len(expected):
        return (f"a reduction, index or transpose uses the wrong dimension/axis: shape {got} instead of "
                f"{expected}")
    return None


def _difference(expected: np.ndarray, got: np.ndarray) -> str:
    """'expected X, got Y', or the largest difference when X and Y would print the same."""
    shown_expected, shown_got = _short(expected), _short(got)
    if shown_expected != shown_got:
        return f"expected {shown_expected}, got {shown_got}"
    gap = np.abs(np.nan_to_num(got - expected, nan=np.inf))
    index = np.unravel_index(int(np.argmax(gap)), gap.shape) if gap.ndim else ()
    where = f" at index {tuple(int(i) for i in index)}" if index else ""
    return (f"your answer is close but not within the tolerance: the largest difference is {float(gap.max()):.3g}"
            f"{where} (expected {float(expected[index]):.10g}, got {float(got[index]):.10g})")


def name_the_mistake(got, mistakes: dict[str, object] | Callable[[], dict] | None, rtol: float = 1e-4,
                     atol: float = 1e-5) -> str | None:
    """The description of the known mistakes whose output matches `got`, if any: the first one, and up to two more
    that give the same numbers (they cannot be told apart from the answer, so the student sees each)."""
    got_a = _to_array(got, "your answer")
    if callable(mistakes):
        mistakes = mistakes()
    found = []
    for description, wrong in (mistakes or {}).items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                wrong_a = _to_array(wrong, "a known mistake")
        except Exception:  # a mistake whose output is not a real array (complex, a tuple) cannot match
            continue
        if wrong_a.shape == got_a.shape and np.allclose(got_a, wrong_a, rtol=rtol, atol=atol):
            found.append(description)
            if len(found) == 3:
                break
    return "; or ".join(found) if found else None


def _short(values: np.ndarray) -> str:
    return np.array2string(values, precision=4, threshold=6, suppress_small=True)

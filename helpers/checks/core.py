"""What every check shares: calling student code safely, comparing answers, reporting.

A check prints one verdict line ("✅ Exercise N.M (title): correct." or "❌ Exercise N.M (title): <what is wrong>")
and returns a `CheckOutcome`. In JupyterLab a wrong answer never raises; when nbgrader runs the notebook (autograde
or Validate: nbgrader sets `NBGRADER_EXECUTION` for the kernel it starts) a wrong answer raises `CheckFailed` after the
verdict line, so the test cell fails and scores 0.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
import threading
import traceback
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["RESULTS", "CheckResult", "CheckOutcome", "CheckFailed", "exercise", "Failed", "call_student",
           "assert_close", "name_the_mistake", "answer_array", "AUTOGRADING", "CALL_TIME_LIMIT"]

# Read once, when the notebook's first cell imports the checks: an answer cell cannot switch it off later by
# editing os.environ (patching this module is possible, and the grader's flags column reports it).
AUTOGRADING = os.environ.get("NBGRADER_EXECUTION", "") in ("autograde", "validate")
CALL_TIME_LIMIT = 20.0  # seconds allowed for one call of a student's function


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
        raise CheckFailed(message)
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
                     f"(line {where.lineno}: `{(where.line or '').strip()}`).") from None
    if tripwire.hit is not None:
        raise Failed(f"{tripwire.hit} is not allowed in this exercise: write it yourself.")
    if result is None and not allow_none:
        raise Failed("your function returned None: did you forget `return`?")
    return result


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


def assert_close(got, expected, *, inputs: str, rtol: float = 1e-4, atol: float = 1e-5,
                 mistakes: dict[str, object] | None = None) -> None:
    """Failed unless `got` ≈ `expected`; the message names the input, both values and the mistake."""
    got_a, expected_a = _to_array(got, "your answer"), _to_array(expected, "the reference")
    if got_a.shape != expected_a.shape:
        hint = name_the_mistake(got_a, mistakes, rtol, atol)
        raise Failed(f"for {inputs}, expected shape {expected_a.shape}, got {got_a.shape}."
                     + (f" It looks like {hint}." if hint else ""))
    if np.allclose(got_a, expected_a, rtol=rtol, atol=atol, equal_nan=False):
        return
    hint = name_the_mistake(got_a, mistakes, rtol, atol)
    raise Failed(f"for {inputs}, {_difference(expected_a, got_a)}." + (f" It looks like {hint}." if hint else ""))


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


def name_the_mistake(got, mistakes: dict[str, object] | None, rtol: float = 1e-4,
                     atol: float = 1e-5) -> str | None:
    """The description of the first known mistake whose output matches `got`, if any."""
    got_a = _to_array(got, "your answer")
    for description, wrong in (mistakes or {}).items():
        wrong_a = _to_array(wrong, "a known mistake")
        if wrong_a.shape == got_a.shape and np.allclose(got_a, wrong_a, rtol=rtol, atol=atol):
            return description
    return None


def _short(values: np.ndarray) -> str:
    return np.array2string(values, precision=4, threshold=6, suppress_small=True)

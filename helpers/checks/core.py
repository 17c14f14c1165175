"""What every check shares: calling student code safely, comparing answers, reporting."""

from __future__ import annotations

import functools
import traceback
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["RESULTS", "CheckResult", "CheckOutcome", "exercise", "Failed", "call_student", "assert_close",
           "name_the_mistake"]


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


def exercise(number: str, title: str):
    """Decorate a check: it prints one verdict line, records it in RESULTS and returns a CheckOutcome.

    Inside, the check raises `Failed("message")` for a wrong answer; any other exception from
    the check itself is reported as such, never propagated to the student's notebook.
    """

    def decorate(check: Callable[..., None]) -> Callable[..., CheckOutcome]:
        @functools.wraps(check)
        def run(*args, **kwargs) -> CheckOutcome:
            try:
                check(*args, **kwargs)
            except Failed as failure:
                return _record(number, False, f"❌ Exercise {number} ({title}): {failure}")
            except Exception as exc:  # a student's answer broke the check itself
                return _record(number, False, f"❌ Exercise {number} ({title}): the check could not "
                               f"use your answer ({type(exc).__name__}: {exc}).")
            return _record(number, True, f"✅ Exercise {number} ({title}): correct.")

        run.exercise_number = number
        return run

    return decorate


def _record(number: str, passed: bool, message: str) -> CheckOutcome:
    RESULTS[number] = CheckResult(number, passed, message)
    print(message)
    return CheckOutcome(passed)


def call_student(fn: Callable, *args, **kwargs):
    """Call the student's function; turn NotImplementedError or any crash into Failed."""
    if not callable(fn):
        raise Failed(f"expected a function, got {type(fn).__name__}.")
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise Failed("not implemented yet: replace the `raise NotImplementedError(...)` line "
                     "with your code.") from None
    except Exception as exc:
        where = traceback.extract_tb(exc.__traceback__)[-1]
        raise Failed(f"your function raised {type(exc).__name__}: {exc} "
                     f"(line {where.lineno}: `{(where.line or '').strip()}`).") from None


def _to_array(value, what: str) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().double().numpy()
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise Failed(f"{what} should be a number or tensor, got {type(value).__name__}.") from None


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
    raise Failed(f"for {inputs}, expected {_short(expected_a)}, got {_short(got_a)}."
                 + (f" It looks like {hint}." if hint else ""))


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

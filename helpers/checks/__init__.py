"""The exercises' self-checks. Each notebook's checks live in `helpers/checks/nbNN.py`;
every `check_*` defined there is re-exported here, so `from helpers.checks import check_x` works
and a new exercise module is picked up without editing this file.

A check runs the student's function, compares it with the reference, prints one clear line
("✅ Exercise N.M: correct" or "❌ Exercise N.M: <what is wrong>") and records the outcome in
`RESULTS`. In JupyterLab it never raises on a wrong or crashing answer; under nbgrader (autograde,
Validate) a wrong answer raises after the line, so the test cell fails. `check_x(fn, seed=N)` runs
the hidden tests on inputs drawn from N. `FORBIDDEN` maps each exercise to what its answer must not
call (the project's tested copy, or a library call the exercise rules out).
"""

from __future__ import annotations

import importlib
import pkgutil

from helpers.checks.core import RESULTS, CheckResult, exercise

__all__ = ["RESULTS", "CheckResult", "exercise", "FORBIDDEN"]

FORBIDDEN: dict[str, list[tuple[str, object]]] = {}


def _export_checks() -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if not info.name.startswith("nb"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        FORBIDDEN.update(getattr(module, "FORBIDDEN", {}))
        for name in dir(module):
            if name.startswith("check_"):
                globals()[name] = getattr(module, name)
                __all__.append(name)


_export_checks()

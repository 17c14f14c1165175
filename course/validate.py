"""`python -m course validate NOTEBOOK ...`: nbgrader's Validate, with an exit status a script can test.

It prints nbgrader's own report (what the Validate button of JupyterLab shows), and exits 1 when a notebook fails a
test cell or has a changed locked cell, 0 when every notebook passes. `nbgrader validate` itself exits 0 either way
(jupyter/nbgrader#1908), so a GitHub Classroom job or a teacher's script cannot tell a failing notebook from a
passing one by its status.
"""

from __future__ import annotations

from pathlib import Path

# What makes a notebook fail Validate: a test cell with an error, a locked cell edited, a cell's type changed.
FAILING_KINDS = ("failed", "changed", "type_changed")


def validate(paths: list[Path], cell_timeout: int = 120) -> int:
    """Validate each notebook, printing nbgrader's report; the number of notebooks that fail."""
    from nbgrader.validator import Validator
    from traitlets.config import Config

    missing = [str(path) for path in paths if not Path(path).is_file()]
    if missing:
        raise ValueError(f"no such notebook: {', '.join(missing)}")
    config = Config({"Execute": {"timeout": cell_timeout, "iopub_timeout": 30, "raise_on_iopub_timeout": False}})
    validator = Validator(config=config)
    results: dict[str, dict] = {}
    run = validator.validate

    def remembered(filename: str) -> dict:  # validate_and_print prints the report but returns nothing
        results[filename] = run(filename)
        return results[filename]

    validator.validate = remembered
    failing = 0
    for path in paths:
        print(f"\n{path}:", flush=True)
        validator.validate_and_print(str(path))
        failing += any(results[str(path)].get(kind) for kind in FAILING_KINDS)
    return failing

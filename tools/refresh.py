"""`make refresh NB=05`: everything that follows from editing one main notebook, in the order it must happen.

    python -m tools.refresh 05            # or a path: notebooks/05_variational_autoencoder.ipynb

1. re-tag it (nbgrader metadata; a new exercise gets its cells tagged, the hidden seeds stay);
2. redraw the committed figures the notebook shows (`images/*.png` it links to);
3. re-execute it in place, in order, as committed notebooks must be;
4. rebuild the student versions (nbgrader's generate_assignment; only notebooks with exercises have one).
Each step prints its time. `make test` then checks the result.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
IMAGE_LINK = re.compile(r"images/([\w.-]+\.png)")


def find_notebook(which: str) -> Path:
    """`05`, `5`, a file name or a path → the main notebook it names (a clear error when none or several match)."""
    if not isinstance(which, str) or not which.strip():
        raise ValueError(f"notebook must be a number like 05 or a path, got {which!r}")
    path = Path(which)
    if path.suffix == ".ipynb":
        path = path if path.is_absolute() or path.exists() else NOTEBOOKS / path.name
        if path.parent.resolve() != NOTEBOOKS.resolve() or not path.is_file():
            raise ValueError(f"notebook must be one of notebooks/*.ipynb, got {which!r}")
        return NOTEBOOKS / path.name
    matches = sorted(NOTEBOOKS.glob(f"{which.zfill(2)}_*.ipynb")) if which.isdigit() else []
    if len(matches) != 1:
        names = ", ".join(p.name[:2] for p in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")))
        raise ValueError(f"notebook {which!r} matches {len(matches)} notebooks; choose one of {names}")
    return matches[0]


def figures_shown_in(notebook: Path) -> list[str]:
    """The committed figures (tools.figures.FIGURES) that the notebook links to, in order of first appearance."""
    from tools.figures import FIGURES

    linked = IMAGE_LINK.findall(notebook.read_text(encoding="utf-8"))
    return [name for name in dict.fromkeys(linked) if name in FIGURES]


def _step(title: str, action) -> None:
    started = time.monotonic()
    print(f"· {title} ...", flush=True)
    action()
    print(f"  done in {time.monotonic() - started:.0f} s", flush=True)


def refresh(notebook: Path) -> None:
    from course.layout import build
    from course.tagging import tag
    from tools.figures import draw_all

    figures = figures_shown_in(notebook)
    _step(f"tag {notebook.name}", lambda: tag([notebook]))
    _step(f"draw {', '.join(figures) or 'no committed figure'}", lambda: draw_all(names=figures))
    _step(f"execute {notebook.name}", lambda: subprocess.run(
        [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute", "--inplace",
         "--ExecutePreprocessor.timeout=600", str(notebook)], check=True, cwd=NOTEBOOKS))
    _step("build the student versions", build)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.refresh", description=__doc__.splitlines()[0])
    parser.add_argument("notebook", help="its number (05) or path")
    args = parser.parse_args(argv)
    try:
        notebook = find_notebook(args.notebook)
    except ValueError as exc:
        parser.error(str(exc))
    refresh(notebook)
    print(f"{notebook.name} refreshed; `git diff --stat` shows what changed, `make check` or `make test` checks it")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The students' hand-out (`make handout`): one zip with what a student needs and no solution.

    python -m course handout [--out PATH]      # default build/handout/vae-notes-handout.zip

It holds, under one folder `vae-notes/`, the same layout as the repository so every relative path keeps working:
the student versions (notebooks/assignments/, as committed: `make assignments` writes them), the main notebooks
that have no exercise (00 and 06: nothing to hide), `helpers` (what the notebooks import, with its weights), the
images the notebooks show, `tests/benchmarks/results.json` (the timing record 00 and 05 display; no test code),
requirements.txt, a small pyproject.toml for `pip install -e .`, lab/student/ (the students' JupyterLab config:
nbgrader's Validate only), a Makefile with `make lab` and a README for students. No solution, no hidden test, no
teacher tool. The build refuses to write a zip in which a solution marker or a hidden test's seed appears.

The zip is deterministic (sorted entries, fixed timestamps and modes): the same files give the same bytes. It is
written to a temporary file next to its target and renamed, so a reader never sees half a zip.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import tomllib
import zipfile
from pathlib import Path

from course.notebooks import (
    ASSIGNMENTS,
    BEGIN,
    HELPERS,
    HIDDEN_BEGIN,
    HIDDEN_END,
    HIDDEN_SEED,
    NOTEBOOKS,
    ROOT,
    SOURCE_NOTEBOOK,
    SUFFIX,
    cell_source,
    find_exercises,
    graded_exercises,
    read_notebook,
)

TOP = "vae-notes"
DEFAULT_OUT = ROOT / "build" / "handout" / f"{TOP}-handout.zip"
STUDENT_LAB = "lab/student"
BENCH_RECORD = "tests/benchmarks/results.json"
SKIPPED_PARTS = {"__pycache__", ".ipynb_checkpoints"}
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
IMAGE_LINK = re.compile(r"!\[[^\]]*\]\(\s*<?([^)\s>]+)|<img\b[^>]*?\bsrc\s*=\s*[\"']([^\"']+)")

MAKEFILE = """\
# `make lab`: creates .venv the first time (Python 3.11 or newer), then starts JupyterLab on notebooks/.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: lab

$(STAMP): requirements.txt pyproject.toml
\ttest -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
\t$(VENV)/bin/python -m pip install --quiet -r requirements.txt
\t$(VENV)/bin/python -m pip install --quiet --no-deps -e .
\ttouch $(STAMP)

# JupyterLab refuses to start as root (Docker, cloud VMs) unless told to. It stays on localhost with its token.
LAB_ROOT_FLAG = $(if $(filter 0,$(shell id -u)),--allow-root)
# lab/student/ keeps nbgrader's Validate button and hides its teacher menus; only for this command.
STUDENT_LAB_CONFIG = JUPYTER_CONFIG_PATH="$(CURDIR)/lab/student$${JUPYTER_CONFIG_PATH:+:$$JUPYTER_CONFIG_PATH}"

lab: $(STAMP)
\t$(STUDENT_LAB_CONFIG) $(VENV)/bin/jupyter lab $(LAB_ROOT_FLAG) $(LAB_ARGS) notebooks/
"""

README = """\
# VAE notes — the student hand-out

Notebooks on variational autoencoders, from autoencoders and PCA to the VAE and beyond, with exercises that check
themselves. Work through them in order:

| notebook | what it is |
| --- | --- |
{table}

`helpers/` holds the code the notebooks import (data, models, training, plots and the `check_*` functions);
`images/` the figures they show.

## Install and start (Python 3.11 or newer)

With `make` (Linux, macOS), one command; the first run installs the pinned packages into `.venv` (a few minutes):

    make lab

By hand, the same steps:

    python3 -m venv .venv
    .venv/bin/pip install -r requirements.txt
    .venv/bin/pip install --no-deps -e .
    JUPYTER_CONFIG_PATH="$PWD/lab/student" .venv/bin/jupyter lab notebooks/

On Windows (PowerShell): `py -3 -m venv .venv`, `.venv\\Scripts\\pip install -r requirements.txt`,
`.venv\\Scripts\\pip install --no-deps -e .`, `$env:JUPYTER_CONFIG_PATH = "$PWD\\lab\\student"`, then
`.venv\\Scripts\\jupyter lab notebooks`.

JupyterLab prints a link with a token; open it in your browser. Run `00_start_here.ipynb` first: it checks your
installation.

## Work and hand in

Each exercise is a function whose body raises `NotImplementedError`; the cell after it checks your code and prints
✅ or ❌ with what went wrong. The notebook's header explains how it is graded. Before you hand in, save and press
**Validate** in the notebook's toolbar. Hand in the saved `notebooks/assignments/NN_name_assignment.ipynb` files,
keeping their names, as your teacher tells you.
"""


def title_of(nb: dict) -> str:
    return cell_source(nb["cells"][0]).split("\n")[0].lstrip("# ").strip()


def has_exercises(nb: dict) -> bool:
    """A main notebook with exercises (so with solutions); its student version goes in the hand-out instead."""
    return bool(find_exercises(nb) or graded_exercises(nb)
                or any(BEGIN in cell_source(cell) or HIDDEN_BEGIN in cell_source(cell) for cell in nb["cells"]))


def hidden_seeds(notebooks: Path = NOTEBOOKS) -> set[str]:
    """The seeds of the hidden tests: `seed=N` inside the main notebooks' `### BEGIN HIDDEN TESTS` blocks."""
    seeds = set()
    for path in sorted(notebooks.glob("*.ipynb")):
        for cell in read_notebook(path)["cells"]:
            for block in cell_source(cell).split(HIDDEN_BEGIN)[1:]:
                seeds.update(HIDDEN_SEED.findall(block.split(HIDDEN_END)[0]))
    return seeds


def image_references(nb: dict) -> list[str]:
    """Relative image paths of the Markdown cells (`![alt](path)`, `<img src="path">`), in order."""
    found = []
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            found += [a or b for a, b in IMAGE_LINK.findall(cell_source(cell))]
    return [ref for ref in found if not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:|^[#/]", ref)]


def pyproject() -> str:
    """The repository's packaging section only (no test or lint configuration): `pip install -e .` for helpers."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    project, setuptools = data["project"], data["tool"]["setuptools"]

    def strings(values) -> str:
        return "[" + ", ".join(f'"{value}"' for value in values) + "]"

    package_data = "\n".join(f"{name} = {strings(globs)}" for name, globs in
                             sorted(setuptools.get("package-data", {}).items()))
    return (f'[build-system]\nrequires = {strings(data["build-system"]["requires"])}\n'
            f'build-backend = "{data["build-system"]["build-backend"]}"\n\n'
            f'[project]\nname = "{project["name"]}"\nversion = "{project["version"]}"\n'
            f'description = "{project["description"]}"\nrequires-python = "{project["requires-python"]}"\n'
            f'readme = "README.md"\n# The pins are in requirements.txt: install it first.\ndependencies = []\n\n'
            f'[tool.setuptools]\npackages = {strings(setuptools["packages"])}\n\n'
            f'[tool.setuptools.package-data]\n{package_data}\n')


def files_under(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if path.is_file()
                  and not SKIPPED_PARTS.intersection(path.relative_to(folder).parts) and path.suffix != ".pyc")


def handout_files() -> dict[str, bytes]:
    """{path inside the hand-out: content}; raises when a student version is missing."""
    files: dict[str, bytes] = {}
    notebooks: dict[str, dict] = {}
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        match = SOURCE_NOTEBOOK.match(path.name)
        if not match:
            continue
        nb = read_notebook(path)
        if has_exercises(nb):
            student = ASSIGNMENTS / f"{match[1]}{SUFFIX}.ipynb"
            if not student.is_file():
                raise FileNotFoundError(f"{student.relative_to(ROOT)} is missing: run `make assignments`")
            notebooks[student.relative_to(ROOT).as_posix()] = read_notebook(student)
            files[student.relative_to(ROOT).as_posix()] = student.read_bytes()
        else:
            notebooks[path.relative_to(ROOT).as_posix()] = nb
            files[path.relative_to(ROOT).as_posix()] = path.read_bytes()
    for name, nb in notebooks.items():
        for ref in image_references(nb):
            image = (ROOT / Path(name).parent / ref.split("#")[0]).resolve()
            if not image.is_file() or ROOT not in image.parents:
                raise FileNotFoundError(f"{name} shows {ref}, which is not a file of the repository")
            files[image.relative_to(ROOT).as_posix()] = image.read_bytes()
    for path in files_under(HELPERS) + files_under(ROOT / STUDENT_LAB) + [ROOT / BENCH_RECORD,
                                                                           ROOT / "requirements.txt"]:
        files[path.relative_to(ROOT).as_posix()] = path.read_bytes()
    table = "\n".join(f"| `{name.removeprefix('notebooks/')}` | {title_of(nb).removeprefix('Student version — ')} |"
                      for name, nb in sorted(notebooks.items(), key=lambda item: Path(item[0]).name))
    files["README.md"] = README.format(table=table).encode()
    files["Makefile"] = MAKEFILE.encode()
    files["pyproject.toml"] = pyproject().encode()
    return files


def leaks(files: dict[str, bytes], seeds: set[str]) -> list[str]:
    """What must not reach a student: solution and hidden-test markers, a hidden test's seed, a main notebook."""
    found = []
    seed_call = re.compile(rb"seed\s*=\s*(" + b"|".join(re.escape(s.encode()) for s in sorted(seeds)) + rb")\b"
                           if seeds else rb"(?!)")
    for name, content in sorted(files.items()):
        for marker in (BEGIN, HIDDEN_BEGIN, "### END SOLUTION", HIDDEN_END):
            if marker.encode() in content:
                found.append(f"{name}: {marker}")
        found += [f"{name}: seed={m.decode()}" for m in seed_call.findall(content)]
        if name.endswith(".ipynb") and not name.startswith("notebooks/assignments/") and has_exercises(
                json.loads(content)):
            found.append(f"{name}: a main notebook with exercises (its solutions)")
    return found


def write_zip(files: dict[str, bytes], out: Path) -> Path:
    """`files` zipped under TOP/, entries sorted with fixed times and modes; temporary file, then rename."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(handle)
    try:
        with zipfile.ZipFile(tmp, "w") as archive:
            for name in sorted(files):
                info = zipfile.ZipInfo(f"{TOP}/{name}", date_time=FIXED_TIME)
                info.compress_type, info.external_attr, info.create_system = zipfile.ZIP_DEFLATED, 0o644 << 16, 3
                archive.writestr(info, files[name], compresslevel=9)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def build_handout(out: Path = DEFAULT_OUT) -> Path:
    files = handout_files()
    found = leaks(files, hidden_seeds())
    if found:
        raise RuntimeError("the hand-out would give students solutions:\n" + "\n".join(found))
    return write_zip(files, out)

"""The student versions' links, and the students' hand-out (`make handout`): what is in the zip, what is not.

Every image a student notebook shows must be a file where the notebook lives: the committed student versions in
notebooks/assignments/, and every notebook of the hand-out once extracted. The hand-out must hold no solution and no
hidden test, import nothing it does not ship or requirements.txt does not install, be the same bytes when built
twice, and start a student's lab (nbgrader's Validate, no teacher UI) with its own `make lab`.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from course import handout, layout
from course.notebooks import ASSIGNMENTS, NOTEBOOKS, ROOT, cell_source, read_notebook
from tests.test_make_lab import STAMP, assert_student_lab, lab_ui, running_lab

# Written here again (not course.handout's): `![alt](path "title")`, `![alt](<path>)` and `<img ... src="path">`.
MARKDOWN_IMAGE = re.compile(r"!\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)[^)]*\)")
HTML_IMAGE = re.compile(r"<img\b[^>]*?\bsrc\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s>]+))", re.IGNORECASE)
MARKDOWN_LINK = re.compile(r"(?<!!)\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)[^)]*\)")
EXTERNAL = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*:|#)")
SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION", "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")


def markdown(nb: dict) -> str:
    return "\n".join(cell_source(c) for c in nb["cells"] if c["cell_type"] == "markdown")


def image_refs(nb: dict) -> list[str]:
    text = markdown(nb)
    return MARKDOWN_IMAGE.findall(text) + ["".join(m) for m in HTML_IMAGE.findall(text)]


def missing_targets(notebook: Path, refs: list[str], root: Path) -> list[str]:
    """The references of `notebook` that are not a file under `root`, resolved from the notebook's folder."""
    missing = []
    for ref in refs:
        assert not ref.startswith("/"), f"{notebook.name}: absolute path {ref}"
        if EXTERNAL.match(ref):
            continue
        target = (notebook.parent / ref.split("#")[0]).resolve()
        if not target.is_file() or root.resolve() not in target.parents:
            missing.append(ref)
    return missing


# ---------------------------------------------------------------- the committed student versions


def test_every_image_of_the_committed_student_notebooks_is_a_file():
    """Before the fix the student versions kept the main notebooks' `../images/bp-*.png`: notebooks/images/."""
    checked = 0
    for path in sorted(ASSIGNMENTS.glob("*_assignment.ipynb")):
        refs = image_refs(read_notebook(path))
        assert not missing_targets(path, refs, ROOT), f"{path.name}: images that are not there"
        checked += len(refs)
    assert checked >= 3, "the blog figures of 01, 02 and 05 are gone from the student versions"


def test_every_relative_link_of_the_committed_student_notebooks_resolves():
    for path in sorted(ASSIGNMENTS.glob("*_assignment.ipynb")):
        links = MARKDOWN_LINK.findall(markdown(read_notebook(path)))
        assert not missing_targets(path, links, ROOT), f"{path.name}: links to files that are not there"


def test_student_links_move_up_a_folder_and_point_at_student_versions():
    nb = {"cells": [{"cell_type": "markdown", "source": (
        '![a](../images/x.png) <img alt="b" src="../images/y.png"> [next](02_b.ipynb#top) [start](00_a.ipynb) '
        "[web](https://example.org/z.png) [here](#section) ![c](attachment:c.png)")},
        {"cell_type": "code", "source": "print('![a](../images/x.png)')"}]}
    layout.relink(nb, {"02_b"})
    assert nb["cells"][0]["source"] == (
        '![a](../../images/x.png) <img alt="b" src="../../images/y.png"> [next](02_b_assignment.ipynb#top) '
        "[start](../00_a.ipynb) [web](https://example.org/z.png) [here](#section) ![c](attachment:c.png)")
    assert nb["cells"][1]["source"] == "print('![a](../images/x.png)')", "code is not rewritten"


# ---------------------------------------------------------------- the hand-out


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = tmp_path_factory.mktemp("handout")
    first = handout.build_handout(folder / "one" / "handout.zip")
    second = handout.build_handout(folder / "two" / "handout.zip")
    with zipfile.ZipFile(first) as archive:
        names = archive.namelist()
        archive.extractall(folder / "extracted")
    return {"zip": first, "again": second, "names": names, "root": folder / "extracted" / handout.TOP}


def files(built) -> dict[str, bytes]:
    return {p.relative_to(built["root"]).as_posix(): p.read_bytes() for p in sorted(built["root"].rglob("*"))
            if p.is_file()}


def test_the_handout_is_the_same_bytes_twice_and_its_entries_are_sorted_with_fixed_times(built):
    assert built["zip"].read_bytes() == built["again"].read_bytes()
    assert built["names"] == sorted(built["names"]) and all(n.startswith(f"{handout.TOP}/") for n in built["names"])
    with zipfile.ZipFile(built["zip"]) as archive:
        assert {info.date_time for info in archive.infolist()} == {handout.FIXED_TIME}
    assert not list(built["zip"].parent.glob(".*.tmp")), "the temporary file is renamed, not left behind"


def test_the_handout_holds_the_student_versions_and_the_notebooks_without_exercises(built):
    notebooks = sorted(p.relative_to(built["root"]).as_posix() for p in built["root"].rglob("*.ipynb"))
    students = sorted(f"notebooks/assignments/{p.name}" for p in ASSIGNMENTS.glob("*_assignment.ipynb"))
    assert notebooks == sorted(["notebooks/00_start_here.ipynb", "notebooks/06_latent_space_explorer.ipynb",
                                *students]), notebooks
    for name in ("00_start_here.ipynb", "06_latent_space_explorer.ipynb"):
        assert (built["root"] / "notebooks" / name).read_bytes() == (NOTEBOOKS / name).read_bytes(), "as they are"
    for name in students:
        assert (built["root"] / name).read_bytes() == (ROOT / name).read_bytes(), "the committed student versions"


def test_the_handout_holds_what_students_run_and_no_teacher_or_maintainer_tool(built):
    names = set(files(built))
    for needed in ("README.md", "Makefile", "requirements.txt", "pyproject.toml", "helpers/__init__.py",
                   "helpers/checks/__init__.py", "helpers/weights/manifest.json", "tests/benchmarks/results.json",
                   "lab/student/jupyter_server_config.json", "lab/student/labconfig/page_config.json"):
        assert needed in names, needed
    weights = {p.relative_to(ROOT).as_posix() for p in (ROOT / "helpers" / "weights").iterdir()}
    assert weights <= names
    assert (built["root"] / "requirements.txt").read_bytes() == (ROOT / "requirements.txt").read_bytes()
    tops = {name.split("/")[0] for name in names}
    assert tops == {"README.md", "Makefile", "requirements.txt", "pyproject.toml", "helpers", "images", "lab",
                    "notebooks", "tests"}, tops
    assert [n for n in names if n.startswith("tests/")] == ["tests/benchmarks/results.json"], "00 reads it; no test"
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc") or ".ipynb_checkpoints" in n]
    readme = (built["root"] / "README.md").read_text()
    assert "make lab" in readme and "pip install -r requirements.txt" in readme and "Validate" in readme


def test_the_handout_has_no_solution_no_hidden_test_and_no_hidden_seed(built):
    seeds = set()
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        for cell in read_notebook(path)["cells"]:
            for block in cell_source(cell).split("### BEGIN HIDDEN TESTS")[1:]:
                seeds.update(re.findall(r"seed=(\d+)", block.split("### END HIDDEN TESTS")[0]))
    assert len(seeds) >= 10, "the main notebooks' hidden seeds were not found"
    solutions = []
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        for cell in read_notebook(path)["cells"]:
            for body in cell_source(cell).split("### BEGIN SOLUTION")[1:]:
                solutions += [line.strip() for line in body.split("### END SOLUTION")[0].split("\n")
                              if len(line.strip()) > 30 and not line.strip().startswith("#")]
    assert solutions, "the main notebooks' solutions were not found"
    for name, content in files(built).items():
        text = content.decode("utf-8", "replace")
        assert not [m for m in SOLUTION_MARKERS if m in text], name
        assert not re.findall(r"check_\w+\([^)\n]*seed=\d+", text), f"{name}: a hidden test call"
        assert not [s for s in seeds if re.search(rf"\b{s}\b", text)], f"{name}: a hidden seed"
        if name.endswith(".ipynb"):
            code = "\n".join(cell_source(c) for c in json.loads(text)["cells"] if c["cell_type"] == "code")
            assert not [line for line in solutions if line in code], f"{name}: solution lines"


def test_the_handout_refuses_to_zip_a_solution(tmp_path, monkeypatch):
    main = (NOTEBOOKS / "01_autoencoders_and_pca.ipynb").read_bytes()
    planted = {"notebooks/01_autoencoders_and_pca.ipynb": main, "helpers/x.py": b"check_kl(kl, seed=1)\n"}
    found = handout.leaks(planted, {"1"})
    assert any("main notebook with exercises" in f for f in found) and any("### BEGIN SOLUTION" in f for f in found)
    assert "helpers/x.py: seed=1" in found
    monkeypatch.setattr(handout, "handout_files", lambda: planted)
    with pytest.raises(RuntimeError, match="solutions"):
        handout.build_handout(tmp_path / "h.zip")
    assert not list(tmp_path.iterdir()), "nothing written"


def test_every_image_of_every_handout_notebook_opens(built):
    checked = 0
    for path in sorted(built["root"].rglob("*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        refs = image_refs(nb)
        assert not missing_targets(path, refs, built["root"]), f"{path.name}: images missing from the hand-out"
        assert not missing_targets(path, MARKDOWN_LINK.findall(markdown(nb)), built["root"]), path.name
        checked += len(refs)
    assert checked >= 3


def requirement_closure(requirements: Path) -> set[str]:
    """The distributions requirements.txt installs, with their dependencies (extras left out), normalized names."""
    def norm(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    todo = [Requirement(line.split("#")[0].strip()).name for line in requirements.read_text().splitlines()
            if line.split("#")[0].strip()]
    seen = set()
    while todo:
        name = norm(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        for text in metadata.requires(name) or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return seen


def imported_modules(source: str) -> set[str]:
    source = "\n".join(line for line in source.split("\n") if not line.lstrip().startswith(("%", "!")))
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_the_handout_imports_only_what_it_ships_or_requirements_installs(built):
    root = built["root"]
    shipped = {p.parent.name for p in root.glob("*/__init__.py")} | {p.stem for p in root.glob("*.py")}
    assert shipped == {"helpers"}
    installed = requirement_closure(root / "requirements.txt")
    provided = {module for module, dists in metadata.packages_distributions().items()
                if {re.sub(r"[-_.]+", "-", d).lower() for d in dists} & installed}
    sources = {p.relative_to(root).as_posix(): p.read_text(encoding="utf-8") for p in root.rglob("*.py")}
    for path in root.rglob("*.ipynb"):
        nb = json.loads(path.read_text(encoding="utf-8"))
        sources[path.relative_to(root).as_posix()] = "\n".join(
            cell_source(c) for c in nb["cells"] if c["cell_type"] == "code")
    for name, source in sorted(sources.items()):
        unknown = imported_modules(source) - shipped - provided - set(sys.stdlib_module_names) - {"__future__"}
        assert not unknown, f"{name} imports {sorted(unknown)}: neither in the hand-out nor in requirements.txt"


def test_the_handouts_make_lab_is_the_repositorys_students_lab(built):
    def dry_run(cwd: Path) -> str:
        result = subprocess.run(["make", "-n", "-o", STAMP, "lab"], cwd=cwd, capture_output=True, text=True,
                                check=True)
        return result.stdout.replace(str(cwd), "<root>")

    assert dry_run(built["root"]) == dry_run(ROOT)
    for path in (ROOT / "lab" / "student").rglob("*.json"):
        assert (built["root"] / path.relative_to(ROOT)).read_bytes() == path.read_bytes()


def test_the_handouts_make_lab_really_starts_a_students_lab(built, tmp_path):
    """From a fresh extraction of the hand-out, with its own Makefile and lab/student/ (the repository's .venv
    stands in for the one `make lab` would create)."""
    with zipfile.ZipFile(built["zip"]) as archive:
        archive.extractall(tmp_path / "student")
    root = tmp_path / "student" / handout.TOP
    (root / ".venv").symlink_to(ROOT / ".venv", target_is_directory=True)
    with running_lab("lab", tmp_path, cwd=root) as (port, token):
        assert_student_lab(lab_ui(port, token))


@pytest.mark.slow  # executes a notebook: make test, not make check
def test_notebook_00_runs_in_the_handout(built, monkeypatch):
    """The first notebook a student opens finds every notebook of the series in the hand-out's layout (01-05 and 07
    as student versions) and the recorded run times it shows."""
    import nbformat
    from nbclient import NotebookClient

    notebooks = built["root"] / "notebooks"
    monkeypatch.setenv("PYTHONPATH", str(built["root"]))  # the hand-out's helpers, not the repository's
    nb = nbformat.read(notebooks / "00_start_here.ipynb", as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(notebooks)}}).execute()
    errors = [o for cell in nb.cells for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors

"""Every committed notebook in notebooks/ (not assignments/) is clean: run in order, no errors, no
machine paths, small, and opens with a title naming the blog-post section it accompanies."""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
MAX_BYTES = 3 * 1024 * 1024

# The blog post's headings, and phrases of its variational-inference passage (which has no heading).
BLOG_SECTIONS = ("Introduction", "Auto-encoders", "Variational Auto Encoders", "In Theory", "In Practice")
VI_PHRASES = ("Bayesian setting", "variational inference", "KL divergence", "ELBO", "evidence lower bound", "SVI",
              "amortized", "gradient-based VI", "reparametrized VI", "mean field", "mean-field", "coordinate ascent",
              "ADVI")
TEXT_MIMES = ("text/", "application/json", "application/javascript")


def _machine_paths() -> list[str]:
    """Absolute path prefixes that would leak this machine's layout into a committed output."""
    prefixes = {"/work/", "/root/", "/home/", "/tmp/", f"{REPO}/", f"{REPO.resolve()}/"}
    home = str(Path.home())
    if len(home) > 1:
        prefixes.add(home.rstrip("/") + "/")
    if os.environ.get("USER"):
        prefixes.add(f"/Users/{os.environ['USER']}/")
    return sorted(prefixes)


MACHINE_PATH = re.compile(r"(?<![\w.-])(?:" + "|".join(re.escape(p) for p in _machine_paths()) + ")")


@pytest.fixture(params=NOTEBOOKS, ids=[path.name for path in NOTEBOOKS])
def notebook(request):
    path = request.param
    return path, nbformat.read(path, as_version=4)


def test_start_here_notebook_exists():
    assert (NOTEBOOK_DIR / "00_start_here.ipynb").is_file(), "notebooks/00_start_here.ipynb is missing"


def test_no_notebook_is_collected_from_assignments():
    assert all(path.parent == NOTEBOOK_DIR for path in NOTEBOOKS)


def test_executed_top_to_bottom_in_one_kernel(notebook):
    path, nb = notebook
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    empty = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code" and not cell.source.strip()]
    assert not empty, f"{path.name}: empty code cells at positions {empty}; delete them"
    counts = [cell.execution_count for cell in code]
    assert None not in counts, f"{path.name}: {counts.count(None)} code cell(s) never executed"
    assert counts == list(range(1, len(code) + 1)), (
        f"{path.name}: execution counts {counts} are not 1..{len(code)}; restart the kernel and run all cells"
    )


def test_no_error_outputs(notebook):
    path, nb = notebook
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            assert output.output_type != "error", (
                f"{path.name}, cell {index}: {output.get('ename')}: {output.get('evalue')}"
            )


def _output_texts(output) -> list[str]:
    if output.output_type == "stream":
        return [output.text]
    if output.output_type == "error":
        return [output.get("evalue", ""), *output.get("traceback", [])]
    texts = []
    for mime, value in output.get("data", {}).items():
        if mime.startswith(TEXT_MIMES) or mime.endswith("+json"):
            texts.append(value if isinstance(value, str) else repr(value))
    return texts


def test_no_absolute_paths_of_this_machine_in_outputs(notebook):
    path, nb = notebook
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            for text in _output_texts(output):
                match = MACHINE_PATH.search(text)
                assert match is None, (
                    f"{path.name}, cell {index}: output shows a path of this machine: "
                    f"...{text[max(0, match.start() - 40): match.end() + 40]!r}..."
                )


def test_machine_path_pattern_catches_paths_but_not_urls():
    assert MACHINE_PATH.search("saved to /tmp/x.npz") and MACHINE_PATH.search("File /root/.cache/vae-notes/a")
    assert MACHINE_PATH.search(f"cwd: {REPO}/notebooks")
    assert not MACHINE_PATH.search("see https://example.org/home/page and ./tmp/x")


def test_under_3_mb(notebook):
    path, _ = notebook
    size = path.stat().st_size
    assert size < MAX_BYTES, f"{path.name} is {size / 2**20:.2f} MB; keep it under 3 MB (smaller figures, lower dpi)"


def test_first_cell_is_a_title_naming_the_blog_section(notebook):
    path, nb = notebook
    first = nb.cells[0]
    assert first.cell_type == "markdown", f"{path.name}: the first cell must be markdown"
    text = first.source
    assert text.startswith("# ") and len(text.splitlines()[0]) > 2, f"{path.name}: start with a `# Title` line"
    assert any("Blog post" in line or "blog post" in line for line in text.splitlines()), (
        f"{path.name}: the first cell needs a line naming the blog post section it accompanies"
    )
    lowered = text.lower()
    assert any(name.lower() in lowered for name in BLOG_SECTIONS + VI_PHRASES), (
        f"{path.name}: the first cell must name a section of the blog post, one of {BLOG_SECTIONS} "
        f"or a phrase of its variational-inference passage"
    )
    assert re.search(r"[Rr]un time\W+(about\s+)?\d+\s*s\b", text), (
        f"{path.name}: the first cell must state the run time, e.g. 'Run time: about 40 s on a 2-core CPU'"
    )


def test_second_cell_seeds_everything(notebook):
    path, nb = notebook
    assert len(nb.cells) > 1 and nb.cells[1].cell_type == "code", f"{path.name}: the second cell must be code"
    assert "seed_everything(" in nb.cells[1].source, f"{path.name}: the second cell must call seed_everything(...)"


def test_has_a_cell_whose_output_nbval_checks(notebook):
    path, nb = notebook
    checked = [cell for cell in nb.cells
               if cell.cell_type == "code" and cell.source.lstrip().startswith("# NBVAL_CHECK_OUTPUT")]
    assert checked, f"{path.name}: mark 2-4 deterministic cells with a first line `# NBVAL_CHECK_OUTPUT`"
    assert all(cell.get("outputs") for cell in checked), f"{path.name}: an NBVAL_CHECK_OUTPUT cell has no output"


def _series_table_of_notebook_00() -> dict[str, int]:
    """Notebook 00's SERIES literal: {notebook: run-time budget in seconds}."""
    import ast

    nb = nbformat.read(NOTEBOOK_DIR / "00_start_here.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.source.startswith("SERIES = {"):
            series = ast.literal_eval(cell.source.split("=", 1)[1].split("\n}", 1)[0] + "\n}")
            return {name: budget for name, (_, budget) in series.items()}
    raise AssertionError("notebook 00 has no `SERIES = {...}` cell")


def test_notebook_00s_budgets_are_readmes():
    readme = {}
    for line in (REPO / "README.md").read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("`0") and cells[3].endswith(" s"):
            readme[cells[0].strip("`")] = int(cells[3].removesuffix(" s"))
    assert readme == _series_table_of_notebook_00(), "README's notebook table and notebook 00's SERIES disagree"

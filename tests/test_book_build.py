"""Unit tests of the book's build steps (book/build.py) that need neither Jupyter Book nor a browser."""

from __future__ import annotations

import json
import re

import pytest

from book import build
from course import notebooks
from tests.conftest import REPO

MAIN_NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def hidden_seeds(notebook: dict) -> set[str]:
    """The seeds of a main notebook's hidden tests (what students must not see)."""
    return {seed for cell in notebook["cells"] if "### BEGIN HIDDEN TESTS" in "".join(cell["source"])
            for seed in re.findall(r"seed=(\d+)", "".join(cell["source"]))}


@pytest.mark.parametrize("path", MAIN_NOTEBOOKS, ids=lambda p: p.stem[:2])
def test_a_staged_page_is_a_students_page(path, tmp_path):
    build.stage_notebook(path, tmp_path / path.name)
    main, staged = json.loads(path.read_text()), json.loads((tmp_path / path.name).read_text())
    text = json.dumps(staged)
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "HIDDEN TESTS", "NBVAL_CHECK_OUTPUT", "on the hidden tests"):
        assert marker not in text, f"{path.name}: '{marker}' reaches the book"
    for seed in hidden_seeds(main):
        assert seed not in text, f"{path.name}: the hidden tests' seed {seed} reaches the book"
    exercises = notebooks.find_exercises(main)
    folded = [c for c in staged["cells"] if c["cell_type"] == "markdown" and "Show a solution" in c["source"]]
    assert len(folded) == len(exercises), "each exercise's solution sits in one closed block"
    assert all(c["source"].startswith("<details>\n") and c["source"].endswith("</details>") for c in folded)
    stubs = [c for c in staged["cells"] if c["cell_type"] == "code" and "raise NotImplementedError()" in c["source"]]
    assert len(stubs) >= len(exercises)


def test_multi_line_formulas_are_joined_and_everything_else_is_left_alone():
    markdown = (
        "Inline $a$ is\n- a list item with $b$,\n"
        "display $$x = y\n  - z$$ and inline $p\n  + q$ end.\n"
        "```\n$ make\n  - not math\n```\n"
    )
    joined = build._one_line_math(markdown)
    assert "$$x = y - z$$" in joined and "$p + q$" in joined
    assert "is\n- a list item" in joined, "prose between two formulas was joined"
    assert "```\n$ make\n  - not math\n```" in joined, "a fenced code block was changed"
    assert build._one_line_math("one $x$ line, $$y$$ too") == "one $x$ line, $$y$$ too"


def test_widget_views_without_saved_state_fall_back_to_their_text():
    view = build.WIDGET_VIEW_MIME
    outputs = [
        {"data": {view: {"model_id": "saved"}, "text/plain": "slider"}},
        {"data": {view: {"model_id": "lost"}, "text/plain": "done in 3 s"}},
        {"name": "stdout", "text": "hello"},
    ]
    kept = build._without_orphan_widgets(json.loads(json.dumps(outputs)), {"saved"})
    assert view in kept[0]["data"]
    assert kept[1]["data"] == {"text/plain": "done in 3 s"}
    assert kept[2] == outputs[2]


def test_the_explorer_page_goes_right_after_notebook_06_only_when_it_exists():
    without = [chapter["file"] for chapter in build.table_of_contents(set())["chapters"]]
    with_page = [chapter["file"] for chapter in build.table_of_contents({build.EXPLORER_PAGE})["chapters"]]
    assert build.EXPLORER_PAGE not in without
    assert with_page.index(build.EXPLORER_PAGE) == with_page.index(build.EXPLORER_AFTER) + 1
    assert [page for page in with_page if page != build.EXPLORER_PAGE] == without


def test_blog_url_from_the_command_line_replaces_the_configured_one():
    assert build.book_config("https://example.org/post/")["sphinx"]["config"]["blog_url"] == "https://example.org/post/"
    assert build.book_config(None)["execute"]["execute_notebooks"] == "off", "the book must never re-run notebooks"

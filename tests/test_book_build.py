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
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "HIDDEN TESTS", "NBVAL_", "YOUR CODE HERE", "on the hidden tests"):
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


def test_saved_widgets_are_left_out_with_a_note_in_their_place(tmp_path):
    """Notebook 06's saved widgets move but change nothing without a kernel: no widget state, no widget view."""
    path = REPO / "notebooks" / "06_latent_space_explorer.ipynb"
    main = json.loads(path.read_text())
    views = sum(build.WIDGET_VIEW_MIME in o.get("data", {}) for c in main["cells"] for o in c.get("outputs", []))
    assert views and "widgets" in main["metadata"], "notebook 06 no longer saves widgets: simplify the build"
    build.stage_notebook(path, tmp_path / path.name)
    staged = json.loads((tmp_path / path.name).read_text())
    text = json.dumps(staged)
    assert "widgets" not in staged["metadata"] and build.WIDGET_VIEW_MIME not in text
    assert "widget-state" not in text
    notes = [output for cell in staged["cells"] for output in cell.get("outputs", [])
             if output.get("data") == {"text/html": build.WIDGET_NOTE}]
    assert len(notes) == views, "each left-out widget says why, in its place"


def test_test_and_grading_marker_lines_are_removed_and_nothing_else():
    code = ("# NBVAL_CHECK_OUTPUT\n# NBVAL_IGNORE_OUTPUT\nx = 1  # NBVAL_SKIP is only a word here\n"
            "### BEGIN SOLUTION\n    # YOUR CODE HERE\ny = 2\n### END SOLUTION\n### BEGIN MARK SCHEME\n"
            "# a comment\nprint('### BEGIN SOLUTION')")
    assert build._markers_removed(code).split("\n") == [
        "x = 1  # NBVAL_SKIP is only a word here", "y = 2", "# a comment", "print('### BEGIN SOLUTION')"]


@pytest.mark.parametrize("path", MAIN_NOTEBOOKS, ids=lambda p: p.stem[:2])
def test_each_page_offers_its_student_version_and_links_the_repository_only_when_configured(path, tmp_path):
    build.stage_notebook(path, tmp_path / "plain.ipynb")
    build.stage_notebook(path, tmp_path / "with_repo.ipynb", repo_url="https://example.org/vae-notes")
    cells = {name: json.loads((tmp_path / f"{name}.ipynb").read_text())["cells"] for name in ("plain", "with_repo")}
    links = {name: [c["source"] for c in found if "vae-downloads" in "".join(c["source"])]
             for name, found in cells.items()}
    assert all(len(found) == 1 for found in links.values()), "one line of links per page"
    first = next(cell["source"] for cell in cells["plain"] if cell["cell_type"] == "markdown")
    assert first.startswith("# ") and first.split("\n\n")[1].startswith('<div class="vae-downloads">'), \
        "the links sit right under the title"
    offered = build.offered_download(path)
    assert f'href="../{build.DOWNLOADS}/{offered.name}"' in links["plain"][0]
    assert "vae-repository" not in links["plain"][0] and "example.org" not in json.dumps(cells["plain"])
    assert '<a class="vae-repository" href="https://example.org/vae-notes">' in links["with_repo"][0]
    main = json.loads(path.read_text())
    if notebooks.find_exercises(main):
        assert offered == REPO / "notebooks" / "assignments" / f"{path.stem}_assignment.ipynb"
        assert "(student version)" in links["plain"][0]
        student = offered.read_text()
        assert "BEGIN SOLUTION" not in student and "HIDDEN TESTS" not in student
        assert not any(f"seed={seed}" in student for seed in hidden_seeds(main)), "a hidden-test seed in the download"
    else:
        assert offered == path, "a notebook without exercises is offered as it is"


def test_the_landing_page_is_the_books_own_with_every_notebook_and_guide(tmp_path):
    guides = {tmp_path / "teacher-guide.md": "teacher-guide", tmp_path / "CONTRIBUTING.md": "contributing"}
    (tmp_path / "teacher-guide.md").write_text("# The teacher's guide\n\ntext\n")
    (tmp_path / "CONTRIBUTING.md").write_text("no title\n")
    build.stage_landing_page(MAIN_NOTEBOOKS, tmp_path / "index.md", "https://example.org/repo", guides)
    page = (tmp_path / "index.md").read_text()
    assert page.startswith("# ") and "blog post" in page.split("\n\n", 2)[1], "the page starts with what it is"
    assert "<!--" not in page, "a placeholder was left"
    for path in MAIN_NOTEBOOKS:
        assert f"(notebooks/{path.name})" in page and f'href="downloads/{build.offered_download(path).name}"' in page
    assert "- [The teacher's guide](guides/teacher-guide.md)" in page
    assert "- [Contributing](guides/contributing.md)" in page, "a guide without a title gets one from its name"
    assert "https://example.org/repo" in page
    build.stage_landing_page(MAIN_NOTEBOOKS, tmp_path / "bare.md", "", {})
    assert "https://" not in (tmp_path / "bare.md").read_text(), "no repository link unless one is configured"
    assert (REPO / "README.md").read_text().split("\n")[0] not in page, "the README is not the landing page"


def test_guides_are_staged_after_the_chapters_with_links_that_work_in_the_book(tmp_path, monkeypatch):
    """Against a repository of its own (tmp): docs/*.md and CONTRIBUTING.md, their links between them, to notebooks,
    images and other repository files, with and without a repository URL."""
    repo = tmp_path / "repo"
    for folder in ("docs", "helpers", "notebooks", "images"):
        (repo / folder).mkdir(parents=True)
    (repo / "helpers" / "checks.py").write_text("")
    (repo / "notebooks" / "05_vae.ipynb").write_text("{}")
    (repo / "images" / "fig.png").write_bytes(b"")
    (repo / "docs" / "zeta.md").write_text("no heading, links [design](design.md#layout)\n")
    (repo / "docs" / "design.md").write_text(
        "# Design\n\n[contributing](../CONTRIBUTING.md), [the checks](../helpers/checks.py), "
        "[helpers](../helpers/), [05](../notebooks/05_vae.ipynb#in-theory), ![a figure](../images/fig.png), "
        "[web](https://example.org/x.md), [here](#layout), [gone](../nowhere.md), `[code](../helpers/checks.py)`\n\n"
        "```\n[fenced](../helpers/checks.py)\n```\n")
    (repo / "docs" / "teacher-guide.md").write_text("# Teachers\n")
    (repo / "CONTRIBUTING.md").write_text("# Contributing\n\nsee [the design notes](docs/design.md)\n")
    monkeypatch.setattr(build, "REPO", repo)
    guides = build.guide_sources()
    assert list(guides.values()) == ["teacher-guide", "design", "zeta", "contributing"]
    toc = build.table_of_contents(set(), list(guides.values()))
    assert [part["caption"] for part in toc["parts"]] == ["The series", "Guides"]
    assert toc["parts"][1]["chapters"] == [{"file": f"guides/{name}"} for name in guides.values()]
    assert toc["parts"][0]["chapters"] == build.table_of_contents(set())["chapters"]
    for url, expected in (("", "[contributing](contributing.md), the checks, helpers, [05](../notebooks/05_vae.ipynb"
                               "#in-theory), ![a figure](../images/fig.png), [web](https://example.org/x.md), "
                               "[here](#layout), gone, `[code](../helpers/checks.py)`"),
                          ("https://example.org/repo", "[contributing](contributing.md), [the checks]"
                           "(https://example.org/repo/blob/main/helpers/checks.py), [helpers]"
                           "(https://example.org/repo/tree/main/helpers), [05]")):
        target = tmp_path / ("with-url" if url else "without-url") / "design.md"
        build.stage_guide(repo / "docs" / "design.md", target, guides, url, "main")
        staged = target.read_text()
        assert expected in staged, staged
        assert "```\n[fenced](../helpers/checks.py)\n```" in staged, "fenced code was changed"
    build.stage_guide(repo / "CONTRIBUTING.md", tmp_path / "c.md", guides, "", "main")
    assert "[the design notes](design.md)" in (tmp_path / "c.md").read_text()
    build.stage_guide(repo / "docs" / "zeta.md", tmp_path / "z.md", guides, "", "main")
    assert (tmp_path / "z.md").read_text() == "# Zeta\n\nno heading, links [design](design.md#layout)\n"


def test_the_explorer_page_goes_right_after_notebook_06_only_when_it_exists():
    without = [chapter["file"] for chapter in build.table_of_contents(set())["chapters"]]
    with_page = [chapter["file"] for chapter in build.table_of_contents({build.EXPLORER_PAGE})["chapters"]]
    assert build.EXPLORER_PAGE not in without
    assert with_page.index(build.EXPLORER_PAGE) == with_page.index(build.EXPLORER_AFTER) + 1
    assert [page for page in with_page if page != build.EXPLORER_PAGE] == without


def test_blog_and_repository_urls_from_the_command_line_replace_the_configured_ones():
    assert build.book_config("https://example.org/post/")["sphinx"]["config"]["blog_url"] == "https://example.org/post/"
    assert build.repository(build.book_config(None)) == ("", "main"), "no repository link unless one is configured"
    assert build.repository(build.book_config(None, "https://example.org/r/")) == ("https://example.org/r", "main")
    assert build.book_config(None)["execute"]["execute_notebooks"] == "off", "the book must never re-run notebooks"

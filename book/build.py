"""Build the series as a static site that reads offline: `python -m book.build [--out build/book]` (= `make book`).

Steps, each skipped when already up to date:
1. `.venv-book` (Jupyter Book 1, pinned in requirements-book.txt) is created when missing or older than the pins;
2. `book/node_modules` comes from `npm ci` on the committed package-lock.json (MathJax 3; axe-core, which only the
   tests inject) when missing or older than the lock file.
Then, every time:
3. a source tree is staged in a work folder: the students' landing page (book/index.md, with the table of notebooks
   and their downloads), the committed executed notebooks as a student's book (never re-executed; solutions folded,
   hidden tests and test or grading markers removed, notebook 06's saved widgets left out, a download link under
   each title, multi-line formulas joined into one line), the book's own pages, the guides (docs/*.md and
   CONTRIBUTING.md, when present) and a table of contents: the series in reading order (the in-browser explorer page
   right after notebook 06 when it exists), then the guides;
4. Jupyter Book renders it to HTML;
5. MathJax is copied from node_modules into `<out>/vendor/` (nothing from a CDN at read time), the notebooks offered
   for download into `<out>/downloads/`, and the explorer's files into `<out>/explorer/` with the data
   `python -m book.export` writes there.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

BOOK = Path(__file__).resolve().parent
REPO = BOOK.parent
BOOK_VENV = REPO / ".venv-book"
BOOK_REQUIREMENTS = REPO / "requirements-book.txt"
NODE_MODULES = BOOK / "node_modules"
EXPLORER_PAGE = "explore_latent_space"
EXPLORER_AFTER = "notebooks/06_latent_space_explorer"
BOOK_PAGES = ["reading_map.md", f"{EXPLORER_PAGE}.md"]  # the book's own pages, staged when present
LANDING_PAGE = BOOK / "index.md"
DOWNLOADS_MARKER = "<!-- vae-book: notebooks -->"  # where the landing page gets its table of notebooks
GUIDES_MARKER = "<!-- vae-book: guides -->"  # … and the list of guides
DOWNLOADS = "downloads"  # <site>/downloads/: the notebooks a reader can download
ASSIGNMENTS = REPO / "notebooks" / "assignments"
GUIDES = "guides"  # <site>/guides/: docs/*.md and CONTRIBUTING.md
GUIDE_ORDER = ["teacher-guide", "performance", "reliability", "design"]  # then any other docs/*.md, then contributing
WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_NOTE = ("<p class=\"vae-widget-note\"><em>Here JupyterLab shows an explorer with sliders. They need a running "
               "kernel, so this page leaves them out: download the notebook to move them. A figure further down this "
               "section shows what the explorer shows, and the 2-D explorer at the top of this page runs in your "
               "browser.</em></p>")
# A line that is only a test or grading marker: nbval's `# NBVAL_…`, nbgrader's `### BEGIN/END …` and stub comments.
MARKER_LINE = re.compile(r"^[ \t]*(#[ \t]*NBVAL_\w+|#+[ \t]*(BEGIN|END) (SOLUTION|HIDDEN TESTS|MARK SCHEME)\b|"
                         r"#[ \t]*YOUR (CODE|ANSWER) HERE)[^\n]*$", re.MULTILINE)
HIDDEN_TESTS = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS[^\n]*\n?", re.DOTALL | re.MULTILINE)
SOLUTION = re.compile(r"^([ \t]*)### BEGIN SOLUTION.*?### END SOLUTION[^\n]*", re.DOTALL | re.MULTILINE)
MATH = re.compile(r"\$\$.+?\$\$|\$(?:[^$\\]|\\.)+?\$", re.DOTALL)  # $$…$$ or $…$, left to right, in pairs

# What the site serves from node_modules: (source under node_modules, target under <out>/vendor).
VENDORED = [
    ("mathjax/es5/tex-chtml.js", "mathjax/tex-chtml.js"),
    ("mathjax/es5/output/chtml/fonts/woff-v2", "mathjax/output/chtml/fonts/woff-v2"),
    ("mathjax/es5/input/tex/extensions", "mathjax/input/tex/extensions"),  # loaded on demand by \require, autoload
    ("mathjax/es5/a11y", "mathjax/a11y"),  # the accessibility menu's components (loaded on demand)
    ("mathjax/es5/ui", "mathjax/ui"),
    ("mathjax/es5/sre", "mathjax/sre"),
]


def _log(message: str) -> None:
    print(f"[book] {message}", flush=True)


def _stale(stamp: Path, source: Path) -> bool:
    return not stamp.is_file() or stamp.stat().st_mtime < source.stat().st_mtime


def ensure_book_venv() -> Path:
    """The venv with Jupyter Book (created or updated when requirements-book.txt is newer); its jupyter-book."""
    stamp = BOOK_VENV / ".installed"
    if _stale(stamp, BOOK_REQUIREMENTS):
        _log(f"installing the book's tools into {BOOK_VENV.name} (once)")
        if not (BOOK_VENV / "bin" / "python").exists():
            subprocess.run([sys.executable, "-m", "venv", str(BOOK_VENV)], check=True)
        subprocess.run([str(BOOK_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", "-r",
                        str(BOOK_REQUIREMENTS)], check=True)
        stamp.touch()
    return BOOK_VENV / "bin" / "jupyter-book"


def ensure_node_modules() -> None:
    """`npm ci` from the committed lock file when node_modules is missing or older than it."""
    stamp = NODE_MODULES / ".package-lock.json"  # npm writes it on every install
    if _stale(stamp, BOOK / "package-lock.json"):
        npm = shutil.which("npm")
        if npm is None:
            raise SystemExit("npm is missing: install it (Debian: `apt-get install npm`) and run `make book` again")
        _log("installing the site's JavaScript with npm ci (once)")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=BOOK, check=True)
        stamp.touch()


def table_of_contents(pages: set[str], guides: list[str] | None = None) -> dict:
    """The committed _toc.yml, with the explorer page right after notebook 06 when that page exists, and the guides
    (page names under guides/) as a part of their own after the chapters."""
    toc = yaml.safe_load((BOOK / "_toc.yml").read_text())
    chapters = toc["chapters"]
    if EXPLORER_PAGE in pages:
        position = next(i for i, chapter in enumerate(chapters) if chapter["file"] == EXPLORER_AFTER)
        chapters.insert(position + 1, {"file": EXPLORER_PAGE})
    if guides:
        del toc["chapters"]
        toc["parts"] = [{"caption": "The series", "chapters": chapters},
                        {"caption": "Guides", "chapters": [{"file": f"{GUIDES}/{name}"} for name in guides]}]
    return toc


def book_config(blog_url: str | None, repo_url: str | None = None) -> dict:
    """The committed _config.yml, with `blog_url` and the repository's URL replaced when given on the command line."""
    config = yaml.safe_load((BOOK / "_config.yml").read_text())
    if blog_url is not None:
        config["sphinx"]["config"]["blog_url"] = blog_url
    if repo_url is not None:
        config.setdefault("repository", {})["url"] = repo_url
    return config


def repository(config: dict) -> tuple[str, str]:
    """The configured repository's URL ('' when none is) and branch."""
    settings = config.get("repository") or {}
    return (settings.get("url") or "").rstrip("/"), settings.get("branch") or "main"


def _one_line_math(markdown: str) -> str:
    """Math spanning several lines joined into one line: Jupyter protects math from Markdown, MyST does not, so a
    line inside a formula that starts with '- ' or '+ ' would otherwise become a list item."""
    def join(match: re.Match) -> str:
        formula = match.group(0)
        return " ".join(formula.split()) if "\n" in formula and "\n\n" not in formula else formula

    parts = markdown.split("```")  # odd parts are fenced code: left alone
    return "```".join(MATH.sub(join, part) if i % 2 == 0 else part for i, part in enumerate(parts))


def _markers_removed(code: str) -> str:
    """Code without the lines that are only a test or grading marker (`# NBVAL_…`, `### BEGIN SOLUTION`, …)."""
    return "\n".join(line for line in code.split("\n") if not MARKER_LINE.fullmatch(line)).strip("\n")


def _widgets_dropped(outputs: list[dict]) -> list[dict]:
    """A saved widget view (it moves but changes nothing without a kernel) replaced by a note that says so."""
    for output in outputs:
        if WIDGET_VIEW_MIME in output.get("data", {}):
            output["data"], output["metadata"] = {"text/html": WIDGET_NOTE}, {}
    return outputs


def _hidden_tests_removed(cell: dict) -> dict:
    """A check cell as students see it: no hidden-test calls (their seeds), no test markers, no verdict on them."""
    cell["source"] = _markers_removed(HIDDEN_TESTS.sub("", "".join(cell["source"])))
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            text = "".join(output["text"]).split("\n")
            output["text"] = "\n".join(line for line in text if "hidden tests" not in line)
    cell["outputs"] = [o for o in cell.get("outputs", []) if o.get("output_type") != "stream" or o["text"].strip()]
    return cell


def _solution_folded(cell: dict) -> list[dict]:
    """An exercise cell as students get it (the solution replaced by the stub), then the solution in a closed block."""
    source = "".join(cell["source"])
    solution = _markers_removed(source)
    cell["source"] = _markers_removed(SOLUTION.sub(lambda m: f"{m.group(1)}raise NotImplementedError()", source))
    folded = {"cell_type": "markdown", "metadata": {}, "id": f"{cell.get('id', 'cell')}-solution",
              "source": f"<details>\n<summary>Show a solution</summary>\n\n```python\n{solution}\n```\n\n</details>"}
    return [cell, folded]


def has_exercises(notebook: Path) -> bool:
    return "### BEGIN SOLUTION" in notebook.read_text(encoding="utf-8")


def offered_download(notebook: Path) -> Path:
    """What a reader downloads from a notebook's page: its student version (notebooks/assignments/…_assignment.ipynb)
    when the notebook has exercises, else the notebook itself (00 and 06 hold none)."""
    if not has_exercises(notebook):
        return notebook
    student = ASSIGNMENTS / f"{notebook.stem}_assignment.ipynb"
    if not student.is_file():
        raise SystemExit(f"{student.relative_to(REPO)} is missing: build the student versions first "
                         "(`make assignments`); the book never offers a notebook with its solutions")
    return student


def download_links(notebook: Path, root: str, repo_url: str) -> str:
    """The line of links under a notebook page's title; `root` leads from the page to the site's root."""
    offered = offered_download(notebook)
    what = "student version" if offered != notebook else "notebook"
    links = [f'<a class="vae-download" href="{root}{DOWNLOADS}/{offered.name}" download>Download this notebook '
             f'({what})</a>']
    if repo_url:
        links.append(f'<a class="vae-repository" href="{repo_url}">Source repository</a>')
    return '<div class="vae-downloads">\n' + " ·\n".join(links) + "\n</div>"


def stage_notebook(notebook: Path, target: Path, repo_url: str = "") -> None:
    """Copy a committed notebook for rendering, adapted to MyST where it reads Jupyter's conventions differently,
    and as a student's book: exercises show their stub with the solution in a closed block after them, check cells
    show no hidden tests (nor their seeds), no test or grading marker is left, saved widgets are left out (a note
    says so) and a download link (and the repository's, when configured) sits under the title."""
    content = json.loads(notebook.read_text(encoding="utf-8"))
    content["metadata"].pop("widgets", None)
    cells = []
    for cell in content["cells"]:
        if cell["cell_type"] == "markdown":
            cell["source"] = _one_line_math("".join(cell["source"]))
        elif cell["cell_type"] == "code":
            cell["outputs"] = _widgets_dropped(cell["outputs"])
            if "### BEGIN SOLUTION" in "".join(cell["source"]):
                cells += _solution_folded(cell)
                continue
            cell = _hidden_tests_removed(cell)
        cells.append(cell)
    title = next(cell for cell in cells if cell["cell_type"] == "markdown")
    heading, _, rest = title["source"].partition("\n")
    links = download_links(notebook, "../", repo_url)
    title["source"] = f"{heading}\n\n{links}\n\n{rest}" if heading.startswith("# ") else f"{links}\n\n{title['source']}"
    content["cells"] = cells
    target.write_text(json.dumps(content), encoding="utf-8")


def _title(notebook: Path) -> str:
    first = next(cell for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]
                 if cell["cell_type"] == "markdown")
    return "".join(first["source"]).split("\n")[0].lstrip("# ").strip()


def notebook_table(notebooks: list[Path], repo_url: str) -> str:
    """The landing page's table of notebooks (page, exercises, download), then the repository's link when set."""
    rows = ["| notebook | exercises | download |", "| --- | --- | --- |"]
    for notebook in notebooks:
        offered = offered_download(notebook)
        exercises = sum("### BEGIN SOLUTION" in "".join(cell["source"])
                        for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"])
        title = _title(notebook).replace("|", "\\|")
        what = "student version" if offered != notebook else "notebook"
        rows.append(f"| [{title}](notebooks/{notebook.name}) | {exercises or 'none'} | "
                    f'<a href="{DOWNLOADS}/{offered.name}" download>{offered.name}</a> ({what}) |')
    table = "\n".join(rows)
    if repo_url:
        table += f"\n\nThe source repository, with `helpers`, the images and the tests: [{repo_url}]({repo_url})."
    return table


def guide_list(guides: dict[Path, str]) -> str:
    """The landing page's list of the guides, each with its title."""
    if not guides:
        return "The guides for teachers and maintainers are in the repository."
    items = []
    for source, name in guides.items():
        heading = re.search(r"^# (.+)$", source.read_text(encoding="utf-8"), re.MULTILINE)
        title = heading[1].strip() if heading else guide_title(source)
        items.append(f"- [{title}]({GUIDES}/{name}.md)")
    return "Teachers, maintainers and contributors: the guides follow the chapters.\n\n" + "\n".join(items)


def stage_landing_page(notebooks: list[Path], target: Path, repo_url: str, guides: dict[Path, str]) -> None:
    """book/index.md with the table of notebooks and their downloads, and the list of guides, where it says so."""
    page = LANDING_PAGE.read_text(encoding="utf-8")
    for marker, content in ((DOWNLOADS_MARKER, notebook_table(notebooks, repo_url)),
                            (GUIDES_MARKER, guide_list(guides))):
        if marker not in page:
            raise SystemExit(f"{LANDING_PAGE.relative_to(REPO)} lost its '{marker}' line")
        page = page.replace(marker, content)
    target.write_text(page, encoding="utf-8")


def guide_sources() -> dict[Path, str]:
    """The guides present now, in the book's order (GUIDE_ORDER, other docs/*.md by name, CONTRIBUTING.md last):
    source file -> page name under guides/."""
    def rank(path: Path) -> tuple[int, str]:
        return (GUIDE_ORDER.index(path.stem) if path.stem in GUIDE_ORDER else len(GUIDE_ORDER), path.stem)

    guides = {path: path.stem.lower() for path in sorted((REPO / "docs").glob("*.md"), key=rank)}
    if (REPO / "CONTRIBUTING.md").is_file():
        guides[REPO / "CONTRIBUTING.md"] = "contributing"
    return guides


LINK = re.compile(r"(?P<code>(?P<ticks>`+).+?(?P=ticks))|(?P<bang>!?)\[(?P<text>(?:[^\[\]\n]|\[[^\[\]\n]*\])*)\]"
                  r"\((?P<target><[^<>\n]+>|[^()\s]+)(?P<title>[ \t]+\"[^\"\n]*\")?\)", re.DOTALL)


def _site_page(repo_path: str, guides: dict[str, str]) -> str | None:
    """Where a repository file is in the staged sources ('' paths relative to the source root), None if not there."""
    if repo_path in guides:
        return f"{GUIDES}/{guides[repo_path]}.md"
    if re.fullmatch(r"notebooks/[0-9][0-9]_[^/]+\.ipynb", repo_path) or repo_path.startswith("images/"):
        return repo_path if (REPO / repo_path).exists() else None
    if repo_path.startswith("book/") and repo_path.removeprefix("book/") in [*BOOK_PAGES, "index.md"]:
        return repo_path.removeprefix("book/") if (REPO / repo_path).exists() else None
    return None


def guide_links(markdown: str, source: Path, guides: dict[Path, str], repo_url: str, branch: str) -> str:
    """A guide's relative links made to work in the book: to a guide, notebook, image or book page of the site, its
    page there; to any other repository file, the file on the code host when a repository URL is configured, else
    the link's text (an image's alt text). Links with a scheme or to an anchor of the same page are left alone."""
    by_repo_path = {path.relative_to(REPO).as_posix(): name for path, name in guides.items()}
    here = f"{GUIDES}/{guides[source]}.md"

    def relink(match: re.Match) -> str:
        target = match["target"].strip("<>") if match["target"] else ""
        if match["code"] or re.match(r"[a-z][a-z0-9+.-]*:|#", target, re.IGNORECASE):
            return match.group(0)
        path, _, anchor = target.partition("#")
        repo_path = Path(os.path.relpath(os.path.normpath(source.parent / path), REPO)).as_posix()
        page = None if repo_path.startswith("..") else _site_page(repo_path, by_repo_path)
        if page is not None:
            new = os.path.relpath(page, os.path.dirname(here)) + (f"#{anchor}" if anchor else "")
        elif repo_url and not repo_path.startswith("..") and (REPO / repo_path).exists():
            kind = "tree" if (REPO / repo_path).is_dir() else "blob"
            new = f"{repo_url}/{kind}/{branch}/{repo_path}" + (f"#{anchor}" if anchor else "")
        else:
            return match["text"]
        return f"{match['bang']}[{match['text']}]({new}{match['title'] or ''})"

    parts = markdown.split("```")  # odd parts are fenced code: left alone
    return "```".join(LINK.sub(relink, part) if i % 2 == 0 else part for i, part in enumerate(parts))


def guide_title(source: Path) -> str:
    """A title for a guide that has no heading of its own: its file name ('teacher-guide.md' -> 'Teacher guide')."""
    return source.stem.replace("-", " ").replace("_", " ").capitalize()


def stage_guide(source: Path, target: Path, guides: dict[Path, str], repo_url: str, branch: str) -> None:
    """A guide as a page of the book: its links made to work there, and a title when it starts without one."""
    markdown = guide_links(source.read_text(encoding="utf-8"), source, guides, repo_url, branch)
    if not re.match(r"\s*(<!--.*?-->\s*)*# ", markdown, re.DOTALL):
        markdown = f"# {guide_title(source)}\n\n{markdown}"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(markdown, encoding="utf-8")


def main_notebooks() -> list[Path]:
    return sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def stage_sources(source: Path, blog_url: str | None, repo_url: str | None = None) -> None:
    """Lay out the book's sources in `source`: landing page, notebooks, images, own pages, guides, config and TOC."""
    source.mkdir(parents=True)
    config = book_config(blog_url, repo_url)
    url, branch = repository(config)
    notebooks, guides = main_notebooks(), guide_sources()
    stage_landing_page(notebooks, source / "index.md", url, guides)
    (source / "notebooks").mkdir()
    for notebook in notebooks:
        stage_notebook(notebook, source / "notebooks" / notebook.name, url)
    shutil.copytree(REPO / "images", source / "images")
    shutil.copytree(BOOK / "extensions", source / "extensions", ignore=shutil.ignore_patterns("__pycache__"))
    pages = set()
    for page in BOOK_PAGES:
        if (BOOK / page).is_file():
            shutil.copy(BOOK / page, source / page)
            pages.add(Path(page).stem)
    for guide, name in guides.items():
        stage_guide(guide, source / GUIDES / f"{name}.md", guides, url, branch)
    toc = table_of_contents(pages, list(guides.values()))
    (source / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False))
    (source / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))


def render(jupyter_book: Path, source: Path, work: Path) -> Path:
    """Run Jupyter Book on the staged sources; the folder of HTML it wrote."""
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    subprocess.run([str(jupyter_book), "build", str(source), "--path-output", str(work), "--builder", "html",
                    "--keep-going", "--warningiserror"], check=True, env=env)
    return work / "_build" / "html"


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target)
    else:
        shutil.copy(source, target)


def add_vendored_javascript(site: Path) -> None:
    """Copy MathJax into <site>/vendor."""
    for source, target in VENDORED:
        _copy(NODE_MODULES / source, site / "vendor" / target)


def add_downloads(site: Path) -> None:
    """Copy the notebooks the pages offer (student versions; 00 and 06 themselves) into <site>/downloads."""
    for notebook in main_notebooks():
        _copy(offered_download(notebook), site / DOWNLOADS / offered_download(notebook).name)


def add_explorer(site: Path) -> None:
    """Copy the in-browser explorer (book/explorer) and write its data with `python -m book.export`."""
    if not (BOOK / "explorer").is_dir():
        return
    shutil.copytree(BOOK / "explorer", site / "explorer")
    subprocess.run([sys.executable, "-m", "book.export", str(site / "explorer")], cwd=REPO, check=True)


def build(out: Path, blog_url: str | None = None, repo_url: str | None = None) -> Path:
    """Build the whole site into `out` (replaced); returns `out`."""
    started = time.monotonic()
    jupyter_book = ensure_book_venv()
    ensure_node_modules()
    times = {"set-up": time.monotonic() - started}
    with tempfile.TemporaryDirectory(prefix="vae-notes-book-") as scratch:
        source, work = Path(scratch) / "src", Path(scratch) / "work"
        stage_sources(source, blog_url, repo_url)
        html = render(jupyter_book, source, work)
        if out.exists():
            shutil.rmtree(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(html, out, ignore=shutil.ignore_patterns(".buildinfo", ".doctrees"))
    times["Jupyter Book"] = time.monotonic() - started - sum(times.values())
    add_vendored_javascript(out)
    add_downloads(out)
    add_explorer(out)
    times["JavaScript, downloads and explorer data"] = time.monotonic() - started - sum(times.values())
    size_mb = sum(path.stat().st_size for path in out.rglob("*") if path.is_file()) / 1e6
    phases = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in times.items())
    _log(f"built {out} in {time.monotonic() - started:.1f} s ({phases}); {size_mb:.1f} MB; open {out / 'index.html'}")
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "build" / "book", help="output folder (replaced)")
    parser.add_argument("--blog-url", default=None, help="the blog post's URL: reading-map section names link to it")
    parser.add_argument("--repo-url", default=None,
                        help="the source repository's URL (default: repository.url in book/_config.yml, empty = none): "
                             "pages link to it, and the guides' links to repository files point there")
    parser.add_argument("--tools-only", action="store_true",
                        help="only install the book's tools (.venv-book, book/node_modules); `make setup` runs it")
    args = parser.parse_args(argv)
    if args.tools_only:
        ensure_book_venv()
        ensure_node_modules()
        return
    build(args.out.resolve(), args.blog_url, args.repo_url)


if __name__ == "__main__":
    main()

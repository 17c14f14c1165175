"""Build the series as a static site that reads offline: `python -m book.build [--out build/book]` (= `make book`).

Steps, each skipped when already up to date:
1. `.venv-book` (Jupyter Book 1, pinned in requirements-book.txt) is created when missing or older than the pins;
2. `book/node_modules` comes from `npm ci` on the committed package-lock.json (MathJax 3, the ipywidgets HTML
   manager, RequireJS) when missing or older than the lock file.
Then, every time:
3. a source tree is staged in a work folder: README.md as the landing page, the committed executed notebooks (never
   re-executed; multi-line formulas joined into one line, widget views without saved state shown as their static
   fallback), the book's own pages, and a table of contents in series order (the in-browser explorer page goes
   right after notebook 06 when it exists);
4. Jupyter Book renders it to HTML;
5. the JavaScript the pages load is copied from node_modules into `<out>/vendor/` (nothing from a CDN at read time),
   the widget manager's font files next to the pages that show widgets, and the explorer's files into
   `<out>/explorer/` with the data `python -m book.export` writes there.
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
WIDGET_STATE_MIME = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json"
HIDDEN_TESTS = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS[^\n]*\n?", re.DOTALL | re.MULTILINE)
SOLUTION = re.compile(r"^([ \t]*)### BEGIN SOLUTION.*?### END SOLUTION[^\n]*", re.DOTALL | re.MULTILINE)
NBVAL_MARKER = "# NBVAL_CHECK_OUTPUT"
MATH = re.compile(r"\$\$.+?\$\$|\$(?:[^$\\]|\\.)+?\$", re.DOTALL)  # $$…$$ or $…$, left to right, in pairs

# What the site serves from node_modules: (source under node_modules, target under <out>/vendor).
VENDORED = [
    ("requirejs/require.js", "require.js"),
    ("@jupyter-widgets/html-manager/dist/embed-amd.js", "embed-amd.js"),
    ("mathjax/es5/tex-chtml.js", "mathjax/tex-chtml.js"),
    ("mathjax/es5/output/chtml/fonts/woff-v2", "mathjax/output/chtml/fonts/woff-v2"),
    ("mathjax/es5/input/tex/extensions", "mathjax/input/tex/extensions"),  # loaded on demand by \require, autoload
    ("mathjax/es5/a11y", "mathjax/a11y"),  # the accessibility menu's components (loaded on demand)
    ("mathjax/es5/ui", "mathjax/ui"),
    ("mathjax/es5/sre", "mathjax/sre"),
]
# Font Awesome for the widgets, looked up next to the page. Every browser in use reads woff2 (the first format the
# bundle's CSS offers that Chromium, Firefox and Safari take), so the eot/ttf/svg/woff copies (2.7 MB) stay out.
WIDGET_FONT_SUFFIXES = (".woff2",)


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


def table_of_contents(pages: set[str]) -> dict:
    """The committed _toc.yml, with the explorer page right after notebook 06 when that page exists."""
    toc = yaml.safe_load((BOOK / "_toc.yml").read_text())
    if EXPLORER_PAGE in pages:
        chapters = toc["chapters"]
        position = next(i for i, chapter in enumerate(chapters) if chapter["file"] == EXPLORER_AFTER)
        chapters.insert(position + 1, {"file": EXPLORER_PAGE})
    return toc


def book_config(blog_url: str | None) -> dict:
    """The committed _config.yml, with `blog_url` replaced when given on the command line."""
    config = yaml.safe_load((BOOK / "_config.yml").read_text())
    if blog_url is not None:
        config["sphinx"]["config"]["blog_url"] = blog_url
    return config


def _one_line_math(markdown: str) -> str:
    """Math spanning several lines joined into one line: Jupyter protects math from Markdown, MyST does not, so a
    line inside a formula that starts with '- ' or '+ ' would otherwise become a list item."""
    def join(match: re.Match) -> str:
        formula = match.group(0)
        return " ".join(formula.split()) if "\n" in formula and "\n\n" not in formula else formula

    parts = markdown.split("```")  # odd parts are fenced code: left alone
    return "```".join(MATH.sub(join, part) if i % 2 == 0 else part for i, part in enumerate(parts))


def _without_orphan_widgets(outputs: list[dict], saved_models: set[str]) -> list[dict]:
    """A widget view whose model is not in the saved state draws nothing: keep its static fallback instead."""
    for output in outputs:
        view = output.get("data", {}).get(WIDGET_VIEW_MIME)
        if view is not None and view.get("model_id") not in saved_models:
            del output["data"][WIDGET_VIEW_MIME]
    return outputs


def _hidden_tests_removed(cell: dict) -> dict:
    """A check cell as students see it: no hidden-test calls (their seeds), no test markers, no verdict on them."""
    source = HIDDEN_TESTS.sub("", "".join(cell["source"]))
    cell["source"] = "\n".join(line for line in source.split("\n") if line.strip() != NBVAL_MARKER).strip("\n")
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            text = "".join(output["text"]).split("\n")
            output["text"] = "\n".join(line for line in text if "hidden tests" not in line)
    cell["outputs"] = [o for o in cell.get("outputs", []) if o.get("output_type") != "stream" or o["text"].strip()]
    return cell


def _solution_folded(cell: dict) -> list[dict]:
    """An exercise cell as students get it (the solution replaced by the stub), then the solution in a closed block."""
    source = "".join(cell["source"])
    solution = "\n".join(line for line in source.split("\n") if "### BEGIN SOLUTION" not in line
                         and "### END SOLUTION" not in line)
    cell["source"] = SOLUTION.sub(lambda m: f"{m.group(1)}raise NotImplementedError()", source)
    folded = {"cell_type": "markdown", "metadata": {}, "id": f"{cell.get('id', 'cell')}-solution",
              "source": f"<details>\n<summary>Show a solution</summary>\n\n```python\n{solution}\n```\n\n</details>"}
    return [cell, folded]


def stage_notebook(notebook: Path, target: Path) -> None:
    """Copy a committed notebook for rendering, adapted to MyST where it reads Jupyter's conventions differently,
    and as a student's book: exercises show their stub with the solution in a closed block after them, check cells
    show no hidden tests (nor their seeds), and no test or grading marker is left."""
    content = json.loads(notebook.read_text(encoding="utf-8"))
    state = content["metadata"].get("widgets", {}).get(WIDGET_STATE_MIME, {}).get("state", {})
    cells = []
    for cell in content["cells"]:
        if cell["cell_type"] == "markdown":
            cell["source"] = _one_line_math("".join(cell["source"]))
        elif cell["cell_type"] == "code":
            cell["outputs"] = _without_orphan_widgets(cell["outputs"], set(state))
            if "### BEGIN SOLUTION" in "".join(cell["source"]):
                cells += _solution_folded(cell)
                continue
            cell = _hidden_tests_removed(cell)
        cells.append(cell)
    content["cells"] = cells
    target.write_text(json.dumps(content), encoding="utf-8")


def stage_sources(source: Path, blog_url: str | None) -> None:
    """Lay out the book's sources in `source`: landing page, notebooks, images, own pages, config and TOC."""
    source.mkdir(parents=True)
    shutil.copy(REPO / "README.md", source / "index.md")
    (source / "notebooks").mkdir()
    for notebook in sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        stage_notebook(notebook, source / "notebooks" / notebook.name)
    shutil.copytree(REPO / "images", source / "images")
    shutil.copytree(BOOK / "extensions", source / "extensions", ignore=shutil.ignore_patterns("__pycache__"))
    pages = set()
    for page in BOOK_PAGES:
        if (BOOK / page).is_file():
            shutil.copy(BOOK / page, source / page)
            pages.add(Path(page).stem)
    (source / "_toc.yml").write_text(yaml.safe_dump(table_of_contents(pages), sort_keys=False))
    (source / "_config.yml").write_text(yaml.safe_dump(book_config(blog_url), sort_keys=False))


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
    """Copy MathJax, RequireJS and the widget manager into <site>/vendor, its fonts next to the widget pages."""
    for source, target in VENDORED:
        _copy(NODE_MODULES / source, site / "vendor" / target)
    widget_fonts = [path for path in (NODE_MODULES / "@jupyter-widgets/html-manager/dist").iterdir()
                    if path.suffix in WIDGET_FONT_SUFFIXES]
    widget_pages = [page for page in site.rglob("*.html") if WIDGET_STATE_MIME in page.read_text()]
    for folder in {page.parent for page in widget_pages}:
        for font in widget_fonts:
            shutil.copy(font, folder / font.name)


def add_explorer(site: Path) -> None:
    """Copy the in-browser explorer (book/explorer) and write its data with `python -m book.export`."""
    if not (BOOK / "explorer").is_dir():
        return
    shutil.copytree(BOOK / "explorer", site / "explorer")
    subprocess.run([sys.executable, "-m", "book.export", str(site / "explorer")], cwd=REPO, check=True)


def build(out: Path, blog_url: str | None = None) -> Path:
    """Build the whole site into `out` (replaced); returns `out`."""
    started = time.monotonic()
    jupyter_book = ensure_book_venv()
    ensure_node_modules()
    times = {"set-up": time.monotonic() - started}
    with tempfile.TemporaryDirectory(prefix="vae-notes-book-") as scratch:
        source, work = Path(scratch) / "src", Path(scratch) / "work"
        stage_sources(source, blog_url)
        html = render(jupyter_book, source, work)
        if out.exists():
            shutil.rmtree(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(html, out, ignore=shutil.ignore_patterns(".buildinfo", ".doctrees"))
    times["Jupyter Book"] = time.monotonic() - started - sum(times.values())
    add_vendored_javascript(out)
    add_explorer(out)
    times["JavaScript and explorer data"] = time.monotonic() - started - sum(times.values())
    size_mb = sum(path.stat().st_size for path in out.rglob("*") if path.is_file()) / 1e6
    phases = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in times.items())
    _log(f"built {out} in {time.monotonic() - started:.1f} s ({phases}); {size_mb:.1f} MB; open {out / 'index.html'}")
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "build" / "book", help="output folder (replaced)")
    parser.add_argument("--blog-url", default=None, help="the blog post's URL: reading-map section names link to it")
    parser.add_argument("--tools-only", action="store_true",
                        help="only install the book's tools (.venv-book, book/node_modules); `make setup` runs it")
    args = parser.parse_args(argv)
    if args.tools_only:
        ensure_book_venv()
        ensure_node_modules()
        return
    build(args.out.resolve(), args.blog_url)


if __name__ == "__main__":
    main()

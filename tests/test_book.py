"""The book (`make book`) read in headless Debian Chromium, offline: every page, over 127.0.0.1 and from file://.

The session's single build (`built_book`, tests/conftest.py) is served on 127.0.0.1; each page in the book's order
(the series, then the guides) opens once at 1366 px, with every request outside the site aborted and counted
(tests/book_support.py), and axe-core checks it. The checks then run on what the visits recorded: no request left
the site, no console error, no serious or critical axe-core violation, math typeset (no raw `$…$` or `\\(…\\)` left
in the prose), every <img> loaded with alt text, no widget manager and no slider without a label, each notebook's
download link, previous/next links in the book's order, the reading map's links resolve. The pages themselves are
checked for a student's book: no solution outside a closed block, no hidden test or its seed, no test or grading
marker. Full-page screenshots go to test-artifacts/book/. A second pass opens pages from file://, and the search page
is asked a question. The same pages at 390 px are checked by axe-core in tests/test_book_a11y.py.
"""

from __future__ import annotations

import functools
import json
import posixpath
import re
import subprocess
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urldefrag, urljoin, urlparse

import pytest

from book import build
from tests.book_support import axe_violations, open_offline_page
from tests.conftest import REPO

ARTIFACTS = REPO / "test-artifacts" / "book"
BOOK = REPO / "book"
NAVIGATION_PAGES = {"genindex.html", "search.html"}  # Sphinx's own pages, outside the series
LOAD_TIMEOUT_MS = 30_000
WIDE = {"width": 1366, "height": 900}
# On a page of the series, a line of code or text that is a test or grading marker (nbval's, nbgrader's).
MARKER = re.compile(r"NBVAL_[A-Z_]+|(BEGIN|END) (SOLUTION|HIDDEN TESTS|MARK SCHEME)|YOUR (CODE|ANSWER) HERE")
SEEDED_CHECK = re.compile(r"check_\w+\([^()]*seed=\d+")  # a check called with a seed: the hidden tests' form

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def series_order() -> list[str]:
    """The pages in reading order, from the repository (not from the build): landing page, reading map, notebooks
    00–07 by number, the in-browser explorer right after notebook 06 when its page exists."""
    pages = ["index.html", "reading_map.html"]
    for notebook in sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        pages.append(f"notebooks/{notebook.stem}.html")
        if notebook.stem.startswith("06_") and (BOOK / "explore_latent_space.md").is_file():
            pages.append("explore_latent_space.html")
    return pages


def guide_pages() -> list[str]:
    """The guides (docs/*.md, CONTRIBUTING.md) present in the repository, in the order the book lists them."""
    return [f"guides/{name}.html" for name in build.guide_sources().values()]


def book_order() -> list[str]:
    """Every page of ours in the navigation's order: the series, then the guides."""
    return series_order() + guide_pages()


# Runs in the page once it has loaded: waits for MathJax, then reports what a reader sees.
_INSPECT_JS = """async () => {
  if (window.MathJax && MathJax.startup) { await MathJax.startup.promise; }
  const states = document.querySelectorAll('script[type="application/vnd.jupyter.widget-state+json"]').length;
  const views = document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]').length;
  const images = [...document.images];
  images.forEach(img => { img.loading = 'eager'; });
  await Promise.all(images.map(img => img.decode().catch(() => null)));
  const article = document.querySelector('article') || document.body;
  const skip = 'pre, code, script, style, textarea, mjx-container, .MathJax, .highlight, .output';
  const walker = document.createTreeWalker(article, NodeFilter.SHOW_TEXT);
  const rawMath = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (node.parentElement.closest(skip)) continue;
    const text = node.textContent;
    if (/\\$[^$\\s][^$]*\\$|\\\\\\(|\\\\\\)|\\\\\\[|\\\\\\]|\\\\(frac|mathbb|mathcal|operatorname)\\b/.test(text)) {
      rawMath.push(text.trim().slice(0, 120));
    }
  }
  const column = article.getBoundingClientRect();
  const scrolls = el => { for (let e = el; e && e !== article.parentElement; e = e.parentElement) {
    if (['auto', 'scroll'].includes(getComputedStyle(e).overflowX)) return true; } return false; };
  const clipped = [...article.querySelectorAll('mjx-container[display="true"], pre')].filter(el => {
    const box = el.getBoundingClientRect();
    return box.width > 0 && !scrolls(el) && (box.right > column.right + 1 || el.scrollWidth > el.clientWidth + 1);
  }).map(el => (el.innerText || el.textContent).trim().slice(0, 80));
  const link = selector => { const a = document.querySelector(selector); return a ? a.href : null; };
  return {
    title: document.title,
    firstLines: [...article.querySelectorAll('p')].filter(p => !p.closest('#latent-explorer, .latent-explorer'))
      .slice(0, 2).map(p => p.innerText).join(' '),
    mathTypeset: document.querySelectorAll('mjx-container').length,
    rawMath,
    images: images.map(img => ({src: img.currentSrc || img.src, alt: (img.getAttribute('alt') || '').trim(),
                                width: img.naturalWidth, complete: img.complete})),
    widgetStates: states, widgetViews: views,
    widgetsDrawn: document.querySelectorAll('.jupyter-widgets').length,
    unlabelledSliders: [...document.querySelectorAll('input[type="range"]')].filter(input => !input.labels.length
      && !input.getAttribute('aria-label') && !input.getAttribute('aria-labelledby')).map(input => input.outerHTML),
    title: (document.querySelector('article h1') || {textContent: ''}).textContent.replace(/#$/, '').trim(),
    downloads: [...document.querySelectorAll('a.vae-download')].map(a => a.href),
    repositoryLinks: [...document.querySelectorAll('a.vae-repository')].map(a => a.href),
    dangerBars: document.querySelectorAll('.progress-bar-danger, .bg-danger').length,
    unfinishedBars: [...document.querySelectorAll('.output, .cell_output')].flatMap(o => o.innerText.split(/[\\r\\n]/))
      .filter(line => /(^|\\s)(\\d{1,2})%\\|/.test(line)).map(line => line.trim().slice(0, 120)),
    prev: link('a.left-prev'), next: link('a.right-next'), clipped,
  };
}"""


def _visit(page, log, url: str, screenshot: Path | None = None, axe: bool = False) -> tuple[dict, object]:
    """Open `url` in `page`; what the page showed (with axe-core's verdict when asked) and what it did (its PageLog
    entries since the last visit)."""
    page.goto(url, wait_until="load", timeout=LOAD_TIMEOUT_MS)
    seen = page.evaluate(_INSPECT_JS)
    if axe:
        seen["axe"] = axe_violations(page)
    if screenshot is not None:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=screenshot, full_page=True, type="jpeg", quality=70)  # PNG encoding is 2-3x slower
    return seen, log.take()


def _screenshot_path(page: str) -> Path:
    return ARTIFACTS / (page.replace("/", "_").removesuffix(".html") + ".jpg")


def _visit_all(browser, site: str, paths: list[str], screenshots: bool = False,
               axe: bool = False) -> dict[str, tuple[dict, object]]:
    """The pages opened one after the other in one tab (the browser's cache serves the shared scripts again)."""
    page, log = open_offline_page(browser, site, viewport=WIDE)
    try:
        return {path: _visit(page, log, site + path, _screenshot_path(path) if screenshots else None, axe)
                for path in paths}
    finally:
        page.context.close()


@pytest.fixture(scope="module")
def visits(book_server, book_browser) -> dict[str, tuple[dict, object]]:
    """Every page of the book opened once over 127.0.0.1 at 1366 px, axe-core run on it: page path -> (what the page
    showed, its PageLog)."""
    return _visit_all(book_browser, book_server, book_order(), screenshots=True, axe=True)


def _relative(site: str, url: str | None) -> str | None:
    return None if url is None else urldefrag(url)[0].removeprefix(site)


def test_the_site_holds_the_series_and_nothing_else(built_book):
    pages = {path.relative_to(built_book).as_posix() for path in built_book.rglob("*.html")
             if "_static" not in path.parts}
    assert pages - NAVIGATION_PAGES == set(book_order()), "the book's pages differ from the series and the guides"


def _text(html: str) -> str:
    """What a page says: its HTML without tags and with entities read."""
    return unescape(re.sub(r"<[^>]+>", "", html))


def test_no_page_shows_a_solution_outside_a_closed_block_or_a_hidden_test(built_book):
    from course.notebooks import find_exercises
    from tests.test_book_build import hidden_seeds

    seeds = set()
    for notebook in sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        main = json.loads(notebook.read_text(encoding="utf-8"))
        seeds |= hidden_seeds(main)
        html = (built_book / "notebooks" / f"{notebook.stem}.html").read_text(encoding="utf-8")
        for marker in ("BEGIN SOLUTION", "HIDDEN TESTS", "NBVAL_CHECK_OUTPUT", *hidden_seeds(main)):
            assert marker not in html, f"{notebook.stem}.html shows '{marker}'"
        blocks = re.findall(r"<details>\s*<summary>Show a solution</summary>(.*?)</details>", html, re.DOTALL)
        assert len(blocks) == len(find_exercises(main)), f"{notebook.stem}: one closed solution block per exercise"
        outside = re.sub(r"<details>.*?</details>", "", html, flags=re.DOTALL)
        assert outside.count("NotImplementedError") >= len(blocks), "each exercise shows its stub"
        for block in blocks:  # a solution's code lines appear only inside its block
            code = re.sub(r"<[^>]+>", "", block)
            body = [line.strip() for line in code.splitlines() if line.strip().startswith("return ")]
            assert all(line not in re.sub(r"<[^>]+>", "", outside) for line in body), f"{notebook.stem}: {body}"
    for path in book_order():  # the guides included: no hidden test's seed anywhere
        text = _text((built_book / path).read_text(encoding="utf-8"))
        assert not SEEDED_CHECK.findall(text), f"{path} calls a check with a seed: {SEEDED_CHECK.findall(text)}"
        assert not [seed for seed in seeds if re.search(rf"seed\s*=\s*{seed}\b", text)], f"{path}: a hidden seed"


def test_no_page_of_the_series_shows_a_test_or_grading_marker(built_book):
    """nbval's `# NBVAL_…`, nbgrader's `### BEGIN …`/`### END …` and stub comments stay out of the student's pages
    (the guides, which explain them to teachers and maintainers, may name them)."""
    shown = {}
    for path in series_order():
        found = sorted({match.group(0) for match in MARKER.finditer(_text((built_book / path).read_text("utf-8")))})
        if found:
            shown[path] = found
    assert not shown, f"markers shown to readers: {shown}"


def _loads(page: str, scripts: list[str], site_path: str) -> bool:
    """Whether one of the page's <script src> resolves to `site_path` (both relative to the site's root)."""
    folder = posixpath.dirname(page)
    return site_path in {posixpath.normpath(posixpath.join(folder, src.split("?")[0])) for src in scripts}


def test_each_script_loads_only_where_it_is_needed(built_book):
    """MathJax from the site where math is, the explorer on 2 pages, no widget manager anywhere."""
    for path in book_order():
        html = (built_book / path).read_text(encoding="utf-8")
        scripts = re.findall(r'<script[^>]* src="([^"]+)"', html)
        assert not [src for src in scripts if re.search(r"embed-amd|require(\.min)?\.js|html-manager", src)], \
            f"{path} loads a widget manager: {scripts}"
        # myst-nb asks Sphinx to load MathJax on every page (outputs may hold LaTeX): required where math is
        if 'class="math' in html:
            assert _loads(path, scripts, "vendor/mathjax/tex-chtml.js"), f"{path}: math but no MathJax: {scripts}"
        wants_explorer = path in ("explore_latent_space.html", "notebooks/06_latent_space_explorer.html")
        assert _loads(path, scripts, "explorer/latent-explorer.js") == wants_explorer, f"{path}: explorer: {scripts}"
    assert (built_book / "vendor/mathjax/tex-chtml.js").is_file(), "MathJax is missing from the site"
    assert sorted(path.name for path in (built_book / "vendor").iterdir()) == ["mathjax"], "vendor/ holds more"
    assert not list(built_book.glob("notebooks/*.woff2")), "the widget manager's fonts are still copied"


def test_no_page_reaches_outside_the_site(visits):
    aborted = {path: log.aborted for path, (_, log) in visits.items() if log.aborted}
    failed = {path: log.failed for path, (_, log) in visits.items() if log.failed}
    assert not aborted, f"requests outside the site (aborted): {aborted}"
    assert not failed, f"requests inside the site that failed: {failed}"


def test_no_console_errors(visits):
    errors = {path: log.console_errors + log.page_errors for path, (_, log) in visits.items()
              if log.console_errors or log.page_errors}
    assert not errors, f"console errors: {errors}"
    warnings = {path: log.console_warnings for path, (_, log) in visits.items() if log.console_warnings}
    print(f"console warnings (third-party, see docs/reliability.md): {warnings}")


def test_math_is_typeset_and_no_raw_tex_is_left(visits):
    raw = {path: seen["rawMath"] for path, (seen, _) in visits.items() if seen["rawMath"]}
    assert not raw, f"raw TeX left in the prose: {raw}"
    for path in series_order()[2:]:  # every notebook writes math
        if path.startswith("notebooks/"):
            assert visits[path][0]["mathTypeset"] > 0, f"{path}: no formula was typeset by MathJax"


def test_wide_formulas_and_code_scroll_instead_of_being_cut_off(visits):
    """A display formula or code line wider than the text column must sit in a horizontal scroller."""
    clipped = {path: seen["clipped"] for path, (seen, _) in visits.items() if seen["clipped"]}
    assert not clipped, f"content wider than the column and not scrollable: {clipped}"


def test_every_image_loaded_and_has_alt_text(visits):
    problems = []
    for path, (seen, _) in visits.items():
        for image in seen["images"]:
            name = unquote(urlparse(image["src"]).path.rsplit("/", 1)[-1])
            if not image["complete"] or image["width"] == 0:
                problems.append(f"{path}: {image['src']} did not load")
            if not image["alt"] or name in image["alt"]:
                problems.append(f"{path}: {image['src']} has no alt text (alt={image['alt']!r})")
    assert not problems, "\n".join(problems)
    for notebook in sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        figures = sum("image/png" in output.get("data", {}) for cell in cells for output in cell.get("outputs", []))
        shown = len(visits[f"notebooks/{notebook.stem}.html"][0]["images"])
        assert shown >= figures, f"{notebook.name}: {figures} figures saved, {shown} images on its page"


def test_no_saved_widget_and_no_slider_without_a_label(visits, built_book):
    """Notebook 06's saved widgets (sliders that move but change nothing without a kernel) are left out; the live
    explorer's sliders are the only ones, and each has a label."""
    for path, (seen, _) in visits.items():
        assert (seen["widgetStates"], seen["widgetViews"], seen["widgetsDrawn"]) == (0, 0, 0), f"{path}: {seen}"
        assert not seen["unlabelledSliders"], f"{path}: sliders without a label: {seen['unlabelledSliders']}"

    path = REPO / "notebooks" / "06_latent_space_explorer.ipynb"
    saved = json.dumps(json.loads(path.read_text(encoding="utf-8"))["cells"]).count(build.WIDGET_VIEW_MIME)
    html = (built_book / "notebooks" / "06_latent_space_explorer.html").read_text(encoding="utf-8")
    assert html.count('class="vae-widget-note"') == saved, "each left-out widget should leave its note"


def test_axe_core_finds_no_serious_violation_at_1366_px(visits):
    found = {path: seen["axe"] for path, (seen, _) in visits.items() if seen["axe"]}
    assert not found, "axe-core, serious or critical, at 1366 px:\n" + json.dumps(found, indent=1)


def test_each_notebook_page_offers_its_student_version_from_the_site(visits, built_book, book_server):
    from tests.test_book_build import hidden_seeds

    for notebook in sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        seen = visits[f"notebooks/{notebook.stem}.html"][0]
        assert len(seen["downloads"]) == 1, f"{notebook.stem}: download links {seen['downloads']}"
        assert not seen["repositoryLinks"], "a repository link although none is configured"
        target = built_book / _relative(book_server, seen["downloads"][0])
        assert target.is_file(), f"{notebook.stem}: the download {target} is not in the site"
        offered = build.offered_download(notebook)
        assert target.read_bytes() == offered.read_bytes(), f"{target.name} is not {offered}"
        content, main = target.read_text(encoding="utf-8"), json.loads(notebook.read_text(encoding="utf-8"))
        assert "BEGIN SOLUTION" not in content and "HIDDEN TESTS" not in content, f"{target.name} holds solutions"
        assert not [seed for seed in hidden_seeds(main) if f"seed={seed}" in content], f"{target.name}: hidden seed"
        if "BEGIN SOLUTION" in notebook.read_text(encoding="utf-8"):
            assert target.name == f"{notebook.stem}_assignment.ipynb", f"{notebook.stem}: not the student version"
    assert not any(seen["repositoryLinks"] for seen, _ in visits.values())


def test_the_landing_page_is_for_students_and_links_every_notebook_download_and_guide(visits, built_book):
    seen = visits["index.html"][0]
    assert seen["title"] == "Variational Autoencoders, step by step", seen["title"]
    links = _parse(built_book / "index.html").hrefs
    for path in series_order()[1:] + guide_pages():
        assert path in links, f"the landing page does not link to {path}"
    downloads = [href for href in links if href.startswith(f"{build.DOWNLOADS}/")]
    assert len(downloads) == len(list((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb")))
    assert all((built_book / href).is_file() for href in downloads), downloads
    text = _text((built_book / "index.html").read_text(encoding="utf-8"))
    assert "Two commands" not in text and "make test" not in text, "the landing page is still the README"


def test_each_guide_is_a_page_after_the_chapters_with_its_own_title(visits):
    guides = guide_pages()
    assert guides, "no guide: docs/*.md and CONTRIBUTING.md are missing"
    for path, source in zip(guides, build.guide_sources(), strict=True):
        heading = re.search(r"^# (.+)$", source.read_text(encoding="utf-8"), re.MULTILINE)
        title = visits[path][0]["title"]
        plain = functools.partial(re.sub, r"[`*_\s]", "")  # Markdown's emphasis and code marks, spaces
        assert title and (heading is None or plain(heading[1]) == plain(title)), \
            f"{path}: page title {title!r}, the guide's {heading and heading[1]!r}"


def test_no_red_or_unfinished_progress_bar_is_shown(visits):
    """A finished or early-stopped training run reads as done: no red bar, no saved '39%|████' line."""
    red = {path: seen["dangerBars"] for path, (seen, _) in visits.items() if seen["dangerBars"]}
    unfinished = {path: seen["unfinishedBars"] for path, (seen, _) in visits.items() if seen["unfinishedBars"]}
    assert not red, f"red (danger) progress bars: {red}"
    assert not unfinished, f"progress bars saved below 100 %: {unfinished}"


def test_each_page_says_which_part_of_the_post_it_accompanies(visits):
    for path in series_order():  # the first two paragraphs (the in-page explorer above notebook 06's left out)
        first_lines = visits[path][0]["firstLines"].lower()
        assert "blog post" in first_lines, f"{path} does not name its blog section in its first lines: {first_lines}"


def test_previous_and_next_links_follow_the_series_order(visits, book_server):
    order = book_order()
    for before, after in zip(order, order[1:]):
        assert _relative(book_server, visits[before][0]["next"]) == after, f"'next' on {before} is not {after}"
        assert _relative(book_server, visits[after][0]["prev"]) == before, f"'previous' on {after} is not {before}"
    assert visits[order[-1]][0]["next"] is None, f"the last page {order[-1]} has a 'next' link"


class _Links(HTMLParser):
    """Collects the href of every <a> inside <article> and every id on the page."""

    def __init__(self):
        super().__init__()
        self.depth, self.hrefs, self.ids = 0, [], set()

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if "id" in attributes:
            self.ids.add(attributes["id"])
        if tag == "article":
            self.depth += 1
        if tag == "a" and self.depth and attributes.get("href"):
            self.hrefs.append(attributes["href"])

    def handle_endtag(self, tag):
        if tag == "article":
            self.depth -= 1


@functools.cache
def _parse(page: Path) -> _Links:
    parser = _Links()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def test_the_reading_map_links_resolve_to_sections_of_every_notebook(built_book):
    links = [href for href in _parse(built_book / "reading_map.html").hrefs if not href.startswith("#")]
    targets = set()
    for href in links:
        assert "://" not in href, f"the reading map links outside the site: {href}"
        path, anchor = urldefrag(urljoin("reading_map.html", href))
        assert (built_book / path).is_file(), f"the reading map links to a missing page: {href}"
        if anchor:
            assert anchor in _parse(built_book / path).ids, f"the reading map links to a missing section: {href}"
        targets.add(path)
    notebooks = {page for page in series_order() if page.startswith("notebooks/")}
    assert notebooks <= targets, f"notebooks the reading map never points to: {sorted(notebooks - targets)}"


def test_blog_url_turns_section_names_into_links(built_book):  # built_book: the build made .venv-book
    """The {blog} role, run by the book's own Sphinx: bold text without blog_url, a link to the section with it."""
    script = (
        "import sys; sys.path.insert(0, 'book/extensions')\n"
        "from types import SimpleNamespace as NS\n"
        "import vae_book\n"
        "for url in ('', 'https://example.org/post/'):\n"
        "    inliner = NS(document=NS(settings=NS(env=NS(config=NS(blog_url=url)))))\n"
        "    for text in ('Auto-encoders', 'the methods list <Introduction>'):\n"
        "        node = vae_book.blog_role('blog', text, text, 1, inliner)[0][0]\n"
        "        print(node.tagname, node.get('refuri', '-'), node.astext())\n"
    )
    python = REPO / ".venv-book" / "bin" / "python"
    result = subprocess.run([str(python), "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "strong - Auto-encoders",
        "strong - the methods list",
        "reference https://example.org/post/#auto-encoders Auto-encoders",
        "reference https://example.org/post/#introduction the methods list",
    ]


def test_pages_read_offline_from_file_urls(built_book, book_browser):
    site = built_book.as_uri() + "/"
    pages = ["index.html", "notebooks/06_latent_space_explorer.html"]  # 06: math, figures, explorer
    for path, (seen, log) in _visit_all(book_browser, site, pages).items():
        assert not log.aborted, f"{path} from file:// asked outside the site: {log.aborted}"
        assert not (log.console_errors or log.page_errors or log.failed), \
            f"{path} from file://: {log.console_errors + log.page_errors + log.failed}"
        assert not seen["rawMath"], f"{path} from file://: raw TeX left: {seen['rawMath']}"
        assert all(image["width"] > 0 for image in seen["images"]), f"{path} from file://: an image did not load"
        if path.startswith("notebooks/"):
            assert seen["mathTypeset"] > 0, f"{path} from file://: no math typeset"
        for href in seen["downloads"]:  # the download link works offline: its file is there
            assert href.startswith("file://") and Path(unquote(urlparse(href).path)).is_file(), href


def test_search_finds_the_elbo_offline(book_server, book_browser):
    page, log = open_offline_page(book_browser, book_server)
    try:
        page.goto(book_server + "search.html?q=ELBO", wait_until="load", timeout=LOAD_TIMEOUT_MS)
        page.locator("#search-results li").first.wait_for(timeout=LOAD_TIMEOUT_MS)
        found = page.locator("#search-results li a").evaluate_all("links => links.map(a => a.href)")
    finally:
        page.context.close()
    assert not log.aborted and not log.console_errors, f"search page: {log.aborted + log.console_errors}"
    assert any("02_kl_divergence_and_elbo" in href for href in found), f"searching 'ELBO' found {found}"

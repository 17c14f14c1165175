"""Sphinx extension of the vae-notes book (loaded through _config.yml's `local_extensions`).

- `blog_url` config value and the {blog}`Section` role: a section name of the blog post, shown in bold, and a link
  to that section of the post when `blog_url` is set. `{blog}`the methods list <Introduction>`` shows the text and
  links to the section in angle brackets.
- Alt text for the figures the notebooks' code cells draw (myst-nb leaves it empty, so the browser would show the
  file name): the sentence after the figure, which by the series' convention says what it shows.
- The book's own stylesheet (static/vae-book.css: the download links under each notebook's title) and templates
  (templates/: two components of the theme, fixed where axe-core reports a serious violation; tests/test_book.py).
- Thebe (live code through a remote kernel) is off: its inline script, which Jupyter Book adds twice (a duplicate
  `const` error) and which names a CDN, is dropped from every page.
- The in-browser latent explorer (book/explorer, copied to <site>/explorer by book/build.py) is loaded on its own page
  and on notebook 06's page only: files under _static/ would be loaded by every page.
"""

from __future__ import annotations

import re
from pathlib import Path

from docutils import nodes

EXPLORER_PAGES = {"explore_latent_space", "notebooks/06_latent_space_explorer"}
EXPLORER_SCRIPT = "../explorer/latent-explorer.js"  # Sphinx prefixes "_static/"; "../" leads back to the site root
EXPLORER_STYLE = "../explorer/latent-explorer.css"
HERE = Path(__file__).resolve().parent
STYLESHEET = "vae-book.css"
_TITLE_AND_TARGET = re.compile(r"^(?P<title>.+?)\s*<(?P<target>[^<>]+)>$")
ALT_MAX_CHARS = 400


def section_anchor(section: str) -> str:
    """The id a Markdown renderer gives the heading `section`: lower case, punctuation dropped, spaces to '-'."""
    words = re.sub(r"[^\w\s-]", "", section.strip().lower())
    return re.sub(r"\s+", "-", words)


def blog_role(name, rawtext, text, lineno, inliner, options=None, content=None):
    """{blog}`Section` or {blog}`shown text <Section>`: bold text, linked to the post's section when blog_url is set."""
    match = _TITLE_AND_TARGET.match(text)
    title, section = (match["title"], match["target"]) if match else (text, text)
    blog_url = inliner.document.settings.env.config.blog_url
    strong = nodes.strong(rawtext, title, classes=["blog-section"])
    if not blog_url:
        return [strong], []
    link = nodes.reference(rawtext, "", strong, refuri=f"{blog_url.split('#')[0]}#{section_anchor(section)}")
    return [link], []


def _is_code_cell(node) -> bool:
    return isinstance(node, nodes.container) and "cell" in node.get("classes", [])


def _in_code_cell(node) -> bool:
    while node is not None:
        if _is_code_cell(node):
            return True
        node = node.parent
    return False


def _alt_text(paragraph: nodes.paragraph) -> str:
    """The paragraph as one line, cut after the last full sentence that fits in ALT_MAX_CHARS."""
    text = " ".join(paragraph.astext().split())
    if len(text) <= ALT_MAX_CHARS:
        return text
    cut = text[:ALT_MAX_CHARS]
    end = max(cut.rfind(". "), cut.rfind("; "))
    return cut[: end + 1] if end > 0 else cut.rsplit(" ", 1)[0] + "…"


def _page_events(doctree) -> list[tuple[str, nodes.Node]]:
    """The page in reading order as ('prose' | 'stop' | 'figure', node): prose paragraphs, cells and titles, images."""
    events = []
    for node in doctree.findall():
        if isinstance(node, nodes.image) and not node.get("alt"):
            events.append(("figure", node))
        elif _is_code_cell(node) or isinstance(node, nodes.title):
            events.append(("stop", node))
        elif isinstance(node, nodes.paragraph) and not _in_code_cell(node):
            events.append(("prose", node))
    return events


def describe_output_figures(app, doctree):
    """Alt text for the figures code cells draw: the sentence after the figure that says what it shows (the series'
    convention), else the prose just before it that says what to look for."""
    events = _page_events(doctree)
    for index, (kind, image) in enumerate(events):
        if kind != "figure":
            continue
        after = next((node for k, node in events[index + 1:] if k != "figure"), None)
        if after is not None and isinstance(after, nodes.paragraph):
            image["alt"] = _alt_text(after)
            continue
        before = next((node for k, node in reversed(events[:index]) if k == "prose"), None)
        image["alt"] = _alt_text(before) if before is not None else "A figure drawn by the code cell above"


def _is_thebe(script) -> bool:
    text = f"{getattr(script, 'filename', script)} {getattr(script, 'attributes', {}).get('body', '')}"
    return "thebe" in text.lower()


def add_page_assets(app, pagename, templatename, context, doctree):
    """Per page: the explorer's script and style where it shows, and no Thebe anywhere."""
    if pagename in EXPLORER_PAGES:
        app.add_js_file(EXPLORER_SCRIPT)
        app.add_css_file(EXPLORER_STYLE)
    context["script_files"][:] = [script for script in context["script_files"] if not _is_thebe(script)]


def add_templates_and_stylesheet(app, config):
    """Our templates (templates/: the theme's components that axe-core flags, fixed) before the theme's, and our
    stylesheet on every page."""
    config.templates_path.insert(0, str(HERE / "templates"))
    config.html_static_path.append(str(HERE / "static"))
    app.add_css_file(STYLESHEET)


def setup(app):
    app.add_config_value("blog_url", "", "env", [str])
    app.connect("config-inited", add_templates_and_stylesheet)
    app.add_role("blog", blog_role)
    app.connect("doctree-read", describe_output_figures)
    app.connect("html-page-context", add_page_assets, priority=900)  # after the others add theirs
    return {"parallel_read_safe": True, "parallel_write_safe": True}

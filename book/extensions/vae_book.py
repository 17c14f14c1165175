"""Sphinx extension of the vae-notes book (loaded through _config.yml's `local_extensions`).

- `blog_url` config value and the {blog}`Section` role: a section name of the blog post, shown in bold, and a link
  to that section of the post when `blog_url` is set. `{blog}`the methods list <Introduction>`` shows the text and
  links to the section in angle brackets.
- The in-browser latent explorer (book/explorer, copied to <site>/explorer by book/build.py) is loaded on its own page
  and on notebook 06's page only: files under _static/ would be loaded by every page.
"""

from __future__ import annotations

import re

from docutils import nodes

EXPLORER_PAGES = {"explore_latent_space", "notebooks/06_latent_space_explorer"}
EXPLORER_SCRIPT = "../explorer/latent-explorer.js"  # Sphinx prefixes "_static/"; "../" leads back to the site root
EXPLORER_STYLE = "../explorer/latent-explorer.css"
_TITLE_AND_TARGET = re.compile(r"^(?P<title>.+?)\s*<(?P<target>[^<>]+)>$")


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


def add_explorer_assets(app, pagename, templatename, context, doctree):
    """Load the explorer's script and style on the pages that show it, and on no other page."""
    if pagename in EXPLORER_PAGES:
        app.add_js_file(EXPLORER_SCRIPT)
        app.add_css_file(EXPLORER_STYLE)


def setup(app):
    app.add_config_value("blog_url", "", "env", [str])
    app.add_role("blog", blog_role)
    app.connect("html-page-context", add_explorer_assets)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

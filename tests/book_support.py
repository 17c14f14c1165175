"""Shared pieces of the book's browser tests: serve the built site on 127.0.0.1 and open its pages offline.

`serve_folder` serves a folder on a random loopback port. `open_offline_page` opens a Playwright page whose every
request outside the site is aborted and recorded, and which records console errors and uncaught page errors, so a
test can assert that the site reads offline and runs cleanly. The fixtures that use them (`built_book`,
`book_server`, `book_browser`) live in tests/conftest.py.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler
from pathlib import Path

from tests.processes import QuietServer
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, _require_browser

require_browser = _require_browser


class _QuietHandler(SimpleHTTPRequestHandler):
    """A static file handler that does not log every request to stderr."""

    def log_message(self, format, *args):  # noqa: A002 (the base class's signature)
        pass


@contextlib.contextmanager
def serve_folder(folder: Path) -> Iterator[str]:
    """Serve `folder` on 127.0.0.1 (random free port) in a background thread; yield its base URL ending in '/'."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def launch_chromium(playwright):
    """Debian's headless Chromium, with the flags that keep it from calling home."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)


@dataclass
class PageLog:
    """What a page did that a test may assert on: requests aborted for leaving the site, console errors."""

    site: str
    aborted: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    console_warnings: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # inside the site: missing files, HTTP status >= 400

    def take(self) -> PageLog:
        """What was recorded so far, as its own PageLog; this one starts empty again (one page, many visits)."""
        taken = PageLog(self.site, self.aborted[:], self.console_errors[:], self.console_warnings[:],
                        self.page_errors[:], self.failed[:])
        for records in (self.aborted, self.console_errors, self.console_warnings, self.page_errors, self.failed):
            records.clear()
        return taken


def open_offline_page(browser, site: str, viewport: dict | None = None):
    """A new page (in its own context) where any request whose URL does not start with `site` is aborted.

    `site` is the built book's root: 'http://127.0.0.1:PORT/' or 'file:///…/book/'. Returns (page, PageLog); close
    the page's context (`page.context.close()`) when done.
    """
    context = browser.new_context(viewport=viewport or {"width": 1280, "height": 900})
    log = PageLog(site=site)

    def route(request_route, request):
        if request.url.startswith(site) or request.url.startswith(("data:", "blob:", "about:")):
            request_route.continue_()
        else:
            log.aborted.append(request.url)
            request_route.abort()

    def on_console(message):
        text = f"{message.text} (at {message.location.get('url', '?')})"
        if message.type == "error":
            log.console_errors.append(text)
        elif message.type == "warning":
            log.console_warnings.append(text)

    context.route("**/*", route)
    page = context.new_page()
    page.on("console", on_console)
    page.on("pageerror", lambda error: log.page_errors.append(str(error)))
    page.on("requestfailed", lambda request: request.url.startswith(site) and log.failed.append(
        f"{request.url}: {request.failure}"))
    page.on("response", lambda response: response.status >= 400 and log.failed.append(
        f"{response.url}: HTTP {response.status}"))
    return page, log


AXE_SCRIPT = Path(__file__).resolve().parents[1] / "book" / "node_modules" / "axe-core" / "axe.min.js"
AXE_IMPACTS = ("serious", "critical")  # what a page of ours may not have
# Runs axe-core (injected from book/node_modules, the version pinned in book/package.json) on the whole page once
# MathJax has typeset it; returns the serious and critical violations, each with up to 5 of its elements.
_AXE_JS = """async impacts => {
  if (window.MathJax && MathJax.startup) { await MathJax.startup.promise; }
  const result = await axe.run(document, {resultTypes: ['violations']});
  return result.violations.filter(v => impacts.includes(v.impact)).map(v => ({
    rule: v.id, impact: v.impact, help: v.help, count: v.nodes.length,
    nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ') + ': ' + (n.failureSummary || '').replace(/\\s+/g, ' '))}));
}"""


def axe_violations(page) -> list[dict]:
    """axe-core's serious and critical violations on the page now open in `page`."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.add_script_tag(path=str(AXE_SCRIPT))
    return page.evaluate(_AXE_JS, list(AXE_IMPACTS))

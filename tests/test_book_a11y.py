"""axe-core on the built book at a phone's width (390 px), in headless Debian Chromium, offline.

The 1366 px pass runs inside tests/test_book.py's visits (one page load for all its checks); this one opens the same
pages (the series, the explorer, the landing page, the guides) at 390 px in a module of its own, so that pytest-xdist
runs it beside test_book.py. axe-core comes from book/node_modules (its exact version is pinned in book/package.json)
and is injected into each page; no serious or critical violation may be reported.
"""

from __future__ import annotations

import json

import pytest

from tests.book_support import axe_violations, open_offline_page
from tests.test_book import LOAD_TIMEOUT_MS, book_order

NARROW = {"width": 390, "height": 844}

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_axe_core_finds_no_serious_violation_at_390_px(book_server, book_browser):
    page, log = open_offline_page(book_browser, book_server, viewport=NARROW)
    found = {}
    try:
        for path in book_order():
            page.goto(book_server + path, wait_until="load", timeout=LOAD_TIMEOUT_MS)
            violations = axe_violations(page)
            if violations:
                found[path] = violations
    finally:
        page.context.close()
    assert not log.aborted, f"requests outside the site: {log.aborted}"
    assert not found, "axe-core, serious or critical, at 390 px:\n" + json.dumps(found, indent=1)

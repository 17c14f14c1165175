"""The book's kernel-free latent explorer, in the built book, driven in headless Debian Chromium (Playwright).

The site is the session's single book build (`built_book`, tests/conftest.py), opened from file://, and once over
the loopback server. For slider moves (keyboard and mouse) and clicks on the map, the 28 × 28 grey levels the page
draws on its canvas must equal round(255 · sigmoid(g(z))) computed here with torch from the shipped weights, within
one grey level; the median time the page spends from input event to drawn image must stay under one frame (16 ms);
no request may leave the site. The explorer is checked on its own page and at the top of notebook 06's page.
"""

from __future__ import annotations

import hashlib
import json
import statistics
from pathlib import Path

import numpy as np
import pytest
import torch

from book import export
from helpers import pretrained
from tests.book_support import open_offline_page
from tests.test_browser import ARTIFACTS

FRAME_MS = 16.0
ARROW_PRESSES = 12
DRAG_STEPS = 40
PAGES = {"explorer": "explore_latent_space.html", "notebook06": "06_latent_space_explorer.html"}


def _page(site: Path, name: str) -> Path:
    found = sorted(site.rglob(name))
    assert len(found) == 1, f"expected one {name} in the built book, found {found}"
    return found[0]


@pytest.fixture(scope="module")
def decoder():
    return pretrained.load("vae-mnist-z2")


class Visit:
    """One page of the built book in Chromium: requests outside the site aborted and recorded, errors recorded."""

    def __init__(self, browser, site: str, url: str) -> None:
        self.page, self.log = open_offline_page(browser, site, viewport={"width": 1280, "height": 1000})
        self.page.goto(url)
        self.page.wait_for_selector("#latent-explorer[data-ready=true]", timeout=30_000)

    def assert_clean(self) -> None:
        """No request left the site; no error from the explorer's files (the theme's are the book test's business)."""
        assert not self.log.aborted, f"requests left the site: {self.log.aborted}"
        errors = self.log.console_errors + self.log.page_errors + self.log.failed
        assert not [error for error in errors if "explorer" in error], f"errors in the page: {errors}"

    def z(self) -> np.ndarray:
        return np.array(self.page.evaluate("window.latentExplorer.state.z"), dtype=np.float64)

    def drawn_pixels(self) -> np.ndarray:
        """The grey levels of the digit canvas, read back from the canvas itself (red channel = grey)."""
        values = self.page.evaluate("""() => {
            const canvas = document.querySelector('#latent-explorer canvas.lx-digit');
            return Array.from(canvas.getContext('2d').getImageData(0, 0, 28, 28).data);
        }""")
        rgba = np.array(values).reshape(28, 28, 4)
        assert (rgba[..., 0] == rgba[..., 1]).all() and (rgba[..., 3] == 255).all(), "the digit is not opaque grey"
        return rgba[..., 0]

    def close(self) -> None:
        self.page.context.close()


def _sigmoid_g(decoder, z: np.ndarray) -> np.ndarray:
    """sigmoid(g(z)) computed by torch, as notebook 06 does: 784 float64 values."""
    with torch.no_grad():
        return torch.sigmoid(decoder.decode(torch.tensor(z, dtype=torch.float32)[None]))[0].double().numpy()


def _expected_pixels(decoder, z: np.ndarray) -> np.ndarray:
    return np.rint(255 * _sigmoid_g(decoder, z)).reshape(28, 28)


def _assert_matches_python(visit: Visit, decoder, what: str) -> np.ndarray:
    z = visit.z()
    gap = np.abs(visit.drawn_pixels() - _expected_pixels(decoder, z)).max()
    assert gap <= 1, f"after {what}, z = {z}: the page draws pixels up to {gap:.0f}/255 away from sigmoid(g(z))"
    return z


# ------------------------------------------------------------------------------------------------------ the tests
def test_the_site_serves_the_data_of_the_shipped_weights(built_book):
    folder = built_book / "explorer"
    names = sorted(path.name for path in folder.iterdir())
    assert names == sorted(["latent-explorer.js", "latent-explorer.css", export.DATA_FILE, export.SHA_FILE]), names
    content = (folder / export.DATA_FILE).read_bytes()
    assert (folder / export.SHA_FILE).read_text().split()[0] == hashlib.sha256(content).hexdigest()
    assert pretrained.metadata("vae-mnist-z2")["sha256"].encode() in content.splitlines()[0], \
        "the site's explorer data were not exported from the shipped weights"


@pytest.mark.browser
def test_sliders_and_map_clicks_and_drags_draw_sigmoid_g_z_from_file_url(built_book, book_browser, decoder):
    visit = Visit(book_browser, built_book.as_uri() + "/", _page(built_book, PAGES["explorer"]).as_uri())
    page, seen = visit.page, []
    try:
        limit = page.evaluate("window.latentExplorer.data.limit")
        seen.append(_assert_matches_python(visit, decoder, "loading"))
        z1 = page.get_by_label("z1, latent coordinate 1")
        z2 = page.get_by_label("z2, latent coordinate 2")
        z1.focus()
        for _ in range(ARROW_PRESSES):
            page.keyboard.press("ArrowRight")
        seen.append(_assert_matches_python(visit, decoder, f"{ARROW_PRESSES} ArrowRight presses on z1"))
        assert seen[-1][0] == pytest.approx(ARROW_PRESSES * 0.05), "ArrowRight should move z1 by one 0.05 step each"
        z2.focus()
        page.keyboard.press("Home")
        seen.append(_assert_matches_python(visit, decoder, "Home on z2"))
        assert seen[-1][1] == pytest.approx(-limit), "Home should put z2 at the bottom of its range"
        box = z1.bounding_box()
        page.mouse.click(box["x"] + 0.2 * box["width"], box["y"] + box["height"] / 2)
        seen.append(_assert_matches_python(visit, decoder, "a mouse click on the z1 track"))
        assert seen[-1][0] < -0.2 * limit, "a click at 20% of the z1 track should give a negative z1"
        drawn_before = page.evaluate("window.latentExplorer.state.draws")
        page.mouse.down()  # drag the z1 handle from 20% to 80% of the track, as a reader would
        page.mouse.move(box["x"] + 0.8 * box["width"], box["y"] + box["height"] / 2, steps=DRAG_STEPS)
        page.mouse.up()
        seen.append(_assert_matches_python(visit, decoder, "a drag along the z1 track"))
        assert seen[-1][0] > 0.2 * limit, "dragging to 80% of the z1 track should give a positive z1"
        drags = page.evaluate("window.latentExplorer.state.draws") - drawn_before
        assert drags >= DRAG_STEPS // 2, f"a {DRAG_STEPS}-step drag redrew the digit only {drags} times"

        the_map = page.locator("#latent-explorer canvas.lx-map")
        the_map.scroll_into_view_if_needed()
        for target in ([1.3, -0.7], [-2.0, 1.5], [0.4, 2.2]):
            x, y = page.evaluate(f"window.latentExplorer.toPixel({target[0]}, {target[1]})")
            map_box = the_map.bounding_box()
            page.mouse.click(map_box["x"] + x, map_box["y"] + y)
            z = _assert_matches_python(visit, decoder, f"a click on the map at z = {target}")
            assert np.abs(z - target).max() <= 0.05, f"clicking the map at {target} moved z to {z}"
            readouts = page.locator("#latent-explorer output").all_text_contents()
            assert [float(text) for text in readouts] == pytest.approx(z, abs=0.006), "sliders did not follow"
            seen.append(z)
        start, end = [-1.5, -1.0], [1.0, 1.2]  # press on the map, drag with the button down, release
        (x0, y0), (x1, y1) = (page.evaluate(f"window.latentExplorer.toPixel({z[0]}, {z[1]})") for z in (start, end))
        map_box, drawn_before = the_map.bounding_box(), page.evaluate("window.latentExplorer.state.draws")
        page.mouse.move(map_box["x"] + x0, map_box["y"] + y0)
        page.mouse.down()
        page.mouse.move(map_box["x"] + x1, map_box["y"] + y1, steps=DRAG_STEPS)
        page.mouse.up()
        z = _assert_matches_python(visit, decoder, f"a drag on the map from {start} to {end}")
        assert np.abs(z - end).max() <= 0.05, f"dragging on the map to {end} moved z to {z}"
        drags = page.evaluate("window.latentExplorer.state.draws") - drawn_before
        assert drags >= DRAG_STEPS // 2, f"a {DRAG_STEPS}-step drag on the map redrew the digit only {drags} times"
        page.mouse.move(map_box["x"] + x0, map_box["y"] + y0)  # button up: moving over the map changes nothing
        assert np.abs(_assert_matches_python(visit, decoder, "a move after the release") - z).max() == 0
        seen.append(z)
        assert len({tuple(z) for z in seen}) == len(seen), f"some moves did not move z: {seen}"
        for z in seen:  # before rounding to grey levels, the page's forward pass is torch's to float32 precision
            in_page = np.array(page.evaluate(f"window.latentExplorer.decode([{z[0]}, {z[1]}])"))
            gap = np.abs(in_page - _sigmoid_g(decoder, z)).max()
            assert gap < 1e-5, f"the page's sigmoid(g(z)) differs from torch's by {gap:.1e} at z={z}"
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=ARTIFACTS / "book_explorer_page.png", full_page=True)
        page.locator("#latent-explorer").screenshot(path=ARTIFACTS / "book_explorer.png")

        timings = page.evaluate("window.latentExplorer.state")
        handler_ms, event_ms = timings["handlerMs"], timings["eventToDrawMs"]
        assert len(handler_ms) >= ARROW_PRESSES + DRAG_STEPS // 2, f"only {len(handler_ms)} inputs were timed"
        record = {"inputs": len(handler_ms), "median_handler_ms": round(statistics.median(handler_ms), 2),
                  "p95_handler_ms": round(float(np.percentile(handler_ms, 95)), 2),
                  "median_event_to_draw_ms": round(statistics.median(event_ms), 2),
                  "p95_event_to_draw_ms": round(float(np.percentile(event_ms, 95)), 2)}
        (ARTIFACTS / "book_explorer_latency.json").write_text(json.dumps(record, indent=2) + "\n")
        print("explorer latency:", record)
        assert record["median_handler_ms"] < FRAME_MS, f"the median input handler {record} exceeds one frame"
        assert record["median_event_to_draw_ms"] < FRAME_MS, f"median input → drawn image {record} exceeds one frame"
        visit.assert_clean()
    finally:
        visit.close()


@pytest.mark.browser
def test_notebook_06_page_gets_the_explorer_at_its_top(built_book, book_server, book_browser, decoder):
    path = _page(built_book, PAGES["notebook06"]).relative_to(built_book).as_posix()
    visit = Visit(book_browser, book_server, book_server + path)
    try:
        page = visit.page
        order = page.evaluate("""() => {
            const explorer = document.getElementById('latent-explorer');
            const section = explorer.parentElement, title = section.previousElementSibling;
            const text = [...document.querySelectorAll('article p')].find(p => p.textContent.includes('accompanies'));
            return {title: title ? title.tagName + ' ' + title.textContent : '',
                    intro: section.textContent.slice(0, 300),
                    before_text: text !== undefined && !!(explorer.compareDocumentPosition(text) & 4)};
        }""")
        assert order["title"].startswith("H1 06 — Latent-space explorer"), f"not right after the title: {order}"
        assert order["before_text"], "the explorer should come before the notebook's first paragraph"
        assert "vae-mnist-z2" in order["intro"], f"the intro should name the model, got {order['intro']!r}"
        page.get_by_label("z2, latent coordinate 2").focus()
        page.keyboard.press("End")
        z = _assert_matches_python(visit, decoder, "End on z2 (notebook 06's page)")
        assert z[1] == pytest.approx(page.evaluate("window.latentExplorer.data.limit"))
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=ARTIFACTS / "book_explorer_notebook06.png")
        visit.assert_clean()
    finally:
        visit.close()


@pytest.mark.browser
def test_the_page_explains_itself_and_labels_its_controls(built_book, book_browser):
    visit = Visit(book_browser, built_book.as_uri() + "/", _page(built_book, PAGES["explorer"]).as_uri())
    try:
        page = visit.page
        assert page.locator("main h1").first.text_content().startswith("Explore the latent space in your browser")
        prose = page.locator("main").text_content()
        for words in ("same decoder", "notebook 06", "helpers/weights/vae-mnist-z2.pt", "python -m book.export"):
            assert words in prose, f"the page should say {words!r}"
        labels = page.evaluate("""() => [...document.querySelectorAll('#latent-explorer canvas')]
            .map(c => [c.getAttribute('role'), c.getAttribute('aria-label')])""")
        assert len(labels) == 2 and all(role == "img" and "z = (0.00, 0.00)" in text for role, text in labels), labels
        for name in ("z1, latent coordinate 1", "z2, latent coordinate 2"):
            slider = page.get_by_label(name)
            assert slider.get_attribute("type") == "range", f"{name!r} should label a range slider"
            assert page.locator(f"label[for='{slider.get_attribute('id')}']").count() == 1, \
                f"{name!r} has no visible <label>"
        visit.assert_clean()
    finally:
        visit.close()

"""The book's kernel-free latent explorer, driven in headless Debian Chromium (Playwright), opened from file://.

For slider moves (keyboard and mouse) and clicks on the map, the 28 × 28 grey levels the page draws on its canvas
must equal round(255 · sigmoid(g(z))) computed here with torch from the shipped weights, within one grey level;
the median time the page spends from input event to drawn image must stay under one frame (16 ms); no request may
leave the site. The explorer is checked on its own page and at the top of notebook 06's page.
"""

from __future__ import annotations

import json
import shutil
import statistics
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import export, pretrained
from tests.conftest import REPO
from tests.test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, _require_browser

EXPLORER_SRC = REPO / "book" / "explorer"
FRAME_MS = 16.0
ARROW_PRESSES = 12


# --------------------------------------------------------------------------------------------- the site under test
def _standalone_site(root: Path) -> dict[str, Path]:
    """A two-page site laid out like the book: pages in a subfolder, the explorer's files in site/explorer/."""
    (root / "pages").mkdir(parents=True)
    shutil.copytree(EXPLORER_SRC, root / "explorer")
    export.write_explorer_data(root / "explorer")
    script = '<script src="../explorer/latent-explorer.js"></script>'
    own = f'<h1>Explore the latent space in your browser</h1><div id="latent-explorer"></div>{script}'
    notebook = f"<main><h1>06 — Latent-space explorer</h1><p>The notebook's text.</p></main>{script}"
    pages = {"explorer": root / "pages" / "explore_latent_space.html",
             "notebook06": root / "pages" / "06_latent_space_explorer.html"}
    for key, body in (("explorer", own), ("notebook06", notebook)):
        pages[key].write_text(f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{key}</title>'
                              f"</head><body>{body}</body></html>")
    return pages


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> tuple[Path, dict[str, Path]]:
    _require_browser()
    root = tmp_path_factory.mktemp("explorer-site")
    return root, _standalone_site(root)


@pytest.fixture(scope="module")
def decoder():
    return pretrained.load("vae-mnist-z2")


@pytest.fixture(scope="module")
def browser():
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


class Visit:
    """One page opened in Chromium, every request outside `root` aborted and recorded, errors recorded."""

    def __init__(self, browser, root: Path, page_path: Path) -> None:
        self.page = browser.new_page(viewport={"width": 1100, "height": 900})
        self.outside: list[str] = []
        self.errors: list[str] = []
        inside = root.resolve().as_uri() + "/"
        self.page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(inside)
                        else self._abort(route))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("console", lambda message: message.type == "error" and self.errors.append(message.text))
        self.page.goto(page_path.resolve().as_uri())
        self.page.wait_for_selector("#latent-explorer[data-ready=true]", timeout=30_000)

    def _abort(self, route) -> None:
        self.outside.append(route.request.url)
        route.abort()

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
        self.page.close()


def _expected_pixels(decoder, z: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        means = torch.sigmoid(decoder.decode(torch.tensor(z, dtype=torch.float32)[None]))[0]
    return np.rint(255 * means.numpy().astype(np.float64)).reshape(28, 28)


def _assert_matches_python(visit: Visit, decoder, what: str) -> np.ndarray:
    z = visit.z()
    gap = np.abs(visit.drawn_pixels() - _expected_pixels(decoder, z)).max()
    assert gap <= 1, f"after {what}, z = {z}: the page draws pixels up to {gap:.0f}/255 away from sigmoid(g(z))"
    return z


# ------------------------------------------------------------------------------------------------------ the tests
@pytest.mark.browser
def test_sliders_and_map_clicks_draw_sigmoid_g_z(browser, site, decoder):
    root, pages = site
    visit = Visit(browser, root, pages["explorer"])
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

        map_box = page.locator("#latent-explorer canvas.lx-map").bounding_box()
        for target in ([1.3, -0.7], [-2.0, 1.5], [0.4, 2.2]):
            x, y = page.evaluate(f"window.latentExplorer.toPixel({target[0]}, {target[1]})")
            page.mouse.click(map_box["x"] + x, map_box["y"] + y)
            z = _assert_matches_python(visit, decoder, f"a click on the map at z = {target}")
            assert np.abs(z - target).max() <= 0.05, f"clicking the map at {target} moved z to {z}"
            readouts = page.locator("#latent-explorer output").all_text_contents()
            assert [float(text) for text in readouts] == pytest.approx(z, abs=0.006), "sliders did not follow"
            seen.append(z)
        assert len({tuple(z) for z in seen}) == len(seen), f"some moves did not move z: {seen}"
        ARTIFACTS.mkdir(exist_ok=True)
        page.locator("#latent-explorer").screenshot(path=ARTIFACTS / "book_explorer.png")

        timings = page.evaluate("window.latentExplorer.state")
        handler_ms, event_ms = timings["handlerMs"], timings["eventToDrawMs"]
        assert len(handler_ms) >= ARROW_PRESSES + 5, f"only {len(handler_ms)} inputs were timed"
        record = {"inputs": len(handler_ms), "median_handler_ms": statistics.median(handler_ms),
                  "max_handler_ms": max(handler_ms), "median_event_to_draw_ms": statistics.median(event_ms)}
        (ARTIFACTS / "book_explorer_latency.json").write_text(json.dumps(record, indent=2) + "\n")
        print("explorer latency:", record)
        assert record["median_handler_ms"] < FRAME_MS, f"median input → drawn image {record} exceeds one frame"
        assert not visit.outside, f"requests left the site: {visit.outside}"
        assert not visit.errors, f"errors in the page: {visit.errors}"
    finally:
        visit.close()


@pytest.mark.browser
def test_notebook_06_page_gets_the_explorer_at_its_top(browser, site, decoder):
    root, pages = site
    visit = Visit(browser, root, pages["notebook06"])
    try:
        page = visit.page
        order = page.evaluate("""() => {
            const heading = document.querySelector('h1'), explorer = document.getElementById('latent-explorer');
            const next = heading.nextElementSibling;
            return {right_after_title: next !== null && next.contains(explorer),
                    intro: next ? next.textContent.slice(0, 200) : ''};
        }""")
        assert order["right_after_title"], "the explorer should come right after the notebook's title"
        assert "vae-mnist-z2" in order["intro"], f"the intro should name the model, got {order['intro']!r}"
        page.get_by_label("z2, latent coordinate 2").focus()
        page.keyboard.press("End")
        z = _assert_matches_python(visit, decoder, "End on z2 (notebook 06's page)")
        assert z[1] == pytest.approx(page.evaluate("window.latentExplorer.data.limit"))
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=ARTIFACTS / "book_explorer_notebook06.png")
        assert not visit.outside, f"requests left the site: {visit.outside}"
        assert not visit.errors, f"errors in the page: {visit.errors}"
    finally:
        visit.close()


@pytest.mark.browser
def test_canvases_and_sliders_are_labelled(browser, site):
    root, pages = site
    visit = Visit(browser, root, pages["explorer"])
    try:
        labels = visit.page.evaluate("""() => [...document.querySelectorAll('#latent-explorer canvas')]
            .map(c => [c.getAttribute('role'), c.getAttribute('aria-label')])""")
        assert len(labels) == 2 and all(role == "img" and "z = (0.00, 0.00)" in text for role, text in labels), labels
        for name in ("z1, latent coordinate 1", "z2, latent coordinate 2"):
            slider = visit.page.get_by_label(name)
            assert slider.get_attribute("type") == "range", f"{name!r} should label a range slider"
            assert visit.page.locator(f"label[for='{slider.get_attribute('id')}']").count() == 1, \
                f"{name!r} has no visible <label>"
    finally:
        visit.close()

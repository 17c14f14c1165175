"""The committed figures are what `python -m helpers.figures` draws: redraw them and compare pixels."""

from __future__ import annotations

import time

import matplotlib.image as mpimg
import numpy as np
import pytest

from helpers import figures

MAX_MEAN_ABS_DIFF = 2 / 255  # anti-aliasing noise is far below this; a moved line or label is far above it
MAX_CHANGED_FRACTION = 0.002


@pytest.fixture(scope="module")
def redrawn(tmp_path_factory):
    out = tmp_path_factory.mktemp("figures")
    start = time.perf_counter()
    figures.draw_all(out)
    return out, time.perf_counter() - start


@pytest.mark.parametrize("name", sorted(figures.FIGURES))
def test_committed_figure_matches_the_code(redrawn, name):
    out, _ = redrawn
    committed_path = figures.IMAGES / name
    assert committed_path.exists(), f"images/{name} is missing: run `make figures`"
    committed, fresh = mpimg.imread(committed_path), mpimg.imread(out / name)
    assert committed.shape == fresh.shape, f"{name}: size {committed.shape} vs redrawn {fresh.shape}"
    difference = np.abs(committed.astype(float) - fresh.astype(float))
    changed = float((difference.max(axis=-1) > 0.1).mean())
    assert difference.mean() < MAX_MEAN_ABS_DIFF and changed < MAX_CHANGED_FRACTION, (
        f"images/{name} differs from what helpers.figures draws (mean |Δ| {difference.mean():.4f}, "
        f"{changed:.2%} of pixels changed): run `make figures` and commit, or fix the drawing code")


def test_figures_are_blog_width_and_fast(redrawn):
    out, seconds = redrawn
    for name in figures.FIGURES:
        height, width = mpimg.imread(out / name).shape[:2]
        assert width == 1400, f"{name} is {width} px wide; the blog column is 700 px at 2x"
        assert height < 1000, f"{name} is {height} px tall"
    assert seconds < 60, f"drawing every figure took {seconds:.0f} s (budget 60 s)"


def test_every_figure_has_alt_text():
    readme = (figures.IMAGES / "README.md").read_text()
    for name in figures.FIGURES:
        assert f"`{name}`" in readme, f"images/README.md has no alt text for {name}"


def test_unknown_figure_name_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="unknown figure names"):
        figures.draw_all(tmp_path, ["bp-nothing.png"])

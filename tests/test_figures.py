"""The committed figures are what `python -m tools.figures` draws: redraw them and compare pixels.

The comparison must pass on any CPU (`make test-portable` runs this file under other float kernels) and still fail
on a real change in the drawing code: the tests at the bottom make three such changes and check each is caught.
"""

from __future__ import annotations

import time

import matplotlib.axes
import matplotlib.image as mpimg
import numpy as np
import pytest

from helpers import linear
from tools import figures

MAX_MEAN_ABS_DIFF = 2 / 255  # anti-aliasing noise is far below this; a moved line or label is far above it
MAX_CHANGED_FRACTION = 0.002
CHANGED_PIXEL = 0.1  # a pixel "changed" when a channel moves by over a tenth of its range
BLOCK = 16  # px: a small local change (one flipped 28x28 tile among 16) is diluted in the whole image, not in a block
MAX_BLOCK_CHANGED = 0.1  # rounding moves the odd edge pixel; a flipped tile or moved line changes a block's pixels


def difference(committed: np.ndarray, fresh: np.ndarray) -> str:
    """'' when the two images agree within the tolerances, else what differs."""
    if committed.shape != fresh.shape:
        return f"size {committed.shape} vs redrawn {fresh.shape}"
    delta = np.abs(committed.astype(float) - fresh.astype(float))
    changed_map = delta.max(axis=-1) > CHANGED_PIXEL
    rows, cols = (size // BLOCK * BLOCK for size in changed_map.shape)
    blocks = changed_map[:rows, :cols].reshape(rows // BLOCK, BLOCK, cols // BLOCK, BLOCK).mean(axis=(1, 3))
    changed, worst = float(changed_map.mean()), float(blocks.max())
    if delta.mean() < MAX_MEAN_ABS_DIFF and changed < MAX_CHANGED_FRACTION and worst <= MAX_BLOCK_CHANGED:
        return ""
    return (f"mean |Δ| {delta.mean():.4f}, {changed:.2%} of pixels changed, {worst:.0%} of the pixels of the most "
            f"changed {BLOCK}x{BLOCK} block")


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
    found = difference(mpimg.imread(committed_path), mpimg.imread(out / name))
    assert not found, (f"images/{name} differs from what tools.figures draws ({found}): run `make figures` "
                       "and commit, or fix the drawing code")


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


# --- The other side: a real change in the drawing code must be caught. ------------------------------------------
PCA_FIGURE = "series-pca-components.png"


def _flip_third_component(monkeypatch):
    """What an unfixed SVD sign does on another CPU: one principal direction drawn as its negative."""
    fixed = linear.component_signs
    monkeypatch.setattr(linear, "component_signs", lambda rows: fixed(rows) * np.r_[1, 1, -1, np.ones(len(rows) - 3)])


def _shift_curves_up(monkeypatch):
    """Every line drawn 0.02 higher (2 % of the explained-variance axis)."""
    plot = matplotlib.axes.Axes.plot
    monkeypatch.setattr(matplotlib.axes.Axes, "plot",
                        lambda ax, x, y, *args, **kwargs: plot(ax, x, np.asarray(y) + 0.02, *args, **kwargs))


def _other_colour_map(monkeypatch):
    """The components drawn with another diverging colour map."""
    grid = figures.image_grid
    monkeypatch.setattr(figures, "image_grid", lambda *a, **k: grid(*a, **{**k, "cmap": "PuOr_r"}))


@pytest.mark.slow
@pytest.mark.parametrize("change", [_flip_third_component, _shift_curves_up, _other_colour_map],
                         ids=["flipped component", "shifted line", "changed colour map"])
def test_a_real_change_in_the_drawing_is_caught(tmp_path, monkeypatch, change):
    change(monkeypatch)
    figures.draw_all(tmp_path, [PCA_FIGURE])
    found = difference(mpimg.imread(figures.IMAGES / PCA_FIGURE), mpimg.imread(tmp_path / PCA_FIGURE))
    assert found, f"{change.__doc__} went unnoticed by the figure comparison"


def test_an_empty_list_of_names_draws_nothing(tmp_path):
    assert figures.draw_all(tmp_path, names=[]) == []
    assert list(tmp_path.iterdir()) == []

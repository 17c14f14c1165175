"""In-kernel tests of the latent-space explorers (helpers.widgets): move sliders programmatically, read the PNG the
image widget holds, and check it is sigmoid(g(z)) for the z the sliders point at — and that an update is fast."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from helpers import pretrained, seed_everything
from helpers.beyond import ACTIVE_VARIANCE
from helpers.models import VAE
from helpers.widgets import (
    EncodeEditExplorer,
    InterpolationExplorer,
    LatentExplorer2D,
    decode_mean,
    encode_mean,
    interpolate,
    kl_per_dimension,
    median_update_ms,
    posterior_boxes,
    read_png,
    to_png,
)
from tests.conftest import REPO

NOTEBOOK = REPO / "notebooks" / "06_latent_space_explorer.ipynb"
UPDATE_BUDGET_MS = 50.0


@pytest.fixture(scope="module")
def digits() -> tuple[torch.Tensor, np.ndarray]:
    """60 fake 'digits' (random binary images) with labels 0-9: enough to build every explorer."""
    generator = torch.Generator().manual_seed(0)
    x = torch.bernoulli(torch.full((60, 784), 0.2), generator=generator)
    return x, np.arange(60) % 10


def _vae(latent_dim: int) -> VAE:
    seed_everything(1)
    return VAE(latent_dim=latent_dim, hidden=(64,)).eval()


def _shown(image_widget, scale: int) -> np.ndarray:
    """The grey levels the image widget displays, one per latent pixel."""
    return read_png(image_widget.value, scale).astype(int)


def _expected(model, z) -> np.ndarray:
    return np.rint(255 * decode_mean(model, z)[0]).astype(int)


def _assert_shows_decoder_output(explorer, z) -> None:
    got = _shown(explorer.digit, explorer.scale)
    assert got.shape == (28, 28)
    error = np.abs(got - _expected(explorer.model, z)).max()
    assert error <= 1, f"the displayed digit differs from sigmoid(g(z)) by {error} grey levels at z={z}"


# ------------------------------------------------------------------------------------------------ building blocks
def test_png_round_trip_keeps_grey_levels_and_scale():
    image = np.linspace(0, 1, 28 * 28).reshape(28, 28)
    png = to_png(image, scale=4)
    assert png.startswith(b"\x89PNG")
    assert read_png(png).shape == (112, 112)
    np.testing.assert_array_equal(read_png(png, 4), np.rint(image * 255).astype(np.uint8))


def test_decode_mean_is_sigmoid_of_the_decoder():
    model = _vae(3)
    z = np.array([[0.5, -1.0, 2.0], [0.0, 0.0, 0.0]], dtype=np.float32)
    images = decode_mean(model, z)
    assert images.shape == (2, 28, 28)
    with torch.no_grad():
        expected = torch.sigmoid(model.decode(torch.from_numpy(z))).reshape(2, 28, 28).numpy()
    np.testing.assert_allclose(images, expected, atol=1e-6)
    with pytest.raises(ValueError, match="z must have shape"):
        decode_mean(model, np.zeros(2))


def test_kl_per_dimension_matches_the_closed_form():
    mu = torch.tensor([[1.0, 0.0], [3.0, 0.0]])
    logvar = torch.tensor([[0.0, 0.0], [0.0, np.log(0.5)]], dtype=torch.float32)
    kl = kl_per_dimension(mu, logvar)
    by_hand_dim0 = 0.5 * (1.0 + 9.0) / 2  # ½ mean(μ²) with σ = 1
    by_hand_dim1 = 0.5 * (0.5 - np.log(0.5) - 1) / 2
    np.testing.assert_allclose(kl.numpy(), [by_hand_dim0, by_hand_dim1], rtol=1e-5)


def test_posterior_boxes_draw_mu_plus_minus_two_sigma():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    posterior_boxes(ax, np.array([[0.0, 1.0], [2.0, -1.0]]), np.array([[0.1, 0.2], [0.5, 0.05]]))
    (boxes,) = ax.collections
    corners = [path.vertices.min(axis=0).tolist() + path.vertices.max(axis=0).tolist() for path in boxes.get_paths()]
    np.testing.assert_allclose(corners, [[-0.2, 0.6, 0.2, 1.4], [1.0, -1.1, 3.0, -0.9]], atol=1e-9)
    with pytest.raises(ValueError, match="sigma must be positive"):
        posterior_boxes(ax, np.zeros((2, 2)), -np.ones((2, 2)))
    with pytest.raises(ValueError, match="shape"):
        posterior_boxes(ax, np.zeros((2, 2)), np.ones((3, 2)))
    plt.close(fig)


def test_interpolate_is_linear_between_the_endpoints():
    a, b = np.array([0.0, 2.0]), np.array([4.0, -2.0])
    path = interpolate(a, b, np.array([0.0, 0.25, 1.0]))
    np.testing.assert_allclose(path, [[0, 2], [1, 1], [4, -2]])
    with pytest.raises(ValueError, match="z_start and z_end"):
        interpolate(a, np.zeros(3), 0.5)


# ---------------------------------------------------------------------------------------------------- 2-D explorer
def test_explorer_2d_shows_the_decoder_output_for_the_slider_values(digits):
    x, labels = digits
    model = _vae(2)
    explorer = LatentExplorer2D(model, encode_mean(model, x)[0], labels)
    _assert_shows_decoder_output(explorer, [0.0, 0.0])
    before_digit, before_map = explorer.digit.value, explorer.map.value
    explorer.sliders[0].value = 1.5
    explorer.sliders[1].value = -2.0
    np.testing.assert_allclose(explorer.z, [1.5, -2.0])
    _assert_shows_decoder_output(explorer, [1.5, -2.0])
    assert explorer.digit.value != before_digit, "the decoded digit did not change after moving the sliders"
    assert explorer.map.value != before_map, "the marker on the latent map did not move"
    assert len(explorer.timings_ms) == 2, "each slider move should trigger exactly one update"


def test_explorer_2d_stamps_the_cross_where_z_is(digits):
    x, labels = digits
    model = _vae(2)
    explorer = LatentExplorer2D(model, encode_mean(model, x)[0], labels, limit=3.0)
    first = explorer.map_pixels([-2.0, -2.0])
    second = explorer.map_pixels([2.0, 2.0])
    np.testing.assert_array_equal(explorer.map_pixels([-2.0, -2.0]), first)  # the map itself is never altered
    changed_rows, changed_cols = np.nonzero((first != second).any(axis=2))
    near_either = np.zeros(len(changed_rows), dtype=bool)
    for z in ([-2.0, -2.0], [2.0, 2.0]):
        row, col = explorer.marker_position(z)
        near = (np.abs(changed_cols - col) <= 7) & (np.abs(changed_rows - row) <= 7)
        assert near.sum() > 40, f"no cross drawn near z={z}"
        near_either |= near
    assert near_either.all(), "pixels away from both crosses changed"
    # z = (0, 0) is the centre of the axes, since the limits are symmetric.
    (left, bottom), (right, top) = explorer._axes.bbox.get_points()
    row, col = explorer.marker_position([0.0, 0.0])
    assert abs(col - (left + right) / 2) <= 1 and abs(row - (first.shape[0] - (bottom + top) / 2)) <= 1
    centre = explorer.map_pixels([0.0, 0.0])[row, col]
    np.testing.assert_array_equal(centre, [0, 0, 0], err_msg="the centre of the cross should be black")


def test_explorer_2d_draws_posterior_boxes_when_given_sigma(digits):
    x, labels = digits
    model = _vae(2)
    mu, logvar = encode_mean(model, x)
    plain = LatentExplorer2D(model, mu, labels, limit=3.0)
    boxed = LatentExplorer2D(model, mu, labels, limit=3.0, sigma=(0.5 * logvar).exp(), boxes=10)
    assert len(boxed.boxed) == 10 and len(boxed._axes.collections) == len(plain._axes.collections) + 1
    assert (plain.map_pixels([0.0, 0.0]) != boxed.map_pixels([0.0, 0.0])).any(), "no box drawn on the map"
    with pytest.raises(ValueError, match="sigma must have the shape"):
        LatentExplorer2D(model, mu, labels, sigma=np.ones((5, 2)))


def test_explorer_2d_rejects_a_model_that_is_not_2d(digits):
    x, labels = digits
    with pytest.raises(ValueError, match="latent_dim 2"):
        LatentExplorer2D(_vae(3), np.zeros((60, 2)), labels)
    with pytest.raises(ValueError, match="z_map"):
        LatentExplorer2D(_vae(2), np.zeros((60, 2)), labels[:10])
    with pytest.raises(TypeError, match="model must be a VAE"):
        LatentExplorer2D(torch.nn.Linear(2, 2), np.zeros((60, 2)), labels)


def test_explorer_displays_as_a_widget_and_updates_continuously(digits):
    x, labels = digits
    model = _vae(2)
    explorer = LatentExplorer2D(model, encode_mean(model, x)[0], labels)
    bundle = explorer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert all(slider.continuous_update for slider in explorer.sliders)
    assert "vae-explorer-2d" in explorer.ui._dom_classes


# ----------------------------------------------------------------------------------------- encode-then-edit explorer
def test_edit_explorer_starts_at_mu_and_decodes_the_edited_z(digits):
    x, labels = digits
    model = _vae(4)
    explorer = EncodeEditExplorer(model, x, labels, index=3)
    mu = encode_mean(model, x)[0].numpy()
    np.testing.assert_allclose(explorer.z, mu[3], atol=1e-6)
    _assert_shows_decoder_output(explorer, mu[3])
    np.testing.assert_array_equal(_shown(explorer.reconstruction, explorer.scale), _expected(model, mu[3]))
    original = np.rint(255 * x[3].reshape(28, 28).numpy())
    np.testing.assert_array_equal(_shown(explorer.original, explorer.scale), original)
    before = explorer.digit.value
    top = explorer.order[0]
    explorer.sliders[top].value = mu[3, top] + 2.0
    edited = mu[3].copy()
    edited[top] += 2.0
    np.testing.assert_allclose(explorer.z, edited, atol=1e-5)
    _assert_shows_decoder_output(explorer, edited)
    assert explorer.digit.value != before


def test_edit_explorer_resets_the_sliders_when_the_digit_changes(digits):
    x, labels = digits
    model = _vae(4)
    explorer = EncodeEditExplorer(model, x, labels, index=0)
    mu = encode_mean(model, x)[0].numpy()
    explorer.sliders[explorer.order[0]].value = 3.0
    updates = len(explorer.timings_ms)
    explorer.index.value = 7
    np.testing.assert_allclose(explorer.z, mu[7], atol=1e-6)
    _assert_shows_decoder_output(explorer, mu[7])
    assert len(explorer.timings_ms) == updates + 1, "changing the digit should decode once, not once per slider"
    assert "digit #7 is a 7" in explorer.mu_text.value
    explorer.sliders[explorer.order[1]].value = -3.0
    explorer.reset.click()
    np.testing.assert_allclose(explorer.z, mu[7], atol=1e-6)


def test_edit_explorer_sorts_by_kl_and_labels_inactive_dimensions(digits):
    """Sliders sorted by KL per unit; 'inactive' is Burda's Var_x μ_j(x) <= 0.01, not a small KL."""
    x, labels = digits
    kl = torch.tensor([0.3, 0.0001, 2.0, 0.001])
    activity = torch.tensor([0.5, 0.001, 1.0, 0.2])  # unit 4: small KL per unit, yet its μ_j varies with x
    explorer = EncodeEditExplorer(_vae(4), x, labels, kl=kl, activity=activity)
    assert explorer.order == [2, 0, 3, 1]
    shown = [child.description for child in explorer.ui.children if child in explorer.sliders.values()]
    assert shown == ["z3 · KL 2.00", "z1 · KL 0.30", "z4 · KL 0.00", "z2 · KL 0.00 · inactive"]
    assert "on the active dimensions: z3 = " in explorer.mu_text.value
    assert "(the inactive ones barely change with x)" in explorer.mu_text.value
    with pytest.raises(ValueError, match="activity must have shape"):
        EncodeEditExplorer(_vae(4), x, labels, activity=torch.ones(3))


def test_edit_explorer_counts_active_units_with_the_helper_of_notebook_07(digits):
    from helpers.beyond import active_mask

    x, labels = digits
    model = _vae(4)
    explorer = EncodeEditExplorer(model, x, labels)
    mu = encode_mean(model, x)[0]
    assert explorer.active == set(torch.nonzero(active_mask(mu, ACTIVE_VARIANCE)).flatten().tolist())
    strict = EncodeEditExplorer(model, x, labels, threshold=float(mu.var(dim=0).max()) + 1.0)
    assert strict.active == set(), "a threshold above every Var μ_j should leave no unit active"


def test_edit_explorer_without_inactive_dimensions_labels_none(digits):
    x, labels = digits
    explorer = EncodeEditExplorer(_vae(3), x, labels, kl=torch.tensor([1.1, 2.0, 1.5]), activity=torch.ones(3))
    assert explorer.order == [1, 2, 0]
    assert [slider.description for slider in explorer.sliders.values()] == ["z2 · KL 2.00", "z3 · KL 1.50",
                                                                           "z1 · KL 1.10"]
    assert "most informative dimension first: z2 = " in explorer.mu_text.value
    assert "inactive" not in explorer.mu_text.value


def test_explorers_share_layouts_so_the_saved_state_stays_small(digits):
    x, labels = digits
    explorer = EncodeEditExplorer(_vae(16), x, labels)
    layouts = {id(slider.layout) for slider in explorer.sliders.values()}
    styles = {id(slider.style) for slider in explorer.sliders.values()}
    assert len(layouts) == 1 and len(styles) == 1, "the 16 sliders should share one layout and one style"


def test_edit_explorer_rejects_bad_arguments(digits):
    x, labels = digits
    with pytest.raises(ValueError, match="index must be an int"):
        EncodeEditExplorer(_vae(4), x, labels, index=60)
    with pytest.raises(ValueError, match="labels must have one entry"):
        EncodeEditExplorer(_vae(4), x, labels[:5])
    with pytest.raises(ValueError, match="x must be a torch.Tensor"):
        EncodeEditExplorer(_vae(4), x[:, :100], labels)
    with pytest.raises(ValueError, match="kl must have shape"):
        EncodeEditExplorer(_vae(4), x, labels, kl=torch.zeros(3))
    with pytest.raises(ValueError, match="step must be a positive number"):
        EncodeEditExplorer(_vae(4), x, labels, step=0)
    with pytest.raises(ValueError, match="limit must be a positive number"):
        LatentExplorer2D(_vae(2), np.zeros((60, 2)), labels, limit=-1.0)


# --------------------------------------------------------------------------------------------- interpolation explorer
def test_interpolation_explorer_decodes_the_linear_path(digits):
    x, _ = digits
    model = _vae(4)
    explorer = InterpolationExplorer(model, x, start=2, end=9)
    mu = encode_mean(model, x)[0].numpy()
    before_bar = explorer.bar.value
    for t, z in ((0.0, mu[2]), (1.0, mu[9]), (0.3, 0.7 * mu[2] + 0.3 * mu[9])):
        explorer.t.value = t
        _assert_shows_decoder_output(explorer, z)
    assert explorer.bar.value != before_bar, "the bar marking t did not move"
    path = explorer.path.value
    explorer.end.value = 11
    assert explorer.path.value != path, "the decoded path did not change with the endpoint"
    _assert_shows_decoder_output(explorer, 0.7 * mu[2] + 0.3 * mu[11])


def test_interpolation_strip_holds_the_endpoints_and_the_path(digits):
    x, _ = digits
    model = _vae(4)
    explorer = InterpolationExplorer(model, x, start=0, end=1, steps=5, scale=2)
    strip = read_png(explorer.path.value).astype(int)
    assert strip.shape == (56, 2 * (7 * 30 - 2))
    tile = lambda k: strip[::2, 60 * k: 60 * k + 56: 2]  # noqa: E731 - tile k of the strip, one value per pixel
    np.testing.assert_array_equal(tile(0), np.rint(255 * x[0].reshape(28, 28).numpy()))
    mu = encode_mean(model, x)[0].numpy()
    np.testing.assert_array_equal(tile(1), _expected(model, mu[0]))
    np.testing.assert_array_equal(tile(5), _expected(model, mu[1]))


# ------------------------------------------------------------------------------------------------------------ speed
@pytest.fixture(scope="module")
def shipped():
    """The shipped models and the bundled test digits, as the notebook uses them."""
    from helpers.data import load_mnist

    x, y = load_mnist("test", binarize="static")
    return pretrained.load("vae-mnist-z2"), pretrained.load("vae-mnist-z16"), x, y


def test_every_explorer_updates_within_budget_with_the_shipped_models(shipped):
    vae2, vae16, x, y = shipped
    moves = np.linspace(-2.0, 2.0, 15)
    explorers = {
        "2-D": (e2 := LatentExplorer2D(vae2, encode_mean(vae2, x)[0], y), e2.sliders[0], moves),
        "edit": (ee := EncodeEditExplorer(vae16, x, y), ee.sliders[ee.order[0]], moves),
        "interpolation": (ei := InterpolationExplorer(vae16, x, 0, 1), ei.t, np.linspace(0.0, 1.0, 15)),
    }
    for name, (explorer, slider, values) in explorers.items():
        before = explorer.digit.value
        median = median_update_ms(explorer, slider, values)
        assert explorer.digit.value != before, f"the {name} explorer's image did not change"
        assert median < UPDATE_BUDGET_MS, f"the {name} explorer needs {median:.1f} ms per update (budget 50 ms)"
        _assert_shows_decoder_output(explorer, explorer.z)


def test_median_update_ms_times_only_moves_that_update(digits):
    x, labels = digits
    model = _vae(2)
    explorer = LatentExplorer2D(model, encode_mean(model, x)[0], labels)
    assert median_update_ms(explorer, explorer.sliders[1], [0.5, -0.5, 1.0]) > 0
    with pytest.raises(ValueError, match="nothing was timed"):
        median_update_ms(explorer, explorer.sliders[1], [1.0, 1.0], warmup=False)
    with pytest.raises(ValueError, match="at least two"):
        median_update_ms(explorer, explorer.sliders[1], [1.0])
    with pytest.raises(TypeError, match="explorer must be"):
        median_update_ms(object(), None, [0.0, 1.0])


# ----------------------------------------------------------------------------------------------- the stored notebook
def test_notebook_stays_small_with_its_widget_state():
    assert NOTEBOOK.is_file(), f"{NOTEBOOK.name} is missing"
    size = NOTEBOOK.stat().st_size
    assert size < 3_000_000, f"{NOTEBOOK.name} is {size / 1e6:.1f} MB; the series' limit is 3 MB"
    notebook = json.loads(NOTEBOOK.read_text())
    state = notebook["metadata"].get("widgets", {})
    assert len(json.dumps(state)) < 600_000, "the stored widget state is larger than 600 kB"
    sources = "".join("".join(cell["source"]) for cell in notebook["cells"])
    assert "need a running kernel" in sources, "the notebook must tell readers the sliders need a running kernel"

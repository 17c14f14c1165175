"""helpers.linear: PCA by the SVD, principal angles, and Lee–Seung NMF, on inputs with known answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers.linear import PCA, component_signs, nmf, pca, pca_decode, pca_encode, pca_reconstruct, principal_angles


@pytest.fixture
def data() -> np.ndarray:
    """200 points in ℝ⁶ with variances 9, 4, 1, 0.25, 0.04, 0.01 along a random rotation, mean (1, …, 6)."""
    rng = np.random.default_rng(0)
    rotation, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    return rng.normal(size=(200, 6)) * np.array([3.0, 2.0, 1.0, 0.5, 0.2, 0.1]) @ rotation.T + np.arange(1, 7)


def test_pca_components_are_orthonormal_sorted_and_span_the_top_variance(data):
    fit = pca(data, 3)
    assert isinstance(fit, PCA)
    assert fit.components.shape == (3, 6) and fit.mean.shape == (6,) and fit.singular_values.shape == (6,)
    np.testing.assert_allclose(fit.components @ fit.components.T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(fit.mean, data.mean(axis=0))
    assert np.all(np.diff(fit.singular_values) <= 0), "singular values must come in decreasing order"
    variances = ((data - fit.mean) @ fit.components.T).var(axis=0)
    assert np.all(np.diff(variances) < 0), "component 1 must carry the most variance"
    np.testing.assert_allclose(variances.sum() * len(data), (fit.singular_values[:3] ** 2).sum(), rtol=1e-10)


def test_pca_sign_convention_makes_the_largest_entry_positive(data):
    components = pca(data, 4).components
    peaks = components[np.arange(4), np.abs(components).argmax(axis=1)]
    assert np.all(peaks > 0)
    np.testing.assert_allclose(pca(-data, 4).components, components, atol=1e-10)


def test_component_signs_undo_any_flip_an_svd_may_return(data):
    vt = np.linalg.svd(data - data.mean(axis=0), full_matrices=False)[2]
    flips = np.array([1.0, -1.0, -1.0, 1.0, -1.0, 1.0])
    for rows in (vt, flips[:, None] * vt):
        fixed = rows * component_signs(rows)[:, None]
        np.testing.assert_array_equal(fixed, vt * component_signs(vt)[:, None])
        assert np.all(fixed[np.arange(6), np.abs(fixed).argmax(axis=1)] > 0)
    assert set(component_signs(vt)) <= {-1.0, 1.0}


def test_eckart_young_the_error_is_the_discarded_squared_singular_values(data):
    fit = pca(data, 2)
    residual = ((data - pca_reconstruct(data, fit.mean, fit.components)) ** 2).sum()
    np.testing.assert_allclose(residual, (fit.singular_values[2:] ** 2).sum(), rtol=1e-10)


def test_reconstruct_is_decode_of_encode_and_full_rank_is_exact(data):
    fit = pca(data, 3)
    codes = pca_encode(data[:5], fit.mean, fit.components)
    assert codes.shape == (5, 3)
    np.testing.assert_allclose(pca_decode(codes, fit.mean, fit.components),
                               pca_reconstruct(data[:5], fit.mean, fit.components), atol=1e-12)
    full = pca(data, 6)
    np.testing.assert_allclose(pca_reconstruct(data, full.mean, full.components), data, atol=1e-10)


def test_pca_accepts_torch_tensors(data):
    from_torch = pca(torch.tensor(data), 2)
    np.testing.assert_allclose(from_torch.components, pca(data, 2).components, atol=1e-10)


@pytest.mark.parametrize(("x", "m", "error", "words"), [
    (np.ones(5), 1, ValueError, "2-D"),
    (np.ones((4, 3)), 4, ValueError, "m must be an int in [1, 3]"),
    (np.ones((4, 3)), 0, ValueError, "m must be"),
    (np.ones((4, 3)), 1.5, ValueError, "m must be"),
    (np.full((4, 3), np.nan), 1, ValueError, "finite"),
    ([["a", "b"]], 1, TypeError, "array of numbers"),
])
def test_pca_rejects_bad_arguments(x, m, error, words):
    with pytest.raises(error, match=words.replace("[", r"\[").replace("]", r"\]")):
        pca(x, m)


def test_reconstruct_rejects_mismatched_shapes(data):
    fit = pca(data, 2)
    with pytest.raises(ValueError, match="mean must have shape"):
        pca_reconstruct(data, fit.mean[:3], fit.components)
    with pytest.raises(ValueError, match="components must have shape"):
        pca_reconstruct(data, fit.mean, fit.components[:, :3])
    with pytest.raises(ValueError, match="z must have 2 columns"):
        pca_decode(np.ones((4, 3)), fit.mean, fit.components)


def test_principal_angles_known_values():
    c, s = np.cos(np.radians(30)), np.sin(np.radians(30))
    plane = np.array([[1.0, 0], [0, 1], [0, 0]])
    np.testing.assert_allclose(principal_angles(plane, np.array([[1.0, 0], [0, c], [0, s]])), [0, 30], atol=1e-6)
    np.testing.assert_allclose(principal_angles(plane, np.array([[0.0], [0], [1]])), [90], atol=1e-6)
    np.testing.assert_allclose(principal_angles(np.array([[1.0], [0]]), np.array([[1.0], [1]])), [45], atol=1e-6)


def test_principal_angles_ignore_the_choice_of_basis_and_come_ascending():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(10, 3)), rng.normal(size=(10, 4))
    angles = principal_angles(a, b)
    assert angles.shape == (3,) and np.all(np.diff(angles) >= 0) and np.all((angles >= 0) & (angles <= 90))
    mixed = a @ np.array([[2.0, 1, 0], [0, 3, 1], [1, 0, 0.5]])  # same span, skewed basis
    np.testing.assert_allclose(principal_angles(mixed, b), angles, atol=1e-8)
    np.testing.assert_allclose(principal_angles(a, mixed), [0, 0, 0], atol=1e-5)
    np.testing.assert_allclose(principal_angles(b, a), angles, atol=1e-8)


def test_principal_angles_reject_bad_bases():
    with pytest.raises(ValueError, match="same number of rows"):
        principal_angles(np.ones((3, 1)), np.ones((4, 1)))
    with pytest.raises(ValueError, match="linearly independent"):
        principal_angles(np.array([[1.0, 2], [1, 2], [0, 0]]), np.eye(3)[:, :1])
    with pytest.raises(ValueError, match="at most as many columns as rows"):
        principal_angles(np.ones((2, 3)), np.ones((2, 1)))


def test_nmf_factors_are_non_negative_and_the_error_never_increases():
    rng = np.random.default_rng(2)
    x = rng.uniform(size=(30, 4)) @ rng.uniform(size=(4, 12))  # exactly rank 4 and non-negative
    errors = []
    w, h = nmf(x, 4, n_iter=0, seed=3)
    for _ in range(40):
        errors.append(((x - w @ h) ** 2).sum())
        w, h = nmf(x, 4, n_iter=10, init=(w, h))
    assert w.min() >= 0 and h.min() >= 0
    assert np.all(np.diff(errors) <= 1e-9 * errors[0]), "Lee–Seung updates must not increase ‖x − WH‖²"
    assert errors[-1] < 1e-3 * errors[0], "an exactly factorizable matrix should be fit closely"


def test_nmf_starts_from_init_and_is_reproducible():
    rng = np.random.default_rng(4)
    x = rng.uniform(size=(8, 5))
    w0, h0 = rng.uniform(size=(8, 2)), rng.uniform(size=(2, 5))
    w, h = nmf(x, 2, n_iter=0, init=(w0, h0))
    np.testing.assert_array_equal(w, w0)
    np.testing.assert_array_equal(h, h0)
    assert w is not w0, "nmf must not modify the caller's arrays in place"
    first, second = nmf(x, 2, n_iter=5, seed=7), nmf(x, 2, n_iter=5, seed=7)
    np.testing.assert_array_equal(first[0], second[0])


def test_nmf_rejects_bad_arguments():
    with pytest.raises(ValueError, match="non-negative for NMF"):
        nmf(-np.ones((3, 3)), 1)
    with pytest.raises(ValueError, match="k must be"):
        nmf(np.ones((3, 3)), 4)
    with pytest.raises(ValueError, match="n_iter must be"):
        nmf(np.ones((3, 3)), 1, n_iter=-1)
    with pytest.raises(ValueError, match="init must be"):
        nmf(np.ones((3, 3)), 1, init=(np.ones((3, 2)), np.ones((2, 3))))

"""Linear tools of notebook 01: PCA by the SVD, principal angles between subspaces, and NMF.

Every function takes numpy arrays or torch tensors (rows are examples) and returns float64 numpy arrays.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from helpers import validate

__all__ = ["PCA", "pca", "component_signs", "pca_encode", "pca_decode", "pca_reconstruct", "principal_angles", "nmf"]


class PCA(NamedTuple):
    """A fitted PCA: `mean` (n,), `components` (m, n) with orthonormal rows ordered by variance,
    `singular_values` (min(N, n),) of the centred data, all of them, in decreasing order."""

    mean: np.ndarray
    components: np.ndarray
    singular_values: np.ndarray


def _as_matrix(name: str, value) -> np.ndarray:
    """A finite float64 2-D numpy copy of `value` (numpy array, torch tensor or nested lists)."""
    array = validate.real_array(name, value, "a 2-D array of numbers")  # a copy: complex, nan, inf refused
    if array.ndim != 2 or 0 in array.shape:
        raise ValueError(f"{name} must be a non-empty 2-D array (rows × columns), got shape {array.shape}")
    return array


def _check_count(name: str, value, upper: int, what: str) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or not 1 <= value <= upper:
        raise ValueError(f"{name} must be an int in [1, {upper}] ({what}), got {value!r}")
    return int(value)


def pca(x, m: int) -> PCA:
    """Top-m principal directions of x: x − μ = U S Vᵀ (thin SVD), components = first m rows of Vᵀ.

    Signs are fixed so that the largest-magnitude entry of each component is positive.
    """
    x = _as_matrix("x", x)
    m = _check_count("m", m, min(x.shape), "at most min(number of rows, number of columns)")
    mean = x.mean(axis=0)
    _, singular_values, vt = np.linalg.svd(x - mean, full_matrices=False)
    components = vt[:m]
    return PCA(mean, components * component_signs(components)[:, None], singular_values)


def component_signs(components) -> np.ndarray:
    """±1 per row of `components` (m, n): the sign that makes the row's largest-magnitude entry positive.

    An SVD or an eigensolver may return any direction v as −v, and which one it returns changes with the CPU's
    float kernels. Multiplying each row by its sign fixes the convention, so figures and printed numbers do not flip.
    (A row whose two largest entries have equal magnitude and opposite signs has no such sign; the first wins.)
    """
    components = _as_matrix("components", components)
    peak = np.abs(components).argmax(axis=1)
    signs = np.sign(components[np.arange(len(components)), peak])
    if (signs == 0).any():
        raise ValueError("components must not hold an all-zero row (a direction has a non-zero entry)")
    return signs


def _check_fit(x: np.ndarray, mean, components) -> tuple[np.ndarray, np.ndarray]:
    mean = np.asarray(mean, dtype=np.float64)
    components = _as_matrix("components", components)
    n = x.shape[1]
    if mean.shape != (n,):
        raise ValueError(f"mean must have shape ({n},) to match x's {n} columns, got {mean.shape}")
    if components.shape[1] != n:
        raise ValueError(f"components must have shape (m, {n}) to match x's {n} columns, got {components.shape}")
    return mean, components


def pca_encode(x, mean, components) -> np.ndarray:
    """Codes z = (x − μ) V_m, shape (N, m), where the rows of `components` are the columns of V_m."""
    x = _as_matrix("x", x)
    mean, components = _check_fit(x, mean, components)
    return (x - mean) @ components.T


def pca_decode(z, mean, components) -> np.ndarray:
    """Reconstructions x̂ = μ + z V_mᵀ, shape (N, n), from codes z of shape (N, m)."""
    z = _as_matrix("z", z)
    components = _as_matrix("components", components)
    mean = np.asarray(mean, dtype=np.float64)
    if z.shape[1] != components.shape[0]:
        raise ValueError(f"z must have {components.shape[0]} columns (one per component), got shape {z.shape}")
    if mean.shape != (components.shape[1],):
        raise ValueError(f"mean must have shape ({components.shape[1]},), got {mean.shape}")
    return mean + z @ components


def pca_reconstruct(x, mean, components) -> np.ndarray:
    """x̂ = μ + (x − μ) V_m V_mᵀ: project x − μ onto the span of the components, add the mean back."""
    x = _as_matrix("x", x)
    mean, components = _check_fit(x, mean, components)
    return mean + (x - mean) @ components.T @ components


def _orthonormal_basis(name: str, basis: np.ndarray) -> np.ndarray:
    u, s, _ = np.linalg.svd(basis, full_matrices=False)
    if s[-1] <= 1e-10 * s[0]:
        raise ValueError(f"{name}'s columns must be linearly independent (a basis), got a rank-deficient "
                         f"matrix of shape {basis.shape}")
    return u


def principal_angles(a, b) -> np.ndarray:
    """Angles in degrees, ascending, between span(a) and span(b): cos θ_i = σ_i(Q_aᵀ Q_b), Q orthonormal bases.

    a (n, p) and b (n, q) hold basis vectors as columns; the result has min(p, q) angles in [0°, 90°].
    """
    a, b = _as_matrix("a", a), _as_matrix("b", b)
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"a and b must have the same number of rows (the ambient dimension n), got "
                         f"{a.shape} and {b.shape}")
    for name, basis in (("a", a), ("b", b)):
        if basis.shape[1] > basis.shape[0]:
            raise ValueError(f"{name} must have at most as many columns as rows (a basis of a subspace), "
                             f"got shape {basis.shape}")
    cosines = np.linalg.svd(_orthonormal_basis("a", a).T @ _orthonormal_basis("b", b), compute_uv=False)
    return np.degrees(np.arccos(np.clip(cosines, -1.0, 1.0)))


def nmf(x, k: int, n_iter: int = 200, seed: int = 0, init: tuple | None = None,
        eps: float = 1e-9) -> tuple[np.ndarray, np.ndarray]:
    """Non-negative x ≈ W H (W (N, k) ≥ 0, H (k, n) ≥ 0) by Lee–Seung multiplicative updates for ‖x − WH‖²:
    H ← H ⊙ (WᵀX) / (WᵀW H + eps), then W ← W ⊙ (X Hᵀ) / (W H Hᵀ + eps).

    init: (W0, H0) to start from; by default uniform draws scaled by sqrt(mean(x) / k), seeded by `seed`.
    """
    x = _as_matrix("x", x)
    if x.min() < 0:
        raise ValueError(f"x must be non-negative for NMF, got a minimum of {x.min():.3g}")
    k = _check_count("k", k, min(x.shape), "at most min(number of rows, number of columns)")
    if not isinstance(n_iter, int) or isinstance(n_iter, bool) or n_iter < 0:
        raise ValueError(f"n_iter must be a non-negative int, got {n_iter!r}")
    if init is None:
        rng = np.random.default_rng(validate.seed(seed))
        scale = np.sqrt(x.mean() / k)
        w, h = scale * rng.uniform(size=(x.shape[0], k)), scale * rng.uniform(size=(k, x.shape[1]))
    else:
        w, h = (_as_matrix(name, part) for name, part in zip(("init[0] (W0)", "init[1] (H0)"), init))
        if w.shape != (x.shape[0], k) or h.shape != (k, x.shape[1]):
            raise ValueError(f"init must be (W0, H0) of shapes {(x.shape[0], k)} and {(k, x.shape[1])}, "
                             f"got {w.shape} and {h.shape}")
        if w.min() < 0 or h.min() < 0:
            raise ValueError("init must be non-negative (multiplicative updates keep signs)")
    for _ in range(n_iter):
        h *= (w.T @ x) / (w.T @ w @ h + eps)
        w *= (x @ h.T) / (w @ (h @ h.T) + eps)
    return w, h

"""Checks for notebook 01 (autoencoders and PCA): PCA reconstruction and principal angles."""

from __future__ import annotations

import numpy as np

from helpers.checks.core import Failed, assert_close, call_student, exercise, piece_slips
from helpers.linear import pca, pca_reconstruct, principal_angles

__all__ = ["check_reconstruct_with_pca", "check_principal_angles", "FORBIDDEN"]

FORBIDDEN = {
    "1.1": [("helpers.linear.pca (the project's tested copy)", pca),
            ("helpers.linear.pca_reconstruct (the project's tested copy)", pca_reconstruct)],
    "1.2": [("helpers.linear.principal_angles (the project's tested copy)", principal_angles)],
}


def _answer(value, what: str) -> np.ndarray:
    """The student's answer as a float array (float32 answers stay float32), or Failed naming what came back."""
    if value is None:
        raise Failed(f"{what} returned None: did you forget `return`?")
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    try:
        value = np.asarray(value)
        return value if value.dtype == np.float32 else np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise Failed(f"{what} should return an array of numbers, got {type(value).__name__}.") from None


# --- Exercise 1.1 ---------------------------------------------------------------------------------------------


def _pca_cases(seed: int | None = None) -> list[tuple[np.ndarray, np.ndarray, int]]:
    """(x_train, x, m): a square training set first (so that using U instead of V runs and can be named)."""
    rng = np.random.default_rng(11 if seed is None else seed)
    cases = []
    for n_train, n, n_new, m in ((12, 12, 5, 3), (40, 10, 7, 4), (30, 6, 4, 6)):
        scales = np.linspace(3.0, 0.3, n)  # distinct variances: a unique, well-separated PCA
        x_train = 2.0 + rng.normal(size=(n_train, n)) * scales + rng.uniform(0, 1, size=n)
        x = 2.0 + rng.normal(size=(n_new, n)) * scales
        cases.append((x_train, x, m))
    return cases


def _pca_mistakes(x_train: np.ndarray, x: np.ndarray, m: int) -> dict[str, np.ndarray]:
    mean = x_train.mean(axis=0)
    u, _, vt = np.linalg.svd(x_train - mean, full_matrices=False)
    _, _, vt_raw = np.linalg.svd(x_train, full_matrices=False)
    v_m = vt[:m].T
    mistakes = {
        "the mean is not added back: x̂ = μ + (x − μ) V_m V_mᵀ, not (x − μ) V_m V_mᵀ": (x - mean) @ v_m @ v_m.T,
        "the mean is not subtracted from x before projecting: project x − μ, then add μ back":
            mean + x @ v_m @ v_m.T,
        "nothing is centred: PCA needs the SVD of x_train − μ and the projection of x − μ":
            x @ vt_raw[:m].T @ vt_raw[:m],
        "x_train is not centred before the SVD: take the SVD of x_train − μ":
            mean + (x - mean) @ vt_raw[:m].T @ vt_raw[:m],
        "you returned the codes z = (x − μ) V_m; the task asks for the reconstruction x̂ = μ + z V_mᵀ":
            (x - mean) @ v_m,
        "the principal directions are taken from the columns of Vᵀ; np.linalg.svd returns Vᵀ, whose ROWS are "
        "the directions: use vt[:m]": mean + (x - mean) @ vt[:, :m] @ vt[:, :m].T,
        "the last m directions (the least variance) are kept: the SVD sorts singular values in decreasing "
        "order, so keep the first m rows of Vᵀ": mean + (x - mean) @ vt[-m:].T @ vt[-m:],
    }
    mistakes.update(_pca_slips(x_train, x, m))
    if u.shape[0] == vt.shape[1]:  # U's columns live in the space of examples; they only fit when N = n
        mistakes["you used U (directions in the space of examples) instead of V: the principal directions are "
                 "the rows of Vᵀ"] = mean + (x - mean) @ u[:, :m] @ u[:, :m].T
    return mistakes


def _reconstruct(x_train: np.ndarray, x: np.ndarray, m: int, mean, rows: slice | None = None) -> np.ndarray:
    vt = np.linalg.svd(x_train - mean, full_matrices=False)[2]
    v_m = vt[slice(0, m) if rows is None else rows].T
    return mean + (x - mean) @ v_m @ v_m.T


def _pca_slips(x_train: np.ndarray, x: np.ndarray, m: int) -> dict[str, np.ndarray]:
    """The reconstruction's slips: the mean over the wrong axis, other rows of Vᵀ, and one named piece changed."""
    mean = x_train.mean(axis=0)
    slips = {
        "the mean is taken over all entries (np.mean without axis): μ is the mean of each column, "
        "x_train.mean(axis=0)": _reconstruct(x_train, x, m, x_train.mean()),
        "the mean is summed where it should be averaged: μ = x_train.mean(axis=0), not the sum over the examples":
            _reconstruct(x_train, x, m, x_train.sum(axis=0)),
        "the projection (x − μ) V_m V_mᵀ is missing: you returned the mean alone": mean,
        "x is missing from x − μ: you returned μ − μ V_m V_mᵀ, one row (project x − μ, then add μ back)":
            mean - mean @ np.linalg.svd(x_train - mean, full_matrices=False)[2][:m].T
            @ np.linalg.svd(x_train - mean, full_matrices=False)[2][:m],
        "the directions after the first m are kept (vt[m:]): keep the first m rows of Vᵀ, vt[:m]":
            _reconstruct(x_train, x, m, mean, slice(m, None)),
    }
    if x_train.shape[0] == x_train.shape[1]:  # a mean over the wrong axis only broadcasts for a square x_train
        slips["the mean is taken over the wrong axis (axis=1, across the features of each example): μ is the mean "
              "over the examples, x_train.mean(axis=0)"] = _reconstruct(x_train, x, m, x_train.mean(axis=1))

    def formula(piece):
        mu = piece("the mean μ", mean)
        centred = piece("x_train in x_train − μ", x_train) - piece("μ in x_train − μ", mu)
        v_m = np.linalg.svd(centred, full_matrices=False)[2][:m].T
        projection = (piece("x in x − μ", x) - piece("μ in x − μ", mu)) @ v_m @ v_m.T
        return piece("μ added back", mu) + piece("the projection (x − μ) V_m V_mᵀ", projection)

    return {**slips, **piece_slips(formula)}


@exercise("1.1", "PCA reconstruction")
def check_reconstruct_with_pca(student_fn, seed: int | None = None) -> None:
    """Compare with μ + (x − μ) V_m V_mᵀ on three data sets (one square, so that U-for-V mistakes show)."""
    for x_train, x, m in _pca_cases(seed):
        inputs = f"x_train of shape {x_train.shape}, x of shape {x.shape}, m={m}"
        got = _answer(call_student(student_fn, x_train.copy(), x.copy(), m, forbidden=FORBIDDEN["1.1"]),
                      "reconstruct_with_pca")
        fit = pca(x_train, m)
        expected = pca_reconstruct(x, fit.mean, fit.components)
        # float32 keeps about 7 digits: allow its rounding, relative to the size of the data
        rtol, atol = (1e-4, 1e-4 * float(np.abs(expected).max())) if got.dtype == np.float32 else (1e-6, 1e-8)
        assert_close(got.astype(np.float64), expected, inputs=inputs, rtol=rtol, atol=atol,
                     mistakes=_pca_mistakes(x_train, x, m))


# --- Exercise 1.2 ---------------------------------------------------------------------------------------------


def _angle_cases(seed: int | None = None) -> list[tuple[str, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(12 if seed is None else seed)
    c, s = np.cos(np.radians(30.0)), np.sin(np.radians(30.0))
    plane = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    tilted = np.array([[1.0, 0.0], [0.0, c], [0.0, s]])
    skewed = rng.normal(size=(8, 3)) @ np.array([[3.0, 1.0, 0.0], [0.0, 0.5, 2.0], [0.0, 0.0, 1.5]])
    other = rng.normal(size=(8, 2)) * np.array([4.0, 0.3])
    same = skewed @ np.array([[2.0, 1.0, 0.5], [0.0, 1.0, -1.0], [0.3, 0.0, 3.0]])  # same span, another basis
    return [
        ("a = span(e1, e2), b = span(e1, cos30°·e2 + sin30°·e3) in ℝ³", plane, tilted),
        ("two non-orthonormal bases in ℝ⁸ (3 and 2 columns)", skewed, other),
        ("two different, non-orthonormal bases of the same 3-D subspace of ℝ⁸", skewed, same),
    ]


def _angle_mistakes(a: np.ndarray, b: np.ndarray, expected: np.ndarray) -> dict[str, np.ndarray]:
    def raw_angles(p, q):
        cos = np.linalg.svd(p.T @ q, compute_uv=False)[: len(expected)]
        return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))

    def unit(v):
        return v / np.linalg.norm(v, axis=0)

    cosines = np.cos(np.radians(expected))

    def formula(piece):
        q_a, q_b = np.linalg.qr(a)[0], np.linalg.qr(b)[0]
        found = np.linalg.svd(q_a.T @ q_b, compute_uv=False)
        clipped = np.clip(found, piece("the lower clip bound −1", -1.0), piece("the upper clip bound 1", 1.0))
        return np.degrees(np.arccos(clipped))

    return {
        **piece_slips(formula),
        "the sign of the cosines is flipped: arccos(−cos θ) = 180° − θ": 180.0 - expected,
        "np.arccos is missing: the cosines themselves were converted with np.degrees (the angles are arccos of the "
        "cosines)": np.degrees(cosines),
        "np.radians is used where np.degrees belongs (the angles are converted the wrong way: arccos gives "
        "radians, np.degrees turns them into degrees)": np.radians(np.radians(expected)),
        "the angles are in radians: convert with np.degrees": np.radians(expected),
        "you returned the cosines σ_i(Q_aᵀ Q_b); the angles are arccos of them, in degrees": cosines,
        "np.arcsin was used where the cosines need np.arccos (arcsin gives 90° minus each angle)":
            np.degrees(np.arcsin(np.clip(cosines, -1.0, 1.0))),
        "np.arcsin was used where the cosines need np.arccos (arcsin gives 90° minus each angle; sorting them does "
        "not undo that)":
            np.sort(np.degrees(np.arcsin(np.clip(cosines, -1.0, 1.0)))),
        "the angles are in descending order: sort them from smallest to largest": expected[::-1],
        "the bases are not orthonormalised: the singular values of aᵀb are cosines only when a and b have "
        "orthonormal columns (use np.linalg.qr first)": raw_angles(a, b),
        "the columns are normalised but not orthogonalised: use np.linalg.qr to get orthonormal bases":
            raw_angles(unit(a), unit(b)),
    }


def _nan_message(description: str, got: np.ndarray, a: np.ndarray, b: np.ndarray, expected: np.ndarray) -> str:
    """Why arccos gave nan: cosines of orthonormal bases only pass 1 by rounding; raw aᵀb can be any size."""
    start = f"for {description}, your angles contain nan: arccos was given a number above 1."
    clip = " Rounding can push a cosine of 0° to 1.0000000000000002: clip with np.clip(cos, -1, 1) before np.arccos."
    finite = ~np.isnan(got)
    if got.shape == expected.shape and finite.any() and np.allclose(got[finite], expected[finite], atol=1e-3):
        return start + clip
    if np.allclose(expected, 0.0, atol=1e-6):
        return start + (" Orthonormalise a and b (np.linalg.qr), and clip the cosines with np.clip(cos, -1, 1) "
                        "before np.arccos: for equal subspaces every cosine is 1 up to rounding.")
    if np.linalg.svd(a.T @ b, compute_uv=False).max() > 1 + 1e-6:
        return start + (" Singular values of aᵀb are cosines only when a and b have orthonormal columns: "
                        "orthonormalise them first (np.linalg.qr), and clip with np.clip(cos, -1, 1).")
    return start + clip


@exercise("1.2", "Principal angles between subspaces")
def check_principal_angles(student_fn, seed: int | None = None) -> None:
    """Compare with arccos of the singular values of Q_aᵀ Q_b, in degrees, ascending, on three pairs of bases."""
    for description, a, b in _angle_cases(seed):
        answer = _answer(call_student(student_fn, a.copy(), b.copy(), forbidden=FORBIDDEN["1.2"]),
                         "principal_angles_deg")
        got = answer.astype(np.float64)
        # arccos is ill-conditioned near 0°: a float32 cosine 1 − 6e-8 is already 0.02°, so float32 gets 0.1°
        atol = 0.1 if answer.dtype == np.float32 else 1e-3
        expected = principal_angles(a, b)
        if got.size and np.isnan(got).any():
            raise Failed(_nan_message(description, got, a, b, expected))
        assert_close(got, expected, inputs=description, rtol=1e-4, atol=atol,
                     mistakes=_angle_mistakes(a, b, expected))

"""The checks of notebook 01: reference answers pass, each usual mistake fails with its own message."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers.checks import RESULTS, check_principal_angles, check_reconstruct_with_pca
from helpers.linear import pca, pca_reconstruct, principal_angles

# ---------------------------------------------------------------- 1.1 PCA reconstruction


def reference(x_train, x, m):
    mean = x_train.mean(axis=0)
    _, _, vt = np.linalg.svd(x_train - mean, full_matrices=False)
    return mean + (x - mean) @ vt[:m].T @ vt[:m]


def with_helpers(x_train, x, m):
    fit = pca(x_train, m)
    return pca_reconstruct(x, fit.mean, fit.components)


def with_torch(x_train, x, m):
    x_train, x = torch.tensor(x_train), torch.tensor(x)
    mean = x_train.mean(dim=0)
    _, _, vt = torch.linalg.svd(x_train - mean, full_matrices=False)
    return mean + (x - mean) @ vt[:m].T @ vt[:m]


def in_float32(x_train, x, m):
    """A correct answer computed in float32, as torch users often do: it must pass."""
    return reference(x_train.astype(np.float32), x.astype(np.float32), m)


def with_eigh(x_train, x, m):
    mean = x_train.mean(axis=0)
    _, vectors = np.linalg.eigh(np.cov(x_train.T))
    v = vectors[:, ::-1][:, :m]
    return mean + (x - mean) @ v @ v.T


def no_mean_back(x_train, x, m):
    return reference(x_train, x, m) - x_train.mean(axis=0)


def mean_not_subtracted(x_train, x, m):
    mean = x_train.mean(axis=0)
    _, _, vt = np.linalg.svd(x_train - mean, full_matrices=False)
    return mean + x @ vt[:m].T @ vt[:m]


def nothing_centred(x_train, x, m):
    _, _, vt = np.linalg.svd(x_train, full_matrices=False)
    return x @ vt[:m].T @ vt[:m]


def svd_not_centred(x_train, x, m):
    mean = x_train.mean(axis=0)
    _, _, vt = np.linalg.svd(x_train, full_matrices=False)
    return mean + (x - mean) @ vt[:m].T @ vt[:m]


def codes_only(x_train, x, m):
    mean = x_train.mean(axis=0)
    _, _, vt = np.linalg.svd(x_train - mean, full_matrices=False)
    return (x - mean) @ vt[:m].T


def columns_of_vt(x_train, x, m):
    mean = x_train.mean(axis=0)
    _, _, vt = np.linalg.svd(x_train - mean, full_matrices=False)
    return mean + (x - mean) @ vt[:, :m] @ vt[:, :m].T


def last_directions(x_train, x, m):
    mean = x_train.mean(axis=0)
    _, _, vt = np.linalg.svd(x_train - mean, full_matrices=False)
    return mean + (x - mean) @ vt[-m:].T @ vt[-m:]


def u_for_v(x_train, x, m):
    mean = x_train.mean(axis=0)
    u, _, _ = np.linalg.svd(x_train - mean, full_matrices=False)
    return mean + (x - mean) @ u[:, :m] @ u[:, :m].T


def returns_none(x_train, x, m):
    reference(x_train, x, m)


def not_done(x_train, x, m):
    raise NotImplementedError("Exercise 1.1: reconstruct x from its top-m PCA codes")


@pytest.mark.parametrize("answer", [reference, with_torch, with_eigh, in_float32])
def test_correct_reconstructions_pass(answer, capsys):
    assert check_reconstruct_with_pca(answer)
    assert "✅ Exercise 1.1" in capsys.readouterr().out
    assert RESULTS["1.1"].passed


PCA_WRONG = [
    (no_mean_back, "the mean is not added back"),
    (mean_not_subtracted, "the mean is not subtracted from x"),
    (nothing_centred, "nothing is centred"),
    (svd_not_centred, "x_train is not centred before the SVD"),
    (codes_only, "you returned the codes"),
    (columns_of_vt, "columns of Vᵀ"),
    (last_directions, "the last m directions"),
    (u_for_v, "you used U"),
    (returns_none, "returned None"),
    (not_done, "not implemented yet"),
    (with_helpers, "helpers.linear.pca (the project's tested copy) is not allowed"),
]


@pytest.mark.parametrize(("answer", "words"), PCA_WRONG)
def test_usual_pca_mistakes_are_named(answer, words, capsys):
    assert not check_reconstruct_with_pca(answer)
    out = capsys.readouterr().out
    assert "❌ Exercise 1.1" in out and words in out, out
    assert not RESULTS["1.1"].passed


def test_a_crashing_reconstruction_is_reported_not_raised(capsys):
    def crashes(x_train, x, m):
        return x @ np.ones((3, 3))

    assert not check_reconstruct_with_pca(crashes)
    assert "your function raised ValueError" in capsys.readouterr().out


# ---------------------------------------------------------------- 1.2 principal angles


def angles_reference(a, b):
    qa, _ = np.linalg.qr(a)
    qb, _ = np.linalg.qr(b)
    cos = np.linalg.svd(qa.T @ qb, compute_uv=False)
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


def angles_torch(a, b):
    qa, _ = torch.linalg.qr(torch.tensor(a))
    qb, _ = torch.linalg.qr(torch.tensor(b))
    return torch.rad2deg(torch.arccos(torch.linalg.svdvals(qa.T @ qb).clamp(-1, 1)))


def radians(a, b):
    return np.radians(angles_reference(a, b))


def cosines(a, b):
    qa, _ = np.linalg.qr(a)
    qb, _ = np.linalg.qr(b)
    return np.linalg.svd(qa.T @ qb, compute_uv=False)


def descending(a, b):
    return angles_reference(a, b)[::-1]


def not_orthonormalised(a, b):
    cos = np.linalg.svd(a.T @ b, compute_uv=False)
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


def only_normalised(a, b):
    a, b = a / np.linalg.norm(a, axis=0), b / np.linalg.norm(b, axis=0)
    return not_orthonormalised(a, b)


def not_orthonormalised_nor_clipped(a, b):
    with np.errstate(invalid="ignore"):
        return np.degrees(np.arccos(np.linalg.svd(a.T @ b, compute_uv=False)))


def orthonormalised_not_clipped(a, b):
    qa, _ = np.linalg.qr(a)
    qb, _ = np.linalg.qr(b)
    cos = np.linalg.svd(qa.T @ qb, compute_uv=False)
    cos[cos > 1 - 1e-9] = np.nextafter(1.0, 2.0)  # what rounding does to a cosine of 0° on some machines
    with np.errstate(invalid="ignore"):
        return np.degrees(np.arccos(cos))


def arcsin_angles(a, b):
    q_a, _ = np.linalg.qr(a)
    q_b, _ = np.linalg.qr(b)
    cosines = np.linalg.svd(q_a.T @ q_b, compute_uv=False)
    return np.sort(np.degrees(np.arcsin(np.clip(cosines, -1, 1))))


def nan_angles(a, b):
    return np.full(min(a.shape[1], b.shape[1]), np.nan)


def angles_not_done(a, b):
    raise NotImplementedError("Exercise 1.2: principal angles")


@pytest.mark.parametrize("answer", [angles_reference, angles_torch])
def test_correct_angles_pass(answer, capsys):
    assert check_principal_angles(answer)
    assert "✅ Exercise 1.2" in capsys.readouterr().out


ANGLE_WRONG = [
    (radians, "in radians"),
    (cosines, "you returned the cosines"),
    (descending, "descending order"),
    (not_orthonormalised, "the bases are not orthonormalised"),
    (only_normalised, "normalised but not orthogonalised"),
    (not_orthonormalised_nor_clipped, "orthonormalise them first"),
    (nan_angles, "np.clip(cos, -1, 1)"),
    (orthonormalised_not_clipped, "Rounding can push a cosine of 0°"),
    (angles_not_done, "not implemented yet"),
    (arcsin_angles, "np.arcsin was used where the cosines need np.arccos"),
    (principal_angles, "helpers.linear.principal_angles (the project's tested copy) is not allowed"),
]


@pytest.mark.parametrize(("answer", "words"), ANGLE_WRONG)
def test_usual_angle_mistakes_are_named(answer, words, capsys):
    assert not check_principal_angles(answer)
    out = capsys.readouterr().out
    assert "❌ Exercise 1.2" in out and words in out, out
    assert not RESULTS["1.2"].passed


def test_a_float32_answer_off_by_more_than_rounding_shows_the_largest_difference(capsys):
    def slightly_off(x_train, x, m):
        return reference(x_train, x, m) + 1e-6  # prints like the reference, but is outside float64's tolerance

    assert not check_reconstruct_with_pca(slightly_off)
    out = capsys.readouterr().out
    assert "the largest difference is 1e-06" in out and "expected [" not in out, out


WRONG_ANSWERS = {"1.1": PCA_WRONG, "1.2": ANGLE_WRONG}

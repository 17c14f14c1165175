"""helpers.estimators: the score-function and pathwise gradient estimators, their variance, Gumbel-softmax."""

from __future__ import annotations

import math

import pytest
import torch

from helpers.estimators import (
    ESTIMATORS,
    estimator_variance,
    gumbel_softmax_sample,
    mean_and_stderr,
    pathwise_grads,
    score_function_grads,
)

MU = torch.tensor([0.7, -1.2], dtype=torch.float64)
SIGMA = torch.tensor([0.6, 1.3], dtype=torch.float64)


def square(z: torch.Tensor) -> torch.Tensor:
    return z.pow(2).sum(-1)


def sine(z: torch.Tensor) -> torch.Tensor:
    return torch.sin(z).sum(-1)


def _eps(shape, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


EXACT = {  # f → (∂/∂μ, ∂/∂σ) of E_{N(μ, σ²)}[f(z)]
    "square": (square, 2 * MU, 2 * SIGMA),
    "sine": (sine, torch.cos(MU) * torch.exp(-SIGMA**2 / 2), -SIGMA * torch.sin(MU) * torch.exp(-SIGMA**2 / 2)),
}


# ---------------------------------------------------------------- per-sample formulas


def test_score_function_terms_match_the_formula():
    eps = _eps((7, 2))
    z = MU + SIGMA * eps
    grad_mu, grad_sigma = score_function_grads(square, MU, SIGMA, eps)
    values = square(z).unsqueeze(-1)
    torch.testing.assert_close(grad_mu, values * (z - MU) / SIGMA**2)
    torch.testing.assert_close(grad_sigma, values * ((z - MU) ** 2 - SIGMA**2) / SIGMA**3)


def test_pathwise_terms_match_the_chain_rule():
    eps = _eps((7, 2))
    z = MU + SIGMA * eps
    grad_mu, grad_sigma = pathwise_grads(square, MU, SIGMA, eps)
    torch.testing.assert_close(grad_mu, 2 * z)
    torch.testing.assert_close(grad_sigma, 2 * z * eps)


def test_pathwise_leaves_the_callers_tensors_alone():
    mu = MU.clone().requires_grad_(True)
    pathwise_grads(square, mu, SIGMA, _eps((4, 2)))
    assert mu.grad is None, "pathwise_grads must not accumulate into the caller's .grad"


def test_pathwise_gives_zero_for_a_function_that_ignores_z():
    grad_mu, grad_sigma = pathwise_grads(lambda z: torch.zeros(z.shape[:-1], dtype=z.dtype), MU, SIGMA, _eps((3, 2)))
    assert grad_mu.abs().sum() == 0 and grad_sigma.abs().sum() == 0


@pytest.mark.parametrize("name", sorted(EXACT))
@pytest.mark.parametrize("method", ["pathwise", "score", "score+baseline"])
def test_estimators_are_unbiased(name, method):
    f, exact_mu, exact_sigma = EXACT[name]
    eps = _eps((50_000, 2), seed=1)
    if method == "pathwise":
        terms = pathwise_grads(f, MU, SIGMA, eps)
    else:
        terms = score_function_grads(f, MU, SIGMA, eps, "leave-one-out" if method == "score+baseline" else None)
    for per_sample, exact in zip(terms, (exact_mu, exact_sigma)):
        mean, stderr = mean_and_stderr(per_sample)
        z_scores = (mean - exact).abs() / stderr
        assert (z_scores < 5).all(), f"{method} on {name}: {mean} vs exact {exact} ({z_scores} standard errors)"


def test_a_biased_estimator_is_detected_by_the_same_test():
    f, exact_mu, _ = EXACT["square"]
    grad_mu, _ = score_function_grads(f, MU, SIGMA, _eps((50_000, 2), seed=1))
    mean, stderr = mean_and_stderr(-grad_mu)
    assert ((mean - exact_mu).abs() / stderr > 5).any()


def test_constant_baseline_shifts_the_terms_and_keeps_the_mean():
    eps = _eps((200_000, 2), seed=2)
    plain = score_function_grads(square, MU, SIGMA, eps)
    shifted = score_function_grads(square, MU, SIGMA, eps, baseline=3.0)
    torch.testing.assert_close(shifted[0], plain[0] - 3.0 * eps / SIGMA)
    mean, stderr = mean_and_stderr(shifted[0])
    assert ((mean - 2 * MU).abs() < 5 * stderr).all()


def test_leave_one_out_baseline_lowers_the_variance():
    eps = _eps((4000, 8, 2), seed=3)
    mu = torch.tensor([2.0, -2.0], dtype=torch.float64)
    plain = score_function_grads(square, mu, SIGMA, eps)[0].mean(-2).var(0)
    loo = score_function_grads(square, mu, SIGMA, eps, "leave-one-out")[0].mean(-2).var(0)
    assert (loo < plain / 2).all(), f"baseline variance {loo} vs plain {plain}"


# ---------------------------------------------------------------- variance helper


def test_pathwise_variance_of_the_square_matches_theory():
    # ∂/∂μ term 2z has variance 4σ²; the S-sample mean has 4σ²/S.
    var_mu, var_sigma = estimator_variance("pathwise", square, torch.zeros(1, dtype=torch.float64),
                                           torch.ones(1, dtype=torch.float64), n_samples=4, n_repeats=20_000,
                                           generator=torch.Generator().manual_seed(0))
    assert var_mu == pytest.approx(1.0, rel=0.05)
    assert var_sigma == pytest.approx(2.0, rel=0.07)  # 2zε = 2ε² has variance 8


def test_score_function_variance_is_higher_and_the_baseline_helps():
    args = (square, torch.full((4,), 1.0, dtype=torch.float64), torch.ones(4, dtype=torch.float64))
    gen = torch.Generator().manual_seed(0)
    out = {e: estimator_variance(e, *args, n_samples=8, n_repeats=2000, generator=gen) for e in ESTIMATORS}
    assert out["score"][0] > 3 * out["score+baseline"][0] > 3 * out["pathwise"][0]


def test_estimator_variance_is_reproducible_with_a_seeded_generator():
    args = ("score", square, MU, SIGMA)
    first = estimator_variance(*args, n_samples=4, n_repeats=50, generator=torch.Generator().manual_seed(5))
    second = estimator_variance(*args, n_samples=4, n_repeats=50, generator=torch.Generator().manual_seed(5))
    assert first == second


# ---------------------------------------------------------------- Gumbel-softmax


def test_gumbel_softmax_shape_simplex_and_gradient():
    logits = torch.tensor([0.5, -0.3, 1.0], requires_grad=True)
    y = gumbel_softmax_sample(logits, 0.5, n_samples=10, generator=torch.Generator().manual_seed(0))
    assert y.shape == (10, 3)
    torch.testing.assert_close(y.sum(-1), torch.ones(10))
    (y[:, 0]).sum().backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


def test_gumbel_softmax_at_low_temperature_samples_the_categorical():
    logits = torch.tensor([0.5, -0.3, 1.0, 0.0], dtype=torch.float64)
    y = gumbel_softmax_sample(logits, 0.01, n_samples=40_000, generator=torch.Generator().manual_seed(1))
    assert (y.max(-1).values > 0.99).float().mean() > 0.95, "tau → 0 should give almost one-hot samples"
    freq = torch.bincount(y.argmax(-1), minlength=4).double() / len(y)
    torch.testing.assert_close(freq, logits.softmax(-1), atol=0.01, rtol=0)


# ---------------------------------------------------------------- bad arguments


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda: score_function_grads("square", MU, SIGMA, _eps((3, 2)))[0], TypeError, "f must be a callable"),
        (lambda: score_function_grads(square, [0.0, 1.0], SIGMA, _eps((3, 2))), TypeError, "mu must be"),
        (lambda: score_function_grads(square, MU, -SIGMA, _eps((3, 2))), ValueError, "sigma must be strictly"),
        (lambda: score_function_grads(square, MU, SIGMA, _eps((3,))), ValueError, "eps must have shape"),
        (lambda: score_function_grads(square, MU, SIGMA, _eps((3, 5))), ValueError, "must broadcast"),
        (lambda: score_function_grads(square, MU, SIGMA, _eps((3, 2)), "mean"), ValueError, "baseline must be"),
        (lambda: score_function_grads(square, MU, SIGMA, _eps((3, 2)), [1.0]), TypeError, "baseline must be"),
        (lambda: score_function_grads(square, MU, SIGMA, _eps((1, 2)), "leave-one-out"), ValueError, "at least 2"),
        (lambda: pathwise_grads(lambda z: z, MU, SIGMA, _eps((3, 2))), ValueError, "one value per sample"),
        (lambda: mean_and_stderr(_eps((1, 2))), ValueError, "at least 2 samples"),
        (lambda: mean_and_stderr([1.0, 2.0]), TypeError, "per_sample must be"),
        (lambda: estimator_variance("reinforce", square, MU, SIGMA, n_samples=2), ValueError, "estimator must be"),
        (lambda: estimator_variance("score", square, MU, SIGMA, n_samples=0), ValueError, "n_samples must be"),
        (lambda: estimator_variance("score+baseline", square, MU, SIGMA, n_samples=1), ValueError, "n_samples >= 2"),
        (lambda: gumbel_softmax_sample(torch.zeros(3), 0.0), ValueError, "tau must be"),
        (lambda: gumbel_softmax_sample(torch.zeros(3, dtype=torch.long), 1.0), TypeError, "logits must be"),
        (lambda: gumbel_softmax_sample(torch.zeros(3), 1.0, n_samples=0), ValueError, "n_samples must be"),
    ],
)
def test_bad_arguments_are_named(call, error, words):
    with pytest.raises(error, match=words):
        call()


def test_module_constants():
    assert ESTIMATORS == ("pathwise", "score", "score+baseline")
    assert math.isclose(float(mean_and_stderr(torch.tensor([[1.0], [3.0]]))[1]), 1.0)

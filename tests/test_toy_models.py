"""Unit tests of helpers.toy_models: the conjugate Gaussian model and the forward/reverse KL fits."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Normal

from helpers.objectives import kl_normal
from helpers.toy_models import (
    ConjugateGaussian,
    GaussianFit,
    GaussianMixture1D,
    bimodal_mixture,
    fit_forward_kl,
    fit_reverse_kl,
    forward_kl_on_grid,
    log_normal,
    reverse_kl_on_grid,
)

Z_GRID = torch.linspace(-12, 12, 20001, dtype=torch.float64)

# ---------------------------------------------------------------- the conjugate model


@pytest.mark.parametrize("sigma", [0.3, 1.0, 2.5])
@pytest.mark.parametrize("x", [-1.7, 0.0, 1.3])
def test_evidence_and_posterior_match_numerical_integration(sigma, x):
    model = ConjugateGaussian(sigma)
    joint = model.log_joint(x, Z_GRID).exp()
    evidence = torch.trapezoid(joint, Z_GRID)
    assert model.log_evidence(x).item() == pytest.approx(math.log(evidence.item()), abs=1e-8)
    posterior = joint / evidence
    mean = torch.trapezoid(Z_GRID * posterior, Z_GRID)
    var = torch.trapezoid((Z_GRID - mean) ** 2 * posterior, Z_GRID)
    post_mean, post_logvar = model.posterior(x)
    assert post_mean.item() == pytest.approx(mean.item(), abs=1e-8)
    assert post_logvar.exp().item() == pytest.approx(var.item(), abs=1e-8)


def test_log_densities_match_torch_normal():
    model = ConjugateGaussian(0.7)
    z, x = torch.tensor([-0.4, 1.1], dtype=torch.float64), torch.tensor([0.2, 2.0], dtype=torch.float64)
    torch.testing.assert_close(model.log_prior(z), Normal(0.0, 1.0).log_prob(z))
    torch.testing.assert_close(model.log_likelihood(x, z), Normal(z, 0.7).log_prob(x))
    torch.testing.assert_close(model.log_evidence(x), Normal(0.0, math.sqrt(1 + 0.49)).log_prob(x))


def test_elbo_identity_holds_for_many_gaussians():
    model = ConjugateGaussian(0.5)
    g = torch.Generator().manual_seed(0)
    x = 2 * torch.randn(50, generator=g, dtype=torch.float64)
    mu_q, logvar_q = 2 * torch.randn(50, generator=g, dtype=torch.float64), torch.randn(50, generator=g,
                                                                                       dtype=torch.float64)
    post_mean, post_logvar = model.posterior(x)
    gap = kl_normal(mu_q.unsqueeze(-1), logvar_q.unsqueeze(-1), post_mean.unsqueeze(-1), post_logvar.unsqueeze(-1))
    torch.testing.assert_close(model.elbo(x, mu_q, logvar_q) + gap, model.log_evidence(x), rtol=0, atol=1e-10)
    assert (model.elbo(x, mu_q, logvar_q) < model.log_evidence(x)).all()


def test_elbo_is_tight_at_the_posterior_and_terms_are_consistent():
    model = ConjugateGaussian(1.5)
    x = torch.tensor([-2.0, 0.5, 3.0], dtype=torch.float64)
    post_mean, post_logvar = model.posterior(x)
    torch.testing.assert_close(model.elbo(x, post_mean, post_logvar), model.log_evidence(x), rtol=0, atol=1e-12)
    expected_log_lik, kl_prior = model.elbo_terms(x, 0.3, -0.2)
    assert expected_log_lik.shape == (3,) and kl_prior.shape == ()
    assert kl_prior.item() == pytest.approx(0.5 * (math.exp(-0.2) + 0.09 - 1 + 0.2))
    # E_q[log p(x|z)] by quadrature over z ~ q
    q = Normal(torch.tensor(0.3, dtype=torch.float64), math.exp(-0.1)).log_prob(Z_GRID).exp()
    by_quadrature = torch.stack([torch.trapezoid(q * model.log_likelihood(xi, Z_GRID), Z_GRID) for xi in x])
    torch.testing.assert_close(expected_log_lik, by_quadrature, rtol=0, atol=1e-8)


def test_mc_elbo_agrees_within_error_bars_and_is_reproducible():
    model = ConjugateGaussian(0.5)
    x, mu_q, logvar_q = torch.tensor([1.3, -0.4]), torch.tensor([0.2, 0.1]), torch.tensor([-1.0, 0.5])
    estimate, stderr = model.mc_elbo(x, mu_q, logvar_q, 20000, torch.Generator().manual_seed(1))
    assert estimate.shape == stderr.shape == (2,) and (stderr > 0).all()
    assert ((estimate - model.elbo(x, mu_q, logvar_q)).abs() < 4 * stderr).all()
    again, _ = model.mc_elbo(x, mu_q, logvar_q, 20000, torch.Generator().manual_seed(1))
    torch.testing.assert_close(estimate, again, rtol=0, atol=0)
    at_posterior, zero_error = model.mc_elbo(1.3, *model.posterior(1.3), 50, torch.Generator().manual_seed(2))
    assert at_posterior.item() == pytest.approx(model.log_evidence(1.3).item(), abs=1e-10)  # zero variance there
    assert zero_error.item() < 1e-10


def test_sample_shapes_and_marginal_variance():
    z, x = ConjugateGaussian(0.5).sample(20000, torch.Generator().manual_seed(0))
    assert z.shape == x.shape == (20000,) and z.dtype == torch.float64
    assert x.var().item() == pytest.approx(1.25, rel=0.05)
    assert (x - z).std().item() == pytest.approx(0.5, rel=0.05)


def test_conjugate_model_argument_errors():
    for bad in (0, -1.0, float("nan"), "1", True):
        with pytest.raises(ValueError, match="sigma"):
            ConjugateGaussian(bad)
    model = ConjugateGaussian()
    with pytest.raises(TypeError, match="x"):
        model.log_evidence([1.0])
    with pytest.raises(TypeError, match="mu_q"):
        model.elbo(1.0, "0", 0.0)
    with pytest.raises(ValueError, match="n_samples"):
        model.mc_elbo(1.0, 0.0, 0.0, n_samples=0)
    with pytest.raises(ValueError, match="n must"):
        model.sample(2.5)
    with pytest.raises(ValueError, match="var"):
        log_normal(0.0, 0.0, -1.0)


# ---------------------------------------------------------------- the mixture and the two KL fits


def test_mixture_is_normalized_with_the_right_moments():
    target = bimodal_mixture()
    grid = target.grid()
    density = target.log_prob(grid).exp()
    assert torch.trapezoid(density, grid).item() == pytest.approx(1.0, abs=1e-9)
    mean = torch.trapezoid(grid * density, grid).item()
    assert mean == pytest.approx(target.mean(), abs=1e-9)
    assert torch.trapezoid((grid - mean) ** 2 * density, grid).item() == pytest.approx(target.variance(), abs=1e-9)


def test_forward_kl_fit_is_moment_matching_and_a_minimum():
    target = bimodal_mixture()
    fit = fit_forward_kl(target)
    assert isinstance(fit, GaussianFit)
    assert fit.mu == pytest.approx(0.4) and fit.sigma == pytest.approx(math.sqrt(0.49 + 4 - 0.16))
    best = forward_kl_on_grid(target, fit.mu, math.log(fit.sigma))
    for d_mu, d_log_sigma in [(0.05, 0), (-0.05, 0), (0, 0.05), (0, -0.05)]:
        assert forward_kl_on_grid(target, fit.mu + d_mu, math.log(fit.sigma) + d_log_sigma) > best


def test_reverse_kl_fit_seeks_the_heavier_mode_deterministically():
    target = bimodal_mixture()
    fit = fit_reverse_kl(target)
    assert fit == fit_reverse_kl(target)  # bit-identical: the blog figure is reproducible
    assert fit.mu == pytest.approx(2.0, abs=0.05) and fit.sigma == pytest.approx(0.7, abs=0.05)
    best = reverse_kl_on_grid(target, fit.mu, math.log(fit.sigma))
    for d_mu, d_log_sigma in [(0.01, 0), (-0.01, 0), (0, 0.01), (0, -0.01)]:
        assert reverse_kl_on_grid(target, fit.mu + d_mu, math.log(fit.sigma) + d_log_sigma) > best
    other = fit_reverse_kl(target, init_mu=-2.0)  # the other local optimum, on the lighter mode
    assert other.mu == pytest.approx(-2.0, abs=0.05)
    assert reverse_kl_on_grid(target, other.mu, math.log(other.sigma)) > best + 0.2


def test_each_fit_wins_on_its_own_objective():
    target = bimodal_mixture()
    fwd, rev = fit_forward_kl(target), fit_reverse_kl(target)
    assert forward_kl_on_grid(target, fwd.mu, math.log(fwd.sigma)) < forward_kl_on_grid(target, rev.mu,
                                                                                          math.log(rev.sigma))
    assert reverse_kl_on_grid(target, rev.mu, math.log(rev.sigma)) < reverse_kl_on_grid(target, fwd.mu,
                                                                                          math.log(fwd.sigma))


def test_quadrature_kl_matches_closed_form_for_a_gaussian_target():
    target = GaussianMixture1D(weights=(1.0,), means=(0.5,), stds=(1.5,))
    exact = kl_normal(torch.tensor([1.0], dtype=torch.float64), torch.tensor([2 * math.log(0.8)], dtype=torch.float64),
                      0.5, 2 * math.log(1.5)).item()
    assert reverse_kl_on_grid(target, 1.0, math.log(0.8)).item() == pytest.approx(exact, abs=1e-9)
    assert fit_reverse_kl(target).mu == pytest.approx(0.5, abs=1e-6)
    assert fit_reverse_kl(target).sigma == pytest.approx(1.5, abs=1e-6)


def test_fit_log_prob_and_mixture_argument_errors():
    fit = GaussianFit(1.0, 2.0)
    torch.testing.assert_close(fit.log_prob(torch.tensor([0.0], dtype=torch.float64)),
                               Normal(1.0, 2.0).log_prob(torch.tensor([0.0], dtype=torch.float64)))
    with pytest.raises(ValueError, match="sum to 1"):
        GaussianMixture1D(weights=(0.5, 0.4), means=(0.0, 1.0), stds=(1.0, 1.0))
    with pytest.raises(ValueError, match="same length"):
        GaussianMixture1D(weights=(1.0,), means=(0.0, 1.0), stds=(1.0, 1.0))
    with pytest.raises(ValueError, match="stds"):
        GaussianMixture1D(weights=(1.0,), means=(0.0,), stds=(0.0,))
    with pytest.raises(TypeError, match="weights"):
        GaussianMixture1D(weights=1.0, means=(0.0,), stds=(1.0,))
    with pytest.raises(TypeError, match="target"):
        fit_reverse_kl("mixture")
    with pytest.raises(ValueError, match="lr"):
        fit_reverse_kl(bimodal_mixture(), lr=-0.1)
    with pytest.raises(ValueError, match="init_mu"):
        fit_reverse_kl(bimodal_mixture(), init_mu=float("inf"))

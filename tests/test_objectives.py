"""Unit tests of helpers.objectives: known KL values, log-densities against torch, the IWAE bound."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Normal

from helpers.models import VAE
from helpers.objectives import bernoulli_log_prob, elbo, elbo_terms, gaussian_log_prob, iwae_bound, kl_normal

# ---------------------------------------------------------------- kl_normal


@pytest.mark.parametrize(
    ("mu_q", "var_q", "mu_p", "var_p", "expected"),
    [
        (0.0, 1.0, 0.0, 1.0, 0.0),                                # identical distributions
        (1.0, 1.0, 0.0, 1.0, 0.5),                                # ½ (μ_q − μ_p)²
        (0.0, 4.0, 0.0, 1.0, 0.5 * (4 - 1 - math.log(4))),        # ½ (σ² − 1 − ln σ²)
        (0.0, 1.0, 0.0, 4.0, math.log(2) + 1 / 8 - 0.5),          # ln(σ_p/σ_q) + σ_q²/(2σ_p²) − ½
        (3.0, 1.0, 1.0, 4.0, math.log(2) + (1 + 4) / 8 - 0.5),    # mean shift measured in p's variance
    ],
)
def test_kl_normal_hand_computed_values(mu_q, var_q, mu_p, var_p, expected):
    got = kl_normal(torch.tensor(mu_q), torch.tensor(math.log(var_q)), mu_p, math.log(var_p))
    assert got.shape == ()
    assert got.item() == pytest.approx(expected, abs=1e-6)


def test_kl_normal_defaults_to_standard_normal_prior_and_sums_last_dim():
    mu, logvar = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 3, dtype=torch.float64)
    expected = torch.distributions.kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(-1)
    got = kl_normal(mu, logvar)
    assert got.shape == (5,)
    torch.testing.assert_close(got, expected)


def test_kl_normal_matches_torch_for_general_p_and_is_asymmetric():
    g = torch.Generator().manual_seed(0)
    mq, lq, mp, lp = (torch.randn(7, 4, generator=g, dtype=torch.float64) for _ in range(4))
    q, p = Normal(mq, (0.5 * lq).exp()), Normal(mp, (0.5 * lp).exp())
    torch.testing.assert_close(kl_normal(mq, lq, mp, lp), torch.distributions.kl_divergence(q, p).sum(-1))
    forward, reverse = kl_normal(mq, lq, mp, lp), kl_normal(mp, lp, mq, lq)
    assert (forward >= 0).all() and (reverse >= 0).all()
    assert (forward - reverse).abs().max() > 0.1


def test_kl_normal_argument_errors():
    with pytest.raises(TypeError, match="mu_q"):
        kl_normal([0.0], torch.zeros(1))
    with pytest.raises(TypeError, match="logvar_q"):
        kl_normal(torch.zeros(1), torch.zeros(1, dtype=torch.int64))
    with pytest.raises(TypeError, match="mu_p"):
        kl_normal(torch.zeros(1), torch.zeros(1), mu_p="0")
    with pytest.raises(TypeError, match="logvar_p"):
        kl_normal(torch.zeros(1), torch.zeros(1), logvar_p=True)


# ---------------------------------------------------------------- log-densities


def test_gaussian_log_prob_matches_torch_normal():
    g = torch.Generator().manual_seed(1)
    x, mu, logvar = (torch.randn(6, 5, generator=g, dtype=torch.float64) for _ in range(3))
    expected = Normal(mu, (0.5 * logvar).exp()).log_prob(x).sum(-1)
    got = gaussian_log_prob(x, mu, logvar)
    assert got.shape == (6,)
    torch.testing.assert_close(got, expected)


def test_gaussian_log_prob_broadcasts_and_knows_the_standard_normal_at_zero():
    assert gaussian_log_prob(torch.zeros(3), 0.0, 0.0).item() == pytest.approx(-1.5 * math.log(2 * math.pi))
    x = torch.randn(4, 2)
    expected = Normal(0.0, 1.0).log_prob(x).sum(-1)
    torch.testing.assert_close(gaussian_log_prob(x, torch.zeros(2), torch.zeros(2)), expected)


def test_bernoulli_log_prob_matches_binary_cross_entropy():
    g = torch.Generator().manual_seed(2)
    logits = 3 * torch.randn(8, 10, generator=g)
    x = torch.rand(8, 10, generator=g)  # soft targets too, as with non-binarized MNIST
    expected = -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)
    torch.testing.assert_close(bernoulli_log_prob(x, logits), expected)
    binary = (x > 0.5).float()
    by_hand = (binary * torch.sigmoid(logits).log() + (1 - binary) * (1 - torch.sigmoid(logits)).log()).sum(-1)
    torch.testing.assert_close(bernoulli_log_prob(binary, logits), by_hand, rtol=1e-4, atol=1e-4)


def test_log_prob_argument_errors():
    with pytest.raises(TypeError, match="x"):
        gaussian_log_prob("x", 0.0, 0.0)
    with pytest.raises(TypeError, match="logvar"):
        gaussian_log_prob(torch.zeros(2), 0.0, None)
    with pytest.raises(TypeError, match="logits"):
        bernoulli_log_prob(torch.zeros(2), [0.0, 1.0])


# ---------------------------------------------------------------- ELBO and IWAE on a small random VAE


@pytest.fixture(scope="module")
def small_vae_and_data():
    torch.manual_seed(0)
    model = VAE(latent_dim=2, hidden=(16,), input_dim=20)
    x = (torch.rand(32, 20, generator=torch.Generator().manual_seed(3)) > 0.5).float()
    return model, x


def test_elbo_is_likelihood_term_minus_kl(small_vae_and_data):
    model, x = small_vae_and_data
    torch.manual_seed(5)
    log_lik, kl = elbo_terms(model, x)
    torch.manual_seed(5)
    value = elbo(model, x, beta=0.5)
    assert value.shape == (32,) and (kl >= 0).all()
    torch.testing.assert_close(value, log_lik - 0.5 * kl)


def _elbo_runs(model, x, runs: int) -> torch.Tensor:
    """`runs` independent one-sample ELBO estimates per example, shape (runs, N), in one batched call."""
    with torch.no_grad():
        return elbo(model, x.repeat(runs, 1)).reshape(runs, len(x))


def test_iwae_bound_is_above_the_elbo_on_average(small_vae_and_data):
    model, x = small_vae_and_data
    torch.manual_seed(7)
    mean_elbo = _elbo_runs(model, x, 200).mean(0)
    iwae = iwae_bound(model, x, k=200)
    assert iwae.shape == (32,)
    assert iwae.mean() > mean_elbo.mean() + 0.05, (iwae.mean(), mean_elbo.mean())
    assert (iwae > mean_elbo - 0.05).float().mean() > 0.9


def test_iwae_bound_with_one_sample_is_an_unbiased_elbo(small_vae_and_data):
    model, x = small_vae_and_data
    torch.manual_seed(11)
    runs = 400
    elbo_runs = _elbo_runs(model, x, runs).mean(1)
    iwae_runs = iwae_bound(model, x.repeat(runs, 1), k=1).reshape(runs, len(x)).mean(1)
    stderr = math.sqrt(elbo_runs.var() / runs + iwae_runs.var() / runs)
    assert abs(iwae_runs.mean() - elbo_runs.mean()) < 4 * stderr + 1e-3


def test_iwae_and_elbo_argument_errors(small_vae_and_data):
    model, x = small_vae_and_data
    for bad_k in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="k must"):
            iwae_bound(model, x, k=bad_k)
    with pytest.raises(ValueError, match="x must"):
        iwae_bound(model, x[0], k=5)
    with pytest.raises(ValueError, match="beta"):
        elbo(model, x, beta=-1.0)


# ---------------------------------------------------------------- shapes that line up (issue 20)


def test_leading_dimensions_and_plain_numbers_still_broadcast():
    """The shape check refuses (4, 1) with (1, 4) but keeps every broadcast the series relies on."""
    z, mu, logvar = torch.randn(5, 3, 2), torch.randn(3, 2), torch.randn(3, 2)
    per_sample = gaussian_log_prob(z, mu, logvar)  # K samples of N codes against N posteriors
    assert per_sample.shape == (5, 3)
    assert torch.allclose(per_sample[4], gaussian_log_prob(z[4], mu, logvar))
    assert gaussian_log_prob(torch.rand(3, 4), torch.rand(3, 4), torch.zeros(4)).shape == (3,)  # shared variance
    assert kl_normal(torch.randn(3, 2), torch.randn(3, 2), 0.0, 0.0).shape == (3,)
    x = torch.bernoulli(torch.full((3, 4), 0.5))
    logits = torch.randn(6, 3, 4)
    assert torch.allclose(bernoulli_log_prob(x, logits)[2], bernoulli_log_prob(x, logits[2]))


def test_bernoulli_log_prob_of_grey_levels_is_a_proper_bound():
    """x in [0, 1] (grey levels) is allowed: the value is then a cross-entropy, never positive."""
    x = torch.rand(4, 10)
    assert (bernoulli_log_prob(x, torch.randn(4, 10)) <= 0).all()


def test_iwae_log_weights_are_the_joint_over_the_posterior_with_every_constant(small_vae_and_data):
    """The shared weights drop the 2π terms that cancel; written out in full they must agree, sample by sample."""
    from helpers.objectives import _iwae_log_weights

    model, x = small_vae_and_data
    torch.manual_seed(3)
    log_w = _iwae_log_weights(model, x, 5)
    torch.manual_seed(3)
    mu, logvar = model.encode(x)
    z = mu + torch.exp(0.5 * logvar) * torch.randn((5, *mu.shape))
    log_joint = bernoulli_log_prob(x, model.decode(z)) + gaussian_log_prob(z, torch.zeros_like(z), torch.zeros_like(z))
    assert log_w.shape == (5, len(x))
    assert torch.allclose(log_w, log_joint - gaussian_log_prob(z, mu, logvar), atol=1e-4)

"""The checks of notebook 05: the reference answers pass, each usual mistake fails with its own message."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from helpers.checks import RESULTS, check_iwae_estimate, check_vae_elbo

# ---------------------------------------------------------------- 5.1 the per-example ELBO


def _bce(x, logits):
    """−log Bernoulli(x; sigmoid(logits)) per pixel, written out (the check does not allow binary_cross_entropy)."""
    return F.softplus(logits) - x * logits


def _kl(mu, logvar):
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum(dim=-1)


def elbo_reference(x, logits, mu, logvar):
    return -_bce(x, logits).sum(dim=-1) - _kl(mu, logvar)


def elbo_by_hand(x, logits, mu, logvar):
    """x·logits − softplus(logits) is log Bernoulli(x; sigmoid(logits)) written without BCE."""
    log_lik = (x * logits - F.softplus(logits)).sum(dim=-1)
    kl = -0.5 * torch.sum(1 + logvar - mu**2 - torch.exp(logvar), dim=-1)
    return log_lik - kl


def elbo_kl_sign(x, logits, mu, logvar):
    return -_bce(x, logits).sum(dim=-1) + _kl(mu, logvar)


def elbo_pixel_mean(x, logits, mu, logvar):
    return -_bce(x, logits).mean(dim=-1) - _kl(mu, logvar)


def elbo_latent_mean(x, logits, mu, logvar):
    return -_bce(x, logits).sum(dim=-1) - 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).mean(dim=-1)


def elbo_returns_loss(x, logits, mu, logvar):
    return -elbo_reference(x, logits, mu, logvar)


def elbo_no_kl(x, logits, mu, logvar):
    return -_bce(x, logits).sum(dim=-1)


def elbo_no_half(x, logits, mu, logvar):
    return -_bce(x, logits).sum(dim=-1) - 2 * _kl(mu, logvar)


def elbo_sigma_as_variance(x, logits, mu, logvar):
    return -_bce(x, logits).sum(dim=-1) - 0.5 * (mu.pow(2) + logvar.exp().pow(2) - 2 * logvar - 1).sum(-1)


def elbo_probabilities_as_logits(x, logits, mu, logvar):
    return -_bce(x, torch.sigmoid(logits)).sum(dim=-1) - _kl(mu, logvar)


def elbo_kl_batch_sum(x, logits, mu, logvar):
    return -_bce(x, logits).sum(dim=-1) - _kl(mu, logvar).sum()


def elbo_with_bce(x, logits, mu, logvar):
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=-1) - _kl(mu, logvar)


def elbo_batch_mean(x, logits, mu, logvar):
    return elbo_reference(x, logits, mu, logvar).mean()


def elbo_through_probabilities(x, logits, mu, logvar):
    """log π and log(1 − π) from π = sigmoid(ℓ): right for moderate logits, −inf/nan for a confident decoder."""
    pi = torch.sigmoid(logits)
    return (x * torch.log(pi) + (1 - x) * torch.log(1 - pi)).sum(dim=-1) - _kl(mu, logvar)


def elbo_logsigmoid(x, logits, mu, logvar):
    log_lik = (x * F.logsigmoid(logits) + (1 - x) * F.logsigmoid(-logits)).sum(dim=-1)
    return log_lik - _kl(mu, logvar)


def elbo_clamped_probabilities(x, logits, mu, logvar):
    pi = torch.sigmoid(logits).clamp(1e-6, 1 - 1e-6)
    return (x * torch.log(pi) + (1 - x) * torch.log(1 - pi)).sum(dim=-1) - _kl(mu, logvar)


def not_implemented(*args):
    raise NotImplementedError("Exercise 5.1: write the ELBO")


def crashes(x, logits, mu, logvar):
    return x @ mu  # shapes do not match


@pytest.mark.parametrize("answer", [elbo_reference, elbo_by_hand, elbo_logsigmoid])
def test_vae_elbo_accepts_correct_answers(answer, capsys):
    assert check_vae_elbo(answer)
    assert "✅ Exercise 5.1" in capsys.readouterr().out
    assert RESULTS["5.1"].passed


ELBO_WRONG = [
    (elbo_kl_sign, "KL sign is flipped"),
    (elbo_pixel_mean, "averaged over pixels instead of summing"),
    (elbo_latent_mean, "averaged the KL over the latent dimensions"),
    (elbo_returns_loss, "returned the loss"),
    (elbo_no_kl, "KL term is missing"),
    (elbo_no_half, "½ in the KL is missing"),
    (elbo_sigma_as_variance, "exp(logvar) as σ"),
    (elbo_probabilities_as_logits, "probabilities sigmoid(logits)"),
    (elbo_batch_mean, "one ELBO per example"),
    (not_implemented, "not implemented yet"),
    (crashes, "your function raised RuntimeError"),
    (lambda *args: [1.0], "should return a torch.Tensor"),
    (elbo_kl_batch_sum, "the KL is summed over the batch"),
    (elbo_with_bce, "binary_cross_entropy_with_logits is not allowed"),
    (lambda x, logits, mu, logvar: None, "did you forget `return`?"),
    (elbo_through_probabilities, "write log π and log(1 − π) in terms of the logits"),
    (elbo_clamped_probabilities, "decoder logits are ±100"),
]


def test_the_moderate_cases_accept_the_answer_through_probabilities():
    """Only the confident-decoder case tells the answer through sigmoid apart: the others stay as they were."""
    from helpers.checks.nb05 import _elbo_cases
    from helpers.objectives import bernoulli_log_prob, kl_normal

    for _, args in _elbo_cases() + _elbo_cases(seed=3):
        expected = bernoulli_log_prob(*args[:2]) - kl_normal(*args[2:])
        assert torch.allclose(elbo_through_probabilities(*args), expected, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize(("answer", "message"), ELBO_WRONG)
def test_vae_elbo_names_each_mistake(answer, message, capsys):
    assert not check_vae_elbo(answer)
    out = capsys.readouterr().out
    assert "❌ Exercise 5.1" in out
    assert message in out, out
    assert not RESULTS["5.1"].passed


# ---------------------------------------------------------------- 5.2 the IWAE estimate


def _log_normal(z, mu, logvar):
    return -0.5 * (math.log(2 * math.pi) + logvar + (z - mu).pow(2) / logvar.exp()).sum(dim=-1)


def _log_w(x, logits, z, mu, logvar):
    log_lik = -_bce(x.expand_as(logits), logits).sum(dim=-1)
    return log_lik + _log_normal(z, torch.zeros_like(z), torch.zeros_like(z)) - _log_normal(z, mu, logvar)


def iwae_reference(x, logits, z, mu, logvar):
    return torch.logsumexp(_log_w(x, logits, z, mu, logvar), dim=0) - math.log(z.shape[0])


def iwae_log_k_minus_one(x, logits, z, mu, logvar):
    return iwae_reference(x, logits, z, mu, logvar) + math.log(z.shape[0]) - math.log(z.shape[0] - 1)


def iwae_with_distributions(x, logits, z, mu, logvar):
    from torch.distributions import Bernoulli, Normal

    log_w = (Bernoulli(logits=logits).log_prob(x).sum(-1) + Normal(0.0, 1.0).log_prob(z).sum(-1)
             - Normal(mu, torch.exp(0.5 * logvar)).log_prob(z).sum(-1))
    k = torch.tensor(float(z.shape[0]))
    return torch.logsumexp(log_w, dim=0) - torch.log(k)


def iwae_no_log_k(x, logits, z, mu, logvar):
    return torch.logsumexp(_log_w(x, logits, z, mu, logvar), dim=0)


def iwae_mean_log_w(x, logits, z, mu, logvar):
    return _log_w(x, logits, z, mu, logvar).mean(dim=0)


def iwae_naive_exp(x, logits, z, mu, logvar):
    return torch.log(torch.exp(_log_w(x, logits, z, mu, logvar)).mean(dim=0))


def iwae_q_sign(x, logits, z, mu, logvar):
    log_lik = -_bce(x.expand_as(logits), logits).sum(dim=-1)
    log_w = log_lik + _log_normal(z, torch.zeros_like(z), torch.zeros_like(z)) + _log_normal(z, mu, logvar)
    return torch.logsumexp(log_w, dim=0) - math.log(z.shape[0])


def iwae_no_prior(x, logits, z, mu, logvar):
    log_w = -_bce(x.expand_as(logits), logits).sum(dim=-1) - _log_normal(z, mu, logvar)
    return torch.logsumexp(log_w, dim=0) - math.log(z.shape[0])


def iwae_max(x, logits, z, mu, logvar):
    return _log_w(x, logits, z, mu, logvar).max(dim=0).values


def iwae_per_sample(x, logits, z, mu, logvar):
    return _log_w(x, logits, z, mu, logvar)


def iwae_minus_k(x, logits, z, mu, logvar):
    return torch.logsumexp(_log_w(x, logits, z, mu, logvar), dim=0) - z.shape[0]


@pytest.mark.parametrize("answer", [iwae_reference, iwae_with_distributions])
def test_iwae_estimate_accepts_correct_answers(answer, capsys):
    assert check_iwae_estimate(answer)
    assert "✅ Exercise 5.2" in capsys.readouterr().out
    assert RESULTS["5.2"].passed


IWAE_WRONG = [
    (iwae_no_log_k, "forgot the − log K"),
    (iwae_mean_log_w, "averaged the log-weights"),
    (iwae_naive_exp, "use torch.logsumexp"),
    (iwae_q_sign, "sign of log q(z|x) is flipped"),
    (iwae_no_prior, "prior term log p(z)"),
    (iwae_max, "largest log-weight"),
    (iwae_per_sample, "one value per sample and example"),
    (iwae_minus_k, "subtracted K instead of log K"),
    (not_implemented, "not implemented yet"),
    (lambda *args: 3.0, "should return a torch.Tensor"),
    (iwae_log_k_minus_one, "log(K − 1) instead of log K"),
]


@pytest.mark.parametrize(("answer", "message"), IWAE_WRONG)
def test_iwae_estimate_names_each_mistake(answer, message, capsys):
    assert not check_iwae_estimate(answer)
    out = capsys.readouterr().out
    assert "❌ Exercise 5.2" in out
    assert message in out, out
    assert not RESULTS["5.2"].passed


def test_iwae_check_cases_make_naive_exp_underflow():
    """The 784-pixel case must really underflow exp() in float32, or the logsumexp hint is never tested."""
    from helpers.checks.nb05 import _iwae_cases, _log_weights

    log_w = [_log_weights(*case) for _, case in _iwae_cases()]
    assert any((w.exp() == 0).all() for w in log_w)


WRONG_ANSWERS = {"5.1": ELBO_WRONG, "5.2": IWAE_WRONG}

"""The mistakes a reviewer's separate set found unnamed (issue 25): each now gets ❌ with a message that names it."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import helpers.checks as checks
from helpers.objectives import bernoulli_log_prob, gaussian_log_prob, kl_normal


def kl_log_ratio_flipped(mu_q, logvar_q, mu_p, logvar_p):
    per_dim = logvar_q - logvar_p + (torch.exp(logvar_q) + (mu_q - mu_p) ** 2) / torch.exp(logvar_p) - 1
    return 0.5 * per_dim.sum(dim=-1)


def kl_batch_mean(mu_q, logvar_q, mu_p, logvar_p):
    per_dim = logvar_p - logvar_q + (torch.exp(logvar_q) + (mu_q - mu_p) ** 2) / torch.exp(logvar_p) - 1
    return 0.5 * per_dim.sum(dim=-1).mean()


def elbo_log_q_under_prior(log_joint, mu_q, logvar_q, eps):
    z = mu_q + torch.exp(0.5 * logvar_q) * eps
    log_q = -0.5 * (math.log(2 * math.pi) + z**2).sum(dim=-1)  # N(z; 0, I), not q
    return (log_joint(z) - log_q).mean()


def tau_kappa_as_variance(x, prior, m, kappa):
    n = len(x)
    expected_sq = ((x - m) ** 2).sum().item() + n * kappa + prior.lambda0 * ((m - prior.mu0) ** 2 + kappa)
    return prior.a0 + (n + 1) / 2, prior.b0 + 0.5 * expected_sq


def minibatch_floor_division(elbo_per_point, n_total):
    return n_total // len(elbo_per_point) * elbo_per_point.sum()


def advi_b0_as_scale(zeta, counts, a0, b0):
    rate = zeta.exp()
    return counts.sum() * zeta - len(counts) * rate + (a0 - 1) * zeta - rate / b0 + zeta


def elbo_softplus_sign(x, logits, mu, logvar):
    log_likelihood = (x * logits + F.softplus(logits)).sum(dim=-1)
    return log_likelihood - 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum(dim=-1)


def elbo_softplus_inner_sign(x, logits, mu, logvar):
    log_likelihood = (x * logits - F.softplus(-logits)).sum(dim=-1)
    return log_likelihood - 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum(dim=-1)


def _log_weights(x, logits, z, mu, logvar):
    return (bernoulli_log_prob(x, logits) + gaussian_log_prob(z, torch.zeros_like(z), torch.zeros_like(z))
            - gaussian_log_prob(z, mu, logvar))


def iwae_log_n(x, logits, z, mu, logvar):
    return torch.logsumexp(_log_weights(x, logits, z, mu, logvar), dim=0) - math.log(z.shape[1])


def iwae_wrong_dim(x, logits, z, mu, logvar):
    return torch.logsumexp(_log_weights(x, logits, z, mu, logvar), dim=-1) - math.log(z.shape[0])


def beta_on_both_terms(x, logits, mu, logvar, beta):
    return (beta * (-bernoulli_log_prob(x, logits) + kl_normal(mu, logvar))).mean()


def active_indices(mu, threshold=0.01):
    return torch.nonzero(mu.var(dim=0) > threshold).flatten()


MISSES = [
    ("2.1", kl_log_ratio_flipped, "log-ratio"),
    ("2.1", kl_batch_mean, "averaged over the batch"),
    ("2.2", elbo_log_q_under_prior, "under the prior"),
    ("3.1", tau_kappa_as_variance, "κ is used as a variance"),
    ("3.2", minibatch_floor_division, "//"),
    ("3.3", advi_b0_as_scale, "b0 is taken as a scale"),
    ("5.1", elbo_softplus_sign, "sign of softplus"),
    ("5.1", elbo_softplus_inner_sign, "sign inside softplus"),
    ("5.2", iwae_log_n, "log N"),
    ("5.2", iwae_wrong_dim, "dimension"),
    ("7.1", beta_on_both_terms, "β multiplies both terms"),
    ("7.2", active_indices, "indices"),
]


def _check(number: str):
    return next(getattr(checks, name) for name in checks.__all__
                if name.startswith("check_") and getattr(checks, name).exercise_number == number)


@pytest.mark.parametrize("number, answer, words", MISSES, ids=[f"{n}-{a.__name__}" for n, a, _ in MISSES])
def test_the_reviewers_misses_are_caught_and_named(number, answer, words, capsys):
    assert not _check(number)(answer)
    out = capsys.readouterr().out
    assert out.startswith(f"❌ Exercise {number}"), out
    assert words in out, out

"""Correct answers written another way get ✅ (issue 25, item 3): another dtype, another but equivalent formula,
torch.stack vs torch.tensor, keyword vs positional arguments, numpy vs torch where the exercise allows both."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import helpers.checks as checks
from helpers.objectives import bernoulli_log_prob, gaussian_log_prob, kl_normal
from tests.test_checks_nb01 import in_float32 as pca_float32
from tests.test_checks_nb01 import with_torch as pca_torch

LOG_2PI = math.log(2 * math.pi)


# ---------------------------------------------------------------- 1.1 PCA reconstruction and 1.2 principal angles


def pca_by_eigh_with_keywords(x_train, x, m):
    mean = np.mean(x_train, axis=0)
    centred = x_train - mean
    _, vectors = np.linalg.eigh(a=centred.T @ centred)
    top = vectors[:, ::-1][:, :m]  # eigh sorts ascending
    return mean + np.matmul(x - mean, top @ top.T)


def angles_float32(a, b):
    q_a, _ = np.linalg.qr(a.astype(np.float32))
    q_b, _ = np.linalg.qr(b.astype(np.float32))
    cosines = np.linalg.svd(q_a.T @ q_b, compute_uv=False)
    return np.degrees(np.arccos(np.clip(cosines, -1.0, 1.0)))


def angles_torch_with_keywords(a, b):
    q_a = torch.linalg.qr(torch.from_numpy(a), mode="reduced").Q
    q_b = torch.linalg.qr(torch.from_numpy(b), mode="reduced").Q
    cosines = torch.linalg.svdvals(A=q_a.T @ q_b)
    return torch.rad2deg(torch.arccos(torch.clamp(cosines, min=-1.0, max=1.0)))


def angles_sorted_after(a, b):
    q_a, q_b = np.linalg.qr(a)[0], np.linalg.qr(b)[0]
    cosines = np.linalg.svd(q_b.T @ q_a)[1]  # the other order: the same singular values
    return np.sort(np.arccos(np.minimum(cosines, 1.0)) * 180 / np.pi)


# ---------------------------------------------------------------- 2.1 KL and 2.2 Monte Carlo ELBO


def kl_float32(mu_q, logvar_q, mu_p, logvar_p):
    mu_q, logvar_q, mu_p, logvar_p = (t.float() for t in (mu_q, logvar_q, mu_p, logvar_p))
    per_dim = logvar_p - logvar_q + (torch.exp(logvar_q) + (mu_q - mu_p) ** 2) / torch.exp(logvar_p) - 1
    return 0.5 * per_dim.sum(dim=-1)


def kl_ratio_form_with_keywords(mu_q, logvar_q, mu_p, logvar_p):
    ratio = torch.exp(input=logvar_q - logvar_p)
    return torch.sum(input=0.5 * (ratio - torch.log(ratio) - 1 + (mu_q - mu_p).pow(2) * torch.exp(-logvar_p)), dim=-1)


def kl_numpy(mu_q, logvar_q, mu_p, logvar_p):
    mq, lq, mp, lp = (t.numpy() for t in (mu_q, logvar_q, mu_p, logvar_p))
    return 0.5 * np.sum(lp - lq + (np.exp(lq) + (mq - mp) ** 2) / np.exp(lp) - 1, axis=-1)


def elbo_float32(log_joint, mu_q, logvar_q, eps):
    mu_q, logvar_q, eps = mu_q.float(), logvar_q.float(), eps.float()
    z = mu_q + torch.exp(0.5 * logvar_q) * eps
    log_q = -0.5 * (LOG_2PI + logvar_q + eps**2).sum(dim=-1)
    return (log_joint(z).float() - log_q).mean()


def elbo_distributions_keywords(log_joint, mu_q, logvar_q, eps):
    q = torch.distributions.Normal(loc=mu_q, scale=torch.exp(0.5 * logvar_q))
    z = q.loc + q.scale * eps
    return torch.mean(input=log_joint(z) - q.log_prob(value=z).sum(dim=-1))


def elbo_float32_exact_entropy(log_joint, mu_q, logvar_q, eps):
    z = (mu_q + torch.exp(0.5 * logvar_q) * eps).float()
    return log_joint(z.double()).float().mean() + 0.5 * (LOG_2PI + 1 + logvar_q.float()).sum()


# ---------------------------------------------------------------- 3.1 CAVI, 3.2 SVI, 3.3 ADVI


def tau_torch_tensor(x, prior, m, kappa):  # torch.tensor([...]) makes a float32 pair
    n = len(x)
    expected_sq = ((x - m) ** 2).sum() + n / kappa + prior.lambda0 * ((m - prior.mu0) ** 2 + 1 / kappa)
    return torch.tensor([prior.a0 + (n + 1) / 2, float(prior.b0 + 0.5 * expected_sq)])


def tau_torch_stack(x, prior, m, kappa):
    n = torch.tensor(float(len(x)), dtype=x.dtype)
    expected_sq = torch.sum((x - m) ** 2) + n / kappa + prior.lambda0 * ((m - prior.mu0) ** 2 + 1 / kappa)
    return torch.stack([prior.a0 + (n + 1) / 2, prior.b0 + 0.5 * expected_sq])


def tau_float32_numpy(x, prior, m, kappa):
    x = x.numpy().astype(np.float32)
    n = np.float32(len(x))
    variance = np.float32(1 / kappa)
    expected_sq = np.sum((x - np.float32(m)) ** 2) + n * variance + np.float32(prior.lambda0) * (
        np.float32((m - prior.mu0) ** 2) + variance)
    return np.array([prior.a0 + (n + 1) / 2, prior.b0 + expected_sq / 2], dtype=np.float32)


def minibatch_mean_form(elbo_per_point, n_total):
    return n_total * elbo_per_point.mean()


def minibatch_float32_keywords(elbo_per_point, n_total):
    return torch.sum(input=elbo_per_point.float(), dim=0) * (n_total / elbo_per_point.numel())


def advi_float32(zeta, counts, a0, b0):
    zeta32, counts32 = zeta.float(), counts.float()
    rate = torch.exp(zeta32)
    return (counts32.sum() * zeta32 - len(counts) * rate + (a0 - 1) * zeta32 - b0 * rate + zeta32).double()


def advi_with_distributions(zeta, counts, a0, b0):
    rate = zeta.exp()
    log_lik = torch.distributions.Poisson(rate.unsqueeze(-1)).log_prob(counts).sum(dim=-1)
    log_prior = torch.distributions.Gamma(concentration=a0, rate=b0).log_prob(rate)
    return log_lik + log_prior + zeta


# ---------------------------------------------------------------- 4.1 reparameterize and 4.2 score function


def reparam_sqrt_of_variance(mu, logvar):
    return mu + torch.sqrt(torch.exp(logvar)) * torch.randn_like(mu)


def reparam_keywords(mu, logvar):
    eps = torch.randn(size=mu.shape, dtype=mu.dtype, device=mu.device)
    return torch.add(input=mu, other=eps * logvar.mul(0.5).exp())


def reparam_float64(mu, logvar):
    mu64, logvar64 = mu.double(), logvar.double()
    return (mu64 + torch.exp(0.5 * logvar64) * torch.randn_like(mu64)).to(mu.dtype)


def score_float32(f, mu, sigma, eps):
    z = mu + sigma * eps
    values = f(z).unsqueeze(-1).float()
    eps32, sigma32 = eps.float(), sigma.float()
    return values * eps32 / sigma32, values * (eps32**2 - 1) / sigma32


def score_via_log_prob(f, mu, sigma, eps):
    mu, sigma = mu.clone().requires_grad_(True), sigma.clone().requires_grad_(True)
    z = (mu + sigma * eps).detach()
    log_q = torch.distributions.Normal(loc=mu, scale=sigma).log_prob(z)
    grad_mu, grad_sigma = torch.autograd.grad(log_q.sum(), (mu, sigma), is_grads_batched=False)
    values = f(z).unsqueeze(-1)
    del grad_mu, grad_sigma  # per-sample scores: the derivative of each log_q row
    return values * (z - mu.detach()) / sigma.detach() ** 2, values * ((z - mu.detach()) ** 2 / sigma.detach() ** 3
                                                                         - 1 / sigma.detach())


# ---------------------------------------------------------------- 5.1 the ELBO, 5.2 IWAE


def vae_elbo_logsigmoid(x, logits, mu, logvar):
    log_lik = (x * F.logsigmoid(logits) + (1 - x) * F.logsigmoid(-logits)).sum(dim=-1)
    kl = -0.5 * torch.sum(1 + logvar - mu**2 - torch.exp(logvar), dim=-1)
    return log_lik - kl


def vae_elbo_float64(x, logits, mu, logvar):
    x, logits, mu, logvar = (t.double() for t in (x, logits, mu, logvar))
    log_lik = (x * logits - F.softplus(logits)).sum(dim=-1)
    return log_lik - 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum(dim=-1)


def vae_elbo_distributions(x, logits, mu, logvar):
    q = torch.distributions.Normal(loc=mu, scale=torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    log_lik = torch.where(x > 0.5, F.logsigmoid(logits), F.logsigmoid(-logits)).sum(-1)
    return log_lik - torch.distributions.kl_divergence(q, p).sum(-1)


def iwae_distributions_keywords(x, logits, z, mu, logvar):
    log_lik = bernoulli_log_prob(x=x, logits=logits)
    log_prior = torch.distributions.Normal(loc=0.0, scale=1.0).log_prob(z).sum(dim=-1)
    log_q = torch.distributions.Normal(loc=mu, scale=torch.exp(0.5 * logvar)).log_prob(z).sum(dim=-1)
    return torch.logsumexp(input=log_lik + log_prior - log_q, dim=0) - math.log(z.size(0))


def iwae_float64_stable_by_hand(x, logits, z, mu, logvar):
    log_w = (bernoulli_log_prob(x.double(), logits.double())
             + gaussian_log_prob(z.double(), torch.zeros_like(z.double()), torch.zeros_like(z.double()))
             - gaussian_log_prob(z.double(), mu.double(), logvar.double()))
    top = log_w.max(dim=0).values
    return top + torch.log(torch.exp(log_w - top).mean(dim=0))


# ---------------------------------------------------------------- 7.1 the β-loss, 7.2 active units


def beta_loss_float64_sum_over_n(x, logits, mu, logvar, beta):
    x, logits, mu, logvar = (t.double() for t in (x, logits, mu, logvar))
    per_example = -bernoulli_log_prob(x, logits) + beta * kl_normal(mu, logvar)
    return per_example.sum() / len(x)


def beta_loss_keywords(x, logits, mu, logvar, beta):
    distortion = F.softplus(logits) - x * logits
    return torch.mean(input=distortion.sum(dim=-1) + beta * kl_normal(mu_q=mu, logvar_q=logvar))


def active_float_mask(mu, threshold=0.01):
    return (mu.var(dim=0) > threshold).float()


def active_by_hand_keywords(mu, threshold=0.01):
    centred = mu - mu.mean(dim=0, keepdim=True)
    return torch.gt(input=(centred**2).sum(dim=0) / (mu.shape[0] - 1), other=threshold)


def active_numpy(mu, threshold=0.01):
    return np.var(mu.numpy(), axis=0, ddof=1) > threshold


ALTERNATIVES = {
    "1.1": [pca_float32, pca_torch, pca_by_eigh_with_keywords],
    "1.2": [angles_float32, angles_torch_with_keywords, angles_sorted_after],
    "2.1": [kl_float32, kl_ratio_form_with_keywords, kl_numpy],
    "2.2": [elbo_float32, elbo_distributions_keywords, elbo_float32_exact_entropy],
    "3.1": [tau_torch_tensor, tau_torch_stack, tau_float32_numpy],
    "3.2": [minibatch_mean_form, minibatch_float32_keywords],
    "3.3": [advi_float32, advi_with_distributions],
    "4.1": [reparam_sqrt_of_variance, reparam_keywords, reparam_float64],
    "4.2": [score_float32, score_via_log_prob],
    "5.1": [vae_elbo_logsigmoid, vae_elbo_float64, vae_elbo_distributions],
    "5.2": [iwae_distributions_keywords, iwae_float64_stable_by_hand],
    "7.1": [beta_loss_float64_sum_over_n, beta_loss_keywords],
    "7.2": [active_float_mask, active_by_hand_keywords, active_numpy],
}
CASES = [(number, answer) for number, answers in ALTERNATIVES.items() for answer in answers]


def _check(number: str):
    return next(getattr(checks, name) for name in checks.__all__
                if name.startswith("check_") and getattr(checks, name).exercise_number == number)


@pytest.mark.parametrize("number, answer", CASES, ids=[f"{n}-{a.__name__}" for n, a in CASES])
def test_a_correct_answer_written_another_way_passes(number, answer, capsys):
    assert _check(number)(answer), capsys.readouterr().out
    assert _check(number)(answer, seed=321), capsys.readouterr().out


def test_every_exercise_has_correct_alternatives():
    assert set(ALTERNATIVES) == {"1.1", "1.2", "2.1", "2.2", "3.1", "3.2", "3.3", "4.1", "4.2", "5.1", "5.2", "7.1",
                                 "7.2"}
    assert all(len(answers) >= 2 for answers in ALTERNATIVES.values())


def test_values_that_print_alike_are_never_shown_as_expected_x_got_y(capsys):
    """A near miss reports the largest difference and where, not two values that print the same."""
    def nearly(mu_q, logvar_q, mu_p, logvar_p):
        per_dim = logvar_p - logvar_q + (torch.exp(logvar_q) + (mu_q - mu_p) ** 2) / torch.exp(logvar_p) - 1
        return 0.5 * per_dim.sum(dim=-1) * (1 + 3e-6)

    assert not checks.check_kl_diag_gaussians(nearly)
    out = capsys.readouterr().out
    assert "largest difference" in out and "expected [" not in out, out


def test_statistics_that_would_print_alike_get_more_decimals():
    from helpers.checks.nb04 import _fmt_apart

    shown = _fmt_apart(torch.tensor([0.0012341]), torch.tensor([0.0012349]))
    assert shown[0] != shown[1] and shown == ("[0.001234]", "[0.001235]")

"""Checks for notebook 02 (KL divergence and the ELBO): exercises 2.1 and 2.2."""

from __future__ import annotations

import math

import numpy as np
import torch

from helpers import objectives
from helpers.checks.core import Failed, _to_array, assert_close, call_student, exercise

__all__ = ["check_kl_diag_gaussians", "check_mc_elbo", "FORBIDDEN"]

FORBIDDEN = {
    "2.1": [("helpers.objectives.kl_normal (the project's tested copy)", objectives.kl_normal)],
}

LOG_2PI = math.log(2 * math.pi)
_NAN_HINT = ("your answer contains NaN: did you take the log or square root of a log-variance? "
             "The variance is exp(logvar), which is always positive")


def _kl_terms(mu_q, logvar_q, mu_p, logvar_p, exp=torch.exp, log_ratio=None):
    """Per-dimension ½[log σ_p² − log σ_q² + (σ_q² + (μ_q − μ_p)²)/σ_p² − 1], with switchable pieces for mistakes."""
    var_q, var_p = exp(logvar_q), exp(logvar_p)
    log_ratio = logvar_p - logvar_q if log_ratio is None else log_ratio
    return 0.5 * (log_ratio + (var_q + (mu_q - mu_p).pow(2)) / var_p - 1.0)


def _kl_cases(seed: int | None = None) -> list[tuple[torch.Tensor, ...]]:
    """The visible cases (seed None: two random ones and one known by heart) or two drawn from `seed`."""
    gen = torch.Generator().manual_seed(2 if seed is None else seed)
    positive = [torch.randn(2, 3, generator=gen, dtype=torch.float64),
                0.2 + 1.3 * torch.rand(2, 3, generator=gen, dtype=torch.float64),
                torch.randn(2, 3, generator=gen, dtype=torch.float64),
                0.2 + 1.3 * torch.rand(2, 3, generator=gen, dtype=torch.float64)]
    signed = [2 * torch.randn(4, 5, generator=gen, dtype=torch.float64) for _ in range(4)]
    known = [torch.tensor([[1.0, 0.0]], dtype=torch.float64), torch.tensor([[0.0, math.log(4.0)]], dtype=torch.float64),
             torch.zeros(1, 2, dtype=torch.float64), torch.zeros(1, 2, dtype=torch.float64)]
    return [positive, known, signed] if seed is None else [positive, signed]


def _kl_mistakes(mu_q, logvar_q, mu_p, logvar_p) -> dict[str, torch.Tensor]:
    terms = _kl_terms(mu_q, logvar_q, mu_p, logvar_p)
    kl = terms.sum(-1)
    identity = lambda v: v  # noqa: E731
    as_variance = _kl_terms(mu_q, logvar_q, mu_p, logvar_p, exp=identity,
                            log_ratio=torch.log(logvar_p / logvar_q)).sum(-1)  # NaN where a logvar is negative
    exp_forgotten = _kl_terms(mu_q, logvar_q, mu_p, logvar_p, exp=identity).sum(-1)
    sigma_as_variance = _kl_terms(mu_q, logvar_q, mu_p, logvar_p, exp=lambda v: torch.exp(0.5 * v)).sum(-1)
    return {
        "the sign is flipped (KL is never negative)": -kl,
        "the ½ in front of the sum is missing": 2 * kl,
        "the variance was used where the log-variance is given: the variance is exp(logvar)": as_variance,
        "exp() is missing: the inputs are log-variances, the variances are exp(logvar)": exp_forgotten,
        "σ = exp(½·logvar) is used as the variance: the variance is σ² = exp(logvar)": sigma_as_variance,
        "you took the mean over the latent dimensions instead of the sum (use .sum(dim=-1))": terms.mean(-1),
        "you returned one KL per latent dimension: sum over the last dimension": terms,
        "you summed over the batch dimension too: sum over the last dimension only": terms.sum(),
        "q and p are swapped: you computed KL(p ‖ q) instead of KL(q ‖ p)":
            _kl_terms(mu_p, logvar_p, mu_q, logvar_q).sum(-1),
        "the −1 inside the sum is missing": kl + 0.5 * terms.shape[-1],
        "(μ_q − μ_p)² is not divided by the variance of p":
            (terms + 0.5 * (mu_q - mu_p).pow(2) * (1 - torch.exp(-logvar_p))).sum(-1),
    }


def _reject_nan(got, inputs: str) -> None:
    values = _to_array(got, "your answer")
    if np.isnan(values).any():
        raise Failed(f"for {inputs}, {_NAN_HINT}.")


@exercise("2.1", "Closed-form KL between diagonal Gaussians")
def check_kl_diag_gaussians(student_fn, seed: int | None = None) -> None:
    """Compare with ½ Σ_d [logvar_p − logvar_q + (exp(logvar_q) + (μ_q − μ_p)²)/exp(logvar_p) − 1] on three cases."""
    for mu_q, logvar_q, mu_p, logvar_p in _kl_cases(seed):
        inputs = f"mu_q, logvar_q, mu_p, logvar_p of shape {tuple(mu_q.shape)}"
        got = call_student(student_fn, mu_q.clone(), logvar_q.clone(), mu_p.clone(), logvar_p.clone(),
                           forbidden=FORBIDDEN["2.1"])
        mistakes = _kl_mistakes(mu_q, logvar_q, mu_p, logvar_p)
        expected = _kl_terms(mu_q, logvar_q, mu_p, logvar_p).sum(-1)
        if _to_array(got, "your answer").shape == tuple(expected.shape):
            _reject_nan(got, inputs)
        assert_close(got, expected, inputs=inputs, rtol=1e-6, atol=1e-8, mistakes=mistakes)


# --- Exercise 2.2: Monte Carlo ELBO ---------------------------------------------------------------------------

_X_OBS = torch.tensor([0.8, -1.1, 2.0], dtype=torch.float64)
_NOISE_VAR = 0.36


def _log_joint(z) -> torch.Tensor:
    """log p(x, z) = Σ_d [log N(z_d; 0, 1) + log N(x_d; z_d, 0.6²)] for a fixed x ∈ ℝ³; z of shape (..., 3)."""
    z = torch.as_tensor(z, dtype=torch.float64)
    log_prior = -0.5 * (LOG_2PI + z.pow(2))
    log_lik = -0.5 * (LOG_2PI + math.log(_NOISE_VAR) + (_X_OBS - z).pow(2) / _NOISE_VAR)
    return (log_prior + log_lik).sum(-1)


def _mc_elbo_variants(mu_q, logvar_q, eps) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """(reference, reference with the exact entropy of q, known mistakes)."""
    std = torch.exp(0.5 * logvar_q)
    z = mu_q + std * eps
    log_q_terms = -0.5 * (LOG_2PI + logvar_q + eps.pow(2))
    log_joint = _log_joint(z)
    reference = (log_joint - log_q_terms.sum(-1)).mean()
    exact_entropy = log_joint.mean() + 0.5 * (LOG_2PI + 1 + logvar_q).sum()

    def estimate(z_wrong, log_q_wrong):
        return (_log_joint(z_wrong) - log_q_wrong).mean()

    def wrong_std(std_wrong):  # z and log q both built from the same wrong σ
        return estimate(mu_q + std_wrong * eps, (-0.5 * (LOG_2PI + 2 * std_wrong.log() + eps.pow(2))).sum(-1))

    def wrong_z(std_wrong):  # z built from a wrong σ, log q(z) written correctly in terms of logvar
        z_wrong = mu_q + std_wrong * eps
        return estimate(z_wrong, (-0.5 * (LOG_2PI + logvar_q + (z_wrong - mu_q).pow(2) / logvar_q.exp())).sum(-1))

    half = "the ½ is missing in the standard deviation: σ = exp(½·logvar), not exp(logvar)"
    as_var = "the variance was used where the log-variance is given: σ = exp(½·logvar), not √logvar"
    as_std = "the log-variance was used as the standard deviation: σ = exp(½·logvar), not logvar"
    mistakes = {
        "the sign is flipped: this is the loss −ELBO, the ELBO is mean[log p(x, z) − log q(z)]": -reference,
        half: wrong_std(logvar_q.exp()),
        half + " (in z)": wrong_z(logvar_q.exp()),
        as_var: wrong_std(logvar_q.sqrt()),
        as_var + " (in z)": wrong_z(logvar_q.sqrt()),
        as_std: wrong_std(logvar_q),
        as_std + " (in z)": wrong_z(logvar_q),
        "the ½ is missing in log q(z) = −½ Σ_d [log 2π + logvar + (z − μ)²/σ²]": estimate(z, 2 * log_q_terms.sum(-1)),
        "log 2π is missing from log q(z) = −½ Σ_d [log 2π + logvar + (z − μ)²/σ²]":
            estimate(z, (log_q_terms + 0.5 * LOG_2PI).sum(-1)),
        "you took the mean of log q(z) over the latent dimensions instead of the sum":
            estimate(z, log_q_terms.mean(-1)),
        "log q(z) is not subtracted: the ELBO is mean[log p(x, z) − log q(z)]": log_joint.mean(),
        "you summed over the samples instead of averaging them": (log_joint - log_q_terms.sum(-1)).sum(),
        "you returned one value per sample: average them into one estimate": log_joint - log_q_terms.sum(-1),
    }
    return reference, exact_entropy, mistakes


def _mc_cases(seed: int | None = None) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """The visible cases (seed None) or two cases drawn from `seed`."""
    gen = torch.Generator().manual_seed(22 if seed is None else seed)
    if seed is not None:
        return [(torch.randn(3, generator=gen, dtype=torch.float64), torch.randn(3, generator=gen, dtype=torch.float64),
                 torch.randn(n, 3, generator=gen, dtype=torch.float64)) for n in (40, 300)]
    first = (torch.tensor([0.5, -0.7, 1.4], dtype=torch.float64), torch.tensor([0.4, 0.9, 0.2], dtype=torch.float64),
             torch.randn(64, 3, generator=gen, dtype=torch.float64))
    second = (torch.tensor([-0.2, 0.3, 1.0], dtype=torch.float64), torch.tensor([-1.5, -0.3, 0.6], dtype=torch.float64),
              torch.randn(500, 3, generator=gen, dtype=torch.float64))
    return [first, second]


@exercise("2.2", "Monte Carlo ELBO")
def check_mc_elbo(student_fn, seed: int | None = None) -> None:
    """Compare with mean_s[log p(x, z_s) − log q(z_s)], z_s = μ + exp(½·logvar)·ε_s, for the same ε."""
    for mu_q, logvar_q, eps in _mc_cases(seed):
        inputs = f"mu_q={mu_q.tolist()}, logvar_q={logvar_q.tolist()} and {eps.shape[0]} fixed samples eps"
        got = call_student(student_fn, _log_joint, mu_q.clone(), logvar_q.clone(), eps.clone())
        again = call_student(student_fn, _log_joint, mu_q.clone(), logvar_q.clone(), eps.clone())
        reference, exact_entropy, mistakes = _mc_elbo_variants(mu_q, logvar_q, eps)
        got_a = _to_array(got, "your answer")
        if got_a.shape == ():
            _reject_nan(got, inputs)
            if not np.allclose(got_a, _to_array(again, "your answer")):
                raise Failed(f"for {inputs}, two calls with the same eps gave different answers: build z from the "
                             "given eps (z = mu_q + exp(½·logvar_q)·eps) instead of drawing new noise.")
            if np.allclose(got_a, exact_entropy.item(), rtol=1e-6, atol=1e-8):
                continue  # the exact entropy of q in place of the sampled −log q(z) is also a correct estimator
        assert_close(got, reference, inputs=inputs, rtol=1e-6, atol=1e-8, mistakes=mistakes)

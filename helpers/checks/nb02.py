"""Checks for notebook 02 (KL divergence and the ELBO): exercises 2.1 and 2.2."""

from __future__ import annotations

import math

import numpy as np
import torch

from helpers import objectives
from helpers.checks.core import (
    Failed,
    _to_array,
    assert_close,
    cached,
    call_student,
    exercise,
    hint_over_cases,
    piece_slips,
    swapped_arguments,
)

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
    # a (K, N, d) batch: the sum must run over the last dimension, whatever the number of leading ones
    stacked = [torch.randn(2, 3, 4, generator=gen, dtype=torch.float64) for _ in range(4)]
    return [positive, known, signed, stacked] if seed is None else [positive, signed, stacked]


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
        "you averaged over the batch (one number for the whole batch): return one KL per row, summed over the last "
        "dimension only": terms.sum(-1).mean(),
        "q and p are swapped: you computed KL(p ‖ q) instead of KL(q ‖ p)":
            _kl_terms(mu_p, logvar_p, mu_q, logvar_q).sum(-1),
        "the −1 inside the sum is missing": kl + 0.5 * terms.shape[-1],
        "(μ_q − μ_p)² is not divided by the variance of p":
            (terms + 0.5 * (mu_q - mu_p).pow(2) * (1 - torch.exp(-logvar_p))).sum(-1),
    }


def _kl_formula(mu_q, logvar_q, mu_p, logvar_p):
    """The KL written in named pieces, for `piece_slips`."""
    def formula(piece):
        var_q = piece("σ_q² = exp(logvar_q)", logvar_q.exp(), fn=torch.exp, arg=logvar_q)
        var_p = piece("σ_p² = exp(logvar_p)", logvar_p.exp(), fn=torch.exp, arg=logvar_p)
        diff = piece("μ_q in (μ_q − μ_p)", mu_q) - piece("μ_p in (μ_q − μ_p)", mu_p)
        shift = piece("(μ_q − μ_p)²", diff.pow(2), power=(diff, 2))
        ratio = piece("(σ_q² + (μ_q − μ_p)²)/σ_p²", piece("σ_q² + (μ_q − μ_p)²", var_q + shift) / var_p)
        log_ratio = piece("the log-ratio logvar_p − logvar_q",
                          piece("logvar_p in the log-ratio", logvar_p) - piece("logvar_q in the log-ratio", logvar_q))
        per_dim = piece("the per-dimension term", log_ratio + ratio - piece("the −1 inside the sum", 1.0))
        return piece("the ½ in front of the sum", 0.5) * piece("the sum over the last dimension", per_dim.sum(-1))

    return formula


def _kl_terms_named(mu_q, logvar_q, mu_p, logvar_p) -> dict[str, torch.Tensor]:
    """The additive pieces of the KL, each summed over the last dimension with its ½."""
    var_q, var_p, shift = logvar_q.exp(), logvar_p.exp(), (mu_q - mu_p).pow(2)

    def piece(value):
        return 0.5 * torch.broadcast_to(value, mu_q.shape).sum(-1)

    return {
        "the log-ratio log σ_p² − log σ_q² (logvar_p − logvar_q)": piece(logvar_p - logvar_q),
        "the term (σ_q² + (μ_q − μ_p)²)/σ_p²": piece((var_q + shift) / var_p),
        "the term log σ_p² (logvar_p)": piece(logvar_p),
        "the term −log σ_q² (−logvar_q)": piece(-logvar_q),
        "the variance ratio σ_q²/σ_p²": piece(var_q / var_p),
        "the term (μ_q − μ_p)²/σ_p²": piece(shift / var_p),
        "the −1 inside the sum": piece(-torch.ones_like(mu_q)),
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
        def mistakes(mu_q=mu_q, logvar_q=logvar_q, mu_p=mu_p, logvar_p=logvar_p):
            return {**_kl_mistakes(mu_q, logvar_q, mu_p, logvar_p),
                    **piece_slips(_kl_formula(mu_q, logvar_q, mu_p, logvar_p)),
                    **swapped_arguments(lambda *a: _kl_terms(*a).sum(-1), dict(
                        mu_q=mu_q, logvar_q=logvar_q, mu_p=mu_p, logvar_p=logvar_p))}
        expected = _kl_terms(mu_q, logvar_q, mu_p, logvar_p).sum(-1)
        if _to_array(got, "your answer").shape == tuple(expected.shape):
            _reject_nan(got, inputs)
        assert_close(got, expected, inputs=inputs, rtol=1e-6, atol=1e-8, mistakes=mistakes,
                     terms=_kl_terms_named(mu_q, logvar_q, mu_p, logvar_p),
                     sizes={"the number of latent dimensions (the last dimension)": mu_q.shape[-1]})


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
        "the ½ is missing in log q(z) = −½ Σ_d [log 2π + logvar + (z − μ)²/σ²] (or log q(z) is subtracted twice)":
            estimate(z, 2 * log_q_terms.sum(-1)),
        "log 2π is missing from log q(z) = −½ Σ_d [log 2π + logvar + (z − μ)²/σ²]":
            estimate(z, (log_q_terms + 0.5 * LOG_2PI).sum(-1)),
        "you took the mean of log q(z) over the latent dimensions instead of the sum":
            estimate(z, log_q_terms.mean(-1)),
        "log q(z) is not subtracted: the ELBO is mean[log p(x, z) − log q(z)]": log_joint.mean(),
        "log q(z) is evaluated under the prior N(0, I): q is N(μ, σ²), so use mu_q and logvar_q in log q(z)":
            estimate(z, (-0.5 * (LOG_2PI + z.pow(2))).sum(-1)),
        "you summed over the samples instead of averaging them": (log_joint - log_q_terms.sum(-1)).sum(),
        "you returned one value per sample: average them into one estimate": log_joint - log_q_terms.sum(-1),
    }
    return reference, exact_entropy, mistakes


def _mc_slips(mu_q, logvar_q, eps) -> dict[str, torch.Tensor]:
    """Slips inside z = μ + exp(½·logvar)·ε and log q(z) = −½ Σ_d [log 2π + logvar + (z − μ)²/exp(logvar)]."""
    std, var = torch.exp(0.5 * logvar_q), logvar_q.exp()
    z = mu_q + std * eps

    def estimate(z_used=z, log_q=None, square=None, spread=None, per_dim=None):
        square = (z_used - mu_q).pow(2) if square is None else square
        spread = var if spread is None else spread
        inside = LOG_2PI + logvar_q + square / spread if per_dim is None else per_dim
        log_q = -0.5 * inside.sum(-1) if log_q is None else log_q
        return (_log_joint(z_used) - log_q).mean()

    inside = LOG_2PI + logvar_q + (z - mu_q).pow(2) / var
    slips = {
        "the sign of z is flipped: z = μ + σ·ε, not −(μ + σ·ε)": estimate(-z),
        "the sign of σ·ε in z is flipped: z = μ + σ·ε, not μ − σ·ε": estimate(mu_q - std * eps),
        "σ·ε is missing from z: z = μ + σ·ε, not μ": estimate(mu_q + 0 * eps),
        "μ is missing from z: z = μ + σ·ε, not σ·ε": estimate(std * eps),
        "σ·ε is counted twice in z: z = μ + σ·ε": estimate(mu_q + 2 * std * eps),
        "exp is missing from σ: σ = exp(½·logvar), not ½·logvar": estimate(mu_q + 0.5 * logvar_q * eps),
        "the ½ in σ = exp(½·logvar) is divided by logvar instead of multiplied (exp(½/logvar))":
            estimate(mu_q + torch.exp(0.5 / logvar_q) * eps),
        "the sign in σ = exp(½·logvar) is flipped: exp(−½·logvar) is 1/σ":
            estimate(mu_q + torch.exp(-0.5 * logvar_q) * eps),
        "the −½ in front of log q(z) divides the sum instead of multiplying it": estimate(log_q=-0.5 / inside.sum(-1)),
        "the sum in log q(z) is missing: log q(z) = −½ Σ_d [log 2π + logvar + (z − μ)²/σ²], not −½":
            estimate(log_q=torch.full_like(eps[..., 0], -0.5)),
        "the square (z − μ)² in log q(z) is multiplied by σ² instead of divided by it":
            estimate(spread=1 / var),
        "the ratio in log q(z) is inverted: σ²/(z − μ)² instead of (z − μ)²/σ²": estimate(
            per_dim=LOG_2PI + logvar_q + var / (z - mu_q).pow(2)),
        "exp() is missing from the variance in log q(z): σ² = exp(logvar), not logvar": estimate(spread=logvar_q),
        "the standard deviation σ is used where the variance σ² = exp(logvar) belongs in log q(z)":
            estimate(spread=var.sqrt()),
        "the variance is squared again in log q(z): σ² = exp(logvar), not exp(logvar)²": estimate(spread=var.pow(2)),
        "the sign of μ in (z − μ)² is flipped: (z + μ)²": estimate(square=(z + mu_q).pow(2)),
        "μ is subtracted twice (counted twice) in (z − μ)²": estimate(square=(z - 2 * mu_q).pow(2)),
        "(z − μ)² is written (z − μ)·2: square it, (z − μ) ** 2": estimate(square=(z - mu_q) * 2),
        "(z − μ)² is written 2^(z − μ), base and exponent swapped: square it, (z − μ) ** 2":
            estimate(square=2 ** (z - mu_q)),
        "log 2π is computed with exp where log belongs: exp(2π) instead of log 2π": estimate(
            per_dim=inside - LOG_2PI + math.exp(2 * math.pi)),
        "log 2π is written 2π: the log is missing": estimate(per_dim=inside - LOG_2PI + 2 * math.pi),
        "log 2π is written log π: the 2 is missing": estimate(per_dim=inside - LOG_2PI + math.log(math.pi)),
        "log q(z) is summed over the samples too (a sum over all dimensions): sum over the last dimension only":
            (_log_joint(z) + 0.5 * inside.sum()).mean(),
        "you averaged log q(z) over the samples and the dimensions (one mean instead of a sum over the last "
        "dimension)": (_log_joint(z) + 0.5 * inside.mean()).mean(),
    }
    for half in (0.25, 1.5, 0.0, -0.5, 2.0):
        slips[f"the ½ in σ = exp(½·logvar) is changed to {half:g}: σ = exp(½·logvar) is the standard deviation"] = (
            estimate(mu_q + torch.exp(half * logvar_q) * eps))
    for power in (-2, -1, 0, 1, 3, 4, 0.5):
        slips[f"(z − μ) is raised to the power {power} instead of squared (²) in log q(z)"] = estimate(
            square=(z - mu_q).pow(power))
    return slips


def _mc_formula(log_joint, mu_q, logvar_q, eps):
    """The Monte Carlo ELBO written in named pieces, for `piece_slips`."""
    def formula(piece):
        std = piece("σ = exp(½·logvar)", torch.exp(0.5 * logvar_q), fn=torch.exp, arg=0.5 * logvar_q)
        half = piece("the ½ in σ = exp(½·logvar)", 0.5)
        std = torch.exp(half * logvar_q) if half != 0.5 else std
        noise = piece("σ·ε in z", std * piece("ε in σ·ε", eps))
        z = piece("z = μ + σ·ε", piece("μ in z", mu_q) + noise)
        diff = z - piece("μ in (z − μ)", mu_q)
        square = piece("(z − μ)²", diff.pow(2), power=(diff, 2))
        var = piece("σ² = exp(logvar) in log q(z)", logvar_q.exp(), fn=torch.exp, arg=logvar_q)
        two_pi = torch.tensor(piece("2 in 2π", 2.0) * piece("π in 2π", math.pi), dtype=torch.float64)
        log_2pi = piece("log 2π", two_pi.log(), fn=torch.log, arg=two_pi)
        inside = piece("log 2π + logvar + (z − μ)²/σ²", log_2pi + piece("logvar in log q(z)", logvar_q)
                       + piece("(z − μ)²/σ²", square / var))
        log_q = piece("the −½ in front of log q(z)", -0.5) * piece("the sum in log q(z)", inside.sum(-1))
        log_q = piece("log q(z)", log_q)
        return piece("the average over the samples", (piece("log p(x, z)", log_joint(z)) - log_q).mean())

    return formula


def _mc_terms(mu_q, logvar_q, eps) -> dict[str, torch.Tensor]:
    """The estimate's additive pieces: mean log p(x, z) − mean log q(z), and log q's three pieces."""
    z = mu_q + torch.exp(0.5 * logvar_q) * eps
    dims = eps.shape[-1]
    return {
        "log p(x, z)": _log_joint(z).mean(),
        "−log q(z) (the whole log q term)": 0.5 * (LOG_2PI + logvar_q + eps.pow(2)).sum(-1).mean(),
        "log 2π in log q(z)": torch.tensor(0.5 * LOG_2PI * dims, dtype=torch.float64),
        "logvar in log q(z)": 0.5 * logvar_q.sum(),
        "log 2π + logvar in log q(z)": 0.5 * (LOG_2PI + logvar_q).sum(),
        "(z − μ)²/σ² in log q(z)": 0.5 * eps.pow(2).sum(-1).mean(),
    }


def _mc_hint_cases(seed: int | None) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """The check's cases and four small ones more: the answers to all of them together pin a mistake down."""
    gen = torch.Generator().manual_seed(2202)
    extra = [(torch.randn(3, generator=gen, dtype=torch.float64), 0.8 * torch.randn(3, generator=gen,
              dtype=torch.float64), torch.randn(n, 3, generator=gen, dtype=torch.float64)) for n in (5, 9, 16, 30)]
    return _mc_cases(seed) + extra


def _mc_case_hint(student_fn, seed: int | None) -> str | None:
    answers, expected, mistakes, terms = [], [], [], []
    for index, (mu_q, logvar_q, eps) in enumerate(_mc_hint_cases(seed)):
        answers.append(call_student(student_fn, _log_joint, mu_q.clone(), logvar_q.clone(), eps.clone()))
        reference, _, known = _mc_elbo_variants(mu_q, logvar_q, eps)
        expected.append(reference)
        mistakes.append(cached(("2.2", seed, index), lambda known=known, mu_q=mu_q, logvar_q=logvar_q, eps=eps: {
            **known, **_mc_slips(mu_q, logvar_q, eps), **piece_slips(_mc_formula(_log_joint, mu_q, logvar_q, eps)),
            **swapped_arguments(lambda *a: _mc_elbo_variants(*a)[0], dict(mu_q=mu_q, logvar_q=logvar_q, eps=eps))}))
        terms.append(_mc_terms(mu_q, logvar_q, eps))
    return hint_over_cases(answers, expected, mistakes=mistakes, terms=terms, sizes={
        "the number of latent dimensions (the last dimension)": 3})


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
        try:
            assert_close(got, reference, inputs=inputs, rtol=1e-6, atol=1e-8, mistakes=mistakes)
        except Failed as failure:
            if "It looks like" in str(failure) or got_a.shape != ():
                raise
            hint = _mc_case_hint(student_fn, seed)
            raise Failed(f"{failure}" + (f" It looks like {hint}." if hint else "")) from None

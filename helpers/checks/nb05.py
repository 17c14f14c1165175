"""Checks for notebook 05 (the VAE): the per-example ELBO and the importance-weighted (IWAE) estimate."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from helpers import objectives
from helpers.checks.core import Failed, assert_close, call_student, exercise, piece_slips, swapped_arguments
from helpers.objectives import bernoulli_log_prob, gaussian_log_prob, kl_normal

__all__ = ["check_vae_elbo", "check_iwae_estimate", "FORBIDDEN"]

FORBIDDEN = {
    "5.1": [("helpers.objectives.elbo (the project's tested copy)", objectives.elbo),
            ("helpers.objectives.bernoulli_log_prob (the project's tested copy of the likelihood)",
             objectives.bernoulli_log_prob),
            ("binary_cross_entropy", F.binary_cross_entropy),
            ("binary_cross_entropy_with_logits", F.binary_cross_entropy_with_logits)],
    "5.2": [("helpers.objectives.iwae_bound (the project's tested copy)", objectives.iwae_bound)],
}


def _as_tensor(value, what: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        hint = (" It looks like the terms built from the tensors are missing (only a plain number is left)."
                if isinstance(value, (int, float)) else "")
        raise Failed(f"{what} should return a torch.Tensor, got {type(value).__name__}.{hint}")
    return value.detach()


# ---------------------------------------------------------------- 5.1 the per-example ELBO


def _elbo_cases(seed: int | None = None) -> list[tuple[str, tuple[torch.Tensor, ...]]]:
    """(description, (x, logits, mu, logvar)) with binary x, varied sizes and a fixed seed."""
    generator = torch.Generator().manual_seed(5 if seed is None else seed)
    cases = []
    for n, pixels, m in ((4, 784, 2), (3, 10, 5), (1, 6, 3)) if seed is None else ((5, 50, 4), (2, 784, 3)):
        x = torch.bernoulli(torch.full((n, pixels), 0.3), generator=generator)
        logits = 2.0 * torch.randn(n, pixels, generator=generator)
        mu = torch.randn(n, m, generator=generator)
        logvar = 0.7 * torch.randn(n, m, generator=generator)
        cases.append((f"a batch of {n} with {pixels} pixels and m={m} (seeded random)", (x, logits, mu, logvar)))
    return cases


def _elbo_mistakes(x, logits, mu, logvar) -> dict[str, torch.Tensor]:
    log_lik = bernoulli_log_prob(x, logits)
    kl = kl_normal(mu, logvar)
    sigma_as_var_kl = 0.5 * (mu.pow(2) + logvar.exp().pow(2) - 2 * logvar - 1).sum(-1)
    return {
        "the KL sign is flipped: the ELBO subtracts KL(q‖p), ELBO = log-likelihood − KL": log_lik + kl,
        "you averaged over pixels instead of summing: log p(x|z) is a sum over the n pixels": (
            -F.binary_cross_entropy_with_logits(logits, x, reduction="none").mean(-1) - kl),
        "you averaged the KL over the latent dimensions instead of summing over them": log_lik - kl / mu.shape[-1],
        "you returned the loss (−ELBO, the sign is flipped); the exercise asks for the ELBO itself": -(log_lik - kl),
        "the KL term is missing": log_lik,
        "the KL is summed over the batch: each example has its own KL, summed over the latent dimensions only":
            log_lik - kl.sum(),
        "the reconstruction term is missing": -kl,
        "the ½ in the KL is missing: KL = ½ Σ (μ² + σ² − log σ² − 1)": log_lik - 2 * kl,
        "the KL treats exp(logvar) as σ instead of σ²": log_lik - sigma_as_var_kl,
        "you used the probabilities sigmoid(logits) as if they were logits": bernoulli_log_prob(
            x, torch.sigmoid(logits)) - kl,
    }


def _elbo_formula(x, logits, mu, logvar):
    """The per-example ELBO written in named pieces, for `piece_slips`."""
    def formula(piece):
        data_term = piece("x·logits", piece("x in x·logits", x) * piece("logits in x·logits", logits))
        softplus = piece("softplus(logits)", F.softplus(logits), fn=F.softplus, arg=logits)
        per_pixel = piece("the per-pixel term x·logits − softplus(logits)", data_term - softplus)
        log_lik = piece("the log-likelihood Σ_pixels [x·logits − softplus(logits)]", per_pixel.sum(-1))
        squares = piece("μ² + σ²", piece("μ² in the KL", mu.pow(2), power=(mu, 2))
                        + piece("σ² = exp(logvar) in the KL", logvar.exp(), fn=torch.exp, arg=logvar))
        inside = piece("μ² + σ² − logvar", squares - piece("logvar in the KL", logvar)) - piece("the −1 in the KL", 1.0)
        kl = piece("the ½ in front of the KL", 0.5) * piece("the KL's sum over the latent dimensions",
                                                            piece("μ² + σ² − logvar − 1", inside).sum(-1))
        return log_lik - piece("the KL", kl)

    return formula


@exercise("5.1", "The per-example ELBO of a Bernoulli VAE")
def check_vae_elbo(student_fn, seed: int | None = None) -> None:
    """Compare `student_fn(x, logits, mu, logvar)` with log p(x|z) − KL(q(z|x) ‖ N(0, I)), one value per example."""
    for inputs, (x, logits, mu, logvar) in _elbo_cases(seed):
        got = _as_tensor(call_student(student_fn, x, logits, mu, logvar, forbidden=FORBIDDEN["5.1"]),
                         "vae_elbo(x, logits, mu, logvar)")
        expected = bernoulli_log_prob(x, logits) - kl_normal(mu, logvar)
        if got.dim() == 0 and len(x) > 1:
            raise Failed(f"for {inputs}, you returned one number; return one ELBO per example, "
                         f"shape ({len(x)},) — do not average or sum over the batch.")
        def mistakes(x=x, logits=logits, mu=mu, logvar=logvar):
            x, logits, mu, logvar = (t.double() for t in (x, logits, mu, logvar))
            return {**_elbo_mistakes(x, logits, mu, logvar), **piece_slips(_elbo_formula(x, logits, mu, logvar)),
                    **swapped_arguments(lambda *a: _elbo_formula(*a)(lambda name, value, **_: value),
                                        dict(x=x, logits=logits, mu=mu, logvar=logvar))}

        assert_close(got.double(), expected.double(), inputs=inputs, rtol=1e-4, atol=1e-3, mistakes=mistakes,
                     sizes={"the number of pixels": x.shape[-1], "the number of latent dimensions": mu.shape[-1]})
    _check_confident_decoder(student_fn, seed)


def _confident_case(seed: int | None) -> tuple[torch.Tensor, ...]:
    """Logits of ±100 on every pixel, right on some pixels and wrong on others (x = 1 at logit −100, x = 0 at
    +100): log sigmoid(ℓ) and log(1 − sigmoid(ℓ)) are −inf there in float32, the ELBO is finite (about −100 nats
    per wrong pixel)."""
    generator = torch.Generator().manual_seed(7 if seed is None else seed + 7)
    x = torch.tensor([[1.0, 0.0, 1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 1.0, 0.0, 0.0, 1.0]])
    logits = 100.0 * torch.tensor([[1.0, -1.0, -1.0, 1.0, 1.0, 1.0], [-1.0, -1.0, 1.0, 1.0, -1.0, 1.0]])
    mu = torch.randn(2, 3, generator=generator)
    logvar = 0.5 * torch.randn(2, 3, generator=generator)
    return x, logits, mu, logvar


def _check_confident_decoder(student_fn, seed: int | None) -> None:
    """A decoder sure of every pixel and wrong on some: the answer must compute log p(x|z) from the logits stably."""
    x, logits, mu, logvar = _confident_case(seed)
    inputs = "2 examples whose decoder logits are ±100 (a decoder sure of each pixel, wrong on some)"
    got = _as_tensor(call_student(student_fn, x, logits, mu, logvar, forbidden=FORBIDDEN["5.1"]),
                     "vae_elbo(x, logits, mu, logvar)")
    if got.shape == (len(x),) and not torch.isfinite(got).all():
        raise Failed(f"for {inputs}, you returned {got.tolist()}: the ELBO there is finite (about −100 nats per "
                     "wrong pixel). In float32, log(sigmoid(ℓ)) is −inf for ℓ below about −88 and log(1 − sigmoid(ℓ)) "
                     "for ℓ above about 17 (and 0·(−inf) is nan): write log π and log(1 − π) in terms of the logits "
                     "ℓ, with functions that stay finite for any ℓ.")
    expected = bernoulli_log_prob(x, logits) - kl_normal(mu, logvar)
    assert_close(got.double(), expected.double(), inputs=inputs, rtol=1e-4, atol=1e-3)


# ---------------------------------------------------------------- 5.2 the IWAE estimate


def _iwae_reference(x, logits, z, mu, logvar) -> torch.Tensor:
    log_w = _log_weights(x, logits, z, mu, logvar)
    return torch.logsumexp(log_w, dim=0) - math.log(z.shape[0])


def _log_weights(x, logits, z, mu, logvar, q_sign: float = -1.0, prior: bool = True) -> torch.Tensor:
    log_prior = gaussian_log_prob(z, torch.zeros_like(z), torch.zeros_like(z)) if prior else 0.0
    return bernoulli_log_prob(x, logits) + log_prior + q_sign * gaussian_log_prob(z, mu, logvar)


def _iwae_cases(seed: int | None = None) -> list[tuple[str, tuple[torch.Tensor, ...]]]:
    """(description, (x, logits, z, mu, logvar)) with K samples z_k = mu + σ ε_k; a case with 784 pixels
    makes the log-weights around −500 so that exp() underflows in float32."""
    generator = torch.Generator().manual_seed(50 if seed is None else seed)
    cases = []
    for k, n, pixels, m in ((7, 3, 12, 2), (50, 4, 784, 3), (1, 2, 5, 2)) if seed is None else (
            (5, 2, 20, 3), (30, 3, 784, 2)):
        x = torch.bernoulli(torch.full((n, pixels), 0.4), generator=generator)
        mu = torch.randn(n, m, generator=generator)
        logvar = 0.5 * torch.randn(n, m, generator=generator)
        z = mu + torch.exp(0.5 * logvar) * torch.randn(k, n, m, generator=generator)
        logits = 1.5 * torch.randn(k, n, pixels, generator=generator)
        cases.append((f"K={k} samples for {n} examples with {pixels} pixels (seeded random)",
                      (x, logits, z, mu, logvar)))
    return cases


def _iwae_formula(x, logits, z, mu, logvar):
    """The IWAE estimate written in named pieces, for `piece_slips`."""
    def formula(piece):
        log_lik = piece("log p(x|z)", bernoulli_log_prob(x, logits))
        log_prior = piece("log p(z)", gaussian_log_prob(z, torch.zeros_like(z), torch.zeros_like(z)))
        log_q = piece("log q(z|x)", gaussian_log_prob(z, mu, logvar))
        log_w = piece("the log-weights log p(x|z) + log p(z) − log q(z|x)",
                      piece("log p(x|z) + log p(z)", log_lik + log_prior) - log_q)
        spread = piece("logsumexp over the K samples", torch.logsumexp(log_w, dim=0))
        return spread - piece("log K", math.log(z.shape[0]), fn=math.log, arg=float(z.shape[0]))

    return formula


@exercise("5.2", "The importance-weighted (IWAE) estimate of log p(x)")
def check_iwae_estimate(student_fn, seed: int | None = None) -> None:
    """Compare `student_fn(x, logits, z, mu, logvar)` with log (1/K) Σ_k p(x, z_k) / q(z_k|x), per example."""
    for inputs, (x, logits, z, mu, logvar) in _iwae_cases(seed):
        got = _as_tensor(call_student(student_fn, x, logits, z, mu, logvar, forbidden=FORBIDDEN["5.2"]),
                         "iwae_estimate(x, logits, z, mu, logvar)")
        expected = _iwae_reference(x, logits, z, mu, logvar)
        k = z.shape[0]
        if got.shape == (k, len(x)):
            raise Failed(f"for {inputs}, you returned shape {tuple(got.shape)}: one value per sample and example. "
                         "Combine the K samples: logsumexp over dim 0, minus log K.")
        if not torch.isfinite(got).all():
            raise Failed(f"for {inputs}, your estimate is not finite ({got.flatten()[:4].tolist()}…). "
                         "exp(log w) underflows when log-weights are around −500: use torch.logsumexp, "
                         "never log(mean(exp(...))).")
        log_w = _log_weights(x, logits, z, mu, logvar)
        mistakes = {
            "you forgot the − log K: the estimate averages the K weights, log (1/K) Σ_k w_k": expected + math.log(k),
            "you averaged the log-weights (that is the ELBO estimate, not IWAE); take logsumexp over the K "
            "samples, minus log K": log_w.mean(dim=0),
            "the sign of log q(z|x) is flipped: log w = log p(x|z) + log p(z) − log q(z|x)": torch.logsumexp(
                _log_weights(x, logits, z, mu, logvar, q_sign=1.0), dim=0) - math.log(k),
            "the prior term log p(z) = log N(z; 0, I) is missing from the log-weights": torch.logsumexp(
                _log_weights(x, logits, z, mu, logvar, prior=False), dim=0) - math.log(k),
            "you took the largest log-weight (max) instead of logsumexp": log_w.max(dim=0).values,
        }
        if k > 1:
            mistakes["you subtracted K instead of log K"] = (
                torch.logsumexp(log_w, dim=0) - k)
        if k > 2:
            mistakes["you subtracted log(K − 1) instead of log K: the estimate averages the K weights"] = (
                torch.logsumexp(log_w, dim=0) - math.log(k - 1))
        def all_mistakes(mistakes=mistakes, x=x, logits=logits, z=z, mu=mu, logvar=logvar):
            log_w = _log_weights(x, logits, z, mu, logvar)
            return {**mistakes,
                    "you subtracted log N (the number of examples) instead of log K (the number of samples)":
                        torch.logsumexp(log_w, dim=0) - math.log(z.shape[1]),
                    "you subtracted log m (the latent size) instead of log K (the number of samples)":
                        torch.logsumexp(log_w, dim=0) - math.log(z.shape[-1]),
                    **piece_slips(_iwae_formula(x, logits, z, mu, logvar)),
                    **swapped_arguments(_iwae_reference, dict(x=x, logits=logits, z=z, mu=mu, logvar=logvar))}

        assert_close(got.double(), expected.double(), inputs=inputs, rtol=1e-4, atol=1e-2,
                     mistakes=lambda: {name: value.double() for name, value in all_mistakes().items()
                                       if isinstance(value, torch.Tensor)})

"""Log-densities, the KL divergence, the ELBO and the importance-weighted bound.

Conventions: every function sums over the last dimension (the event dimension) and keeps
the leading (batch) dimensions, so a batch of N examples gives a tensor of shape (N,).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from helpers import validate

__all__ = [
    "kl_normal",
    "gaussian_log_prob",
    "bernoulli_log_prob",
    "elbo_terms",
    "elbo",
    "iwae_bound",
]

LOG_2PI = math.log(2 * math.pi)


def _as_tensor(name: str, value, like: torch.Tensor | None = None) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        validate.finite(name, value)  # complex: TypeError; nan or inf: ValueError
        if not value.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor, got dtype {value.dtype}")
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        dtype = like.dtype if like is not None else torch.get_default_dtype()
        device = like.device if like is not None else None
        return torch.tensor(validate.number(name, value), dtype=dtype, device=device)
    validate.finite(name, value)  # a complex number: TypeError naming it
    raise TypeError(f"{name} must be a torch.Tensor or a number, got {type(value).__name__}")


def _check_shapes(**tensors: torch.Tensor) -> None:
    """Each shape must be the trailing part of the largest one (leading batch/sample dimensions may be added):
    (N, d) with (d,) or (K, N, d) with (N, d) is fine, while (4, 1) with (1, 4) would silently become 4 × 4."""
    full = max((t.shape for t in tensors.values()), key=len)
    for name, tensor in tensors.items():
        if tensor.dim() and tuple(full[len(full) - tensor.dim():]) != tuple(tensor.shape):
            shapes = ", ".join(f"{key} {tuple(value.shape)}" for key, value in tensors.items())
            raise ValueError(f"{name} has shape {tuple(tensor.shape)}, which does not line up with the others "
                             f"({shapes}); shapes must be equal up to leading dimensions (or a plain number)")


def kl_normal(mu_q, logvar_q, mu_p=0.0, logvar_p=0.0) -> torch.Tensor:
    """KL(N(mu_q, exp(logvar_q)) || N(mu_p, exp(logvar_p))), diagonal, summed over the last dimension.

    = ½ Σ [logvar_p − logvar_q + (exp(logvar_q) + (mu_q − mu_p)²) / exp(logvar_p) − 1]
    """
    mu_q = _as_tensor("mu_q", mu_q)
    logvar_q = _as_tensor("logvar_q", logvar_q, mu_q)
    mu_p = _as_tensor("mu_p", mu_p, mu_q)
    logvar_p = _as_tensor("logvar_p", logvar_p, mu_q)
    _check_shapes(mu_q=mu_q, logvar_q=logvar_q, mu_p=mu_p, logvar_p=logvar_p)
    return _kl_normal(mu_q, logvar_q, mu_p, logvar_p)


def _kl_normal(mu_q, logvar_q, mu_p, logvar_p) -> torch.Tensor:
    """kl_normal on checked tensors (inner loops call this after their entry point checked the inputs)."""
    mu_q, logvar_q, mu_p, logvar_p = torch.broadcast_tensors(mu_q, logvar_q, mu_p, logvar_p)
    ratio = torch.exp(logvar_q - logvar_p)
    mahalanobis = (mu_q - mu_p).pow(2) * torch.exp(-logvar_p)
    terms = logvar_p - logvar_q + ratio + mahalanobis - 1.0
    return 0.5 * terms.sum(dim=-1) if terms.dim() else 0.5 * terms


def gaussian_log_prob(x, mu, logvar) -> torch.Tensor:
    """log N(x; mu, diag exp(logvar)) = −½ Σ [log 2π + logvar + (x − mu)² / exp(logvar)] over the last dim."""
    x = _as_tensor("x", x)
    mu = _as_tensor("mu", mu, x)
    logvar = _as_tensor("logvar", logvar, x)
    _check_shapes(x=x, mu=mu, logvar=logvar)
    return _gaussian_log_prob(x, mu, logvar)


def _gaussian_log_prob(x, mu, logvar) -> torch.Tensor:
    """gaussian_log_prob on checked tensors."""
    terms = LOG_2PI + logvar + (x - mu).pow(2) * torch.exp(-logvar)
    terms = torch.broadcast_to(terms, torch.broadcast_shapes(x.shape, mu.shape, logvar.shape))
    return -0.5 * terms.sum(dim=-1) if terms.dim() else -0.5 * terms


def bernoulli_log_prob(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """log Bernoulli(x; sigmoid(logits)) = Σ [x·logits − softplus(logits)] over the last dim (= −BCE summed).

    x holds pixel probabilities or bits in [0, 1] (not 0..255 grey levels)."""
    x = _as_tensor("x", x)
    logits = _as_tensor("logits", logits, x)
    _check_shapes(x=x, logits=logits)
    if x.numel():
        low, high = torch.aminmax(x.detach())
        if not (low >= 0 and high <= 1):  # also catches nan
            raise ValueError(f"x must lie in [0, 1] (pixel probabilities or bits), got values in "
                             f"[{float(low):.4g}, {float(high):.4g}]")
    return _bernoulli_log_prob(x, logits)


def _bernoulli_log_prob(x, logits) -> torch.Tensor:
    """bernoulli_log_prob on checked tensors."""
    x, logits = torch.broadcast_tensors(x, logits)
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=-1)


def elbo_terms(model, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(E_q[log p(x|z)] estimated with one reparameterized z, KL(q(z|x) || N(0, I))), each of shape (N,)."""
    logits, mu, logvar = model(x)
    return bernoulli_log_prob(x, logits), kl_normal(mu, logvar)


def elbo(model, x: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """Per-example ELBO = E_q[log p(x|z)] − beta·KL(q(z|x) || p(z)), one-sample estimate, shape (N,)."""
    if not isinstance(beta, (int, float)) or isinstance(beta, bool) or not 0 <= beta < math.inf:
        raise ValueError(f"beta must be a non-negative finite number, got {beta!r}")
    log_likelihood, kl = elbo_terms(model, x)
    return log_likelihood - beta * kl


@torch.no_grad()
def iwae_bound(model, x: torch.Tensor, k: int = 1000, max_elements: int = 2**25) -> torch.Tensor:
    """log p(x) ≥ E[log (1/K) Σ_k p(x, z_k) / q(z_k|x)], z_k ~ q(z|x); one estimate per example, shape (N,).

    Examples are processed in chunks so that K·chunk·n_pixels stays under `max_elements`.
    """
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    if not isinstance(x, torch.Tensor) or x.dim() != 2:
        raise ValueError(f"x must be a 2-D tensor (N, n_pixels), got {getattr(x, 'shape', x)!r}")
    chunk = max(1, max_elements // (k * x.shape[1]))
    return torch.cat([_iwae_chunk(model, part, k) for part in x.split(chunk)])


def _iwae_chunk(model, x: torch.Tensor, k: int) -> torch.Tensor:
    return torch.logsumexp(_iwae_log_weights(model, x, k), dim=0) - math.log(k)


def _iwae_log_weights(model, x: torch.Tensor, k: int, proposal=None) -> torch.Tensor:
    """log w_i = log p(x|z_i) + log p(z_i) − log q(z_i|x), z_i = μ + σ·ε_i reparameterized; shape (k, N).

    q is the encoder's Gaussian, or `proposal` = (μ, log σ²), already checked by the caller. The one implementation
    of the importance weights: the IWAE bound here, IWAE training (helpers.recipes) and the gap decomposition
    (helpers.beyond) all call it. Differentiable when called with gradients on."""
    # the encoder checks x once; the k samples below need no further check
    mu, logvar = model.encode(x) if proposal is None else proposal
    noise = torch.randn((k, *mu.shape), device=mu.device, dtype=mu.dtype)
    z = mu + torch.exp(0.5 * logvar) * noise
    # log p(z) − log q(z|x) = ½ Σ_j (log σ_j² + ε_j² − z_j²): the 2π terms of the two Gaussians cancel
    log_prior_minus_q = 0.5 * (logvar + noise.pow(2) - z.pow(2)).sum(dim=-1)
    return _bernoulli_log_prob(x, model.decode(z)) + log_prior_minus_q  # x broadcasts over the k samples

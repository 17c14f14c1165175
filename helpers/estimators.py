"""Monte Carlo estimators of ∇_{μ,σ} E_{z~N(μ, diag σ²)}[f(z)], their variance, and the Gumbel-softmax sampler.

Shapes: `eps` is standard-normal noise of shape (..., S, m) — S samples of an m-dimensional z, optionally
with leading "repeat" dimensions; `mu` and `sigma` broadcast against it (usually shape (m,)); `f` maps
(..., m) → (...), one value per sample. The estimators return *per-sample* terms of eps's shape; their mean over
the sample axis (dim −2) is the Monte Carlo gradient estimate.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from helpers import validate

__all__ = [
    "ESTIMATORS",
    "score_function_grads",
    "pathwise_grads",
    "mean_and_stderr",
    "estimator_variance",
    "gumbel_softmax_sample",
]

Objective = Callable[[torch.Tensor], torch.Tensor]
ESTIMATORS = ("pathwise", "score", "score+baseline")


def _broadcast_shape(*shapes: torch.Size) -> tuple[int, ...]:
    """NumPy broadcasting of shapes (torch.broadcast_shapes imports sympy on first use: seconds)."""
    ndim = max(len(shape) for shape in shapes)
    result = []
    for sizes in zip(*[(1,) * (ndim - len(shape)) + tuple(shape) for shape in shapes]):
        distinct = {size for size in sizes if size != 1}
        if len(distinct) > 1:
            raise ValueError(f"shapes {[tuple(shape) for shape in shapes]} do not broadcast together")
        result.append(distinct.pop() if distinct else 1)
    return tuple(result)


def _check_inputs(f, mu, sigma, eps) -> None:
    if not callable(f):
        raise TypeError(f"f must be a callable mapping z of shape (..., m) to (...), got {type(f).__name__}")
    for name, value in (("mu", mu), ("sigma", sigma), ("eps", eps)):
        validate.finite(name, value)  # complex: TypeError; nan or inf: ValueError
        if not isinstance(value, torch.Tensor) or not value.is_floating_point():
            raise TypeError(f"{name} must be a floating-point torch.Tensor, got {type(value).__name__}")
    if eps.dim() < 2:
        raise ValueError(f"eps must have shape (..., S, m) with at least 2 dimensions, got {tuple(eps.shape)}")
    try:
        _broadcast_shape(mu.shape, sigma.shape, eps.shape)
    except ValueError:
        raise ValueError(f"mu {tuple(mu.shape)}, sigma {tuple(sigma.shape)} and eps {tuple(eps.shape)} "
                         "must broadcast together") from None
    if bool((sigma <= 0).any()):
        raise ValueError("sigma must be strictly positive everywhere")


def _objective_values(f: Objective, z: torch.Tensor) -> torch.Tensor:
    values = f(z)
    if not isinstance(values, torch.Tensor) or values.shape != z.shape[:-1]:
        raise ValueError(f"f must return one value per sample, shape {tuple(z.shape[:-1])}, "
                         f"got {getattr(values, 'shape', type(values).__name__)}")
    return values


def _leave_one_out_mean(values: torch.Tensor) -> torch.Tensor:
    """b_s = mean of the other S−1 values along the last dim: independent of sample s, so unbiased."""
    n = values.shape[-1]
    if n < 2:
        raise ValueError(f"a leave-one-out baseline needs at least 2 samples, got S={n}")
    return (values.sum(dim=-1, keepdim=True) - values) / (n - 1)


def score_function_grads(
    f: Objective, mu: torch.Tensor, sigma: torch.Tensor, eps: torch.Tensor,
    baseline: str | float | torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample (f(z) − b)·∇_{μ,σ} log N(z; μ, σ²) at z = μ + σ·ε: (f−b)·ε/σ and (f−b)·(ε²−1)/σ.

    baseline: None (b = 0), "leave-one-out" (b = mean of f over the other samples), or a constant
    (a number or a tensor broadcastable to f's values of shape (..., S)). Every choice keeps it unbiased.
    """
    _check_inputs(f, mu, sigma, eps)
    with torch.no_grad():
        values = _objective_values(f, mu + sigma * eps)
        if baseline is None:
            centred = values
        elif isinstance(baseline, str):
            if baseline != "leave-one-out":
                raise ValueError(f"baseline must be None, 'leave-one-out' or a number, got {baseline!r}")
            centred = values - _leave_one_out_mean(values)
        elif isinstance(baseline, (int, float, torch.Tensor)) and not isinstance(baseline, bool):
            centred = values - validate.finite("baseline", baseline)
        else:
            raise TypeError(f"baseline must be None, 'leave-one-out', a number or a tensor, got {baseline!r}")
        weight = centred.unsqueeze(-1)
        return weight * eps / sigma, weight * (eps.pow(2) - 1) / sigma


def pathwise_grads(
    f: Objective, mu: torch.Tensor, sigma: torch.Tensor, eps: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample ∇_{μ,σ} f(μ + σ·ε) by autograd: ∇f(z) and ∇f(z)·ε (the reparameterized estimator)."""
    _check_inputs(f, mu, sigma, eps)
    shape = _broadcast_shape(mu.shape, sigma.shape, eps.shape)
    with torch.enable_grad():
        mu_s = mu.detach().expand(shape).clone().requires_grad_(True)  # one copy per sample: per-sample grads
        sigma_s = sigma.detach().expand(shape).clone().requires_grad_(True)
        values = _objective_values(f, mu_s + sigma_s * eps)
        if not values.requires_grad:  # f ignores z or is piecewise constant (e.g. a step): its gradient is 0
            grad_mu = grad_sigma = None
        else:
            grad_mu, grad_sigma = torch.autograd.grad(values.sum(), (mu_s, sigma_s), allow_unused=True)
    zeros = torch.zeros(shape, dtype=eps.dtype, device=eps.device)
    return (zeros if grad_mu is None else grad_mu), (zeros if grad_sigma is None else grad_sigma)


def mean_and_stderr(per_sample: torch.Tensor, dim: int = -2) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, standard error std/√S) of per-sample terms along the sample axis `dim`."""
    if not isinstance(per_sample, torch.Tensor):
        raise TypeError(f"per_sample must be a torch.Tensor, got {type(per_sample).__name__}")
    validate.finite("per_sample", per_sample)
    n = per_sample.shape[dim]
    if n < 2:
        raise ValueError(f"need at least 2 samples along dim {dim} for a standard error, got {n}")
    return per_sample.mean(dim=dim), per_sample.std(dim=dim) / n**0.5


def estimator_variance(
    estimator: str, f: Objective, mu: torch.Tensor, sigma: torch.Tensor, *, n_samples: int, n_repeats: int = 2000,
    generator: torch.Generator | None = None,
) -> tuple[float, float]:
    """Variance of the S-sample estimate of ∂/∂μ and of ∂/∂σ, over `n_repeats` repeats, averaged over coordinates.

    estimator: "pathwise", "score" or "score+baseline" (leave-one-out baseline).
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    for name, value, low in (("n_samples", n_samples, 1), ("n_repeats", n_repeats, 2)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    if estimator == "score+baseline" and n_samples < 2:
        raise ValueError(f"'score+baseline' needs n_samples >= 2 (leave-one-out), got {n_samples}")
    _check_inputs(f, mu, sigma, torch.zeros(1, 1, dtype=getattr(mu, "dtype", None)))
    m = _broadcast_shape(mu.shape, sigma.shape)[-1]
    # float32 normal draws are several times faster than float64 ones on CPU; the arithmetic runs in mu's dtype
    eps = torch.randn(n_repeats, n_samples, m, generator=generator, device=mu.device).to(mu.dtype)
    if estimator == "pathwise":
        grads = pathwise_grads(f, mu, sigma, eps)
    else:
        grads = score_function_grads(f, mu, sigma, eps, "leave-one-out" if estimator == "score+baseline" else None)
    return tuple(float(g.mean(dim=-2).var(dim=0).mean()) for g in grads)


def gumbel_softmax_sample(
    logits: torch.Tensor, tau: float, *, generator: torch.Generator | None = None, n_samples: int | None = None,
) -> torch.Tensor:
    """Relaxed one-hot sample y = softmax((logits + g)/τ), g = −log(−log U), U ~ Uniform(0, 1) (Concrete).

    With n_samples, returns shape (n_samples, *logits.shape); gradients flow to logits.
    """
    validate.finite("logits", logits)
    if not isinstance(logits, torch.Tensor) or not logits.is_floating_point():
        raise TypeError(f"logits must be a floating-point torch.Tensor, got {type(logits).__name__}")
    validate.finite("tau", tau)  # a complex tau: TypeError
    if not isinstance(tau, (int, float)) or isinstance(tau, bool) or not 0 < tau < float("inf"):
        raise ValueError(f"tau must be a positive finite number, got {tau!r}")
    if n_samples is not None and (not isinstance(n_samples, int) or isinstance(n_samples, bool) or n_samples < 1):
        raise ValueError(f"n_samples must be None or a positive int, got {n_samples!r}")
    shape = logits.shape if n_samples is None else (n_samples, *logits.shape)
    uniform = torch.rand(shape, generator=generator, dtype=logits.dtype, device=logits.device)
    tiny = torch.finfo(logits.dtype).tiny
    gumbel = -torch.log(-torch.log(uniform.clamp_min(tiny)))
    return torch.softmax((logits + gumbel) / tau, dim=-1)

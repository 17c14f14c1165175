"""Toy models where every quantity is exact, used to check variational inference numerically.

- `ConjugateGaussian`: z ~ N(0, 1), x | z ~ N(z, σ²). The evidence p(x), the posterior p(z|x) and the ELBO of a
  Gaussian q(z) = N(μ_q, exp(logvar_q)) all have closed forms (notebooks 02–04).
- `GaussianMixture1D` and `bimodal_mixture()`: a two-mode target for the forward- vs reverse-KL picture;
  `fit_forward_kl` (moment matching) and `fit_reverse_kl` (mode seeking) are deterministic, so the notebook and the
  blog figure `images/bp-VI.png` come from the same computation.

Everything is computed in float64. The conjugate model works elementwise: one scalar latent per data point, and
x, μ_q, logvar_q broadcast against each other (a data set of N points gives tensors of shape (N,)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch

from helpers import validate
from helpers.objectives import kl_normal

__all__ = [
    "ConjugateGaussian",
    "GaussianMixture1D",
    "GaussianFit",
    "bimodal_mixture",
    "log_normal",
    "forward_kl_on_grid",
    "reverse_kl_on_grid",
    "fit_forward_kl",
    "fit_reverse_kl",
]

DTYPE = torch.float64
LOG_2PI = math.log(2 * math.pi)


def _tensor(name: str, value) -> torch.Tensor:
    """A float64 tensor from a finite real number or tensor; TypeError (complex too) or ValueError (nan, inf)."""
    validate.finite(name, value)
    if isinstance(value, torch.Tensor):
        if not value.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor, got dtype {value.dtype}")
        return value.to(DTYPE)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return torch.tensor(float(value), dtype=DTYPE)
    raise TypeError(f"{name} must be a torch.Tensor or a number, got {type(value).__name__}")


def _positive(name: str, value) -> float:
    validate.finite(name, value)  # a complex number: TypeError
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def _positive_int(name: str, value) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def log_normal(z, mean, var) -> torch.Tensor:
    """log N(z; mean, var) = −½ [log 2π + log var + (z − mean)² / var], elementwise (no sum)."""
    z, mean, var = _tensor("z", z), _tensor("mean", mean), _tensor("var", var)
    if bool((var <= 0).any()):
        raise ValueError("var must be positive everywhere")
    return -0.5 * (LOG_2PI + torch.log(var) + (z - mean).pow(2) / var)


@dataclass(frozen=True)
class ConjugateGaussian:
    """z ~ N(0, 1), x | z ~ N(z, σ²): p(x) = N(0, 1 + σ²), p(z | x) = N(x / (1 + σ²), σ² / (1 + σ²))."""

    sigma: float = 0.5

    def __post_init__(self) -> None:
        object.__setattr__(self, "sigma", _positive("sigma", self.sigma))

    @property
    def noise_var(self) -> float:
        """σ², the variance of x around z."""
        return self.sigma**2

    def log_prior(self, z) -> torch.Tensor:
        """log p(z) = log N(z; 0, 1)."""
        return log_normal(_tensor("z", z), 0.0, 1.0)

    def log_likelihood(self, x, z) -> torch.Tensor:
        """log p(x | z) = log N(x; z, σ²)."""
        return log_normal(_tensor("x", x), _tensor("z", z), self.noise_var)

    def log_joint(self, x, z) -> torch.Tensor:
        """log p(x, z) = log p(z) + log p(x | z)."""
        return self.log_prior(z) + self.log_likelihood(x, z)

    def log_evidence(self, x) -> torch.Tensor:
        """log p(x) = log N(x; 0, 1 + σ²), exact."""
        return log_normal(_tensor("x", x), 0.0, 1.0 + self.noise_var)

    def posterior(self, x) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, logvar) of p(z | x) = N(x / (1 + σ²), σ² / (1 + σ²)), exact."""
        x = _tensor("x", x)
        mean = x / (1.0 + self.noise_var)
        logvar = torch.full_like(mean, math.log(self.noise_var / (1.0 + self.noise_var)))
        return mean, logvar

    def elbo_terms(self, x, mu_q, logvar_q) -> tuple[torch.Tensor, torch.Tensor]:
        """(E_q[log p(x|z)] = −½[log 2πσ² + ((x − μ_q)² + exp(logvar_q)) / σ²], KL(q ‖ p(z))), both exact."""
        x, mu_q, logvar_q = _tensor("x", x), _tensor("mu_q", mu_q), _tensor("logvar_q", logvar_q)
        expected_log_lik = -0.5 * (LOG_2PI + math.log(self.noise_var)
                                   + ((x - mu_q).pow(2) + logvar_q.exp()) / self.noise_var)
        mu_q, logvar_q = torch.broadcast_tensors(mu_q, logvar_q)
        kl_prior = kl_normal(mu_q.unsqueeze(-1), logvar_q.unsqueeze(-1))
        return expected_log_lik, kl_prior

    def elbo(self, x, mu_q, logvar_q) -> torch.Tensor:
        """ELBO(q) = E_q[log p(x|z)] − KL(q(z) ‖ p(z)) for q = N(μ_q, exp(logvar_q)), exact."""
        expected_log_lik, kl_prior = self.elbo_terms(x, mu_q, logvar_q)
        return expected_log_lik - kl_prior

    def mc_elbo(self, x, mu_q, logvar_q, n_samples: int = 1000,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, standard error) over z_s = μ_q + exp(½ logvar_q)·ε_s of log p(x, z_s) − log q(z_s)."""
        n_samples = _positive_int("n_samples", n_samples)
        x, mu_q, logvar_q = _tensor("x", x), _tensor("mu_q", mu_q), _tensor("logvar_q", logvar_q)
        shape = torch.broadcast_shapes(x.shape, mu_q.shape, logvar_q.shape)
        eps = torch.randn((n_samples, *shape), generator=generator, dtype=DTYPE)
        z = mu_q + torch.exp(0.5 * logvar_q) * eps
        values = self.log_joint(x, z) - log_normal(z, mu_q, logvar_q.exp())
        std = values.std(dim=0) if n_samples > 1 else torch.zeros(shape, dtype=DTYPE)
        return values.mean(dim=0), std / math.sqrt(n_samples)

    def sample(self, n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(z, x) for n independent draws z_n ~ N(0, 1), x_n ~ N(z_n, σ²), each of shape (n,)."""
        n = _positive_int("n", n)
        z = torch.randn(n, generator=generator, dtype=DTYPE)
        x = z + self.sigma * torch.randn(n, generator=generator, dtype=DTYPE)
        return z, x


@dataclass(frozen=True)
class GaussianMixture1D:
    """p(z) = Σ_k w_k N(z; m_k, s_k²) on the real line."""

    weights: tuple[float, ...]
    means: tuple[float, ...]
    stds: tuple[float, ...]

    def __post_init__(self) -> None:
        for name in ("weights", "means", "stds"):
            value = getattr(self, name)
            if not isinstance(value, (tuple, list)) or not value or not all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
                raise TypeError(f"{name} must be a non-empty tuple of numbers, got {value!r}")
            if not all(math.isfinite(v) for v in value):
                raise ValueError(f"{name} must hold finite numbers, got {value!r}")
            object.__setattr__(self, name, tuple(float(v) for v in value))
        if not len(self.weights) == len(self.means) == len(self.stds):
            raise ValueError(f"weights, means and stds must have the same length, got "
                             f"{len(self.weights)}, {len(self.means)}, {len(self.stds)}")
        if any(w <= 0 for w in self.weights) or abs(sum(self.weights) - 1) > 1e-9:
            raise ValueError(f"weights must be positive and sum to 1, got {self.weights}")
        for s in self.stds:
            _positive("stds", s)

    def log_prob(self, z) -> torch.Tensor:
        """log p(z) = logsumexp_k [log w_k + log N(z; m_k, s_k²)], elementwise."""
        z = _tensor("z", z).unsqueeze(-1)
        w, m, s = (torch.tensor(v, dtype=DTYPE) for v in (self.weights, self.means, self.stds))
        return torch.logsumexp(torch.log(w) + log_normal(z, m, s.pow(2)), dim=-1)

    def mean(self) -> float:
        """E[z] = Σ_k w_k m_k."""
        return sum(w * m for w, m in zip(self.weights, self.means))

    def variance(self) -> float:
        """Var[z] = Σ_k w_k (s_k² + m_k²) − E[z]²."""
        second = sum(w * (s**2 + m**2) for w, m, s in zip(self.weights, self.means, self.stds))
        return second - self.mean() ** 2

    def grid(self, n: int = 2001, width: float = 10.0) -> torch.Tensor:
        """n equally spaced points from min_k(m_k − width·s_k) to max_k(m_k + width·s_k), for quadrature."""
        n, width = _positive_int("n", n), _positive("width", width)
        lo = min(m - width * s for m, s in zip(self.means, self.stds))
        hi = max(m + width * s for m, s in zip(self.means, self.stds))
        return torch.linspace(lo, hi, n, dtype=DTYPE)


def bimodal_mixture() -> GaussianMixture1D:
    """The series' two-mode target: 0.4·N(−2, 0.7²) + 0.6·N(2, 0.7²) (the right mode is the heavier one)."""
    return GaussianMixture1D(weights=(0.4, 0.6), means=(-2.0, 2.0), stds=(0.7, 0.7))


class GaussianFit(NamedTuple):
    """A fitted Gaussian q(z) = N(mu, sigma²)."""

    mu: float
    sigma: float

    def log_prob(self, z) -> torch.Tensor:
        """log N(z; mu, sigma²), elementwise."""
        return log_normal(z, self.mu, self.sigma**2)


def _grid(target, grid) -> torch.Tensor:
    """The quadrature grid: the target's own, or a 1-D strictly increasing tensor of at least 2 points."""
    if grid is None:
        return _check_mixture(target).grid()
    _check_mixture(target)
    grid = _tensor("grid", grid)
    if grid.dim() != 1 or len(grid) < 2 or not bool((grid[1:] > grid[:-1]).all()):
        raise ValueError(f"grid must be a 1-D tensor of at least 2 strictly increasing points (the trapezoid rule "
                         f"integrates along it), got shape {tuple(grid.shape)}"
                         + ("" if grid.dim() != 1 or len(grid) < 2 else " that is not sorted"))
    return grid


def _check_mixture(target) -> GaussianMixture1D:
    if not isinstance(target, GaussianMixture1D):
        raise TypeError(f"target must be a GaussianMixture1D, got {type(target).__name__}")
    return target


def reverse_kl_on_grid(target: GaussianMixture1D, mu, log_sigma, grid: torch.Tensor | None = None) -> torch.Tensor:
    """KL(q ‖ p) = ∫ q(z) [log q(z) − log p(z)] dz for q = N(mu, exp(log_sigma)²), trapezoid rule on a grid."""
    grid = _grid(target, grid)
    return _reverse_kl(target.log_prob(grid), grid, _tensor("mu", mu), _tensor("log_sigma", log_sigma))


def _reverse_kl(log_p: torch.Tensor, grid: torch.Tensor, mu: torch.Tensor, log_sigma: torch.Tensor) -> torch.Tensor:
    log_q = -0.5 * (LOG_2PI + 2 * log_sigma + ((grid - mu) / log_sigma.exp()).pow(2))
    return torch.trapezoid(log_q.exp() * (log_q - log_p), grid)


def forward_kl_on_grid(target: GaussianMixture1D, mu, log_sigma, grid: torch.Tensor | None = None) -> torch.Tensor:
    """KL(p ‖ q) = ∫ p(z) [log p(z) − log q(z)] dz for q = N(mu, exp(log_sigma)²), trapezoid rule on a grid."""
    grid = _grid(target, grid)
    mu, log_sigma = _tensor("mu", mu), _tensor("log_sigma", log_sigma)
    log_p = target.log_prob(grid)
    return torch.trapezoid(log_p.exp() * (log_p - log_normal(grid, mu, torch.exp(2 * log_sigma))), grid)


def fit_forward_kl(target: GaussianMixture1D) -> GaussianFit:
    """argmin_q KL(p ‖ q) over Gaussians q: moment matching, q = N(E_p[z], Var_p[z]) (mass covering)."""
    target = _check_mixture(target)
    return GaussianFit(target.mean(), math.sqrt(target.variance()))


def fit_reverse_kl(target: GaussianMixture1D, init_mu: float | None = None, init_log_sigma: float = 0.0,
                   steps: int = 150, lr: float = 0.2) -> GaussianFit:
    """argmin_q KL(q ‖ p) over Gaussians q by gradient descent on (mu, log σ) (mode seeking); deterministic.

    init_mu defaults to the highest point of p on its grid, so the fit lands on the tallest mode.
    """
    target = _check_mixture(target)
    steps, lr = _positive_int("steps", steps), _positive("lr", lr)
    grid = target.grid()
    log_p = target.log_prob(grid)  # fixed: only q changes during the fit
    if init_mu is None:
        init_mu = float(grid[log_p.argmax()])
    params = torch.tensor([_real("init_mu", init_mu), _real("init_log_sigma", init_log_sigma)],
                          dtype=DTYPE, requires_grad=True)
    for _ in range(steps):
        loss = _reverse_kl(log_p, grid, params[0], params[1])
        (grad,) = torch.autograd.grad(loss, params)
        with torch.no_grad():
            params -= lr * grad
    mu, log_sigma = params.detach().tolist()
    if not (math.isfinite(mu) and math.isfinite(log_sigma)):
        raise RuntimeError(f"fit_reverse_kl diverged (lr={lr} too large?)")
    return GaussianFit(mu, math.exp(log_sigma))


def _real(name: str, value) -> float:
    validate.finite(name, value)  # a complex number: TypeError
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)

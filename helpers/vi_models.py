"""Toy models of notebook 03 whose exact posterior is known, so every VI method can be graded.

- Normal–Gamma: x_i ~ N(mu, 1/tau), mu | tau ~ N(mu0, 1/(lambda0·tau)), tau ~ Gamma(a0, b0); exact posterior,
  log evidence and the mean-field CAVI updates with their ELBO.
- Correlated Gaussian: the mean-field optimum of KL(q || N(mean, cov)) in closed form; full-covariance Gaussian KL.
- Bayesian logistic regression on synthetic 2-D inputs: sampler, batched log joint, reference posterior on a grid.
- Poisson counts with a Gamma prior on the rate (the ADVI example): sampler and exact posterior.
- Probabilistic PCA x = W z + mu + eps: maximum-likelihood fit, exact posterior, exact log p(x), the closed-form
  ELBO of a diagonal Gaussian q(z), sampler.
- SVI: the minibatch estimator (N/B) Σ_{n∈B} ELBO_n.

Everything is float64 unless the inputs say otherwise; tensors in, tensors (or floats) out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from helpers import validate
from helpers.linear import component_signs

__all__ = [
    "NormalGamma",
    "sample_normal_data",
    "normal_gamma_posterior",
    "normal_gamma_log_evidence",
    "normal_gamma_log_density",
    "cavi_update_mu",
    "cavi_update_tau",
    "normal_gamma_expected_squares",
    "normal_gamma_elbo",
    "run_cavi",
    "gaussian_kl",
    "mean_field_gaussian",
    "sample_logistic_data",
    "logistic_log_joint",
    "GridPosterior",
    "logistic_grid_posterior",
    "sample_poisson",
    "poisson_gamma_posterior",
    "poisson_gamma_log_joint_log_rate",
    "PPCA",
    "ppca_fit",
    "ppca_posterior",
    "ppca_log_marginal",
    "ppca_elbo",
    "sample_ppca",
    "minibatch_elbo",
]

LOG_2PI = math.log(2 * math.pi)
MAX_POISSON_RATE = 1e15  # torch.poisson overflows to negative counts past ~9.2e18; counts stay exact in float64 here


# ---------------------------------------------------------------- argument checks


def _positive(name: str, value) -> float:
    validate.finite(name, value)  # a complex number: TypeError
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or math.isinf(value):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def _finite(name: str, value) -> float:
    validate.finite(name, value)  # a complex number: TypeError
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def _count(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


def _tensor(name: str, value, ndim: int | tuple[int, ...] | None = None) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    validate.finite(name, value)  # complex: TypeError; nan or inf: ValueError
    if not value.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {value.dtype}")
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    if allowed is not None and value.dim() not in allowed:
        raise ValueError(f"{name} must have {' or '.join(map(str, allowed))} dimension(s), got shape "
                         f"{tuple(value.shape)}")
    return value


# ---------------------------------------------------------------- Normal–Gamma model


@dataclass(frozen=True)
class NormalGamma:
    """NG(mu, tau; mu0, lambda0, a0, b0) = N(mu; mu0, 1/(lambda0·tau)) · Gamma(tau; shape a0, rate b0)."""

    mu0: float = 0.0
    lambda0: float = 1.0
    a0: float = 1.0
    b0: float = 1.0

    def __post_init__(self) -> None:
        _finite("mu0", self.mu0)
        for name in ("lambda0", "a0", "b0"):
            _positive(name, getattr(self, name))


def sample_normal_data(n: int, mean: float, precision: float, seed: int = 0) -> torch.Tensor:
    """n draws x_i ~ N(mean, 1/precision), float64, from a generator seeded with `seed`."""
    _count("n", n)
    generator = torch.Generator().manual_seed(validate.seed(seed))
    noise = torch.randn(n, generator=generator, dtype=torch.float64)
    return _finite("mean", mean) + noise / math.sqrt(_positive("precision", precision))


def _data(x) -> torch.Tensor:
    x = _tensor("x", x, 1)
    if len(x) == 0:
        raise ValueError("x must hold at least one observation, got an empty tensor")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"x must hold finite numbers, got {int((~torch.isfinite(x)).sum())} nan or inf value(s)")
    return x.double()


def normal_gamma_posterior(x: torch.Tensor, prior: NormalGamma) -> NormalGamma:
    """Exact posterior p(mu, tau | x) = NG(mu_N, lambda0 + N, a0 + N/2, b0 + ½Σ(x−x̄)² + lambda0·N(x̄−mu0)²/(2λ_N))."""
    x = _data(x)
    n, xbar = len(x), float(x.mean())
    lambda_n = prior.lambda0 + n
    mu_n = (prior.lambda0 * prior.mu0 + n * xbar) / lambda_n
    scatter = float(((x - xbar) ** 2).sum())
    b_n = prior.b0 + 0.5 * scatter + prior.lambda0 * n * (xbar - prior.mu0) ** 2 / (2 * lambda_n)
    return NormalGamma(mu_n, lambda_n, prior.a0 + n / 2, b_n)


def normal_gamma_log_evidence(x: torch.Tensor, prior: NormalGamma) -> float:
    """log p(x) = lnΓ(a_N) − lnΓ(a0) + a0 ln b0 − a_N ln b_N + ½ ln(lambda0/λ_N) − (N/2) ln 2π."""
    post = normal_gamma_posterior(x, prior)
    return (math.lgamma(post.a0) - math.lgamma(prior.a0) + prior.a0 * math.log(prior.b0)
            - post.a0 * math.log(post.b0) + 0.5 * math.log(prior.lambda0 / post.lambda0) - len(x) / 2 * LOG_2PI)


def normal_gamma_log_density(mu: torch.Tensor, tau: torch.Tensor, params: NormalGamma) -> torch.Tensor:
    """log NG(mu, tau; params) = log Gamma(tau; a, b) + log N(mu; mu0, 1/(lambda·tau)), elementwise (tau > 0)."""
    mu, tau = _tensor("mu", mu), _tensor("tau", tau)
    if (tau <= 0).any():
        raise ValueError("tau must be positive everywhere")
    a, b, lam = params.a0, params.b0, params.lambda0
    log_gamma = a * math.log(b) - math.lgamma(a) + (a - 1) * torch.log(tau) - b * tau
    log_normal = 0.5 * (math.log(lam) + torch.log(tau) - LOG_2PI) - 0.5 * lam * tau * (mu - params.mu0) ** 2
    return log_gamma + log_normal


def cavi_update_mu(x: torch.Tensor, prior: NormalGamma, e_tau: float) -> tuple[float, float]:
    """q(mu) = N(m, 1/kappa) with m = (lambda0·mu0 + N·x̄)/(lambda0 + N), kappa = (lambda0 + N)·E_q[tau]."""
    x = _data(x)
    e_tau = _positive("e_tau", e_tau)
    n = len(x)
    m = (prior.lambda0 * prior.mu0 + n * float(x.mean())) / (prior.lambda0 + n)
    return m, (prior.lambda0 + n) * e_tau


def normal_gamma_expected_squares(x: torch.Tensor, prior: NormalGamma, m: float, kappa: float
                                  ) -> tuple[float, float]:
    """(E Σ_i (x_i − mu)², E (mu − mu0)²) under q(mu) = N(m, 1/kappa): Σ(x_i − m)² + N/kappa, (m − mu0)² + 1/kappa."""
    x = _data(x)
    m, kappa = _finite("m", m), _positive("kappa", kappa)
    return float(((x - m) ** 2).sum()) + len(x) / kappa, (m - prior.mu0) ** 2 + 1 / kappa


def cavi_update_tau(x: torch.Tensor, prior: NormalGamma, m: float, kappa: float) -> tuple[float, float]:
    """q(tau) = Gamma(a, b): a = a0 + (N+1)/2, b = b0 + ½ E_q(mu)[Σ(x_i − mu)² + lambda0(mu − mu0)²]."""
    sq_data, sq_prior = normal_gamma_expected_squares(x, prior, m, kappa)
    return prior.a0 + (len(x) + 1) / 2, prior.b0 + 0.5 * (sq_data + prior.lambda0 * sq_prior)


def normal_gamma_elbo(x: torch.Tensor, prior: NormalGamma, m: float, kappa: float, a: float, b: float) -> float:
    """ELBO of q(mu) q(tau) = N(m, 1/kappa) Gamma(a, b): E_q[log p(x, mu, tau)] + H[q(mu)] + H[q(tau)]."""
    x = _data(x)
    m, kappa, a, b = _finite("m", m), _positive("kappa", kappa), _positive("a", a), _positive("b", b)
    n = len(x)
    e_tau = a / b
    e_log_tau = _digamma(a) - math.log(b)
    sq_data, sq_prior = normal_gamma_expected_squares(x, prior, m, kappa)
    e_log_lik = 0.5 * n * (e_log_tau - LOG_2PI) - 0.5 * e_tau * sq_data
    e_log_p_mu = 0.5 * (math.log(prior.lambda0) + e_log_tau - LOG_2PI) - 0.5 * prior.lambda0 * e_tau * sq_prior
    e_log_p_tau = prior.a0 * math.log(prior.b0) - math.lgamma(prior.a0) + (prior.a0 - 1) * e_log_tau - prior.b0 * e_tau
    entropy_mu = 0.5 * (1 + LOG_2PI - math.log(kappa))
    entropy_tau = a - math.log(b) + math.lgamma(a) + (1 - a) * _digamma(a)
    return e_log_lik + e_log_p_mu + e_log_p_tau + entropy_mu + entropy_tau


def _digamma(value: float) -> float:
    return float(torch.special.digamma(torch.tensor(value, dtype=torch.float64)))


def run_cavi(x: torch.Tensor, prior: NormalGamma, a_init: float, b_init: float, iterations: int = 10
             ) -> dict[str, list[float]]:
    """Alternate the two CAVI updates from q(tau) = Gamma(a_init, b_init); the ELBO is recorded after every update."""
    _count("iterations", iterations)
    a, b = _positive("a_init", a_init), _positive("b_init", b_init)
    history: dict[str, list[float]] = {"m": [], "kappa": [], "a": [], "b": [], "elbo": []}
    for _ in range(iterations):
        m, kappa = cavi_update_mu(x, prior, a / b)
        history["elbo"].append(normal_gamma_elbo(x, prior, m, kappa, a, b))
        a, b = cavi_update_tau(x, prior, m, kappa)
        history["elbo"].append(normal_gamma_elbo(x, prior, m, kappa, a, b))
        for key, value in zip(("m", "kappa", "a", "b"), (m, kappa, a, b)):
            history[key].append(value)
    return history


# ---------------------------------------------------------------- Gaussians and mean field


def _mean_cov(mean, cov, prefix: str) -> tuple[torch.Tensor, torch.Tensor]:
    mean, cov = _tensor(f"{prefix}mean", mean, 1), _tensor(f"{prefix}cov", cov, 2)
    if cov.shape != (len(mean), len(mean)):
        raise ValueError(f"{prefix}cov must have shape ({len(mean)}, {len(mean)}) to match {prefix}mean, "
                         f"got {tuple(cov.shape)}")
    if not bool(torch.isfinite(mean).all()):
        raise ValueError(f"{prefix}mean must hold finite numbers, got {mean.tolist()}")
    return mean.double(), _check_covariance(f"{prefix}cov", cov.double())


def _check_covariance(name: str, cov: torch.Tensor) -> torch.Tensor:
    """A symmetric positive-definite matrix (Cholesky succeeds), else a ValueError naming the problem."""
    if not bool(torch.isfinite(cov).all()):
        raise ValueError(f"{name} must hold finite numbers, got nan or inf")
    if not torch.allclose(cov, cov.T, rtol=1e-10, atol=1e-12):
        raise ValueError(f"{name} must be symmetric (a covariance matrix), got {cov.tolist()}")
    if int(torch.linalg.cholesky_ex(cov).info) != 0:
        eigenvalues = torch.linalg.eigvalsh(cov).tolist()
        raise ValueError(f"{name} must be positive definite (a covariance matrix), got eigenvalues {eigenvalues}")
    return cov


def gaussian_kl(mean_q: torch.Tensor, cov_q: torch.Tensor, mean_p: torch.Tensor, cov_p: torch.Tensor) -> float:
    """KL(N(mean_q, cov_q) || N(mean_p, cov_p)) = ½[tr(Σp⁻¹Σq) + Δᵀ Σp⁻¹ Δ − d + ln|Σp| − ln|Σq|]."""
    mean_q, cov_q = _mean_cov(mean_q, cov_q, "q_")
    mean_p, cov_p = _mean_cov(mean_p, cov_p, "p_")
    if len(mean_q) != len(mean_p):
        raise ValueError(f"q and p must have the same dimension, got {len(mean_q)} and {len(mean_p)}")
    precision_p = torch.linalg.inv(cov_p)
    delta = mean_p - mean_q
    trace = torch.trace(precision_p @ cov_q)
    mahalanobis = delta @ precision_p @ delta
    log_dets = torch.logdet(cov_p) - torch.logdet(cov_q)
    return float(0.5 * (trace + mahalanobis - len(mean_q) + log_dets))


def mean_field_gaussian(mean: torch.Tensor, cov: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """argmin over factorized q of KL(q || N(mean, cov)): q_i = N(mean_i, 1/Λ_ii) with Λ = cov⁻¹ (means, variances)."""
    mean, cov = _mean_cov(mean, cov, "")
    return mean.clone(), 1.0 / torch.diagonal(torch.linalg.inv(cov))


# ---------------------------------------------------------------- Bayesian logistic regression


def sample_logistic_data(n: int, w: torch.Tensor, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs X_n ~ N(0, I_d) and labels y_n ~ Bernoulli(sigmoid(X_n·w)); float64 (X (n, d), y (n,))."""
    _count("n", n)
    w = _tensor("w", w, 1).double()
    generator = torch.Generator().manual_seed(validate.seed(seed))
    features = torch.randn(n, len(w), generator=generator, dtype=torch.float64)
    labels = torch.bernoulli(torch.sigmoid(features @ w), generator=generator)
    return features, labels


def logistic_log_joint(w: torch.Tensor, features: torch.Tensor, labels: torch.Tensor, prior_std: float = 1.0
                       ) -> torch.Tensor:
    """log p(y, w | X) = Σ_n [y_n·(X_n·w) − softplus(X_n·w)] + log N(w; 0, prior_std² I), batched over w (..., d)."""
    w = _tensor("w", w)
    features, labels = _tensor("features", features, 2), _tensor("labels", labels, 1)
    if w.shape[-1] != features.shape[1] or len(labels) != len(features):
        raise ValueError(f"need w (..., d), features (N, d), labels (N,), got {tuple(w.shape)}, "
                         f"{tuple(features.shape)}, {tuple(labels.shape)}")
    if not bool(((labels == 0) | (labels == 1)).all()):
        raise ValueError(f"labels must be 0 or 1, got values {sorted(set(labels.unique().tolist()))[:10]}")
    prior_std = _positive("prior_std", prior_std)
    logits = w @ features.T
    log_lik = (labels * logits - torch.nn.functional.softplus(logits)).sum(-1)
    log_prior = -0.5 * (w / prior_std).pow(2).sum(-1) - w.shape[-1] * (math.log(prior_std) + 0.5 * LOG_2PI)
    return log_lik + log_prior


@dataclass(frozen=True)
class GridPosterior:
    """A 2-D posterior tabulated on a grid: axes, normalized log density, moments, log evidence, edge mass."""

    w1: torch.Tensor
    w2: torch.Tensor
    log_density: torch.Tensor  # (len(w2), len(w1)): rows follow w2, columns follow w1
    mean: torch.Tensor
    cov: torch.Tensor
    log_evidence: float
    edge_mass: float


def logistic_grid_posterior(features: torch.Tensor, labels: torch.Tensor, prior_std: float = 1.0,
                            limits: tuple[tuple[float, float], tuple[float, float]] = ((-4, 4), (-4, 4)),
                            size: int = 301) -> GridPosterior:
    """p(w | X, y) for w ∈ ℝ² on a size×size grid: p ∝ exp(log joint), normalized by the Riemann sum."""
    _count("size", size, 3)
    features = _tensor("features", features, 2)
    if features.shape[1] != 2:
        raise ValueError(f"features must have shape (N, 2) for a 2-D grid, got {tuple(features.shape)}")
    try:
        (lo1, hi1), (lo2, hi2) = ((_finite("limits", lo), _finite("limits", hi)) for lo, hi in limits)
    except (TypeError, ValueError):
        raise ValueError(f"limits must be ((lo, hi), (lo, hi)) of finite numbers, got {limits!r}") from None
    if not (lo1 < hi1 and lo2 < hi2):
        raise ValueError(f"limits must be ((lo, hi), (lo, hi)) with lo < hi, got {limits!r}")
    w1 = torch.linspace(lo1, hi1, size, dtype=torch.float64)
    w2 = torch.linspace(lo2, hi2, size, dtype=torch.float64)
    grid = torch.stack(torch.meshgrid(w2, w1, indexing="ij")[::-1], dim=-1)  # (size, size, 2) with [..., 0] = w1
    log_joint = torch.cat([logistic_log_joint(row, features.double(), labels.double(), prior_std) for row in grid]
                          ).reshape(size, size)
    cell = float((w1[1] - w1[0]) * (w2[1] - w2[0]))
    log_evidence = float(torch.logsumexp(log_joint.flatten(), 0)) + math.log(cell)
    log_density = log_joint - log_evidence
    prob = torch.exp(log_density) * cell
    points = grid.reshape(-1, 2)
    mean = (prob.reshape(-1, 1) * points).sum(0)
    centred = points - mean
    cov = (prob.reshape(-1, 1, 1) * centred[:, :, None] * centred[:, None, :]).sum(0)
    edge = torch.ones_like(prob, dtype=torch.bool)
    edge[1:-1, 1:-1] = False
    return GridPosterior(w1, w2, log_density, mean, cov, log_evidence, float(prob[edge].sum()))


# ---------------------------------------------------------------- Poisson–Gamma (the ADVI example)


def sample_poisson(n: int, rate: float, seed: int = 0) -> torch.Tensor:
    """n counts y_i ~ Poisson(rate), float64, from a generator seeded with `seed`."""
    _count("n", n)
    rate = _positive("rate", rate)
    if rate > MAX_POISSON_RATE:
        raise ValueError(f"rate must be at most {MAX_POISSON_RATE:g} (larger counts overflow torch.poisson), "
                         f"got {rate!r}")
    generator = torch.Generator().manual_seed(validate.seed(seed))
    return torch.poisson(torch.full((n,), rate, dtype=torch.float64), generator=generator)


def poisson_gamma_posterior(counts: torch.Tensor, a0: float, b0: float) -> tuple[float, float]:
    """Rate lambda ~ Gamma(a0, rate b0), y_i ~ Poisson(lambda) ⇒ lambda | y ~ Gamma(a0 + Σy, b0 + N): (shape, rate)."""
    counts = _tensor("counts", counts, 1)
    if len(counts) == 0 or (counts < 0).any() or (counts != counts.round()).any():
        raise ValueError("counts must be a non-empty 1-D tensor of non-negative integers")
    return _positive("a0", a0) + float(counts.sum()), _positive("b0", b0) + len(counts)


def poisson_gamma_log_joint_log_rate(zeta: torch.Tensor, counts: torch.Tensor, a0: float, b0: float,
                                     jacobian: bool = True) -> torch.Tensor:
    """ADVI target in ζ = log λ: Σ_i log Poisson(y_i; e^ζ) + log Gamma(e^ζ; a0, b0) + ζ (log-Jacobian), elementwise."""
    zeta, counts = _tensor("zeta", zeta), _tensor("counts", counts, 1)
    a0, b0 = _positive("a0", a0), _positive("b0", b0)
    rate = torch.exp(zeta)
    total, n = counts.sum(), len(counts)
    log_lik = total * zeta - n * rate - torch.lgamma(counts + 1).sum()
    log_prior = a0 * math.log(b0) - math.lgamma(a0) + (a0 - 1) * zeta - b0 * rate
    return log_lik + log_prior + (zeta if jacobian else 0.0)


# ---------------------------------------------------------------- probabilistic PCA


@dataclass(frozen=True)
class PPCA:
    """x = W z + mu + eps, z ~ N(0, I_m), eps ~ N(0, sigma2·I_n): W (n, m), mu (n,), sigma2 > 0."""

    W: torch.Tensor
    mu: torch.Tensor
    sigma2: float

    def __post_init__(self) -> None:
        _tensor("W", self.W, 2)
        _tensor("mu", self.mu, 1)
        if self.W.shape[0] != len(self.mu):
            raise ValueError(f"W must have shape (n, m) with n = len(mu) = {len(self.mu)}, got {tuple(self.W.shape)}")
        _positive("sigma2", self.sigma2)

    @property
    def m(self) -> int:
        return self.W.shape[1]

    @property
    def n(self) -> int:
        return self.W.shape[0]


def ppca_fit(x: torch.Tensor, m: int) -> PPCA:
    """Maximum-likelihood PPCA (Tipping & Bishop): W = U_m (Λ_m − σ²I)^½, σ² = mean of the discarded eigenvalues."""
    x = _tensor("x", x, 2)
    _count("m", m)
    if not m < x.shape[1]:
        raise ValueError(f"m must be smaller than the data dimension {x.shape[1]}, got {m}")
    x64 = x.double()
    mu = x64.mean(0)
    cov = (x64 - mu).T @ (x64 - mu) / len(x64)
    eigenvalues, eigenvectors = torch.linalg.eigh(cov)
    eigenvalues, eigenvectors = eigenvalues.flip(0), eigenvectors.flip(1)
    top = eigenvectors[:, :m]
    top = top * torch.from_numpy(component_signs(top.T))  # largest entry of each column positive: same W on any CPU
    sigma2 = float(eigenvalues[m:].clamp_min(0).mean())
    W = top * (eigenvalues[:m] - sigma2).clamp_min(0).sqrt()
    return PPCA(W.to(x.dtype), mu.to(x.dtype), sigma2)


def _ppca_x(x, model: PPCA) -> torch.Tensor:
    x = _tensor("x", x, 2)
    if x.shape[1] != model.n:
        raise ValueError(f"x must have shape (N, {model.n}) for this model, got {tuple(x.shape)}")
    return x


def ppca_posterior(x: torch.Tensor, model: PPCA) -> tuple[torch.Tensor, torch.Tensor]:
    """p(z | x) = N(M⁻¹Wᵀ(x − mu), σ² M⁻¹) with M = WᵀW + σ²I: (means (N, m), the shared covariance (m, m))."""
    x = _ppca_x(x, model)
    M = model.W.T @ model.W + model.sigma2 * torch.eye(model.m, dtype=model.W.dtype)
    M_inv = torch.linalg.inv(M)
    return (x - model.mu) @ model.W @ M_inv.T, model.sigma2 * M_inv


def ppca_log_marginal(x: torch.Tensor, model: PPCA) -> torch.Tensor:
    """log p(x) = log N(x; mu, WWᵀ + σ²I), by the Woodbury identity and the determinant lemma; shape (N,)."""
    x = _ppca_x(x, model)
    s2 = model.sigma2
    M = model.W.T @ model.W + s2 * torch.eye(model.m, dtype=model.W.dtype)
    centred = x - model.mu
    projected = centred @ model.W  # (N, m)
    quad = (centred.pow(2).sum(1) - (projected @ torch.linalg.inv(M) * projected).sum(1)) / s2
    log_det = (model.n - model.m) * math.log(s2) + torch.logdet(M)
    return -0.5 * (model.n * LOG_2PI + log_det + quad)


def ppca_elbo(x: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor, model: PPCA) -> torch.Tensor:
    """ELBO of q(z) = N(mean, diag exp(logvar)), exact: −n/2 ln 2πσ² − (‖x−mu−W·mean‖² + Σ_j s_j²‖W_j‖²)/(2σ²) − KL."""
    x = _ppca_x(x, model)
    mean, logvar = _tensor("mean", mean, 2), _tensor("logvar", logvar, (1, 2))
    if mean.shape != (len(x), model.m) or logvar.shape[-1] != model.m:
        raise ValueError(f"mean must be (N, m) = ({len(x)}, {model.m}) and logvar (..., {model.m}), got "
                         f"{tuple(mean.shape)} and {tuple(logvar.shape)}")
    s2 = model.sigma2
    residual = (x - model.mu - mean @ model.W.T).pow(2).sum(1)
    spread = (logvar.exp() * model.W.pow(2).sum(0)).sum(-1)
    expected_log_lik = -0.5 * model.n * (LOG_2PI + math.log(s2)) - 0.5 * (residual + spread) / s2
    kl = 0.5 * (logvar.exp() + mean.pow(2) - 1 - logvar).sum(-1)
    return expected_log_lik - kl


def sample_ppca(n_samples: int, model: PPCA, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(x, z): z ~ N(0, I_m), x = W z + mu + sqrt(σ²)·eps, from a generator seeded with `seed`."""
    _count("n_samples", n_samples)
    generator = torch.Generator().manual_seed(validate.seed(seed))
    dtype = model.W.dtype
    z = torch.randn(n_samples, model.m, generator=generator, dtype=dtype)
    noise = torch.randn(n_samples, model.n, generator=generator, dtype=dtype)
    return z @ model.W.T + model.mu + math.sqrt(model.sigma2) * noise, z


# ---------------------------------------------------------------- SVI


def minibatch_elbo(elbo_per_point: torch.Tensor, n_total: int) -> torch.Tensor:
    """SVI estimate of the full-data ELBO Σ_{n=1}^{N} ELBO_n from a minibatch B: (N/|B|) Σ_{n∈B} ELBO_n."""
    elbo_per_point = _tensor("elbo_per_point", elbo_per_point, 1)
    _count("n_total", n_total)
    if len(elbo_per_point) == 0 or len(elbo_per_point) > n_total:
        raise ValueError(f"the minibatch must hold between 1 and n_total = {n_total} terms, "
                         f"got {len(elbo_per_point)}")
    return n_total / len(elbo_per_point) * elbo_per_point.sum()

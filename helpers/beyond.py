"""Notebook 07's levers, tested: the β-weighted loss, rate and distortion, active units, the importance-weighted
bound from one matrix of log-weights, a Gaussian decoder with a learned variance, and a conditional VAE.

Conventions as in `helpers.objectives`: per-example quantities have shape (N,), nats, sums over the last dimension.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from helpers import validate
from helpers.models import VAE, _check_dim, mlp, reparameterize
from helpers.objectives import _iwae_log_weights, bernoulli_log_prob, gaussian_log_prob, kl_normal

__all__ = [
    "beta_vae_loss",
    "make_beta_loss",
    "rate_distortion",
    "posterior_means",
    "ACTIVE_VARIANCE",
    "unit_activity",
    "active_mask",
    "active_units",
    "latent_traversal",
    "log_importance_weights",
    "iwae_from_log_weights",
    "GaussianDecoderVAE",
    "gaussian_elbo_terms",
    "gaussian_vae_loss",
    "one_hot",
    "ConditionalVAE",
    "cvae_loss",
    "free_bits_kl",
    "make_free_bits_loss",
    "elbo_of_q",
    "optimize_local_q",
]

BetaLike = float | Callable[[], float]


def _check_beta(beta) -> float:
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not beta >= 0 or math.isinf(beta):
        raise ValueError(f"beta must be a non-negative finite number, got {beta!r}")
    return float(beta)


def _check_2d(name: str, value) -> torch.Tensor:
    if not isinstance(value, torch.Tensor) or not value.is_floating_point():
        raise TypeError(f"{name} must be a floating-point torch.Tensor, got {type(value).__name__}")
    if value.dim() != 2 or 0 in value.shape:
        raise ValueError(f"{name} must have shape (N, d) with N, d >= 1, got {tuple(value.shape)}")
    return validate.finite(name, value)


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


# ---------------------------------------------------------------- β-VAE: loss, rate and distortion


def beta_vae_loss(x: torch.Tensor, logits: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
                  beta: float = 1.0) -> torch.Tensor:
    """Batch mean of −log p_θ(x|z) + β·KL(q(z|x) || N(0, I)): the negative β-ELBO, a scalar."""
    beta = _check_beta(beta)
    return (-bernoulli_log_prob(x, logits) + beta * kl_normal(mu, logvar)).mean()


def make_beta_loss(beta: BetaLike) -> Callable[[nn.Module, torch.Tensor], torch.Tensor]:
    """A `fit` loss for a Bernoulli VAE: β a number, or a function of no arguments read each step (warm-up)."""
    if not callable(beta):
        _check_beta(beta)

    def loss(model: nn.Module, batch: torch.Tensor) -> torch.Tensor:
        logits, mu, logvar = model(batch)
        return beta_vae_loss(batch, logits, mu, logvar, beta() if callable(beta) else beta)

    return loss


@torch.no_grad()
def rate_distortion(model: nn.Module, x: torch.Tensor, batch_size: int = 500) -> tuple[float, float]:
    """(rate, distortion) in nats: mean KL(q(z|x) || p(z)) and mean −E_q[log p_θ(x|z)] (one z per x).

    Works for `VAE` (Bernoulli decoder) and `GaussianDecoderVAE`; the model is put in eval mode.
    """
    x = _check_2d("x", x)
    batch_size = validate.batch_size(batch_size)
    model.eval()
    rate = distortion = 0.0
    for batch in x.split(batch_size):
        batch = batch.to(_device(model))
        if isinstance(model, GaussianDecoderVAE):
            log_lik, kl = gaussian_elbo_terms(model, batch)
        else:
            logits, mu, logvar = model(batch)
            log_lik, kl = bernoulli_log_prob(batch, logits), kl_normal(mu, logvar)
        rate += float(kl.sum())
        distortion -= float(log_lik.sum())
    return rate / len(x), distortion / len(x)


# ---------------------------------------------------------------- posterior collapse: active units


@torch.no_grad()
def posterior_means(model: nn.Module, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """E_q[z|x] = mu(x) for every row of x, shape (N, m)."""
    x = _check_2d("x", x)
    batch_size = validate.batch_size(batch_size)
    model.eval()
    return torch.cat([model.encode(batch.to(_device(model)))[0] for batch in x.split(batch_size)]).cpu()


# The series' one definition of an active unit (notebooks 06 and 07): Burda et al. (2016), unit j is active when
# A_j = Var_x(E_q[z_j|x]) > 0.01. It asks whether the code of unit j depends on x, the literature's standard; the KL a
# unit carries (`helpers.widgets.kl_per_dimension`) is another quantity, "KL per unit", and is not used to count.
ACTIVE_VARIANCE = 0.01


def unit_activity(mu: torch.Tensor) -> torch.Tensor:
    """A_j = Cov_x(E_q[z_j|x]): the variance across examples (dim 0) of each posterior mean, shape (m,)."""
    mu = _check_2d("mu", mu)
    if len(mu) < 2:
        raise ValueError(f"mu needs at least 2 rows (examples) to have a variance, got {len(mu)}")
    return mu.var(dim=0)


def active_mask(mu: torch.Tensor, threshold: float = ACTIVE_VARIANCE) -> torch.Tensor:
    """Boolean mask (m,) of active units: Var_x(E_q[z_j|x]) > threshold (Burda et al., 2016)."""
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not threshold > 0:
        raise ValueError(f"threshold must be a positive number (a variance), got {threshold!r}")
    return unit_activity(mu) > threshold


def active_units(model: nn.Module, x: torch.Tensor, threshold: float = ACTIVE_VARIANCE) -> int:
    """How many latent dimensions have Var_x(E_q[z_j|x]) > threshold over the examples x."""
    return int(active_mask(posterior_means(model, x), threshold).sum())


@torch.no_grad()
def latent_traversal(model: nn.Module, z: torch.Tensor, dim: int, values: Sequence[float]) -> torch.Tensor:
    """Decoded mean images sigmoid(g(z')) with z' = z except z'_dim = v, for each v in values: (len(values), n)."""
    if not isinstance(z, torch.Tensor) or z.dim() != 1:
        raise ValueError(f"z must be a 1-D tensor (one latent point), got {getattr(z, 'shape', z)!r}")
    if not isinstance(dim, int) or isinstance(dim, bool) or not 0 <= dim < len(z):
        raise ValueError(f"dim must be an int in [0, {len(z)}), got {dim!r}")
    values = torch.as_tensor(list(values), dtype=z.dtype)
    if values.numel() == 0:
        raise ValueError("values must hold at least one number")
    grid = z.repeat(len(values), 1)
    grid[:, dim] = values
    model.eval()
    return torch.sigmoid(model.decode(grid.to(_device(model)))).cpu()


# ---------------------------------------------------------------- tighter bounds: IWAE from one weight matrix


@torch.no_grad()
def log_importance_weights(model: VAE, x: torch.Tensor, n_samples: int, max_elements: int = 2**24,
                           proposal: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """log w_s = log p_θ(x, z_s) − log q(z_s|x) with z_s ~ q(z|x), shape (n_samples, N), for a Bernoulli VAE.

    q is the encoder's Gaussian, or `proposal` = (mu, logvar), each (N, m): any diagonal Gaussian per example, such
    as optimize_local_q's. Every proposal gives a lower bound L_K ≤ log p_θ(x); the closer it is to p_θ(z|x), the
    fewer samples L_K needs to come near log p_θ(x).
    """
    x = _check_2d("x", x)
    _check_dim("n_samples", n_samples)
    model.eval()
    x = x.to(_device(model))
    if proposal is not None:
        proposal = _check_proposal(model, x, proposal)
    per_chunk = max(1, max_elements // (len(x) * x.shape[1]))
    parts = [_iwae_log_weights(model, x, min(per_chunk, n_samples - start), proposal)
             for start in range(0, n_samples, per_chunk)]
    return torch.cat(parts).cpu()


def _check_proposal(model: VAE, x: torch.Tensor, proposal) -> tuple[torch.Tensor, torch.Tensor]:
    """The proposal's (mu, logvar) on x's device, each checked to be finite and of shape (N, m); x in [0, 1]."""
    validate.unit_interval("x", x)  # the encoder, which would check x, is not called
    if x.shape[1] != model.input_dim:
        raise ValueError(f"x must have {model.input_dim} pixels per row for this model, got {x.shape[1]}")
    if not isinstance(proposal, (tuple, list)) or len(proposal) != 2:
        raise TypeError(f"proposal must be a pair (mu, logvar), got {type(proposal).__name__}")
    expected = (len(x), model.latent_dim)
    checked = []
    for name, value in zip(("proposal mu", "proposal logvar"), proposal):
        value = _check_2d(name, value)
        if tuple(value.shape) != expected:
            raise ValueError(f"{name} must have shape {expected} (one Gaussian per example of x), "
                             f"got {tuple(value.shape)}")
        checked.append(value.to(x.device, x.dtype))
    return checked[0], checked[1]


def iwae_from_log_weights(log_w: torch.Tensor, k: int) -> torch.Tensor:
    """L_K per example: split the S samples into S/K blocks of K, average log((1/K) Σ_block w) over blocks; (N,)."""
    if not isinstance(log_w, torch.Tensor) or log_w.dim() != 2:
        raise ValueError(f"log_w must be a 2-D tensor (n_samples, N), got {getattr(log_w, 'shape', log_w)!r}")
    validate.finite("log_w", log_w)
    _check_dim("k", k)
    if len(log_w) % k:
        raise ValueError(f"k must divide the number of samples {len(log_w)}, got k={k}")
    blocks = log_w.reshape(len(log_w) // k, k, log_w.shape[1])
    return (torch.logsumexp(blocks, dim=1) - math.log(k)).mean(dim=0)


# ---------------------------------------------------------------- likelihood choice: Gaussian decoder


class GaussianDecoderVAE(VAE):
    """p_θ(x|z) = N(sigmoid(g(z)), diag σ²) on grey levels, σ² learned per pixel with a floor σ ≥ min_std."""

    def __init__(self, latent_dim: int = 2, hidden: Sequence[int] = (400,), input_dim: int = 784,
                 activation: str = "relu", min_std: float = 0.01, init_std: float = 0.3) -> None:
        super().__init__(latent_dim, hidden, input_dim, activation)
        if isinstance(min_std, bool) or not isinstance(min_std, (int, float)) or not 0 < min_std < 1:
            raise ValueError(f"min_std must be a number in (0, 1), got {min_std!r}")
        if isinstance(init_std, bool) or not isinstance(init_std, (int, float)) or not min_std < init_std:
            raise ValueError(f"init_std must be a number above min_std={min_std}, got {init_std!r}")
        self.min_std, self.init_std = float(min_std), float(init_std)
        # softplus(raw) = log(init_std² / min_std²) at the start, so σ begins at init_std everywhere
        excess = 2 * math.log(init_std / min_std)
        self.raw_logvar = nn.Parameter(torch.full((input_dim,), excess + math.log(-math.expm1(-excess))))

    def config(self) -> dict:
        return {**super().config(), "min_std": self.min_std, "init_std": self.init_std}

    def decoder_logvar(self) -> torch.Tensor:
        """log σ² per pixel = log(min_std²) + softplus(raw): never below the floor, shape (input_dim,)."""
        return 2 * math.log(self.min_std) + F.softplus(self.raw_logvar)

    @torch.no_grad()
    def sample_x(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Full draws x ~ p_θ(x|z), z ~ N(0, I) (mean plus pixel noise, not clipped), shape (n, input_dim)."""
        z = torch.randn(_check_dim("n", n), self.latent_dim, generator=generator).to(_device(self))
        mean = torch.sigmoid(self.decode(z))
        noise = torch.randn(mean.shape, generator=generator).to(mean.device)
        return mean + torch.exp(0.5 * self.decoder_logvar()) * noise


def gaussian_elbo_terms(model: GaussianDecoderVAE, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(log N(x; sigmoid(g(z)), diag σ²) with one z ~ q(z|x), KL(q(z|x) || N(0, I))), each of shape (N,)."""
    if not isinstance(model, GaussianDecoderVAE):
        raise TypeError(f"model must be a GaussianDecoderVAE, got {type(model).__name__}")
    logits, mu, logvar = model(x)
    return gaussian_log_prob(x, torch.sigmoid(logits), model.decoder_logvar()), kl_normal(mu, logvar)


def gaussian_vae_loss(model: GaussianDecoderVAE, batch: torch.Tensor) -> torch.Tensor:
    """Batch mean of the negative ELBO with the Gaussian decoder (a `fit` loss)."""
    log_lik, kl = gaussian_elbo_terms(model, batch)
    return (kl - log_lik).mean()


# ---------------------------------------------------------------- conditional VAE


def one_hot(y: torch.Tensor, n_classes: int = 10) -> torch.Tensor:
    """Labels (N,) int64 → float one-hot (N, n_classes)."""
    if not isinstance(y, torch.Tensor) or y.dtype != torch.int64 or y.dim() != 1:
        raise TypeError(f"y must be a 1-D int64 tensor of labels, got {getattr(y, 'dtype', type(y).__name__)}")
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= n_classes):
        raise ValueError(f"labels must lie in [0, {n_classes}), got values in [{int(y.min())}, {int(y.max())}]")
    return F.one_hot(y, n_classes).float()


class ConditionalVAE(nn.Module):
    """q_φ(z|x, c) and p_θ(x|z, c) with the one-hot label c appended to the encoder's and the decoder's input."""

    def __init__(self, latent_dim: int = 2, hidden: Sequence[int] = (400,), input_dim: int = 784,
                 n_classes: int = 10, activation: str = "relu") -> None:
        super().__init__()
        self.latent_dim = _check_dim("latent_dim", latent_dim)
        self.input_dim = _check_dim("input_dim", input_dim)
        self.n_classes = _check_dim("n_classes", n_classes)
        self.encoder = mlp([input_dim + n_classes, *hidden, 2 * latent_dim], activation)
        self.decoder = mlp([latent_dim + n_classes, *reversed(tuple(hidden)), input_dim], activation)

    def _condition(self, c: torch.Tensor, n: int) -> torch.Tensor:
        if c.dtype == torch.int64:
            c = one_hot(c, self.n_classes)
        if c.shape != (n, self.n_classes):
            raise ValueError(f"c must be {n} labels or one-hot rows of width {self.n_classes}, got {tuple(c.shape)}")
        return c

    def encode(self, x: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, logvar) of q(z|x, c)."""
        if x.shape[-1] != self.input_dim:
            raise ValueError(f"x must have last dimension {self.input_dim}, got shape {tuple(x.shape)}")
        return self.encoder(torch.cat([x, self._condition(c, len(x)).to(x)], dim=-1)).chunk(2, dim=-1)

    def decode(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """Bernoulli logits of p(x|z, c)."""
        if z.shape[-1] != self.latent_dim:
            raise ValueError(f"z must have last dimension {self.latent_dim}, got shape {tuple(z.shape)}")
        return self.decoder(torch.cat([z, self._condition(c, len(z)).to(z)], dim=-1))

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(logits, mu, logvar) with one reparameterized z ~ q(z|x, c)."""
        mu, logvar = self.encode(x, c)
        return self.decode(reparameterize(mu, logvar), c), mu, logvar

    @torch.no_grad()
    def generate(self, labels: torch.Tensor, z: torch.Tensor | None = None,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Mean images sigmoid(g(z, c)) for the requested labels, z ~ N(0, I) unless given; (N, input_dim)."""
        device = _device(self)
        if z is None:
            z = torch.randn(len(labels), self.latent_dim, generator=generator)
        return torch.sigmoid(self.decode(z.to(device), labels.to(device))).cpu()


def cvae_loss(model: ConditionalVAE, batch: torch.Tensor) -> torch.Tensor:
    """Negative ELBO (batch mean) for a batch packed as [x, one-hot c] of width input_dim + n_classes."""
    if batch.shape[-1] != model.input_dim + model.n_classes:
        raise ValueError(f"batch must be [x, one-hot] of width {model.input_dim + model.n_classes}, "
                         f"got {tuple(batch.shape)}")
    x, c = batch[:, : model.input_dim], batch[:, model.input_dim:]
    logits, mu, logvar = model(x, c)
    return (-bernoulli_log_prob(x, logits) + kl_normal(mu, logvar)).mean()


# ---------------------------------------------------------------- free bits and the two gaps (appended for notebook 07)


def _check_lam(lam) -> float:
    if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not 0 <= lam < math.inf:
        raise ValueError(f"lam must be a non-negative finite number of nats per unit, got {lam!r}")
    return float(lam)


def free_bits_kl(mu: torch.Tensor, logvar: torch.Tensor, lam: float) -> torch.Tensor:
    """Σ_j max(λ, mean over the batch of KL(q(z_j|x) || N(0, 1))): the rate with λ free nats per unit, a scalar.

    Free bits (Kingma et al., 2016, one group per unit): a unit whose batch-average KL is below λ is not charged
    more than λ, so the rate gives no gradient to push it further towards the prior.
    """
    mu, logvar = _check_2d("mu", mu), _check_2d("logvar", logvar)
    if mu.shape != logvar.shape:
        raise ValueError(f"mu and logvar must have the same shape, got {tuple(mu.shape)} and {tuple(logvar.shape)}")
    lam = _check_lam(lam)
    per_unit = 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).mean(dim=0)
    return per_unit.clamp_min(lam).sum()


def make_free_bits_loss(lam: float) -> Callable[[nn.Module, torch.Tensor], torch.Tensor]:
    """A `fit` loss for a Bernoulli VAE: mean −log p_θ(x|z) + `free_bits_kl(mu, logvar, lam)`."""
    lam = _check_lam(lam)

    def loss(model: nn.Module, batch: torch.Tensor) -> torch.Tensor:
        logits, mu, logvar = model(batch)
        return -bernoulli_log_prob(batch, logits).mean() + free_bits_kl(mu, logvar, lam)

    return loss


def elbo_of_q(model: VAE, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
              eps: torch.Tensor) -> torch.Tensor:
    """ELBO of q = N(mu, diag exp(logvar)) per example, with the noise eps (S, N, m) and the closed-form KL: (S, N)."""
    for name, value in (("mu", mu), ("logvar", logvar), ("eps", eps)):
        validate.finite(name, value)
    return _elbo_of_q(model, x, mu, logvar, eps)


def _elbo_of_q(model: VAE, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
               eps: torch.Tensor) -> torch.Tensor:
    """elbo_of_q on checked inputs (optimize_local_q's steps: its entry checked x, and mu, logvar start finite)."""
    z = mu + torch.exp(0.5 * logvar) * eps
    return bernoulli_log_prob(x, model.decode(z)) - kl_normal(mu, logvar)


def optimize_local_q(model: VAE, x: torch.Tensor, steps: int = 200, samples: int = 8, lr: float = 0.02,
                     seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-example Gaussians q_i = N(mu_i, diag σ_i²) fitted to maximize each ELBO with the decoder frozen.

    Starts from the encoder's (mu, logvar) and takes `steps` Adam steps on `samples` reparameterized draws per
    example: the non-amortized q of Cremer et al. (2018). Returns (mu, logvar), each (N, m), without gradients.
    """
    x = _check_2d("x", x)
    for name, value in (("steps", steps), ("samples", samples)):
        _check_dim(name, value)
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr < 1:
        raise ValueError(f"lr must be a number in (0, 1), got {lr!r}")
    seed = validate.seed(seed)
    model.eval()
    x = x.to(_device(model))
    with torch.no_grad():
        start_mu, start_logvar = model.encode(x)
    mu, logvar = start_mu.clone().requires_grad_(), start_logvar.clone().requires_grad_()
    optimizer = torch.optim.Adam([mu, logvar], lr=lr)
    generator = torch.Generator(device=x.device).manual_seed(seed)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    try:
        for _ in range(steps):
            eps = torch.randn((samples, *mu.shape), generator=generator, device=x.device)
            loss = -_elbo_of_q(model, x, mu, logvar, eps).mean(dim=0).sum()  # each example's own ELBO
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    finally:
        for parameter in model.parameters():
            parameter.requires_grad_(True)
    return mu.detach(), logvar.detach()

"""The series' models: linear and MLP autoencoders, and the VAE (encoder → mu, logvar; decoder → logits)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["LinearAutoencoder", "MLPAutoencoder", "VAE", "mlp", "reparameterize"]

_ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "elu": nn.ELU, "silu": nn.SiLU}


def _check_dim(name: str, value) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def mlp(sizes: Sequence[int], activation: str = "relu") -> nn.Sequential:
    """Linear layers of the given sizes with `activation` between them (none after the last)."""
    if activation not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
    sizes = [_check_dim("layer size", s) for s in sizes]
    if len(sizes) < 2:
        raise ValueError(f"sizes needs at least an input and an output size, got {sizes}")
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(fan_in, fan_out))
        if i < len(sizes) - 2:
            layers.append(_ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """z = mu + exp(½·logvar) ⊙ ε with ε ~ N(0, I): a sample of N(mu, diag exp(logvar)) that gradients pass through."""
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


class LinearAutoencoder(nn.Module):
    """z = W_e x + b_e ∈ ℝᵐ, x̂ = W_d z + b_d ∈ ℝⁿ: no nonlinearity."""

    def __init__(self, n: int, m: int, bias: bool = True) -> None:
        super().__init__()
        self.encoder = nn.Linear(_check_dim("n", n), _check_dim("m", m), bias=bias)
        self.decoder = nn.Linear(m, n, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class MLPAutoencoder(nn.Module):
    """z = f(x) and x̂ = g(z), each an MLP; `hidden` sizes mirror between encoder and decoder."""

    def __init__(
        self, n: int, m: int, hidden: Sequence[int] = (256,), activation: str = "relu",
        sigmoid_output: bool = True,
    ) -> None:
        super().__init__()
        n, m = _check_dim("n", n), _check_dim("m", m)
        self.encoder = mlp([n, *hidden, m], activation)
        self.decoder = mlp([m, *reversed(hidden), n], activation)
        self.sigmoid_output = sigmoid_output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.decoder(self.encoder(x))
        return torch.sigmoid(out) if self.sigmoid_output else out


class VAE(nn.Module):
    """q_φ(z|x) = N(mu(x), diag exp(logvar(x))), p_θ(x|z) = Bernoulli(sigmoid(decoder(z))), p(z) = N(0, I)."""

    def __init__(
        self, latent_dim: int = 2, hidden: Sequence[int] = (400,), input_dim: int = 784,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        self.latent_dim = _check_dim("latent_dim", latent_dim)
        self.input_dim = _check_dim("input_dim", input_dim)
        self.hidden = tuple(hidden)
        self.activation = activation
        self.encoder = mlp([input_dim, *hidden, 2 * latent_dim], activation)
        self.decoder = mlp([latent_dim, *reversed(self.hidden), input_dim], activation)

    def config(self) -> dict:
        """The constructor arguments, so a saved model can be rebuilt."""
        return {"latent_dim": self.latent_dim, "hidden": list(self.hidden),
                "input_dim": self.input_dim, "activation": self.activation}

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, logvar) of q(z|x), each of shape (N, latent_dim)."""
        if x.shape[-1] != self.input_dim:
            raise ValueError(f"x must have last dimension {self.input_dim}, got shape {tuple(x.shape)}")
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        return mu, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Bernoulli logits of p(x|z), shape (..., input_dim)."""
        if z.shape[-1] != self.latent_dim:
            raise ValueError(f"z must have last dimension {self.latent_dim}, got shape {tuple(z.shape)}")
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(logits, mu, logvar) with one reparameterized z ~ q(z|x)."""
        mu, logvar = self.encode(x)
        return self.decode(reparameterize(mu, logvar)), mu, logvar

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Mean images sigmoid(decoder(z)) for n draws z ~ N(0, I), shape (n, input_dim)."""
        device = next(self.parameters()).device
        z = torch.randn(_check_dim("n", n), self.latent_dim, generator=generator).to(device)
        return torch.sigmoid(self.decode(z))

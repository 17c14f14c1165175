"""The series' models: linear and MLP autoencoders, and the VAE (encoder → mu, logvar; decoder → logits)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from helpers import validate

__all__ = ["LinearAutoencoder", "MLPAutoencoder", "VAE", "mlp", "reparameterize"]

_ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "elu": nn.ELU, "silu": nn.SiLU}


def _check_dim(name: str, value) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def _check_hidden(hidden) -> tuple[int, ...]:
    if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence):
        raise TypeError(f"hidden must be a sequence of layer sizes such as (400,) or [512, 256], got {hidden!r}")
    return tuple(_check_dim("hidden layer size", size) for size in hidden)


def _check_input(name: str, value, width: int, like: nn.Module) -> torch.Tensor:
    """A tensor of the model's dtype whose last dimension is `width`, without nan or inf: one pass (isfinite)."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__} (convert with torch.as_tensor)")
    validate.finite(name, value)
    if value.dim() == 0 or value.shape[-1] != width:
        raise ValueError(f"{name} must have last dimension {width}, got shape {tuple(value.shape)}")
    parameter = next(like.parameters(), None)
    if parameter is not None and value.dtype != parameter.dtype:
        raise TypeError(f"{name} must have the model's dtype {parameter.dtype}, got {value.dtype} "
                        f"(use {name}.to({parameter.dtype}))")
    return value


def mlp(sizes: Sequence[int], activation: str = "relu") -> nn.Sequential:
    """Linear layers of the given sizes with `activation` between them (none after the last)."""
    if not isinstance(activation, str) or activation not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence):
        raise TypeError(f"sizes must be a sequence of layer sizes, got {sizes!r}")
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
    for name, value in (("mu", mu), ("logvar", logvar)):
        if not isinstance(value, torch.Tensor) or not value.is_floating_point():
            raise TypeError(f"{name} must be a floating-point torch.Tensor, got {type(value).__name__}")
    if mu.shape != logvar.shape:
        raise ValueError(f"mu and logvar must have the same shape, got mu {tuple(mu.shape)} and logvar "
                         f"{tuple(logvar.shape)}")
    validate.finite("mu", mu)
    validate.finite("logvar", logvar)
    return _reparameterize(mu, logvar)


def _reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """reparameterize on checked tensors (VAE.forward: the encoder's outputs of a checked x)."""
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


class LinearAutoencoder(nn.Module):
    """z = W_e x + b_e ∈ ℝᵐ, x̂ = W_d z + b_d ∈ ℝⁿ: no nonlinearity."""

    def __init__(self, n: int, m: int, bias: bool = True) -> None:
        super().__init__()
        if not isinstance(bias, bool):
            raise TypeError(f"bias must be True or False, got {bias!r}")
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
        hidden = _check_hidden(hidden)
        if not isinstance(sigmoid_output, bool):
            raise TypeError(f"sigmoid_output must be True or False, got {sigmoid_output!r}")
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
        self.hidden = _check_hidden(hidden)
        self.activation = activation
        self.encoder = mlp([input_dim, *self.hidden, 2 * latent_dim], activation)
        self.decoder = mlp([latent_dim, *reversed(self.hidden), input_dim], activation)

    def config(self) -> dict:
        """The constructor arguments, so a saved model can be rebuilt."""
        return {"latent_dim": self.latent_dim, "hidden": list(self.hidden),
                "input_dim": self.input_dim, "activation": self.activation}

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, logvar) of q(z|x), each of shape (N, latent_dim)."""
        _check_input("x", x, self.input_dim, self)
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        return mu, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Bernoulli logits of p(x|z), shape (..., input_dim)."""
        _check_input("z", z, self.latent_dim, self)
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(logits, mu, logvar) with one reparameterized z ~ q(z|x)."""
        mu, logvar = self.encode(x)  # x checked here; what the network computes from it needs no second check
        return self.decoder(_reparameterize(mu, logvar)), mu, logvar

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Mean images sigmoid(decoder(z)) for n draws z ~ N(0, I), shape (n, input_dim)."""
        device = next(self.parameters()).device
        z = torch.randn(_check_dim("n", n), self.latent_dim, generator=generator).to(device)
        return torch.sigmoid(self.decode(z))

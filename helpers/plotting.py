"""Plots the notebooks share: image grids, latent scatter, decoded manifold, training curves."""

from __future__ import annotations

from collections.abc import Callable
from statistics import NormalDist

import matplotlib.pyplot as plt
import numpy as np
import torch

from helpers import validate

__all__ = ["image_grid", "latent_scatter", "manifold_grid", "training_curves", "to_numpy_images", "use_series_style",
           "SERIES_STYLE"]

DIGIT_CMAP = "tab10"
TILE_INCHES = 0.75  # one 28-px digit drawn ~90 px wide at the series' 120 dpi
MAX_GRID_INCHES = 10.0


def to_numpy_images(images) -> np.ndarray:
    """(N, 784) or (N, 28, 28) tensor/array → float array (N, 28, 28); N ≥ 1, finite values."""
    images = validate.real_array("images", images)  # complex: TypeError, never cast to real; nan, inf: ValueError
    if images.ndim == 2 and images.shape[1] == 784:
        images = images.reshape(-1, 28, 28)
    if images.ndim != 3:
        raise ValueError(f"images must have shape (N, 784) or (N, H, W), got {images.shape}")
    if 0 in images.shape:
        raise ValueError(f"images must hold at least one non-empty image, got shape {images.shape}")
    if not np.isfinite(images).all():
        raise ValueError(f"images must hold finite values, got {int((~np.isfinite(images)).sum())} nan or inf "
                         "pixel(s) (a diverged model?)")
    return images


def image_grid(images, ncols: int = 8, ax=None, title: str | None = None,
               cmap: str = "gray", vmin: float | None = 0.0, vmax: float | None = 1.0, pad: int = 1):
    """Tile N images into one picture with `ncols` columns on `ax` (created if None); returns ax.

    The values must lie in [vmin, vmax] (default [0, 1], pixel intensities): pass vmin and vmax to draw other data
    (e.g. signed components with vmin=-1, vmax=1), or None for matplotlib's own scaling."""
    tiles = to_numpy_images(images)
    if vmin is not None and vmax is not None:
        validate.unit_interval("images", tiles, validate.number("vmin", vmin), validate.number("vmax", vmax),
                               what="the colour scale [vmin, vmax]; pass vmin/vmax to draw other data")
    if not isinstance(ncols, int) or isinstance(ncols, bool) or ncols < 1:
        raise ValueError(f"ncols must be a positive int, got {ncols!r}")
    n, h, w = tiles.shape
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    fill = np.nan
    canvas = np.full((nrows * (h + pad) - pad, ncols * (w + pad) - pad), fill)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, ncols)
        canvas[r * (h + pad): r * (h + pad) + h, c * (w + pad): c * (w + pad) + w] = tile
    if ax is None:
        scale = min(TILE_INCHES, MAX_GRID_INCHES / ncols)
        _, ax = plt.subplots(figsize=(ncols * scale, nrows * scale))
    cm = plt.get_cmap(cmap).with_extremes(bad="white")
    ax.imshow(canvas, cmap=cm, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def latent_scatter(z, labels, ax=None, title: str | None = None, s: float = 6.0):
    """Scatter the first two latent coordinates coloured by digit label; returns ax."""
    z = z.detach().cpu().numpy() if isinstance(z, torch.Tensor) else np.asarray(z)
    validate.finite("z", z)  # complex: TypeError
    labels = labels.cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if z.ndim != 2 or z.shape[1] < 2 or len(z) != len(labels) or not len(z):
        raise ValueError(f"z must be (N, >=2) with N >= 1 labels, got {z.shape} and {labels.shape}")
    if not np.issubdtype(z.dtype, np.number) or not np.isfinite(z).all():
        raise ValueError("z must hold finite numbers (a nan code would silently vanish from the scatter)")
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4.5))
    points = ax.scatter(z[:, 0], z[:, 1], c=labels, cmap=DIGIT_CMAP, s=s, vmin=-0.5, vmax=9.5)
    ax.figure.colorbar(points, ax=ax, ticks=range(10), label="digit")
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    if title:
        ax.set_title(title)
    return ax


def manifold_grid(decode: Callable[[torch.Tensor], torch.Tensor], n: int = 15, ax=None,
                  title: str | None = None, edge: float = 0.05):
    """Decode a 2-D grid of z placed at standard-normal quantiles in [edge, 1−edge] (Kingma & Welling, Fig. 4)."""
    if not callable(decode):
        raise TypeError(f"decode must be a function from z (n², 2) to images, got {type(decode).__name__}")
    if not isinstance(n, int) or isinstance(n, bool) or n < 2:
        raise ValueError(f"n must be an int >= 2, got {n!r}")
    if isinstance(edge, bool) or not isinstance(edge, (int, float)) or not 0 < edge < 0.5:
        raise ValueError(f"edge must be a quantile in (0, 0.5) (the grid spans [edge, 1 − edge]), got {edge!r}")
    quantiles = np.linspace(edge, 1 - edge, n)
    values = np.array([NormalDist().inv_cdf(q) for q in quantiles])
    z1, z2 = np.meshgrid(values, values[::-1])
    z = torch.tensor(np.stack([z1.ravel(), z2.ravel()], axis=1), dtype=torch.float32)
    with torch.no_grad():
        images = decode(z)
    return image_grid(images, ncols=n, ax=ax, title=title, pad=0)


def training_curves(history: dict, ax=None, title: str | None = None, ylabel: str = "loss"):
    """Train (and validation, if recorded) loss per epoch; returns ax."""
    if not isinstance(history, dict):
        raise TypeError(f"history must be the dict `fit` returns, got {type(history).__name__}")
    if "train_loss" not in history:
        raise ValueError(f"history needs a 'train_loss' entry, got keys {sorted(history)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5))
    epochs = history.get("epoch") or list(range(1, len(history["train_loss"]) + 1))
    ax.plot(epochs, history["train_loss"], label="train")
    if history.get("valid_loss"):
        ax.plot(epochs[: len(history["valid_loss"])], history["valid_loss"], label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.legend()
    if title:
        ax.set_title(title)
    return ax


SERIES_STYLE = {
    "figure.dpi": 120,  # legible on high-DPI screens; notebooks stay well under 3 MB
    "savefig.dpi": 144,
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": plt.cycler(color=["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]),
    "legend.frameon": False,
    "image.cmap": "gray",
}


def use_series_style() -> None:
    """Apply the series' matplotlib style (fonts, colours, 120 dpi) to every later figure."""
    plt.rcParams.update(SERIES_STYLE)

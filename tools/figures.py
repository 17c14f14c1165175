"""The blog post's figures and the series' key figures, drawn with matplotlib from real computations.

    python -m tools.figures [--out images/]

Writes `bp-autoencoder-deterministic.png`, `bp-VI.png`, `bp-VAE.png` (the three pictures the blog post shows) and
`series-*.png`. Every figure is 7 in wide at 200 dpi (1,400 px: the blog's 700 px column at 2× for high-DPI
screens), in the series' style, and deterministic: fixed seeds and one CPU thread, so a test can redraw them and
compare pixels with the committed files.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display needed

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Polygon  # noqa: E402

from helpers.plotting import SERIES_STYLE, image_grid, latent_scatter, manifold_grid  # noqa: E402

__all__ = ["FIGURES", "draw_all", "main"]

IMAGES = Path(__file__).resolve().parent.parent / "images"
WIDTH_IN, DPI = 7.0, 200
ENCODER_COLOUR, DECODER_COLOUR, LATENT_COLOUR, NOISE_COLOUR = "#c6dbef", "#fdd0a2", "#d9f0d3", "#f2f2f2"
LOSS_COLOUR = "#d62728"
SAMPLE_INDEX = 7  # the test digit shown at the input of the diagrams


# ---------------------------------------------------------------- shared drawing pieces


def _canvas(height_in: float):
    fig = plt.figure(figsize=(WIDTH_IN, height_in))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, 14)
    ax.set_ylim(0, 2 * height_in)
    ax.set_axis_off()
    return fig, ax


def _digit(ax, image: torch.Tensor, centre: tuple[float, float], size: float, label: str) -> None:
    x, y = centre
    ax.imshow(image.reshape(28, 28).numpy(), cmap="gray_r", vmin=0, vmax=1,
              extent=(x - size / 2, x + size / 2, y - size / 2, y + size / 2), zorder=2)
    ax.add_patch(plt.Rectangle((x - size / 2, y - size / 2), size, size, fill=False, lw=1, zorder=3))
    ax.text(x, y - size / 2 - 0.25, label, ha="center", va="top", fontsize=11)


def _trapezoid(ax, x0: float, x1: float, y: float, h0: float, h1: float, colour: str, label: str) -> None:
    corners = [(x0, y - h0 / 2), (x1, y - h1 / 2), (x1, y + h1 / 2), (x0, y + h0 / 2)]
    ax.add_patch(Polygon(corners, closed=True, fc=colour, ec="black", lw=1))
    ax.text((x0 + x1) / 2, y, label, ha="center", va="center", fontsize=11)


def _box(ax, centre: tuple[float, float], w: float, h: float, colour: str, label: str, fontsize: int = 11) -> None:
    x, y = centre
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.05", fc=colour, ec="black",
                                lw=1))
    ax.text(x, y, label, ha="center", va="center", fontsize=fontsize)


def _arrow(ax, start, end, colour: str = "black", style: str = "-|>", **kwargs) -> None:
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=12, color=colour, lw=1.2, **kwargs))


def _test_digit() -> torch.Tensor:
    from helpers.data import load_mnist

    x_test, _ = load_mnist("test")
    return x_test[SAMPLE_INDEX]


# ---------------------------------------------------------------- the blog's three figures


def _quick_autoencoder(m: int = 8):
    """A small MLP autoencoder fitted for a few seconds on the bundled digits (fixed seed, one thread)."""
    from helpers import seed_everything
    from helpers.data import load_mnist
    from helpers.models import MLPAutoencoder
    from helpers.training import fit

    seed_everything(0)
    x_train, _ = load_mnist("train")
    model = MLPAutoencoder(784, m, hidden=(256,))
    fit(model, lambda mod, b: (mod(b) - b).pow(2).sum(dim=1).mean(), x_train, epochs=15, batch_size=100,
        lr=2e-3, progress=False)
    return model.eval()


def autoencoder_figure() -> plt.Figure:
    """x ∈ ℝⁿ → encoder f (narrowing) → z ∈ ℝᵐ → decoder g (widening) → g(f(x)), with a real digit."""
    model, x = _quick_autoencoder(), _test_digit()
    with torch.no_grad():
        z = model.encoder(x)
        x_hat = model(x)
    fig, ax = _canvas(2.6)
    y = 2.5
    _digit(ax, x, (1.3, y), 2.0, "input $x \\in \\mathbb{R}^{n}$\n$n = 784$ pixels")
    _trapezoid(ax, 2.7, 5.4, y, 2.4, 0.9, ENCODER_COLOUR, "encoder\n$f$")
    _latent_bars(ax, z.numpy(), (7.0, y))
    _trapezoid(ax, 8.6, 11.3, y, 0.9, 2.4, DECODER_COLOUR, "decoder\n$g$")
    _digit(ax, x_hat, (12.55, y), 2.0, "reconstruction\n$g(f(x)) \\in \\mathbb{R}^{n}$")
    for start, end in (((2.35, y), (2.7, y)), ((5.4, y), (6.3, y)), ((7.7, y), (8.6, y)), ((11.3, y), (11.5, y))):
        _arrow(ax, start, end)
    ax.text(7.0, 4.55, r"trained to minimise $L(f, g) = \mathbb{E}\,\|x - g(f(x))\|_2^2$, with $m \leq n$",
            ha="center", fontsize=12)
    return fig


def _latent_bars(ax, z: np.ndarray, centre: tuple[float, float]) -> None:
    """The code z ∈ ℝᵐ as m small cells shaded by value."""
    x, y = centre
    m, cell = len(z), 0.22
    scaled = (z - z.min()) / (np.ptp(z) + 1e-9)
    for i, value in enumerate(scaled):
        top = y + m * cell / 2 - (i + 1) * cell
        ax.add_patch(plt.Rectangle((x - 0.3, top), 0.6, cell, fc=plt.cm.Greens(0.2 + 0.7 * value), ec="black",
                                   lw=0.6))
    ax.text(x, y - m * cell / 2 - 0.25, f"code $z = f(x) \\in \\mathbb{{R}}^{{m}}$\n$m = {m}$", ha="center",
            va="top", fontsize=11)


def vi_figure() -> plt.Figure:
    """A bimodal posterior, members of the Gaussian family 𝒬, the reverse-KL q* and the forward-KL fit."""
    from helpers.toy_models import bimodal_mixture, fit_forward_kl, fit_reverse_kl

    target = bimodal_mixture()
    reverse, forward = fit_reverse_kl(target), fit_forward_kl(target)
    z = torch.linspace(-6, 6, 1201, dtype=torch.float64)
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 3.4))
    ax.fill_between(z, target.log_prob(z).exp(), color="0.85", label=r"true posterior $p_\theta(z \mid x)$")
    for mu, sigma in ((-3.6, 1.2), (0.0, 1.6), (4.4, 0.9)):
        density = torch.exp(-0.5 * ((z - mu) / sigma) ** 2) / (sigma * np.sqrt(2 * np.pi))
        ax.plot(z, density, color="0.6", lw=0.8, ls=":",
                label=r"members of the family $\mathcal{Q}$" if mu == 0.0 else None)
    ax.plot(z, reverse.log_prob(z).exp(), color="#1f77b4", lw=2,
            label=rf"$q^*$ = argmin KL$(q\,\|\,p)$: mode seeking "
                  rf"($\mu$={reverse.mu:.2f}, $\sigma$={reverse.sigma:.2f})")
    ax.plot(z, forward.log_prob(z).exp(), color=LOSS_COLOUR, lw=2, ls="--",
            label=rf"argmin KL$(p\,\|\,q)$: mass covering ($\mu$={forward.mu:.2f}, $\sigma$={forward.sigma:.2f})")
    ax.set_xlabel("latent $z$")
    ax.set_ylabel("density")
    ax.set_ylim(0, 0.95)
    ax.set_title(r"Variational inference picks the $q \in \mathcal{Q}$ closest to the posterior in KL")
    ax.legend(loc="upper left", fontsize=8.5)
    fig.tight_layout()
    return fig


def vae_figure() -> plt.Figure:
    """x → encoder → (μ, σ) → z = μ + σ⊙ε (ε ~ N(0, I) a separate input) → decoder → x̂, with the two loss terms."""
    from helpers.pretrained import load

    model, x = load("vae-mnist-z2"), _best_reconstructed_digit()
    with torch.no_grad():
        mu, _ = model.encode(x[None])
        x_hat = torch.sigmoid(model.decode(mu))[0]
    fig, ax = _canvas(3.6)
    y = 3.6
    _digit(ax, x, (1.1, y), 1.7, "input $x$")
    _trapezoid(ax, 2.3, 4.3, y, 2.2, 1.1, ENCODER_COLOUR, "encoder\n$q_\\phi(z\\mid x)$")
    _box(ax, (5.2, y + 0.55), 0.8, 0.5, LATENT_COLOUR, r"$\mu$")
    _box(ax, (5.2, y - 0.55), 0.8, 0.5, LATENT_COLOUR, r"$\sigma$")
    _box(ax, (7.0, y), 1.9, 0.7, LATENT_COLOUR, r"$z = \mu + \sigma \odot \varepsilon$", fontsize=10)
    _box(ax, (7.0, y - 2.0), 1.7, 0.6, NOISE_COLOUR, r"$\varepsilon \sim \mathcal{N}(0, I)$", fontsize=10)
    _trapezoid(ax, 8.4, 10.4, y, 1.1, 2.2, DECODER_COLOUR, "decoder\n$p_\\theta(x\\mid z)$")
    _digit(ax, x_hat, (12.0, y), 1.7, r"reconstruction $\hat{x}$")
    for start, end in (((1.95, y), (2.3, y)), ((4.3, y + 0.4), (4.75, y + 0.55)), ((4.3, y - 0.4), (4.75, y - 0.55)),
                       ((5.65, y + 0.5), (6.05, y + 0.1)), ((5.65, y - 0.5), (6.05, y - 0.1)),
                       ((7.0, y - 1.7), (7.0, y - 0.4)), ((7.95, y), (8.4, y)), ((10.4, y), (11.15, y))):
        _arrow(ax, start, end)
    ax.text(6.85, y - 1.2, "noise: a separate input,\nso gradients reach $\\mu$, $\\sigma$", fontsize=8,
            va="center", ha="right", color="0.3")
    _arrow(ax, (5.2, y + 0.85), (5.2, y + 1.85), colour=LOSS_COLOUR, style="-")
    ax.text(5.2, y + 2.0, r"KL$\left(q_\phi(z\mid x)\,\|\,\mathcal{N}(0, I)\right)$" + "\nregularizer, closed form",
            color=LOSS_COLOUR, ha="center", va="bottom", fontsize=10)
    _arrow(ax, (1.1, y + 0.95), (12.0, y + 0.95), colour=LOSS_COLOUR, style="<->",
           connectionstyle="arc3,rad=-0.18")
    ax.text(10.2, y + 2.0, r"reconstruction $-\log p_\theta(x \mid z)$" + "\n(binary cross-entropy)",
            color=LOSS_COLOUR, ha="center", va="bottom", fontsize=10)
    ax.text(7.0, 0.35, r"loss $= -\mathrm{ELBO}$ = reconstruction + KL;  a real test digit, reconstructed by the "
            "shipped 2-D model", ha="center", fontsize=9)
    return fig


def _best_reconstructed_digit(candidates: int = 100) -> torch.Tensor:
    """The test digit (among the first `candidates`) that the 2-D VAE reconstructs best: a legible example."""
    from helpers.data import load_mnist
    from helpers.objectives import bernoulli_log_prob
    from helpers.pretrained import load

    model = load("vae-mnist-z2")
    x_test, _ = load_mnist("test")
    x = x_test[:candidates]
    with torch.no_grad():
        mu, _ = model.encode(x)
        fit = bernoulli_log_prob(x, model.decode(mu))
    return x[int(fit.argmax())]


# ---------------------------------------------------------------- the series' figures


def manifold_figure() -> plt.Figure:
    """The shipped z=2 VAE: test digits in latent space and the decoded manifold (Kingma & Welling, Fig. 4)."""
    from helpers.data import load_mnist
    from helpers.pretrained import load

    model = load("vae-mnist-z2")
    x_test, y_test = load_mnist("test", binarize="static")
    with torch.no_grad():
        mu, _ = model.encode(x_test)
    fig, (left, right) = plt.subplots(1, 2, figsize=(WIDTH_IN, 3.4), gridspec_kw={"width_ratios": [1.25, 1]})
    latent_scatter(mu, y_test, ax=left, title="test digits: posterior means $\\mu_\\phi(x)$", s=4)
    manifold_grid(lambda z: torch.sigmoid(model.decode(z)), n=15, ax=right, title="decoded grid of $z$")
    fig.suptitle("A 2-D VAE latent space: digits cluster, and every point decodes to a digit-like image")
    fig.tight_layout()
    return fig


def pca_components_figure() -> plt.Figure:
    """The top 16 principal components of the bundled training digits, as images."""
    from helpers.data import load_mnist
    from helpers.linear import pca

    x_train, _ = load_mnist("train")
    fit = pca(x_train, 16)  # float64, each direction's largest entry positive: the same picture on every CPU
    explained = fit.singular_values**2 / (fit.singular_values**2).sum()
    fig, (left, right) = plt.subplots(1, 2, figsize=(WIDTH_IN, 3.0), gridspec_kw={"width_ratios": [1, 1.3]})
    components = fit.components
    image_grid(components / np.abs(components).max(), ncols=8, ax=left, cmap="RdBu_r", vmin=-1, vmax=1,
               title="top 16 principal directions")
    right.plot(np.arange(1, 101), explained[:100].cumsum(), color="#1f77b4")
    right.set_xlabel("number of components $m$")
    right.set_ylabel("cumulative explained variance")
    right.set_ylim(0, 1)
    right.grid(alpha=0.3)
    fig.suptitle("PCA: a few global directions carry most of the variance of MNIST")
    fig.tight_layout()
    return fig


def estimator_variance_figure() -> plt.Figure:
    """Variance of the score-function and pathwise estimators of ∂/∂μ E[f(z)] as μ moves away from f's optimum."""
    from helpers.estimators import estimator_variance

    generator = torch.Generator().manual_seed(0)
    distances = np.array([0.0, 0.5, 1.0, 2.0, 3.0, 4.0])
    sigma = torch.ones(1, dtype=torch.float64)
    styles = {"score": ("score function", LOSS_COLOUR, "o-"), "score+baseline": ("score function + baseline",
              "#ff7f0e", "s--"), "pathwise": ("pathwise (reparameterized)", "#1f77b4", "^-")}
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 3.2))
    for estimator, (label, colour, style) in styles.items():
        variances = [estimator_variance(estimator, lambda z: z.pow(2).sum(-1), torch.full((1,), d, dtype=torch.float64),
                                        sigma, n_samples=10, n_repeats=2000, generator=generator)[0]
                     for d in distances]
        ax.semilogy(distances, variances, style, color=colour, label=label)
    ax.set_xlabel(r"distance of $\mu$ from the optimum of $f(z) = z^2$")
    ax.set_ylabel(r"variance of $\partial/\partial\mu$ (10 samples)")
    ax.set_title("The reparameterized gradient stays precise where the score function's blows up")
    ax.legend()
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return fig


FIGURES: dict[str, Callable[[], plt.Figure]] = {
    "bp-autoencoder-deterministic.png": autoencoder_figure,
    "bp-VI.png": vi_figure,
    "bp-VAE.png": vae_figure,
    "series-latent-manifold.png": manifold_figure,
    "series-pca-components.png": pca_components_figure,
    "series-estimator-variance.png": estimator_variance_figure,
}


def draw_all(out_dir: Path = IMAGES, names: list[str] | None = None) -> list[Path]:
    """Draw the figures (all when `names` is None; an empty list draws none) into `out_dir`; return their paths."""
    if names is not None and (isinstance(names, str) or not all(isinstance(name, str) for name in names)):
        raise TypeError(f"names must be a list of figure names or None (all), got {names!r}")
    unknown = sorted(set(names or []) - set(FIGURES))
    if unknown:
        raise ValueError(f"unknown figure names {unknown}; allowed: {sorted(FIGURES)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same pixels on any machine
    written = []
    try:
        with plt.rc_context(SERIES_STYLE | {"savefig.dpi": DPI}):
            for name in FIGURES if names is None else names:
                fig = FIGURES[name]()
                fig.savefig(out_dir / name, dpi=DPI, metadata={"Software": None})
                plt.close(fig)
                written.append(out_dir / name)
    finally:
        torch.set_num_threads(threads)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.figures", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=IMAGES, help="folder to write into (default: images/)")
    parser.add_argument("names", nargs="*", help=f"figures to draw (default: all of {sorted(FIGURES)})")
    if isinstance(argv, str):
        raise TypeError(f"argv must be a list of str (or None for sys.argv), got the str {argv!r}")
    args = parser.parse_args(argv)
    for path in draw_all(args.out, args.names or None):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()

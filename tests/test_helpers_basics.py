"""helpers basics (seeding, device, cache folder), models, the training loop and the shared plots."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.axes import Axes
from matplotlib.collections import PathCollection
from matplotlib.image import AxesImage
from torch import nn

from helpers import cache_dir, get_device, seed_everything
from helpers.models import VAE, LinearAutoencoder, MLPAutoencoder, mlp, reparameterize
from helpers.plotting import (
    SERIES_STYLE,
    image_grid,
    latent_scatter,
    manifold_grid,
    to_numpy_images,
    training_curves,
    use_series_style,
)
from helpers.training import evaluate, fit

# ---------------------------------------------------------------- seed_everything


@pytest.fixture
def restore_torch_determinism(monkeypatch):
    """seed_everything switches torch's deterministic mode on globally; put it back afterwards."""
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    enabled = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    yield
    torch.use_deterministic_algorithms(enabled, warn_only=warn_only)


def _draws() -> tuple[float, np.ndarray, torch.Tensor]:
    return random.random(), np.random.rand(3), torch.rand(3)


def test_seed_everything_makes_python_numpy_and_torch_reproducible(restore_torch_determinism):
    seed_everything(3)
    first = _draws()
    seed_everything(3)
    again = _draws()
    seed_everything(4)
    other = _draws()
    assert first[0] == again[0] and np.array_equal(first[1], again[1]) and torch.equal(first[2], again[2])
    assert first[0] != other[0] and not np.array_equal(first[1], other[1]) and not torch.equal(first[2], other[2])


def test_seed_everything_asks_torch_for_determinism(restore_torch_determinism):
    torch.use_deterministic_algorithms(False)
    seed_everything()
    assert torch.are_deterministic_algorithms_enabled()
    assert torch.is_deterministic_algorithms_warn_only_enabled(), "warn_only keeps CPU-only ops usable"


def test_seed_everything_does_not_load_torchs_compiler():
    """use_deterministic_algorithms imports torch._inductor (about 1 s of every notebook's first cell, and of every
    graded notebook); seed_everything sets the same flag without it."""
    probe = ("import sys, torch; from helpers import seed_everything; seed_everything(0); "
             "print(torch.are_deterministic_algorithms_enabled(), "
             "torch.is_deterministic_algorithms_warn_only_enabled(), 'torch._inductor.config' in sys.modules)")
    ran = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parent.parent)
    assert ran.stdout.split() == ["True", "True", "False"], ran.stderr[-400:]


def test_seed_everything_sets_the_compilers_flag_when_it_is_loaded(restore_torch_determinism):
    import torch._inductor.config as compiler

    compiler.deterministic = False
    seed_everything()
    assert compiler.deterministic is True


@pytest.mark.parametrize("seed", [-1, 1.5, "0", None, True, 2**40])
def test_seed_everything_rejects_bad_seeds(restore_torch_determinism, seed):
    with pytest.raises(ValueError, match="[Ss]eed"):
        seed_everything(seed)


# ---------------------------------------------------------------- get_device, cache_dir


def test_get_device_is_cpu_on_this_machine(monkeypatch):
    monkeypatch.delenv("VAE_NOTES_DEVICE", raising=False)
    assert not torch.cuda.is_available(), "this test expects the CPU-only CI machine"
    assert get_device() == torch.device("cpu")


@pytest.mark.parametrize(("value", "expected"), [("cpu", "cpu"), (" CPU ", "cpu"), ("cuda", "cuda"), ("mps", "mps"),
                                                 ("", "cpu")])
def test_get_device_honours_the_env_var(monkeypatch, value, expected):
    monkeypatch.setenv("VAE_NOTES_DEVICE", value)
    assert get_device().type == expected


@pytest.mark.parametrize("value", ["gpu", "tpu", "cuda:0", "0"])
def test_get_device_rejects_bad_values(monkeypatch, value):
    monkeypatch.setenv("VAE_NOTES_DEVICE", value)
    with pytest.raises(ValueError, match=r"VAE_NOTES_DEVICE must be one of \('cpu', 'cuda', 'mps'\)"):
        get_device()


def test_cache_dir_honours_the_env_var(monkeypatch, tmp_path):
    monkeypatch.setenv("VAE_NOTES_CACHE", str(tmp_path / "a" / "b"))
    assert cache_dir() == tmp_path / "a" / "b" and cache_dir().is_dir(), "the folder must be created"


def test_cache_dir_defaults_to_home_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("VAE_NOTES_CACHE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # never touch the real home
    assert cache_dir() == tmp_path / ".cache" / "vae-notes" and cache_dir().is_dir()


@pytest.mark.parametrize("where", ["file", "below-a-file"])
def test_cache_dir_on_a_file_says_how_to_fix_it(monkeypatch, tmp_path, where):
    a_file = tmp_path / "plain-file"
    a_file.write_text("")
    monkeypatch.setenv("VAE_NOTES_CACHE", str(a_file if where == "file" else a_file / "cache"))
    with pytest.raises(OSError, match="set VAE_NOTES_CACHE to a writable folder") as info:
        cache_dir()
    assert str(a_file) in str(info.value)


# ---------------------------------------------------------------- models


def test_linear_autoencoder_shapes():
    model = LinearAutoencoder(784, 5)
    x = torch.rand(7, 784)
    assert model.encoder(x).shape == (7, 5) and model(x).shape == (7, 784)
    assert not any(isinstance(layer, nn.ReLU) for layer in model.modules()), "must be purely linear"
    no_bias = LinearAutoencoder(10, 2, bias=False)
    assert no_bias.encoder.bias is None and no_bias.decoder.bias is None


def test_mlp_autoencoder_shapes_and_output_range():
    model = MLPAutoencoder(784, 3, hidden=(64, 32))
    x = torch.rand(4, 784)
    assert model.encoder(x).shape == (4, 3)
    assert [m.out_features for m in model.decoder if isinstance(m, nn.Linear)] == [32, 64, 784], "hidden mirrored"
    with torch.no_grad():
        out = model(x)
    assert out.shape == (4, 784) and float(out.min()) > 0 and float(out.max()) < 1
    raw = MLPAutoencoder(10, 2, sigmoid_output=False)
    with torch.no_grad():
        raw.decoder[-1].bias.fill_(5.0)
    assert float(raw(torch.rand(3, 10)).max()) > 1, "sigmoid_output=False must return raw outputs"


def test_mlp_layers_and_activation():
    net = mlp([6, 5, 4, 3], activation="tanh")
    kinds = [type(layer).__name__ for layer in net]
    assert kinds == ["Linear", "Tanh", "Linear", "Tanh", "Linear"], "no activation after the last layer"


def test_vae_shapes():
    torch.manual_seed(0)
    vae = VAE(latent_dim=3, hidden=(32,))
    x = torch.rand(5, 784)
    mu, logvar = vae.encode(x)
    assert mu.shape == logvar.shape == (5, 3)
    logits, mu2, logvar2 = vae(x)
    assert logits.shape == (5, 784) and torch.equal(mu, mu2) and torch.equal(logvar, logvar2)
    assert vae.decode(torch.zeros(2, 4, 3)).shape == (2, 4, 784), "decode keeps leading dimensions"
    samples = vae.sample(6, generator=torch.Generator().manual_seed(1))
    assert samples.shape == (6, 784) and float(samples.min()) >= 0 and float(samples.max()) <= 1
    assert torch.equal(samples, vae.sample(6, generator=torch.Generator().manual_seed(1)))


def test_vae_config_round_trip():
    vae = VAE(latent_dim=4, hidden=(48, 24), input_dim=100, activation="elu")
    config = vae.config()
    assert config == {"latent_dim": 4, "hidden": [48, 24], "input_dim": 100, "activation": "elu"}
    clone = VAE(**config)
    clone.load_state_dict(vae.state_dict())  # same architecture: every key and shape matches
    z = torch.randn(3, 4)
    assert torch.equal(clone.decode(z), vae.decode(z))
    x = torch.rand(2, 100)
    assert all(torch.equal(a, b) for a, b in zip(clone.encode(x), vae.encode(x)))


def test_reparameterize_samples_the_right_gaussian_and_passes_gradients():
    torch.manual_seed(0)
    mu = torch.full((20000, 2), 1.5, requires_grad=True)
    logvar = torch.full((20000, 2), np.log(0.25), requires_grad=True)
    z = reparameterize(mu, logvar)
    assert abs(float(z.mean()) - 1.5) < 0.02 and abs(float(z.std()) - 0.5) < 0.02
    z.sum().backward()
    assert torch.allclose(mu.grad, torch.ones_like(mu)), "dz/dmu must be 1"
    assert logvar.grad is not None and float(logvar.grad.abs().sum()) > 0, "gradients must reach logvar"


@pytest.mark.parametrize(
    ("build", "words"),
    [
        (lambda: LinearAutoencoder(0, 2), "n must be a positive int"),
        (lambda: LinearAutoencoder(784, -1), "m must be a positive int"),
        (lambda: MLPAutoencoder(784, 2.5), "m must be a positive int"),
        (lambda: MLPAutoencoder(784, 2, activation="sigmoid"), "activation must be one of"),
        (lambda: VAE(latent_dim=0), "latent_dim must be a positive int"),
        (lambda: VAE(latent_dim=True), "latent_dim must be a positive int"),
        (lambda: VAE(input_dim="784"), "input_dim must be a positive int"),
        (lambda: VAE(hidden=(0,)), "layer size must be a positive int"),
        (lambda: mlp([5]), "at least an input and an output size"),
    ],
    ids=["n=0", "m<0", "m float", "activation", "latent 0", "latent bool", "input str", "hidden 0", "mlp short"],
)
def test_models_reject_bad_arguments(build, words):
    with pytest.raises(ValueError, match=words):
        build()


def test_vae_rejects_wrong_input_shapes():
    vae = VAE(latent_dim=2, hidden=(8,))
    with pytest.raises(ValueError, match=r"last dimension 784, got shape \(3, 100\)"):
        vae.encode(torch.rand(3, 100))
    with pytest.raises(ValueError, match=r"last dimension 2, got shape \(3, 5\)"):
        vae.decode(torch.rand(3, 5))
    with pytest.raises(ValueError, match="n must be a positive int"):
        vae.sample(0)


# ---------------------------------------------------------------- training


def _mse(model, batch):
    return ((model(batch) - batch) ** 2).mean()


def _low_rank_data(n=256, seed=0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, 2, generator=generator) @ torch.randn(2, 12, generator=generator)


def test_fit_reduces_the_loss_on_a_tiny_problem():
    torch.manual_seed(0)
    x = _low_rank_data()
    model = LinearAutoencoder(12, 2)
    before = evaluate(model, _mse, x)
    history = fit(model, _mse, x, epochs=30, batch_size=32, lr=0.01, valid_x=x[:64], progress=False)
    assert set(history) == {"epoch", "train_loss", "valid_loss", "seconds"}
    assert history["epoch"] == list(range(1, 31)) and len(history["valid_loss"]) == 30
    assert history["train_loss"][-1] < 0.05 * before, f"loss went {before:.3f} → {history['train_loss'][-1]:.3f}"
    assert history["seconds"] == sorted(history["seconds"])


def test_fit_is_reproducible_with_the_same_seed():
    def run():
        torch.manual_seed(0)
        model = LinearAutoencoder(12, 2)
        return fit(model, _mse, _low_rank_data(64), epochs=3, batch_size=16, lr=0.01, progress=False, seed=4)

    assert run()["train_loss"] == run()["train_loss"]


def test_fit_applies_transform_and_cosine_schedule():
    seen = []

    def transform(batch):
        seen.append(len(batch))
        return batch

    model = LinearAutoencoder(12, 2)
    fit(model, _mse, _low_rank_data(50), epochs=2, batch_size=20, lr=0.01, transform=transform,
        lr_schedule="cosine", progress=False)
    assert seen == [20, 20, 10] * 2, "transform must see every minibatch of every epoch"


class _Scalar(nn.Module):
    """One parameter w; the loss pulls it towards the batch mean."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(()))


def _pull(model, batch):
    return (model.w - batch).pow(2).mean()


def test_early_stopping_restores_the_best_weights():
    model = _Scalar()
    train_x, valid_x = torch.ones(8), torch.full((8,), 0.35)  # training passes w through 0.35 and on to 1
    history = fit(model, _pull, train_x, epochs=40, batch_size=8, lr=0.05, valid_x=valid_x, patience=3,
                  progress=False)
    best_epoch = int(np.argmin(history["valid_loss"])) + 1
    assert len(history["epoch"]) == best_epoch + 3 < 40, "should stop 3 epochs after the best one"
    assert abs(float(model.w) - 0.35) < 0.05, f"best weights not restored, w = {float(model.w):.3f}"
    assert evaluate(model, _pull, valid_x) == pytest.approx(min(history["valid_loss"]))


def test_max_seconds_stops_training():
    def slow(model, batch):
        time.sleep(0.02)
        return _pull(model, batch)

    history = fit(_Scalar(), slow, torch.ones(4), epochs=500, batch_size=4, max_seconds=0.1, progress=False)
    assert len(history["epoch"]) < 50, f"ran {len(history['epoch'])} epochs despite max_seconds"
    assert history["seconds"][-1] >= 0.1 and all(s < 0.1 for s in history["seconds"][:-1])


def test_evaluate_weights_batches_by_size_and_keeps_the_mode():
    model = _Scalar()
    model.train()
    x = torch.arange(10, dtype=torch.float32)
    assert evaluate(model, lambda m, b: b.mean(), x, batch_size=3) == pytest.approx(4.5)
    assert model.training, "evaluate must restore training mode"


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"epochs": 0}, "epochs must be a positive int"),
        ({"epochs": 2.0}, "epochs must be a positive int"),
        ({"batch_size": 0}, "batch_size must be a positive int"),
        ({"lr": 0.0}, "lr must be a positive float"),
        ({"lr": -1e-3}, "lr must be a positive float"),
        ({"lr_schedule": "step"}, "lr_schedule must be 'constant' or 'cosine'"),
        ({"patience": 2}, "needs valid_x"),
    ],
)
def test_fit_rejects_bad_arguments(kwargs, words):
    arguments = {"epochs": 1, **kwargs}
    with pytest.raises(ValueError, match=words):
        fit(_Scalar(), _pull, torch.ones(4), progress=False, **arguments)


def test_evaluate_rejects_bad_batch_size():
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        evaluate(_Scalar(), _pull, torch.ones(4), batch_size=0)


# ---------------------------------------------------------------- plotting


def test_backend_is_agg():
    assert matplotlib.get_backend().lower() == "agg"


def test_to_numpy_images_accepts_flat_and_square():
    assert to_numpy_images(torch.rand(3, 784)).shape == (3, 28, 28)
    assert to_numpy_images(np.zeros((2, 5, 6))).shape == (2, 5, 6)


def test_image_grid_tiles_the_images():
    images = torch.zeros(16, 784)
    images[5] = 1.0
    ax = image_grid(images, ncols=8, title="sixteen digits")
    assert isinstance(ax, Axes) and ax.get_title() == "sixteen digits" and not ax.axison
    [picture] = [a for a in ax.get_children() if isinstance(a, AxesImage)]
    canvas = np.asarray(picture.get_array())
    assert canvas.shape == (2 * 29 - 1, 8 * 29 - 1), "2 rows × 8 columns of 28 px with 1 px gaps"
    assert np.all(canvas[:28, 5 * 29 : 5 * 29 + 28] == 1.0), "image 5 should be tile (row 0, column 5)"
    assert picture.get_clim() == (0.0, 1.0)


def test_image_grid_on_given_axes_with_partial_last_row():
    _, ax = plt.subplots()
    assert image_grid(torch.rand(5, 784), ncols=3, ax=ax) is ax
    [picture] = ax.get_images()
    canvas = np.ma.filled(picture.get_array(), np.nan)
    assert canvas.shape == (57, 86) and np.isnan(canvas[-1, -1]), "missing tiles stay blank"


def test_latent_scatter_plots_every_point_with_a_colorbar():
    z, labels = torch.randn(40, 2), torch.arange(40) % 10
    ax = latent_scatter(z, labels, title="latent space")
    [points] = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert np.allclose(points.get_offsets(), z.numpy())
    assert ax.get_xlabel() == "$z_1$" and ax.get_ylabel() == "$z_2$" and ax.get_title() == "latent space"
    assert len(ax.figure.axes) == 2, "a colorbar axis is expected"


def test_manifold_grid_decodes_a_quantile_grid():
    seen = []

    def decode(z):
        seen.append(z)
        return torch.sigmoid(z[:, :1] - z[:, 1:]).repeat(1, 784)

    ax = manifold_grid(decode, n=4)
    [z] = seen
    assert z.shape == (16, 2) and z.dtype == torch.float32
    assert z[0, 0] < 0 < z[0, 1], "top-left tile: smallest z1, largest z2"
    assert float(z.abs().max()) == pytest.approx(1.645, abs=1e-3), "edges at the 5% and 95% normal quantiles"
    assert np.asarray(ax.get_images()[0].get_array()).shape == (4 * 28, 4 * 28)


def test_training_curves_draws_train_and_validation():
    ax = training_curves({"epoch": [1, 2, 3], "train_loss": [3.0, 2.0, 1.5], "valid_loss": [3.1, 2.2, 1.9]})
    assert [line.get_label() for line in ax.get_lines()] == ["train", "validation"]
    assert list(ax.get_lines()[1].get_ydata()) == [3.1, 2.2, 1.9]
    assert ax.get_xlabel() == "epoch" and ax.get_legend() is not None
    only_train = training_curves({"train_loss": [2.0, 1.0]})
    assert len(only_train.get_lines()) == 1 and list(only_train.get_lines()[0].get_xdata()) == [1, 2]


@pytest.mark.parametrize(
    ("plot", "words"),
    [
        (lambda: image_grid(torch.rand(4, 100)), r"shape \(N, 784\) or \(N, H, W\)"),
        (lambda: image_grid(torch.rand(784)), r"shape \(N, 784\) or \(N, H, W\)"),
        (lambda: image_grid(torch.rand(4, 784), ncols=0), "ncols must be a positive int"),
        (lambda: latent_scatter(torch.rand(5, 1), torch.zeros(5)), r"z must be \(N, >=2\)"),
        (lambda: latent_scatter(torch.rand(5, 2), torch.zeros(4)), r"z must be \(N, >=2\)"),
        (lambda: manifold_grid(lambda z: z, n=1), "n must be an int >= 2"),
        (lambda: training_curves({"valid_loss": [1.0]}), "needs a 'train_loss' entry"),
    ],
    ids=["grid 100 px", "grid 1-D", "ncols 0", "scatter 1-D z", "scatter labels", "manifold n=1", "curves no train"],
)
def test_plots_reject_bad_shapes(plot, words):
    with pytest.raises(ValueError, match=words):
        plot()


def test_use_series_style_sets_legible_but_bounded_dpi():
    with matplotlib.rc_context():
        use_series_style()
        assert 110 <= plt.rcParams["figure.dpi"] == SERIES_STYLE["figure.dpi"] <= 150
        assert plt.rcParams["axes.spines.top"] is False


def test_plots_write_no_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    image_grid(torch.rand(4, 784))
    training_curves({"train_loss": [1.0]})
    assert list(Path(tmp_path).iterdir()) == []

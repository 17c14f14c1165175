"""Bad input to every public helper gives a ValueError or TypeError whose message names the argument.

One table of cases per module. `test_every_public_callable_has_a_bad_input_case` walks each module's `__all__`
and fails when a public function or class has no case here, so a new helper cannot slip in unchecked.
Each case: the callable it exercises, a call with one bad argument, the error type, and the words the message must
contain (the argument's name first; often also what is allowed).
"""

from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
import torch

import helpers
from helpers import (
    beyond,
    data,
    estimators,
    linear,
    models,
    objectives,
    plotting,
    pretrained,
    toy_models,
    validate,
    widgets,
)
from helpers import vi_models as vm

NAN, INF = float("nan"), float("inf")


@dataclass(frozen=True)
class Case:
    target: object  # the public function or class this case exercises
    call: Callable[[], object]
    error: type[Exception]
    words: tuple[str, ...]
    label: str


CASES: list[Case] = []


def bad(target, call, error, *words: str, label: str = "") -> None:
    CASES.append(Case(target, call, error, words, f"{target.__module__}.{target.__name__}:{label or words[0]}"))


def tiny_vae(latent_dim: int = 2) -> models.VAE:
    torch.manual_seed(0)
    return models.VAE(latent_dim, (8,))


def digits(n: int = 6) -> torch.Tensor:
    return torch.rand(n, 784, generator=torch.Generator().manual_seed(0))


def z2(n: int = 4) -> torch.Tensor:
    return torch.zeros(n, 2)


# ---------------------------------------------------------------- helpers (package)
bad(helpers.seed_everything, lambda: helpers.seed_everything(-1), ValueError, "seed")
bad(helpers.seed_everything, lambda: helpers.seed_everything(1.5), ValueError, "seed", label="float")
bad(helpers.get_device, lambda: (_set_env("VAE_NOTES_DEVICE", "tpu"), helpers.get_device()), ValueError,
    "VAE_NOTES_DEVICE")
bad(helpers.cache_dir, lambda: (_set_env("VAE_NOTES_CACHE", "/dev/null/cache"), helpers.cache_dir()), OSError,
    "VAE_NOTES_CACHE")


def _set_env(name: str, value: str) -> None:
    """Set an environment variable for one case (the autouse fixture `_restore_env` puts it back)."""
    os.environ[name] = value

# ---------------------------------------------------------------- data
bad(data.load_mnist, lambda: data.load_mnist("valid"), ValueError, "split", "('train', 'test')")
bad(data.load_mnist, lambda: data.load_mnist(source="web"), ValueError, "source")
bad(data.load_mnist, lambda: data.load_mnist(binarize=True), ValueError, "binarize")
bad(data.dynamic_binarize, lambda: data.dynamic_binarize(torch.tensor([255.0])), ValueError, "x", "[0, 1]")
bad(data.dynamic_binarize, lambda: data.dynamic_binarize(np.ones(3)), TypeError, "x", label="numpy")
bad(data.static_binarize, lambda: data.static_binarize(torch.tensor([NAN])), ValueError, "x", label="nan")
bad(data.train_valid_split, lambda: data.train_valid_split(torch.rand(5, 2), torch.arange(5), 5), ValueError,
    "n_valid")
bad(data.train_valid_split, lambda: data.train_valid_split(torch.rand(5, 2), torch.arange(4), 1), ValueError,
    "x and y", label="lengths")
bad(data.atomic_write, lambda: data.atomic_write(3, lambda f: None), TypeError, "target")
bad(data.atomic_write, lambda: data.atomic_write(_tmp_target(), "not callable"), TypeError, "write")
bad(data.download_mnist, lambda: data.download_mnist("mirror"), TypeError, "argument")


def _tmp_target():
    import tempfile
    from pathlib import Path

    return Path(tempfile.mkdtemp()) / "file"


# ---------------------------------------------------------------- objectives
bad(objectives.kl_normal, lambda: objectives.kl_normal(torch.zeros(4, 1), torch.zeros(1, 4)), ValueError,
    "logvar_q", "(1, 4)")
bad(objectives.kl_normal, lambda: objectives.kl_normal(torch.zeros(3), "0"), TypeError, "logvar_q", label="str")
bad(objectives.kl_normal, lambda: objectives.kl_normal(torch.zeros(3), torch.zeros(3), torch.zeros(2)),
    ValueError, "mu_p", label="mu_p shape")
bad(objectives.gaussian_log_prob, lambda: objectives.gaussian_log_prob(torch.zeros(4, 1), torch.zeros(1, 4), 0.0),
    ValueError, "mu", "(1, 4)")
bad(objectives.gaussian_log_prob, lambda: objectives.gaussian_log_prob(torch.zeros(3, 2), 0.0, torch.zeros(3)),
    ValueError, "logvar", label="logvar shape")
bad(objectives.gaussian_log_prob, lambda: objectives.gaussian_log_prob(torch.zeros(3, dtype=torch.int64), 0.0, 0.0),
    TypeError, "x", label="int tensor")
bad(objectives.bernoulli_log_prob, lambda: objectives.bernoulli_log_prob(torch.full((1, 784), 255.0),
                                                                         torch.zeros(1, 784)),
    ValueError, "x", "[0, 1]", "255")
bad(objectives.bernoulli_log_prob, lambda: objectives.bernoulli_log_prob(torch.rand(4, 1), torch.zeros(1, 4)),
    ValueError, "logits", "(4, 1)", label="broadcast")
bad(objectives.bernoulli_log_prob, lambda: objectives.bernoulli_log_prob(torch.tensor([NAN]), torch.zeros(1)),
    ValueError, "x", label="nan")
bad(objectives.elbo_terms, lambda: objectives.elbo_terms(tiny_vae(), np.zeros((2, 784), np.float32)), TypeError,
    "x", "torch.Tensor")
bad(objectives.elbo_terms, lambda: objectives.elbo_terms(tiny_vae(), digits().double()), TypeError, "x",
    "float64", label="float64")
bad(objectives.elbo, lambda: objectives.elbo(tiny_vae(), digits(), beta=NAN), ValueError, "beta", "nan")
bad(objectives.elbo, lambda: objectives.elbo(tiny_vae(), digits(), beta=INF), ValueError, "beta", "inf")
bad(objectives.elbo, lambda: objectives.elbo(tiny_vae(), digits(), beta=-1), ValueError, "beta", label="negative")
bad(objectives.iwae_bound, lambda: objectives.iwae_bound(tiny_vae(), digits(), k=0), ValueError, "k")
bad(objectives.iwae_bound, lambda: objectives.iwae_bound(tiny_vae(), digits()[0]), ValueError, "x", label="1-D x")

# ---------------------------------------------------------------- models
bad(models.VAE, lambda: models.VAE(2, 400), TypeError, "hidden", "sequence")
bad(models.VAE, lambda: models.VAE(0), ValueError, "latent_dim")
bad(models.VAE, lambda: models.VAE(2, (400,), activation="swish"), ValueError, "activation")
bad(models.VAE, lambda: tiny_vae().encode(np.zeros((2, 784), np.float32)), TypeError, "x", label="encode numpy")
bad(models.VAE, lambda: tiny_vae().encode(digits().double()), TypeError, "x", "float64", label="encode float64")
bad(models.VAE, lambda: tiny_vae().encode(torch.zeros(2, 28, 28)), ValueError, "x", "784", label="encode 28x28")
bad(models.VAE, lambda: tiny_vae().decode(torch.zeros(2, 3)), ValueError, "z", label="decode width")
bad(models.VAE, lambda: tiny_vae().sample(0), ValueError, "n", label="sample 0")
bad(models.MLPAutoencoder, lambda: models.MLPAutoencoder(784, 2, hidden=256), TypeError, "hidden")
bad(models.MLPAutoencoder, lambda: models.MLPAutoencoder(784, 2, sigmoid_output="yes"), TypeError, "sigmoid_output")
bad(models.LinearAutoencoder, lambda: models.LinearAutoencoder(784, 0), ValueError, "m")
bad(models.LinearAutoencoder, lambda: models.LinearAutoencoder(784, 2, bias=None), TypeError, "bias")
bad(models.mlp, lambda: models.mlp(784), TypeError, "sizes")
bad(models.mlp, lambda: models.mlp([784, 0]), ValueError, "layer size")
bad(models.mlp, lambda: models.mlp([784, 2], activation=None), ValueError, "activation")
bad(models.reparameterize, lambda: models.reparameterize(torch.zeros(3, 2), torch.zeros(3)), ValueError, "logvar",
    "(3,)")
bad(models.reparameterize, lambda: models.reparameterize(np.zeros(2), torch.zeros(2)), TypeError, "mu",
    label="numpy")


# ---------------------------------------------------------------- plotting
def _nan_images():
    images = torch.rand(4, 784)
    images[1, 5] = NAN
    return images


bad(plotting.image_grid, lambda: plotting.image_grid(_nan_images()), ValueError, "images", "nan")
bad(plotting.image_grid, lambda: plotting.image_grid(torch.zeros(0, 784)), ValueError, "images", "at least one",
    label="empty")
bad(plotting.image_grid, lambda: plotting.image_grid(torch.rand(4, 784), ncols=True), ValueError, "ncols")
bad(plotting.to_numpy_images, lambda: plotting.to_numpy_images(torch.rand(4, 100)), ValueError, "images", "784")
bad(plotting.to_numpy_images, lambda: plotting.to_numpy_images("images"), TypeError, "images", label="str")
bad(plotting.latent_scatter, lambda: plotting.latent_scatter(torch.tensor([[NAN, 0.0]]), torch.zeros(1)),
    ValueError, "z", "finite")
bad(plotting.latent_scatter, lambda: plotting.latent_scatter(torch.zeros(3, 2), torch.zeros(2)), ValueError, "z",
    label="labels")
bad(plotting.manifold_grid, lambda: plotting.manifold_grid(lambda z: torch.zeros(len(z), 784), edge=0.7),
    ValueError, "edge", "(0, 0.5)")
bad(plotting.manifold_grid, lambda: plotting.manifold_grid(lambda z: torch.zeros(len(z), 784), edge=0),
    ValueError, "edge", label="edge 0")
bad(plotting.manifold_grid, lambda: plotting.manifold_grid("decoder"), TypeError, "decode")
bad(plotting.manifold_grid, lambda: plotting.manifold_grid(lambda z: z, n=1), ValueError, "n", label="n=1")
bad(plotting.training_curves, lambda: plotting.training_curves([1.0, 2.0]), TypeError, "history")
bad(plotting.training_curves, lambda: plotting.training_curves({"loss": [1.0]}), ValueError, "train_loss",
    label="key")
bad(plotting.use_series_style, lambda: plotting.use_series_style("dark"), TypeError, "argument")

# ---------------------------------------------------------------- widgets
bad(widgets.decode_mean, lambda: widgets.decode_mean(tiny_vae(), [NAN, 0.0]), ValueError, "z", "nan")
bad(widgets.decode_mean, lambda: widgets.decode_mean(tiny_vae(), [0.0, 0.0, 0.0]), ValueError, "z", label="width")
bad(widgets.decode_mean, lambda: widgets.decode_mean("model", [0.0, 0.0]), TypeError, "model")
bad(widgets.encode_mean, lambda: widgets.encode_mean(tiny_vae(), torch.rand(3, 100)), ValueError, "x")
bad(widgets.kl_per_dimension, lambda: widgets.kl_per_dimension(torch.zeros(3, 2), torch.zeros(3, 3)), ValueError,
    "mu and logvar")
bad(widgets.posterior_boxes, lambda: widgets.posterior_boxes(None, np.array([[NAN, 0.0]]), np.ones((1, 2))),
    ValueError, "mu", "nan")
bad(widgets.posterior_boxes, lambda: widgets.posterior_boxes(None, np.zeros((1, 2)), -np.ones((1, 2))), ValueError,
    "sigma", label="negative sigma")
bad(widgets.interpolate, lambda: widgets.interpolate([NAN, 0.0], [1.0, 1.0], 0.5), ValueError, "z_start")
bad(widgets.interpolate, lambda: widgets.interpolate([0.0, 0.0], [1.0, 1.0], NAN), ValueError, "t", label="t nan")
bad(widgets.interpolate, lambda: widgets.interpolate([0.0, 0.0], [1.0], 0.5), ValueError, "z_end", label="shapes")
bad(widgets.to_png, lambda: widgets.to_png(np.full((2, 2), NAN)), ValueError, "image", "nan")
bad(widgets.to_png, lambda: widgets.to_png(np.zeros((2, 2)), scale=0), ValueError, "scale")
bad(widgets.to_png, lambda: widgets.to_png(np.zeros(4)), ValueError, "image", label="1-D")
bad(widgets.read_png, lambda: widgets.read_png(b"garbage"), ValueError, "data", "PNG")
bad(widgets.read_png, lambda: widgets.read_png("file.png"), TypeError, "data", label="str")
bad(widgets.LatentExplorer2D, lambda: widgets.LatentExplorer2D(tiny_vae(), np.array([[NAN, 0.0]] * 3), np.zeros(3)),
    ValueError, "z_map", "nan")
bad(widgets.LatentExplorer2D, lambda: widgets.LatentExplorer2D(tiny_vae(16), np.zeros((3, 2)), np.zeros(3)),
    ValueError, "latent_dim", label="z16")
bad(widgets.LatentExplorer2D, lambda: widgets.LatentExplorer2D(tiny_vae(), np.zeros((3, 2)), np.zeros(3), step=0),
    ValueError, "step", label="step")
bad(widgets.EncodeEditExplorer, lambda: widgets.EncodeEditExplorer(tiny_vae(), digits(), np.zeros(6),
                                                                   kl=torch.tensor([NAN, 1.0])),
    ValueError, "kl", "nan")
bad(widgets.EncodeEditExplorer, lambda: widgets.EncodeEditExplorer(tiny_vae(), digits(), np.zeros(5)), ValueError,
    "labels", label="labels")
bad(widgets.EncodeEditExplorer, lambda: widgets.EncodeEditExplorer(tiny_vae(), digits(), np.zeros(6), index=6),
    ValueError, "index", label="index")
bad(widgets.InterpolationExplorer, lambda: widgets.InterpolationExplorer(tiny_vae(), digits(), end=9), ValueError,
    "end")
bad(widgets.InterpolationExplorer, lambda: widgets.InterpolationExplorer(tiny_vae(), _nan_images().repeat(2, 1)),
    ValueError, "x", "nan", label="nan digits")
bad(widgets.InterpolationExplorer, lambda: widgets.InterpolationExplorer(tiny_vae(), digits(), steps=1), ValueError,
    "steps", label="steps")
bad(widgets.median_update_ms, lambda: widgets.median_update_ms("explorer", None, [0, 1]), TypeError, "explorer")
bad(widgets.median_update_ms, lambda: widgets.median_update_ms(
    widgets.InterpolationExplorer(tiny_vae(), digits()), None, [0.5]), ValueError, "values", label="one value")

# ---------------------------------------------------------------- pretrained
bad(pretrained.load, lambda: pretrained.load("vae-mnist-z3"), ValueError, "name", "vae-mnist-z2")
bad(pretrained.metadata, lambda: pretrained.metadata(2), ValueError, "name")
bad(pretrained.available, lambda: pretrained.available("all"), TypeError, "argument")
bad(pretrained.retrain, lambda: pretrained.retrain("vae-mnist-z2"), TypeError, "names", "list")
bad(pretrained.retrain, lambda: pretrained.retrain(["vae-mnist-z3"]), ValueError, "name", label="unknown")
bad(pretrained.retrain, lambda: pretrained.retrain(["vae-mnist-z2"], progress="no"), TypeError, "progress")
bad(pretrained.main, lambda: pretrained.main("--retrain"), TypeError, "argv")

# ---------------------------------------------------------------- toy_models
bad(toy_models.GaussianMixture1D, lambda: toy_models.GaussianMixture1D((0.5, 0.5), (NAN, 1.0), (1.0, 1.0)),
    ValueError, "means", "nan")
bad(toy_models.GaussianMixture1D, lambda: toy_models.GaussianMixture1D((NAN, 0.5), (0.0, 1.0), (1.0, 1.0)),
    ValueError, "weights", label="weights nan")
bad(toy_models.GaussianMixture1D, lambda: toy_models.GaussianMixture1D((0.5, 0.5), ("a", "b"), (1.0, 1.0)),
    TypeError, "means", label="strings")
bad(toy_models.GaussianMixture1D, lambda: toy_models.GaussianMixture1D((1.0,), (0.0,), (0.0,)), ValueError, "stds",
    label="std 0")
bad(toy_models.ConjugateGaussian, lambda: toy_models.ConjugateGaussian(sigma=0), ValueError, "sigma")
bad(toy_models.ConjugateGaussian, lambda: toy_models.ConjugateGaussian().elbo("x", 0.0, 0.0), TypeError, "x",
    label="elbo x")
bad(toy_models.ConjugateGaussian, lambda: toy_models.ConjugateGaussian().mc_elbo(0.0, 0.0, 0.0, n_samples=0),
    ValueError, "n_samples", label="mc_elbo")
bad(toy_models.GaussianFit, lambda: toy_models.GaussianFit(0.0, 1.0).log_prob("z"), TypeError, "z",
    label="a result record: its method is checked")
bad(toy_models.bimodal_mixture, lambda: toy_models.bimodal_mixture(2), TypeError, "argument")
bad(toy_models.log_normal, lambda: toy_models.log_normal(0.0, 0.0, -1.0), ValueError, "var")
bad(toy_models.forward_kl_on_grid, lambda: toy_models.forward_kl_on_grid("p", 0.0, 0.0), TypeError, "target")
bad(toy_models.reverse_kl_on_grid, lambda: toy_models.reverse_kl_on_grid(toy_models.bimodal_mixture(), "0", 0.0),
    TypeError, "mu")
bad(toy_models.fit_forward_kl, lambda: toy_models.fit_forward_kl(None), TypeError, "target")
bad(toy_models.fit_reverse_kl, lambda: toy_models.fit_reverse_kl(toy_models.bimodal_mixture(), steps=0), ValueError,
    "steps")
bad(toy_models.fit_reverse_kl, lambda: toy_models.fit_reverse_kl(toy_models.bimodal_mixture(), init_mu=NAN),
    ValueError, "init_mu", label="init nan")

# ---------------------------------------------------------------- vi_models
_PRIOR = vm.NormalGamma()


def _ppca() -> vm.PPCA:
    return vm.PPCA(torch.eye(3, 2, dtype=torch.float64), torch.zeros(3, dtype=torch.float64), 0.5)


bad(vm.NormalGamma, lambda: vm.NormalGamma(b0=0), ValueError, "b0")
bad(vm.NormalGamma, lambda: vm.NormalGamma(mu0=NAN), ValueError, "mu0", label="nan")
bad(vm.sample_normal_data, lambda: vm.sample_normal_data(0, 0.0, 1.0), ValueError, "n")
bad(vm.sample_normal_data, lambda: vm.sample_normal_data(5, 0.0, -1.0), ValueError, "precision", label="precision")
bad(vm.normal_gamma_posterior, lambda: vm.normal_gamma_posterior(torch.tensor([1.0, NAN]), _PRIOR), ValueError,
    "x", "nan")
bad(vm.normal_gamma_posterior, lambda: vm.normal_gamma_posterior(torch.zeros(0), _PRIOR), ValueError, "x",
    label="empty")
bad(vm.normal_gamma_log_evidence, lambda: vm.normal_gamma_log_evidence([1.0, 2.0], _PRIOR), TypeError, "x")
bad(vm.normal_gamma_log_density, lambda: vm.normal_gamma_log_density(torch.zeros(2), torch.zeros(2), _PRIOR),
    ValueError, "tau")
bad(vm.cavi_update_mu, lambda: vm.cavi_update_mu(torch.ones(3), _PRIOR, e_tau=0.0), ValueError, "e_tau")
bad(vm.cavi_update_tau, lambda: vm.cavi_update_tau(torch.ones(3), _PRIOR, m=0.0, kappa=-1.0), ValueError, "kappa")
bad(vm.normal_gamma_expected_squares, lambda: vm.normal_gamma_expected_squares(torch.ones(3), _PRIOR, m=float("nan"),
                                                                             kappa=1.0), ValueError, "m")
bad(vm.normal_gamma_elbo, lambda: vm.normal_gamma_elbo(torch.ones(3), _PRIOR, 0.0, 1.0, a=0.0, b=1.0), ValueError,
    "a ")
bad(vm.run_cavi, lambda: vm.run_cavi(torch.ones(3), _PRIOR, 1.0, 1.0, iterations=0), ValueError, "iterations")
bad(vm.gaussian_kl, lambda: vm.gaussian_kl(torch.zeros(2), torch.tensor([[1.0, 2.0], [2.0, 1.0]]), torch.zeros(2),
                                           torch.eye(2)),
    ValueError, "q_cov", "positive definite")
bad(vm.gaussian_kl, lambda: vm.gaussian_kl(torch.zeros(2), torch.eye(2), torch.zeros(2), -torch.eye(2)),
    ValueError, "p_cov", label="p_cov")
bad(vm.gaussian_kl, lambda: vm.gaussian_kl(torch.zeros(2), torch.eye(3), torch.zeros(2), torch.eye(2)),
    ValueError, "q_cov", label="shape")
bad(vm.mean_field_gaussian, lambda: vm.mean_field_gaussian(torch.zeros(2), torch.tensor([[1.0, 2.0], [2.0, 1.0]])),
    ValueError, "cov", "positive definite")
bad(vm.mean_field_gaussian, lambda: vm.mean_field_gaussian(torch.zeros(2), torch.tensor([[1.0, 0.5], [0.0, 1.0]])),
    ValueError, "cov", "symmetric", label="asymmetric")
bad(vm.sample_logistic_data, lambda: vm.sample_logistic_data(10, [1.0, 2.0]), TypeError, "w")
bad(vm.logistic_log_joint, lambda: vm.logistic_log_joint(torch.zeros(2, dtype=torch.float64),
                                                         torch.zeros(3, 2, dtype=torch.float64),
                                                         torch.tensor([0.0, 1.0, 3.0], dtype=torch.float64)),
    ValueError, "labels", "0 or 1")
bad(vm.logistic_log_joint, lambda: vm.logistic_log_joint(torch.zeros(2), torch.zeros(3, 2), torch.zeros(3),
                                                         prior_std=0),
    ValueError, "prior_std", label="prior_std")
bad(vm.logistic_grid_posterior, lambda: vm.logistic_grid_posterior(np.zeros((3, 2)), torch.zeros(3)), TypeError,
    "features")
bad(vm.logistic_grid_posterior, lambda: vm.logistic_grid_posterior(torch.zeros(3, 2), torch.zeros(3),
                                                                   limits=((0, NAN), (0, 1))),
    ValueError, "limits", label="limits")
bad(vm.GridPosterior, lambda: vm.logistic_grid_posterior(torch.zeros(3, 2), torch.zeros(3), size=2), ValueError,
    "size", label="a result record: the function that builds it is checked")
bad(vm.sample_poisson, lambda: vm.sample_poisson(5, rate=-1.0), ValueError, "rate")
bad(vm.poisson_gamma_posterior, lambda: vm.poisson_gamma_posterior(torch.tensor([1.0, -2.0]), 1.0, 1.0), ValueError,
    "counts")
bad(vm.poisson_gamma_log_joint_log_rate, lambda: vm.poisson_gamma_log_joint_log_rate(torch.zeros(2), torch.ones(3),
                                                                                     a0=0.0, b0=1.0),
    ValueError, "a0")
bad(vm.PPCA, lambda: vm.PPCA(torch.eye(3, 2), torch.zeros(2), 0.5), ValueError, "W")
bad(vm.PPCA, lambda: vm.PPCA(torch.eye(3, 2), torch.zeros(3), 0.0), ValueError, "sigma2", label="sigma2")
bad(vm.ppca_fit, lambda: vm.ppca_fit(torch.rand(10, 3), m=3), ValueError, "m")
bad(vm.ppca_posterior, lambda: vm.ppca_posterior(torch.zeros(4, 5, dtype=torch.float64), _ppca()), ValueError, "x")
bad(vm.ppca_log_marginal, lambda: vm.ppca_log_marginal(np.zeros((4, 3)), _ppca()), TypeError, "x")
bad(vm.ppca_elbo, lambda: vm.ppca_elbo(torch.zeros(4, 3, dtype=torch.float64), torch.zeros(4, 3,
                                                                                           dtype=torch.float64),
                                       torch.zeros(2, dtype=torch.float64), _ppca()),
    ValueError, "mean")
bad(vm.sample_ppca, lambda: vm.sample_ppca(0, _ppca()), ValueError, "n_samples")
bad(vm.minibatch_elbo, lambda: vm.minibatch_elbo(torch.ones(5), n_total=3), ValueError, "n_total")

# ---------------------------------------------------------------- estimators
_F = lambda z: z.pow(2).sum(-1)  # noqa: E731 (a tiny objective)
bad(estimators.score_function_grads, lambda: estimators.score_function_grads(
    _F, torch.zeros(2), torch.zeros(2), torch.randn(5, 2)), ValueError, "sigma")
bad(estimators.score_function_grads, lambda: estimators.score_function_grads(
    _F, torch.zeros(2), torch.ones(2), torch.randn(5, 2), baseline="mean"), ValueError, "baseline", label="baseline")
bad(estimators.pathwise_grads, lambda: estimators.pathwise_grads("f", torch.zeros(2), torch.ones(2),
                                                                 torch.randn(5, 2)), TypeError, "f")
bad(estimators.pathwise_grads, lambda: estimators.pathwise_grads(_F, torch.zeros(3), torch.ones(3),
                                                                 torch.randn(5, 2)), ValueError, "mu", label="shapes")
bad(estimators.mean_and_stderr, lambda: estimators.mean_and_stderr(torch.zeros(1, 3)), ValueError, "samples")
bad(estimators.mean_and_stderr, lambda: estimators.mean_and_stderr([1.0, 2.0]), TypeError, "per_sample",
    label="list")
bad(estimators.estimator_variance, lambda: estimators.estimator_variance("reinforce", _F, torch.zeros(2),
                                                                         torch.ones(2), n_samples=4),
    ValueError, "estimator")
bad(estimators.estimator_variance, lambda: estimators.estimator_variance("score", _F, [0.0, 0.0], torch.ones(2),
                                                                         n_samples=4),
    TypeError, "mu", label="list mu")
bad(estimators.gumbel_softmax_sample, lambda: estimators.gumbel_softmax_sample(torch.zeros(3), tau=NAN), ValueError,
    "tau", "nan")
bad(estimators.gumbel_softmax_sample, lambda: estimators.gumbel_softmax_sample(torch.zeros(3), tau=0.5,
                                                                               n_samples=0),
    ValueError, "n_samples", label="n_samples")

# ---------------------------------------------------------------- linear
bad(linear.pca, lambda: linear.pca(np.ones((4, 3)), m=4), ValueError, "m")
bad(linear.pca, lambda: linear.pca(np.array([[1.0, NAN], [0.0, 1.0]]), m=1), ValueError, "x", label="nan")
bad(linear.PCA, lambda: linear.pca_encode(np.ones((2, 3)), np.zeros(3), np.ones((1, 4))), ValueError,
    "components", label="a result record: the functions that take it apart are checked")
bad(linear.component_signs, lambda: linear.component_signs(np.zeros((2, 3))), ValueError, "components", "zero")
bad(linear.component_signs, lambda: linear.component_signs([[1.0, NAN]]), ValueError, "components", label="nan")
bad(linear.pca_encode, lambda: linear.pca_encode(np.ones((2, 3)), np.zeros(2), np.ones((1, 3))), ValueError, "mean")
bad(linear.pca_decode, lambda: linear.pca_decode(np.ones((2, 2)), np.zeros(3), np.ones((1, 3))), ValueError, "z")
bad(linear.pca_reconstruct, lambda: linear.pca_reconstruct("x", np.zeros(3), np.ones((1, 3))), TypeError, "x")
bad(linear.principal_angles, lambda: linear.principal_angles(np.ones((3, 1)), np.ones((4, 1))), ValueError, "a and b")
bad(linear.nmf, lambda: linear.nmf(-np.ones((3, 3)), k=1), ValueError, "x", "non-negative")
bad(linear.nmf, lambda: linear.nmf(np.ones((3, 3)), k=1, n_iter=-1), ValueError, "n_iter", label="n_iter")

# ---------------------------------------------------------------- beyond
bad(beyond.beta_vae_loss, lambda: beyond.beta_vae_loss(torch.rand(2, 4), torch.zeros(2, 4), torch.zeros(2, 2),
                                                       torch.zeros(2, 2), beta=NAN),
    ValueError, "beta")
bad(beyond.make_beta_loss, lambda: beyond.make_beta_loss(-1.0), ValueError, "beta")
bad(beyond.rate_distortion, lambda: beyond.rate_distortion(tiny_vae(), torch.zeros(0, 784)), ValueError, "x",
    "N, d >= 1")
bad(beyond.rate_distortion, lambda: beyond.rate_distortion(tiny_vae(), digits().double()), TypeError, "x",
    "float64", label="float64")
bad(beyond.posterior_means, lambda: beyond.posterior_means(tiny_vae(), torch.zeros(0, 784)), ValueError, "x")
bad(beyond.unit_activity, lambda: beyond.unit_activity(torch.zeros(1, 2)), ValueError, "mu")
bad(beyond.active_mask, lambda: beyond.active_mask(torch.zeros(3, 2), threshold=0), ValueError, "threshold")
bad(beyond.active_units, lambda: beyond.active_units(tiny_vae(), digits(), threshold=-1), ValueError, "threshold")
bad(beyond.latent_traversal, lambda: beyond.latent_traversal(tiny_vae(), torch.zeros(2), dim=2, values=[0.0]),
    ValueError, "dim")
bad(beyond.log_importance_weights, lambda: beyond.log_importance_weights(tiny_vae(), digits(), n_samples=0),
    ValueError, "n_samples")
bad(beyond.log_importance_weights, lambda: beyond.log_importance_weights(
    tiny_vae(), digits(), 10, proposal=(torch.zeros(6, 2), torch.full((6, 2), float("inf")))), ValueError, "logvar",
    label="proposal")
bad(beyond.log_importance_weights, lambda: beyond.log_importance_weights(
    tiny_vae(), digits() * 255, 10, proposal=(torch.zeros(6, 2), torch.zeros(6, 2))), ValueError, "255",
    label="0-255 digits with a proposal")
bad(beyond.iwae_from_log_weights, lambda: beyond.iwae_from_log_weights(torch.zeros(10, 3), k=3), ValueError, "k")
bad(beyond.GaussianDecoderVAE, lambda: beyond.GaussianDecoderVAE(min_std=0), ValueError, "min_std")
bad(beyond.GaussianDecoderVAE, lambda: beyond.GaussianDecoderVAE(hidden=400), TypeError, "hidden", label="hidden")
bad(beyond.gaussian_elbo_terms, lambda: beyond.gaussian_elbo_terms(tiny_vae(), digits()), TypeError, "model")
bad(beyond.gaussian_vae_loss, lambda: beyond.gaussian_vae_loss(tiny_vae(), digits()), TypeError, "model")
bad(beyond.one_hot, lambda: beyond.one_hot(torch.tensor([0, 10])), ValueError, "labels")
bad(beyond.one_hot, lambda: beyond.one_hot(torch.tensor([0.0, 1.0])), TypeError, "y", label="float labels")
bad(beyond.ConditionalVAE, lambda: beyond.ConditionalVAE(n_classes=0), ValueError, "n_classes")
bad(beyond.ConditionalVAE, lambda: beyond.ConditionalVAE(2, (8,)).encode(digits(2), torch.tensor([0, 1, 2])),
    ValueError, "c", label="encode labels")
bad(beyond.cvae_loss, lambda: beyond.cvae_loss(beyond.ConditionalVAE(2, (8,)), digits(2)), ValueError, "batch")

# ---------------------------------------------------------------- issue 29, item 5: nan, inf, complex, ranges, seeds
# Each case below returned a wrong result, passed silently or failed inside numpy/torch before helpers.validate.
def _with(value, index=0, shape=(3, 2)):
    """zeros of `shape` with `value` at flat position `index` (nan, inf, …)."""
    tensor = torch.zeros(shape)
    tensor.view(-1)[index] = value
    return tensor


_CPLX = torch.zeros(3, 2, dtype=torch.complex64)
_SORTED = torch.linspace(-8, 8, 101, dtype=torch.float64)

bad(helpers.seed_everything, lambda: helpers.seed_everything(2**40), ValueError, "seed", "1099511627776",
    label="seed too large")
bad(objectives.kl_normal, lambda: objectives.kl_normal(_with(NAN), torch.zeros(3, 2)), ValueError, "mu_q", "nan",
    label="nan mu_q")
bad(objectives.kl_normal, lambda: objectives.kl_normal(torch.zeros(3, 2), _with(INF)), ValueError, "logvar_q",
    label="inf logvar_q")
bad(objectives.kl_normal, lambda: objectives.kl_normal(torch.zeros(3, 2), torch.zeros(3, 2), NAN), ValueError,
    "mu_p", label="nan mu_p")
bad(objectives.kl_normal, lambda: objectives.kl_normal(torch.zeros(3, 2), torch.zeros(3, 2), 0.0, -INF),
    ValueError, "logvar_p", label="-inf logvar_p")
bad(objectives.gaussian_log_prob, lambda: objectives.gaussian_log_prob(_with(NAN), 0.0, 0.0), ValueError, "x",
    label="nan x")
bad(objectives.gaussian_log_prob, lambda: objectives.gaussian_log_prob(torch.zeros(3, 2), _with(INF), 0.0),
    ValueError, "mu", label="inf mu")
bad(objectives.gaussian_log_prob, lambda: objectives.gaussian_log_prob(torch.zeros(3, 2), 0.0, _with(NAN)),
    ValueError, "logvar", label="nan logvar")
bad(objectives.bernoulli_log_prob, lambda: objectives.bernoulli_log_prob(torch.zeros(3, 2), _with(NAN)),
    ValueError, "logits", label="nan logits")
bad(models.VAE, lambda: tiny_vae().encode(_with(NAN, 5, (2, 784))), ValueError, "x", "nan", label="encode nan")
bad(models.VAE, lambda: tiny_vae().encode(_with(INF, 5, (2, 784))), ValueError, "x", "inf", label="encode inf")
bad(models.VAE, lambda: tiny_vae()(_with(NAN, 5, (2, 784))), ValueError, "x", label="forward nan")
bad(models.VAE, lambda: tiny_vae().decode(_with(NAN, 1, (2, 2))), ValueError, "z", "nan", label="decode nan")
bad(models.VAE, lambda: tiny_vae().decode(_with(-INF, 1, (2, 2))), ValueError, "z", label="decode -inf")
bad(models.reparameterize, lambda: models.reparameterize(_with(NAN), torch.zeros(3, 2)), ValueError, "mu",
    label="nan mu")
bad(models.reparameterize, lambda: models.reparameterize(torch.zeros(3, 2), _with(INF)), ValueError, "logvar",
    label="inf logvar")
bad(estimators.score_function_grads, lambda: estimators.score_function_grads(
    _F, torch.tensor([NAN, 0.0]), torch.ones(2), torch.randn(5, 2)), ValueError, "mu", label="nan mu")
bad(estimators.score_function_grads, lambda: estimators.score_function_grads(
    _F, torch.zeros(2), torch.tensor([NAN, 1.0]), torch.randn(5, 2)), ValueError, "sigma", label="nan sigma")
bad(estimators.score_function_grads, lambda: estimators.score_function_grads(
    _F, torch.zeros(2), torch.ones(2), torch.randn(5, 2), baseline=NAN), ValueError, "baseline",
    label="nan baseline")
bad(estimators.pathwise_grads, lambda: estimators.pathwise_grads(_F, torch.zeros(2), torch.ones(2),
                                                                 _with(INF, 0, (5, 2))),
    ValueError, "eps", label="inf eps")
bad(estimators.mean_and_stderr, lambda: estimators.mean_and_stderr(_with(NAN, 0, (4, 2))), ValueError,
    "per_sample", label="nan")
bad(estimators.estimator_variance, lambda: estimators.estimator_variance(
    "pathwise", _F, torch.tensor([INF, 0.0]), torch.ones(2), n_samples=4), ValueError, "mu", label="inf mu")
bad(estimators.gumbel_softmax_sample, lambda: estimators.gumbel_softmax_sample(torch.tensor([0.0, NAN]), tau=0.5),
    ValueError, "logits", label="nan logits")
bad(estimators.gumbel_softmax_sample, lambda: estimators.gumbel_softmax_sample(torch.zeros(3), tau=0.5 + 1j),
    TypeError, "tau", "complex", label="complex tau")
bad(toy_models.log_normal, lambda: toy_models.log_normal(NAN, 0.0, 1.0), ValueError, "z", "nan", label="nan z")
bad(toy_models.log_normal, lambda: toy_models.log_normal(0.0, torch.tensor([INF]), 1.0), ValueError, "mean",
    label="inf mean")
bad(toy_models.ConjugateGaussian, lambda: toy_models.ConjugateGaussian().elbo(torch.tensor([1.0, NAN]), 0.0, 0.0),
    ValueError, "x", "nan", label="elbo nan x")
bad(toy_models.ConjugateGaussian, lambda: toy_models.ConjugateGaussian().elbo(0.0, 0.0, INF), ValueError,
    "logvar_q", label="elbo inf logvar_q")
bad(toy_models.ConjugateGaussian, lambda: toy_models.ConjugateGaussian().log_evidence(NAN), ValueError, "x",
    label="log_evidence nan")
bad(toy_models.ConjugateGaussian, lambda: toy_models.ConjugateGaussian().posterior(torch.tensor([INF])),
    ValueError, "x", label="posterior inf")
bad(toy_models.ConjugateGaussian, lambda: toy_models.ConjugateGaussian().mc_elbo(0.0, NAN, 0.0), ValueError,
    "mu_q", label="mc_elbo nan mu_q")
bad(toy_models.ConjugateGaussian, lambda: toy_models.ConjugateGaussian(sigma=0.5 + 0.1j), TypeError, "sigma",
    "complex", label="complex sigma")
bad(toy_models.GaussianMixture1D, lambda: toy_models.bimodal_mixture().log_prob(torch.tensor([NAN])), ValueError,
    "z", label="log_prob nan")
bad(toy_models.GaussianFit, lambda: toy_models.GaussianFit(0.0, 1.0).log_prob(INF), ValueError, "z",
    label="log_prob inf")
bad(toy_models.forward_kl_on_grid, lambda: toy_models.forward_kl_on_grid(toy_models.bimodal_mixture(), 0.0, 0.0,
                                                                         _SORTED.flip(0)),
    ValueError, "grid", "increasing", label="unsorted grid")
bad(toy_models.forward_kl_on_grid, lambda: toy_models.forward_kl_on_grid(toy_models.bimodal_mixture(), NAN, 0.0),
    ValueError, "mu", label="nan mu")
bad(toy_models.reverse_kl_on_grid, lambda: toy_models.reverse_kl_on_grid(toy_models.bimodal_mixture(), 0.0, 0.0,
                                                                         _SORTED[torch.randperm(101)]),
    ValueError, "grid", "increasing", label="shuffled grid")
bad(toy_models.reverse_kl_on_grid, lambda: toy_models.reverse_kl_on_grid(toy_models.bimodal_mixture(), 0.0, INF),
    ValueError, "log_sigma", label="inf log_sigma")
bad(vm.NormalGamma, lambda: vm.NormalGamma(mu0=1j), TypeError, "mu0", "complex", label="complex")
bad(vm.sample_normal_data, lambda: vm.sample_normal_data(5, 0.0, 1.0, seed=-1), ValueError, "seed", label="seed")
bad(vm.sample_logistic_data, lambda: vm.sample_logistic_data(5, torch.tensor([NAN, 1.0])), ValueError, "w",
    label="nan w")
bad(vm.sample_logistic_data, lambda: vm.sample_logistic_data(5, torch.ones(2), seed=1.5), ValueError, "seed",
    label="seed")
bad(vm.logistic_log_joint, lambda: vm.logistic_log_joint(torch.zeros(2), _with(INF), torch.zeros(3)),
    ValueError, "features", label="inf features")
bad(vm.normal_gamma_log_density, lambda: vm.normal_gamma_log_density(torch.tensor([NAN]), torch.ones(1), _PRIOR),
    ValueError, "mu", label="nan mu")
bad(vm.sample_poisson, lambda: vm.sample_poisson(3, 1e30), ValueError, "rate", "1e+15", label="rate 1e30")
bad(vm.sample_poisson, lambda: vm.sample_poisson(3, 2.0, seed=-1), ValueError, "seed", label="seed")
bad(vm.poisson_gamma_log_joint_log_rate, lambda: vm.poisson_gamma_log_joint_log_rate(
    torch.tensor([NAN]), torch.ones(3), a0=1.0, b0=1.0), ValueError, "zeta", label="nan zeta")
bad(vm.PPCA, lambda: vm.PPCA(_with(NAN, 0, (3, 2)), torch.zeros(3), 0.5), ValueError, "W", "nan", label="nan W")
bad(vm.ppca_elbo, lambda: vm.ppca_elbo(torch.zeros(4, 3, dtype=torch.float64), torch.zeros(4, 2, dtype=torch.float64),
                                       torch.tensor([NAN, 0.0], dtype=torch.float64), _ppca()),
    ValueError, "logvar", label="nan logvar")
bad(vm.sample_ppca, lambda: vm.sample_ppca(3, _ppca(), seed=-2), ValueError, "seed", label="seed")
bad(vm.minibatch_elbo, lambda: vm.minibatch_elbo(torch.tensor([1.0, NAN]), n_total=10), ValueError,
    "elbo_per_point", label="nan")
bad(plotting.image_grid, lambda: plotting.image_grid(digits() * 255), ValueError, "images", "[0, 1]",
    label="0-255")
bad(plotting.image_grid, lambda: plotting.image_grid(torch.randn(4, 784) * 5), ValueError, "images", "[0, 1]",
    label="logits")
bad(plotting.to_numpy_images, lambda: plotting.to_numpy_images(np.ones((2, 784), dtype=complex)), TypeError,
    "images", "complex", label="complex")
bad(plotting.latent_scatter, lambda: plotting.latent_scatter(np.ones((3, 2), dtype=complex), np.zeros(3)),
    TypeError, "z", "complex", label="complex")
bad(widgets.encode_mean, lambda: widgets.encode_mean(tiny_vae(), digits() * 255), ValueError, "x", "[0, 1]",
    label="0-255")
bad(widgets.encode_mean, lambda: widgets.encode_mean(tiny_vae(), digits(), batch_size=0), ValueError,
    "batch_size", label="batch_size 0")
bad(widgets.to_png, lambda: widgets.to_png(np.full((2, 2), -3.0)), ValueError, "image", "[0, 1]", label="-3")
bad(widgets.to_png, lambda: widgets.to_png(np.full((2, 2), 255.0)), ValueError, "image", "[0, 1]", label="255")
bad(widgets.decode_mean, lambda: widgets.decode_mean(tiny_vae(), np.array([1 + 1j, 0.0])), TypeError, "z",
    "complex", label="complex")
bad(widgets.interpolate, lambda: widgets.interpolate([0.0, 0.0], [1.0, 1.0], 0.5 + 0.5j), TypeError, "t",
    "complex", label="complex t")
bad(widgets.interpolate, lambda: widgets.interpolate(np.array([1j, 0.0]), [1.0, 1.0], 0.5), TypeError, "z_start",
    label="complex z_start")
bad(widgets.EncodeEditExplorer, lambda: widgets.EncodeEditExplorer(tiny_vae(), digits(), np.zeros(6),
                                                                   activity=torch.ones(2), threshold=NAN),
    ValueError, "threshold", label="nan threshold")
bad(widgets.EncodeEditExplorer, lambda: widgets.EncodeEditExplorer(tiny_vae(), digits(), np.zeros(6),
                                                                   activity=torch.tensor([NAN, 1.0])),
    ValueError, "activity", "nan", label="nan activity")
bad(widgets.EncodeEditExplorer, lambda: widgets.EncodeEditExplorer(tiny_vae(), digits() * 255, np.zeros(6)),
    ValueError, "x", "[0, 1]", label="0-255")
bad(widgets.InterpolationExplorer, lambda: widgets.InterpolationExplorer(tiny_vae(), digits() - 0.5), ValueError,
    "x", "[0, 1]", label="negative pixels")
bad(widgets.LatentExplorer2D, lambda: widgets.LatentExplorer2D(tiny_vae(), np.ones((3, 2), dtype=complex),
                                                               np.zeros(3)),
    TypeError, "z_map", "complex", label="complex")
bad(pretrained.load, lambda: pretrained.load("vae-mnist-z2", device="cuda"), ValueError, "device",
    "no CUDA device is available", label="cuda without CUDA")
bad(pretrained.load, lambda: pretrained.load("vae-mnist-z2", device="tpu"), ValueError, "device", label="tpu")
bad(pretrained.load, lambda: pretrained.load("vae-mnist-z2", device=0.5), TypeError, "device", label="float")
bad(data.static_binarize, lambda: data.static_binarize(torch.rand(3), seed=-1), ValueError, "seed", label="seed")
bad(data.train_valid_split, lambda: data.train_valid_split(torch.rand(5, 2), torch.arange(5), 1, seed=1.5),
    ValueError, "seed", label="seed")
bad(linear.pca, lambda: linear.pca(np.ones((4, 3)) * (1 + 1j), m=1), TypeError, "x", "complex", label="complex")
bad(linear.nmf, lambda: linear.nmf(np.ones((3, 3)), k=1, seed=-1), ValueError, "seed", label="seed")
bad(beyond.rate_distortion, lambda: beyond.rate_distortion(tiny_vae(), digits(), batch_size=0), ValueError,
    "batch_size", label="batch_size 0")
bad(beyond.posterior_means, lambda: beyond.posterior_means(tiny_vae(), digits(), batch_size=-5), ValueError,
    "batch_size", label="batch_size")
bad(beyond.unit_activity, lambda: beyond.unit_activity(_with(NAN)), ValueError, "mu", "nan", label="nan")
bad(beyond.iwae_from_log_weights, lambda: beyond.iwae_from_log_weights(_with(NAN, 0, (4, 2)), k=2), ValueError,
    "log_w", label="nan")
bad(beyond.latent_traversal, lambda: beyond.latent_traversal(tiny_vae(), torch.zeros(2), dim=0, values=[0.0, NAN]),
    ValueError, "z", label="nan value")

# ---------------------------------------------------------------- validate (the checks the helpers above call)
bad(validate.finite, lambda: validate.finite("codes", torch.tensor([0.0, NAN], requires_grad=True)), ValueError,
    "codes", "1 nan or inf")
bad(validate.finite, lambda: validate.finite("codes", np.zeros(2, dtype=complex)), TypeError, "codes", "complex",
    label="complex")
bad(validate.number, lambda: validate.number("lr", INF), ValueError, "lr", "finite")
bad(validate.number, lambda: validate.number("lr", 1j), TypeError, "lr", "complex", label="complex")
bad(validate.real_array, lambda: validate.real_array("x", [[1.0], [1.0, 2.0]]), TypeError, "x", "numbers")
bad(validate.unit_interval, lambda: validate.unit_interval("images", torch.full((2, 2), 255.0)), ValueError,
    "images", "[0, 1]", "255")
bad(validate.seed, lambda: validate.seed(True), ValueError, "seed", "random seed")
bad(validate.batch_size, lambda: validate.batch_size(0), ValueError, "batch_size", ">= 1")
bad(validate.device, lambda: validate.device("cuda:0"), ValueError, "device", "no CUDA device is available")
bad(validate.device, lambda: validate.device("gpu"), ValueError, "device", label="unknown name")

# ---------------------------------------------------------------- walking the public API


def _public_modules() -> list:
    """helpers and its modules, except helpers.checks (a package) and helpers.assignments: those are the issue-15
    exercise machinery, covered by their own tests (tests/test_checks_*.py, tests/test_assignments.py)."""
    names = [info.name for info in pkgutil.iter_modules(helpers.__path__)
             if info.name not in ("checks", "assignments")]
    return [helpers] + [importlib.import_module(f"helpers.{name}") for name in sorted(names)]


def _public_callables() -> list[tuple[str, object]]:
    found = []
    for module in _public_modules():
        for name in getattr(module, "__all__", []):
            value = getattr(module, name)
            if inspect.isclass(value) and issubclass(value, BaseException):
                continue  # an exception class takes any message: there is no bad input to give it
            if inspect.isfunction(value) or inspect.isclass(value):
                found.append((f"{module.__name__}.{name}", value))
    return found


def test_every_public_callable_has_a_bad_input_case():
    from tests.test_bad_inputs_others import CASES as OTHER_CASES

    covered = {id(case.target) for case in CASES + OTHER_CASES}
    missing = [name for name, value in _public_callables() if id(value) not in covered]
    assert not missing, f"public helpers without a bad-input case in tests/test_bad_inputs*.py: {missing}"


@pytest.fixture(autouse=True)
def _restore_env():
    saved = {name: os.environ.get(name) for name in ("VAE_NOTES_DEVICE", "VAE_NOTES_CACHE")}
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def _run(case: Case) -> None:
    allowed = (ValueError, TypeError) if case.error in (ValueError, TypeError) else case.error
    with pytest.raises(allowed) as info:
        case.call()
    assert isinstance(info.value, case.error), f"{type(info.value).__name__} instead of {case.error.__name__}"
    message = str(info.value)
    for word in case.words:
        assert word in message, f"the message should mention {word!r}: {message}"


@pytest.mark.parametrize("case", CASES, ids=[case.label for case in CASES])
def test_bad_input_raises_a_clear_error(case):
    _run(case)

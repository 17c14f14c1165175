"""The training recipes: validation, schedules, augmentation, the loop's stopping rules and the comparison."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path

import pytest
import torch

from helpers.models import VAE
from helpers.objectives import bernoulli_log_prob, iwae_bound, kl_normal
from helpers.recipes import (
    OURS,
    OURS_2D,
    RECIPES,
    REFERENCE,
    Recipe,
    _init_output_bias,
    _kl_weight,
    _shift,
    compare_recipes,
    fit_options,
    iwae_training_bound,
    test_elbo,
    test_iwae,
    train_vae,
)
from helpers.training import cosine_lr

TINY = Recipe(name="tiny", hidden=(32,), activation="relu", batch_size=200, lr=3e-3, epochs=3,
              lr_schedule="cosine", n_valid=200, patience=5, output_bias_init=True, shift=1)


def test_reference_is_the_pytorch_examples_vae():
    assert (REFERENCE.hidden, REFERENCE.activation, REFERENCE.batch_size, REFERENCE.lr) == ((400,), "relu", 128, 1e-3)
    assert REFERENCE.lr_schedule == "constant" and REFERENCE.n_valid == 0 and REFERENCE.shift == 0
    assert not REFERENCE.output_bias_init and REFERENCE.warmup == 0 and REFERENCE.ema == 0
    assert RECIPES == {"ours": OURS, "ours-2d": OURS_2D, "reference": REFERENCE}


@pytest.mark.parametrize(("change", "error", "message"), [
    ({"name": ""}, TypeError, "name must be a non-empty str"),
    ({"hidden": [400]}, TypeError, "hidden must be a tuple of positive ints"),
    ({"hidden": (400, 0)}, TypeError, "hidden must be a tuple of positive ints"),
    ({"activation": "swish"}, ValueError, "activation must be one of"),
    ({"batch_size": 0}, ValueError, "batch_size must be a positive int, got 0"),
    ({"epochs": 0}, ValueError, "epochs must be a positive int, got 0"),
    ({"epochs": 2.5}, ValueError, "epochs must be a positive int"),
    ({"lr": 0.0}, ValueError, "lr must be a positive finite number"),
    ({"lr": math.nan}, ValueError, "lr must be a positive finite number"),
    ({"lr_schedule": "linear"}, ValueError, "lr_schedule must be one of"),
    ({"warmup": 1.0}, ValueError, "warmup must be a fraction"),
    ({"warmup": -0.1}, ValueError, "warmup must be a fraction"),
    ({"n_valid": -1}, ValueError, "n_valid must be an int in"),
    ({"n_valid": 3999}, ValueError, "n_valid must be an int in"),
    ({"patience": 0}, ValueError, "patience must be a positive int or None, got 0"),
    ({"n_valid": 0, "patience": 3}, ValueError, "patience (early stopping) needs n_valid"),
    ({"weight_decay": -1e-4}, ValueError, "weight_decay must be a non-negative"),
    ({"output_bias_init": 1}, TypeError, "output_bias_init must be a bool"),
    ({"ema": 1.0}, ValueError, "ema must be a decay in [0, 1)"),
    ({"shift": -1}, ValueError, "shift must be an int in"),
    ({"shift": 14}, ValueError, "shift must be an int in"),
    ({"train_samples": 0}, ValueError, "train_samples must be an int in [1, 64]"),
    ({"train_samples": 2.0}, ValueError, "train_samples must be an int in"),
    ({"train_samples": 3, "warmup": 0.1}, ValueError, "warmup weights the ELBO's KL term"),
])
def test_recipe_rejects_bad_fields_on_construction(change, error, message):
    with pytest.raises(error, match=re.escape(message)):
        dataclasses.replace(TINY, **change)


def test_cosine_schedule_and_warmup():
    assert cosine_lr(3e-3, 0.0) == pytest.approx(3e-3)
    assert cosine_lr(3e-3, 0.5) == pytest.approx(1.5e-3)
    assert cosine_lr(3e-3, 1.0) == pytest.approx(0.0, abs=1e-12)
    warm = dataclasses.replace(TINY, warmup=0.2)
    assert [_kl_weight(warm, d) for d in (0.0, 0.1, 0.2, 0.7)] == pytest.approx([0.0, 0.5, 1.0, 1.0])
    assert _kl_weight(TINY, 0.0) == 1.0


def test_fit_options_follow_the_recipe_and_the_warmup_sets_the_kl_weight():
    warm = dataclasses.replace(TINY, warmup=0.5)
    options = fit_options(warm)
    assert (options["epochs"], options["batch_size"], options["lr"], options["lr_schedule"]) == (3, 200, 3e-3, "cosine")
    assert options["keep_best"] and options["patience"] == 5
    torch.manual_seed(0)
    model, batch = VAE(2, (8,)), torch.rand(4, 784).round()
    options["on_step"](0.0)
    torch.manual_seed(1)
    loss_cold, metrics = options["loss_fn"](model, batch)
    options["on_step"](0.25)  # half-way through a warm-up of 0.5: KL weight 0.5
    torch.manual_seed(1)
    loss_half, _ = options["loss_fn"](model, batch)
    torch.manual_seed(1)
    logits, mu, logvar = model(batch)
    log_lik, kl = bernoulli_log_prob(batch, logits), kl_normal(mu, logvar)
    assert torch.allclose(loss_cold, -log_lik.mean()) and torch.allclose(loss_half, (-log_lik + 0.5 * kl).mean())
    assert torch.allclose(metrics["elbo"], (log_lik - kl).mean()), "the recorded ELBO has the full KL"


def test_iwae_training_bound_is_the_evaluation_bound_with_gradients():
    torch.manual_seed(0)
    model, x = VAE(4, (32,)), (torch.rand(6, 784) > 0.5).float()
    torch.manual_seed(1)
    bound, log_weights = iwae_training_bound(model, x, 7)
    torch.manual_seed(1)
    assert torch.allclose(bound, iwae_bound(model, x, k=7), atol=1e-4)
    assert log_weights.shape == (7, 6) and bound.requires_grad
    assert torch.all(bound >= log_weights.mean(dim=0) - 1e-4), "the IWAE bound is at least the mean log weight"
    with pytest.raises(ValueError, match="k must be a positive int"):
        iwae_training_bound(model, x, 0)


def test_iwae_training_trains_on_the_bound_and_records_the_elbo():
    recipe = dataclasses.replace(TINY, train_samples=4)
    options = fit_options(recipe)
    torch.manual_seed(0)
    model, x = VAE(4, (32,)), (torch.rand(10, 784) > 0.5).float()
    loss, metrics = options["loss_fn"](model, x)
    assert loss.requires_grad and set(metrics) == {"elbo"}
    assert float(loss) <= -float(metrics["elbo"]) + 1e-3, "minus the IWAE bound is at most minus the mean log weight"
    trained = train_vae(dataclasses.replace(recipe, n_valid=0, patience=None), 4, seed=0, progress=False)
    losses = trained.history["train_loss"]
    assert len(losses) == 3 and losses[-1] < losses[0]


def test_shift_moves_each_digit_by_at_most_the_allowed_pixels():
    x = torch.zeros(50, 784)
    x.view(50, 28, 28)[:, 14, 14] = 1.0
    shifted = _shift(x, 1, torch.Generator().manual_seed(0)).view(50, 28, 28)
    assert shifted.sum().item() == 50  # a centred pixel never leaves the image
    rows, cols = shifted.nonzero()[:, 1], shifted.nonzero()[:, 2]
    assert rows.sub(14).abs().max() <= 1 and cols.sub(14).abs().max() <= 1
    assert len(set(zip(rows.tolist(), cols.tolist()))) > 3, "the shifts should vary between digits"


def test_output_bias_init_makes_the_untrained_decoder_draw_the_mean_digit():
    torch.manual_seed(0)
    model, x = VAE(3, (16,)), torch.rand(64, 784)
    _init_output_bias(model, x)
    assert torch.allclose(torch.sigmoid(model.decoder[-1].bias), x.mean(0).clamp(1e-3, 1 - 1e-3), atol=1e-5)


@pytest.mark.usefixtures("bundled_cache")
def test_train_vae_trains_scores_and_calls_back():
    seen = []
    trained = train_vae(TINY, 2, seed=0, progress=False, on_epoch_end=lambda e, m: seen.append((e, m.training)))
    history = trained.history
    assert seen == [(1, True), (2, True), (3, True)]
    assert history["epoch"] == [1, 2, 3] and len(history["valid_elbo"]) == 3 and len(history["train_elbo"]) == 3
    assert history["valid_elbo"][-1] > history["valid_elbo"][0], "three epochs should improve the validation ELBO"
    assert not trained.model.training
    assert trained.summary()["epochs_run"] == 3
    score = test_elbo(trained.model)
    assert -300 < score < -100
    assert test_iwae(trained.model, k=20) > score, "IWAE-20 is a tighter bound than the ELBO"


@pytest.mark.usefixtures("bundled_cache")
def test_train_vae_uses_a_given_model_and_stops_at_the_budget():
    model = VAE(2, (32,))
    long = dataclasses.replace(TINY, epochs=10_000, patience=None, n_valid=0)
    trained = train_vae(long, 2, budget_s=0.3, progress=False, model=model)
    assert trained.model is model
    assert trained.seconds < 5, "the budget should stop training soon after 0.3 s"
    assert len(trained.history["epoch"]) < 10_000


@pytest.mark.usefixtures("bundled_cache")
def test_train_vae_is_reproducible_from_its_seed():
    first = train_vae(dataclasses.replace(TINY, epochs=1), 2, seed=3, progress=False)
    second = train_vae(dataclasses.replace(TINY, epochs=1), 2, seed=3, progress=False)
    assert first.history["train_elbo"] == second.history["train_elbo"]


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"recipe": "ours"}, TypeError, "recipe must be a Recipe"),
    ({"budget_s": 0}, ValueError, "budget_s must be a positive number"),
    ({"budget_s": True}, ValueError, "budget_s must be a positive number"),
])
def test_train_vae_rejects_bad_arguments(kwargs, error, message):
    args = {"recipe": TINY, "latent_dim": 2, **kwargs}
    with pytest.raises(error, match=message):
        train_vae(args.pop("recipe"), args.pop("latent_dim"), **args)


def test_test_elbo_rejects_bad_repeats():
    with pytest.raises(ValueError, match="repeats must be a positive int"):
        test_elbo(VAE(2, (8,)), repeats=0)


@pytest.mark.usefixtures("bundled_cache")
def test_compare_recipes_reports_both_recipes_and_their_difference():
    fast = dataclasses.replace(TINY, name="fast", epochs=2)
    slow = dataclasses.replace(TINY, name="slow", epochs=1, lr=1e-4, output_bias_init=False)
    threads = torch.get_num_threads()
    result = compare_recipes(budget_s=30, seeds=(0, 1), latent_dim=2, recipes=(fast, slow), threads=1, iwae_k=20)
    assert torch.get_num_threads() == threads, "compare_recipes must restore the thread count"
    assert [(r["recipe"], r["seed"]) for r in result["runs"]] == [("fast", 0), ("slow", 0), ("fast", 1), ("slow", 1)]
    for score in ("elbo", "iwae"):
        means = {name: s[f"test_{score}_mean"] for name, s in result["summary"].items()}
        difference = result["difference"][score]
        assert difference["mean"] == pytest.approx(means["fast"] - means["slow"])
        assert len(difference["per_seed"]) == 2 and difference["sd"] >= 0
        assert difference["mean"] > 10, "two epochs at a good learning rate beat one at a tiny one"
    for name, gap in result["inference_gap"].items():
        assert gap > 0, f"IWAE-k should be above the ELBO for {name}"
    assert math.isfinite(result["summary"]["fast"]["test_elbo_sd"]) and result["threads"] == 1


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"seeds": ()}, "seeds must name at least one seed"),
    ({"threads": 0}, "threads must be a positive int"),
    ({"budget_s": -1}, "budget_s must be a positive number"),
    ({"iwae_k": 0}, "iwae_k must be a positive int"),
    ({"recipes": (TINY,)}, "recipes must hold at least two Recipe objects"),
])
def test_compare_recipes_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        compare_recipes(**kwargs)


def test_the_2d_recipe_is_the_best_candidate_of_its_recorded_selection():
    """OURS_2D's objective and length are what `python -m tools.choose_2d_recipe` measured best on held-out digits."""
    record = json.loads((Path(__file__).resolve().parent.parent / "tools" / "choose_2d_recipe.json").read_text())
    best = max(record["candidates"], key=lambda row: row["valid_iwae_1000"])
    assert (OURS_2D.train_samples, OURS_2D.epochs) == (best["train_samples"], best["epochs"])
    assert OURS_2D.n_valid == 0, "the chosen recipe then trains on all 4,000 digits"
    assert {row["train_samples"] for row in record["candidates"]} == {1, OURS.train_samples}, "both objectives tried"

"""The training recipes: validation, schedules, augmentation, the loop's stopping rules and the comparison."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from helpers.models import VAE
from helpers.recipes import (
    OURS,
    OURS_2D,
    RECIPES,
    REFERENCE,
    Recipe,
    _init_output_bias,
    _kl_weight,
    _lr,
    _shift,
    _WeightAverage,
    compare_recipes,
    test_elbo,
    test_iwae,
    train_vae,
)

TINY = Recipe(name="tiny", hidden=(32,), activation="relu", batch_size=200, lr=3e-3, epochs=3,
              lr_schedule="cosine", n_valid=200, patience=5, output_bias_init=True, shift=1)


def test_reference_is_the_pytorch_examples_vae():
    assert (REFERENCE.hidden, REFERENCE.activation, REFERENCE.batch_size, REFERENCE.lr) == ((400,), "relu", 128, 1e-3)
    assert REFERENCE.lr_schedule == "constant" and REFERENCE.n_valid == 0 and REFERENCE.shift == 0
    assert not REFERENCE.output_bias_init and REFERENCE.warmup == 0 and REFERENCE.ema == 0
    assert RECIPES == {"ours": OURS, "ours-2d": OURS_2D, "reference": REFERENCE}


@pytest.mark.parametrize(("change", "message"), [
    ({"lr_schedule": "linear"}, "lr_schedule must be one of"),
    ({"warmup": 1.0}, "warmup must be a fraction"),
    ({"warmup": -0.1}, "warmup must be a fraction"),
    ({"n_valid": 0, "patience": 3}, "patience (early stopping) needs n_valid"),
])
def test_recipe_rejects_bad_fields(change, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        dataclasses.replace(TINY, **change)


def test_cosine_schedule_and_warmup():
    assert _lr(TINY, 0.0) == pytest.approx(3e-3)
    assert _lr(TINY, 0.5) == pytest.approx(1.5e-3)
    assert _lr(TINY, 1.0) == pytest.approx(0.0, abs=1e-12)
    assert _lr(REFERENCE, 0.9) == 1e-3
    warm = dataclasses.replace(TINY, warmup=0.2)
    assert [_kl_weight(warm, d) for d in (0.0, 0.1, 0.2, 0.7)] == pytest.approx([0.0, 0.5, 1.0, 1.0])
    assert _kl_weight(TINY, 0.0) == 1.0


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


def test_weight_average_follows_the_formula_and_swaps_back():
    model = torch.nn.Linear(2, 1)
    average = _WeightAverage(model, decay=0.9)
    before = [p.detach().clone() for p in model.parameters()]
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    average.update(model, step=1000)  # decay = min(0.9, 1001/1010) = 0.9
    for avg, old in zip(average.shadow, before):
        assert torch.allclose(avg, old + 0.1)
    current = [p.detach().clone() for p in model.parameters()]
    with average.swapped_in(model):
        assert torch.allclose(model.weight, average.shadow[0])
    assert all(torch.equal(p, c) for p, c in zip(model.parameters(), current))


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
    result = compare_recipes(budget_s=30, seeds=(0, 1), latent_dim=2, recipes=(fast, slow), threads=1)
    assert torch.get_num_threads() == threads, "compare_recipes must restore the thread count"
    assert [(r["recipe"], r["seed"]) for r in result["runs"]] == [("fast", 0), ("slow", 0), ("fast", 1), ("slow", 1)]
    means = {name: s["test_elbo_mean"] for name, s in result["summary"].items()}
    assert result["difference"] == pytest.approx(means["fast"] - means["slow"])
    assert result["difference"] > 10, "two epochs at a good learning rate beat one at a tiny one"
    assert math.isfinite(result["summary"]["fast"]["test_elbo_sd"]) and result["threads"] == 1


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"seeds": ()}, "seeds must name at least one seed"),
    ({"threads": 0}, "threads must be a positive int"),
    ({"budget_s": -1}, "budget_s must be a positive number"),
])
def test_compare_recipes_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        compare_recipes(**kwargs)

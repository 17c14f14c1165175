"""Bad-input cases for the modules other helpers own: training, recipes, export, judge, progress, figures, and the
functions appended to beyond. Same contract and same runner as tests/test_bad_inputs.py, whose API walker counts
these cases too."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from book import export
from helpers import beyond, judge, progress, recipes, training
from tests.test_bad_inputs import Case, _run, digits, tiny_vae
from tools import figures

NAN = float("nan")
CASES: list[Case] = []


def bad(target, call, error, *words: str, label: str = "", known_gap: str = "") -> None:
    """A case; `known_gap` names a bad input the owning module does not reject yet (a strict xfail: it turns
    into a failure as soon as the module is fixed, so the mark gets removed)."""
    case = Case(target, call, error, words, f"{target.__module__}.{target.__name__}:{label or words[0]}")
    CASES.append(case)
    if known_gap:
        KNOWN_GAPS[case.label] = known_gap


KNOWN_GAPS: dict[str, str] = {}


def _loss(model, batch):
    logits, mu, logvar = model(batch)
    return -beyond.beta_vae_loss(batch, logits, mu, logvar) * -1


def _fit(**overrides):
    arguments = {"model": tiny_vae(), "loss_fn": _loss, "train_x": digits(), "epochs": 1, "progress": False}
    return training.fit(**{**arguments, **overrides})


def _recipe(**overrides) -> recipes.Recipe:
    fields = {"name": "tiny", "hidden": (8,), "activation": "relu", "batch_size": 4, "lr": 1e-3, "epochs": 1}
    return recipes.Recipe(**{**fields, **overrides})


def _nan_digits():
    x = digits()
    x[2, 3] = NAN
    return x


# ---------------------------------------------------------------- training (issue 17's helper implements these)
bad(training.fit, lambda: _fit(patience=0, valid_x=digits()), ValueError, "patience")
bad(training.fit, lambda: _fit(max_seconds=0), ValueError, "max_seconds")
bad(training.fit, lambda: _fit(max_seconds=-5.0), ValueError, "max_seconds", label="negative seconds")
bad(training.fit, lambda: _fit(train_x=_nan_digits()), ValueError, "train_x", label="nan data")
bad(training.fit, lambda: _fit(train_x=digits().numpy()), TypeError, "train_x", label="numpy")
bad(training.fit, lambda: _fit(train_x=digits().double()), TypeError, "train_x", label="float64")
bad(training.fit, lambda: _fit(train_x=torch.zeros(0, 784)), ValueError, "train_x", label="empty")
bad(training.fit, lambda: _fit(epochs=0), ValueError, "epochs")
bad(training.fit, lambda: _fit(valid_x=digits().numpy()), TypeError, "valid_x")
bad(training.evaluate, lambda: training.evaluate(tiny_vae(), _loss, torch.zeros(0, 784)), ValueError, "x")
bad(training.evaluate, lambda: training.evaluate(tiny_vae(), _loss, digits().numpy()), TypeError, "x",
    label="numpy")
bad(training.evaluate, lambda: training.evaluate(tiny_vae(), _loss, digits().double()), TypeError, "x",
    label="float64")
bad(training.evaluate, lambda: training.evaluate(tiny_vae(), _loss, digits(), batch_size=0), ValueError,
    "batch_size")
bad(training.cosine_lr, lambda: training.cosine_lr(1e-3, progress=2.0), ValueError, "progress")
bad(training.cosine_lr, lambda: training.cosine_lr(-1.0, progress=0.5), ValueError, "lr", label="lr")

# ---------------------------------------------------------------- recipes
bad(recipes.Recipe, lambda: _recipe(epochs=0), ValueError, "epochs")
bad(recipes.Recipe, lambda: _recipe(batch_size=0), ValueError, "batch_size")
bad(recipes.Recipe, lambda: _recipe(lr=NAN), ValueError, "lr")
bad(recipes.Recipe, lambda: _recipe(activation="swish"), ValueError, "activation")
bad(recipes.Recipe, lambda: _recipe(hidden=400), TypeError, "hidden")
bad(recipes.Recipe, lambda: _recipe(train_samples=0), ValueError, "train_samples")
bad(recipes.iwae_training_bound, lambda: recipes.iwae_training_bound(tiny_vae(), digits(), 0), ValueError, "k")
bad(recipes.iwae_training_bound, lambda: recipes.iwae_training_bound(tiny_vae(), _nan_digits(), 2), ValueError, "x",
    label="nan data")
bad(recipes.TrainedVAE, lambda: recipes.TrainedVAE("model", _recipe(), {}, 0.0), TypeError, "model")
bad(recipes.train_vae, lambda: recipes.train_vae("ours", 2), TypeError, "recipe")
bad(recipes.train_vae, lambda: recipes.train_vae(_recipe(), 0), ValueError, "latent_dim")
bad(recipes.train_vae, lambda: recipes.train_vae(_recipe(), 2, budget_s=0), ValueError, "budget_s")
bad(recipes.test_elbo, lambda: recipes.test_elbo(tiny_vae(), repeats=0), ValueError, "repeats")
bad(recipes.test_iwae, lambda: recipes.test_iwae(tiny_vae(), k=0), ValueError, "k")
bad(recipes.fit_options, lambda: recipes.fit_options("ours"), TypeError, "recipe")
bad(recipes.scored_run, lambda: recipes.scored_run("ours", 2, None, 0), TypeError, "recipe")
bad(recipes.summarize, lambda: recipes.summarize("runs", ["ours"]), TypeError, "runs")
bad(recipes.compare_recipes, lambda: recipes.compare_recipes(seeds=()), ValueError, "seeds")
bad(recipes.effect_verdict, lambda: recipes.effect_verdict(1.9), TypeError, "effect must be a dict")
bad(recipes.effect_verdict, lambda: recipes.effect_verdict({"mean": 1.0, "sd": -1.0, "per_seed": [1, 2]}), ValueError,
    "non-negative sd")
bad(recipes.effect_verdict, lambda: recipes.effect_verdict({"mean": NAN, "sd": 0.1, "per_seed": [1, 2]}), ValueError,
    "finite mean")
bad(recipes.effect_verdict, lambda: recipes.effect_verdict({"mean": 1.0, "sd": 0.1, "per_seed": []}), ValueError,
    "at least one seed")

# ---------------------------------------------------------------- export
bad(export.explorer_payload, lambda: export.explorer_payload("vae-mnist-z16"), ValueError, "name")
bad(export.slider_limit, lambda: export.slider_limit(np.array([[NAN, 1.0]])), ValueError, "codes")
bad(export.two_d_models, lambda: export.two_d_models("all"), TypeError, "argument")
bad(export.write_explorer_data, lambda: export.write_explorer_data(3), TypeError, "outdir")
bad(export.main, lambda: export.main("outdir"), TypeError, "argv")

# ---------------------------------------------------------------- judge
bad(judge.DigitJudge, lambda: judge.DigitJudge(hidden=0), ValueError, "hidden")
bad(judge.train_digit_judge, lambda: judge.train_digit_judge(digits(), torch.arange(5)), ValueError, "labels")
bad(judge.gaussian_blur, lambda: judge.gaussian_blur(digits(), sigma=0), ValueError, "sigma")
bad(judge.non_digits, lambda: judge.non_digits(digits(), torch.arange(6), generator=0), TypeError, "generator")
bad(judge.non_digits, lambda: judge.non_digits(_nan_digits(), torch.arange(6), torch.Generator()), ValueError,
    "images", label="nan images")
bad(judge.present, lambda: judge.present(digits(), threshold=1.0), ValueError, "threshold")
bad(judge.held_out_non_digits, lambda: judge.held_out_non_digits(digits(), torch.arange(6), n=0), ValueError, "n")
bad(judge.judged_digits, lambda: judge.judged_digits("judge", digits()), TypeError, "judge")
bad(judge.judged_as_requested, lambda: judge.judged_as_requested(judge.DigitJudge(), digits(), torch.arange(5)),
    ValueError, "labels")
bad(judge.report_card, lambda: judge.report_card(None, digits(), torch.arange(6)), TypeError, "judge")
bad(judge.format_report_card, lambda: judge.format_report_card({"real": 1.0}), TypeError, "card")
bad(judge.precision_recall, lambda: judge.precision_recall(torch.zeros(6, 3), torch.full((6, 3), NAN)), ValueError,
    "samples", "finite")
bad(judge.set_scores, lambda: judge.set_scores(judge.DigitJudge(), digits(), digits() * 2), ValueError, "images")
bad(judge.set_baselines, lambda: judge.set_baselines(digits(), digits(), torch.arange(5)), ValueError,
    "test_labels")

# ---------------------------------------------------------------- progress
bad(progress.ProgressLine, lambda: progress.ProgressLine(0), ValueError, "total")
bad(progress.ProgressLine, lambda: progress.ProgressLine(3, desc=5), TypeError, "desc", label="desc")

# ---------------------------------------------------------------- figures
bad(figures.draw_all, lambda: figures.draw_all(names=["bp-nothing.png"]), ValueError, "names")
bad(figures.draw_all, lambda: figures.draw_all(names="bp-VI.png"), TypeError, "names", label="a str")
bad(figures.main, lambda: figures.main("--out"), TypeError, "argv")

# ---------------------------------------------------------------- beyond, appended functions
bad(beyond.free_bits_kl, lambda: beyond.free_bits_kl(torch.zeros(3, 2), torch.zeros(3, 2), lam=-1), ValueError, "lam")
bad(beyond.make_free_bits_loss, lambda: beyond.make_free_bits_loss(NAN), ValueError, "lam")
bad(beyond.elbo_of_q, lambda: beyond.elbo_of_q(tiny_vae(), digits(2) * 255, torch.zeros(2, 2), torch.zeros(2, 2),
                                                torch.zeros(1, 2, 2)), ValueError, "x", "[0, 1]")
bad(beyond.optimize_local_q, lambda: beyond.optimize_local_q(tiny_vae(), digits(2), lr=2.0), ValueError, "lr")

bad(beyond.free_bits_kl, lambda: beyond.free_bits_kl(torch.tensor([[NAN, 0.0]]), torch.zeros(1, 2), lam=0.5),
    ValueError, "mu", "nan", label="nan mu")
bad(beyond.elbo_of_q, lambda: beyond.elbo_of_q(tiny_vae(), digits(2), torch.full((2, 2), NAN), torch.zeros(2, 2),
                                                torch.zeros(1, 2, 2)), ValueError, "mu", "nan", label="nan mu")
bad(beyond.optimize_local_q, lambda: beyond.optimize_local_q(tiny_vae(), digits(2), seed=-1), ValueError, "seed",
    label="seed")

# ---------------------------------------------------------------- seeds, batch sizes, devices (issue 29, item 5)
bad(training.fit, lambda: _fit(seed=-1), ValueError, "seed", label="seed -1")
bad(training.fit, lambda: _fit(seed="0"), ValueError, "seed", label="seed str")
bad(recipes.train_vae, lambda: recipes.train_vae(_recipe(), 2, device="cuda"), ValueError, "device",
    "no CUDA device is available", label="cuda without CUDA")
bad(recipes.fit_options, lambda: recipes.fit_options(_recipe(), seed=-1), ValueError, "seed", label="seed")
bad(recipes.test_iwae, lambda: recipes.test_iwae(tiny_vae(), k=1, seed=1.5), ValueError, "seed", label="seed")
bad(recipes.compare_recipes, lambda: recipes.compare_recipes(seeds=("a",)), ValueError, "seeds", label="seed str")
bad(judge.train_digit_judge, lambda: judge.train_digit_judge(digits(), torch.arange(6), seed=-1), ValueError, "seed",
    label="seed")


@pytest.mark.parametrize("case", [
    pytest.param(case, marks=pytest.mark.xfail(strict=True, reason=KNOWN_GAPS[case.label]))
    if case.label in KNOWN_GAPS else case for case in CASES], ids=[case.label for case in CASES])
def test_bad_input_raises_a_clear_error(case):
    _run(case)

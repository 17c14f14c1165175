"""Notebook-07 checks: the reference passes, each typical mistake fails with its own message, crashes are reported."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from helpers.beyond import active_mask, beta_vae_loss
from helpers.checks import RESULTS, check_active_units_mask, check_beta_vae_loss
from helpers.objectives import bernoulli_log_prob, kl_normal

# ---------------------------------------------------------------- Exercise 7.1


def _right_loss(x, logits, mu, logvar, beta):
    return (-bernoulli_log_prob(x, logits) + beta * kl_normal(mu, logvar)).mean()


LOSS_MISTAKES = {
    "β multiplies the reconstruction term": lambda x, lg, mu, lv, b: (
        -b * bernoulli_log_prob(x, lg) + kl_normal(mu, lv)).mean(),
    "β is missing": lambda x, lg, mu, lv, b: (-bernoulli_log_prob(x, lg) + kl_normal(mu, lv)).mean(),
    "β divides the KL": lambda x, lg, mu, lv, b: (-bernoulli_log_prob(x, lg) + kl_normal(mu, lv) / b).mean(),
    "the sign is flipped": lambda x, lg, mu, lv, b: (bernoulli_log_prob(x, lg) - b * kl_normal(mu, lv)).mean(),
    "the KL is subtracted": lambda x, lg, mu, lv, b: (-bernoulli_log_prob(x, lg) - b * kl_normal(mu, lv)).mean(),
    "the batch is summed": lambda x, lg, mu, lv, b: (-bernoulli_log_prob(x, lg) + b * kl_normal(mu, lv)).sum(),
    "averaged over pixels": lambda x, lg, mu, lv, b: (
        F.binary_cross_entropy_with_logits(lg, x, reduction="none").mean(-1) + b * kl_normal(mu, lv)).mean(),
    "one value per example": lambda x, lg, mu, lv, b: -bernoulli_log_prob(x, lg) + b * kl_normal(mu, lv),
    "the KL is summed over the batch": lambda x, lg, mu, lv, b: (
        -bernoulli_log_prob(x, lg).mean() + b * kl_normal(mu, lv).sum()),
    "helpers.beyond.beta_vae_loss (the project's tested copy) is not allowed": beta_vae_loss,
}


def test_beta_loss_reference_passes(capsys):
    assert check_beta_vae_loss(_right_loss)
    assert "✅ Exercise 7.1" in capsys.readouterr().out
    assert RESULTS["7.1"].passed


@pytest.mark.parametrize("phrase", sorted(LOSS_MISTAKES))
def test_beta_loss_mistakes_are_named(phrase, capsys):
    assert not check_beta_vae_loss(LOSS_MISTAKES[phrase])
    out = capsys.readouterr().out
    assert "❌ Exercise 7.1" in out and phrase in out, out
    assert not RESULTS["7.1"].passed


def test_beta_loss_detached_result_is_caught(capsys):
    assert not check_beta_vae_loss(lambda *args: _right_loss(*args).item())
    assert "gradients flow through" in capsys.readouterr().out


def test_beta_loss_not_implemented_and_crash_are_reported(capsys):
    def stub(x, logits, mu, logvar, beta):
        raise NotImplementedError("Exercise 7.1: write the loss")

    assert not check_beta_vae_loss(stub)
    assert "not implemented yet" in capsys.readouterr().out
    assert not check_beta_vae_loss(lambda x, logits, mu, logvar, beta: logits @ mu)
    assert "your function raised RuntimeError" in capsys.readouterr().out


# ---------------------------------------------------------------- Exercise 7.2


ACTIVITY_MISTAKES = {
    "wrong axis": lambda mu, t=0.01: mu.var(dim=1) > t,
    "standard deviation": lambda mu, t=0.01: mu.std(dim=0) > t,
    "mean of mu²": lambda mu, t=0.01: mu.pow(2).mean(dim=0) > t,
    "the count is returned": lambda mu, t=0.01: int((mu.var(dim=0) > t).sum()),
    "the mask is inverted": lambda mu, t=0.01: mu.var(dim=0) <= t,
    "threshold argument is ignored": lambda mu, t=0.01: mu.var(dim=0) > 0.01,
    "A_j must be strictly above it": lambda mu, t=0.01: mu.var(dim=0) >= t,
    "helpers.beyond.active_mask (the project's tested copy) is not allowed": active_mask,
}


def test_active_units_reference_passes_including_biased_variance(capsys):
    assert check_active_units_mask(lambda mu, threshold=0.01: mu.var(dim=0) > threshold)
    assert check_active_units_mask(lambda mu, threshold=0.01: mu.var(dim=0, unbiased=False) > threshold)
    assert check_active_units_mask(lambda mu, threshold=0.01: (mu.var(dim=0) > threshold).float())
    assert "✅ Exercise 7.2" in capsys.readouterr().out


@pytest.mark.parametrize("phrase", sorted(ACTIVITY_MISTAKES))
def test_active_units_mistakes_are_named(phrase, capsys):
    assert not check_active_units_mask(ACTIVITY_MISTAKES[phrase])
    out = capsys.readouterr().out
    assert "❌ Exercise 7.2" in out and phrase in out, out


def test_active_units_returning_the_variances_is_explained(capsys):
    assert not check_active_units_mask(lambda mu, threshold=0.01: mu.var(dim=0))
    assert "boolean mask" in capsys.readouterr().out


def test_active_units_not_implemented_and_crash_are_reported(capsys):
    def stub(mu, threshold=0.01):
        raise NotImplementedError("Exercise 7.2: count the active units")

    assert not check_active_units_mask(stub)
    assert "not implemented yet" in capsys.readouterr().out
    assert not check_active_units_mask(lambda mu, threshold=0.01: mu.var(dim=2))
    assert "your function raised IndexError" in capsys.readouterr().out


def test_the_crafted_case_separates_variance_from_std():
    from helpers.checks.nb07 import _MEANS, _VARIANCES, _activity_case

    mu = _activity_case(0, 400, _VARIANCES, _MEANS)
    assert torch.allclose(mu.var(dim=0), torch.tensor(_VARIANCES), rtol=1e-4, atol=1e-9)
    by_variance, by_std = mu.var(dim=0) > 0.01, mu.std(dim=0) > 0.01
    assert (by_variance != by_std).sum() >= 2


def test_hidden_tests_pass_the_reference_answers(capsys):
    assert check_beta_vae_loss(_right_loss, seed=8)
    assert check_active_units_mask(lambda mu, threshold=0.01: mu.var(dim=0) > threshold, seed=8)


WRONG_ANSWERS = {"7.1": [(wrong, phrase) for phrase, wrong in LOSS_MISTAKES.items()],
                 "7.2": [(wrong, phrase) for phrase, wrong in ACTIVITY_MISTAKES.items()]}

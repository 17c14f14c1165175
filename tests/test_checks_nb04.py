"""The checks of notebook 04: the reference answers pass, each usual mistake fails with its own message."""

from __future__ import annotations

import pytest
import torch

from helpers.checks import RESULTS, check_reparameterize, check_score_function_estimator
from helpers.estimators import pathwise_grads, score_function_grads
from helpers.models import reparameterize

# ---------------------------------------------------------------- 4.1 reparameterize


def exp_logvar(mu, logvar):
    return mu + torch.exp(logvar) * torch.randn_like(mu)


def minus_half(mu, logvar):
    return mu + torch.exp(-0.5 * logvar) * torch.randn_like(mu)


def unscaled(mu, logvar):
    return mu + torch.randn_like(mu)


def logvar_as_std(mu, logvar):
    return mu + logvar * torch.randn_like(mu)


def no_noise(mu, logvar):
    return mu + torch.exp(0.5 * logvar)


def mean_only(mu, logvar):
    return mu


def no_mu(mu, logvar):
    return torch.exp(0.5 * logvar) * torch.randn_like(mu)


def with_sample(mu, logvar):
    return torch.distributions.Normal(mu, torch.exp(0.5 * logvar)).sample()


def detached(mu, logvar):
    return (mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)).detach()


def with_torch_normal(mu, logvar):
    return torch.normal(mu, torch.exp(0.5 * logvar))


_FROZEN: dict[tuple, torch.Tensor] = {}


def frozen_noise(mu, logvar):
    eps = _FROZEN.setdefault(tuple(mu.shape), torch.randn(mu.shape))  # drawn once per shape, then reused
    return mu + torch.exp(0.5 * logvar) * eps


def wrong_shape(mu, logvar):
    return (mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)).flatten()


def not_done(mu, logvar):
    raise NotImplementedError("Exercise 4.1: implement reparameterize")


def with_rsample(mu, logvar):
    return torch.distributions.Normal(mu, torch.exp(0.5 * logvar)).rsample()


def by_hand(mu, logvar):
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


def in_place(mu, logvar):
    return mu.add_(torch.exp(0.5 * logvar) * torch.randn_like(mu))


def shared_row_noise(mu, logvar):
    return mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape[-1])


def shared_scalar_noise(mu, logvar):
    return mu + torch.exp(0.5 * logvar) * torch.randn(1)


@pytest.mark.parametrize("answer", [by_hand])
def test_correct_reparameterize_passes(answer, capsys):
    assert check_reparameterize(answer)
    assert "✅ Exercise 4.1" in capsys.readouterr().out
    assert RESULTS["4.1"].passed


def test_the_check_does_not_disturb_the_global_random_state():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    check_reparameterize(reparameterize)
    torch.testing.assert_close(torch.rand(3), expected)


REPARAM_WRONG = [
        (exp_logvar, "exp(logvar) — the variance σ² — as the standard deviation"),
        (minus_half, "sign in the exponent is flipped"),
        (unscaled, "ε is not scaled at all"),
        (logvar_as_std, "logvar itself as the standard deviation"),
        (no_noise, "there is no fresh noise"),
        (mean_only, "the noise is missing"),
        (no_mu, "mu is not added"),
        (with_sample, "torch.distributions is not allowed"),
        (detached, "does not depend on mu and logvar for autograd"),
        (with_torch_normal, "no gradient reaches mu"),
        (frozen_noise, "there is no fresh noise"),
        (wrong_shape, "should have the same shape"),
        (not_done, "not implemented yet"),
        ("not a function", "expected a function"),
        (in_place, "changed its input mu or logvar in place"),
        (shared_row_noise, "one draw of ε is shared across the batch"),
        (shared_scalar_noise, "one draw of ε is shared across the batch"),
        (with_rsample, "torch.distributions is not allowed"),
        (reparameterize, "helpers.models.reparameterize (the project's tested copy) is not allowed"),
]


@pytest.mark.parametrize(("answer", "words"), REPARAM_WRONG)
def test_reparameterize_mistakes_are_named(answer, words, capsys):
    assert not check_reparameterize(answer)
    out = capsys.readouterr().out
    assert "❌ Exercise 4.1" in out
    assert words in out, out
    assert not RESULTS["4.1"].passed


# ---------------------------------------------------------------- 4.2 the score-function estimator


def reference(f, mu, sigma, eps):
    values = f(mu + sigma * eps).unsqueeze(-1)
    return values * eps / sigma, values * (eps**2 - 1) / sigma


def with_baseline(f, mu, sigma, eps):
    values = f(mu + sigma * eps)
    centred = (values - (values.sum() - values) / (len(values) - 1)).unsqueeze(-1)  # leave-one-out mean
    return centred * eps / sigma, centred * (eps**2 - 1) / sigma


def with_constant_baseline(f, mu, sigma, eps):
    values = f(mu + sigma * eps).unsqueeze(-1) - 2.5
    return values * eps / sigma, values * (eps**2 - 1) / sigma


def own_noise(f, mu, sigma, eps):
    return reference(f, mu, sigma, torch.randn_like(eps))


def broadcast_average(f, mu, sigma, eps):
    g_mu, g_sigma = reference(f, mu, sigma, eps)
    return g_mu.mean(0).expand_as(g_mu), g_sigma.mean(0).expand_as(g_sigma)


def via_log_prob(f, mu, sigma, eps):
    mu_s = mu.expand_as(eps).clone().requires_grad_(True)
    sigma_s = sigma.expand_as(eps).clone().requires_grad_(True)
    z = (mu + sigma * eps).detach()
    log_q = torch.distributions.Normal(mu_s, sigma_s).log_prob(z).sum()
    score_mu, score_sigma = torch.autograd.grad(log_q, (mu_s, sigma_s))
    values = f(z).unsqueeze(-1)
    return values * score_mu, values * score_sigma


def no_f(f, mu, sigma, eps):
    return eps / sigma, (eps**2 - 1) / sigma


def flipped(f, mu, sigma, eps):
    g_mu, g_sigma = reference(f, mu, sigma, eps)
    return -g_mu, -g_sigma


def f_at_mu(f, mu, sigma, eps):
    values = f(mu.expand_as(eps)).unsqueeze(-1)
    return values * eps / sigma, values * (eps**2 - 1) / sigma


def once_sigma(f, mu, sigma, eps):
    values = f(mu + sigma * eps).unsqueeze(-1)
    return values * eps, values * (eps**2 - 1) / sigma


def no_normalizer(f, mu, sigma, eps):
    values = f(mu + sigma * eps).unsqueeze(-1)
    return values * eps / sigma, values * eps**2 / sigma


def sigma_sign(f, mu, sigma, eps):
    values = f(mu + sigma * eps).unsqueeze(-1)
    return values * eps / sigma, values * (1 - eps**2) / sigma


def pathwise(f, mu, sigma, eps):
    return pathwise_grads(f, mu, sigma, eps)


def averaged(f, mu, sigma, eps):
    g_mu, g_sigma = reference(f, mu, sigma, eps)
    return g_mu.mean(0), g_sigma.mean(0)


def one_output(f, mu, sigma, eps):
    return reference(f, mu, sigma, eps)[0]


def crashes(f, mu, sigma, eps):
    return f(mu + sigma * eps) @ torch.ones(3)


def sf_not_done(f, mu, sigma, eps):
    raise NotImplementedError("Exercise 4.2: implement the score-function estimator")


@pytest.mark.parametrize("answer", [reference, with_baseline, with_constant_baseline, via_log_prob])
def test_correct_score_function_passes(answer, capsys):
    assert check_score_function_estimator(answer)
    assert "✅ Exercise 4.2" in capsys.readouterr().out


SCORE_WRONG = [
        (no_f, "the f(z) factor is missing"),
        (flipped, "the sign of the score is flipped"),
        (f_at_mu, "f is evaluated at μ instead of at the sample"),
        (once_sigma, "divided by σ only once"),
        (no_normalizer, "misses the −1/σ"),
        (sigma_sign, "the sign of ∇_σ log q(z) is flipped"),
        (pathwise, "you differentiated f (the pathwise estimator)"),
        (averaged, "you averaged over the samples"),
        (one_output, "return a pair (grad_mu, grad_sigma)"),
        (crashes, "your function raised RuntimeError"),
        (sf_not_done, "not implemented yet"),
        (own_noise, "your function draws its own noise"),
        (broadcast_average, "you averaged over the samples and repeated the average"),
        (score_function_grads, "score_function_grads (the project's tested copy) is not allowed"),
]


@pytest.mark.parametrize(("answer", "words"), SCORE_WRONG)
def test_score_function_mistakes_are_named(answer, words, capsys):
    assert not check_score_function_estimator(answer)
    out = capsys.readouterr().out
    assert "❌ Exercise 4.2" in out
    assert words in out, out
    assert not RESULTS["4.2"].passed


def in_float32(f, mu, sigma, eps):
    mu32, sigma32, eps32 = mu.float(), sigma.float(), eps.float()
    values = f(mu32 + sigma32 * eps32).unsqueeze(-1).float()
    return values * eps32 / sigma32, values * (eps32**2 - 1) / sigma32


def test_a_float32_answer_is_accepted_on_the_shown_and_the_hidden_inputs(capsys):
    assert check_score_function_estimator(in_float32) and check_score_function_estimator(in_float32, seed=7)
    assert "✅ Exercise 4.2" in capsys.readouterr().out


def test_a_small_error_names_where_the_terms_differ_most(capsys):
    def slightly_off(f, mu, sigma, eps):
        g_mu, g_sigma = reference(f, mu, sigma, eps)
        return g_mu, g_sigma * (1 + 1e-3)

    assert not check_score_function_estimator(slightly_off)
    out = capsys.readouterr().out
    assert "largest difference" in out and "∂/∂σ term of sample" in out, out


def test_a_biased_answer_without_a_known_mistake_still_fails(capsys):
    def off_by_a_bit(f, mu, sigma, eps):
        g_mu, g_sigma = reference(f, mu, sigma, eps)
        return g_mu + 0.5, g_sigma

    assert not check_score_function_estimator(off_by_a_bit)
    out = capsys.readouterr().out
    assert "the estimator is biased" in out and "It looks like" not in out


def test_an_autograd_pathwise_answer_is_told_why_it_breaks_on_a_step(capsys):
    def autograd_pathwise(f, mu, sigma, eps):
        mu_s = mu.expand_as(eps).clone().requires_grad_(True)
        sigma_s = sigma.expand_as(eps).clone().requires_grad_(True)
        return torch.autograd.grad(f(mu_s + sigma_s * eps).sum(), (mu_s, sigma_s))

    assert not check_score_function_estimator(autograd_pathwise)
    assert "you differentiated f (the pathwise estimator)" in capsys.readouterr().out


def test_hidden_tests_pass_the_reference_answers(capsys):
    assert check_reparameterize(by_hand, seed=31)
    assert check_score_function_estimator(reference, seed=31)
    assert capsys.readouterr().out.count("correct on the hidden tests") == 2


WRONG_ANSWERS = {"4.1": REPARAM_WRONG, "4.2": SCORE_WRONG}

"""Free bits and the two gaps of notebook 07: `beyond.free_bits_kl`, `make_free_bits_loss`, `elbo_of_q`,
`optimize_local_q`."""

from __future__ import annotations

import re

import pytest
import torch

from helpers import beyond
from helpers.models import VAE
from helpers.objectives import bernoulli_log_prob, elbo, kl_normal


def _kl_per_unit(mu, logvar):
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).mean(dim=0)


def test_free_bits_charge_each_unit_at_least_lambda_and_stop_pulling_below_it():
    torch.manual_seed(0)
    mu = torch.cat([torch.randn(64, 3) * 2, torch.randn(64, 2) * 0.01], dim=1).requires_grad_()
    logvar = torch.cat([torch.full((64, 3), -2.0), torch.zeros(64, 2)], dim=1).requires_grad_()
    per_unit = _kl_per_unit(mu, logvar)
    assert (per_unit[:3] > 0.5).all() and (per_unit[3:] < 0.5).all()
    value = beyond.free_bits_kl(mu, logvar, 0.5)
    assert value.item() == pytest.approx(per_unit[:3].sum().item() + 2 * 0.5, rel=1e-6)
    value.backward()
    assert mu.grad[:, 3:].abs().max() == 0 and logvar.grad[:, 3:].abs().max() == 0, "no pull below λ"
    assert mu.grad[:, :3].abs().max() > 0, "units above λ are charged as usual"
    assert beyond.free_bits_kl(mu, logvar, 0.0).item() == pytest.approx(per_unit.sum().item(), rel=1e-6)


def test_free_bits_loss_is_the_distortion_plus_the_free_bits_rate():
    torch.manual_seed(0)
    model, x = VAE(4, (16,)), torch.rand(32, 784).round()
    torch.manual_seed(1)
    loss = beyond.make_free_bits_loss(0.3)(model, x)
    torch.manual_seed(1)
    logits, mu, logvar = model(x)
    expected = -bernoulli_log_prob(x, logits).mean() + _kl_per_unit(mu, logvar).clamp_min(0.3).sum()
    assert torch.allclose(loss, expected)


def test_elbo_of_q_with_the_encoders_q_is_the_elbo():
    torch.manual_seed(0)
    model, x = VAE(3, (16,)), torch.rand(10, 784).round()
    mu, logvar = model.encode(x)
    torch.manual_seed(5)
    eps = torch.randn(1, 10, 3)
    torch.manual_seed(5)
    expected = elbo(model, x)
    assert torch.allclose(beyond.elbo_of_q(model, x, mu, logvar, eps)[0], expected, atol=1e-4)


def test_a_per_digit_q_beats_the_encoders_and_leaves_the_decoder_alone():
    torch.manual_seed(0)
    model, x = VAE(3, (16,)), torch.rand(20, 784).round()
    before = [p.detach().clone() for p in model.parameters()]
    mu, logvar = beyond.optimize_local_q(model, x, steps=60, samples=4, lr=0.05)
    assert all(torch.equal(p, b) and p.requires_grad for p, b in zip(model.parameters(), before))
    eps = torch.randn(200, 20, 3, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        amortized = beyond.elbo_of_q(model, x, *model.encode(x), eps).mean(dim=0)
        local = beyond.elbo_of_q(model, x, mu, logvar, eps).mean(dim=0)
    gain = local - amortized
    assert gain.mean() > 5 * gain.std() / len(gain) ** 0.5, "an untrained encoder leaves a clear amortization gap"
    assert kl_normal(mu, logvar).shape == (20,)


@pytest.mark.parametrize(("call", "error", "words"), [
    (lambda: beyond.free_bits_kl(torch.zeros(4, 2), torch.zeros(4, 3), 0.1), ValueError, "mu and logvar must have"),
    (lambda: beyond.free_bits_kl(torch.zeros(4, 2), torch.zeros(4, 2), -1.0), ValueError, "lam must be a non-negative"),
    (lambda: beyond.free_bits_kl(torch.zeros(4), torch.zeros(4), 0.1), ValueError, "mu must have shape (N, d)"),
    (lambda: beyond.make_free_bits_loss(float("nan")), ValueError, "lam must be a non-negative finite number"),
    (lambda: beyond.optimize_local_q(VAE(2, (8,)), torch.zeros(3, 784), steps=0), ValueError, "steps must be"),
    (lambda: beyond.optimize_local_q(VAE(2, (8,)), torch.zeros(3, 784), lr=2.0), ValueError, "lr must be a number"),
    (lambda: beyond.optimize_local_q(VAE(2, (8,)), [[0.0] * 784]), TypeError, "x must be a floating-point"),
])
def test_bad_input_names_the_argument(call, error, words):
    with pytest.raises(error, match=re.escape(words)):
        call()

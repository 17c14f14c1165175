"""The checks of notebook 02 accept the reference answers and name each usual mistake."""

from __future__ import annotations

import math

import pytest
import torch

from helpers.checks import RESULTS, check_kl_diag_gaussians, check_mc_elbo

LOG_2PI = math.log(2 * math.pi)

# ---------------------------------------------------------------- 2.1 closed-form KL


def kl_reference(mu_q, logvar_q, mu_p, logvar_p):
    return 0.5 * (logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p) ** 2) / logvar_p.exp() - 1).sum(-1)


def kl_with_variance_as_given(mu_q, logvar_q, mu_p, logvar_p):
    return 0.5 * (torch.log(logvar_p / logvar_q) + (logvar_q + (mu_q - mu_p) ** 2) / logvar_p - 1).sum(-1)


def kl_with_exp_forgotten(mu_q, logvar_q, mu_p, logvar_p):
    return 0.5 * (logvar_p - logvar_q + (logvar_q + (mu_q - mu_p) ** 2) / logvar_p - 1).sum(-1)


KL_MISTAKES = {
    "sign": (lambda *a: -kl_reference(*a), "sign is flipped"),
    "half": (lambda *a: 2 * kl_reference(*a), "½ in front of the sum is missing"),
    "variance": (kl_with_variance_as_given, "variance was used where the log-variance is given"),
    "exp": (kl_with_exp_forgotten, "exp() is missing"),
    "mean": (lambda mq, lq, mp, lp: 0.5 * (lp - lq + (lq.exp() + (mq - mp) ** 2) / lp.exp() - 1).mean(-1),
             "mean over the latent dimensions instead of the sum"),
    "no sum": (lambda mq, lq, mp, lp: 0.5 * (lp - lq + (lq.exp() + (mq - mp) ** 2) / lp.exp() - 1),
               "one KL per latent dimension"),
    "all sum": (lambda *a: kl_reference(*a).sum(), "summed over the batch dimension too"),
    "swapped": (lambda mq, lq, mp, lp: kl_reference(mp, lp, mq, lq), "q and p are swapped"),
    "minus one": (lambda mq, lq, mp, lp: 0.5 * (lp - lq + (lq.exp() + (mq - mp) ** 2) / lp.exp()).sum(-1),
                  "−1 inside the sum is missing"),
    "mean shift": (lambda mq, lq, mp, lp: 0.5 * (lp - lq + lq.exp() / lp.exp() + (mq - mp) ** 2 - 1).sum(-1),
                   "not divided by the variance of p"),
    "sigma as variance": (lambda mq, lq, mp, lp: 0.5 * (lp - lq + ((0.5 * lq).exp() + (mq - mp) ** 2)
                                                        / (0.5 * lp).exp() - 1).sum(-1),
                          "σ = exp(½·logvar) is used as the variance"),
    "no return": (lambda *a: None, "did you forget `return`?"),
}


def test_kl_reference_passes(capsys):
    assert check_kl_diag_gaussians(kl_reference)
    assert "✅ Exercise 2.1" in capsys.readouterr().out
    assert RESULTS["2.1"].passed


def test_kl_accepts_torch_distributions_answer(capsys):
    def via_torch(mq, lq, mp, lp):
        q, p = torch.distributions.Normal(mq, (0.5 * lq).exp()), torch.distributions.Normal(mp, (0.5 * lp).exp())
        return torch.distributions.kl_divergence(q, p).sum(-1)

    assert check_kl_diag_gaussians(via_torch)


@pytest.mark.parametrize("name", sorted(KL_MISTAKES))
def test_kl_mistakes_are_named(name, capsys):
    wrong, message = KL_MISTAKES[name]
    assert not check_kl_diag_gaussians(wrong)
    out = capsys.readouterr().out
    assert out.startswith("❌ Exercise 2.1"), out
    assert message in out, out
    assert not RESULTS["2.1"].passed


def test_kl_nan_answer_gets_a_log_variance_hint(capsys):
    def nan_for_negative_logvar(mu_q, logvar_q, mu_p, logvar_p):
        if (logvar_q < 0).any():
            return torch.full(mu_q.shape[:-1], float("nan"), dtype=mu_q.dtype)
        return kl_reference(mu_q, logvar_q, mu_p, logvar_p)

    assert not check_kl_diag_gaussians(nan_for_negative_logvar)
    assert "NaN" in capsys.readouterr().out


def test_kl_not_implemented_and_crash_are_reported_not_raised(capsys):
    def stub(*args):
        raise NotImplementedError("Exercise 2.1: write the KL")

    assert not check_kl_diag_gaussians(stub)
    assert "not implemented yet" in capsys.readouterr().out
    assert not check_kl_diag_gaussians(lambda *a: a[0] @ a[1])
    assert "your function raised RuntimeError" in capsys.readouterr().out
    assert not check_kl_diag_gaussians(lambda *a: "0.5")
    assert "❌ Exercise 2.1" in capsys.readouterr().out


# ---------------------------------------------------------------- 2.2 Monte Carlo ELBO


def mc_reference(log_joint, mu_q, logvar_q, eps):
    z = mu_q + torch.exp(0.5 * logvar_q) * eps
    log_q = (-0.5 * (LOG_2PI + logvar_q + (z - mu_q) ** 2 / logvar_q.exp())).sum(-1)
    return (log_joint(z) - log_q).mean()


def mc_with_std(std_of):
    """An estimator that builds z and log q from a wrong standard deviation, consistently (as Normal(mu, std) would)."""

    def estimate(log_joint, mu_q, logvar_q, eps):
        std = std_of(logvar_q)
        q = torch.distributions.Normal(mu_q, std, validate_args=False)
        z = mu_q + std * eps
        return (log_joint(z) - q.log_prob(z).sum(-1)).mean()

    return estimate


def mc_log_q_without_half(log_joint, mu_q, logvar_q, eps):
    z = mu_q + torch.exp(0.5 * logvar_q) * eps
    return (log_joint(z) + (LOG_2PI + logvar_q + eps**2).sum(-1)).mean()


def mc_log_q_mean_over_dims(log_joint, mu_q, logvar_q, eps):
    z = mu_q + torch.exp(0.5 * logvar_q) * eps
    return (log_joint(z) + 0.5 * (LOG_2PI + logvar_q + eps**2).mean(-1)).mean()


MC_MISTAKES = {
    "sign": (lambda *a: -mc_reference(*a), "sign is flipped"),
    "half in std": (mc_with_std(torch.exp), "½ is missing in the standard deviation"),
    "variance": (mc_with_std(torch.sqrt), "variance was used where the log-variance is given"),
    "logvar as std": (mc_with_std(lambda lv: lv), "log-variance was used as the standard deviation"),
    "half in log q": (mc_log_q_without_half, "½ is missing in log q(z)"),
    "mean over dims": (mc_log_q_mean_over_dims, "mean of log q(z) over the latent dimensions"),
    "no entropy": (lambda lj, mu, lv, eps: lj(mu + (0.5 * lv).exp() * eps).mean(), "log q(z) is not subtracted"),
    "sum over samples": (lambda *a: mc_reference(*a) * a[3].shape[0], "summed over the samples"),
    "per sample": (lambda lj, mu, lv, eps: lj(mu + (0.5 * lv).exp() * eps)
                   + 0.5 * (LOG_2PI + lv + eps**2).sum(-1), "one value per sample"),
    "no log 2pi": (lambda lj, mu, lv, eps: (lj(mu + (0.5 * lv).exp() * eps) + 0.5 * (lv + eps**2).sum(-1)).mean(),
                   "log 2π is missing from log q(z)"),
    "fresh noise": (lambda lj, mu, lv, eps: mc_reference(lj, mu, lv, torch.randn_like(eps)),
                    "instead of drawing new noise"),
}


def test_mc_reference_passes(capsys):
    assert check_mc_elbo(mc_reference)
    assert "✅ Exercise 2.2" in capsys.readouterr().out
    assert RESULTS["2.2"].passed


def test_mc_accepts_the_exact_entropy_of_q(capsys):
    def with_entropy(log_joint, mu_q, logvar_q, eps):
        z = mu_q + torch.exp(0.5 * logvar_q) * eps
        return log_joint(z).mean() + torch.distributions.Normal(mu_q, (0.5 * logvar_q).exp()).entropy().sum()

    assert check_mc_elbo(with_entropy)


def test_mc_accepts_a_per_sample_loop(capsys):
    def looped(log_joint, mu_q, logvar_q, eps):
        values = []
        for e in eps:
            z = mu_q + torch.exp(0.5 * logvar_q) * e
            values.append(log_joint(z) - torch.distributions.Normal(mu_q, (0.5 * logvar_q).exp()).log_prob(z).sum())
        return sum(values) / len(values)

    assert check_mc_elbo(looped)


@pytest.mark.parametrize("name", sorted(MC_MISTAKES))
def test_mc_mistakes_are_named(name, capsys):
    wrong, message = MC_MISTAKES[name]
    assert not check_mc_elbo(wrong)
    out = capsys.readouterr().out
    assert out.startswith("❌ Exercise 2.2"), out
    assert message in out, out


def test_mc_fresh_noise_is_caught(capsys):
    def fresh_noise(log_joint, mu_q, logvar_q, eps):
        return mc_reference(log_joint, mu_q, logvar_q, torch.randn_like(eps))

    assert not check_mc_elbo(fresh_noise)
    assert "instead of drawing new noise" in capsys.readouterr().out


def test_mc_not_implemented_is_reported_not_raised(capsys):
    def stub(*args):
        raise NotImplementedError("Exercise 2.2: estimate the ELBO")

    assert not check_mc_elbo(stub)
    out = capsys.readouterr().out
    assert "❌ Exercise 2.2" in out and "not implemented yet" in out


def test_hidden_inputs_differ_from_the_visible_ones_and_catch_a_hard_coded_answer(capsys):
    """A function that returns the right numbers for the visible inputs only fails the hidden tests."""
    from helpers.checks.nb02 import _kl_cases

    visible = {tuple(case[0].flatten().tolist()): kl_reference(*case) for case in _kl_cases()}

    def memorised(mu_q, logvar_q, mu_p, logvar_p):
        return visible.get(tuple(mu_q.flatten().tolist()), torch.zeros(mu_q.shape[0], dtype=torch.float64))

    assert check_kl_diag_gaussians(memorised)
    assert not check_kl_diag_gaussians(memorised, seed=123)
    assert check_kl_diag_gaussians(kl_reference, seed=123)
    assert "correct on the hidden tests" in capsys.readouterr().out


WRONG_ANSWERS = {"2.1": list(KL_MISTAKES.values()), "2.2": list(MC_MISTAKES.values())}

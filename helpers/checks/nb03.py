"""Checks for notebook 03 (the variational inference toolbox): CAVI update, SVI scaling, ADVI Jacobian."""

from __future__ import annotations

import numpy as np
import torch

from helpers import vi_models as vm
from helpers.checks.core import Failed, answer_array, assert_close, call_student, exercise

__all__ = ["check_cavi_update_tau", "check_minibatch_elbo", "check_log_joint_unconstrained", "FORBIDDEN"]

FORBIDDEN = {
    "3.1": [("helpers.vi_models.cavi_update_tau (the project's tested copy)", vm.cavi_update_tau)],
    "3.2": [("helpers.vi_models.minibatch_elbo (the project's tested copy)", vm.minibatch_elbo)],
    "3.3": [("helpers.vi_models.poisson_gamma_log_joint_log_rate (the project's tested copy)",
             vm.poisson_gamma_log_joint_log_rate)],
}


def _pair(value, what: str) -> np.ndarray:
    """A student's (a, b) — tuple, list, array or tensor of two numbers — as a float array of shape (2,)."""
    if isinstance(value, (np.ndarray, torch.Tensor)):
        count = value.numel() if isinstance(value, torch.Tensor) else value.size
        value = answer_array(value, what).reshape(-1).tolist() if count == 2 else value
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        size = len(value) if isinstance(value, (tuple, list)) else getattr(value, "shape", None)
        raise Failed(f"{what} should return a pair (a, b), got {type(value).__name__}"
                     + (f" of length {size}" if isinstance(size, int) else f" of shape {tuple(size)}"
                        if size is not None else "") + ".")
    try:
        return np.array([float(v) for v in value])
    except (TypeError, ValueError):
        raise Failed(f"{what} should return two numbers, got {value!r}.") from None


def _tau_cases(seed: int | None = None) -> list[tuple[torch.Tensor, vm.NormalGamma, float, float]]:
    generator = torch.Generator().manual_seed(3 if seed is None else seed)
    cases = []
    if seed is None:
        cases.append((torch.tensor([0.5, 1.5, 1.0], dtype=torch.float64), vm.NormalGamma(0.0, 1.0, 1.0, 1.0), 0.9, 2.5))
        priors = ((7, vm.NormalGamma(0.5, 2.0, 3.0, 0.5)), (20, vm.NormalGamma(-1.0, 0.3, 0.7, 2.5)))
    else:
        draw = lambda low, high: float(low + (high - low) * torch.rand(1, generator=generator))  # noqa: E731
        priors = tuple((n, vm.NormalGamma(draw(-2, 2), draw(0.2, 3), draw(0.5, 4), draw(0.3, 3))) for n in (5, 13))
    for n, prior in priors:
        x = 1.0 + torch.randn(n, generator=generator, dtype=torch.float64)
        cases.append((x, prior, float(x.mean()) + 0.2, 4.0 + n))
    return cases


def _tau_mistakes(x: torch.Tensor, prior: vm.NormalGamma, m: float, kappa: float) -> dict[str, np.ndarray]:
    a, b = vm.cavi_update_tau(x, prior, m, kappa)
    n = len(x)
    data_sq = float(((x - m) ** 2).sum())
    prior_sq = (m - prior.mu0) ** 2
    return {
        "a and b are swapped: return (a, b), the shape first and the rate second": np.array([b, a]),
        "a misses the ½ that p(mu | tau) adds (a = a0 + N/2 instead of a0 + (N+1)/2): the prior on mu has "
        "precision lambda0·tau, so it depends on tau too": np.array([prior.a0 + n / 2, b]),
        "b plugs in m for mu: under q(mu), E[(x_i − mu)²] = (x_i − m)² + 1/kappa, and "
        "E[(mu − mu0)²] = (m − mu0)² + 1/kappa": np.array([a, prior.b0 + 0.5 * (data_sq + prior.lambda0 * prior_sq)]),
        "b misses the prior term ½·lambda0·E[(mu − mu0)²] from p(mu | tau)": np.array([a, prior.b0 + 0.5 * (
            data_sq + n / kappa)]),
        "the ½ in front of the expected squared errors is missing in b": np.array([a, 2 * b - prior.b0]),
        "b is returned as a scale (1/b): use the rate, as in Gamma(tau; a, b) ∝ tau^(a−1) e^(−b·tau)":
            np.array([a, 1 / b]),
        "a misses the prior's a0": np.array([a - prior.a0, b]),
        "b misses the prior's b0": np.array([a, b - prior.b0]),
    }


@exercise("3.1", "CAVI update of q(tau)")
def check_cavi_update_tau(student_fn, seed: int | None = None) -> None:
    """The student's update_q_tau(x, prior, m, kappa) must return the optimal Gamma (shape a, rate b)."""
    for x, prior, m, kappa in _tau_cases(seed):
        got = _pair(call_student(student_fn, x.clone(), prior, m, kappa, forbidden=FORBIDDEN["3.1"]), "update_q_tau")
        expected = np.array(vm.cavi_update_tau(x, prior, m, kappa))
        assert_close(got, expected, rtol=1e-6, atol=1e-8,
                     inputs=f"N={len(x)}, prior={prior}, m={m:.3f}, kappa={kappa:.3f}",
                     mistakes=_tau_mistakes(x, prior, m, kappa))


# ---------------------------------------------------------------- 3.2 SVI


def _minibatch_cases(seed: int | None) -> list[tuple[torch.Tensor, int]]:
    generator = torch.Generator().manual_seed(5 if seed is None else seed)
    if seed is not None:
        return [(-2.0 + torch.randn(b, generator=generator, dtype=torch.float64), n) for b, n in ((6, 750), (25, 9000))]
    return [(torch.tensor([-1.0, -2.0, -3.0, -4.0], dtype=torch.float64), 1000),
            (-3.0 + torch.randn(10, generator=generator, dtype=torch.float64), 60_000),
            (-90.0 + torch.randn(32, generator=generator, dtype=torch.float64), 200)]


def _one_number(got) -> float:
    if isinstance(got, torch.Tensor) and got.numel() != 1:
        raise Failed(f"return one number (the estimate of the full-data ELBO), got a tensor of shape "
                     f"{tuple(got.shape)}: sum over the minibatch.")
    try:
        return float(got)
    except (TypeError, ValueError):
        raise Failed(f"return one number, got {type(got).__name__}.") from None


def _scaling_mistakes(total: float, b: int, n_total: int) -> dict[str, float]:
    return {
        f"the N/B scaling is missing: Σ_B ELBO_n estimates only B/N = {b}/{n_total} of the full-data ELBO": total,
        "it is scaled by 1/B (the minibatch mean): that estimates the average ELBO per point, N times too small":
            total / b,
        "it is scaled by N instead of N/B: a sum of B terms times N counts every point B times too often":
            total * n_total,
        "the ratio is inverted (B/N instead of N/B)": total * b / n_total,
        "it is scaled by 1/N: that is the full-data ELBO's average, not the ELBO": total / n_total,
    }


def _gradient_reaches(got, inputs: torch.Tensor, expected_grad: torch.Tensor, what: str) -> None:
    """Failed unless `got` is a tensor whose gradient with respect to `inputs` is `expected_grad`."""
    if not isinstance(got, torch.Tensor) or not got.requires_grad:
        raise Failed(f"the value is right but no gradient flows through it (did you use .item(), float(), "
                     f".detach() or numpy?): {what} is optimized by gradient ascent, so return a tensor.")
    (grad,) = torch.autograd.grad(got.sum(), inputs, allow_unused=True)
    if grad is None or not torch.allclose(grad, expected_grad, rtol=1e-6, atol=1e-8):
        raise Failed(f"the value is right but its gradient is not: keep every step in torch operations on the "
                     f"input tensor so that autograd sees {what}.")


@exercise("3.2", "SVI: the minibatch estimate of the ELBO")
def check_minibatch_elbo(student_fn, seed: int | None = None) -> None:
    """The student's minibatch_elbo(elbo_per_point, n_total) must return (N/B)·Σ_{n∈B} ELBO_n, with its gradient."""
    for terms, n_total in _minibatch_cases(seed):
        value = _one_number(call_student(student_fn, terms.clone(), n_total, forbidden=FORBIDDEN["3.2"]))
        b, total = len(terms), float(terms.sum())
        expected = float(vm.minibatch_elbo(terms, n_total))
        assert_close(value, expected, rtol=1e-6, atol=1e-8, mistakes=_scaling_mistakes(total, b, n_total),
                     inputs=f"a minibatch of B={b} terms from N={n_total} points")
        leaf = terms.clone().requires_grad_(True)
        got = call_student(student_fn, leaf, n_total, forbidden=FORBIDDEN["3.2"])
        _gradient_reaches(got, leaf, torch.full_like(terms, n_total / b), "the estimate")


# ---------------------------------------------------------------- 3.3 ADVI


def _zeta_mistakes(expected: torch.Tensor, zeta: torch.Tensor, a0: float, b0: float) -> dict[str, torch.Tensor]:
    rate = torch.exp(zeta)
    return {
        "the log-Jacobian term is missing: p(ζ) = p(λ)·|dλ/dζ| = p(e^ζ)·e^ζ adds + ζ": expected - zeta,
        "the log-Jacobian has the wrong sign: |dλ/dζ| = e^ζ adds + ζ, not − ζ": expected - 2 * zeta,
        "the log-Jacobian is written as λ = e^ζ: it is log|dλ/dζ| = log e^ζ = ζ": expected - zeta + rate,
        "the Gamma prior's term log Gamma(e^ζ; a0, b0) = (a0 − 1)·ζ − b0·e^ζ + const is missing":
            expected - (a0 - 1) * zeta + b0 * rate,
        "the Gamma prior uses a0·ζ instead of (a0 − 1)·ζ": expected + zeta,
    }


_ADVI_VISIBLE = ((torch.tensor([2.0, 0.0, 3.0], dtype=torch.float64), 3.0, 0.5),
                 (torch.tensor([7.0, 4.0, 5.0, 9.0, 6.0], dtype=torch.float64), 0.5, 0.1))


def _advi_cases(seed: int | None):
    if seed is None:
        return _ADVI_VISIBLE
    generator = torch.Generator().manual_seed(seed)
    return [(torch.poisson(torch.full((n,), 4.0, dtype=torch.float64), generator=generator),
             float(0.3 + 4 * torch.rand(1, generator=generator)), float(0.05 + 2 * torch.rand(1, generator=generator)))
            for n in (4, 9)]


@exercise("3.3", "ADVI: the log joint in the unconstrained variable ζ = log λ")
def check_log_joint_unconstrained(student_fn, seed: int | None = None) -> None:
    """The student's log_joint_unconstrained(zeta, counts, a0, b0) must equal ADVI's target up to a constant."""
    zeta = torch.linspace(-1.5, 2.5, 9, dtype=torch.float64)
    for counts, a0, b0 in _advi_cases(seed):
        got = call_student(student_fn, zeta.clone(), counts.clone(), a0, b0, forbidden=FORBIDDEN["3.3"])
        if not isinstance(got, torch.Tensor) or got.shape != zeta.shape:
            raise Failed(f"return one value per ζ: a tensor of shape {tuple(zeta.shape)}, got "
                         f"{tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__}.")
        expected = vm.poisson_gamma_log_joint_log_rate(zeta, counts, a0, b0)
        # additive constants (e.g. log y_i!) do not change the fit: compare differences to the first ζ
        relative = {name: wrong - wrong[0] for name, wrong in _zeta_mistakes(expected, zeta, a0, b0).items()}
        assert_close(got - got[0], expected - expected[0], rtol=1e-6, atol=1e-6, mistakes=relative,
                     inputs=f"counts={counts.tolist()}, a0={a0:.3g}, b0={b0:.3g} (compared up to an additive constant)")
        leaf = zeta.clone().requires_grad_(True)
        target = vm.poisson_gamma_log_joint_log_rate(leaf, counts, a0, b0)
        (expected_grad,) = torch.autograd.grad(target.sum(), leaf)
        got = call_student(student_fn, leaf, counts.clone(), a0, b0, forbidden=FORBIDDEN["3.3"])
        _gradient_reaches(got, leaf, expected_grad, "ADVI's target")

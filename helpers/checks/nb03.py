"""Checks for notebook 03 (the variational inference toolbox): CAVI update, SVI scaling, ADVI Jacobian."""

from __future__ import annotations

import numpy as np
import torch

from helpers import vi_models as vm
from helpers.checks.core import (
    Failed,
    answer_array,
    assert_close,
    call_student,
    exercise,
    hint_over_cases,
    name_the_mistake,
    piece_slips,
    swapped_arguments,
)

__all__ = ["check_cavi_update_tau", "check_minibatch_elbo", "check_log_joint_unconstrained", "FORBIDDEN"]

FORBIDDEN = {
    "3.1": [("helpers.vi_models.cavi_update_tau (the project's tested copy)", vm.cavi_update_tau),
            ("helpers.vi_models.normal_gamma_expected_squares (the project's tested copy of its expectations)",
             vm.normal_gamma_expected_squares)],
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
        "the ½ in front of the expected squared errors is missing in b (or those errors are counted twice)":
            np.array([a, 2 * b - prior.b0]),
        "b is returned as a scale (1/b): use the rate, as in Gamma(tau; a, b) ∝ tau^(a−1) e^(−b·tau)":
            np.array([a, 1 / b]),
        "a misses the prior's a0": np.array([a - prior.a0, b]),
        "b misses the prior's b0": np.array([a, b - prior.b0]),
    }


def _tau_formula(x: torch.Tensor, prior: vm.NormalGamma, m: float, kappa: float):
    """The update written in named pieces, for `piece_slips`."""
    def formula(piece):
        n = len(x)
        diff = piece("x in (x_i − m)", x) - piece("m in (x_i − m)", m)
        data_sq = piece("Σ(x_i − m)²", piece("(x_i − m)²", diff**2, power=(diff, 2)).sum().item())
        spread = piece("N/κ (N times the variance 1/κ of q(mu))", n * piece("1/κ in N/κ", 1 / kappa))
        shift = piece("m in (m − mu0)", m) - piece("mu0 in (m − mu0)", prior.mu0)
        prior_sq = piece("lambda0", prior.lambda0) * piece("(m − mu0)² + 1/κ", piece(
            "(m − mu0)²", shift**2, power=(shift, 2)) + piece("1/κ in the prior term", 1 / kappa))
        expected_sq = piece("the expected squared errors", data_sq + spread + prior_sq)
        a = piece("a0", prior.a0) + piece("(N+1)/2", piece("N+1", n + piece("the +1 in (N+1)", 1))
                                          / piece("the 2 in (N+1)/2", 2))
        b = piece("b0", prior.b0) + piece("the ½ in b", 0.5) * expected_sq
        return np.array([piece("a", a), piece("b", b)])

    return formula


def _tau_cases_for_hints(seed: int | None):
    """The check's cases and three more: a slip in a pair of numbers shows over several inputs."""
    generator = torch.Generator().manual_seed(3131)
    extra = [(1.0 + torch.randn(n, generator=generator, dtype=torch.float64),
              vm.NormalGamma(0.3 * n - 1, 0.4 + 0.3 * n, 0.8 + 0.2 * n, 0.6 + 0.1 * n), 0.7 - 0.1 * n, 1.5 + n)
             for n in (4, 6, 9)]
    return [*_tau_cases(seed), *extra]


def _tau_terms(x, prior, m, kappa) -> dict[str, np.ndarray]:
    """The pair's additive pieces, as (share of a, share of b)."""
    n = len(x)
    return {
        "a0 in a": np.array([prior.a0, 0.0]), "(N+1)/2 in a": np.array([(n + 1) / 2, 0.0]),
        "b0 in b": np.array([0.0, prior.b0]), "½Σ(x_i − m)² in b": np.array([0.0, 0.5 * float(((x - m) ** 2).sum())]),
        "½N/κ in b": np.array([0.0, 0.5 * n / kappa]),
        "½·lambda0·(m − mu0)² in b": np.array([0.0, 0.5 * prior.lambda0 * (m - prior.mu0) ** 2]),
        "½·lambda0/κ in b": np.array([0.0, 0.5 * prior.lambda0 / kappa]),
    }


def _all_tau_mistakes(x, prior, m, kappa) -> dict[str, np.ndarray]:
    n = len(x)
    a, b = vm.cavi_update_tau(x, prior, m, kappa)
    data_sq = float(((x - m) ** 2).sum())
    as_variance = prior.b0 + 0.5 * (data_sq + n * kappa + prior.lambda0 * ((m - prior.mu0) ** 2 + kappa))
    return {
        **_tau_mistakes(x, prior, m, kappa),
        "κ is used as a variance: κ is the precision of q(mu), whose variance is 1/κ (E[(x_i − mu)²] = (x_i − m)² + "
        "1/κ)": np.array([a, as_variance]),
        "b0 is taken as a scale (1/b0): b0 is the prior's rate, added as it is":
            np.array([a, b - prior.b0 + 1 / prior.b0]),
        "a0 is taken as a scale (1/a0)": np.array([a - prior.a0 + 1 / prior.a0, b]),
        "you took the mean of (x_i − m)² where the sum belongs: E[Σ_i (x_i − mu)²] sums over the data":
            np.array([a, b - 0.5 * data_sq + 0.5 * data_sq / n]),
        **piece_slips(_tau_formula(x, prior, m, kappa)),
        **swapped_arguments(lambda *args: np.array(vm.cavi_update_tau(*args)) if all(
            isinstance(v, (int, float)) for v in args[2:]) else None, dict(x=x, prior=prior, m=m, kappa=kappa)),
    }


@exercise("3.1", "CAVI update of q(tau)")
def check_cavi_update_tau(student_fn, seed: int | None = None) -> None:
    """The student's update_q_tau(x, prior, m, kappa) must return the optimal Gamma (shape a, rate b)."""
    for x, prior, m, kappa in _tau_cases(seed):
        got = _pair(call_student(student_fn, x.clone(), prior, m, kappa, forbidden=FORBIDDEN["3.1"]), "update_q_tau")
        expected = np.array(vm.cavi_update_tau(x, prior, m, kappa))
        try:
            assert_close(got, expected, rtol=1e-6, atol=1e-8,
                         inputs=f"N={len(x)}, prior={prior}, m={m:.3f}, kappa={kappa:.3f}")
        except Failed as failure:
            answers, references, mistakes, terms = [], [], [], []
            for case in _tau_cases_for_hints(seed):
                terms.append(_tau_terms(*case))
                answers.append(_pair(call_student(student_fn, case[0].clone(), *case[1:],
                                                  forbidden=FORBIDDEN["3.1"]), "update_q_tau"))
                references.append(np.array(vm.cavi_update_tau(*case)))
                mistakes.append(lambda case=case: _all_tau_mistakes(*case))
            hint = hint_over_cases(answers, references, mistakes=mistakes, terms=terms) or name_the_mistake(
                got, _all_tau_mistakes(x, prior, m, kappa), rtol=1e-6, atol=1e-8)
            raise Failed(f"{failure}" + (f" It looks like {hint}." if hint else "")) from None


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
        "it is scaled by N instead of N/B (the division by B is missing): a sum of B terms times N counts every "
        "point B times too often": total * n_total,
        "the sum over the minibatch is missing: the estimate is (N/B)·Σ_B ELBO_n, not N/B alone": n_total / b,
        "N // B is an integer (floor) division: use N / B": (n_total // b) * total,
        "you took the mean over the minibatch where the sum belongs: (N/B)·mean counts each point 1/B too little; "
        "use (N/B)·Σ_B ELBO_n": n_total / b * total / b,
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
        def formula(piece, terms=terms, n_total=n_total):
            return piece("N/B", piece("N", float(n_total)) / piece("B", float(len(terms)))) * piece(
                "the sum Σ_B ELBO_n", float(terms.sum()))

        assert_close(value, expected, rtol=1e-6, atol=1e-8,
                     mistakes=lambda total=total, b=b, n_total=n_total, formula=formula: {
                         **_scaling_mistakes(total, b, n_total), **piece_slips(formula)},
                     inputs=f"a minibatch of B={b} terms from N={n_total} points")
        leaf = terms.clone().requires_grad_(True)
        got = call_student(student_fn, leaf, n_total, forbidden=FORBIDDEN["3.2"])
        _gradient_reaches(got, leaf, torch.full_like(terms, n_total / b), "the estimate")


# ---------------------------------------------------------------- 3.3 ADVI


def _zeta_mistakes(expected: torch.Tensor, zeta: torch.Tensor, a0: float, b0: float,
                   counts: torch.Tensor) -> dict[str, torch.Tensor]:
    rate = torch.exp(zeta)
    return {
        "the log-Jacobian term is missing: p(ζ) = p(λ)·|dλ/dζ| = p(e^ζ)·e^ζ adds + ζ": expected - zeta,
        "the log-Jacobian has the wrong sign: |dλ/dζ| = e^ζ adds + ζ, not − ζ": expected - 2 * zeta,
        "the log-Jacobian is written as λ = e^ζ: it is log|dλ/dζ| = log e^ζ = ζ": expected - zeta + rate,
        "the Gamma prior's term log Gamma(e^ζ; a0, b0) = (a0 − 1)·ζ − b0·e^ζ + const is missing":
            expected - (a0 - 1) * zeta + b0 * rate,
        "the Gamma prior uses a0·ζ instead of (a0 − 1)·ζ": expected + zeta,
        "b0 is taken as a scale (−e^ζ/b0): b0 is the Gamma prior's rate, the term is −b0·e^ζ":
            expected + b0 * rate - rate / b0,
        "you took the mean of the counts where the sum belongs: the likelihood adds Σ_i y_i·ζ": (
            expected - counts.sum() * zeta + counts.mean() * zeta),
    }


def _zeta_formula(zeta: torch.Tensor, counts: torch.Tensor, a0: float, b0: float):
    """ADVI's target written in named pieces (relative to its value at the first ζ), for `piece_slips`."""
    def formula(piece):
        rate = piece("λ = e^ζ", zeta.exp(), fn=torch.exp, arg=zeta)
        count_term = piece("Σy·ζ", piece("Σ y_i", counts.sum()) * piece("ζ in Σy·ζ", zeta))
        log_lik = piece("the log-likelihood Σy·ζ − N·e^ζ", count_term - piece(
            "N·e^ζ", piece("N", float(len(counts))) * piece("e^ζ in N·e^ζ", rate)))
        shape_term = piece("(a0 − 1)·ζ", piece("a0 − 1", piece("a0", a0) - piece("the 1 in (a0 − 1)", 1.0))
                           * piece("ζ in (a0 − 1)·ζ", zeta))
        log_prior = piece("the log-prior (a0 − 1)·ζ − b0·e^ζ", shape_term - piece(
            "b0·e^ζ", piece("b0", b0) * piece("e^ζ in b0·e^ζ", rate)))
        total = piece("log-likelihood + log-prior", log_lik + log_prior) + piece("the log-Jacobian ζ", zeta)
        return total - total[0]

    return formula


_ADVI_VISIBLE = ((torch.tensor([2.0, 0.0, 3.0], dtype=torch.float64), 3.0, 0.5),
                 (torch.tensor([7.0, 4.0, 5.0, 9.0, 6.0], dtype=torch.float64), 0.5, 0.1))


def _advi_cases(seed: int | None):
    if seed is None:
        return _ADVI_VISIBLE
    generator = torch.Generator().manual_seed(seed)
    return [(torch.poisson(torch.full((n,), 4.0, dtype=torch.float64), generator=generator),
             float(0.3 + 4 * torch.rand(1, generator=generator)), float(0.05 + 2 * torch.rand(1, generator=generator)))
            for n in (4, 9)]


def _zeta_hint(student_fn, zeta: torch.Tensor, seed: int | None) -> str | None:
    """The mistake named from the answers to the check's cases and two more (a single case can hide a slip: with
    a0 = 3, (a0 − 2)·ζ is also ζ·1)."""
    answers, references, mistakes = [], [], []
    for counts, a0, b0 in [*_advi_cases(seed), (torch.tensor([1.0, 6.0], dtype=torch.float64), 1.7, 1.3),
                           (torch.tensor([4.0, 2.0, 0.0, 5.0], dtype=torch.float64), 4.4, 0.35)]:
        got = call_student(student_fn, zeta.clone(), counts.clone(), a0, b0, forbidden=FORBIDDEN["3.3"])
        if not isinstance(got, torch.Tensor) or got.shape != zeta.shape:
            return None
        expected = vm.poisson_gamma_log_joint_log_rate(zeta, counts, a0, b0)
        answers.append(got.detach() - got.detach()[0])
        references.append(expected - expected[0])
        mistakes.append(lambda expected=expected, counts=counts, a0=a0, b0=b0: {
            **{name: wrong - wrong[0] for name, wrong in _zeta_mistakes(expected, zeta, a0, b0, counts).items()},
            **piece_slips(_zeta_formula(zeta, counts, a0, b0)),
            **{name: wrong - wrong[0] for name, wrong in swapped_arguments(
                lambda *args: _zeta_formula(*args)(lambda n, v, **_: v), dict(zeta=zeta, counts=counts, a0=a0, b0=b0))
               .items() if isinstance(wrong, torch.Tensor) and wrong.shape == zeta.shape}})
    return hint_over_cases(answers, references, mistakes=mistakes, rtol=1e-6, atol=1e-6)


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
        def relative(expected=expected, counts=counts, a0=a0, b0=b0):
            known = _zeta_mistakes(expected, zeta, a0, b0, counts)
            return {**{name: wrong - wrong[0] for name, wrong in known.items()},
                    **piece_slips(_zeta_formula(zeta, counts, a0, b0))}

        try:
            assert_close(got - got[0], expected - expected[0], rtol=1e-6, atol=1e-6,
                         inputs=f"counts={counts.tolist()}, a0={a0:.3g}, b0={b0:.3g} (compared up to an additive "
                                "constant)")
        except Failed as failure:
            hint = _zeta_hint(student_fn, zeta, seed) or name_the_mistake(got - got[0], relative, 1e-6, 1e-6)
            raise Failed(f"{failure}" + (f" It looks like {hint}." if hint else "")) from None
        leaf = zeta.clone().requires_grad_(True)
        target = vm.poisson_gamma_log_joint_log_rate(leaf, counts, a0, b0)
        (expected_grad,) = torch.autograd.grad(target.sum(), leaf)
        got = call_student(student_fn, leaf, counts.clone(), a0, b0, forbidden=FORBIDDEN["3.3"])
        _gradient_reaches(got, leaf, expected_grad, "ADVI's target")

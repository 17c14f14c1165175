"""Checks for notebook 04 (the reparameterization trick): `reparameterize` and the score-function estimator."""

from __future__ import annotations

import math

import torch

from helpers import models
from helpers.checks.core import Failed, cached, call_student, exercise, name_the_mistake, piece_slips, swapped_arguments
from helpers.estimators import score_function_grads

__all__ = ["check_reparameterize", "check_score_function_estimator", "FORBIDDEN"]

FORBIDDEN = {
    "4.1": [("torch.distributions", "torch.distributions"),
            ("helpers.models.reparameterize (the project's tested copy)", models.reparameterize)],
    "4.2": [("helpers.estimators.score_function_grads (the project's tested copy)", score_function_grads)],
}

# Moments case: σ = exp(½·logvar) = (2, 0.5, e^½); the usual mistakes give clearly different spreads.
_MOMENT_MU = (0.5, -1.0, 2.0)
_MOMENT_LOGVAR = (math.log(4.0), math.log(0.25), 1.0)
_MOMENT_ROWS = 20_000


def _as_tensor(value, what: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise Failed(f"{what} should be a torch.Tensor, got {type(value).__name__}.")
    return value


def _fmt(values: torch.Tensor, digits: int = 3) -> str:
    return "[" + ", ".join(f"{float(v):.{digits}f}" for v in values.flatten()) + "]"


def _fmt_apart(got: torch.Tensor, wanted: torch.Tensor) -> tuple[str, str]:
    """Both values with as many decimals (3 to 10) as it takes for them to print differently."""
    for digits in range(3, 11):
        shown = _fmt(got, digits), _fmt(wanted, digits)
        if shown[0] != shown[1]:
            return shown
    return shown


def _reparameterized(student_fn, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """The student's z for copies of mu and logvar; Failed if the inputs were changed in place."""
    mu_given, logvar_given = mu.clone(), logvar.clone()
    z = _as_tensor(call_student(student_fn, mu_given, logvar_given, forbidden=FORBIDDEN["4.1"]),
                   "reparameterize(mu, logvar)")
    if not (torch.equal(mu_given, mu) and torch.equal(logvar_given, logvar)):
        raise Failed("your function changed its input mu or logvar in place (an in-place operation such as add_, "
                     "mul_ or +=): the encoder's outputs must stay as they are; build a new tensor for z.")
    return z


def _reparam_shapes(student_fn) -> None:
    for shape in ((5, 3), (2, 4, 3)):
        mu, logvar = torch.randn(shape), 0.5 * torch.randn(shape)
        z = _reparameterized(student_fn, mu, logvar)
        if z.shape != mu.shape:
            raise Failed(f"for mu and logvar of shape {tuple(shape)}, z should have the same shape, "
                         f"got {tuple(z.shape)}.")
    mu, logvar = torch.randn(5, 3), torch.randn(5, 3)
    first = _reparameterized(student_fn, mu, logvar).detach()
    second = _reparameterized(student_fn, mu, logvar).detach()

    if torch.equal(first, mu):
        raise Failed("z equals mu: the noise is missing. A sample of N(mu, σ²) lies σ times a standard normal draw "
                     "away from mu (section 1).")
    if torch.equal(first, second):
        raise Failed("two calls with the same mu and logvar gave the same z: there is no fresh noise (ε is missing, "
                     "or drawn once). "
                     "Draw ε = torch.randn_like(mu) inside the function, at every call.")
    noise = (first - mu) / torch.exp(0.5 * logvar)
    if torch.allclose(noise, noise[:1].expand_as(noise), atol=1e-5):
        raise Failed("every row of the batch got the same noise: one draw of ε is shared across the batch. Each "
                     "example needs its own ε, with the shape of mu (torch.randn_like(mu)).")


def _reparam_moments(student_fn, means=_MOMENT_MU, logvars=_MOMENT_LOGVAR, shown="[log 4, log 0.25, 1.0]") -> None:
    mu = torch.tensor(means).expand(_MOMENT_ROWS, 3)
    logvar = torch.tensor(logvars).expand(_MOMENT_ROWS, 3)
    z = _reparameterized(student_fn, mu, logvar).detach().double()
    mean, std = z.mean(dim=0), z.std(dim=0)
    sigma = torch.tensor(logvars, dtype=torch.float64).mul(0.5).exp()
    inputs = f"mu={[round(v, 3) for v in means]}, logvar={shown} ({_MOMENT_ROWS} rows)"
    if not torch.isfinite(z).all():
        raise Failed(f"for {inputs}, some samples are not finite (nan/inf); is a square root or a log of logvar "
                     "taken (log where exp belongs)? σ = exp(0.5·logvar)")
    if ((mean - torch.tensor(means, dtype=torch.float64)).abs() > 6 * sigma / math.sqrt(_MOMENT_ROWS)).any():
        mu_d = torch.tensor(means, dtype=torch.float64)
        hint = " It looks like mu is not added: z = mu + σ·ε." if (mean.abs() < 0.1).all() else ""
        logvar_d = torch.tensor(logvars, dtype=torch.float64)
        if not hint and ((mean - logvar_d).abs() < 6 * (0.5 * mu_d).exp() / math.sqrt(_MOMENT_ROWS)).all():
            hint = " It looks like mu and logvar are swapped (the samples' mean is logvar): z = mu + exp(0.5·logvar)·ε."
        if not hint and ((mean + mu_d).abs() < 6 * sigma / math.sqrt(_MOMENT_ROWS)).all():
            hint = " It looks like the sign of z is flipped: z = mu + σ·ε, not −(mu + σ·ε)."
        inverse = sigma / (z - mu_d)  # ε itself if σ was divided by ε
        if not hint and abs(float(inverse.mean())) < 0.1 and (inverse.std(dim=0) - 1).abs().max() < 0.05:
            hint = " It looks like σ is divided by ε instead of multiplied by it: z = mu + σ·ε."
        raise Failed(f"for {inputs}, the samples' mean is {_fmt(mean)}, it should be mu.{hint}")
    if ((std / sigma - 1).abs() > 0.04).any():
        logvar_d = torch.tensor(logvars, dtype=torch.float64)
        mistakes = {
            "you used exp(logvar) — the variance σ² — as the standard deviation (the ½ in exp(½·logvar) is missing); "
            "σ = exp(0.5·logvar)": logvar_d.exp(),
            "the sign in the exponent is flipped: exp(-0.5·logvar) is 1/σ; σ = exp(0.5·logvar)":
                (-0.5 * logvar_d).exp(),
            "ε is not scaled at all (σ is missing, or the ½ became 0: exp(0) = 1); multiply it by σ = exp(0.5·logvar)":
                torch.ones(3, dtype=torch.float64),
            "you used logvar itself as the standard deviation; σ = exp(0.5·logvar)": logvar_d.abs(),
            "you used 0.5·logvar = log σ as the standard deviation: exponentiate it, σ = exp(0.5·logvar)":
                (0.5 * logvar_d).abs(),
            "you took the square root of σ (the ½ in exp(½·logvar) became ¼): σ = exp(0.5·logvar), not "
            "exp(0.25·logvar)": (0.25 * logvar_d).exp(),
            "the ½ in σ = exp(½·logvar) divides logvar instead of multiplying it (exp(½/logvar))":
                (0.5 / logvar_d).exp().abs(),
        }
        for factor, what in ((2.0, "doubled (σ·ε counted twice)"), (0.5, "halved"), (3.0, "tripled")):
            mistakes[f"the noise term σ·ε is {factor:g}× too large: it is {what}"] = factor * sigma
        for c in (1.5, 0.0, -1.0, 2.0, -0.25):
            mistakes[f"the ½ in σ = exp(½·logvar) is changed to {c:g} (a constant is wrong)"] = (c * logvar_d).exp()
        hint = name_the_mistake(std, mistakes, rtol=0.04, atol=0.0)
        shown_std, shown_sigma = _fmt_apart(std, sigma)
        raise Failed(f"for {inputs}, the samples' standard deviation is {shown_std}, it should be "
                     f"exp(0.5·logvar) = {shown_sigma}." + (f" It looks like {hint}." if hint else ""))


def _reparam_gradients(student_fn) -> None:
    mu = torch.randn(6, 3, requires_grad=True)
    logvar = (0.5 * torch.randn(6, 3)).requires_grad_(True)
    z = _as_tensor(call_student(student_fn, mu, logvar, forbidden=FORBIDDEN["4.1"]), "reparameterize(mu, logvar)")
    if not z.requires_grad:
        raise Failed("z does not depend on mu and logvar for autograd (no grad_fn): did you use .sample(), "
                     ".detach(), torch.no_grad() or numpy? Build z from mu and logvar with torch arithmetic, the "
                     "noise drawn apart from them.")
    mu_grad, logvar_grad = torch.autograd.grad(z.sum(), (mu, logvar), allow_unused=True)
    for name, grad in (("mu", mu_grad), ("logvar", logvar_grad)):
        if grad is None or not bool(grad.abs().sum() > 0):
            raise Failed(f"no gradient reaches {name} (dz/d{name} is {'missing' if grad is None else 'zero'}): "
                         "torch.normal(...) and .sample() block it; build z from mu and logvar with torch "
                         "arithmetic, the noise drawn apart from them.")
    if not torch.allclose(mu_grad, torch.ones_like(mu), atol=1e-5):
        raise Failed(f"dz/dmu should be 1 for every element, got values like {_fmt(mu_grad[0])}.")
    expected = 0.5 * (z.detach() - mu.detach())
    if not torch.allclose(logvar_grad, expected, rtol=1e-4, atol=1e-5):
        raise Failed("dz/dlogvar should be 0.5·exp(0.5·logvar)·ε = 0.5·(z − mu); it is not: check how σ is "
                     "computed from logvar.")


@exercise("4.1", "Implement reparameterize")
def check_reparameterize(student_fn, seed: int | None = None) -> None:
    """Shape, fresh noise, untouched inputs, the samples' mean and spread, and gradients reaching mu and logvar."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(4 if seed is None else seed)
        _reparam_shapes(student_fn)
        if seed is None:
            _reparam_moments(student_fn)
        else:
            means, logvars = torch.randn(3).mul(2).tolist(), torch.empty(3).uniform_(-2.5, 2.5).tolist()
            _reparam_moments(student_fn, means, logvars, shown=str([round(v, 3) for v in logvars]))
        _reparam_gradients(student_fn)


# --- Exercise 4.2 ---------------------------------------------------------------------------------------------

_SF_MU = (0.7, -1.2)
_SF_SIGMA = (0.6, 1.3)
_SF_SAMPLES = 20_000
_SF_Z_LIMIT = 5.0  # standard errors


def _objectives(mu: torch.Tensor, sigma: torch.Tensor):
    """(name, f, exact ∂/∂μ, exact ∂/∂σ) for z ~ N(μ, σ²) in each coordinate; f sums over coordinates."""
    damp = torch.exp(-0.5 * sigma**2)
    density = torch.exp(-0.5 * (mu / sigma) ** 2) / math.sqrt(2 * math.pi)  # φ(μ/σ)
    return [
        ("f(z) = Σ z²", lambda z: z.pow(2).sum(-1), 2 * mu, 2 * sigma),
        ("f(z) = Σ sin z", lambda z: torch.sin(z).sum(-1), torch.cos(mu) * damp, -sigma * torch.sin(mu) * damp),
        # a step function: ∇f = 0 almost everywhere, yet E[f] = Σ Φ(μ/σ) moves with μ and σ
        ("f(z) = Σ 1[z > 0]", lambda z: (z > 0).double().sum(-1), density / sigma, -density * mu / sigma**2),
    ]


def _sf_mistakes(f, mu, sigma, eps) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    right_mu, right_sigma = score_function_grads(f, mu, sigma, eps)
    values = f(mu + sigma * eps).unsqueeze(-1)
    score_mu, score_sigma = eps / sigma, (eps.pow(2) - 1) / sigma
    at_mu = f(mu.expand_as(eps)).unsqueeze(-1)
    z = (mu + sigma * eps).requires_grad_(True)
    grad_f = torch.autograd.grad(f(z).sum(), z, allow_unused=True)[0] if f(z).requires_grad else None
    grad_f = torch.zeros_like(eps) if grad_f is None else grad_f.detach()
    return {
        "you differentiated f (the pathwise estimator): the score-function estimator uses only values of f, "
        "f(z)·∇log q(z)": (grad_f, grad_f * eps),
        "the f(z) factor is missing: the estimator is f(z)·∇log q(z), not ∇log q(z) alone": (score_mu, score_sigma),
        "the sign of the score is flipped: ∇_μ log q(z) = +(z − μ)/σ² and ∇_σ log q(z) = ((z − μ)² − σ²)/σ³":
            (-right_mu, -right_sigma),
        "f is evaluated at μ instead of at the sample z = μ + σ·ε": (at_mu * score_mu, at_mu * score_sigma),
        "∇_μ log q(z) is divided by σ only once (the power of σ is 1, not 2): it is (z − μ)/σ² = ε/σ, not "
        "(z − μ)/σ = ε":
            (values * eps, right_sigma),
        "∇_σ log q(z) misses the −1/σ that comes from the normalizing constant: it is (ε² − 1)/σ":
            (right_mu, values * eps.pow(2) / sigma),
        "the sign of ∇_σ log q(z) is flipped: it is (ε² − 1)/σ, not (1 − ε²)/σ": (right_mu, -right_sigma),
    }


def _student_terms(student_fn, f, mu, sigma, eps) -> tuple[torch.Tensor, torch.Tensor]:
    out = call_student(student_fn, f, mu.clone(), sigma.clone(), eps.clone(), forbidden=FORBIDDEN["4.2"])
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise Failed("return a pair (grad_mu, grad_sigma) of per-sample terms, each of shape (S, m); "
                     f"got {type(out).__name__}.")
    terms = []
    for name, value in zip(("grad_mu", "grad_sigma"), out):
        value = _as_tensor(value, name).detach()
        if value.shape != eps.shape:
            hint = (" It looks like you averaged over the samples, or z does not depend on ε (σ·ε is missing from "
                    "z = μ + σ·ε): return one term per sample." if value.shape == eps.shape[1:] else
                    " It looks like ∇log q(z) is missing: f(z) alone has one value per sample, f(z)·∇log q(z) has one "
                    "per sample and coordinate." if value.shape == (eps.shape[0], 1) else "")
            raise Failed(f"{name} should have the shape of eps, (S, m) = {tuple(eps.shape)}, "
                         f"got {tuple(value.shape)}.{hint}")
        terms.append(value)
    low_precision = any(t.dtype in (torch.float32, torch.float16, torch.bfloat16) for t in terms)
    return _Terms(terms[0].double(), terms[1].double(), 1e-4 if low_precision else 1e-6)


class _Terms(tuple):
    """(grad_mu, grad_sigma) in float64, with the relative tolerance the student's dtype allows (float32 answers
    carry ~1e-7 relative rounding per operation; float64 ones are held to 1e-6)."""

    def __new__(cls, grad_mu, grad_sigma, rtol: float):
        terms = super().__new__(cls, (grad_mu, grad_sigma))
        terms.rtol = rtol
        return terms


def _close(got, wanted) -> bool:
    rtol = getattr(got, "rtol", 1e-6)
    return all(torch.allclose(g, w, rtol=rtol, atol=rtol * float(w.abs().max()) * 1e-2) for g, w in zip(got, wanted))


def _largest_difference(got, wanted) -> str:
    """Where the two pairs of terms differ most (values that print alike can still differ)."""
    gaps = [(float((g - w).abs().max()), label, (g - w).abs().flatten().argmax().item(), g, w)
            for label, g, w in zip(("∂/∂μ", "∂/∂σ"), got, wanted)]
    size, label, flat, g, w = max(gaps, key=lambda gap: gap[0])
    row, col = divmod(flat, g.shape[-1])
    return (f"largest difference {size:.3g} in the {label} term of sample {row}, coordinate {col} "
            f"(expected {float(w[row, col]):.10g}, got {float(g[row, col]):.10g})")


def _with_constant_baseline(got, f, mu, sigma, eps) -> bool:
    """True if got = (f(z) − b)·∇log q(z) for one constant b per coordinate (a baseline keeps it unbiased)."""
    values = f(mu + sigma * eps).unsqueeze(-1)
    score_mu, score_sigma = eps / sigma, (eps.pow(2) - 1) / sigma
    usable = score_mu.abs() > 1e-3
    implied = torch.where(usable, values - got[0] / torch.where(usable, score_mu, 1.0), torch.nan)
    baseline = implied.nanmedian(dim=0).values
    return _close(got, ((values - baseline) * score_mu, (values - baseline) * score_sigma))


def _references(f, mu, sigma, eps, key=None):
    """The estimator's terms without and with the leave-one-out baseline (remembered per seed and objective)."""
    def compute():
        return (score_function_grads(f, mu, sigma, eps), score_function_grads(f, mu, sigma, eps, "leave-one-out"))

    return compute() if key is None else cached(("4.2 references", *key), compute)


def _accepted(got, f, mu, sigma, eps, key=None) -> bool:
    """The per-sample terms of the score-function estimator for the given eps, with or without a baseline."""
    plain, leave_one_out = _references(f, mu, sigma, eps, key)
    return _close(got, plain) or _close(got, leave_one_out) or _with_constant_baseline(got, f, mu, sigma, eps)


def _explain_sf(student_fn, got, name, f, mu, sigma, eps, exact, seed=None) -> str:
    """Why these per-sample terms are wrong."""
    again = _student_terms(student_fn, f, mu, sigma, eps)
    if not _close(got, again):
        return ("two calls with the same eps gave different terms: your function draws its own noise. Use the "
                "given eps for every sample.")
    if all(torch.allclose(g, g[:1].expand_as(g)) for g in got):
        return ("every sample got the same term: you averaged over the samples and repeated the average. Return "
                "one term per sample, each computed from its own ε_s.")
    hint = _name_sf_mistake(got, cached(("4.2", seed, name), lambda: _sf_mistakes(f, mu, sigma, eps))) or \
        _name_sf_mistake(got, cached(("4.2 slips", seed, name), lambda: _sf_slips(f, mu, sigma, eps)))
    if hint is None and name.endswith("1[z > 0]") and bool((got[0] == 0).all()):
        hint = ("you differentiated f (the pathwise estimator): a step function has zero gradient almost "
                "everywhere. The score-function estimator uses only values of f: f(z)·∇log q(z)")
    reference = _references(f, mu, sigma, eps, (seed, name))[0]
    for label, terms, ref, exact_grad in (("∂/∂μ", got[0], reference[0], exact[0]),
                                          ("∂/∂σ", got[1], reference[1], exact[1])):
        z_scores = (terms.mean(dim=0) - exact_grad).abs() / (ref.std(dim=0) / math.sqrt(len(eps)))
        if not (bool(torch.isfinite(z_scores).all()) and bool((z_scores < _SF_Z_LIMIT).all())):
            shown_mean, shown_exact = _fmt_apart(terms.mean(dim=0), exact_grad)
            return (f"for {name} with μ={_fmt(mu)}, σ={_fmt(sigma)} and {len(eps)} samples, the mean of your "
                    f"{label} terms is {shown_mean} but the exact gradient is {shown_exact} (off by "
                    f"up to {float(z_scores.nan_to_num(1e9).max()):.0f} standard errors): the estimator is biased."
                    + (f" It looks like {hint}." if hint else ""))
    return (f"for {name}, your per-sample terms are not f(z_s)·∇log q(z_s) at z_s = μ + σ·ε_s for the given eps "
            f"({_largest_difference(got, reference)})." + (f" It looks like {hint}." if hint else ""))


def _name_sf_mistake(got, mistakes) -> str | None:
    found = []
    for description, wrong in mistakes.items():
        if not isinstance(wrong, (tuple, list)) or len(wrong) != 2:
            continue
        wrong_mu, wrong_sigma = (torch.as_tensor(w, dtype=torch.float64) for w in wrong)
        rows = len(wrong_mu) if wrong_mu.dim() else 0
        if wrong_mu.shape != got[0][:rows].shape or wrong_sigma.shape != got[1][:rows].shape:
            continue
        if torch.allclose(got[0][:rows], wrong_mu, rtol=1e-4, atol=1e-6) and \
                torch.allclose(got[1][:rows], wrong_sigma, rtol=1e-4, atol=1e-6):
            found.append(description)
            if len(found) == 3:
                break
    return "; or ".join(found) if found else None


_SLIP_ROWS = 64  # slips are looked for on the first samples only: cheap, and enough to tell them apart


def _sf_formula(f, mu, sigma, eps):
    """The per-sample terms written in named pieces, for `piece_slips`."""
    def formula(piece):
        z = piece("z = μ + σ·ε", piece("μ in z", mu) + piece("σ·ε in z", piece("σ in σ·ε", sigma) * piece(
            "ε in σ·ε", eps)))
        f_z = f(z).unsqueeze(-1)
        diff = piece("z − μ in ∇_μ", z - piece("μ in (z − μ) of ∇_μ", mu))
        score_mu = piece("∇_μ log q(z) = (z − μ)/σ²", diff / piece("σ² in (z − μ)/σ²", sigma**2, power=(sigma, 2)))
        diff_s = piece("z − μ in ∇_σ", z - piece("μ in (z − μ) of ∇_σ", mu))
        square = piece("(z − μ)² in ∇_σ", diff_s**2, power=(diff_s, 2))
        top = piece("(z − μ)² − σ²", square - piece("σ² in ((z − μ)² − σ²)", sigma**2, power=(sigma, 2)))
        score_sigma = piece("∇_σ log q(z) = ((z − μ)² − σ²)/σ³", top / piece("σ³", sigma**3, power=(sigma, 3)))
        return (piece("f(z)·∇_μ log q(z)", piece("f(z) in the ∂/∂μ term", f_z) * score_mu),
                piece("f(z)·∇_σ log q(z)", piece("f(z) in the ∂/∂σ term", f_z) * score_sigma))

    return formula


def _sf_slips(f, mu, sigma, eps) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    eps = eps[:_SLIP_ROWS]
    return {**piece_slips(_sf_formula(f, mu, sigma, eps)),
            "the returned pair is swapped: return (grad_mu, grad_sigma), the μ terms first":
                tuple(reversed(score_function_grads(f, mu, sigma, eps))),
            **swapped_arguments(lambda m, s, e: _sf_formula(f, m, s, e)(lambda name, value, **_: value),
                                dict(mu=mu, sigma=sigma, eps=eps))}


def _sf_inputs(seed: int | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(42 if seed is None else seed)
    if seed is None:
        mu, sigma = torch.tensor(_SF_MU, dtype=torch.float64), torch.tensor(_SF_SIGMA, dtype=torch.float64)
    else:
        mu = torch.randn(2, generator=generator, dtype=torch.float64)
        sigma = 0.4 + torch.rand(2, generator=generator, dtype=torch.float64)
    return mu, sigma, torch.randn(_SF_SAMPLES, 2, generator=generator, dtype=torch.float64)


@exercise("4.2", "Implement the score-function estimator")
def check_score_function_estimator(student_fn, seed: int | None = None) -> None:
    """The per-sample terms f(z_s)·∇log q(z_s) for the given eps (a baseline is accepted) on three objectives."""
    mu, sigma, eps = _sf_inputs(seed)
    for name, f, exact_mu, exact_sigma in _objectives(mu, sigma):
        try:
            got = _student_terms(student_fn, f, mu, sigma, eps)
        except Failed as failure:
            if "does not require grad" in str(failure):
                raise Failed(f"{failure} It looks like you differentiated f (the pathwise estimator), which "
                             f"fails for {name}: the score-function estimator uses only values of f, "
                             "f(z)·∇log q(z).") from None
            raise
        if not _accepted(got, f, mu, sigma, eps, key=(seed, name)):
            raise Failed(_explain_sf(student_fn, got, name, f, mu, sigma, eps, (exact_mu, exact_sigma), seed))

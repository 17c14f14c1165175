"""Checks for notebook 07 (beyond the basic VAE): the β-weighted loss and the active-unit count."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from helpers.beyond import active_mask, beta_vae_loss
from helpers.checks.core import Failed, assert_close, call_student, exercise, piece_slips
from helpers.objectives import bernoulli_log_prob, kl_normal

__all__ = ["check_beta_vae_loss", "check_active_units_mask", "FORBIDDEN"]

FORBIDDEN = {
    "7.1": [("helpers.beyond.beta_vae_loss (the project's tested copy)", beta_vae_loss)],
    "7.2": [("helpers.beyond.active_mask (the project's tested copy)", active_mask)],
}


# ---------------------------------------------------------------- Exercise 7.1: the β-weighted loss


def _loss_case(seed: int, n: int, pixels: int, m: int):
    generator = torch.Generator().manual_seed(seed)
    x = torch.bernoulli(torch.rand(n, pixels, generator=generator), generator=generator)
    logits = 2 * torch.randn(n, pixels, generator=generator)
    mu = torch.randn(n, m, generator=generator)
    logvar = 0.5 * torch.randn(n, m, generator=generator)
    return x, logits, mu, logvar


def _loss_mistakes(x, logits, mu, logvar, beta) -> dict[str, torch.Tensor]:
    log_lik, kl = bernoulli_log_prob(x, logits), kl_normal(mu, logvar)
    per_pixel_bce = F.binary_cross_entropy_with_logits(logits, x, reduction="none").mean(dim=-1)
    return {
        "β multiplies the reconstruction term instead of the KL: the loss is −log p(x|z) + β·KL": (
            (-beta * log_lik + kl).mean()),
        "β is missing: this is the plain negative ELBO, −log p(x|z) + KL": (-log_lik + kl).mean(),
        "β divides the KL instead of multiplying it": (-log_lik + kl / beta).mean(),
        "the sign is flipped: this is the β-ELBO, which we maximize; the loss to minimize is its negative": (
            (log_lik - beta * kl).mean()),
        "the KL is subtracted: the loss is −log p(x|z) + β·KL (both terms are costs)": (
            (-log_lik - beta * kl).mean()),
        "the KL is summed over the batch while the reconstruction term is averaged: average both over the "
        "examples": (-log_lik).mean() + beta * kl.sum(),
        "the batch is summed instead of averaged: take .mean() over the examples": (
            (-log_lik + beta * kl).sum()),
        "the reconstruction term is averaged over pixels: log p(x|z) is a sum over the 784 pixels": (
            (per_pixel_bce + beta * kl).mean()),
        "one value per example is returned: average over the batch to get a scalar loss": (
            -log_lik + beta * kl),
        "β multiplies both terms: only the KL is weighted, the loss is −log p(x|z) + β·KL": (
            beta * (-log_lik + kl)).mean(),
        **piece_slips(_loss_formula(x, logits, mu, logvar, beta)),
    }


def _loss_formula(x, logits, mu, logvar, beta):
    """The β-weighted loss written in named pieces, for `piece_slips`."""
    def formula(piece):
        distortion = piece("the reconstruction term −log p(x|z)", -bernoulli_log_prob(x, logits))
        rate = piece("the KL term", kl_normal(mu, logvar))
        return (distortion + piece("β·KL", piece("β", beta) * rate)).mean()

    return formula


@exercise("7.1", "The β-weighted loss")
def check_beta_vae_loss(student_fn, seed: int | None = None) -> None:
    """Compare with helpers.beyond.beta_vae_loss for several β ≠ 1 and random inputs."""
    cases = ((0, (6, 20, 3), 4.0), (1, (5, 784, 16), 0.5), (2, (3, 10, 2), 2.0)) if seed is None else (
        (seed, (4, 30, 5), 3.0), (seed + 1, (7, 12, 2), 0.25))
    for case_seed, (n, pixels, m), beta in cases:
        x, logits, mu, logvar = _loss_case(case_seed, n, pixels, m)
        got = call_student(student_fn, x, logits, mu, logvar, beta, forbidden=FORBIDDEN["7.1"])
        expected = beta_vae_loss(x, logits, mu, logvar, beta)
        assert_close(got, expected, inputs=f"a batch of {n} examples with {pixels} pixels, m={m}, β={beta}",
                     mistakes=_loss_mistakes(x, logits, mu, logvar, beta), rtol=1e-4, atol=1e-4)
    # gradients must reach the encoder's and the decoder's outputs
    x, logits, mu, logvar = _loss_case(3, 4, 12, 2)
    logits, mu, logvar = (t.clone().requires_grad_(True) for t in (logits, mu, logvar))
    got = call_student(student_fn, x, logits, mu, logvar, 2.0, forbidden=FORBIDDEN["7.1"])
    if not isinstance(got, torch.Tensor) or not got.requires_grad:
        raise Failed("the loss must be a torch tensor that gradients flow through (no .item(), float() or "
                     ".detach()), or training cannot use it.")


# ---------------------------------------------------------------- Exercise 7.2: active units


# Column j of `mu` has variance _VARIANCES[j] across examples around mean _MEANS[j]. Columns 3 and 4 have a
# variance below 0.01 but a standard deviation above it; column 5 sits at a non-zero mean with tiny variance.
_VARIANCES = (2.0, 0.3, 0.04, 0.004, 0.0004, 1e-6, 0.02)
_MEANS = (0.0, 1.0, -0.5, 0.2, 0.0, 0.5, 0.0)


def _activity_case(seed: int, n: int, variances, means) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(n, len(variances), generator=generator, dtype=torch.float64)
    noise = (noise - noise.mean(dim=0)) / noise.std(dim=0)  # exactly unit sample variance per column
    return (noise * torch.tensor(variances, dtype=torch.float64).sqrt() + torch.tensor(means)).float()


def _activity_mistakes(mu: torch.Tensor, threshold: float) -> dict[str, torch.Tensor]:
    return {
        "a unit whose variance equals the threshold is counted as active: A_j must be strictly above it (>)": (
            mu.var(dim=0) >= threshold),
        "the threshold argument is ignored (0.01 is hard-coded): compare with `threshold`": mu.var(dim=0) > 0.01,
        "the variance is taken over the wrong axis (across the latent dimensions of each example); A_j varies "
        "across the examples, one number per latent dimension": mu.var(dim=1) > threshold,
        "the threshold is applied to the standard deviation; A_j is a variance": mu.std(dim=0) > threshold,
        "the mean of mu² is used instead of the variance: subtract the mean over examples first": (
            mu.pow(2).mean(dim=0) > threshold),
        "the count is returned: return the boolean mask, one entry per latent dimension": active_mask(
            mu, threshold).sum(),
        "the mask is inverted: True must mark the ACTIVE units, those with a variance above the threshold": (
            mu.var(dim=0) <= threshold),
        "the variance is squared: A_j = Var(mu_j) is compared with the threshold as it is": (
            mu.var(dim=0).pow(2) > threshold),
        "every unit is marked inactive: is the sign of the variance flipped? A variance is never negative": (
            -mu.var(dim=0) > threshold),
        "you returned the indices of the active units (nonzero/where): return the boolean mask, one entry per "
        "latent dimension": active_mask(mu, threshold).nonzero().flatten(),
        "you returned the indices of the active units (nonzero/where, one row each): return the boolean mask, one "
        "entry per latent dimension": active_mask(mu, threshold).nonzero(),
    }


# Two examples: the columns' variances are exactly 0.5, 2 and 0.03125 in float32, so a threshold of 0.5 sits on
# the first column's variance and separates `>` from `>=`.
_TIE = torch.tensor([[-0.5, -1.0, 0.0], [0.5, 1.0, 0.25]])


def _activity_cases(seed: int | None) -> list[tuple[torch.Tensor, float, str]]:
    generator = torch.Generator().manual_seed(1 if seed is None else seed)
    scales = 10 ** torch.empty(12).uniform_(-4, 0.5, generator=generator)
    random_case = _activity_case(2 if seed is None else seed + 1, 30, scales.tolist(),
                                 torch.randn(12, generator=generator).tolist())
    if seed is not None:
        return [(random_case, 0.01, "N=30 examples, m=12 units, random variances"),
                (random_case, 0.05, "the same units with threshold 0.05")]
    crafted = _activity_case(0, 400, _VARIANCES, _MEANS)
    return [(crafted, 0.01, "N=400 examples, m=7 units with variances " + ", ".join(map(str, _VARIANCES))),
            (random_case, 0.01, "N=30 examples, m=12 units, random variances"),
            (crafted, 0.1, "the same 7 units with threshold=0.1"),
            (_TIE, 0.5, "N=2 examples, m=3 units whose variances are 0.5, 2 and 0.03125")]


@exercise("7.2", "Count active units")
def check_active_units_mask(student_fn, seed: int | None = None) -> None:
    """Compare with helpers.beyond.active_mask on crafted and random posterior means."""
    for mu, threshold, inputs in _activity_cases(seed):
        got = call_student(student_fn, mu.clone(), threshold, forbidden=FORBIDDEN["7.2"])
        if isinstance(got, torch.Tensor) and got.dtype not in (torch.bool,) and got.is_floating_point():
            values = set(got.detach().flatten().tolist())
            if not values <= {0.0, 1.0}:
                raise Failed(f"for {inputs}, expected a boolean mask (True/False per unit), got values such as "
                             f"{sorted(values)[:3]}: compare the variances with the threshold.")
        assert_close(got, active_mask(mu, threshold), inputs=f"{inputs} (threshold={threshold})",
                     mistakes=_activity_mistakes(mu, threshold), rtol=0, atol=1e-6)

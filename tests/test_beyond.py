"""Unit tests of helpers.beyond: β-loss, rate/distortion, active units, traversal, IWAE, Gaussian decoder, CVAE."""

from __future__ import annotations

import math

import pytest
import torch

from helpers import beyond
from helpers.models import VAE
from helpers.objectives import bernoulli_log_prob, elbo, iwae_bound, kl_normal


@pytest.fixture
def small_vae() -> VAE:
    torch.manual_seed(0)
    return VAE(latent_dim=3, hidden=(8,), input_dim=12)


@pytest.fixture
def binary_x() -> torch.Tensor:
    return torch.bernoulli(torch.rand(20, 12, generator=torch.Generator().manual_seed(1)))


# ---------------------------------------------------------------- β-loss and rate/distortion


def test_beta_vae_loss_weights_only_the_kl(small_vae, binary_x):
    logits, mu, logvar = small_vae(binary_x)
    log_lik, kl = bernoulli_log_prob(binary_x, logits), kl_normal(mu, logvar)
    for beta in (0.0, 0.5, 1.0, 4.0):
        expected = (-log_lik + beta * kl).mean()
        assert torch.allclose(beyond.beta_vae_loss(binary_x, logits, mu, logvar, beta), expected)
    # β = 4 minus β = 1 is exactly 3 · mean KL
    diff = beyond.beta_vae_loss(binary_x, logits, mu, logvar, 4.0) - beyond.beta_vae_loss(binary_x, logits, mu, logvar)
    assert torch.allclose(diff, 3 * kl.mean())


def test_beta_one_loss_is_the_negative_elbo(small_vae, binary_x):
    torch.manual_seed(3)
    loss = beyond.make_beta_loss(1.0)(small_vae, binary_x)
    torch.manual_seed(3)
    assert torch.allclose(loss, -elbo(small_vae, binary_x).mean())


def test_make_beta_loss_reads_a_callable_at_every_call(small_vae, binary_x):
    weight = {"value": 0.0}
    loss = beyond.make_beta_loss(lambda: weight["value"])
    torch.manual_seed(0)
    at_zero = loss(small_vae, binary_x)
    weight["value"] = 2.0
    torch.manual_seed(0)
    at_two = loss(small_vae, binary_x)
    _, mu, logvar = small_vae(binary_x)
    assert torch.allclose(at_two - at_zero, 2 * kl_normal(mu, logvar).mean())


@pytest.mark.parametrize("beta", [-1.0, float("inf"), True, "1", None])
def test_beta_is_validated(beta, binary_x):
    with pytest.raises(ValueError, match="beta"):
        beyond.beta_vae_loss(binary_x, binary_x, torch.zeros(20, 3), torch.zeros(20, 3), beta)
    with pytest.raises(ValueError, match="beta"):
        beyond.make_beta_loss(beta)


def test_rate_distortion_matches_the_elbo_terms(small_vae, binary_x):
    torch.manual_seed(4)
    rate, distortion = beyond.rate_distortion(small_vae, binary_x, batch_size=7)
    mu, logvar = small_vae.encode(binary_x)
    assert rate == pytest.approx(kl_normal(mu, logvar).mean().item(), rel=1e-5)
    torch.manual_seed(4)
    mean_elbo = elbo(small_vae, binary_x).mean().item()
    assert -(rate + distortion) == pytest.approx(mean_elbo, abs=2.0)  # different z draws, same scale
    assert distortion > 0 and rate >= 0


def test_rate_distortion_validates_x(small_vae):
    with pytest.raises(ValueError, match="x must have shape"):
        beyond.rate_distortion(small_vae, torch.zeros(12))
    with pytest.raises(TypeError, match="x must be"):
        beyond.rate_distortion(small_vae, torch.zeros(3, 12, dtype=torch.int64))


# ---------------------------------------------------------------- active units


def test_unit_activity_is_the_variance_across_examples():
    mu = torch.tensor([[0.0, 1.0, 5.0], [2.0, 1.0, 5.1], [4.0, 1.0, 4.9]])
    assert torch.allclose(beyond.unit_activity(mu), torch.tensor([4.0, 0.0, 0.01]), atol=1e-6)
    assert beyond.active_mask(mu).tolist() == [True, False, False]  # 0.01 is not > 0.01
    assert beyond.active_mask(mu, threshold=0.005).tolist() == [True, False, True]


def test_active_mask_thresholds_the_variance_not_the_std():
    column = torch.linspace(-1, 1, 101).unsqueeze(1)
    mu = torch.cat([0.05 * column, 0.5 * column], dim=1)  # variances ≈ 0.00085 and 0.085
    assert beyond.active_mask(mu).tolist() == [False, True]


@pytest.mark.parametrize("threshold", [0, -0.1, True, "0.01"])
def test_active_mask_validates_threshold(threshold):
    with pytest.raises(ValueError, match="threshold"):
        beyond.active_mask(torch.randn(5, 2), threshold)


def test_unit_activity_needs_two_examples():
    with pytest.raises(ValueError, match="at least 2 rows"):
        beyond.unit_activity(torch.randn(1, 4))


def test_active_units_counts_a_dead_unit(small_vae, binary_x):
    with torch.no_grad():  # make unit 1's posterior mean independent of x: weights 0, bias 0.3
        small_vae.encoder[-1].weight[1].zero_()
        small_vae.encoder[-1].bias[1] = 0.3
    mu = beyond.posterior_means(small_vae, binary_x, batch_size=6)
    assert mu.shape == (20, 3)
    assert torch.allclose(mu[:, 1], torch.full((20,), 0.3))
    assert beyond.active_units(small_vae, binary_x, threshold=1e-6) == 2


def test_latent_traversal_changes_only_the_chosen_unit(small_vae):
    with torch.no_grad():
        small_vae.decoder[0].weight[:, 2].zero_()  # the decoder ignores unit 2
    z = torch.tensor([0.5, -0.2, 0.1])
    dead = beyond.latent_traversal(small_vae, z, 2, [-3.0, 0.0, 3.0])
    alive = beyond.latent_traversal(small_vae, z, 0, [-3.0, 0.0, 3.0])
    assert dead.shape == (3, 12)
    assert torch.allclose(dead, dead[0].expand_as(dead))
    assert (alive[0] - alive[2]).abs().max() > 1e-3
    assert torch.allclose(alive[1], torch.sigmoid(small_vae.decode(torch.tensor([[0.0, -0.2, 0.1]])))[0])


def test_latent_traversal_validates(small_vae):
    with pytest.raises(ValueError, match="dim"):
        beyond.latent_traversal(small_vae, torch.zeros(3), 3, [0.0])
    with pytest.raises(ValueError, match="1-D"):
        beyond.latent_traversal(small_vae, torch.zeros(1, 3), 0, [0.0])
    with pytest.raises(ValueError, match="values"):
        beyond.latent_traversal(small_vae, torch.zeros(3), 0, [])


# ---------------------------------------------------------------- IWAE from one matrix of log-weights


def test_iwae_blocks_known_values():
    log_w = torch.log(torch.tensor([[1.0, 2.0], [3.0, 2.0], [5.0, 2.0], [7.0, 2.0]]))
    assert torch.allclose(beyond.iwae_from_log_weights(log_w, 1), log_w.mean(dim=0))
    assert torch.allclose(beyond.iwae_from_log_weights(log_w, 4), torch.log(torch.tensor([4.0, 2.0])))
    two = (math.log(2.0) + math.log(6.0)) / 2  # blocks (1, 3) and (5, 7): means 2 and 6
    assert beyond.iwae_from_log_weights(log_w, 2)[0].item() == pytest.approx(two)


def test_iwae_blocks_rise_with_nested_k():
    log_w = torch.randn(1000, 7, generator=torch.Generator().manual_seed(0)) * 3
    values = [beyond.iwae_from_log_weights(log_w, k) for k in (1, 10, 100, 1000)]
    for low, high in zip(values, values[1:]):
        assert (high >= low - 1e-6).all()


def test_iwae_blocks_validate():
    with pytest.raises(ValueError, match="divide"):
        beyond.iwae_from_log_weights(torch.zeros(10, 2), 3)
    with pytest.raises(ValueError, match="2-D"):
        beyond.iwae_from_log_weights(torch.zeros(10), 1)
    with pytest.raises(ValueError, match="k"):
        beyond.iwae_from_log_weights(torch.zeros(10, 2), 0)


def test_log_importance_weights_agree_with_iwae_bound(small_vae, binary_x):
    torch.manual_seed(0)
    log_w = beyond.log_importance_weights(small_vae, binary_x, 4000, max_elements=20 * 12 * 300)
    assert log_w.shape == (4000, 20)
    ours = beyond.iwae_from_log_weights(log_w, 50).mean().item()
    torch.manual_seed(1)
    reference = iwae_bound(small_vae, binary_x, k=50).mean().item()
    assert ours == pytest.approx(reference, abs=0.3)
    # K = 1 is the ELBO with an analytic-free Monte Carlo KL: close to the analytic one on average
    torch.manual_seed(2)
    assert beyond.iwae_from_log_weights(log_w, 1).mean().item() == pytest.approx(
        elbo(small_vae, binary_x.repeat(200, 1)).mean().item(), abs=0.3)


# ---------------------------------------------------------------- Gaussian decoder


def test_gaussian_decoder_starts_at_init_std_and_respects_the_floor():
    model = beyond.GaussianDecoderVAE(2, (8,), input_dim=5, min_std=0.05, init_std=0.4)
    assert torch.allclose(torch.exp(0.5 * model.decoder_logvar()), torch.full((5,), 0.4), atol=1e-5)
    with torch.no_grad():
        model.raw_logvar.fill_(-50.0)
    assert torch.allclose(torch.exp(0.5 * model.decoder_logvar()), torch.full((5,), 0.05), atol=1e-5)
    assert model.config()["min_std"] == 0.05


@pytest.mark.parametrize("kwargs", [{"min_std": 0}, {"min_std": 1.5}, {"min_std": 0.1, "init_std": 0.05}])
def test_gaussian_decoder_validates(kwargs):
    with pytest.raises(ValueError, match="std"):
        beyond.GaussianDecoderVAE(2, (8,), input_dim=5, **kwargs)


def test_gaussian_elbo_terms_and_loss():
    torch.manual_seed(0)
    model = beyond.GaussianDecoderVAE(2, (8,), input_dim=6)
    x = torch.rand(4, 6)
    torch.manual_seed(1)
    log_lik, kl = beyond.gaussian_elbo_terms(model, x)
    assert log_lik.shape == kl.shape == (4,)
    torch.manual_seed(1)
    assert torch.allclose(beyond.gaussian_vae_loss(model, x), (kl - log_lik).mean())
    with pytest.raises(TypeError, match="GaussianDecoderVAE"):
        beyond.gaussian_elbo_terms(VAE(2, (8,), input_dim=6), x)


def test_gaussian_density_can_exceed_one():
    """With σ at the floor and the mean on the data, log N(x; x, σ²) = −½ log 2π − log σ per pixel > 0."""
    model = beyond.GaussianDecoderVAE(2, (8,), input_dim=3, min_std=0.01)
    with torch.no_grad():
        model.raw_logvar.fill_(-50.0)
    sigma = torch.exp(0.5 * model.decoder_logvar())
    per_pixel = -0.5 * math.log(2 * math.pi) - torch.log(sigma)
    assert (per_pixel > 0).all()


def test_gaussian_sample_x_adds_pixel_noise():
    torch.manual_seed(0)
    model = beyond.GaussianDecoderVAE(2, (8,), input_dim=50, init_std=0.5)
    draws = model.sample_x(200, generator=torch.Generator().manual_seed(0))
    assert draws.shape == (200, 50)
    assert ((draws < 0) | (draws > 1)).float().mean() > 0.1  # a Gaussian leaves [0, 1]


def test_rate_distortion_dispatches_to_the_gaussian_decoder():
    torch.manual_seed(0)
    model = beyond.GaussianDecoderVAE(2, (8,), input_dim=6)
    x = torch.rand(10, 6)
    torch.manual_seed(2)
    rate, distortion = beyond.rate_distortion(model, x)
    torch.manual_seed(2)
    log_lik, kl = beyond.gaussian_elbo_terms(model, x)
    assert rate == pytest.approx(kl.mean().item(), rel=1e-5)
    assert distortion == pytest.approx(-log_lik.mean().item(), rel=1e-5)


# ---------------------------------------------------------------- conditional VAE


def test_one_hot_and_its_validation():
    assert beyond.one_hot(torch.tensor([0, 2]), 3).tolist() == [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    with pytest.raises(ValueError, match="labels"):
        beyond.one_hot(torch.tensor([3]), 3)
    with pytest.raises(TypeError, match="int64"):
        beyond.one_hot(torch.tensor([0.0]), 3)


def test_cvae_labels_and_one_hot_agree_and_the_label_matters():
    torch.manual_seed(0)
    model = beyond.ConditionalVAE(latent_dim=2, hidden=(8,), input_dim=6, n_classes=4)
    z = torch.randn(3, 2)
    labels = torch.tensor([0, 1, 3])
    by_label = model.decode(z, labels)
    assert torch.allclose(by_label, model.decode(z, beyond.one_hot(labels, 4)))
    assert not torch.allclose(by_label, model.decode(z, torch.tensor([2, 2, 2])))
    mu, logvar = model.encode(torch.rand(3, 6), labels)
    assert mu.shape == logvar.shape == (3, 2)
    images = model.generate(labels, generator=torch.Generator().manual_seed(0))
    assert images.shape == (3, 6) and ((images >= 0) & (images <= 1)).all()


def test_cvae_loss_matches_its_definition_and_validates():
    torch.manual_seed(0)
    model = beyond.ConditionalVAE(latent_dim=2, hidden=(8,), input_dim=6, n_classes=4)
    x, labels = torch.bernoulli(torch.rand(5, 6)), torch.tensor([0, 1, 2, 3, 0])
    batch = torch.cat([x, beyond.one_hot(labels, 4)], dim=1)
    torch.manual_seed(1)
    loss = beyond.cvae_loss(model, batch)
    torch.manual_seed(1)
    logits, mu, logvar = model(x, labels)
    assert torch.allclose(loss, (kl_normal(mu, logvar) - bernoulli_log_prob(x, logits)).mean())
    with pytest.raises(ValueError, match="width"):
        beyond.cvae_loss(model, x)
    with pytest.raises(ValueError, match="one-hot rows"):
        model.decode(torch.zeros(2, 2), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="last dimension"):
        model.encode(torch.zeros(2, 5), torch.tensor([0, 1]))


def test_log_importance_weights_with_the_encoders_own_proposal_are_the_default(small_vae, binary_x):
    with torch.no_grad():
        encoder_q = small_vae.encode(binary_x)
    torch.manual_seed(3)
    default = beyond.log_importance_weights(small_vae, binary_x, 300)
    torch.manual_seed(3)
    given = beyond.log_importance_weights(small_vae, binary_x, 300, proposal=encoder_q)
    assert torch.equal(default, given)


def test_log_importance_weights_with_any_proposal_approach_the_exact_log_likelihood():
    # one latent coordinate: log p(x) = log ∫ p(x|z) N(z; 0, 1) dz by quadrature on a fine grid
    torch.manual_seed(0)
    model = VAE(latent_dim=1, hidden=(8,), input_dim=12)
    with torch.no_grad():
        model.decoder[-1].weight.mul_(6)  # make the pixels depend strongly on z, so that the posterior is narrow
    x = torch.bernoulli(torch.rand(6, 12, generator=torch.Generator().manual_seed(1)))
    grid = torch.linspace(-8, 8, 8001).unsqueeze(1)
    with torch.no_grad():
        logits = model.decode(grid).unsqueeze(1).expand(-1, len(x), -1)  # (8001, 6, 12)
        log_joint = bernoulli_log_prob(x, logits).T - 0.5 * grid.squeeze(1) ** 2  # (6, 8001)
        exact = torch.logsumexp(log_joint, dim=1) - 0.5 * math.log(2 * math.pi) + math.log(16 / 8000)
        mu, logvar = model.encode(x)
    for proposal in ((mu, logvar), (mu + 1.0, logvar + 1.0), (torch.zeros_like(mu), torch.zeros_like(logvar))):
        torch.manual_seed(5)
        estimate = beyond.iwae_from_log_weights(
            beyond.log_importance_weights(model, x, 20000, proposal=proposal), 20000)
        assert torch.allclose(estimate, exact, atol=0.05), (estimate - exact)
    torch.manual_seed(5)
    far = beyond.iwae_from_log_weights(beyond.log_importance_weights(model, x, 50, proposal=(mu + 4, logvar - 2)), 50)
    assert (far < exact - 1).all(), "a proposal far from the posterior gives a loose bound"


@pytest.mark.parametrize("proposal, error, match", [
    (lambda mu, logvar: mu, TypeError, "pair"),
    (lambda mu, logvar: (mu, logvar, mu), TypeError, "pair"),
    (lambda mu, logvar: (mu[:-1], logvar), ValueError, "shape"),
    (lambda mu, logvar: (mu, logvar[:, :1]), ValueError, "shape"),
    (lambda mu, logvar: (mu, logvar.clone().fill_(float("nan"))), ValueError, "logvar"),
    (lambda mu, logvar: (mu.long(), logvar), TypeError, "floating"),
])
def test_log_importance_weights_refuse_a_bad_proposal(small_vae, binary_x, proposal, error, match):
    with torch.no_grad():
        mu, logvar = small_vae.encode(binary_x)
    with pytest.raises(error, match=match):
        beyond.log_importance_weights(small_vae, binary_x, 10, proposal=proposal(mu, logvar))


def test_log_importance_weights_with_a_proposal_still_check_the_digits(small_vae, binary_x):
    with torch.no_grad():
        proposal = small_vae.encode(binary_x)
    with pytest.raises(ValueError, match="255"):
        beyond.log_importance_weights(small_vae, binary_x * 255, 10, proposal=proposal)
    with pytest.raises(ValueError, match="pixels"):
        beyond.log_importance_weights(small_vae, binary_x[:, :-1], 10, proposal=proposal)

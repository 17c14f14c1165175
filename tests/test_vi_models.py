"""The toy models of notebook 03: exact posteriors, evidences, CAVI, mean field, PPCA, the SVI estimator."""

from __future__ import annotations

import math

import pytest
import torch

import helpers.vi_models as vm

PRIOR = vm.NormalGamma(mu0=0.5, lambda0=2.0, a0=3.0, b0=1.5)


@pytest.fixture
def x_small() -> torch.Tensor:
    return vm.sample_normal_data(12, mean=1.0, precision=3.0, seed=4)


def normal_gamma_log_joint(x, mu, tau, prior):
    """log p(x, mu, tau) written out directly, for the tests."""
    log_lik = (0.5 * torch.log(tau / (2 * math.pi)) - 0.5 * tau * (x[:, None] - mu) ** 2).sum(0)
    return log_lik + vm.normal_gamma_log_density(mu, tau, prior)


# ---------------------------------------------------------------- Normal–Gamma


def test_normal_gamma_rejects_bad_parameters():
    with pytest.raises(ValueError, match="lambda0"):
        vm.NormalGamma(lambda0=-1.0)
    with pytest.raises(ValueError, match="b0"):
        vm.NormalGamma(b0=0.0)


def test_sample_normal_data_is_seeded():
    assert torch.equal(vm.sample_normal_data(5, 0.0, 1.0, seed=3), vm.sample_normal_data(5, 0.0, 1.0, seed=3))
    assert not torch.equal(vm.sample_normal_data(5, 0.0, 1.0, seed=3), vm.sample_normal_data(5, 0.0, 1.0, seed=4))


def test_normal_gamma_density_integrates_to_one():
    mu, tau = torch.meshgrid(torch.linspace(-3, 4, 701, dtype=torch.float64),
                             torch.linspace(1e-4, 12, 1200, dtype=torch.float64), indexing="ij")
    density = vm.normal_gamma_log_density(mu, tau, PRIOR).exp()
    cell = (7 / 700) * (12 - 1e-4) / 1199
    assert float(density.sum()) * cell == pytest.approx(1.0, abs=2e-3)


def test_posterior_and_evidence_satisfy_bayes_rule(x_small):
    # log p(x) = log p(x, mu, tau) − log p(mu, tau | x) at any (mu, tau)
    post = vm.normal_gamma_posterior(x_small, PRIOR)
    mu = torch.tensor([0.0, 1.0, 2.5], dtype=torch.float64)
    tau = torch.tensor([0.5, 3.0, 8.0], dtype=torch.float64)
    implied = normal_gamma_log_joint(x_small, mu, tau, PRIOR) - vm.normal_gamma_log_density(mu, tau, post)
    assert torch.allclose(implied, torch.full_like(implied, vm.normal_gamma_log_evidence(x_small, PRIOR)))


def test_cavi_elbo_rises_and_stays_below_the_evidence(x_small):
    history = vm.run_cavi(x_small, PRIOR, a_init=1.0, b_init=20.0, iterations=10)
    elbo = torch.tensor(history["elbo"])
    assert len(elbo) == 20  # one value after every update
    assert (elbo.diff() >= -1e-10).all()
    log_px = vm.normal_gamma_log_evidence(x_small, PRIOR)
    assert elbo[-1] < log_px < elbo[-1] + 0.2
    assert history["m"][-1] == pytest.approx(vm.normal_gamma_posterior(x_small, PRIOR).mu0)


def test_cavi_tau_update_maximizes_the_elbo(x_small):
    m, kappa = vm.cavi_update_mu(x_small, PRIOR, e_tau=2.0)
    a, b = vm.cavi_update_tau(x_small, PRIOR, m, kappa)
    best = vm.normal_gamma_elbo(x_small, PRIOR, m, kappa, a, b)
    for da, db in ((0.3, 0.0), (-0.3, 0.0), (0.0, 0.2), (0.0, -0.2), (0.3, 0.3)):
        assert vm.normal_gamma_elbo(x_small, PRIOR, m, kappa, a + da, b + db) < best


def test_expected_squares_match_monte_carlo(x_small):
    """E Σ(x_i − mu)² and E(mu − mu0)² under q(mu) = N(m, 1/kappa), against 200,000 draws of mu."""
    m, kappa = 0.4, 7.0
    mu = m + torch.randn(200_000, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64) / kappa**0.5
    sq_data, sq_prior = vm.normal_gamma_expected_squares(x_small, PRIOR, m, kappa)
    assert sq_data == pytest.approx(float(((x_small - mu) ** 2).sum(-1).mean()), rel=2e-3)
    assert sq_prior == pytest.approx(float(((mu - PRIOR.mu0) ** 2).mean()), rel=1e-2)
    a, b = vm.cavi_update_tau(x_small, PRIOR, m, kappa)
    assert b == pytest.approx(PRIOR.b0 + 0.5 * (sq_data + PRIOR.lambda0 * sq_prior), rel=1e-12)


def test_cavi_mu_update_maximizes_the_elbo(x_small):
    a, b = 4.0, 2.0
    m, kappa = vm.cavi_update_mu(x_small, PRIOR, e_tau=a / b)
    best = vm.normal_gamma_elbo(x_small, PRIOR, m, kappa, a, b)
    for dm, scale in ((0.05, 1.0), (-0.05, 1.0), (0.0, 1.3), (0.0, 0.7)):
        assert vm.normal_gamma_elbo(x_small, PRIOR, m + dm, kappa * scale, a, b) < best


def test_normal_gamma_elbo_matches_monte_carlo(x_small):
    m, kappa, a, b = 0.9, 30.0, 9.0, 3.5
    generator = torch.Generator().manual_seed(0)
    n = 200_000
    tau = torch._standard_gamma(torch.full((n,), a, dtype=torch.float64), generator=generator) / b
    mu = m + torch.randn(n, generator=generator, dtype=torch.float64) / math.sqrt(kappa)
    log_q = (torch.distributions.Normal(m, kappa**-0.5).log_prob(mu)
             + torch.distributions.Gamma(torch.tensor(a), torch.tensor(b)).log_prob(tau))
    samples = normal_gamma_log_joint(x_small, mu, tau, PRIOR) - log_q
    closed = vm.normal_gamma_elbo(x_small, PRIOR, m, kappa, a, b)
    assert abs(float(samples.mean()) - closed) < 4 * float(samples.std()) / math.sqrt(n)


def test_normal_gamma_validation(x_small):
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        vm.normal_gamma_posterior([1.0, 2.0], PRIOR)
    with pytest.raises(ValueError, match="at least one"):
        vm.normal_gamma_posterior(torch.zeros(0, dtype=torch.float64), PRIOR)
    with pytest.raises(ValueError, match="kappa"):
        vm.cavi_update_tau(x_small, PRIOR, 0.0, -1.0)
    with pytest.raises(ValueError, match="iterations"):
        vm.run_cavi(x_small, PRIOR, 1.0, 1.0, iterations=0)
    with pytest.raises(ValueError, match="b_init"):
        vm.run_cavi(x_small, PRIOR, 1.0, -1.0)


# ---------------------------------------------------------------- Gaussians and mean field


def test_gaussian_kl_known_values():
    mean, cov = torch.tensor([0.5, -1.0]), torch.tensor([[2.0, 0.3], [0.3, 1.0]])
    assert vm.gaussian_kl(mean, cov, mean, cov) == pytest.approx(0.0, abs=1e-12)
    # 1-D: KL(N(1, 4) || N(0, 1)) = ½(4 + 1 − 1 − ln 4)
    one_d = vm.gaussian_kl(torch.tensor([1.0]), torch.tensor([[4.0]]), torch.tensor([0.0]), torch.tensor([[1.0]]))
    assert one_d == pytest.approx(0.5 * (4 - math.log(4)))


def test_mean_field_is_the_kl_minimizer():
    mean, cov = torch.tensor([1.0, 2.0]), torch.tensor([[1.0, 0.8], [0.8, 2.0]])
    m_opt, var_opt = vm.mean_field_gaussian(mean, cov)
    assert torch.allclose(var_opt.double(), 1 / torch.diagonal(torch.linalg.inv(cov.double())))
    assert (var_opt < torch.diagonal(cov)).all()  # mean field underestimates
    best = vm.gaussian_kl(m_opt, torch.diag(var_opt), mean, cov)
    for bump in (torch.tensor([1.1, 1.0]), torch.tensor([1.0, 0.9]), torch.tensor([1.2, 1.2])):
        assert vm.gaussian_kl(m_opt, torch.diag(var_opt * bump), mean, cov) > best
    assert vm.gaussian_kl(m_opt + 0.1, torch.diag(var_opt), mean, cov) > best


def test_gaussian_shape_errors():
    with pytest.raises(ValueError, match="cov must have shape"):
        vm.mean_field_gaussian(torch.zeros(2), torch.eye(3))
    with pytest.raises(ValueError, match="same dimension"):
        vm.gaussian_kl(torch.zeros(2), torch.eye(2), torch.zeros(3), torch.eye(3))


# ---------------------------------------------------------------- logistic regression


def test_logistic_log_joint_batches_over_w():
    features, labels = vm.sample_logistic_data(30, torch.tensor([1.0, -2.0]), seed=1)
    assert features.shape == (30, 2) and labels.shape == (30,) and set(labels.tolist()) <= {0.0, 1.0}
    w = torch.randn(4, 3, 2, dtype=torch.float64)
    batched = vm.logistic_log_joint(w, features, labels, prior_std=1.5)
    assert batched.shape == (4, 3)
    one = w[2, 1]
    p = torch.sigmoid(features @ one)
    direct = (labels * p.log() + (1 - labels) * (1 - p).log()).sum() \
        + torch.distributions.Normal(0.0, 1.5).log_prob(one).sum()
    assert torch.isclose(batched[2, 1], direct)


def test_grid_posterior_without_information_is_the_prior():
    # x_n = 0 makes every likelihood term log ½: the posterior is the prior N(0, 1.5² I)
    features, labels = torch.zeros(5, 2, dtype=torch.float64), torch.ones(5, dtype=torch.float64)
    grid = vm.logistic_grid_posterior(features, labels, prior_std=1.5, limits=((-9, 9), (-9, 9)), size=181)
    assert torch.allclose(grid.mean, torch.zeros(2, dtype=torch.float64), atol=1e-9)
    assert torch.allclose(grid.cov, 2.25 * torch.eye(2, dtype=torch.float64), rtol=1e-4)
    assert grid.log_evidence == pytest.approx(5 * math.log(0.5), abs=1e-4)
    assert grid.edge_mass < 1e-6


def test_grid_posterior_is_normalized_and_validated():
    features, labels = vm.sample_logistic_data(20, torch.tensor([1.0, 1.0]), seed=2)
    grid = vm.logistic_grid_posterior(features, labels, limits=((-5, 6), (-5, 6)), size=101)
    cell = float((grid.w1[1] - grid.w1[0]) * (grid.w2[1] - grid.w2[0]))
    assert float(grid.log_density.exp().sum()) * cell == pytest.approx(1.0)
    with pytest.raises(ValueError, match="limits"):
        vm.logistic_grid_posterior(features, labels, limits=((1, 0), (0, 1)))
    with pytest.raises(ValueError, match="shape \\(N, 2\\)"):
        vm.logistic_grid_posterior(torch.zeros(4, 3, dtype=torch.float64), labels[:4])


# ---------------------------------------------------------------- Poisson–Gamma / ADVI


def test_poisson_gamma_posterior_and_validation():
    counts = vm.sample_poisson(6, rate=3.0, seed=0)
    assert (counts == counts.round()).all() and (counts >= 0).all()
    assert vm.poisson_gamma_posterior(counts, 2.0, 1.0) == (2.0 + float(counts.sum()), 7.0)
    with pytest.raises(ValueError, match="non-negative integers"):
        vm.poisson_gamma_posterior(torch.tensor([1.5], dtype=torch.float64), 1.0, 1.0)


def test_advi_target_is_the_pushed_forward_posterior():
    # with the Jacobian, exp(target(ζ)) ∝ Gamma(e^ζ; a_N, b_N)·e^ζ, the density of ζ = log λ
    counts = torch.tensor([3.0, 1.0, 4.0], dtype=torch.float64)
    a_post, b_post = vm.poisson_gamma_posterior(counts, 2.0, 0.5)
    zeta = torch.linspace(-2, 3, 11, dtype=torch.float64)
    pushed = torch.distributions.Gamma(a_post, b_post).log_prob(zeta.exp()) + zeta
    with_jacobian = vm.poisson_gamma_log_joint_log_rate(zeta, counts, 2.0, 0.5)
    assert torch.allclose(with_jacobian - pushed, (with_jacobian - pushed)[0].expand(11))
    without = vm.poisson_gamma_log_joint_log_rate(zeta, counts, 2.0, 0.5, jacobian=False)
    assert torch.allclose(with_jacobian - without, zeta)


# ---------------------------------------------------------------- probabilistic PCA


@pytest.fixture
def ppca() -> vm.PPCA:
    W = torch.randn(6, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    return vm.PPCA(W, torch.linspace(-1, 1, 6, dtype=torch.float64), 0.3)


def test_ppca_marginal_and_posterior_match_dense_gaussians(ppca):
    x, _ = vm.sample_ppca(7, ppca, seed=1)
    cov_x = ppca.W @ ppca.W.T + ppca.sigma2 * torch.eye(6, dtype=torch.float64)
    dense = torch.distributions.MultivariateNormal(ppca.mu, cov_x).log_prob(x)
    assert torch.allclose(vm.ppca_log_marginal(x, ppca), dense)
    # p(z | x) by conditioning the joint Gaussian of (z, x)
    gain = ppca.W.T @ torch.linalg.inv(cov_x)
    mean, cov = vm.ppca_posterior(x, ppca)
    assert torch.allclose(mean, (x - ppca.mu) @ gain.T)
    assert torch.allclose(cov, torch.eye(2, dtype=torch.float64) - gain @ ppca.W)


def test_ppca_elbo_bounds_and_matches_monte_carlo(ppca):
    x, _ = vm.sample_ppca(3, ppca, seed=2)
    mean, cov = vm.ppca_posterior(x, ppca)
    logvar = torch.tensor([-1.0, -2.0], dtype=torch.float64)
    elbo = vm.ppca_elbo(x, mean, logvar, ppca)
    assert (elbo < vm.ppca_log_marginal(x, ppca)).all()
    generator = torch.Generator().manual_seed(3)
    z = mean + (0.5 * logvar).exp() * torch.randn(100_000, 3, 2, generator=generator, dtype=torch.float64)
    log_lik = torch.distributions.Normal(z @ ppca.W.T + ppca.mu, ppca.sigma2**0.5).log_prob(x).sum(-1)
    log_prior = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
    log_q = torch.distributions.Normal(mean, (0.5 * logvar).exp()).log_prob(z).sum(-1)
    samples = log_lik + log_prior - log_q
    assert ((samples.mean(0) - elbo).abs() < 4 * samples.std(0) / math.sqrt(100_000)).all()


def test_ppca_elbo_is_exact_for_a_diagonal_posterior():
    # orthogonal columns of W make p(z | x) diagonal: the best diagonal q is exact, ELBO = log p(x)
    W = torch.tensor([[2.0, 0.0], [0.0, 1.0], [0.0, 0.0]], dtype=torch.float64)
    model = vm.PPCA(W, torch.zeros(3, dtype=torch.float64), 0.5)
    x, _ = vm.sample_ppca(4, model, seed=0)
    mean, cov = vm.ppca_posterior(x, model)
    elbo = vm.ppca_elbo(x, mean, torch.diagonal(cov).log(), model)
    assert torch.allclose(elbo, vm.ppca_log_marginal(x, model))


def test_ppca_fit_recovers_the_model(ppca):
    x, _ = vm.sample_ppca(20_000, ppca, seed=5)
    fitted = vm.ppca_fit(x, 2)
    assert fitted.sigma2 == pytest.approx(ppca.sigma2, rel=0.05)
    assert torch.allclose(fitted.W @ fitted.W.T, ppca.W @ ppca.W.T, atol=0.1)
    assert torch.allclose(fitted.mu, ppca.mu, atol=0.05)


def test_ppca_fit_fixes_the_sign_of_each_column(ppca):
    x, _ = vm.sample_ppca(2_000, ppca, seed=5)
    fitted = vm.ppca_fit(x, 2)
    peaks = fitted.W.gather(0, fitted.W.abs().argmax(0, keepdim=True))
    assert (peaks > 0).all(), "an eigensolver's arbitrary sign must not reach W"
    mirrored = vm.ppca_fit(2 * x.mean(0) - x, 2)  # the same cloud reflected: the eigenvectors may come back negated
    assert torch.allclose(mirrored.W, fitted.W, atol=1e-8)


def test_ppca_validation(ppca):
    with pytest.raises(ValueError, match="W must have shape"):
        vm.PPCA(torch.zeros(3, 2, dtype=torch.float64), torch.zeros(4, dtype=torch.float64), 1.0)
    with pytest.raises(ValueError, match="sigma2"):
        vm.PPCA(torch.zeros(3, 2, dtype=torch.float64), torch.zeros(3, dtype=torch.float64), 0.0)
    with pytest.raises(ValueError, match="x must have shape"):
        vm.ppca_log_marginal(torch.zeros(2, 5, dtype=torch.float64), ppca)
    with pytest.raises(ValueError, match="m must be smaller"):
        vm.ppca_fit(torch.zeros(10, 3, dtype=torch.float64), 3)


# ---------------------------------------------------------------- SVI


def test_minibatch_elbo_scaling_and_unbiasedness():
    terms = torch.tensor([-1.0, -2.0, -3.0, -6.0], dtype=torch.float64)
    assert float(vm.minibatch_elbo(terms[:2], 4)) == pytest.approx(-6.0)
    assert float(vm.minibatch_elbo(terms, 4)) == pytest.approx(float(terms.sum()))
    # averaged over all 6 minibatches of size 2, the estimate is exactly the full sum
    pairs = [(i, j) for i in range(4) for j in range(i + 1, 4)]
    average = sum(float(vm.minibatch_elbo(terms[[i, j]], 4)) for i, j in pairs) / len(pairs)
    assert average == pytest.approx(float(terms.sum()))


def test_minibatch_elbo_validation():
    with pytest.raises(ValueError, match="between 1 and n_total"):
        vm.minibatch_elbo(torch.zeros(5, dtype=torch.float64), 4)
    with pytest.raises(ValueError, match="n_total"):
        vm.minibatch_elbo(torch.zeros(2, dtype=torch.float64), 0)
    with pytest.raises(TypeError, match="floating-point"):
        vm.minibatch_elbo(torch.zeros(2, dtype=torch.int64), 4)

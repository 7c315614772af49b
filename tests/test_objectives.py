"""Objectives against torch.distributions and closed forms."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Bernoulli, Independent, Normal, kl_divergence

from hourglass.core import objectives as O


@pytest.fixture
def g():
    return torch.Generator().manual_seed(0)


def test_bernoulli_matches_torch_distributions(g):
    x = torch.randint(0, 2, (5, 3, 4), generator=g).float()
    logits = torch.randn(5, 3, 4, generator=g) * 3
    expected = Independent(Bernoulli(logits=logits), 2).log_prob(x)
    torch.testing.assert_close(O.bernoulli_log_likelihood(x, logits), expected)


def test_bernoulli_known_value():
    # one pixel x=1 with p=sigmoid(0)=1/2: log p = log 1/2; two pixels: 2 log 1/2
    x = torch.ones(1, 2)
    assert O.bernoulli_log_likelihood(x, torch.zeros(1, 2)).item() == pytest.approx(2 * math.log(0.5))


def test_gaussian_matches_torch_distributions(g):
    x, mean = torch.randn(4, 6, generator=g), torch.randn(4, 6, generator=g)
    logvar = torch.randn(6, generator=g)
    expected = Independent(Normal(mean, torch.exp(0.5 * logvar)), 1).log_prob(x)
    torch.testing.assert_close(O.gaussian_log_likelihood(x, mean, logvar), expected)


def test_gaussian_unit_variance_is_half_squared_error(g):
    x, mean = torch.randn(3, 5, generator=g), torch.randn(3, 5, generator=g)
    ll = O.gaussian_log_likelihood(x, mean)
    torch.testing.assert_close(ll, -0.5 * ((x - mean) ** 2).sum(1) - 0.5 * 5 * math.log(2 * math.pi))


def test_kl_matches_torch_distributions(g):
    mu, logvar = torch.randn(7, 3, generator=g), torch.randn(7, 3, generator=g)
    q = Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)
    p = Independent(Normal(torch.zeros(3), torch.ones(3)), 1)
    torch.testing.assert_close(O.kl_normal_std_normal(mu, logvar), kl_divergence(q, p))


def test_kl_closed_form_values():
    assert O.kl_normal_std_normal(torch.zeros(1, 4), torch.zeros(1, 4)).item() == 0.0
    # mu = 1 in one dim, unit variance: KL = 1/2
    assert O.kl_normal_std_normal(torch.tensor([[1.0]]), torch.zeros(1, 1)).item() == pytest.approx(0.5)
    # sigma^2 = e: KL = (e - 1 - 1) / 2
    assert O.kl_normal_std_normal(torch.zeros(1, 1), torch.ones(1, 1)).item() == pytest.approx(
        (math.e - 2) / 2)


def test_log_densities_match_torch(g):
    z, mu, logvar = (torch.randn(2, 5, 3, generator=g) for _ in range(3))
    torch.testing.assert_close(O.gaussian_log_density(z, mu, logvar),
                               Normal(mu, torch.exp(0.5 * logvar)).log_prob(z).sum(-1))
    torch.testing.assert_close(O.standard_normal_log_density(z), Normal(0.0, 1.0).log_prob(z).sum(-1))


def test_reparameterize_moments(g):
    mu, logvar = torch.tensor([[2.0, -1.0]]), torch.log(torch.tensor([[0.25, 4.0]]))
    z = O.reparameterize(mu, logvar, k=200_000, generator=g)
    assert z.shape == (200_000, 1, 2)
    torch.testing.assert_close(z.mean(0), mu, atol=0.02, rtol=0)
    torch.testing.assert_close(z.std(0), torch.tensor([[0.5, 2.0]]), atol=0.02, rtol=0)


def test_elbo_and_iwae_k1_agree():
    log_px_z, kl = torch.tensor([-10.0, -3.0]), torch.tensor([2.0, 0.5])
    torch.testing.assert_close(O.elbo(log_px_z, kl), torch.tensor([-12.0, -3.5]))
    torch.testing.assert_close(O.elbo(log_px_z, kl, beta=4.0), torch.tensor([-18.0, -5.0]))
    # with one sample the IWAE bound is log w = log p(x|z) + log p(z) - log q(z|x)
    lw = O.iwae_bound(torch.tensor([[-1.0]]), torch.tensor([[-2.0]]), torch.tensor([[-0.5]]))
    assert lw.item() == pytest.approx(-2.5)


def test_iwae_is_log_mean_exp():
    log_w = torch.log(torch.tensor([[1.0], [3.0]]))  # weights 1 and 3: log of their mean = log 2
    bound = O.iwae_bound(log_w, torch.zeros_like(log_w), torch.zeros_like(log_w))
    assert bound.item() == pytest.approx(math.log(2.0))


def test_iwae_exact_for_conjugate_gaussian(g):
    """p(z)=N(0,1), p(x|z)=N(z,1) so p(x)=N(0,2); with q = the true posterior N(x/2, 1/2) every
    importance weight equals p(x), and the bound is exact for every k."""
    x = torch.tensor([0.3, -1.2, 2.0])
    mu, logvar = x / 2, torch.full_like(x, math.log(0.5))
    z = O.reparameterize(mu[:, None], logvar[:, None], k=16, generator=g)      # (16, 3, 1)
    log_px_z = Normal(z[..., 0], 1.0).log_prob(x)
    bound = O.iwae_bound(log_px_z, O.standard_normal_log_density(z),
                         O.gaussian_log_density(z, mu[:, None], logvar[:, None]))
    torch.testing.assert_close(bound, Normal(0.0, math.sqrt(2)).log_prob(x))


def test_categorical_of_labels_is_minus_the_cross_entropy(g):
    y, logits = torch.randint(0, 4, (6,), generator=g), torch.randn(6, 4, generator=g)
    torch.testing.assert_close(O.categorical_log_likelihood(y, logits),
                               -F.cross_entropy(logits, y, reduction="none"))
    assert O.categorical_log_likelihood(y[:0], logits[:0]).shape == (0,)


def test_marginal_log_likelihood_sums_the_label_out():
    # p(x|y) = 0.1, 0.3 with p(y) = 1/4, 3/4: p(x) = 0.025 + 0.225 = 0.25
    log_px_y = torch.log(torch.tensor([[0.1, 0.3]]))
    log_p_y = torch.log(torch.tensor([0.25, 0.75]))
    assert O.marginal_log_likelihood(log_px_y, log_p_y).item() == pytest.approx(math.log(0.25))
    # a uniform prior over K labels is a float, -log K
    torch.testing.assert_close(O.marginal_log_likelihood(log_px_y, -math.log(2)),
                               torch.log(torch.tensor([0.2])))


def test_bits_per_dim():
    assert O.bits_per_dim(784 * math.log(2), 784) == pytest.approx(1.0)


def test_one_sided_label_smoothing_is_the_cross_entropy_with_target_t():
    import torch.nn.functional as F
    from hourglass.core.objectives import discriminator_loss
    torch.manual_seed(0)
    real, fake = torch.randn(7, 1), torch.randn(7, 1)
    for t in (1.0, 0.9, 0.75):
        want = (F.binary_cross_entropy_with_logits(real, torch.full_like(real, t), reduction="none")
                + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake), reduction="none"))
        assert torch.allclose(discriminator_loss(real, fake, real_target=t), want.flatten(), atol=1e-6)
    # with smoothing, D's best logit on a real image is log(t / (1 - t)), not +infinity
    a = torch.linspace(-5, 8, 20001)
    best = a[discriminator_loss(a[:, None], torch.full((20001, 1), -50.0), real_target=0.9).argmin()]
    assert float(best) == pytest.approx(math.log(9), abs=1e-2)


def test_the_iwae_training_shortcuts_equal_the_plain_densities():
    from hourglass.core import objectives as O
    torch.manual_seed(0)
    x = torch.bernoulli(torch.full((4, 9), 0.3))
    logits = torch.randn(3, 4, 9)
    want = O.bernoulli_log_likelihood(x.expand(3, 4, 9).flatten(0, 1), logits.flatten(0, 1))
    assert torch.allclose(O.bernoulli_log_likelihood_k(x, logits), want.view(3, 4), atol=1e-5)
    mu, logvar, eps = torch.randn(4, 5), torch.randn(4, 5), torch.randn(3, 4, 5)
    z = mu + torch.exp(0.5 * logvar) * eps
    assert torch.allclose(O.reparameterized_log_density(eps, logvar),
                          O.gaussian_log_density(z, mu, logvar), atol=1e-5)

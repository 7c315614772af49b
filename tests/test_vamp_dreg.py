"""The VampPrior (Tomczak & Welling 2018) and the doubly reparameterized IWAE gradient (Tucker et
al. 2019): closed forms, known answers and what training keeps."""

import math

import pytest
import torch

from hourglass.core import objectives as O
from hourglass.core.errors import ConfigError
from hourglass.models import build
from hourglass.train import TrainConfig, train


def test_vamp_density_is_the_mixture_of_its_gaussians():
    g = torch.Generator().manual_seed(0)
    z, mean = torch.randn(7, 3, 4, generator=g), torch.randn(5, 4, generator=g)
    logvar = 0.5 * torch.randn(5, 4, generator=g)
    direct = torch.logsumexp(torch.stack([O.gaussian_log_density(z, mean[k], logvar[k])
                                          for k in range(5)]), 0) - math.log(5)
    torch.testing.assert_close(O.vamp_log_density(z, mean, logvar), direct, atol=1e-5, rtol=0)
    # one component at N(0, I) is the standard normal
    torch.testing.assert_close(O.vamp_log_density(z, torch.zeros(1, 4), torch.zeros(1, 4)),
                               O.standard_normal_log_density(z), atol=1e-5, rtol=0)


def _exact_posterior_case(k):
    """z ~ N(0, 1), x | z ~ N(z, 1): p(z|x) = N(x/2, 1/2). q is set to it exactly."""
    x = torch.tensor([[0.7], [-1.3]])                                  # (B, d) = (2, 1)
    mu = (x / 2).clone().requires_grad_()
    logvar = torch.full_like(x, math.log(0.5)).requires_grad_()
    eps = torch.randn(k, 2, 1, generator=torch.Generator().manual_seed(1))
    z = mu + torch.exp(0.5 * logvar) * eps                             # (k, B, d)
    log_joint = -0.5 * (z ** 2 + (x - z) ** 2 + 2 * math.log(2 * math.pi)).sum(-1)  # (k, B)
    return x, mu, logvar, eps, z, log_joint


@pytest.mark.parametrize("k", [1, 5])
def test_dreg_encoder_gradient_vanishes_at_the_exact_posterior(k):
    # with q = p(z|x) every log w_j equals log p(x): DReG's encoder gradient is exactly 0,
    # while the standard estimator's is not (its score-function term is noise)
    x, mu, logvar, eps, z, log_joint = _exact_posterior_case(k)
    log_q = O.gaussian_log_density(z, mu.detach(), logvar.detach())
    log_w = log_joint - log_q
    log_px = -0.5 * (x[:, 0] ** 2 / 2 + math.log(2 * math.pi * 2))  # x ~ N(0, 2)
    torch.testing.assert_close(log_w.detach(), log_px.expand(k, 2), atol=1e-5, rtol=0)
    O.iwae_dreg_surrogate(log_w, z).sum().backward()
    assert mu.grad.abs().max() < 1e-5 and logvar.grad.abs().max() < 1e-5

    x, mu, logvar, eps, z, log_joint = _exact_posterior_case(k)
    log_q = O.reparameterized_log_density(eps, logvar)
    (torch.logsumexp(log_joint - log_q, 0) - math.log(k)).sum().backward()
    assert logvar.grad.abs().max() > 1e-2


def test_dreg_gives_the_decoder_the_usual_iwae_gradient():
    torch.manual_seed(0)
    x = (torch.rand(8, 16) > 0.5).float()
    grads = {}
    for how in ("standard", "dreg"):
        torch.manual_seed(0)
        m = build("vae", input_shape=(16,), latent_dim=3, hidden=(8,), train_k=4,
                  iwae_gradient=how)
        torch.manual_seed(1)
        terms = m(x)
        terms["loss"].backward()
        grads[how] = ({n: p.grad.clone() for n, p in m.decoder.named_parameters()},
                      {n: p.grad.clone() for n, p in m.encoder.named_parameters()},
                      float(terms["recon"].detach()))
    for n, g in grads["standard"][0].items():
        torch.testing.assert_close(grads["dreg"][0][n], g, atol=1e-5, rtol=1e-4)
    assert grads["dreg"][2] == grads["standard"][2]  # the same samples
    # the encoder's differ (the score term is gone)
    assert any((grads["dreg"][1][n] - g).abs().max() > 1e-4 for n, g in grads["standard"][1].items())


def test_dreg_needs_several_samples():
    with pytest.raises(ConfigError, match="train_k > 1"):
        build("vae", input_shape=(16,), iwae_gradient="dreg")


def test_vamp_pseudo_inputs_start_at_training_images_once():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (40, 16), generator=g, dtype=torch.uint8)
    torch.manual_seed(0)
    m = build("vae", input_shape=(16,), latent_dim=2, hidden=(8,), prior="vamp",
              prior_components=5)
    m.init_from_data(x, torch.Generator().manual_seed(3))
    u = m.pseudo_inputs().detach()
    grey = (x.float() / 255).clamp(0.05, 0.95)
    # each pseudo-input is one of the training images, five different ones
    match = [(u[k] - grey).abs().max(1).values.argmin().item() for k in range(5)]
    assert len(set(match)) == 5
    torch.testing.assert_close(u, grey[match], atol=1e-5, rtol=0)
    train(m, x, config=TrainConfig(epochs=1, progress=False, seed=0, binarize="dynamic"))
    after = m.pseudo_inputs().detach()
    m.init_from_data(x, torch.Generator().manual_seed(4))  # a second fit keeps what was learned
    torch.testing.assert_close(m.pseudo_inputs().detach(), after)
    assert not torch.equal(after, u)  # and training moved them


def test_vamp_needs_as_many_images_as_pseudo_inputs():
    m = build("vae", input_shape=(16,), prior="vamp", prior_components=50)
    with pytest.raises(ConfigError, match="prior_components <= 10"):
        train(m, torch.rand(10, 16).round(), config=TrainConfig(epochs=1, progress=False))


def test_vamp_elbo_kl_estimate_is_log_q_minus_log_p():
    # the ELBO path's KL is estimated at the sample; with one pseudo-input whose posterior is
    # N(0, I) its expectation is the closed-form KL to N(0, I)
    torch.manual_seed(0)
    m = build("vae", input_shape=(4,), latent_dim=2, hidden=(8,), prior="vamp",
              prior_components=1)
    m.prior_params = lambda: (torch.zeros(1, 2), torch.zeros(1, 2))
    x = torch.rand(20000, 4).round()
    with torch.no_grad():
        kl_mc = m(x)["kl"]
        mu, logvar = m.posterior(x)
        kl = O.kl_normal_std_normal(mu, logvar).mean()
    assert abs(float(kl_mc - kl)) < 0.02


def test_vamp_samples_come_from_the_components():
    torch.manual_seed(0)
    m = build("vae", input_shape=(4,), latent_dim=2, hidden=(8,), prior="vamp",
              prior_components=2)
    m.prior_params = lambda: (torch.tensor([[-5.0, 0.0], [5.0, 0.0]]), torch.full((2, 2), -4.0))
    z = m.prior_sample(4000, generator=torch.Generator().manual_seed(0))
    assert abs(float((z[:, 0] > 0).float().mean()) - 0.5) < 0.03  # both components, equally
    assert float((z[:, 0].abs() - 5).abs().max()) < 1.0           # tight around their means

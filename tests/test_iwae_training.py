"""Training on the importance-weighted bound (Burda et al. 2016): the loss is exactly minus L_k."""

import pytest
import torch

from hourglass.core.errors import ConfigError
from hourglass.models import build
from hourglass.train import TrainConfig, train


def test_training_loss_is_minus_the_iwae_bound():
    torch.manual_seed(0)
    x = torch.bernoulli(torch.full((6, 1, 8, 8), 0.3))
    model = build("vae", input_shape=(1, 8, 8), latent_dim=3, hidden=(16,), train_k=7)
    torch.manual_seed(5)
    loss = model(x)["loss"]
    bound = model.log_prob(x, k=7, generator=torch.Generator().manual_seed(5))
    assert float(loss.detach()) == pytest.approx(-float(bound.mean()), rel=1e-5)


def test_k1_is_the_elbo_and_warmup_weights_the_prior_ratio():
    torch.manual_seed(0)
    x = torch.bernoulli(torch.full((5, 64), 0.4))
    m1 = build("vae", input_shape=(64,), latent_dim=2, hidden=(8,))
    mk = build("vae", input_shape=(64,), latent_dim=2, hidden=(8,), train_k=1)
    mk.load_state_dict(m1.state_dict())
    torch.manual_seed(1)
    a = m1(x)["loss"]
    torch.manual_seed(1)
    assert float(mk(x)["loss"]) == float(a)
    # beta_t = 0 (first warm-up epoch): the bound is log mean_j p(x|z_j), no prior ratio
    w = build("vae", input_shape=(64,), latent_dim=2, hidden=(8,), train_k=4, warmup_epochs=5)
    w.on_epoch_start(0)
    torch.manual_seed(2)
    terms = w(x)
    torch.manual_seed(2)
    mu, logvar = w.posterior(x)
    z = mu + torch.exp(0.5 * logvar) * torch.randn(4, *mu.shape)
    log_px = w.likelihood.log_prob(x.expand(4, *x.shape).flatten(0, 1),
                                   w.decoder(z.flatten(0, 1))).view(4, 5)
    expected = -(torch.logsumexp(log_px, 0) - torch.log(torch.tensor(4.0))).mean()
    assert float(terms["loss"]) == pytest.approx(float(expected), rel=1e-5)
    assert float(terms["kl_weight"]) == 0.0


def test_iwae_training_learns_and_keeps_a_tighter_bound():
    """A quality floor: k=5 training beats the independent-pixel baseline on binary data."""
    torch.manual_seed(0)
    p = torch.rand(64) * 0.8 + 0.1
    proto = torch.bernoulli(p.expand(4, 64))
    x = (proto[torch.randint(0, 4, (512,))] != (torch.rand(512, 64) < 0.05)).float()
    model = build("vae", input_shape=(64,), latent_dim=2, hidden=(32,), train_k=5)
    train(model, x, config=TrainConfig(epochs=30, batch_size=64, progress=False, lr=3e-3))
    m = x.mean(0).clamp(1e-3, 1 - 1e-3)
    baseline = -(x * m.log() + (1 - x) * (1 - m).log()).sum(1).mean()
    nll = -model.log_prob(x, k=100, generator=torch.Generator().manual_seed(0)).mean()
    assert float(nll) < float(baseline) - 10   # 4 prototypes + noise: far below independent pixels


def test_capacity_with_iwae_and_k_for_conditional_models_are_refused():
    with pytest.raises(ConfigError, match="capacity"):
        build("vae", input_shape=(64,), train_k=5, capacity=10.0)
    with pytest.raises(ConfigError, match="train_k"):
        build("cvae", input_shape=(64,), n_classes=3, train_k=5)

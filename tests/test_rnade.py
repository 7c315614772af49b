"""RNADE (Uria, Murray & Larochelle 2013): the mixture-of-Gaussians conditionals, an exact density
that integrates to 1, the autoregressive property, sampling, training from the command line and a
quality floor against a single diagonal Gaussian."""

import math

import numpy as np
import pytest
import torch
import torch.distributions as dist
from sklearn.datasets import make_moons

from hourglass.core import objectives as O
from hourglass.core.errors import ConfigError
from hourglass.models import build
from hourglass.models import rnade as rnade_module
from hourglass.train import TrainConfig, train


def make(shape, seed=0, scale=None, **cfg):
    """An RNADE; `scale` redraws the hidden and output weights from N(0, scale^2), so that the
    conditionals are far from the initial ones (multi-modal, means and scales that move)."""
    torch.manual_seed(seed)
    model = build("rnade", input_shape=shape, **{"hidden": (8,), "components": 3, **cfg}).eval()
    if scale is not None:
        with torch.no_grad():
            model.W.normal_(0, scale)
            model.c.normal_(0, scale)
            model.V.normal_(0, scale / 2)
    return model


def test_mixture_log_density_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(5, 4, generator=g)
    logits, mean, log_scale = (torch.randn(5, 4, 3, generator=g) for _ in range(3))
    ref = dist.MixtureSameFamily(dist.Categorical(logits=logits),
                                 dist.Normal(mean, log_scale.exp())).log_prob(x)
    assert torch.allclose(O.gaussian_mixture_log_density(x, logits, mean, log_scale), ref,
                          atol=1e-5)
    assert torch.allclose(O.gaussian_mixture_log_likelihood(x, logits, mean, log_scale),
                          ref.sum(1), atol=1e-5)


def test_one_component_is_the_gaussian_log_likelihood():
    g = torch.Generator().manual_seed(1)
    x, mean, log_scale = (torch.randn(6, 3, generator=g) for _ in range(3))
    got = O.gaussian_mixture_log_likelihood(x, torch.zeros(6, 3, 1), mean[..., None],
                                            log_scale[..., None])
    assert torch.allclose(got, O.gaussian_log_likelihood(x, mean, 2 * log_scale), atol=1e-5)


def test_density_integrates_to_one_in_1d():
    model = make((1,), scale=1.5)
    grid = torch.linspace(-150, 150, 300001, dtype=torch.float64)  # step 1e-3
    with torch.no_grad():
        p = model.log_prob(grid.float().view(-1, 1)).double().exp()
    assert float(torch.trapezoid(p, grid)) == pytest.approx(1.0, abs=1e-4)
    assert float(p.max()) > 0.6  # sharper than N(0, 1) (peak 0.40): the weights matter


def test_density_integrates_to_one_in_2d():
    model = make((2,), scale=1.5, components=2)
    t = torch.linspace(-25, 25, 1001, dtype=torch.float64)
    xx, yy = torch.meshgrid(t, t, indexing="ij")
    pts = torch.stack([xx.flatten(), yy.flatten()], 1).float()
    with torch.no_grad():
        p = model.log_prob(pts).double().exp().view(1001, 1001)
    total = torch.trapezoid(torch.trapezoid(p, t, dim=1), t)
    assert float(total) == pytest.approx(1.0, abs=1e-3)
    # x_2's conditional depends on x_1: the density is not the product of its marginals
    px = torch.trapezoid(p, t, dim=1)
    py = torch.trapezoid(p, t, dim=0)
    assert float((p - px[:, None] * py[None, :]).abs().max()) > 1e-2


@pytest.mark.parametrize("hidden", [(8,), (8, 5)], ids=["shallow", "deep"])
def test_conditional_i_never_depends_on_inputs_from_i_on(hidden):
    D = 6
    model = make((D,), hidden=hidden, scale=1.0)
    x = torch.randn(4, D, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
    params = torch.cat(model.conditionals(x), dim=-1)            # (4, D, 3K)
    u = torch.randn(params.shape[-1], generator=torch.Generator().manual_seed(1))
    dep = torch.stack([torch.autograd.grad((params[:, i] @ u).sum(), x, retain_graph=True)[0]
                       .ne(0).any(0) for i in range(D)])          # (i, j)
    future = torch.ones(D, D, dtype=torch.bool).triu()           # j >= i
    assert int((dep & future).sum()) == 0    # exactly zero gradient: nothing from x_i on
    assert bool(torch.diagonal(dep, offset=-1).all())            # it sees the value before it


def test_log_prob_is_the_sum_of_the_conditionals_computed_one_at_a_time():
    """p(x) = prod_i p(x_i | x_<i), each conditional from the paper's equations in a loop."""
    D = 5
    model = make((D,), scale=1.0)
    x = torch.randn(7, D, generator=torch.Generator().manual_seed(2))
    K = model.config.components
    total = torch.zeros(7)
    for i in range(D):
        a = model.c + x[:, :i] @ model.W[:, :i].T                 # (7, H): c + W_{:,<i} x_<i
        h = torch.relu(model.rho[i] * a)
        out = h @ model.V[i] + model.b[i]                         # (7, 3K)
        pi, mu, s = out[:, :K], out[:, K:2 * K], out[:, 2 * K:].clamp(-7, 5).exp()
        total += dist.MixtureSameFamily(dist.Categorical(logits=pi),
                                        dist.Normal(mu, s)).log_prob(x[:, i]).detach()
    with torch.no_grad():
        assert torch.allclose(model.log_prob(x), total, atol=1e-4)
        assert torch.allclose(model.conditional_log_prob(x).sum(1), total, atol=1e-4)


def test_samples_follow_the_density():
    model = make((1,), scale=1.5)
    s = model.sample(40000, generator=torch.Generator().manual_seed(3), progress=False).flatten()
    grid = torch.linspace(-150, 150, 300001, dtype=torch.float64)  # step 1e-3
    with torch.no_grad():
        p = model.log_prob(grid.float().view(-1, 1)).double().exp()
    mean = float(torch.trapezoid(p * grid, grid))
    std = math.sqrt(float(torch.trapezoid(p * (grid - mean) ** 2, grid)))
    assert float(s.mean()) == pytest.approx(mean, abs=5 * std / math.sqrt(40000))
    cdf = torch.cumulative_trapezoid(p, grid)                     # P(X <= grid[1:])
    for q in (0.1, 0.5, 0.9):                                     # quantiles agree
        x_q = float(grid[1:][int(torch.searchsorted(cdf, q))])
        assert float((s <= x_q).double().mean()) == pytest.approx(q, abs=0.01)


def moons(n, seed):
    x, _ = make_moons(n, noise=0.05, random_state=seed)
    return torch.tensor(x, dtype=torch.float32)


def test_beats_a_diagonal_gaussian_on_two_moons():
    x_train, x_test = moons(2000, 0), moons(1000, 1)
    mean, std = x_train.mean(0), x_train.std(0)
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    # the diagonal Gaussian's maximum-likelihood fit, closed form
    mu, var = x_train.mean(0), x_train.var(0, unbiased=False)
    gauss = float(O.gaussian_log_likelihood(x_test, mu, var.log()).mean())
    torch.manual_seed(0)
    model = build("rnade", input_shape=(2,), hidden=(32,), components=5)
    train(model, x_train, config=TrainConfig(epochs=40, batch_size=100, lr=1e-2, seed=0,
                                             progress=False))
    model.eval()
    with torch.no_grad():
        rnade = float(model.log_prob(x_test).mean())
    assert gauss == pytest.approx(-2.84, abs=0.05)  # log-likelihood of unit-variance 2-D data
    assert rnade > gauss + 1.0                     # nats per point, on held-out data


def test_cli_trains_rnade_on_continuous_data_without_binarizing(tmp_path, capsys):
    from hourglass import runs
    from hourglass.cli.main import main
    from hourglass.data import load
    out = tmp_path / "run"
    rc = main(["train", "rnade", "--data", "swiss-roll", "--n", "1000", "--hidden", "16",
               "--components", "3", "--epochs", "5", "--lr", "0.01", "--quiet", "--out", str(out)])
    assert rc == 0 and "nll_exact" in capsys.readouterr().out
    config, metrics = runs.read_config(out), runs.read_metrics(out)
    assert config["train"]["binarize"] == "none"
    assert config["model_config"]["input_shape"] == [3]
    model, _, _ = runs.load_model(out)
    with torch.no_grad():
        nll = float(-model.log_prob(load("swiss-roll").test.x).mean())
    assert metrics["nll_exact"] is True and metrics["nll_nats"] == pytest.approx(nll, rel=1e-5)
    # better than the standard normal that standardized data would get from a trivial model
    assert metrics["nll_nats"] < 3 * 0.5 * math.log(2 * math.pi * math.e)
    assert (out / "figures" / "samples.png").exists()
    assert main(["sample", str(out), "-n", "5", "--npy", str(tmp_path / "s.npy")]) == 0
    assert np.load(tmp_path / "s.npy").shape == (5, 3)


def test_config_errors_name_the_problem():
    with pytest.raises(ConfigError, match="'components' parameter of RNADE must be an int"):
        build("rnade", input_shape=(2,), components=0)
    with pytest.raises(ConfigError, match="'activation' parameter of RNADE"):
        build("rnade", input_shape=(2,), activation="tanh")


# The C kernel (rnade.c) for h_i = g(rho_i a_i): float32, against the PyTorch ops in float64

@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
@pytest.mark.parametrize("B,D,H,deep", [(19, 37, 23, ()), (1, 5, 3, ()), (6, 40, 9, (4,))])
def test_kernel_gives_the_log_density_and_gradients_of_the_pytorch_ops(activation, B, D, H, deep,
                                                                        monkeypatch, native_kernels):
    assert rnade_module.kernel() is not None, "a C compiler is on PATH, so rnade.c must build"
    torch.manual_seed(0)
    model = build("rnade", input_shape=(D,), hidden=(H, *deep), components=3,
                  activation=activation)
    with torch.no_grad():
        model.rho.uniform_(0.5, 1.5)
        model.c.normal_()
    x = torch.randn(B, D, generator=torch.Generator().manual_seed(1))
    calls = []
    real = rnade_module._KernelHidden.apply
    monkeypatch.setattr(rnade_module._KernelHidden, "apply", lambda *a: calls.append(1) or real(*a))
    model.zero_grad()
    fast = model.log_prob(x)
    fast.sum().backward()
    assert calls == [1]
    g_fast = {n: p.grad.clone() for n, p in model.named_parameters()}
    model64 = model.double()                                 # float64: the PyTorch ops
    model64.zero_grad()
    slow = model64.log_prob(x.double())
    slow.sum().backward()
    torch.testing.assert_close(fast.double(), slow, rtol=1e-5, atol=1e-4)
    for name, p in model64.named_parameters():
        torch.testing.assert_close(g_fast[name].double(), p.grad, rtol=1e-4, atol=1e-4, msg=name)


def test_pytorch_ops_where_the_kernel_cannot_run(monkeypatch, native_kernels):
    model = build("rnade", input_shape=(6,), hidden=(5,), components=2)
    x = torch.randn(4, 6)
    expect = model.log_prob(x)                               # the kernel
    monkeypatch.setattr(rnade_module, "kernel", lambda: None)
    torch.testing.assert_close(model.log_prob(x), expect, rtol=1e-5, atol=1e-5)
    xg = x.clone().requires_grad_()                          # x with a gradient: PyTorch ops
    model.log_prob(xg).sum().backward()
    assert xg.grad is not None and torch.isfinite(xg.grad).all()

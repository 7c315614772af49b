"""InfoGAN (Chen et al. 2016): the mutual-information bounds against closed forms, the model's
shapes, phases and loss, that its categorical code finds the digit classes unsupervised, and that
the CLI trains and evaluates it."""

import json
import math

import numpy as np
import pytest
import torch
from torch.distributions import Categorical, Normal

from hourglass.core import objectives as O
from hourglass.core.errors import ConfigError
from hourglass.data import load
from hourglass.experiments.infogan import cluster_accuracy, code_accuracy
from hourglass.models import build
from hourglass.models.protocol import capabilities
from hourglass.train import TrainConfig, train
from cli_helpers import assert_one_error_line, cli

SHAPE = (1, 8, 8)
TINY = dict(latent_dim=4, channels=(4, 8), features=8, q_hidden=8)


# ---- the bounds ------------------------------------------------------------------------------

def test_categorical_bound_is_the_entropy_for_a_certain_q_and_zero_for_a_uniform_q():
    c = torch.tensor([[0, 3], [2, 1], [4, 4]])                        # (B, n) = (3, 2), K = 5
    certain = 50.0 * torch.nn.functional.one_hot(c, 5).transpose(1, 2).float()  # (B, K, n)
    torch.testing.assert_close(O.categorical_mi_lower_bound(c, certain),
                               torch.full((3,), 2 * math.log(5)))       # H(c) = n log K
    assert torch.equal(O.categorical_mi_lower_bound(c, torch.zeros(3, 5, 2)), torch.zeros(3))
    one = O.categorical_mi_lower_bound(c[:, 0], certain[:, :, 0])      # a single code: (B,), (B, K)
    torch.testing.assert_close(one, torch.full((3,), math.log(5)))


def test_categorical_bound_is_log_q_plus_log_k_and_never_above_the_entropy():
    g = torch.Generator().manual_seed(0)
    logits = 3 * torch.randn(100, 10, generator=g)
    c = torch.randint(0, 10, (100,), generator=g)
    bound = O.categorical_mi_lower_bound(c, logits)
    torch.testing.assert_close(bound, Categorical(logits=logits).log_prob(c) + math.log(10))
    assert float(bound.max()) <= math.log(10)


def test_continuous_bound_is_the_gaussian_log_likelihood_plus_the_uniform_entropy():
    g = torch.Generator().manual_seed(1)
    c = 2 * torch.rand(50, 3, generator=g) - 1
    mean, logvar = torch.randn(50, 3, generator=g), torch.randn(50, 3, generator=g)
    expected = Normal(mean, torch.exp(0.5 * logvar)).log_prob(c).sum(1) + 3 * math.log(2)
    torch.testing.assert_close(O.uniform_gaussian_mi_lower_bound(c, mean, logvar), expected)
    # Q exact with unit std: n (log 2 - log(2 pi) / 2) per example
    torch.testing.assert_close(O.uniform_gaussian_mi_lower_bound(c, c),
                               torch.full((50,), 3 * (math.log(2) - 0.5 * math.log(2 * math.pi))))
    # U(0, 4): H = log 4 per code
    torch.testing.assert_close(O.uniform_gaussian_mi_lower_bound(c, c, low=0.0, high=4.0)
                               - O.uniform_gaussian_mi_lower_bound(c, c), torch.full((50,), 3 * math.log(2)))


# ---- the model -------------------------------------------------------------------------------

def test_shapes_of_samples_codes_and_q():
    torch.manual_seed(0)
    model = build("infogan", input_shape=SHAPE, **TINY, n_categorical=2, categorical_dim=3,
                  n_continuous=1).eval()
    assert model.code_dim == 2 * 3 + 1
    g = torch.Generator().manual_seed(0)
    c_cat, c_cont = model.sample_codes(500, generator=g)
    assert c_cat.shape == (500, 2) and c_cont.shape == (500, 1)
    assert set(c_cat.unique().tolist()) == {0, 1, 2} and -1 <= float(c_cont.min())
    assert float(c_cont.max()) <= 1 and abs(float(c_cont.mean())) < 0.1
    with torch.no_grad():
        x = model.generate(model.sample_noise(500, generator=g), c_cat, c_cont)
        logits, mean, logvar = model.q_posterior(model.body(x))
    assert x.shape == (500, *SHAPE) and 0 <= float(x.min()) and float(x.max()) <= 1
    probs, mean = model.infer_codes(x)
    assert probs.shape == (500, 2, 3) and mean.shape == (500, 1)
    torch.testing.assert_close(probs.sum(-1), torch.ones(500, 2))
    assert logits.shape == (500, 3, 2) and torch.equal(logvar, torch.zeros(500, 1))  # std 1
    assert capabilities(model) == {"sample", "phases"}


def test_learned_std_is_an_output_of_q():
    torch.manual_seed(0)
    model = build("infogan", input_shape=SHAPE, **TINY, continuous_std=None).eval()
    with torch.no_grad():
        _, mean, logvar = model.q_posterior(model.body(model.sample(7)))
    assert mean.shape == logvar.shape == (7, 2) and float(logvar.std()) > 0
    fixed = build("infogan", input_shape=SHAPE, **TINY, continuous_std=0.5).eval()
    _, _, logvar = fixed.q_posterior(fixed.body(fixed.sample(7)))
    torch.testing.assert_close(logvar, torch.full((7, 2), 2 * math.log(0.5)))


def test_loss_is_the_gan_game_minus_the_weighted_bounds():
    torch.manual_seed(0)
    model = build("infogan", input_shape=SHAPE, **TINY, lambda_categorical=0.7,
                  lambda_continuous=0.3)
    t = model(torch.rand(6, *SHAPE))
    torch.testing.assert_close(t["loss"], t["disc"] + t["gen"] - 0.7 * t["mi_cat"]
                               - 0.3 * t["mi_cont"])
    assert float(t["mi_cat"].detach()) <= math.log(10)
    only_cont = build("infogan", input_shape=SHAPE, **TINY, n_categorical=0)
    assert set(only_cont(torch.rand(6, *SHAPE))) == {"loss", "disc", "gen", "mi_cont"}


def test_phases_split_the_players_and_each_maximizes_the_bound():
    torch.manual_seed(0)
    model = build("infogan", input_shape=SHAPE, **TINY)
    disc, gen = model.phases()
    assert (disc.name, gen.name) == ("disc", "gen")
    d_ids, g_ids = {id(p) for p in disc.parameters}, {id(p) for p in gen.parameters}
    assert d_ids.isdisjoint(g_ids) and d_ids | g_ids == {id(p) for p in model.parameters()}
    assert g_ids == {id(p) for p in model.generator.parameters()}
    assert {id(p) for p in model.q_head.parameters()} <= d_ids       # Q steps with D
    x = torch.rand(6, *SHAPE)
    torch.manual_seed(1)
    t = disc.loss(x)
    torch.testing.assert_close(t["loss"], t["disc"] - t["mi_cat"] - 0.1 * t["mi_cont"])
    t = gen.loss(x)
    torch.testing.assert_close(t["loss"], t["gen"] - t["mi_cat"] - 0.1 * t["mi_cont"])


def test_sample_follows_the_generator_and_restores_the_mode():
    torch.manual_seed(0)
    model = build("infogan", input_shape=SHAPE, **TINY).train()
    a = model.sample(4, generator=torch.Generator().manual_seed(3))
    b = model.sample(4, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and model.training


def test_a_model_without_codes_is_refused_with_the_fix():
    with pytest.raises(ConfigError, match=r"InfoGAN needs at least one code: set n_categorical "
                                          r"or n_continuous .*'gan' or 'dcgan'"):
        build("infogan", input_shape=SHAPE, n_categorical=0, n_continuous=0)
    with pytest.raises(ConfigError, match=r"The 'categorical_dim' parameter of InfoGAN must be "
                                          r"an int in the range \[2, inf\)\. Got 1 instead\."):
        build("infogan", input_shape=SHAPE, categorical_dim=1)


def test_cluster_accuracy_matches_permuted_labels_and_chance():
    y = np.repeat(np.arange(10), 30)
    perm = np.random.default_rng(0).permutation(10)
    assert cluster_accuracy(perm[y], y) == 1.0
    wrong = perm[y].copy()
    wrong[:30] = perm[1]                                           # class 0 merged into class 1
    assert cluster_accuracy(wrong, y) == pytest.approx(0.9)
    chance = cluster_accuracy(np.random.default_rng(1).integers(0, 10, 300), y)
    assert 0.1 <= chance < 0.2


# ---- the codes control the samples and find the classes ---------------------------------------

@pytest.fixture(scope="module")
def digits_model():
    ds = load("digits")
    torch.manual_seed(0)
    model = build("infogan", input_shape=ds.shape, latent_dim=16, channels=(32, 64),
                  features=128, q_hidden=64)
    history = train(model, ds.to_float(ds.train.x),
                    config=TrainConfig(epochs=15, batch_size=64, seed=0, progress=False,
                                       device="cpu"))
    return ds, model.eval(), history


def test_categorical_code_clusters_the_digits_far_above_chance(digits_model):
    ds, model, history = digits_model
    assert history[-1]["train_gen_mi_cat"] > 2.0                    # near H(c) = log 10 = 2.30
    probs, _ = model.infer_codes(ds.to_float(ds.test.x))
    acc = cluster_accuracy(probs[:, 0].argmax(1).numpy(), ds.test.y.numpy())
    chance = cluster_accuracy(np.random.default_rng(0).integers(0, 10, len(ds.test.y)),
                              ds.test.y.numpy())
    assert chance < 0.2 and acc > 0.28                               # measured 0.40 (chance 0.17)


def test_q_reads_back_the_categorical_code_of_the_samples(digits_model):
    _, model, _ = digits_model
    assert code_accuracy(model, n=1000) > 0.95  # measured 0.989: Q tells the values apart


# ---- the command line --------------------------------------------------------------------------

def test_cli_trains_and_evaluates_infogan(tmp_path, capsys):
    run = tmp_path / "run"
    rc, out, err = cli(["train", "infogan", "--data", "digits", "--epochs", "1", "--out", run,
                        "--no-eval", "--quiet", "--latent-dim", "8", "--channels", "8,16",
                        "--features", "32", "--q-hidden", "16", "--n-continuous", "1"], capsys)
    assert rc == 0, err
    config = json.loads((run / "config.json").read_text())
    assert config["model"] == "infogan" and config["model_config"]["n_continuous"] == 1
    header = (run / "history.csv").read_text().splitlines()[0].split(",")
    assert {"train_disc_mi_cat", "train_gen_mi_cat", "train_gen_mi_cont"} <= set(header)
    rc, out, err = cli(["evaluate", run], capsys)
    assert rc == 0, err
    metrics = json.loads((run / "metrics.json").read_text())
    assert math.isfinite(metrics["sample_frechet_distance"]) and "nll_nats" not in metrics
    assert (run / "figures" / "samples.png").exists()
    rc, out, err = cli(["train", "infogan", "--data", "digits", "--out", tmp_path / "bad",
                        "--n-categorical", "0", "--n-continuous", "0"], capsys)
    assert_one_error_line(rc, err, "InfoGAN needs at least one code")

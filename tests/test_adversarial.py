"""Adversarial models (AAE, GAN, DCGAN), priors, and the offline sample-quality metrics."""

import math

import numpy as np
import pytest
import torch

from hourglass.core import priors
from hourglass.data import load
from hourglass.core.errors import ConfigError
from hourglass.evaluate.sample_quality import (feature_net, frechet_distance,
                                               frechet_distance_gaussians, mmd_rbf,
                                               precision_recall, sample_quality)
from hourglass.models import build
from hourglass.train import TrainConfig, train


# ---- Fréchet distance, precision/recall, MMD ---------------------------------------------------

def test_frechet_distance_closed_form_diagonal():
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    s1, s2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 1.0])
    expected = ((mu1 - mu2) ** 2).sum() + (s1 + s2 - 2 * np.sqrt(s1 * s2)).sum()
    assert frechet_distance_gaussians(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(expected)
    assert expected == pytest.approx(5 + (1 + 1 + 4))


def test_frechet_distance_general_covariances_match_scipy_sqrtm():
    from scipy.linalg import sqrtm
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5, 5)), rng.normal(size=(5, 5))
    c1, c2 = a @ a.T + np.eye(5), b @ b.T + 0.1 * np.eye(5)
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    expected = ((mu1 - mu2) ** 2).sum() + np.trace(c1 + c2 - 2 * sqrtm(c1 @ c2).real)
    assert frechet_distance_gaussians(mu1, c1, mu2, c2) == pytest.approx(expected, rel=1e-8)
    assert frechet_distance_gaussians(mu1, c1, mu1, c1) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_of_samples_approaches_the_gaussian_value():
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 1, (20000, 2)), rng.normal([3, 0], [1, 2], (20000, 2))
    # closed form: |mu|^2 = 9; tr(I + diag(1,4) - 2 diag(1,2)) = 2 + 5 - 6 = 1
    assert frechet_distance(a, b) == pytest.approx(10.0, rel=0.03)


def test_precision_recall_bounds():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(300, 4))
    assert precision_recall(real, real) == (1.0, 1.0)
    far = real + 100.0
    assert precision_recall(real, far) == (0.0, 0.0)
    # a generator that covers one half of the data: precise, but recall about one half
    half = real[real[:, 0] > 0]
    p, r = precision_recall(real, half)
    assert p == 1.0 and 0.3 < r < 0.75


def test_mmd_is_near_zero_for_equal_distributions_and_large_otherwise():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(500, 2)), rng.normal(size=(500, 2))
    assert abs(mmd_rbf(a, b)) < 0.01
    assert mmd_rbf(a, b + 3.0) > 0.5


def test_held_out_data_scores_far_better_than_noise_and_shuffled_pixels(tmp_path):
    ds = load("digits")
    net, info = feature_net(ds, epochs=8, cache_dir=tmp_path)
    assert info["test_accuracy"] > 0.9
    # cached: a second call loads the same weights
    net2, info2 = feature_net(ds, epochs=8, cache_dir=tmp_path)
    assert info2 == info and all(torch.equal(a, b) for a, b in
                                 zip(net.state_dict().values(), net2.state_dict().values()))
    g = torch.Generator().manual_seed(0)
    held = ds.val.x
    noise = torch.rand(held.shape, generator=g)
    shuffled = held.flatten(1)[:, torch.randperm(64, generator=g)].view_as(held)
    fd = {name: sample_quality(s, ds, net=net)["frechet_distance"]
          for name, s in [("held", held), ("noise", noise), ("shuffled", shuffled)]}
    assert fd["held"] < 0.1 * fd["noise"] and fd["held"] < 0.1 * fd["shuffled"]


# ---- priors ------------------------------------------------------------------------------------

def test_mixture_components_follow_the_labels():
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(10).repeat_interleave(2000)
    z = priors.mixture(len(labels), 2, generator=g, labels=labels)
    for c in range(10):
        mean = z[labels == c].mean(0)
        expected = torch.tensor([4 * math.cos(2 * math.pi * c / 10), 4 * math.sin(2 * math.pi * c / 10)])
        torch.testing.assert_close(mean, expected, atol=0.05, rtol=0)
    assert float(z[labels == 0, 0].std()) == pytest.approx(0.5, abs=0.03)


def test_priors_shapes_ranges_and_unknown_labels():
    g = torch.Generator().manual_seed(0)
    u = priors.uniform(5000, 3, generator=g)
    assert u.shape == (5000, 3) and float(u.min()) >= -2 and float(u.max()) <= 2
    s = priors.swiss_roll(2000, 2, generator=g, labels=torch.full((2000,), 3))
    r = s.norm(dim=1)  # class 3 is the 4th stretch of the roll: radius within its band
    lo, hi = (3 * math.pi * 0.3 + math.pi / 2) / (3.5 * math.pi) * 3, (3 * math.pi * 0.4 + math.pi / 2) / (3.5 * math.pi) * 3
    assert float(r.min()) > lo - 0.3 and float(r.max()) < hi + 0.3
    m = priors.mixture(4000, 2, generator=g, labels=torch.full((4000,), -1))  # unknown: any component
    angles = torch.atan2(m[:, 1], m[:, 0])
    assert len(torch.unique(torch.round((angles % (2 * math.pi)) / (2 * math.pi / 10)) % 10)) == 10
    with pytest.raises(ConfigError, match="Unknown prior 'cauchy'. Valid priors: gaussian"):
        priors.get_prior("cauchy")


# ---- AAE -----------------------------------------------------------------------------------

def digits_float():
    ds = load("digits")
    return ds


def fit(model, x, y=None, epochs=30, **kw):
    train(model, x, y=y, config=TrainConfig(epochs=epochs, batch_size=64, progress=False, **kw))
    return model.eval()


def test_aae_matches_its_codes_to_the_gaussian_prior():
    ds = digits_float()
    torch.manual_seed(0)
    aae = fit(build("aae", input_shape=ds.shape, latent_dim=2, hidden=(128,)), ds.train.x)
    torch.manual_seed(0)
    ae = fit(build("ae", input_shape=ds.shape, latent_dim=2, hidden=(128,)), ds.train.x)
    with torch.no_grad():
        z_aae, z_ae = aae.encode(ds.test.x), ae.encode(ds.test.x)
    prior = torch.randn(len(z_aae), 2, generator=torch.Generator().manual_seed(1))
    mmd_aae, mmd_ae = mmd_rbf(z_aae, prior), mmd_rbf(z_ae, prior)
    assert mmd_aae < 0.05 and mmd_aae < 0.1 * mmd_ae
    assert z_aae.mean(0).abs().max() < 0.5 and 0.5 < float(z_aae.std(0).mean()) < 1.5


def test_label_conditioned_prior_puts_each_class_on_its_component():
    ds = digits_float()
    torch.manual_seed(0)
    aae = fit(build("aae", input_shape=ds.shape, latent_dim=2, hidden=(128,), prior="mixture",
                    mode="conditional-prior"), ds.train.x, ds.train.y, epochs=40)
    with torch.no_grad():
        z = aae.encode(ds.test.x)
    angles = torch.tensor([2 * math.pi * c / 10 for c in range(10)])
    means = 4 * torch.stack([torch.cos(angles), torch.sin(angles)], 1)
    nearest = torch.cdist(z, means).argmin(1)
    # a 2-D code of 8x8 digits separates the classes only partly (k-NN ~0.6): 3x chance here
    assert float((nearest == ds.test.y).float().mean()) > 0.25


def test_semi_supervised_aae_learns_from_few_labels():
    from hourglass.data.semisupervised import keep_labels, repeat_labelled
    ds = digits_float()
    y = keep_labels(ds.train.y, 100, seed=0)  # 10 labels per class, the rest -1
    x, y = repeat_labelled(ds.train.x, y, 0.25)  # so that every batch holds some labels
    torch.manual_seed(0)
    aae = fit(build("aae", input_shape=ds.shape, latent_dim=4, hidden=(128,),
                    mode="semi-supervised"), x, y, epochs=40)
    with torch.no_grad():
        acc = float((aae.predict_proba(ds.test.x).argmax(1) == ds.test.y).float().mean())
    assert acc > 0.5  # 100 labels; chance is 0.1


def test_supervised_aae_decodes_the_requested_class():
    ds = digits_float()
    torch.manual_seed(0)
    aae = fit(build("aae", input_shape=ds.shape, latent_dim=2, hidden=(128,), mode="supervised"),
              ds.train.x, ds.train.y, epochs=40)
    net, _ = feature_net(ds, epochs=8, cache_dir=None)
    y = torch.arange(10).repeat(20)
    x = aae.sample(200, generator=torch.Generator().manual_seed(0), y=y)
    with torch.no_grad():
        pred = net.head(net.features(x)).argmax(1)
    assert float((pred == y).float().mean()) > 0.6  # chance: 0.1


def test_aae_custom_prior_sampler_and_its_shape_check():
    aae = build("aae", input_shape=(1, 8, 8), latent_dim=2, hidden=(8,))
    aae.prior_sampler = lambda n: torch.full((n, 2), 7.0)
    assert torch.equal(aae.sample_prior(3), torch.full((3, 2), 7.0))
    aae.prior_sampler = lambda n: torch.zeros(n, 3)
    with pytest.raises(ConfigError, match=r"returned shape \(3, 3\); expected \(3, 2\)"):
        aae.sample_prior(3)


def test_aae_phases_update_only_their_parameters():
    torch.manual_seed(0)
    aae = build("aae", input_shape=(1, 8, 8), latent_dim=2, hidden=(8,), disc_hidden=(8,))
    phases = {p.name: p for p in aae.phases()}
    assert list(phases) == ["recon", "disc", "gen"]
    ids = lambda ps: {id(p) for p in ps}  # noqa: E731
    assert ids(phases["disc"].parameters) == ids(aae.disc.parameters())
    assert ids(phases["gen"].parameters) == ids(aae.encoder.parameters())
    assert not ids(phases["recon"].parameters) & ids(aae.disc.parameters())


# ---- GAN / DCGAN -------------------------------------------------------------------------------

def test_gan_learns_a_point_mass():
    """Data all equal to 0.8: the generator's samples must move there."""
    x = torch.full((512, 4), 0.8)
    torch.manual_seed(0)
    gan = build("gan", input_shape=(4,), latent_dim=2, hidden=(32,), batch_norm=False)
    before = float(gan.sample(256, generator=torch.Generator().manual_seed(0)).mean())
    train(gan, x, config=TrainConfig(epochs=100, batch_size=64, progress=False, lr=2e-3))
    s = gan.sample(256, generator=torch.Generator().manual_seed(0))
    assert abs(before - 0.8) > 0.3 and float((s - 0.8).abs().mean()) < 0.08


def test_dcgan_defaults_and_phase_optimizers():
    dc = build("dcgan", input_shape=(1, 8, 8), latent_dim=4, channels=(4, 8))
    assert dc.config.arch == "conv"
    phases = dc.phases()
    assert [p.name for p in phases] == ["disc", "gen"]
    assert phases[0].optimizer == {"name": "adam", "lr": 2e-4, "betas": (0.5, 0.999)}
    with pytest.raises(ConfigError, match=r"arch='conv' \(DCGAN\) needs image input"):
        build("dcgan", input_shape=(64,))
    # Radford et al. (2016): batch norm in D on every layer but the one that reads the image
    kinds = [type(m).__name__ for m in dc.discriminator]
    assert kinds == ["Conv2d", "LeakyReLU", "Conv2d", "BatchNorm2d", "LeakyReLU", "Flatten",
                     "Linear"]
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in
                   build("gan", input_shape=(64,), hidden=(16, 8)).discriminator)


def test_discriminator_dropout_sits_after_each_hidden_activation_and_only_in_training():
    """Goodfellow et al. (2014) trained D with dropout: one Dropout after each LeakyReLU, none by
    default; in training mode it zeroes units (D's outputs on a batch vary between calls), in
    eval mode D is deterministic."""
    gan = build("gan", input_shape=(64,), hidden=(16, 8), d_dropout=0.5)
    kinds = [type(m).__name__ for m in gan.discriminator]
    assert kinds == ["Flatten", "Linear", "LeakyReLU", "Dropout", "Linear", "LeakyReLU",
                     "Dropout", "Linear"]
    assert [m.p for m in gan.discriminator if isinstance(m, torch.nn.Dropout)] == [0.5, 0.5]
    assert not any(isinstance(m, torch.nn.Dropout) for m in
                   build("gan", input_shape=(64,), hidden=(16, 8)).discriminator)
    x = torch.rand(32, 64)
    torch.manual_seed(0)
    gan.train()
    assert not torch.equal(gan.discriminator(x), gan.discriminator(x))
    gan.eval()
    assert torch.equal(gan.discriminator(x), gan.discriminator(x))
    with pytest.raises(ConfigError, match=r"d_dropout.*\[0, 1\)"):
        build("gan", input_shape=(64,), d_dropout=1.0)


def test_phase_lr_is_a_default_that_the_run_lr_overrides():
    from hourglass.train.optim import phase_optimizer as _phase_optimizer
    dc = build("dcgan", input_shape=(1, 8, 8), latent_dim=4, channels=(4,))
    p = dc.phases()[0]
    assert _phase_optimizer(p, TrainConfig()).param_groups[0]["lr"] == 2e-4
    opt = _phase_optimizer(p, TrainConfig(lr=1e-3))
    assert opt.param_groups[0]["lr"] == 1e-3 and opt.param_groups[0]["betas"] == (0.5, 0.999)


# ---- estimators ------------------------------------------------------------------------------

def test_aae_estimator_round_trip_and_semi_supervised_classifier(tmp_path):
    from hourglass import AAE
    ds = load("digits")
    aae = AAE(latent_dim=2, hidden=(32,), epochs=2, random_state=0).fit(ds.train.x)
    back = AAE.load(aae.save(tmp_path / "aae"))
    np.testing.assert_array_equal(back.transform(ds.test.x), aae.transform(ds.test.x))
    np.testing.assert_array_equal(back.sample(3, random_state=0), aae.sample(3, random_state=0))
    y = np.where(np.arange(len(ds.train.y)) < 300, ds.train.y.numpy(), -1)
    semi = AAE(latent_dim=4, hidden=(32,), mode="semi-supervised", epochs=2,
               random_state=0).fit(ds.train.x, y)
    proba = semi.predict_proba(ds.test.x)
    assert proba.shape == (len(ds.test), 10)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(semi.predict(ds.test.x), proba.argmax(1))
    with pytest.raises(ConfigError, match="learns from labels: call fit\\(X, y\\) with y = -1"):
        AAE(mode="semi-supervised", epochs=1, hidden=(8,)).fit(ds.train.x)
    assert not hasattr(aae, "predict_proba")
    with pytest.raises(AttributeError, match="has no attribute 'predict'") as err:
        aae.predict(ds.test.x)
    assert "need AAE(mode='semi-supervised')" in str(err.value.__cause__)


def test_supervised_aae_estimator_samples_the_asked_class_layout():
    from hourglass import AAE
    ds = load("digits")
    sup = AAE(latent_dim=2, hidden=(32,), mode="supervised", epochs=1, random_state=0)
    with pytest.raises(ConfigError, match="needs every label"):
        sup.fit(ds.train.x, np.full(len(ds.train), -1))
    sup.fit(ds.train.x, ds.train.y.numpy())
    assert sup.sample(5, y=3).shape == (5, 1, 8, 8)


def test_gan_estimator_samples_and_says_what_it_lacks(tmp_path):
    from sklearn.base import clone
    from hourglass import GAN
    ds = load("digits")
    gan = GAN(latent_dim=4, hidden=(32,), epochs=2, random_state=0).fit(ds.train.x.flatten(1))
    s = gan.sample(6, random_state=0)
    assert s.shape == (6, 64) and 0 <= s.min() and s.max() <= 1
    assert not hasattr(gan, "transform") and not hasattr(gan, "score_samples")
    with pytest.raises(AttributeError, match="A GAN has no transform: it maps noise to data"):
        gan.transform(ds.test.x.flatten(1))
    back = GAN.load(gan.save(tmp_path / "gan"))
    np.testing.assert_array_equal(back.sample(6, random_state=0), s)
    assert clone(gan).get_params() == gan.get_params()


def test_aae_passes_the_sklearn_estimator_checks():
    from sklearn.utils.estimator_checks import check_estimator
    from hourglass import AAE
    results = check_estimator(AAE(latent_dim=2, hidden=(8,), disc_hidden=(8,), epochs=2,
                                  batch_size=64, random_state=0), on_fail=None)
    failed = [r["check_name"] for r in results if r["status"] == "failed"]
    assert failed == []

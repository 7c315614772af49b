"""Tests of hourglass.estimators.autoencoders: the scikit-learn contract of AE and VAE, their numbers
(likelihoods against hand-computed values, the IWAE bound's monotonicity), input handling,
determinism, save/load and early stopping."""

from __future__ import annotations

import inspect
import math
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler
from sklearn.utils import check_random_state
from sklearn.utils.estimator_checks import parametrize_with_checks

from hourglass import AE, VAE, ConfigError
from hourglass.train.optim import OPTIMIZERS

TINY = dict(hidden=(16,), latent_dim=2, batch_size=64, random_state=0)


@pytest.fixture(scope="module")
def X():
    """300 sklearn digits scaled to [0, 1], (300, 64) float64."""
    return load_digits().data[:300] / 16.0


@pytest.fixture(scope="module")
def vae(X):
    return VAE(epochs=3, n_importance=8, **TINY).fit(X)


@pytest.fixture(scope="module")
def ae(X):
    return AE(epochs=3, **TINY).fit(X)


def without_time(history):
    return [{k: v for k, v in row.items() if k != "time_s"} for row in history]


# --------------------------------------------------------------------------------------------
# scikit-learn's shared estimator suite

_MC_REASON = ("score_samples is a Monte-Carlo importance-weighted bound: the noise each row gets "
              "depends on its position in the batch, so reordering or subsetting the rows changes "
              "each row's estimate")


def _expected_failed_checks(estimator):
    if isinstance(estimator, VAE):
        return {"check_methods_sample_order_invariance": _MC_REASON,
                "check_methods_subset_invariance": _MC_REASON}
    return {}


_strict = ({"xfail_strict": True}
           if "xfail_strict" in inspect.signature(parametrize_with_checks).parameters else {})


@parametrize_with_checks(
    [VAE(hidden=(8,), latent_dim=2, epochs=2, batch_size=64, n_importance=4, random_state=0),
     AE(hidden=(8,), latent_dim=2, epochs=2, batch_size=64, random_state=0)],
    expected_failed_checks=_expected_failed_checks, **_strict)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# --------------------------------------------------------------------------------------------
# parameters: clone, get/set_params, Pipeline, GridSearchCV


@pytest.mark.parametrize("cls", [AE, VAE])
def test_clone_keeps_params_and_get_set_params_round_trip(cls):
    est = cls(latent_dim=3, hidden=(7, 5), epochs=4, optimizer="rmsprop", lr=0.01,
              random_state=42)
    params = est.get_params()
    assert params["latent_dim"] == 3 and params["hidden"] == (7, 5)
    assert params["optimizer"] == "rmsprop" and params["random_state"] == 42
    twin = clone(est)
    assert twin is not est and twin.get_params() == params
    other = cls().set_params(**params)
    assert other.get_params() == params
    assert other.set_params(latent_dim=5) is other and other.latent_dim == 5


def test_vae_get_params_lists_its_own_parameters():
    params = VAE().get_params()
    assert params["beta"] == 1.0 and params["n_importance"] == 200
    assert "beta" not in AE().get_params()


def test_pipeline_with_minmax_scaler(X):
    # digits/16 rescaled by a MinMaxScaler fitted on the same data: still in [0, 1]
    pipe = Pipeline([("scale", MinMaxScaler()), ("vae", VAE(epochs=2, n_importance=4, **TINY))])
    Z = pipe.fit(X).transform(X)
    assert Z.shape == (300, 2) and Z.dtype == np.float64
    assert pipe.named_steps["vae"].model_config_["likelihood"] == "bernoulli"
    np.testing.assert_allclose(pipe.score(X), pipe.named_steps["vae"].score(
        pipe.named_steps["scale"].transform(X)))


def test_grid_search_over_latent_dim(X):
    search = GridSearchCV(VAE(epochs=2, n_importance=4, **{**TINY, "latent_dim": 1}),
                          {"latent_dim": [1, 2]}, cv=2)
    search.fit(X[:200])
    assert search.best_params_["latent_dim"] in (1, 2)
    scores = search.cv_results_["mean_test_score"]
    assert scores.shape == (2,) and np.isfinite(scores).all()
    assert search.best_params_["latent_dim"] == [1, 2][int(np.argmax(scores))]
    assert search.best_estimator_.transform(X[:5]).shape == (5, search.best_params_["latent_dim"])


# --------------------------------------------------------------------------------------------
# fit / transform / inverse_transform, vectors and images


@pytest.mark.parametrize("cls", [AE, VAE])
def test_fit_returns_self_and_shapes(cls, X):
    est = cls(epochs=1, **TINY)
    assert est.fit(X) is est
    Z = est.transform(X)
    assert Z.shape == (300, 2) and Z.dtype == np.float64
    X_hat = est.inverse_transform(Z)
    assert X_hat.shape == X.shape and X_hat.dtype == np.float64
    # a Bernoulli decoder's mean is a probability
    assert X_hat.min() >= 0 and X_hat.max() <= 1
    assert est.n_features_in_ == 64 and est.input_shape_ == (64,)


def test_inverse_transform_rejects_codes_of_the_wrong_width(vae):
    with pytest.raises(ConfigError, match=re.escape("Codes must have shape (n_samples, 2); "
                                                    "got (3, 5).")):
        vae.inverse_transform(np.zeros((3, 5)))


def test_images_nchw_come_back_as_images(X):
    imgs = X.reshape(-1, 1, 8, 8)
    est = VAE(epochs=1, **TINY).fit(imgs)
    assert est.input_shape_ == (1, 8, 8) and est.n_features_in_ == 64
    out = est.inverse_transform(est.transform(imgs))
    assert out.shape == (300, 1, 8, 8)
    # same weights and same pixels: the image layout does not change the codes
    vec = VAE(epochs=1, **TINY).fit(X)
    np.testing.assert_array_equal(est.transform(imgs), vec.transform(X))


def test_grey_images_nhw_come_back_as_nhw(X):
    est = AE(epochs=1, **TINY).fit(X.reshape(-1, 8, 8))
    assert est.input_shape_ == (1, 8, 8)
    assert est.inverse_transform(np.zeros((4, 2))).shape == (4, 8, 8)
    assert est.sample(3, random_state=0).shape == (3, 8, 8)


def test_uint8_torch_tensor_is_read_as_pixels_over_255(X):
    """Fitting on uint8 pixels u and on the floats u / 255 is the same fit."""
    u = np.round(X * 255).astype(np.uint8).reshape(-1, 1, 8, 8)
    from_uint8 = VAE(epochs=2, **TINY).fit(torch.from_numpy(u))
    from_float = VAE(epochs=2, **TINY).fit(u.astype(np.float32) / 255)
    assert from_uint8.inverse_transform(np.zeros((5, 2))).shape == (5, 1, 8, 8)
    np.testing.assert_allclose(from_uint8.transform(torch.from_numpy(u)),
                               from_float.transform(u.astype(np.float32) / 255), rtol=1e-6)
    assert [r["train_loss"] for r in from_uint8.history_] == pytest.approx(
        [r["train_loss"] for r in from_float.history_], rel=1e-6)


def test_conv_on_images(X):
    est = AE(arch="conv", channels=(4, 8), epochs=1, **TINY).fit(X.reshape(-1, 1, 8, 8))
    assert est.transform(X.reshape(-1, 1, 8, 8)).shape == (300, 2)
    assert est.inverse_transform(np.zeros((3, 2))).shape == (3, 1, 8, 8)


def test_conv_infers_a_square_image_from_64_features(X):
    est = VAE(arch="conv", channels=(4, 8), epochs=1, **TINY).fit(X)
    assert est.input_shape_ == (1, 8, 8)
    assert est.model_config_["input_shape"] == (1, 8, 8)
    # fitted on vectors, so the output is vectors
    assert est.inverse_transform(est.transform(X[:6])).shape == (6, 64)


def test_conv_on_non_square_features_names_image_shape(X):
    with pytest.raises(ConfigError, match=re.escape(
            "arch='conv' needs images: pass X of shape (n, C, H, W) or set image_shape; "
            "10 features is not a square image.")):
        VAE(arch="conv", epochs=1, **TINY).fit(X[:, :10])


def test_image_shape_parameter(X):
    est = AE(image_shape=(8, 8), arch="conv", channels=(4,), epochs=1, **TINY).fit(X)
    assert est.input_shape_ == (1, 8, 8)
    with pytest.raises(ConfigError, match=re.escape(
            "image_shape=(3, 3) holds 9 values but X has 64 features per sample.")):
        AE(image_shape=(3, 3), epochs=1, **TINY).fit(X)


def test_likelihood_auto_picks_gaussian_outside_unit_interval(X):
    est = AE(epochs=1, **TINY).fit(X * 4 - 2)
    assert est.model_config_["likelihood"] == "gaussian"
    assert AE(epochs=1, **TINY).fit(X).model_config_["likelihood"] == "bernoulli"


# --------------------------------------------------------------------------------------------
# determinism


@pytest.mark.parametrize("cls", [AE, VAE])
def test_same_random_state_same_numbers(cls, X):
    a = cls(epochs=2, **TINY).fit(X)
    b = cls(epochs=2, **TINY).fit(X)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    assert without_time(a.history_) == without_time(b.history_)
    np.testing.assert_array_equal(a.score_samples(X[:20]), b.score_samples(X[:20]))
    np.testing.assert_array_equal(a.sample(4, random_state=1), b.sample(4, random_state=1))
    c = cls(epochs=2, **{**TINY, "random_state": 1}).fit(X)
    assert not np.allclose(a.transform(X), c.transform(X))
    assert without_time(a.history_) != without_time(c.history_)


# --------------------------------------------------------------------------------------------
# score_samples against known answers


def test_vae_iwae_bound_grows_with_k(X):
    """Burda et al.: E[L_k] is non-decreasing in k, so L_50 >= L_1 (the ELBO) on average."""
    est = VAE(epochs=5, lr=1e-2, n_importance=50, **{**TINY, "batch_size": 32}).fit(X)
    l50 = est.score_samples(X)
    l1 = est.set_params(n_importance=1).score_samples(X)
    assert np.isfinite(l50).all() and np.isfinite(l1).all()
    assert l50.mean() >= l1.mean() - 1e-3
    # score is the mean of score_samples
    assert est.score(X) == pytest.approx(l1.mean(), rel=1e-12)


def test_ae_score_samples_is_minus_bce_of_the_reconstruction(ae, X):
    x_hat = torch.from_numpy(ae.inverse_transform(ae.transform(X)))
    bce = F.binary_cross_entropy(x_hat, torch.from_numpy(X), reduction="none").sum(1).numpy()
    np.testing.assert_allclose(ae.score_samples(X), -bce, rtol=1e-4)


def test_ae_gaussian_score_samples_closed_form(X):
    """Fixed sigma: log N(x; x_hat, s^2 I) = -1/2 sum(log 2 pi + 2 log s + (x - x_hat)^2 / s^2)."""
    Xg, s = X * 2 - 0.5, 0.5
    est = AE(likelihood="gaussian", sigma=s, epochs=2, **TINY).fit(Xg)
    x_hat = est.inverse_transform(est.transform(Xg))
    expected = -0.5 * (np.log(2 * np.pi) + 2 * np.log(s) + (Xg - x_hat) ** 2 / s ** 2).sum(1)
    np.testing.assert_allclose(est.score_samples(Xg), expected, rtol=1e-5)


# --------------------------------------------------------------------------------------------
# save / load


@pytest.mark.parametrize("name", ["ae", "vae"])
def test_save_load_round_trip(name, ae, vae, X, tmp_path):
    est = {"ae": ae, "vae": vae}[name]
    path = est.save(tmp_path / "est")
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "model.safetensors"]
    back = type(est).load(path)
    assert back.get_params() == est.get_params()
    np.testing.assert_array_equal(back.transform(X), est.transform(X))
    Z = est.transform(X[:10])
    np.testing.assert_array_equal(back.inverse_transform(Z), est.inverse_transform(Z))
    np.testing.assert_array_equal(back.sample(6, random_state=0), est.sample(6, random_state=0))
    np.testing.assert_array_equal(back.score_samples(X[:50]), est.score_samples(X[:50]))
    assert without_time(back.history_) == without_time(est.history_)


def test_save_load_keeps_the_image_layout(X, tmp_path):
    est = AE(epochs=1, **TINY).fit(X.reshape(-1, 1, 8, 8))
    back = AE.load(est.save(tmp_path / "img"))
    assert back.input_shape_ == (1, 8, 8)
    assert back.inverse_transform(np.zeros((2, 2))).shape == (2, 1, 8, 8)


def test_save_with_a_random_state_instance(X, tmp_path):
    est = AE(epochs=1, **{**TINY, "random_state": np.random.RandomState(0)}).fit(X)
    back = AE.load(est.save(tmp_path / "rs"))
    np.testing.assert_array_equal(back.transform(X), est.transform(X))


def test_loading_a_vae_as_an_ae_is_refused(vae, tmp_path):
    path = vae.save(tmp_path / "v")
    with pytest.raises(ConfigError, match=r"holds VAE, not an AE estimator"):
        AE.load(path)


# --------------------------------------------------------------------------------------------
# parameter validation


def test_latent_dim_zero_message(X):
    with pytest.raises(ConfigError, match=r"The 'latent_dim' parameter of VAE must be an int in "
                                          r"the range \[1, inf\). Got 0 instead."):
        VAE(latent_dim=0).fit(X)


def test_unknown_optimizer_lists_the_valid_ones(X):
    valid = "{" + ", ".join(repr(k) for k in OPTIMIZERS) + "}"
    with pytest.raises(ConfigError, match=re.escape(
            f"The 'optimizer' parameter of AE must be a str among {valid}. Got 'adamm' instead.")):
        AE(optimizer="adamm").fit(X)


def test_bernoulli_needs_data_in_unit_interval(X):
    with pytest.raises(ConfigError, match=r"likelihood='bernoulli' needs data in \[0, 1\]; this X "
                                          r"has values in \[-0\.5, 1\.5\].*likelihood='gaussian'"):
        VAE(likelihood="bernoulli", epochs=1, **TINY).fit(X * 2 - 0.5)


def test_patience_needs_a_validation_fraction(X):
    with pytest.raises(ConfigError, match=re.escape(
            "patience (early stopping) needs validation_fraction > 0.")):
        AE(patience=2, epochs=1, **TINY).fit(X)


def test_validation_fraction_leaving_no_rows(X):
    with pytest.raises(ConfigError, match=re.escape(
            "validation_fraction=0.1 leaves no training or no validation rows for 3 samples.")):
        AE(validation_fraction=0.1, epochs=1, **TINY).fit(X[:3])


# --------------------------------------------------------------------------------------------
# bad input


def _with(X, value):
    X = X.copy()
    X[3, 5] = value
    return X


@pytest.mark.parametrize("make, match", [
    (lambda X: _with(X, np.nan), "Input X contains NaN"),
    (lambda X: _with(X, np.inf), "Input X contains infinity"),
    (lambda X: X[:0], re.escape("Found array with 0 sample(s) (shape=(0, 64)) while a minimum "
                                "of 1 is required by VAE.")),
    (lambda X: X[0], "Expected 2D array, got 1D array instead"),
], ids=["nan", "inf", "empty", "1d"])
def test_fit_rejects_bad_input(make, match, X):
    with pytest.raises(ValueError, match=match):
        VAE(epochs=1, **TINY).fit(make(X))


def test_transform_with_the_wrong_number_of_features(vae, X):
    with pytest.raises(ValueError, match=re.escape("X has 3 features, but VAE is expecting 64 "
                                                   "features as input.")):
        vae.transform(X[:, :3])
    with pytest.raises(ValueError, match="Input X contains NaN"):
        vae.score_samples(_with(X, np.nan))


# --------------------------------------------------------------------------------------------
# early stopping


def test_early_stopping_restores_the_best_epoch(X):
    patience = 2
    est = AE(epochs=200, lr=0.05, validation_fraction=0.2, patience=patience, **TINY).fit(X)
    val = [row["val_loss"] for row in est.history_]
    assert len(val) < 200
    best = int(np.argmin(val))
    # stopped exactly `patience` epochs after the best one
    assert len(val) == best + 1 + patience
    assert min(val[best + 1:]) >= val[best]
    # the weights kept are the best epoch's: recompute its validation loss from the same split
    seed = int(check_random_state(0).randint(0, 2 ** 31 - 1))
    perm = torch.randperm(len(X), generator=torch.Generator().manual_seed(seed)).numpy()
    x_val = X[perm[:round(0.2 * len(X))]]
    assert -est.score_samples(x_val).mean() == pytest.approx(val[best], rel=1e-5)
    assert -est.score_samples(x_val).mean() != pytest.approx(val[-1], rel=1e-5)


# --------------------------------------------------------------------------------------------
# optimizers

LR = {"sgd": 0.1, "momentum": 0.05, "nesterov": 0.05, "adagrad": 0.05, "adadelta": None,
      "rmsprop": 1e-2, "adam": 1e-2, "adamw": 1e-2}


def test_the_eight_optimizers_are_registered():
    assert list(OPTIMIZERS) == ["sgd", "momentum", "nesterov", "adagrad", "adadelta", "rmsprop",
                                "adam", "adamw"]


@pytest.mark.parametrize("optimizer", list(LR))
def test_every_optimizer_reduces_the_training_loss(optimizer, X):
    est = AE(epochs=5, optimizer=optimizer, lr=LR[optimizer], **{**TINY, "batch_size": 32}).fit(X)
    losses = [row["train_loss"] for row in est.history_]
    assert len(losses) == 5 and all(math.isfinite(v) for v in losses)
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("cls", [AE, VAE])
def test_fit_leaves_the_callers_global_rng_untouched(cls, X):
    torch.manual_seed(123)
    before = torch.get_rng_state()
    expected = torch.rand(3)
    torch.set_rng_state(before)
    est = cls(epochs=1, **TINY).fit(X[:64])
    assert torch.equal(torch.get_rng_state(), before)
    assert torch.equal(torch.rand(3), expected)
    # and the fit itself is still a function of random_state alone
    torch.manual_seed(999)
    again = cls(epochs=1, **TINY).fit(X[:64])
    np.testing.assert_array_equal(est.transform(X[:5]), again.transform(X[:5]))

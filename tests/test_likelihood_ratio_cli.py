"""Tests of the likelihood ratio of Ren et al. (2019) in the outlier benchmark: a known answer
where the raw likelihood fails, the benchmark's rows against :class:`LikelihoodRatio`, and the
``hourglass detect --likelihood-ratio`` flag and its errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_helpers import assert_one_error_line, cli
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits

from hourglass.core.errors import ConfigError
from hourglass.data import load
from hourglass.experiments.detect import (
    _flat,
    fit_and_score,
    make_estimator,
    ratio_label,
    run_detect,
)
from hourglass.uses.detect import LikelihoodRatio, auroc, estimator_scores, perturb

OPTS = {"latent_dim": 2, "epochs": 1, "hidden": (16,), "batch_size": 64, "k": 4, "seed": 0,
        "device": "cpu"}


@pytest.fixture(autouse=True)
def one_thread():
    with threadpool_limits(1):
        yield


def background_dominated(n, n_background, inlier, rng):
    """Two 'semantic' values (u, u + 0.05 noise) for inliers, (u, u + 0.2) for outliers, then
    `n_background` values: uniform on [0, 1] for inliers, all at the mode 0.5 for outliers."""
    u = rng.uniform(0.2, 0.8, n)
    if inlier:
        semantic = np.c_[u, u + 0.05 * rng.normal(size=n)]
        background = rng.uniform(size=(n, n_background))
    else:
        semantic = np.c_[u, u + 0.2]
        background = np.full((n, n_background), 0.5)
    return np.clip(np.c_[semantic, background], 0, 1)


def test_the_ratio_cancels_a_background_that_dominates_the_likelihood():
    # A Gaussian fitted to the data rewards the 40 background values for lying at their mean
    # (about 20 nats, the expected 40 * 1/2 of a chi-square) more than it penalizes the broken
    # correlation of the outliers (0.2^2 / (2 * 0.05^2) = 8 nats): the raw likelihood ranks every
    # outlier above every inlier. Replacing values by uniform grey levels leaves the uniform
    # background's distribution as it is, so the background model learns the same background
    # and the ratio keeps only the correlation, which the perturbation weakened.
    rng = np.random.default_rng(0)
    X = background_dominated(2000, 40, True, rng)
    x_in, x_out = (background_dominated(200, 40, kind, rng) for kind in (True, False))
    lr = LikelihoodRatio(GaussianMixture(covariance_type="full", random_state=0),
                         mutation_rate=0.2, random_state=0).fit(X)
    fg = lr.foreground_.score_samples
    assert auroc(fg(x_in), fg(x_out)) == 0.0
    assert auroc(lr.score_samples(x_in), lr.score_samples(x_out)) == 1.0
    # the background alone: a large gap in log p(x), next to none in the ratio
    typical, at_mode = x_in[:50], np.c_[x_in[:50, :2], np.full((50, 40), 0.5)]
    assert np.mean(fg(at_mode) - fg(typical)) > 15
    assert abs(np.mean(lr.score_samples(at_mode) - lr.score_samples(typical))) < 2


@pytest.fixture(scope="module")
def digits():
    ds = load("digits", val_fraction=0.0, seed=0)
    (x_train, y_train), (x_test, y_test) = _flat(ds, "train"), _flat(ds, "test")
    return x_train[y_train == 0], x_test, y_test


def test_the_benchmark_s_ratio_row_is_the_likelihood_ratio(digits):
    x_fit, x_test, _ = digits
    rows = fit_and_score([("vae", ["elbo", "mse"])], x_fit, {"normal": x_test}, opts=OPTS,
                         say=lambda _m: None, likelihood_ratio=0.2)
    assert list(rows) == ["vae (elbo)", "vae (elbo, LR 0.2)", "vae (mse)"]  # mse: no likelihood
    ratio = rows["vae (elbo, LR 0.2)"]
    assert ratio["ratio_of"] == "vae (elbo)"
    lr = LikelihoodRatio(make_estimator("vae", **OPTS), mutation_rate=0.2, score_type="elbo",
                         random_state=OPTS["seed"]).fit(x_fit)
    np.testing.assert_array_equal(rows["vae (elbo)"]["scores"]["normal"],
                                  estimator_scores(lr.foreground_, x_test, "elbo"))
    np.testing.assert_array_equal(ratio["scores"]["normal"], lr.score_samples(x_test))
    background = make_estimator("vae", **OPTS).fit(perturb(x_fit, 0.2, OPTS["seed"]))
    np.testing.assert_array_equal(
        ratio["scores"]["normal"],
        rows["vae (elbo)"]["scores"]["normal"] - estimator_scores(background, x_test, "elbo"))
    assert ratio_label("vae/likelihood=gaussian (elbo)", 0.25) == \
        "vae/likelihood=gaussian (elbo, LR 0.25)"


def test_cli_adds_a_ratio_row_for_each_log_likelihood(tmp_path, capsys):
    rc, out, _ = cli(["detect", "--data", "digits", "--methods", "vae:elbo,ae:recon,pca",
                      "--classes", "0", "--epochs", 1, "--hidden", 16, "--latent-dim", 2,
                      "--likelihood-ratio", 0.2, "--name", "ratio", "--out", tmp_path], capsys)
    assert rc == 0
    saved = json.loads((tmp_path / "ratio.json").read_text())
    one = saved["one_class"]
    assert list(one) == ["vae (elbo)", "vae (elbo, LR 0.2)", "ae (recon)", "ae (recon, LR 0.2)",
                         "pca (mse)"]
    assert saved["likelihood_ratio"] == 0.2
    for label in ("vae (elbo, LR 0.2)", "ae (recon, LR 0.2)"):
        assert 0 <= one[label]["auroc"]["0"] <= 1 and f"| {label} |" in out
        before = one[one[label]["ratio_of"]]["mean"]
        assert saved["verdict"]["likelihood_ratio"][label]["before"] == before
    assert "Likelihood ratio (mean AUROC before -> after): vae (elbo): " in out
    assert "Ren et al. (2019)" in out and "probability 0.2" in out
    assert (tmp_path / "ratio.md").read_text() in out


@pytest.mark.parametrize("rate", ["0", "1", "1.5", "-0.1", "often"])
def test_cli_refuses_a_mutation_rate_outside_0_1(rate, tmp_path, capsys):
    rc, _, err = cli(["detect", "--data", "digits", "--methods", "vae:elbo",
                      "--likelihood-ratio", rate, "--out", tmp_path], capsys)
    assert_one_error_line(rc, err, "--likelihood-ratio", "strictly between 0 and 1", repr(rate))


def test_cli_refuses_a_ratio_without_a_likelihood_or_on_data_outside_0_1(tmp_path, capsys):
    rc, _, err = cli(["detect", "--data", "digits", "--methods", "pca,ae:mse",
                      "--likelihood-ratio", 0.2, "--out", tmp_path], capsys)
    assert_one_error_line(rc, err, "none of the methods has one", "vae:elbo")
    rc, _, err = cli(["detect", "--data", "swiss-roll", "--methods", "vae:elbo", "--classes",
                      "none", "--against", "noise", "--likelihood-ratio", 0.2, "--out", tmp_path],
                     capsys)
    assert_one_error_line(rc, err, "swiss-roll has values in", "[0, 1]")
    with pytest.raises(ConfigError, match="strictly between 0 and 1"):
        run_detect("digits", methods="vae:elbo", likelihood_ratio=1.0)

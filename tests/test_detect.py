"""Tests of hourglass.uses.detect (OutlierDetector, AUROC, the benchmark, `hourglass detect`) and
hourglass.estimators.generic (any registered model as an estimator; the per-example scores)."""

from __future__ import annotations

import inspect
import json

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.utils.estimator_checks import parametrize_with_checks
from threadpoolctl import threadpool_limits

from hourglass import AE, DAE, VAE
from hourglass.cli.main import main
from hourglass.experiments.detect import (markdown, model_params, outlier_set, parse_ensemble,
                                          parse_methods, run_detect)
from hourglass.uses.detect import OutlierDetector, auroc, estimator_scores
from hourglass.core.errors import ConfigError
from hourglass.estimators.generic import ModelEstimator, estimator_for, model_scores

TINY = dict(latent_dim=2, hidden=(16,), epochs=2, batch_size=64, random_state=0)


@pytest.fixture(autouse=True)
def one_thread():
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def X():
    """300 digits scaled to [0, 1], (300, 64)."""
    return load_digits().data[:300] / 16.0


def line_with_outliers(seed=0):
    """200 points near the line y = 2x, then 20 points off it."""
    rng = np.random.default_rng(seed)
    t = rng.normal(size=200)
    inliers = np.c_[t, 2 * t] + 0.01 * rng.normal(size=(200, 2))
    s = rng.normal(size=20)
    outliers = np.c_[2 * s, -s] + np.sign(s)[:, None] * 0.5  # across the line, at least 0.5 away
    return inliers, outliers


# --------------------------------------------------------------------------------------------
# AUROC


def test_auroc_known_values():
    assert auroc([3, 4, 5], [0, 1, 2]) == 1.0           # every normal above every outlier
    assert auroc([0, 1], [2, 3]) == 0.0
    assert auroc([1, 1], [1, 1]) == 0.5                 # ties count 1/2
    # pairs (normal, outlier): (3,2) (3,0) (1,0) ranked right, (1,2) wrong: 3/4
    assert auroc([3, 1], [2, 0]) == 0.75


# --------------------------------------------------------------------------------------------
# OutlierDetector


def test_pca_reconstruction_detector_on_a_line():
    inliers, outliers = line_with_outliers()
    det = OutlierDetector(model=PCA(n_components=1), score_type="recon", contamination=0.1).fit(inliers)
    s_in, s_out = det.score_samples(inliers), det.score_samples(outliers)
    assert auroc(s_in, s_out) == 1.0
    pca = det.estimator_
    x_hat = pca.inverse_transform(pca.transform(outliers))
    np.testing.assert_allclose(s_out, -0.5 * ((outliers - x_hat) ** 2).sum(1))
    assert (det.predict(outliers) == -1).all()


def test_predict_flags_the_contamination_share_of_the_training_data():
    inliers, _ = line_with_outliers(1)
    for c in (0.05, 0.1, 0.25):
        det = OutlierDetector(model=PCA(n_components=1), score_type="mse", contamination=c).fit(inliers)
        labels = det.predict(inliers)
        assert set(np.unique(labels)) == {-1, 1}
        assert (labels == -1).sum() == round(c * 200)     # 10, 20, 50 of 200
        np.testing.assert_allclose(det.decision_function(inliers),
                                   det.score_samples(inliers) - det.offset_)
    np.testing.assert_array_equal(det.fit_predict(inliers), labels)


_strict = ({"xfail_strict": True}
           if "xfail_strict" in inspect.signature(parametrize_with_checks).parameters else {})


@parametrize_with_checks([OutlierDetector(PCA(n_components=1), score_type="mse")], **_strict)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_detector_clones_an_estimator_and_uses_its_score_samples():
    inliers, outliers = line_with_outliers(2)
    forest = IsolationForest(random_state=0)
    det = OutlierDetector(model=forest, model_params={"n_estimators": 20}).fit(inliers)
    assert det.score_type_ == "score_samples" and det.estimator_ is not forest
    assert det.estimator_.n_estimators == 20 and not hasattr(forest, "estimators_")
    np.testing.assert_array_equal(det.score_samples(outliers),
                                  det.estimator_.score_samples(outliers))


def test_detector_with_an_autoencoder_by_name(X):
    det = OutlierDetector("ae", model_params=TINY, contamination=0.1).fit(X)
    assert det.score_type_ == "recon" and isinstance(det.estimator_, AE)
    same = AE(**TINY).fit(X)   # the same estimator, fitted alone: the same numbers (the
    # detector scores in float32, AE.score_samples in float64: equal to float32 rounding)
    np.testing.assert_allclose(det.score_samples(X[:50]), same.score_samples(X[:50]), rtol=1e-6)
    assert (det.predict(X) == -1).sum() == 30


def test_vae_scores(X):
    vae = VAE(n_importance=8, **TINY).fit(X)
    np.testing.assert_array_equal(model_scores(vae, X[:20], "log_prob"), vae.score_samples(X[:20]))
    x = torch.as_tensor(X[:20], dtype=torch.float32)
    with torch.no_grad():
        mse = ((vae.model_.reconstruct(x) - x) ** 2).mean(1).numpy()
        recon = vae.model_.reconstruction_log_likelihood(x).numpy()
    np.testing.assert_allclose(model_scores(vae, X[:20], "mse"), -mse, rtol=1e-6)
    np.testing.assert_allclose(model_scores(vae, X[:20], "recon"), recon, rtol=1e-6)
    elbo = model_scores(vae, X[:20], "elbo")
    assert elbo.shape == (20,) and (elbo < 0).all()


def test_detector_errors_name_the_fix(X):
    with pytest.raises(ConfigError, match=r"The 'contamination' parameter of OutlierDetector "
                                          r"must be a float in the range \(0, 0.5\]. Got 0.7"):
        OutlierDetector(PCA(1), contamination=0.7).fit(X)
    with pytest.raises(ConfigError, match="The 'ae' model has no 'elbo' score; scores it has: "
                                          "recon, mse."):
        OutlierDetector("ae", score_type="elbo", model_params=TINY).fit(X)
    with pytest.raises(ConfigError, match="The 'model' parameter of OutlierDetector must be a "
                                          "model name"):
        OutlierDetector(model=42).fit(X)
    with pytest.raises(ConfigError, match="PCA has no 'elbo' score"):
        estimator_scores(PCA(1).fit(X), X, "elbo")


# --------------------------------------------------------------------------------------------
# ModelEstimator / estimator_for


def test_estimator_for_prefers_the_model_s_own_estimator():
    assert type(estimator_for("ae", n_importance=5)) is AE       # AE takes no n_importance
    assert estimator_for("vae", n_importance=5).n_importance == 5
    assert type(estimator_for("dae", latent_dim=3)) is DAE
    est = estimator_for("nade", latent_dim=3, hidden=(7,))
    assert type(est) is ModelEstimator and est.model == "nade"
    with pytest.raises(ConfigError, match="Unknown model 'nope'"):
        estimator_for("nope")


def test_model_estimator_for_an_explicit_density_model(X):
    x = (X[:100] > 0.5).astype(np.float64)  # NADE models binary vectors
    est = ModelEstimator("nade", params={"hidden": (8,)}, hidden=(512,), epochs=1,
                         random_state=0).fit(x)
    assert est.model_.config.hidden == (8,)   # its own hidden, not the AE widths
    scores = est.score_samples(x)
    np.testing.assert_array_equal(scores, model_scores(est, x, "log_prob"))
    with torch.no_grad():
        exact = est.model_.log_prob(torch.as_tensor(x, dtype=torch.float32)).numpy()
    np.testing.assert_allclose(scores, exact, rtol=1e-6)
    assert (scores < 0).all()
    with pytest.raises(ConfigError, match="The 'nade' model has no encode; it cannot transform "
                                          "data to codes."):
        est.transform(x)


def test_model_estimator_refuses_label_models(X):
    with pytest.raises(ConfigError, match="The 'cvae' model needs labels in forward"):
        ModelEstimator("cvae", epochs=1).fit(X)


# --------------------------------------------------------------------------------------------
# the benchmark


def test_parse_methods():
    assert parse_methods("ae,vae,vae:recon,pca,ocsvm") == [
        ("ae", ["recon", "mse"]), ("vae", ["elbo", "log_prob", "mse", "recon"]),
        ("pca", ["mse"]), ("ocsvm", ["score_samples"])]
    assert parse_methods("nade") == [("nade", ["log_prob"])]
    with pytest.raises(ConfigError, match="Unknown method 'gan'"):
        parse_methods("ae,gan")   # no score
    with pytest.raises(ConfigError, match="The 'ae' model has no 'elbo' score; it has: recon, mse"):
        parse_methods("ae:elbo")


def test_methods_with_config_values_and_ensembles():
    groups = parse_methods("vae/likelihood=gaussian:elbo,knn,ae:mse")
    assert groups == [("vae/likelihood=gaussian", ["elbo"]), ("knn", ["score_samples"]),
                      ("ae", ["mse"])]
    assert model_params("vae/likelihood=gaussian/sigma=0.5/latent-dim=3") == {
        "likelihood": "gaussian", "sigma": 0.5, "latent_dim": 3}
    assert parse_ensemble("ae:mse+knn", groups) == [("ae", "mse"), ("knn", "score_samples")]
    assert parse_ensemble("", groups) == []
    with pytest.raises(ConfigError, match="name/key=value"):
        parse_methods("vae/gaussian")
    with pytest.raises(ConfigError, match="The baseline 'knn' takes no config values"):
        parse_methods("knn/k=3")
    with pytest.raises(ConfigError, match="The ensemble member 'iforest' is not among --methods"):
        parse_ensemble("knn+iforest", groups)
    with pytest.raises(ConfigError, match="An ensemble needs 2 or more members"):
        parse_ensemble("knn", groups)


def test_run_detect_with_the_complexity_correction_and_an_ensemble(tmp_path):
    result = run_detect("digits", methods="ae,pca,knn", classes="0", latent_dim=4, hidden=(16,),
                        epochs=1, complexity="zlib", ensemble="pca+knn", name="outliers",
                        out=tmp_path)
    one = result["one_class"]
    assert list(one) == ["ae (recon)", "ae (recon, -L zlib)", "ae (mse)", "pca (mse)", "knn",
                         "ensemble (pca (mse) + knn)"]
    assert one["ae (recon, -L zlib)"]["corrects"] == "ae (recon)"
    assert one["knn"]["auroc"]["0"] > 0.95            # zeros are far from the other digits
    v = result["verdict"]
    assert v["best_mean"] == max(r["mean"] for r in one.values())
    assert v["complexity_correction"]["ae (recon, -L zlib)"]["before"] == one["ae (recon)"]["mean"]
    assert {p.name for p in tmp_path.iterdir()} == {"outliers.json", "outliers.md", "outliers.png"}
    assert "**Verdict:**" in (tmp_path / "outliers.md").read_text()


def test_outlier_sets_take_the_training_data_s_shape():
    digits = outlier_set("digits", shape=(1, 28, 28), value_range=(0.0, 1.0), n=50, seed=0)
    assert digits.shape == (50, 784) and digits.min() >= 0 and digits.max() <= 1
    noise = outlier_set("noise", shape=(3,), value_range=(-2.0, 2.0), n=1000, seed=0)
    assert noise.shape == (1000, 3) and -2 <= noise.min() and noise.max() <= 2
    np.testing.assert_array_equal(noise, outlier_set("noise", shape=(3,), value_range=(-2.0, 2.0),
                                                     n=1000, seed=0))


def test_run_detect_on_digits(tmp_path):
    result = run_detect("digits", methods="pca,iforest", classes="0,1", against="noise",
                        n_outliers=200, latent_dim=8, out=tmp_path)
    pca = result["one_class"]["pca (mse)"]
    assert sorted(pca["auroc"]) == ["0", "1"]
    assert pca["mean"] == pytest.approx(np.mean(list(pca["auroc"].values())))
    assert all(0 <= v <= 1 for v in pca["auroc"].values())
    assert result["cross"]["pca (mse)"]["noise"] == 1.0   # uniform noise is far from any digit
    assert result["n_cross"] == 1438                       # every digits training example
    saved = json.loads((tmp_path / "detect.json").read_text())
    assert saved["one_class"] == result["one_class"]
    assert (tmp_path / "detect.md").read_text() == markdown(result)
    assert {p.name for p in tmp_path.iterdir()} == {"detect.json", "detect.md", "detect.png",
                                                    "cross.png"}


def test_cli_detect(tmp_path, capsys):
    rc = main(["detect", "--data", "digits", "--methods", "pca", "--classes", "3",
               "--latent-dim", "4", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 0 and "| pca (mse) |" in out
    rc = main(["detect", "--data", "swiss-roll", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2 and err == ("hourglass: error: swiss-roll has no labels, so there is no "
                               "one-class benchmark; use --classes none with --against.\n")

"""Tests of the input-complexity correction (Serrà et al. 2020), the likelihood ratio (Ren et al.
2019), the k-NN detector and the ensemble of hourglass.uses.detect."""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.neighbors import KernelDensity

from hourglass.core.errors import ConfigError, DataError
from hourglass.uses.detect import (CODECS, KNNDetector, LikelihoodRatio, OutlierDetector, auroc,
                                   complexity_nats, compressed_bits, input_complexity_score, perturb,
                                   standardized_mean, to_uint8)


def constant_and_noise(n=4, d=784, seed=0):
    rng = np.random.default_rng(seed)
    return np.full((n, d), 0.5), rng.integers(0, 256, size=(n, d)) / 255.0


@pytest.mark.parametrize("codec", CODECS)
def test_a_constant_image_needs_fewer_bits_than_noise(codec):
    const, noise = constant_and_noise()
    b_const, b_noise = compressed_bits(const, codec), compressed_bits(noise, codec)
    assert b_const.shape == b_noise.shape == (4,)
    assert (b_const == b_const[0]).all()            # the same image, the same length
    assert b_const.max() < 0.2 * b_noise.min()      # e.g. png: 592 bits against about 7,000
    assert b_noise.min() > 0.9 * 8 * 784            # noise does not compress: near 8 bits a pixel


def test_png_length_is_the_file_of_filtered_scanlines():
    # an all-zero 28x28 image: every filter gives zeros, so filter 0 on each row; the file is the
    # 8-byte signature, IHDR (12 + 13), IDAT (12 + zlib stream) and IEND (12)
    zero = np.zeros((1, 784))
    idat = len(zlib.compress(b"\0" * (28 * 29), 9))
    assert compressed_bits(zero, "png")[0] == 8 * (8 + 25 + 12 + idat + 12)
    assert compressed_bits(zero, "zlib")[0] == 8 * len(zlib.compress(b"\0" * 784, 9))
    # a left-to-right ramp: the first row is best as Sub (0, 1, 1, ...), every row below as Up
    # (all zeros)
    ramp = np.tile(np.arange(28) / 255.0, 28)[None]
    rows = b"\x01" + bytes([0] + [1] * 27) + b"".join(b"\x02" + bytes(28) for _ in range(27))
    assert compressed_bits(ramp, "png")[0] == 8 * (57 + len(zlib.compress(rows, 9)))
    np.testing.assert_allclose(complexity_nats(ramp), compressed_bits(ramp) * math.log(2))


def test_score_is_minus_log_p_minus_the_code_length_in_nats():
    _, noise = constant_and_noise()
    log_p = np.array([-10.0, -20.5, 3.0, 0.0])
    L = complexity_nats(noise, "zlib")
    np.testing.assert_array_equal(input_complexity_score(log_p, L), -log_p - L)
    assert input_complexity_score([-5.0], [2.0])[0] == 3.0


def test_the_correction_undoes_a_likelihood_that_prefers_simple_inputs():
    # normal data: textured images; outliers: constant ones. A model whose log p(x) is -L(x)/2
    # ranks every outlier above every normal input (AUROC 0); log p + L = L/2 ranks them right.
    const, noise = constant_and_noise(n=10)
    const = const * np.linspace(0.1, 0.9, 10)[:, None]
    x = np.r_[noise, const]
    L = complexity_nats(x)
    log_p = -L / 2
    assert auroc(log_p[:10], log_p[10:]) == 0.0
    corrected = -input_complexity_score(log_p, L)
    assert auroc(corrected[:10], corrected[10:]) == 1.0


def test_detector_with_the_correction():
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(100, 16))

    class Gaussian:           # stands for a density model: log N(x; 0.5, 1) up to the constant
        def fit(self, X, y=None):
            return self

        def score_samples(self, X):
            return -0.5 * ((np.asarray(X) - 0.5) ** 2).sum(1)

        def get_params(self, deep=False):
            return {}

        def set_params(self, **params):
            return self

    det = OutlierDetector(Gaussian(), score_type="score_samples", complexity="zlib")
    with pytest.raises(ConfigError, match="The complexity correction needs a log-likelihood "
                                          "score \\(recon, elbo, log_prob\\); the score is "
                                          "'score_samples'"):
        det.fit(X)
    det = OutlierDetector(PCA(2), score_type="mse", complexity="png")
    with pytest.raises(ConfigError, match="needs a log-likelihood score"):
        det.fit(X)
    with pytest.raises(DataError, match=r"needs values in \[0, 1\]; got values in \[0, 255\]"):
        to_uint8([[0.0, 255.0]])
    with pytest.raises(DataError, match="The PNG codec needs the image shape: 15 values"):
        compressed_bits(np.zeros((1, 15)), "png")
    assert compressed_bits(np.zeros((1, 15)), "png", image_shape=(3, 5)).shape == (1,)
    with pytest.raises(ConfigError, match="Unknown codec 'gif'"):
        compressed_bits(X, "gif")


def test_knn_detector_known_distances():
    train = np.array([[0.0], [1.0], [3.0]])
    det = KNNDetector(n_neighbors=2).fit(train)
    # 0.5: neighbours 0 and 1 at 0.5 each; 10: neighbours 3 and 1 at 7 and 9
    np.testing.assert_allclose(det.score_samples([[0.5], [10.0]]), [-0.5, -8.0])
    # leave-one-out: 0 -> (1, 3); 1 -> (1, 2); 3 -> (2, 3)
    np.testing.assert_allclose(det.train_scores_, [-2.0, -1.5, -2.5])
    with pytest.raises(ConfigError, match="The 'n_neighbors' parameter of KNNDetector must be an "
                                          r"int in \[1, 2\]"):
        KNNDetector(n_neighbors=3).fit(train)


def test_standardized_mean():
    a_train, b_train = np.array([0.0, 2.0]), np.array([10.0, 30.0])   # means 1, 20; sds 1, 10
    out = standardized_mean([[1.0, 3.0], [20.0, 0.0]], [a_train, b_train])
    np.testing.assert_allclose(out, [(0 + 0) / 2, (2 + -2) / 2])


def test_auroc_on_a_toy_case():
    # outlier 0 is below all 4 normal scores, 2.5 below 2 of them, 5 below none: 6 of 12 pairs
    assert auroc([1, 2, 3, 4], [0, 2.5, 5]) == 0.5
    # shifting the outliers down by more than the spread separates them completely
    assert auroc([1, 2, 3, 4], [-10, -7.5, -5]) == 1.0


def test_perturb_replaces_the_rate_s_share_with_grey_levels():
    X = np.full((100, 100), 0.3)              # 0.3 is no grey level k / 255: a change shows
    Xp = perturb(X, 0.2, seed=0)
    changed = Xp != 0.3
    assert abs(changed.mean() - 0.2) < 0.015   # 10,000 values: sd of the share 0.004
    np.testing.assert_allclose(Xp[changed] * 255, np.rint(Xp[changed] * 255))
    np.testing.assert_array_equal(Xp, perturb(X, 0.2, seed=0))


def test_likelihood_ratio_is_foreground_minus_background():
    rng = np.random.default_rng(0)
    X = np.clip(0.5 + 0.1 * rng.normal(size=(200, 3)), 0, 1)
    lr = LikelihoodRatio(KernelDensity(bandwidth=0.2), mutation_rate=0.3, random_state=1).fit(X)
    assert lr.score_type_ == "score_samples"
    fg = KernelDensity(bandwidth=0.2).fit(X)
    bg = KernelDensity(bandwidth=0.2).fit(perturb(X, 0.3, 1))
    x = rng.uniform(size=(5, 3))
    np.testing.assert_allclose(lr.score_samples(x), fg.score_samples(x) - bg.score_samples(x))
    with pytest.raises(ConfigError, match="The 'mutation_rate' parameter of LikelihoodRatio"):
        LikelihoodRatio(KernelDensity(), mutation_rate=1.5).fit(X)

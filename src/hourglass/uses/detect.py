"""Outlier detection with a model's score: a generative model knows what its training data look
like, so it can tell when an input does not.

:class:`OutlierDetector` follows scikit-learn's outlier detectors (``IsolationForest``,
``OneClassSVM``): ``fit(X)`` learns the model and a threshold, ``score_samples`` is higher for
more normal inputs, ``decision_function = score_samples - offset_`` is negative for outliers, and
``predict`` returns +1 for inliers, -1 for outliers, with ``offset_`` the ``contamination``
quantile of the training scores (so that fraction of the training data is called an outlier).

The model is a registry name (``"ae"``, ``"vae"``, ``"dae"``, an explicit density model, ...) or
any scikit-learn estimator. Scores (see :mod:`hourglass.estimators.generic`): ``recon``
($\\log p(x \\mid g(h(x)))$, the reconstruction error with its sign flipped; for other transformers
with ``inverse_transform``, $-\\tfrac12 \\lVert x - \\hat x \\rVert^2$), ``mse`` (minus the mean squared
reconstruction error), ``elbo``, ``log_prob`` (exact NLL for explicit models, the IWAE bound for
VAEs), or the estimator's own ``score_samples``.

The ``hourglass detect`` benchmark built on these is :mod:`hourglass.experiments.detect`.
"""

from __future__ import annotations

import bz2
import lzma
import math
import zlib

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin, clone
from sklearn.neighbors import NearestNeighbors
from sklearn.metrics import roc_auc_score
from sklearn.utils.validation import check_array, check_is_fitted

from hourglass.core.validation import Interval, Options, check_params
from hourglass.core.errors import ConfigError, DataError
from hourglass.estimators.generic import available_scores, estimator_for, model_scores, usable_models

SCORE_KINDS = ("auto", "recon", "mse", "elbo", "log_prob", "score_samples")
CODECS = ("png", "zlib", "bz2", "lzma")
LIKELIHOOD_SCORES = ("recon", "elbo", "log_prob")  # scores that are log-likelihoods in nats


# --------------------------------------------------------------------------------------------
# input complexity (Serra et al. 2020)


def to_uint8(X) -> np.ndarray:
    """Grey levels in [0, 1] as 8-bit values, ``round(255 x)``, (n, D) uint8."""
    X = np.asarray(X, dtype=np.float64)
    if X.size and (X.min() < -1e-6 or X.max() > 1 + 1e-6):
        raise DataError(f"The complexity correction compresses the inputs as 8-bit images and "
                        f"needs values in [0, 1]; got values in [{X.min():g}, {X.max():g}]. "
                        "Scale the data to [0, 1] (e.g. X / 255) or do not ask for the correction.")
    return np.rint(np.clip(X, 0.0, 1.0) * 255).astype(np.uint8).reshape(len(X), -1)


def _png_filtered(img: np.ndarray) -> bytes:
    """PNG scanlines of an (H, W) uint8 image, each with the filter (None, Sub, Up, Average,
    Paeth) of smallest sum of absolute signed bytes (the heuristic of the PNG specification)."""
    a = img.astype(np.int16)
    left = np.pad(a, ((0, 0), (1, 0)))[:, :-1]
    up = np.pad(a, ((1, 0), (0, 0)))[:-1]
    upleft = np.pad(a, ((1, 0), (1, 0)))[:-1, :-1]
    p = left + up - upleft
    pa, pb, pc = np.abs(p - left), np.abs(p - up), np.abs(p - upleft)
    paeth = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, upleft))
    filtered = np.stack([a, a - left, a - up, a - (left + up) // 2, a - paeth]) % 256  # (5, H, W)
    signed = np.where(filtered > 127, 256 - filtered, filtered).sum(2)                 # (5, H)
    best = signed.argmin(0)
    rows = filtered[best, np.arange(a.shape[0])].astype(np.uint8)
    return np.c_[best.astype(np.uint8), rows].tobytes()


def _png_bytes(img: np.ndarray) -> int:
    """Length in bytes of a greyscale 8-bit PNG file of `img` (signature, IHDR, IDAT, IEND)."""
    idat = zlib.compress(_png_filtered(img), 9)
    return 8 + (12 + 13) + (12 + len(idat)) + 12  # each chunk: length, type, data, CRC


def compressed_bits(X, codec: str = "png", image_shape: tuple | None = None) -> np.ndarray:
    """Lossless code length $L(x)$ in bits of each row of X (grey levels in [0, 1]) as an 8-bit
    image: the size of the PNG file (``"png"``; `image_shape` (H, W), default square), or of the
    raw bytes compressed with ``zlib`` (level 9), ``bz2`` or ``lzma`` (headers included).
    (n,) float64."""
    if codec not in CODECS:
        raise ConfigError(f"Unknown codec {codec!r}; choose one of {', '.join(CODECS)}.")
    x8 = to_uint8(X)
    d = x8.shape[1]
    if codec == "png":
        h, w = image_shape if image_shape is not None else (math.isqrt(d), math.isqrt(d))
        if h * w != d:
            raise DataError(f"The PNG codec needs the image shape: {d} values per example are not "
                            f"a {h}x{w} image; pass image_shape=(H, W) or use codec='zlib'.")
        return np.array([8 * _png_bytes(r.reshape(h, w)) for r in x8], dtype=np.float64)
    compress = {"zlib": lambda b: zlib.compress(b, 9), "bz2": lambda b: bz2.compress(b, 9),
                "lzma": lzma.compress}[codec]
    return np.array([8 * len(compress(r.tobytes())) for r in x8], dtype=np.float64)


def complexity_nats(X, codec: str = "png", image_shape: tuple | None = None) -> np.ndarray:
    """$L(x)$ in nats: :func:`compressed_bits` times $\\ln 2$."""
    return compressed_bits(X, codec, image_shape) * math.log(2)


def input_complexity_score(log_p, complexity) -> np.ndarray:
    r"""The outlier score of Serra et al. (2020), both terms in nats:

    $S(x) = -\log p(x) - L(x)$

    with $L(x)$ the code length of a generic lossless compressor (:func:`complexity_nats`). It
    is the log-ratio of the compressor's implied probability $2^{-L(x)}$ to the model's: high
    (an outlier) when the model needs more nats for x than a compressor that knows nothing of
    the training data. For a density of continuous x in [0, 1] the code length of the 8-bit
    image is $-\log p(x) + D \log 255$; the constant does not change the ranking."""
    return -np.asarray(log_p, dtype=np.float64) - np.asarray(complexity, dtype=np.float64)


# --------------------------------------------------------------------------------------------
# k nearest neighbours


class KNNDetector(BaseEstimator):
    """Outlier score by distance to the training data: ``score_samples(X)`` is minus the mean
    Euclidean distance to the ``n_neighbors`` nearest training points (higher = more normal).
    ``train_scores_`` holds the leave-one-out scores of the training points."""

    def __init__(self, n_neighbors: int = 5):
        self.n_neighbors = n_neighbors

    def fit(self, X, y=None):
        X = check_array(X, dtype=np.float64)
        if not (isinstance(self.n_neighbors, int) and 1 <= self.n_neighbors < len(X)):
            raise ConfigError(f"The 'n_neighbors' parameter of KNNDetector must be an int in "
                              f"[1, {len(X) - 1}] (fewer than the training points); got "
                              f"{self.n_neighbors!r}.")
        self.nn_ = NearestNeighbors(n_neighbors=self.n_neighbors).fit(X)
        self.n_features_in_ = X.shape[1]
        self.train_scores_ = -self.nn_.kneighbors()[0].mean(1)  # each point without itself
        return self

    def score_samples(self, X):
        check_is_fitted(self)
        X = check_array(X, dtype=np.float64)
        return -self.nn_.kneighbors(X)[0].mean(1)


def perturb(X, rate: float, seed: int | None = 0) -> np.ndarray:
    """X (values in [0, 1]) with each value replaced, with probability `rate`, by one of the 256
    grey levels drawn uniformly: the perturbation of Ren et al. (2019)'s background model."""
    X = np.asarray(X, dtype=np.float64)
    rng = np.random.default_rng(seed)
    replace = rng.random(X.shape) < rate
    return np.where(replace, rng.integers(0, 256, size=X.shape) / 255.0, X)


class LikelihoodRatio(BaseEstimator):
    r"""The likelihood ratio of Ren et al. (2019): a model fitted on the data and a background
    model, the same estimator fitted on the data perturbed at ``mutation_rate``
    (:func:`perturb`), which learns only the population-level statistics;
    ``score_samples`` is $\log p_\theta(x) - \log p_{\theta_0}(x)$ (higher = more normal).

    ``model`` is an unfitted estimator (cloned twice) or a registered model name (with
    ``model_params``); ``score_type`` as for :class:`OutlierDetector` (a log-likelihood)."""

    def __init__(self, model="vae", *, mutation_rate=0.2, score_type="auto", model_params=None,
                 random_state=None):
        self.model = model
        self.mutation_rate = mutation_rate
        self.score_type = score_type
        self.model_params = model_params
        self.random_state = random_state

    def fit(self, X, y=None):
        check_params("LikelihoodRatio", {"mutation_rate": self.mutation_rate,
                                         "score_type": self.score_type},
                     {"mutation_rate": Interval(float, 0, 1, closed="neither"),
                      "score_type": Options(SCORE_KINDS)})
        make = OutlierDetector(self.model, model_params=self.model_params,
                               random_state=self.random_state)._make_estimator
        X = check_array(X, dtype=np.float64)
        self.foreground_ = make().fit(X)
        self.background_ = make().fit(perturb(X, self.mutation_rate, self.random_state))
        self.score_type_ = resolve_score(self.foreground_, self.score_type)
        self.n_features_in_ = X.shape[1]
        return self

    def score_samples(self, X):
        check_is_fitted(self, "background_")
        return (estimator_scores(self.foreground_, X, self.score_type_)
                - estimator_scores(self.background_, X, self.score_type_))


def standardized_mean(scores: list, train_scores: list) -> np.ndarray:
    """An ensemble of scores: the mean over detectors of each score standardized by the mean
    and standard deviation of that detector's scores on the (normal) training data."""
    z = [(np.asarray(s, float) - np.mean(t)) / (np.std(t) or 1.0)
         for s, t in zip(scores, train_scores)]
    return np.mean(z, axis=0)


def _is_hourglass(est) -> bool:
    return hasattr(est, "model_") and hasattr(est, "_check_X")


def estimator_scores(est, X, kind: str = "auto") -> np.ndarray:
    """Per-example score `kind` of X under the fitted estimator `est` (higher = more normal)."""
    if kind == "score_samples" or (kind == "auto" and not _is_hourglass(est)
                                   and hasattr(est, "score_samples")):
        if not hasattr(est, "score_samples"):
            raise ConfigError(f"{type(est).__name__} has no score_samples; use score_type='mse' or "
                              "another model.")
        return np.asarray(est.score_samples(X), dtype=np.float64)
    if _is_hourglass(est):
        return model_scores(est, X, kind)
    if kind in ("auto", "recon", "mse") and hasattr(est, "inverse_transform"):
        X = check_array(X, dtype=np.float64)
        x_hat = np.asarray(est.inverse_transform(est.transform(X)), dtype=np.float64)
        if kind == "mse":
            return -((X - x_hat) ** 2).mean(axis=1)
        return -0.5 * ((X - x_hat) ** 2).sum(axis=1)  # a unit-variance Gaussian, up to a constant
    raise ConfigError(f"{type(est).__name__} has no {kind!r} score: use an Hourglass model, an "
                      "estimator with score_samples, or a transformer with inverse_transform.")


def resolve_score(est, kind: str) -> str:
    """The score name `kind` ("auto" included) stands for with the fitted estimator `est`."""
    if kind != "auto":
        return kind
    if _is_hourglass(est):
        return next(k for k in ("log_prob", "elbo", "recon") if k in available_scores(est.model_))
    return "score_samples" if hasattr(est, "score_samples") else "recon"


class OutlierDetector(OutlierMixin, BaseEstimator):
    """Outlier detection by a model's per-example score, after scikit-learn's outlier detectors.

    Parameters
    ----------
    model : str or estimator, default "vae"
        A registered model name (fitted through ``hourglass.AE``/``VAE`` or a
        :class:`~hourglass.estimators.generic.ModelEstimator`) or an unfitted scikit-learn estimator
        (cloned at ``fit``).
    score_type : {"auto", "recon", "mse", "elbo", "log_prob", "score_samples"}, default "auto"
        Which score ranks the inputs; "auto": ``log_prob``, else ``elbo``, else ``recon`` for
        Hourglass models, ``score_samples`` (else ``recon``) for other estimators.
    contamination : float in (0, 0.5], default 0.1
        Fraction of the training data to call outliers; sets ``offset_``.
    model_params : dict, optional
        Parameters of the estimator built from a model name (``latent_dim``, ``epochs``, ...), or
        set on a cloned estimator.
    random_state : int, optional
        Seed of the estimator built from a model name (when ``model_params`` has none).
    complexity : {None, "png", "zlib", "bz2", "lzma"}, default None
        With a codec, the input-complexity correction of Serra et al. (2020): the score is
        $-S(x) = \\log p(x) + L(x)$, with $L(x)$ the nats the codec needs for x as an 8-bit image
        (:func:`input_complexity_score`). Needs a likelihood score (``recon``, ``elbo``,
        ``log_prob``) and X in [0, 1].
    image_shape : (H, W), optional
        Image size for the PNG codec (default: square).

    Attributes
    ----------
    estimator_ : the fitted estimator
    score_type_ : str, the score used
    offset_ : float, the ``contamination`` quantile of the training scores

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.decomposition import PCA
    >>> from hourglass.uses.detect import OutlierDetector
    >>> rng = np.random.default_rng(0)
    >>> X = np.outer(rng.normal(size=200), [1.0, 2.0]) + 0.01 * rng.normal(size=(200, 2))
    >>> det = OutlierDetector(PCA(n_components=1), score_type="mse", contamination=0.1).fit(X)
    >>> det.predict([[1.0, 2.0], [2.0, -1.0]])
    array([ 1, -1])
    """

    _constraints = {"score_type": Options(SCORE_KINDS),
                    "contamination": Interval(float, 0, 0.5, closed="right"),
                    "complexity": Options((None, *CODECS))}

    def __init__(self, model="vae", *, score_type="auto", contamination=0.1, model_params=None,
                 random_state=None, complexity=None, image_shape=None):
        self.model = model
        self.score_type = score_type
        self.contamination = contamination
        self.model_params = model_params
        self.random_state = random_state
        self.complexity = complexity
        self.image_shape = image_shape

    def _make_estimator(self):
        params = dict(self.model_params or {})
        if isinstance(self.model, str):
            params.setdefault("random_state", self.random_state)
            return estimator_for(self.model, **params)
        if not hasattr(self.model, "fit"):
            raise ConfigError(f"The 'model' parameter of OutlierDetector must be a model name "
                              f"({', '.join(usable_models())}) or an estimator. Got {self.model!r}.")
        return clone(self.model).set_params(**params)

    def fit(self, X, y=None):
        """Fit the model to X (y is ignored) and set the threshold ``offset_``. Returns self."""
        check_params("OutlierDetector", self.get_params(deep=False), self._constraints)
        self.estimator_ = self._make_estimator().fit(X)
        self.score_type_ = resolve_score(self.estimator_, self.score_type)
        if self.complexity is not None and self.score_type_ not in LIKELIHOOD_SCORES:
            raise ConfigError(f"The complexity correction needs a log-likelihood score "
                              f"({', '.join(LIKELIHOOD_SCORES)}); the score is "
                              f"{self.score_type_!r}. Set score_type to one of them or "
                              "complexity=None.")
        train_scores = self.score_samples(X)
        if hasattr(self.estimator_, "n_features_in_"):
            self.n_features_in_ = self.estimator_.n_features_in_
        # $\mathrm{offset} = $ the contamination quantile: that share of training points scores below
        self.offset_ = float(np.percentile(train_scores, 100 * self.contamination))
        return self

    def score_samples(self, X):
        """Score of each sample; higher is more normal (see ``score_type_``)."""
        check_is_fitted(self, "estimator_")
        scores = estimator_scores(self.estimator_, X, self.score_type_)
        if self.complexity is None:
            return scores
        return -input_complexity_score(scores, complexity_nats(X, self.complexity, self.image_shape))

    def decision_function(self, X):
        """``score_samples(X) - offset_``: negative for outliers."""
        return self.score_samples(X) - self.offset_

    def predict(self, X):
        """+1 for inliers, -1 for outliers."""
        return np.where(self.decision_function(X) < 0, -1, 1)


def auroc(normal_scores, outlier_scores) -> float:
    """Area under the ROC curve of telling normal inputs (high scores) from outliers: the
    probability that a random normal input scores above a random outlier (ties count 1/2)."""
    s_in, s_out = np.asarray(normal_scores, float), np.asarray(outlier_scores, float)
    if len(s_in) == 0 or len(s_out) == 0:
        raise DataError("AUROC needs at least one normal and one outlying example.")
    labels = np.r_[np.ones(len(s_in)), np.zeros(len(s_out))]
    return float(roc_auc_score(labels, np.r_[s_in, s_out]))

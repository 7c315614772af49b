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

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin, clone
from sklearn.metrics import roc_auc_score
from sklearn.utils.validation import check_array, check_is_fitted

from hourglass.core.validation import Interval, Options, check_params
from hourglass.core.errors import ConfigError, DataError
from hourglass.estimators.generic import available_scores, estimator_for, model_scores, usable_models

SCORE_KINDS = ("auto", "recon", "mse", "elbo", "log_prob", "score_samples")


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
                    "contamination": Interval(float, 0, 0.5, closed="right")}

    def __init__(self, model="vae", *, score_type="auto", contamination=0.1, model_params=None,
                 random_state=None):
        self.model = model
        self.score_type = score_type
        self.contamination = contamination
        self.model_params = model_params
        self.random_state = random_state

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
        train_scores = estimator_scores(self.estimator_, X, self.score_type_)
        if hasattr(self.estimator_, "n_features_in_"):
            self.n_features_in_ = self.estimator_.n_features_in_
        # $\mathrm{offset} = $ the contamination quantile: that share of training points scores below
        self.offset_ = float(np.percentile(train_scores, 100 * self.contamination))
        return self

    def score_samples(self, X):
        """Score of each sample; higher is more normal (see ``score_type_``)."""
        check_is_fitted(self)
        return estimator_scores(self.estimator_, X, self.score_type_)

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

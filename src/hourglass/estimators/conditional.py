"""scikit-learn estimators for the label-conditioned models: ``CVAE`` and the semi-supervised
``M2``.

Both take labels at ``fit(X, y)``: any integer labels (mapped to ``0..K-1`` through ``classes_``).
For ``M2``, ``y = -1`` marks an unlabelled row (scikit-learn's convention for semi-supervised
learning, as in ``LabelSpreading``); it is a classifier (``predict``, ``predict_proba``,
``score`` = accuracy) whose ``score_samples`` is a bound on ``log p(x)``. Input handling,
parameters, save/load follow :mod:`hourglass.estimators.autoencoders`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.base import ClassifierMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, column_or_1d

from hourglass.core.options import option
from hourglass.core.validation import Interval
from hourglass.estimators.params import ImportanceOptions
from hourglass.data.semisupervised import UNLABELLED, repeat_labelled
from hourglass.core.errors import ConfigError
from hourglass.estimators.autoencoders import VAE, _check_codes

__all__ = ["CVAE", "M2"]


@dataclass
class LabelledShareOptions:
    labelled_share: float = option(0.1, Interval(float, 0, 1, closed="left"),
                                   "repeat the labelled rows until they make up this share of "
                                   "the training rows (0: no repetition)")


class _ConditionalEstimator(VAE):
    """The VAE estimator's parameters; labels in, labels out (the model gets them as 0..K-1)."""

    _model_name = "cvae"
    _allow_unlabelled = False
    _skip = ("n_classes",)  # taken from the labels

    # ---- labels -------------------------------------------------------------------------------
    def _fit_labels(self, y, n):
        name = type(self).__name__
        if y is None:
            raise ConfigError(f"{name} is trained on labelled data: call fit(X, y)"
                              + (" with y = -1 for unlabelled rows." if self._allow_unlabelled
                                 else "."))
        y = column_or_1d(np.asarray(_numpy(y)), warn=True)
        if len(y) != n or not np.issubdtype(y.dtype, np.integer):
            raise ConfigError(f"{name} needs one integer label per row of X; got {len(y)} labels "
                              f"of dtype {y.dtype} for {n} rows.")
        labelled = y != UNLABELLED if self._allow_unlabelled else np.ones(n, bool)
        self.classes_ = np.unique(y[labelled])
        if len(self.classes_) < 2:
            raise ConfigError(f"{name} needs labelled rows of at least two classes; got "
                              f"{len(self.classes_)}.")
        codes = np.full(n, UNLABELLED, dtype=np.int64)
        codes[labelled] = np.searchsorted(self.classes_, y[labelled])
        return torch.from_numpy(codes)

    def _labels(self, y, n: int) -> torch.Tensor | None:
        """User labels (values of ``classes_``) -> model labels 0..K-1; None stays None."""
        if y is None:
            return None
        y = np.asarray(_numpy(y)).reshape(-1)
        if len(y) != n:
            raise ConfigError(f"Got {len(y)} labels for {n} rows; pass one label per row.")
        unknown = np.setdiff1d(y, self.classes_)
        if len(unknown):
            raise ConfigError(f"Unknown label(s) {unknown[:5].tolist()}; the classes seen at fit "
                              f"are {self.classes_.tolist()}.")
        return torch.from_numpy(np.searchsorted(self.classes_, y).astype(np.int64))

    def _extra_model_config(self):
        return {**super()._extra_model_config(), "n_classes": len(self.classes_)}

    def _with_labels(self, fn, x, y, batch_size: int = 1000) -> torch.Tensor:
        labels = self._labels(y, x.shape[0])
        if labels is None:
            return self._batched(fn, x, batch_size)
        self.model_.eval()
        with torch.no_grad():
            return torch.cat([fn(x[i:i + batch_size].to(self._device),
                                 labels[i:i + batch_size].to(self._device)).cpu()
                              for i in range(0, x.shape[0], batch_size)])

    # ---- using the model ----------------------------------------------------------------------
    def transform(self, X, y=None):
        """Codes $\\mu(x, y)$ (n_samples, latent_dim); without y, averaged over the labels."""
        check_is_fitted(self)
        x = self._check_X(X, reset=False)
        return self._with_labels(self.model_.encode, x, y).numpy().astype(np.float64)

    def inverse_transform(self, X, y=None):
        """Decode codes with labels `y` (without: the mean over the uniform label prior)."""
        check_is_fitted(self)
        z = _check_codes(X, self.latent_dim)
        return self._out(self._with_labels(self.model_.decode, z, y))

    def score_samples(self, X, y=None):
        """Per-sample importance-weighted bound, nats: of log p(x|y) with `y`, of log p(x)
        without (K times the work)."""
        check_is_fitted(self)
        x = self._prepare(self._check_X(X, reset=False))
        seed = (0 if self.random_state is None
                else int(check_random_state(self.random_state).randint(2 ** 31 - 1)))
        gen = torch.Generator(device=self._device).manual_seed(seed)

        def fn(xb, *yb):
            return self.model_.log_prob(xb, *yb, k=self.n_importance, generator=gen)
        return self._with_labels(fn, x, y, batch_size=100).numpy().astype(np.float64)

    def score(self, X, y=None):
        """Mean of :meth:`score_samples` (given the labels `y` when passed)."""
        return float(np.mean(self.score_samples(X, y)))

    def sample(self, n_samples: int = 1, *, y=None, random_state=None):
        """Decode `n_samples` draws z ~ N(0, I) with label `y` (one class label, or one per
        sample; None: labels drawn uniformly)."""
        n_samples, gen = self._sampling(n_samples, random_state)
        if y is not None:
            y = self._labels(np.broadcast_to(np.asarray(y), (n_samples,)), n_samples)
            y = y.to(self._device)
        return self._out(self.model_.sample(n_samples, y=y, generator=gen))

    # ---- save / load: classes_ travel as a tensor ---------------------------------------------
    _extra_tensor_names = ("classes",)

    def _extra_tensors(self):
        return {"classes": torch.as_tensor(self.classes_)}

    def _load_extra(self, extra):
        self.classes_ = extra["classes"].numpy()


def _numpy(a):
    return a.detach().cpu().numpy() if torch.is_tensor(a) else a


class CVAE(_ConditionalEstimator):
    """Conditional VAE as a scikit-learn transformer: ``fit(X, y)``, codes of the style given the
    label, ``sample(n, y=c)`` for class ``c``, ``score_samples(X, y)`` a bound on log p(x|y).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The labels seen at ``fit``, in the order the model numbers them.

    Examples
    --------
    >>> import numpy as np
    >>> from hourglass import CVAE
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.random((200, 16)), rng.integers(0, 3, 200)
    >>> cvae = CVAE(latent_dim=2, hidden=(32,), epochs=2, random_state=0).fit(X, y)
    >>> cvae.transform(X, y).shape, cvae.sample(4, y=2).shape
    ((200, 2), (4, 16))
    """

    _model_name = "cvae"
    _title = "conditional VAE"


class M2(ClassifierMixin, _ConditionalEstimator):
    """Semi-supervised VAE (M2) as a scikit-learn classifier: ``fit(X, y)`` with ``y = -1`` for
    unlabelled rows; ``predict``/``predict_proba`` from $q(y|x)$; ``score`` is the accuracy.

    With few labels most batches would hold none, so the labelled rows are repeated until they
    make up ``labelled_share`` of the training rows (0: no repetition).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The labels seen at ``fit`` (without -1), the columns of :meth:`predict_proba`.

    Examples
    --------
    >>> import numpy as np
    >>> from hourglass import M2
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.random((200, 16)), rng.integers(0, 3, 200)
    >>> y[20:] = -1                                   # 20 labelled rows, 180 unlabelled
    >>> m2 = M2(latent_dim=2, hidden=(32,), epochs=2, random_state=0).fit(X, y)
    >>> m2.predict_proba(X).shape, m2.classes_.tolist()
    ((200, 3), [0, 1, 2])
    """

    _model_name = "m2"
    _title = "M2"
    _allow_unlabelled = True
    _extra_options = (ImportanceOptions, LabelledShareOptions)

    def _training_rows(self, x, y):
        return repeat_labelled(x, y, self.labelled_share)

    def predict_proba(self, X):
        """$q(y|x)$, (n_samples, n_classes), columns in the order of ``classes_``."""
        check_is_fitted(self)
        x = self._prepare(self._check_X(X, reset=False))
        return self._batched(self.model_.classify, x).numpy().astype(np.float64)

    def predict(self, X):
        """The most probable class under $q(y|x)$."""
        return self.classes_[self.predict_proba(X).argmax(1)]

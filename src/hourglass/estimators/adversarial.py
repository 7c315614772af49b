"""scikit-learn estimators for the adversarial models: ``AAE`` and ``GAN`` (``arch="conv"`` for
DCGAN). Input handling, training parameters and save/load follow :mod:`hourglass.estimators.autoencoders`.

``AAE`` is a transformer (``transform`` gives the code matched to the prior) and, in
``mode="semi-supervised"``, a classifier (``predict``, ``predict_proba``). Its labels, for the
modes that use them, go to ``fit(X, y)`` as ints ``0..n_classes-1``, with ``-1`` for unlabelled
rows (scikit-learn's semi-supervised convention). ``GAN`` only generates: it has no encoder, so
no ``transform``, and no likelihood, so no ``score_samples``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, column_or_1d

from hourglass.core.errors import ConfigError
from hourglass.core.options import option
from hourglass.core.validation import Interval
from hourglass.estimators.autoencoders import _AutoencoderEstimator, _to_numpy
from hourglass.data.semisupervised import repeat_labelled

__all__ = ["AAE", "GAN"]


@dataclass
class AAELabelledShareOptions:
    # digits, 100 labels, 15 epochs, seed 0: test accuracy 0.72 at a share of 0.1, 0.81 at 0.25,
    # 0.94 at 0.5 (the supervised phase then sees half of every batch)
    labelled_share: float = option(0.5, Interval(float, 0, 1, closed="left"),
                                   "mode='semi-supervised': repeat the labelled rows until they "
                                   "make up this share of the training rows (0: no repetition)")


def _semi_supervised(est) -> bool:
    if est.mode != "semi-supervised":
        raise AttributeError("predict and predict_proba need AAE(mode='semi-supervised').")
    return True


class AAE(_AutoencoderEstimator):
    """Adversarial autoencoder: codes matched to any prior by a discriminator.

    Examples
    --------
    >>> import numpy as np
    >>> from hourglass import AAE
    >>> X = np.random.default_rng(0).random((200, 16))
    >>> aae = AAE(latent_dim=2, hidden=(32,), epochs=2, prior="mixture", random_state=0).fit(X)
    >>> aae.transform(X).shape, aae.sample(4).shape
    ((200, 2), (4, 16))
    """

    _model_name = "aae"
    _title = "adversarial autoencoder"
    _extra_options = (AAELabelledShareOptions,)

    def _training_rows(self, x, y):
        """In mode='semi-supervised', the labelled rows repeated to ``labelled_share`` of the
        rows, as for M2: with few labels most batches would otherwise hold none."""
        if self.mode != "semi-supervised":
            return x, y
        return repeat_labelled(x, y, self.labelled_share)

    def _fit_labels(self, y, n):
        if self.mode == "unsupervised":
            return None
        if y is None:
            raise ConfigError(f"AAE(mode={self.mode!r}) learns from labels: call fit(X, y)"
                              + (" with y = -1 for unlabelled rows." if self.mode != "supervised"
                                 else "."))
        y = column_or_1d(np.asarray(_to_numpy(y)))
        if len(y) != n:
            raise ConfigError(f"y has {len(y)} labels but X has {n} rows.")
        if not np.issubdtype(y.dtype, np.integer) or y.min() < -1 or y.max() >= self.n_classes:
            raise ConfigError(f"AAE labels must be ints in 0..{self.n_classes - 1} (n_classes="
                              f"{self.n_classes}), or -1 for unlabelled rows.")
        if self.mode == "supervised" and (y < 0).any():
            raise ConfigError("mode='supervised' needs every label; use mode='semi-supervised' "
                              "for unlabelled rows (y = -1).")
        return torch.as_tensor(y, dtype=torch.long)

    def score_samples(self, X):
        """Per-sample $\\log p(x \\mid g(h(x)))$, nats (the AAE has no density of x)."""
        check_is_fitted(self)
        x = self._prepare(self._check_X(X, reset=False))
        return self._batched(self.model_.reconstruction_log_likelihood, x,
                             exact=True).numpy().astype(np.float64)

    @available_if(_semi_supervised)
    def predict_proba(self, X):
        """q(y|x), (n_samples, n_classes); only in mode='semi-supervised'."""
        check_is_fitted(self)
        x = self._prepare(self._check_X(X, reset=False))
        return self._batched(self.model_.predict_proba, x, exact=True).numpy().astype(np.float64)

    @available_if(_semi_supervised)
    def predict(self, X):
        """The most probable class under q(y|x); only in mode='semi-supervised'."""
        return self.predict_proba(X).argmax(1)

    def sample(self, n_samples: int = 1, *, y=None, random_state=None):
        """Decode `n_samples` prior draws (class `y`, an int or array, in the labelled modes)."""
        n_samples, gen = self._sampling(n_samples, random_state)
        if y is not None:
            y = torch.as_tensor(np.broadcast_to(np.asarray(y), (n_samples,)).copy(),
                                dtype=torch.long, device=self._device)
        return self._out(self.model_.sample(n_samples, generator=gen, y=y))


def _no(what: str, why: str):
    def fail(self):
        raise AttributeError(f"A GAN has no {what}: {why}")
    return property(fail)


class GAN(_AutoencoderEstimator, auto_wrap_output_keys=None):
    """Generative adversarial network (MLP; ``arch="conv"`` for DCGAN): ``fit(X)``, ``sample(n)``.

    ``lr=None`` uses DCGAN's Adam settings (lr 2e-4, beta1 0.5).

    Examples
    --------
    >>> import numpy as np
    >>> from hourglass import GAN
    >>> X = np.random.default_rng(0).random((200, 16))
    >>> GAN(latent_dim=4, hidden=(32,), epochs=2, random_state=0).fit(X).sample(3).shape
    (3, 16)
    """

    _model_name = "gan"
    _title = "GAN"
    _skip = ("binarize", "patience")  # no likelihood to binarize for, no validation loss to watch
    binarize = "none"
    patience = None

    transform = _no("transform", "it maps noise to data, not data to codes. Use AAE or VAE for codes.")
    inverse_transform = _no("inverse_transform", "call sample(n) to generate data.")
    score_samples = _no("score_samples", "it defines no likelihood. Use hourglass.evaluate."
                        "sample_quality for Fréchet distance, precision and recall.")
    score = _no("score", "it defines no likelihood.")
    fit_transform = _no("fit_transform", "it has no encoder; call fit(X) then sample(n).")

    def sample(self, n_samples: int = 1, *, random_state=None):
        """`n_samples` draws G(z), z ~ N(0, I), in the layout X had at fit."""
        n_samples, gen = self._sampling(n_samples, random_state)
        return self._out(self.model_.sample(n_samples, generator=gen))

"""The stacked (denoising) autoencoder as a scikit-learn classifier and transformer.

:class:`SDAEClassifier` pretrains a deep sigmoid encoder greedily, one layer at a time (each layer
a denoising autoencoder on the codes of the layers below, :mod:`hourglass.models.stacked`), then
adds a softmax layer and fine-tunes everything on the labels. ``transform`` gives the top codes
(the stacked features), ``predict``/``predict_proba``/``score`` (accuracy) classify.
``corruption_level=0`` gives the plain stacked autoencoder, ``pretrain_epochs=0`` the same network
trained from a random start. Input handling, parameters and save/load follow
:mod:`hourglass.estimators.autoencoders`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from sklearn.base import ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d

from hourglass.runs import store
from hourglass.core.io import atomic_write_json
from hourglass.core.errors import ConfigError
from hourglass.estimators.autoencoders import _AutoencoderEstimator, _to_numpy

__all__ = ["SDAEClassifier"]


class SDAEClassifier(ClassifierMixin, _AutoencoderEstimator):
    """Stacked denoising autoencoder classifier: greedy layer-wise pretraining, then fine-tuning.

    The layers have widths ``(*hidden, latent_dim)`` (784-500-500-500 is ``hidden=(500, 500),
    latent_dim=500``), all sigmoid. Each is pretrained for ``pretrain_epochs`` as a DAE with
    ``corruption`` at ``corruption_level``; then the stack and a softmax layer are fine-tuned with
    cross-entropy for ``epochs`` (plus ``recon_weight`` times the deep reconstruction, if > 0).
    The optimizer settings (``optimizer``, ``lr``, ``batch_size``...) serve both stages.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The labels seen at ``fit``, the columns of :meth:`predict_proba`.
    pretrain_history_ : list of list of dict
        The history of each greedy pretraining stage, one list per layer.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from hourglass import SDAEClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = SDAEClassifier(hidden=(64,), latent_dim=32, pretrain_epochs=2, epochs=5, lr=1e-2,
    ...                      random_state=0).fit(X[:1000] / 16, y[:1000])
    >>> clf.transform(X[1000:] / 16).shape, clf.predict(X[1000:1003] / 16).shape
    ((797, 32), (3,))
    """

    _model_name = "sae"
    _title = "stacked autoencoder"
    # fixed for this model: the estimator shares the autoencoder estimators' input handling
    arch, channels, batch_norm, image_shape = "mlp", (32, 64), False, None
    _skip = ("arch", "channels", "batch_norm", "n_classes", "finetune", "image_shape")

    def _fit_labels(self, y, n: int) -> torch.Tensor:
        if y is None:
            raise ConfigError("SDAEClassifier requires y to be passed, but the target y is None: "
                              "call fit(X, y) with one label per row of X.")
        y = column_or_1d(_to_numpy(y), warn=True)
        check_classification_targets(y)
        if len(y) != n:
            raise ConfigError(f"Got {len(y)} labels for {n} rows of X; pass one label per row.")
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ConfigError("SDAEClassifier needs labels of at least two classes; y has 1 class.")
        return torch.from_numpy(codes.astype(np.int64))

    def _extra_model_config(self) -> dict:
        return dict(n_classes=len(self.classes_), finetune="classifier")

    def predict_proba(self, X):
        """$p(y \\mid x)$ of the softmax layer, (n_samples, n_classes) in the order of ``classes_``."""
        check_is_fitted(self)
        x = self._prepare(self._check_X(X, reset=False))
        return self._batched(self.model_.classify, x, exact=True).numpy().astype(np.float64)

    def predict(self, X):
        """The most probable class."""
        proba = self.predict_proba(X)
        return self.classes_[proba.argmax(1)]

    # ---- save / load: classes_ (any labels) travel in config.json ------------------------------
    def save(self, path: str | Path) -> Path:
        """Write a run directory (config.json with ``classes_`` + model.safetensors)."""
        path = super().save(path)
        config = store.read_config(path)
        config["estimator"]["classes"] = self.classes_.tolist()
        atomic_write_json(Path(path) / store.CONFIG, config)
        return path

    @classmethod
    def load(cls, path: str | Path, *, device: str = "cpu"):
        est = super().load(path, device=device)
        est.classes_ = np.asarray(store.read_config(path)["estimator"]["classes"])
        return est

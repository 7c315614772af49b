"""Any registered model as a scikit-learn estimator, by name, and the per-example scores of a
fitted one.

:class:`ModelEstimator` is what ``hourglass compare`` and ``hourglass detect`` use for a model that
has no estimator class of its own: ``ModelEstimator("dae", params={...})`` builds the registered
model from the data's shape, fits it with the one training loop and exposes what the model has
(``transform`` needs ``encode``, ``inverse_transform`` needs ``decode``, ``score_samples`` needs
``log_prob`` or ``reconstruction_log_likelihood``). :func:`estimator_for` prefers a dedicated
estimator class (``hourglass.AE``, ``hourglass.VAE``, ``hourglass.DAE``, ...) when there is one.

The scores, per example, higher for inputs more typical of the training data (likelihoods in nats):

- ``"recon"``: $\\log p(x \\mid g(h(x)))$, the likelihood of x under its own reconstruction
  (minus the reconstruction error);
- ``"mse"``: $-\\frac1D \\lVert x - \\hat x \\rVert^2$, the plain squared reconstruction error per
  value. For grey-level data a Bernoulli $\\log p(x \\mid \\hat x) \\le -\\sum_i H(x_i)$ (the binary
  entropy of each grey value), so ``recon`` also ranks inputs by how grey they are; ``mse`` does not;
- ``"elbo"``: the evidence lower bound $\\mathcal L_1(x)$ with one posterior sample;
- ``"log_prob"``: $\\log p(x)$, exact for explicit density models, the importance-weighted bound
  $\\mathcal L_k(x)$ with ``k = n_importance`` for latent-variable models.
"""

from __future__ import annotations

import dataclasses
import inspect

import numpy as np
import torch
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from hourglass.core.validation import AnyOf, Interval
from hourglass.core.errors import ConfigError
from hourglass.estimators import autoencoders
from hourglass.estimators.autoencoders import _AutoencoderEstimator, _store_params
from hourglass.models import get_model_class, list_models
from hourglass.models.base import AutoencoderConfig

SCORES = {"recon": "reconstruction_log_likelihood", "mse": "reconstruct", "elbo": "elbo",
          "log_prob": "log_prob"}


def usable_models(*, need: str | None = None) -> list[str]:
    """Registered models a :class:`ModelEstimator` can fit (no labels needed) that have a score,
    and the attribute `need` (e.g. "encode") if given."""
    return [m for m in list_models() if not getattr(get_model_class(m), "needs_labels", False)
            and available_scores(get_model_class(m))
            and (need is None or hasattr(get_model_class(m), need))]


def available_scores(model) -> list[str]:
    """The score kinds a model (instance or class) can compute."""
    return [kind for kind, method in SCORES.items() if hasattr(model, method)]


def default_score(model) -> str:
    """``log_prob`` where the model has a density, else ``elbo``, else ``recon``."""
    for kind in ("log_prob", "elbo", "recon"):
        if kind in available_scores(model):
            return kind
    raise ConfigError(f"The {type(model).__name__} model has no per-example score: it has "
                      "neither log_prob, elbo nor reconstruction_log_likelihood.")


def model_scores(est, X, kind: str = "auto") -> np.ndarray:
    """Per-example score `kind` of X under the model of a fitted Hourglass estimator, (n,)."""
    check_is_fitted(est)
    model = est.model_
    kind = default_score(model) if kind == "auto" else kind
    if kind not in available_scores(model):
        raise ConfigError(f"The {est._model_name!r} model has no {kind!r} score; scores it has: "
                          f"{', '.join(available_scores(model)) or 'none'}.")
    x = est._prepare(est._check_X(X, reset=False))
    seed = 0 if est.random_state is None else int(
        check_random_state(est.random_state).randint(2 ** 31 - 1))
    gen = torch.Generator(device=est._device).manual_seed(seed)
    if kind == "recon":
        fn, batch = model.reconstruction_log_likelihood, 1000
    elif kind == "mse":
        fn, batch = (lambda xb: -(model.reconstruct(xb) - xb).pow(2).flatten(1).mean(1)), 1000  # noqa: E731
    elif kind == "elbo":
        fn, batch = (lambda xb: model.elbo(xb, generator=gen)), 1000  # noqa: E731
    else:
        k = getattr(est, "n_importance", 1)
        fn, batch = (lambda xb: model.log_prob(xb, k=k, generator=gen)), 100  # noqa: E731
    return est._batched(fn, x, batch_size=batch).numpy().astype(np.float64)


class _Dict:
    """Constraint: a dict (of model config values)."""

    def accepts(self, v) -> bool:
        return isinstance(v, dict)

    def __str__(self):
        return "a dict"


class ModelEstimator(_AutoencoderEstimator):
    """A registered model, chosen by name, as a scikit-learn estimator.

    Parameters are those of :class:`hourglass.AE` plus ``model`` (the registry name), ``params``
    (a dict of further config values of that model, e.g. its corruption level) and
    ``n_importance`` (samples of the log-likelihood bound, for models whose ``log_prob`` takes
    ``k``). Config values the model does not have (``latent_dim`` for an explicit density model,
    say) are left out.

    Examples
    --------
    >>> import numpy as np
    >>> from hourglass.estimators.generic import ModelEstimator
    >>> X = np.random.default_rng(0).random((100, 16))
    >>> est = ModelEstimator("ae", latent_dim=2, hidden=(8,), epochs=1, random_state=0).fit(X)
    >>> est.transform(X).shape, est.score_samples(X).shape
    ((100, 2), (100,))
    """

    _parameter_constraints = {**_AutoencoderEstimator._parameter_constraints,
                              "params": AnyOf((None, _Dict())),
                              "n_importance": Interval(int, 1, None)}

    def __init__(self, model="ae", *, params=None, latent_dim=16, arch="mlp", hidden=(512, 256),
                 channels=(32, 64), likelihood="auto", sigma=None, dropout=0.0, batch_norm=False,
                 image_shape=None, n_importance=200, epochs=30, batch_size=128, optimizer="adam",
                 lr=None, weight_decay=0.0, grad_clip=None, binarize="none",
                 validation_fraction=0.0, patience=None, device="auto", random_state=None,
                 verbose=False):
        _store_params(self, locals())

    @property
    def _model_name(self) -> str:
        return self.model

    def _model_config(self, x):
        cls = get_model_class(self.model)
        if getattr(cls, "needs_labels", False):
            raise ConfigError(f"The {self.model!r} model needs labels in forward; ModelEstimator "
                              "fits models of x alone. Train it with `hourglass train`.")
        fields = {f.name for f in dataclasses.fields(cls.config_class)}
        if not issubclass(cls.config_class, AutoencoderConfig):  # e.g. NADE: its own "hidden"
            fields &= {"input_shape", "likelihood"}
        config = {k: v for k, v in super()._model_config(x).items() if k in fields}
        return {**config, **(self.params or {})}

    def _require(self, method: str, what: str):
        check_is_fitted(self)
        if not hasattr(self.model_, method):
            raise ConfigError(f"The {self.model!r} model has no {method}; it cannot {what}.")

    def transform(self, X):
        """Codes of X, shape (n_samples, latent_dim), for models with an encoder."""
        self._require("encode", "transform data to codes")
        return super().transform(X)

    def inverse_transform(self, X):
        """Decode codes to the mean of p(x|z), for models with a decoder."""
        self._require("decode", "map codes back to data")
        return super().inverse_transform(X)

    def score_samples(self, X):
        """Per-example ``log_prob`` (else ``elbo``, else ``recon``) of X, nats."""
        return model_scores(self, X, "auto")


def estimator_for(name: str, **params):
    """An unfitted estimator for the registered model `name`: its own estimator class where one
    exists (``hourglass.AE`` for "ae", ...), else a :class:`ModelEstimator`. Parameters the chosen
    class does not take (``n_importance`` for an AE, say) are dropped."""
    get_model_class(name)  # unknown names: one error that lists the registered models
    cls = next((c for c in vars(autoencoders).values() if isinstance(c, type)
                and issubclass(c, _AutoencoderEstimator) and not c.__name__.startswith("_")
                and c._model_name == name), ModelEstimator)
    accepted = inspect.signature(cls.__init__).parameters
    kept = {k: v for k, v in params.items() if k in accepted}
    return cls(name, **kept) if cls is ModelEstimator else cls(**kept)

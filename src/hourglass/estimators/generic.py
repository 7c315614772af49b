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
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from hourglass.core.validation import AnyOf
from hourglass.core.errors import ConfigError
from hourglass.estimators import autoencoders
from hourglass.estimators.autoencoders import _AutoencoderEstimator
from hourglass.estimators.params import ImportanceOptions
from hourglass.core.options import option
from hourglass.models import get_model_class, list_models
from hourglass.models.base import AutoencoderConfig
from hourglass.models.protocol import capabilities, has, uses_labels

# score kind -> the capabilities that provide it (any one)
SCORES = {"recon": ("reconstruct",), "mse": ("reconstruct",), "elbo": ("elbo",),
          "log_prob": ("log_prob", "log_prob_bound")}


def usable_models(*, need: str | None = None) -> list[str]:
    """Registered models a :class:`ModelEstimator` can fit (no labels needed, at their default
    config) that have a score, and the capability `need` (e.g. "encode") if given."""
    return [m for m in list_models() if not uses_labels(get_model_class(m))
            and available_scores(get_model_class(m))
            and (need is None or has(get_model_class(m), need))]


def available_scores(model) -> list[str]:
    """The score kinds a model (instance or class) can compute."""
    caps = capabilities(model)
    return [kind for kind, provided_by in SCORES.items() if caps & set(provided_by)]


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


@dataclass
class ModelChoice:
    """The options that choose the model of a :class:`ModelEstimator`."""

    model: str = option("ae", None, "name of a registered model (see `hourglass list`)")
    params: dict | None = option(None, AnyOf((None, _Dict())),
                                 "further config values of that model, e.g. "
                                 "{'corruption_level': 0.5}")


class ModelEstimator(_AutoencoderEstimator):
    """A registered model, chosen by name, as a scikit-learn estimator.

    ``model`` names the registered model; ``params`` gives further config values of that model;
    ``n_importance`` is used by models whose ``log_prob`` is a bound with ``k`` samples. Config
    values the model does not have (``latent_dim`` for an explicit density model, say) are left
    out.

    Attributes
    ----------
    model_ : torch.nn.Module
        The fitted model named by ``model``.
    model_config_ : dict
        Its configuration, enough to rebuild it (written by :meth:`save`).
    history_ : list of dict
        One row per epoch: ``train_<term>`` for each loss term, ``val_<term>`` with a
        validation split, ``time_s``.
    input_shape_ : tuple of int
        Shape of one example as the model sees it, ``(D,)`` or ``(C, H, W)``.
    n_features_in_ : int
        Number of features of X seen at ``fit``.

    Examples
    --------
    >>> import numpy as np
    >>> from hourglass.estimators.generic import ModelEstimator
    >>> X = np.random.default_rng(0).random((100, 16))
    >>> est = ModelEstimator("ae", latent_dim=2, hidden=(8,), epochs=1, random_state=0).fit(X)
    >>> est.transform(X).shape, est.score_samples(X).shape
    ((100, 2), (100,))
    """

    _config_class = AutoencoderConfig
    _extra_options = (ModelChoice, ImportanceOptions)
    _positional = ("model",)

    @property
    def _model_name(self) -> str:
        return self.model

    def _model_config(self, x):
        cls = get_model_class(self.model)
        if uses_labels(cls, self.params or {}):
            raise ConfigError(f"The {self.model!r} model needs labels in forward; ModelEstimator "
                              "fits models of x alone. Train it with `hourglass train`.")
        fields = {f.name for f in dataclasses.fields(cls.config_class)}
        if not issubclass(cls.config_class, AutoencoderConfig):  # e.g. NADE: its own "hidden"
            fields &= {"input_shape", "likelihood"}
        config = {k: v for k, v in super()._model_config(x).items() if k in fields}
        return {**config, **(self.params or {})}

    def _require(self, capability: str, what: str):
        check_is_fitted(self)
        if not has(self.model_, capability):
            raise ConfigError(f"The {self.model!r} model has no {capability}; it cannot {what}.")

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

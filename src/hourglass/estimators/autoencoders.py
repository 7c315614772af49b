"""scikit-learn estimators over the models: ``AE`` and ``VAE``, and the regularized autoencoders
``DAE``, ``SCAE``, ``CAE`` and ``SparseAE`` (``AE`` with their model's own parameters).

They follow the estimator contract: keyword-only parameters stored unchanged by ``__init__``,
validated at ``fit`` (errors name the parameter, the allowed values and the value given), fitted
state in attributes ending in ``_``, ``fit`` returns ``self``. They work in ``Pipeline``,
``GridSearchCV`` and with ``clone``.

Input is an array of shape ``(n_samples, n_features)``, or ``(n_samples, C, H, W)`` /
``(n_samples, H, W)`` images (NumPy or torch). **uint8 input is read as 8-bit images and scaled to
[0, 1]**; other input is used as given. ``likelihood="auto"`` picks a Bernoulli decoder when every
value lies in [0, 1] and a Gaussian one otherwise.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from hourglass.runs import store
from hourglass.core.validation import check_count, check_params
from hourglass.core.errors import ConfigError
from hourglass.estimators.params import (ImportanceOptions, coerce, estimator_params, make_init,
                                         params_doc)
from hourglass.models import get_model_class
from hourglass.models.protocol import has
from hourglass.train import Batches, TrainConfig, resolve_device, train
from hourglass.train.config import check_train_limits
from hourglass.train.pretrain import pretrain


def _to_numpy(X):
    if torch.is_tensor(X):
        return X.detach().cpu().numpy()
    return X


class _AutoencoderEstimator(TransformerMixin, BaseEstimator):
    """Shared machinery. A subclass names its model (``_model_name``); its parameters and their
    constraints are derived from the model's config, the training options and ``_extra_options``
    (:mod:`hourglass.estimators.params`); ``_skip`` leaves out options the data decide."""

    _model_name = ""
    _config_class = None      # where the model options come from; None: the model's config
    _extra_options: tuple = ()
    _skip: tuple = ()
    _positional: tuple = ()
    _params: dict = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        config_class = cls._config_class
        if config_class is None and isinstance(cls._model_name, str) and cls._model_name:
            config_class = get_model_class(cls._model_name).config_class
        if config_class is None:
            return
        cls._params = estimator_params(config_class, extra=cls._extra_options, skip=cls._skip)
        cls.__init__ = make_init(cls._params, cls._positional)
        # named as the class's own method (documentation tools follow __qualname__)
        cls.__init__.__qualname__ = f"{cls.__qualname__}.__init__"
        cls.__init__.__module__ = cls.__module__
        if cls.__doc__ and "Parameters\n" not in cls.__doc__:
            doc = cls.__doc__
            if cls.__dict__.get("_title"):  # the fitted attributes every estimator has
                doc = _with_attributes_doc(doc, fitted_attributes_doc(cls._title, cls._model_name))
            cls.__doc__ = _with_params_doc(doc, params_doc(cls._params))

    @property
    def _parameter_constraints(self) -> dict:
        return {n: p.constraint for n, p in self._params.items() if p.constraint is not None}

    def _names(self, kind: str) -> list[str]:
        return [n for n, p in self._params.items() if p.kind == kind]

    # ---- input handling -------------------------------------------------------------------
    def _check_X(self, X, *, reset: bool) -> torch.Tensor:
        """Validate X (2-D or image-shaped; finite; non-empty) and return a float tensor of shape
        (n, *input_shape) in model units."""
        X = _to_numpy(X)
        is_uint8 = isinstance(X, np.ndarray) and X.dtype == np.uint8
        nd = np.ndim(X) if isinstance(X, np.ndarray) else None
        if nd is not None and nd > 2:
            X2 = X.reshape(X.shape[0], -1)
            shape = X.shape[1:] if nd == 4 else (1, *X.shape[1:])
        else:
            X2, shape = X, None
        X2 = validate_data(self, X2, reset=reset, dtype=[np.float32, np.float64],
                           ensure_min_samples=1)
        if reset:
            self.input_ndim_ = nd if nd is not None and nd > 2 else 2
            self.input_shape_ = self._infer_shape(shape, X2.shape[1])
        x = torch.from_numpy(np.array(X2, dtype=np.float32))
        if is_uint8:
            x = x / 255
        return x.view(x.shape[0], *self.input_shape_)

    def _infer_shape(self, shape, n_features):
        if self.image_shape is not None:
            shape = tuple(self.image_shape)
            if len(shape) == 2:
                shape = (1, *shape)
            if math.prod(shape) != n_features:
                raise ConfigError(f"image_shape={tuple(self.image_shape)} holds {math.prod(shape)} "
                                  f"values but X has {n_features} features per sample.")
            return shape
        if shape is not None:
            return tuple(int(s) for s in shape)
        if self.arch == "conv":
            side = math.isqrt(n_features)
            if side * side != n_features:
                raise ConfigError(f"arch='conv' needs images: pass X of shape (n, C, H, W) or set "
                                  f"image_shape; {n_features} features is not a square image.")
            return (1, side, side)
        return (n_features,)

    def _out(self, x: torch.Tensor) -> np.ndarray:
        """Model-space output back to the user's layout: (n, D) if fit on 2-D input."""
        x = x.detach().cpu()
        if self.input_ndim_ == 2:
            x = x.reshape(x.shape[0], -1)
        elif self.input_ndim_ == 3:
            x = x.reshape(x.shape[0], *self.input_shape_[1:])
        return x.numpy().astype(np.float64)

    # ---- fitting --------------------------------------------------------------------------
    def _model_config(self, x: torch.Tensor) -> dict:
        config = {"input_shape": self.input_shape_,
                  **{n: coerce(getattr(self, n), self._params[n].constraint)
                     for n in self._names("model")}}
        if "likelihood" in config:
            config["likelihood"] = _resolve_likelihood(self.likelihood, x)
        return {**config, **self._extra_model_config()}

    def _extra_model_config(self) -> dict:
        return {}

    def fit(self, X, y=None):
        """Fit the model to X (y is ignored). Returns self."""
        name = type(self).__name__
        check_params(name, self.get_params(), self._parameter_constraints)
        check_train_limits({n: getattr(self, n) for n in self._names("train")}, name)
        resolve_device(self.device)
        x = self._check_X(X, reset=True)
        labels = self._fit_labels(y, x.shape[0])  # None for models that do not use labels
        seed = int(check_random_state(self.random_state).randint(0, 2 ** 31 - 1))
        # the weights are drawn from torch's global generator: seed it for this fit only and
        # give the caller's generator back untouched
        with torch.random.fork_rng(devices=_cuda_devices(self.device)):
            torch.manual_seed(seed)
            return self._fit(x, labels, seed)

    def _fit(self, x: torch.Tensor, labels: torch.Tensor | None, seed: int):
        self.model_config_ = self._model_config(x)
        self.model_ = store.build_model(self._model_name, self.model_config_,
                                        source=f"This {type(self).__name__}")
        x_train, x_val, y_train, y_val = x, None, labels, None
        if self.validation_fraction > 0:
            n_val = int(round(self.validation_fraction * x.shape[0]))
            if n_val < 1 or n_val >= x.shape[0]:
                raise ConfigError(f"validation_fraction={self.validation_fraction} leaves no "
                                  f"training or no validation rows for {x.shape[0]} samples.")
            perm = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(seed))
            x_train, x_val = x[perm[n_val:]], x[perm[:n_val]]
            if labels is not None:
                y_train, y_val = labels[perm[n_val:]], labels[perm[:n_val]]
        elif self.patience is not None:
            raise ConfigError("patience (early stopping) needs validation_fraction > 0.")
        config = TrainConfig(**{n: coerce(getattr(self, n), self._params[n].constraint)
                                for n in self._names("train")},
                             seed=seed, progress=self.verbose)
        x_train, y_train = self._training_rows(x_train, y_train)
        if has(self.model_, "pretraining"):  # e.g. greedy layer-wise pretraining
            self.pretrain_history_ = pretrain(self.model_, x_train, y=y_train, config=config)
        self.history_ = train(self.model_, x_train, y=y_train, val_x=x_val, val_y=y_val,
                              config=config)
        self.model_.eval()
        self._after_fit(x_train)
        return self

    def _fit_labels(self, y, n: int) -> torch.Tensor | None:
        """Labels for the model's forward, (n,) LongTensor; None: the model ignores y."""
        return None

    def _training_rows(self, x, y):
        """The rows the loop trains on (a subclass may repeat some)."""
        return x, y

    def _after_fit(self, x):
        pass

    # ---- using the model ------------------------------------------------------------------
    def _sampling(self, n_samples, random_state) -> tuple[int, torch.Generator]:
        """For ``sample``: the checked number of samples and a generator on the model's device
        seeded from `random_state`."""
        check_is_fitted(self)
        n_samples = check_count(n_samples, owner=f"{type(self).__name__}.sample")
        seed = int(check_random_state(random_state).randint(2 ** 31 - 1))
        return n_samples, torch.Generator(device=self._device).manual_seed(seed)

    @property
    def _device(self):
        return next(self.model_.parameters()).device

    @torch.no_grad()
    def _batched(self, fn, x: torch.Tensor, batch_size: int = 1000, *,
                 exact: bool = False) -> torch.Tensor:
        """``fn`` over X in chunks. ``exact=True`` (transform, inverse_transform, predict_proba,
        the deterministic reconstruction scores) computes in float64 on the CPU, so that a row's
        result does not depend on its position in the batch (scikit-learn's order and subset
        invariance): float32 matrix kernels (AVX-512 ones, for instance) can round a row one
        unit in the last place differently by where it falls in a block. The model is float32 again afterwards."""
        self.model_.eval()
        wide = exact and self._device.type == "cpu"
        if wide:
            self.model_.double()
        try:
            out = torch.cat([fn(_wide(x[i:i + batch_size], wide).to(self._device)).cpu()
                             for i in range(0, x.shape[0], batch_size)])
        finally:
            if wide:
                self.model_.float()
        return out.float() if out.is_floating_point() else out

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the training binarization deterministically (threshold or a seeded sample)."""
        if self.binarize == "none":
            return x
        mode = "threshold" if self.binarize == "threshold" else "static"
        return Batches(x, None, device="cpu", binarize=mode, seed=0).x.float()

    def transform(self, X):
        """Codes of X, shape (n_samples, latent_dim) (the posterior mean for a VAE)."""
        check_is_fitted(self)
        x = self._check_X(X, reset=False)
        return self._batched(self.model_.encode, x, exact=True).numpy().astype(np.float64)

    def inverse_transform(self, X):
        """Decode codes to the mean of p(x|z), in the layout X had at fit."""
        check_is_fitted(self)
        z = _check_codes(X, self.latent_dim)
        return self._out(self._batched(self.model_.decode, z, exact=True))

    def score(self, X, y=None):
        """Mean of :meth:`score_samples` over X."""
        return float(np.mean(self.score_samples(X)))

    def save(self, path: str | Path) -> Path:
        """Write a run directory (config.json + model.safetensors) that :meth:`load` reads back."""
        check_is_fitted(self)
        params = {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.get_params().items()}
        if not isinstance(params["random_state"], (int, type(None))):
            params["random_state"] = None  # a RandomState object has no JSON form; the fit is saved
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        store.write_config(path, model_name=self._model_name, model_config=self.model_config_,
                          estimator={"class": type(self).__name__, "params": params,
                                     "input_ndim": self.input_ndim_,
                                     "n_features_in": self.n_features_in_},
                          history=self.history_)
        store.save_weights(path, self.model_, self._extra_tensors())
        return path

    def _extra_tensors(self) -> dict:
        return {}

    @classmethod
    def load(cls, path: str | Path, *, device: str = "cpu"):
        """Read an estimator saved by :meth:`save` (safetensors + JSON only; nothing is unpickled)."""
        config = store.read_config(path)
        est_info = config.get("estimator")
        if not est_info or est_info.get("class") != cls.__name__:
            found = (est_info or {}).get("class") or f"a '{config['model']}' training run"
            article = "an" if cls.__name__[0] in "AEIOU" else "a"
            raise ConfigError(f"{path} holds {found}, not {article} {cls.__name__} estimator. "
                              f"Use hourglass.runs.store.load_model for training runs.")
        params = {k: tuple(v) if isinstance(v, list) else v for k, v in est_info["params"].items()}
        est = cls._from_saved_params(params, path)
        model, config, extra = store.load_model(path, device=device,
                                                extra_names=cls._extra_tensor_names)
        est.model_, est.model_config_ = model, config["model_config"]
        est.input_shape_ = tuple(config["model_config"]["input_shape"])
        est.input_ndim_, est.n_features_in_ = _saved_layout(est_info, est.input_shape_, path)
        est.history_ = config.get("history", [])
        est._load_extra(extra)
        return est

    def _load_extra(self, extra: dict):
        pass

    _extra_tensor_names: tuple = ()  # the extra.* tensors of model.safetensors (_extra_tensors)

    @classmethod
    def _from_saved_params(cls, params: dict, path):
        """The estimator of saved `params`, checked as ``fit`` checks them: a key the class does
        not take, or a value outside its constraint, is refused."""
        unknown = sorted(set(params) - set(cls._params))
        if unknown:
            raise ConfigError(f"{path}: the saved {cls.__name__} has parameter(s) "
                              f"{', '.join(map(repr, unknown))} that {cls.__name__} does not take. "
                              "Load it with the Hourglass version that saved it, or fit it again.")
        est = cls(**params)
        try:
            check_params(cls.__name__, est.get_params(), est._parameter_constraints)
            check_train_limits({n: getattr(est, n) for n in est._names("train")}, cls.__name__)
        except ConfigError as e:
            raise ConfigError(f"{path} holds a saved {cls.__name__} that cannot be used: {e}") \
                from None
        return est

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64"]
        tags.non_deterministic = False
        return tags


def _saved_layout(info: dict, input_shape: tuple, path) -> tuple[int, int]:
    """(input_ndim, n_features_in) of a saved estimator, checked against its model's input."""
    ndim, n_features = info.get("input_ndim"), info.get("n_features_in")
    if ndim not in (2, 3, 4) or isinstance(ndim, bool):
        raise ConfigError(f"{path}: the saved input_ndim = {ndim!r} is not 2, 3 or 4. Restore "
                          "the saved files, or fit the estimator again.")
    if n_features != math.prod(input_shape) or isinstance(n_features, bool):
        raise ConfigError(f"{path}: the saved n_features_in = {n_features!r} does not match the "
                          f"model's input shape {input_shape} ({math.prod(input_shape)} "
                          "features). Restore the saved files, or fit the estimator again.")
    return ndim, n_features


def _resolve_likelihood(likelihood: str, x: torch.Tensor) -> str:
    """``"auto"``: Bernoulli for data in [0, 1], else Gaussian; Bernoulli on other data is refused."""
    in_unit = bool(((x >= 0) & (x <= 1)).all())
    if likelihood == "auto":
        return "bernoulli" if in_unit else "gaussian"
    if likelihood == "bernoulli" and not in_unit:
        raise ConfigError("likelihood='bernoulli' needs data in [0, 1]; this X has values "
                          f"in [{float(x.min()):.4g}, {float(x.max()):.4g}]. Scale X to [0, 1] "
                          "or use likelihood='gaussian'.")
    return likelihood


def _cuda_devices(device: str) -> list:
    """The CUDA devices whose generators a fit on `device` draws from (none on the CPU)."""
    resolved = resolve_device(device)
    return [] if resolved.type != "cuda" else [resolved.index or 0]


def fitted_attributes_doc(title: str, model_name: str) -> str:
    """The numpydoc entries of the attributes that every fitted estimator has."""
    return (f"    model_ : torch.nn.Module\n        The fitted {title} model (registry name "
            f"``\"{model_name}\"``).\n"
            "    model_config_ : dict\n"
            "        Its configuration, enough to rebuild it (written by :meth:`save`).\n"
            "    history_ : list of dict\n"
            "        One row per epoch: ``train_<term>`` for each loss term, ``val_<term>`` with a\n"
            "        validation split, ``time_s``.\n"
            "    input_shape_ : tuple of int\n"
            "        Shape of one example as the model sees it, ``(D,)`` or ``(C, H, W)``.\n"
            "    n_features_in_ : int\n"
            "        Number of features of X seen at ``fit``.\n")


def _with_attributes_doc(doc: str, common: str) -> str:
    """`doc` with the `common` attribute entries first in its Attributes section (which is
    created, before the Examples or at the end, when the class lists no attributes of its own)."""
    header = "    Attributes\n    ----------\n"
    if header in doc:
        return doc.replace(header, header + common, 1)
    head, sep, tail = doc.partition("    Examples\n")
    return head.rstrip() + "\n\n" + header + common + "\n" + (sep + tail if sep else "")


def _with_params_doc(doc: str, params: str) -> str:
    """`doc` with the numpydoc Parameters section inserted before its Attributes or Examples
    (or at the end)."""
    marker = "    Attributes\n" if "    Attributes\n" in doc else "    Examples\n"
    head, sep, tail = doc.partition(marker)
    section = "\n".join("    " + line if line else "" for line in params.splitlines())
    return head.rstrip() + "\n\n" + section + "\n\n" + (sep + tail if sep else "")


def _wide(x: torch.Tensor, wide: bool) -> torch.Tensor:
    return x.double() if wide and x.is_floating_point() else x


def _check_codes(Z, latent_dim: int) -> torch.Tensor:
    Z = np.asarray(_to_numpy(Z), dtype=np.float64) if not isinstance(Z, np.ndarray) else Z
    if Z.ndim != 2 or Z.shape[1] != latent_dim:
        raise ConfigError(f"Codes must have shape (n_samples, {latent_dim}); got {Z.shape}.")
    if not np.isfinite(Z).all():
        raise ConfigError("Codes contain NaN or infinity.")
    return torch.as_tensor(Z, dtype=torch.float32)


class AE(_AutoencoderEstimator):
    """Autoencoder as a scikit-learn transformer.

    ``score_samples`` is the log-likelihood of each input under its own reconstruction,
    $\\log p(x \\mid g(h(x)))$ (minus the reconstruction error; not a density of x).
    ``sample`` decodes draws from a Gaussian fitted to the training codes.

    Attributes
    ----------
    code_mean_, code_cov_ : torch.Tensor
        Mean and covariance of the training codes, from which :meth:`sample` draws.

    Examples
    --------
    >>> import numpy as np
    >>> from hourglass import AE
    >>> X = np.random.default_rng(0).random((200, 16))
    >>> ae = AE(latent_dim=2, hidden=(32,), epochs=2, random_state=0).fit(X)
    >>> ae.transform(X).shape
    (200, 2)
    """

    _model_name = "ae"
    _title = "autoencoder"

    def _after_fit(self, x):
        z = self._batched(self.model_.encode, x).double()
        self.code_mean_ = z.mean(0)
        self.code_cov_ = torch.atleast_2d(torch.cov(z.T)) if z.shape[0] > 1 else torch.eye(z.shape[1])

    _extra_tensor_names = ("code_mean", "code_cov")

    def _extra_tensors(self):
        return {"code_mean": self.code_mean_, "code_cov": self.code_cov_}

    def _load_extra(self, extra):
        self.code_mean_, self.code_cov_ = extra["code_mean"], extra["code_cov"]

    def score_samples(self, X):
        """Per-sample $\\log p(x \\mid g(h(x)))$, nats."""
        check_is_fitted(self)
        x = self._prepare(self._check_X(X, reset=False))
        return self._batched(self.model_.reconstruction_log_likelihood, x,
                             exact=True).numpy().astype(np.float64)

    def sample(self, n_samples: int = 1, *, random_state=None):
        """Decode `n_samples` codes drawn from N(mean, cov) of the training codes."""
        check_is_fitted(self)
        n_samples = check_count(n_samples, owner=f"{type(self).__name__}.sample")
        rng = check_random_state(random_state)
        cov = self.code_cov_.numpy() + 1e-6 * np.eye(self.latent_dim)
        z = rng.multivariate_normal(self.code_mean_.numpy(), cov, size=n_samples)
        return self._out(self._batched(self.model_.decode, torch.as_tensor(z, dtype=torch.float32)))


class VAE(_AutoencoderEstimator):
    """Variational autoencoder as a scikit-learn transformer and density estimator.

    ``transform`` gives the posterior means; ``score_samples`` the importance-weighted bound
    $\\mathcal L_k(x) \\le \\log p(x)$ with ``k = n_importance`` samples, in nats; ``sample`` decodes
    draws from the N(0, I) prior. ``beta > 1`` makes it a beta-VAE.

    Examples
    --------
    >>> import numpy as np
    >>> from hourglass import VAE
    >>> X = np.random.default_rng(0).random((200, 16))
    >>> vae = VAE(latent_dim=2, hidden=(32,), epochs=2, random_state=0).fit(X)
    >>> vae.transform(X).shape, vae.sample(5).shape
    ((200, 2), (5, 16))
    """

    _model_name = "vae"
    _title = "variational autoencoder"
    _extra_options = (ImportanceOptions,)

    def score_samples(self, X):
        """Per-sample importance-weighted log-likelihood bound (k = n_importance), nats."""
        check_is_fitted(self)
        x = self._prepare(self._check_X(X, reset=False))
        seed = 0 if self.random_state is None else int(check_random_state(self.random_state).randint(2 ** 31 - 1))
        gen = torch.Generator(device=self._device).manual_seed(seed)
        fn = lambda xb: self.model_.log_prob(xb, k=self.n_importance, generator=gen)  # noqa: E731
        return self._batched(fn, x, batch_size=100).numpy().astype(np.float64)

    def sample(self, n_samples: int = 1, *, random_state=None):
        """Decode `n_samples` draws from the prior N(0, I): the mean of p(x|z)."""
        n_samples, gen = self._sampling(n_samples, random_state)
        return self._out(self.model_.sample(n_samples, generator=gen))


# --------------------------------------------------------------------------------------------
# the regularized autoencoders: an AE whose model takes a few more parameters


class _RegularizedAE(AE):
    """``AE`` over a model with a regularizer of its own (its options come from its config)."""


class DAE(_RegularizedAE):
    """Denoising autoencoder as a scikit-learn transformer: trained to reconstruct X from a
    corrupted copy (``corruption`` = masking, gaussian or salt-and-pepper at ``corruption_level``).

    Attributes
    ----------
    code_mean_, code_cov_ : torch.Tensor
        Mean and covariance of the training codes, from which :meth:`sample` draws.

    Examples
    --------
    >>> import numpy as np
    >>> from hourglass import DAE
    >>> X = np.random.default_rng(0).random((200, 16))
    >>> DAE(latent_dim=2, hidden=(32,), corruption_level=0.5, epochs=2, random_state=0).fit(X).transform(X).shape
    (200, 2)
    """

    _model_name = "dae"
    _title = "denoising autoencoder"


class SCAE(_RegularizedAE):
    """Stochastic contractive autoencoder: reconstruction + ``contraction`` * E||h(x) - h(x~)||^2.

    Attributes
    ----------
    code_mean_, code_cov_ : torch.Tensor
        Mean and covariance of the training codes, from which :meth:`sample` draws.

    Examples
    --------
    >>> import numpy as np
    >>> from hourglass import SCAE
    >>> X = np.random.default_rng(0).random((200, 16))
    >>> SCAE(latent_dim=2, hidden=(32,), contraction=0.1, epochs=2, random_state=0).fit(X).transform(X).shape
    (200, 2)
    """

    _model_name = "scae"
    _title = "stochastic contractive autoencoder"


class CAE(_RegularizedAE):
    """Contractive autoencoder: reconstruction + ``contraction`` * ||J_h(x)||_F^2; by default the
    one-layer sigmoid encoder of Rifai et al. (2011) with the closed-form penalty.

    Attributes
    ----------
    code_mean_, code_cov_ : torch.Tensor
        Mean and covariance of the training codes, from which :meth:`sample` draws.

    Examples
    --------
    >>> import numpy as np
    >>> from hourglass import CAE
    >>> X = np.random.default_rng(0).random((200, 16))
    >>> CAE(latent_dim=2, hidden=(32,), contraction=0.1, epochs=2, random_state=0).fit(X).transform(X).shape
    (200, 2)
    """

    _model_name = "cae"
    _title = "contractive autoencoder"


class SparseAE(_RegularizedAE):
    """Sparse autoencoder: reconstruction + ``sparsity_weight`` * (KL of the mean activations to
    ``target_rate``, or the L1 norm of the code).

    Attributes
    ----------
    code_mean_, code_cov_ : torch.Tensor
        Mean and covariance of the training codes, from which :meth:`sample` draws.

    Examples
    --------
    >>> import numpy as np
    >>> from hourglass import SparseAE
    >>> X = np.random.default_rng(0).random((200, 16))
    >>> SparseAE(latent_dim=2, hidden=(32,), sparsity_weight=0.1, epochs=2, random_state=0).fit(X).transform(X).shape
    (200, 2)
    """

    _model_name = "sparse-ae"
    _title = "sparse autoencoder"

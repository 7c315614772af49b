r"""Debiasing by latent-density re-sampling (Amini et al. 2019, "Uncovering and Mitigating
Algorithmic Bias through Learned Latent Structure").

A model's codes $z(x)$ show which inputs are common and which are rare, without any label saying
so. At the start of every epoch the codes of the training data are computed; per latent dimension
$i$ a histogram $\hat Q_i$ (fractions of the codes in each of ``bins`` equal-width bins) estimates
their density, and each example is drawn with probability proportional to its inverse density,
smoothed by $\alpha$:

- ``combine="product"`` (the paper's equation): $W(x) \propto \prod_i 1 / (\hat Q_i(z_i(x)) + \alpha)$;
- ``combine="max"`` (the MIT 6.S191 lab's code, the default): $W(x) \propto \max_i 1 / (\hat Q_i(z_i(x)) + \alpha)$,
  which does not let many moderately rare dimensions multiply into a few huge weights.

Large $\alpha$ makes the weights uniform (plain training); $\alpha = 0$ equalizes the mass of every
occupied bin. :class:`DebiasSampler` is the ``sample_weights`` callable of
:func:`hourglass.train.train`; :mod:`hourglass.experiments.debias` (``hourglass debias``) trains a
``db-vae`` classifier with and without re-sampling on data made imbalanced on purpose.
"""

from __future__ import annotations

import numpy as np
import torch

from hourglass.core.validation import Interval, Options, check_params
from hourglass.core.errors import ConfigError, DataError
from hourglass.evaluate.metrics import batched
from hourglass.models.protocol import has

COMBINE = ("max", "product")
CONSTRAINTS = {"bins": Interval(int, 1, None), "alpha": Interval(float, 0, None),
               "combine": Options(COMBINE)}


def latent_sampling_weights(z, *, bins: int = 10, alpha: float = 0.001,
                            combine: str = "max") -> np.ndarray:
    """Sampling probabilities (n,), summing to 1, inversely proportional to the per-dimension
    histogram density of the codes `z` (n, d); see the module docstring for the equations."""
    check_params("latent_sampling_weights", {"bins": bins, "alpha": alpha, "combine": combine},
                 CONSTRAINTS)
    z = np.asarray(z, dtype=np.float64)
    z = z.reshape(len(z), -1)
    if len(z) == 0 or not np.isfinite(z).all():
        raise DataError("latent_sampling_weights needs at least one code and finite codes.")
    n = len(z)
    log_w = np.empty_like(z)                                          # (n, d)
    for i in range(z.shape[1]):
        counts, edges = np.histogram(z[:, i], bins=bins)
        q = counts / n                                                # $\hat Q_i$, sums to 1
        b = np.clip(np.searchsorted(edges, z[:, i], side="right") - 1, 0, bins - 1)
        if alpha == 0 and (q[b] == 0).any():                          # cannot happen: z made q
            raise AssertionError("an example fell in an empty bin")
        log_w[:, i] = -np.log(q[b] + alpha)                           # $\log 1/(\hat Q_i + \alpha)$
    log_w = log_w.max(axis=1) if combine == "max" else log_w.sum(axis=1)
    w = np.exp(log_w - log_w.max())                                   # stable for the product
    return w / w.sum()


class DebiasSampler:
    """``sample_weights`` for the trainer: re-estimates the latent density at every epoch start.

    Called with the epoch number, it encodes ``x``, estimates the density of the codes with
    :func:`latent_sampling_weights` and returns each example's probability of being drawn.

    Parameters
    ----------
    model : torch.nn.Module
        A model with ``encode`` (the codes whose density is estimated).
    x : torch.Tensor of shape (n, ...)
        The training inputs as the trainer gets them (uint8 is read as x/255).
    bins : int, default=10
        Equal-width histogram bins per latent dimension.
    alpha : float, default=0.001
        Smoothing of the inverse density; a large value gives back uniform sampling.
    combine : {"max", "product"}, default="max"
        How the per-dimension weights combine: their maximum, or their product (Amini et al.
        2019's equation).
    batch_size : int, default=1000
        Examples encoded at once.

    Attributes
    ----------
    weights : numpy.ndarray of shape (n,) or None
        The probabilities of the last call (None before the first).

    Examples
    --------
    >>> from hourglass.models import build
    >>> from hourglass.train import TrainConfig, train
    >>> from hourglass.uses.debias import DebiasSampler
    >>> import torch
    >>> x = torch.rand(64, 16)
    >>> model = build("vae", input_shape=(16,), latent_dim=2, hidden=(8,))
    >>> sampler = DebiasSampler(model, x, bins=5)
    >>> history = train(model, x, config=TrainConfig(epochs=1, progress=False),
    ...                 sample_weights=sampler)
    >>> sampler.weights.shape, round(float(sampler.weights.sum()), 6)
    ((64,), 1.0)
    """

    def __init__(self, model, x: torch.Tensor, *, bins: int = 10, alpha: float = 0.001,
                 combine: str = "max", batch_size: int = 1000):
        check_params("DebiasSampler", {"bins": bins, "alpha": alpha, "combine": combine},
                     CONSTRAINTS)
        if not has(model, "encode"):
            raise ConfigError(f"Debiasing re-samples by the density of the codes; the "
                              f"{type(model).__name__} model has no encoder.")
        self.model, self.x = model, x
        self.bins, self.alpha, self.combine, self.batch_size = bins, alpha, combine, batch_size
        self.weights: np.ndarray | None = None

    def codes(self) -> np.ndarray:
        was_training = self.model.training
        self.model.eval()
        device = next(self.model.parameters()).device
        z = batched(self.model.encode, self.x, batch_size=self.batch_size, device=device)
        self.model.train(was_training)
        return z.numpy()

    def __call__(self, epoch: int) -> torch.Tensor:
        self.weights = latent_sampling_weights(self.codes(), bins=self.bins, alpha=self.alpha,
                                               combine=self.combine)
        return torch.from_numpy(self.weights)


def make_imbalanced(y, rare_class: int, keep: float, *, seed: int = 0) -> np.ndarray:
    """Sorted indices that keep every example except all but a `keep` share (at least one) of
    class `rare_class`, drawn with `seed`."""
    y = np.asarray(y)
    if not 0 < keep <= 1:
        raise ConfigError(f"keep must be a share in (0, 1]. Got {keep!r} instead.")
    rare = np.flatnonzero(y == rare_class)
    if len(rare) == 0:
        raise DataError(f"Class {rare_class} has no training examples to thin out; pick a class "
                        f"in 0..{int(y.max())}.")
    kept = np.random.default_rng(seed).permutation(rare)[:max(1, round(keep * len(rare)))]
    return np.sort(np.r_[np.flatnonzero(y != rare_class), kept])


@torch.no_grad()
def predict(model, x: torch.Tensor, *, batch_size: int = 1000) -> np.ndarray:
    model.eval()
    device = next(model.parameters()).device
    return batched(model.classify, x, batch_size=batch_size, device=device).argmax(1).numpy()

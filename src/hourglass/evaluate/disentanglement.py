r"""Disentanglement metrics, for data whose generating factors are known (sprites).

A representation is a function ``represent(factors) -> codes``: factor indices ``(N, F)`` (ints,
factor ``k`` in ``0..factor_sizes[k]-1``) to codes ``(N, d)``. For a trained model it renders the
images of those factors and encodes them (see :func:`image_representation`); the tests use codes
built from the factors directly, where the answer is known. All three scores are 1 for a code
that keeps each factor in a unit of its own, and at chance for noise.

- :func:`beta_vae_score` (Higgins et al. 2017): pairs of inputs that share one factor, chosen
  at random; a linear classifier must tell which factor was shared from the mean absolute
  difference of their codes, $\frac1L\sum_l |z^{(1)}_l - z^{(2)}_l|$. Score: its test
  accuracy (chance: 1/F).
- :func:`factor_vae_score` (Kim & Mnih 2018): fix one factor over a batch, divide each code unit
  by its standard deviation over the data, and vote for the unit with the least variance; a
  majority-vote classifier from units to factors is scored on fresh votes. Unlike the beta-VAE
  score it is not fooled by a code that needs several units for one factor (chance: about 1/F).
- :func:`mig_score` (Chen et al. 2018), the mutual information gap:
  $\frac1F\sum_k \frac{1}{H(v_k)}\big(I(z_{j^{(k)}}; v_k) - \max_{j \ne j^{(k)}} I(z_j; v_k)\big)$
  with $j^{(k)} = \arg\max_j I(z_j; v_k)$, codes discretized into ``n_bins`` equal-width bins
  per unit (chance: 0). Binning caps it below 1 for factors with more values than bins.

Sample sizes default to a fifth of disentanglement_lib's (Locatello et al. 2019) so that a CPU
evaluates a model in about a minute; pass larger ones for tighter numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import mutual_info_score

from hourglass.core.errors import ConfigError
from hourglass.evaluate.metrics import batched

__all__ = ["beta_vae_score", "factor_vae_score", "mig_score", "mutual_information_gap",
           "disentanglement_scores", "image_representation", "sample_factors"]

Represent = Callable[[np.ndarray], np.ndarray]


def sample_factors(factor_sizes: Sequence[int], n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` factor combinations drawn uniformly from the product, int (n, F)."""
    return np.stack([rng.integers(0, k, n) for k in factor_sizes], axis=1)


def _codes(represent: Represent, factors: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """``represent`` over `factors` in chunks (bounded memory), as float64 (N, d)."""
    out = [np.asarray(represent(factors[i:i + chunk]), dtype=np.float64)
           for i in range(0, len(factors), chunk)]
    codes = np.concatenate(out)
    if codes.ndim != 2 or len(codes) != len(factors):
        raise ConfigError(f"represent must return codes of shape (N, d) for N factor rows; got "
                          f"{codes.shape} for {len(factors)} rows.")
    return codes


def _check_sizes(factor_sizes) -> list[int]:
    sizes = [int(k) for k in factor_sizes]
    if len(sizes) < 2 or min(sizes) < 2:
        raise ConfigError(f"factor_sizes needs at least two factors of at least two values each; "
                          f"got {tuple(factor_sizes)}.")
    return sizes


def _shared_factor_pairs(sizes, n_points, batch_size, rng):
    """For each point: a factor k and two batches of factors that agree on factor k only."""
    F = len(sizes)
    k = rng.integers(0, F, n_points)                               # (n,)
    a = sample_factors(sizes, n_points * batch_size, rng).reshape(n_points, batch_size, F)
    b = sample_factors(sizes, n_points * batch_size, rng).reshape(n_points, batch_size, F)
    rows = np.arange(n_points)
    b[rows, :, k] = a[rows, :, k]                                  # share factor k
    return k, a.reshape(-1, F), b.reshape(-1, F)


def beta_vae_score(represent: Represent, factor_sizes: Sequence[int], *, n_train: int = 2000,
                   n_test: int = 1000, batch_size: int = 64, seed: int = 0) -> float:
    r"""The beta-VAE metric: test accuracy of a linear classifier that predicts the shared factor
    $k$ from $\frac1L\sum_l |z(v^{(1)}_l) - z(v^{(2)}_l)|$ over `batch_size` pairs sharing $k$."""
    sizes = _check_sizes(factor_sizes)
    rng = np.random.default_rng(seed)

    def points(n):
        k, a, b = _shared_factor_pairs(sizes, n, batch_size, rng)
        diff = np.abs(_codes(represent, a) - _codes(represent, b))  # (n*L, d)
        return diff.reshape(n, batch_size, -1).mean(1), k          # (n, d), (n,)

    x_train, k_train = points(n_train)
    x_test, k_test = points(n_test)
    clf = LogisticRegression(max_iter=2000).fit(x_train, k_train)
    return float(clf.score(x_test, k_test))


def _global_std(represent, sizes, n, rng):
    return _codes(represent, sample_factors(sizes, n, rng)).std(0)


def factor_vae_score(represent: Represent, factor_sizes: Sequence[int], *, n_train: int = 2000,
                     n_test: int = 1000, batch_size: int = 64, n_variance: int = 5000,
                     prune_std: float = 0.05, seed: int = 0) -> float:
    r"""The FactorVAE metric: fix factor $k$ over `batch_size` inputs, vote for
    $\arg\min_j \mathrm{Var}(z_j / s_j)$ ($s_j$: the unit's std over `n_variance` inputs; units
    with $s_j <$ `prune_std` are collapsed and never voted for); score the majority vote per unit
    on `n_test` fresh votes."""
    sizes = _check_sizes(factor_sizes)
    rng = np.random.default_rng(seed)
    std = _global_std(represent, sizes, n_variance, rng)
    active = std >= prune_std
    if not active.any():
        return 1.0 / len(sizes)  # every unit collapsed: the classifier can only guess

    def votes(n):
        F = len(sizes)
        k = rng.integers(0, F, n)
        v = sample_factors(sizes, n * batch_size, rng).reshape(n, batch_size, F)
        v[np.arange(n), :, k] = v[np.arange(n), :1, k]            # hold factor k at one value
        z = _codes(represent, v.reshape(-1, F))[:, active] / std[active]
        var = z.reshape(n, batch_size, -1).var(1, ddof=1)          # (n, d_active)
        counts = np.zeros((int(active.sum()), F))
        np.add.at(counts, (var.argmin(1), k), 1)                   # counts[unit, factor]
        return counts

    train, test = votes(n_train), votes(n_test)
    unit_to_factor = train.argmax(1)                               # majority vote per unit
    return float(test[np.arange(len(test)), unit_to_factor].sum() / test.sum())


def _discretize(codes: np.ndarray, n_bins: int) -> np.ndarray:
    """Each code unit into `n_bins` equal-width bins over its range: ints (N, d)."""
    out = np.empty(codes.shape, dtype=np.int64)
    for j in range(codes.shape[1]):  # one step per unit
        edges = np.histogram_bin_edges(codes[:, j], bins=n_bins)
        out[:, j] = np.digitize(codes[:, j], edges[1:-1])
    return out


def mutual_information_gap(codes, factors, *, n_bins: int = 20) -> float:
    """MIG of codes (N, d) against discrete factors (N, F) observed together (see the module)."""
    codes, factors = np.asarray(codes, dtype=np.float64), np.asarray(factors)
    if codes.ndim != 2 or factors.ndim != 2 or len(codes) != len(factors):
        raise ConfigError(f"codes (N, d) and factors (N, F) must have the same N; got "
                          f"{codes.shape} and {factors.shape}.")
    if codes.shape[1] < 2:
        raise ConfigError("MIG compares the best and second-best unit: codes need d >= 2.")
    z = _discretize(codes, n_bins)
    gaps = []
    for k in range(factors.shape[1]):
        h = mutual_info_score(factors[:, k], factors[:, k])        # H(v_k), nats
        if h == 0:
            continue  # a constant factor carries nothing to recover
        mi = np.sort([mutual_info_score(factors[:, k], z[:, j]) for j in range(z.shape[1])])
        gaps.append((mi[-1] - mi[-2]) / h)
    return float(np.mean(gaps))


def mig_score(represent: Represent, factor_sizes: Sequence[int], *, n: int = 10000,
              n_bins: int = 20, seed: int = 0) -> float:
    """MIG over `n` inputs with factors drawn uniformly from the product."""
    sizes = _check_sizes(factor_sizes)
    factors = sample_factors(sizes, n, np.random.default_rng(seed))
    return mutual_information_gap(_codes(represent, factors), factors, n_bins=n_bins)


def disentanglement_scores(represent: Represent, factor_sizes: Sequence[int], *,
                           seed: int = 0) -> dict[str, float]:
    """The three scores with their default sample sizes: ``beta_vae``, ``factor_vae``, ``mig``."""
    return {"beta_vae": beta_vae_score(represent, factor_sizes, seed=seed),
            "factor_vae": factor_vae_score(represent, factor_sizes, seed=seed),
            "mig": mig_score(represent, factor_sizes, seed=seed)}


def image_representation(encode, render, *, batch_size: int = 1000, device=None) -> Represent:
    """``represent`` for a model: ``encode(render(factors))`` in batches, as numpy codes.

    `render` maps factor indices to images (uint8 images are read as x/255), e.g.
    ``Sprites(28).render``; `encode` is a model's ``encode``.
    """

    def represent(factors):
        x = torch.as_tensor(render(factors))
        return batched(encode, x, batch_size=batch_size, device=device).numpy()

    return represent

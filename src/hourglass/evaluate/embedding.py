r"""How faithful an embedding is to its input: trustworthiness, continuity, distance preservation.

With $r(i, j)$ the rank of $j$ among the neighbours of $i$ in the input space and $\hat r(i, j)$
its rank in the embedding, $U_k(i)$ the points among the $k$ nearest neighbours of $i$ in the
embedding but not in the input, and $V_k(i)$ those among the $k$ nearest in the input but not in
the embedding (Venna & Kaski 2001):

$T(k) = 1 - \frac{2}{nk(2n - 3k - 1)} \sum_i \sum_{j \in U_k(i)} (r(i, j) - k)$  (no false neighbours)

$C(k) = 1 - \frac{2}{nk(2n - 3k - 1)} \sum_i \sum_{j \in V_k(i)} (\hat r(i, j) - k)$  (no torn neighbourhoods)

Continuity is trustworthiness with the roles of the two spaces swapped, which is how it is computed.
Both are 1 for an embedding that keeps every k-neighbourhood.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import pdist
from scipy.stats import spearmanr
from sklearn.manifold import trustworthiness as _sklearn_trustworthiness

from hourglass.core.errors import ConfigError, DataError


def _check_pair(x, z, k: int) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    z = np.asarray(z, dtype=np.float64).reshape(len(z), -1)
    if len(x) != len(z):
        raise DataError(f"The input has {len(x)} points but the embedding has {len(z)}; "
                        "pass one embedded point per input point.")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k < len(x) / 2:
        raise ConfigError(f"k must be an int in [1, n/2) for n = {len(x)} points. Got {k!r} "
                          "instead. Lower k or evaluate on more points.")
    return x, z


def trustworthiness(x, z, *, k: int = 10) -> float:
    """T(k) of the embedding `z` (n, d) of the points `x` (n, D): 1 when no point's k nearest
    neighbours in `z` are strangers in `x` (scikit-learn's ``trustworthiness``)."""
    x, z = _check_pair(x, z, k)
    return float(_sklearn_trustworthiness(x, z, n_neighbors=int(k)))


def continuity(x, z, *, k: int = 10) -> float:
    """C(k) of the embedding `z` of `x`: 1 when every point's k nearest neighbours in `x` stay
    near it in `z`. The mirror of :func:`trustworthiness`: ``trustworthiness(z, x)``."""
    x, z = _check_pair(x, z, k)
    return float(_sklearn_trustworthiness(z, x, n_neighbors=int(k)))


def distance_correlation(t, z) -> float:
    """Spearman rank correlation between all pairwise distances of `t` (n, p) and of `z` (n, d).

    With `t` the true (geodesic) coordinates of points on a manifold, 1 means the embedding keeps
    the order of every geodesic distance.
    """
    t = np.asarray(t, dtype=np.float64).reshape(len(t), -1)
    z = np.asarray(z, dtype=np.float64).reshape(len(z), -1)
    if len(t) != len(z) or len(t) < 3:
        raise DataError(f"distance_correlation needs the same number (>= 3) of points in both; "
                        f"got {len(t)} and {len(z)}.")
    return float(spearmanr(pdist(t), pdist(z)).statistic)


def swiss_roll_arc_length(t):
    r"""Arc length along scikit-learn's swiss roll ($x = t\cos t$, $z = t\sin t$) from angle 0:

    $s(t) = \int_0^t \sqrt{1 + u^2}\,du = \tfrac12\,(t\sqrt{1 + t^2} + \operatorname{asinh} t)$

    so that (s, height) are distances on the unrolled sheet (geodesic coordinates).
    """
    t = np.asarray(t, dtype=np.float64)
    return 0.5 * (t * np.sqrt(1 + t ** 2) + np.arcsinh(t))


def sheet_coordinates(name: str, t) -> np.ndarray:
    """Geodesic coordinates of the manifold datasets from their stored (angle, height) ones.

    The S-curve's curve has unit speed, so its angle already is an arc length; the swiss roll's
    angle becomes one through :func:`swiss_roll_arc_length`. Other data: `t` as given.
    """
    t = np.array(t, dtype=np.float64)
    if name == "swiss-roll":
        t[:, 0] = swiss_roll_arc_length(t[:, 0])
    return t

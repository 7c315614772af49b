"""Labels for semi-supervised learning: keep a few, hide the rest as ``-1`` (scikit-learn's
convention), and repeat the kept ones so that every batch sees some.

>>> import torch
>>> y = torch.arange(10).repeat(3)                    # 30 labels, 3 per class
>>> keep_labels(y, 10, seed=0).ne(-1).sum().item()    # one kept per class
10
"""

from __future__ import annotations

import math

import numpy as np
import torch

from hourglass.core.errors import ConfigError, DataError

__all__ = ["keep_labels", "repeat_labelled", "UNLABELLED"]

UNLABELLED = -1


def keep_labels(y: torch.Tensor, n: int, *, seed: int = 0) -> torch.Tensor:
    """A copy of `y` that keeps `n` labels, balanced across classes, and sets the others to -1.

    Each of the K classes keeps ``n // K`` labels (the first ``n % K`` classes one more), drawn
    with `seed`; the same `seed` keeps the same rows.
    """
    y = torch.as_tensor(y)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ConfigError(f"The number of labels to keep must be an int >= 1. Got {n!r} instead.")
    classes = torch.unique(y[y >= 0])
    K = len(classes)
    if K == 0:
        raise DataError("These labels are all -1 (unlabelled); there is nothing to keep.")
    rng = np.random.default_rng(seed)
    out = torch.full_like(y, UNLABELLED)
    for j, c in enumerate(classes.tolist()):  # one loop step per class, not per example
        rows = torch.nonzero(y == c).flatten().numpy()
        want = n // K + (j < n % K)
        if want > len(rows):
            raise DataError(f"Class {c} has {len(rows)} labelled examples but {want} were asked "
                            f"for ({n} labels balanced over {K} classes); ask for fewer labels.")
        keep = rng.choice(rows, size=want, replace=False)
        out[keep] = y[keep]
    return out


def repeat_labelled(x: torch.Tensor, y: torch.Tensor,
                    share: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Repeat the labelled rows (``y >= 0``) a whole number of times so that they make up at least
    `share` of the rows; with few labels most batches would otherwise hold none.

    The repeat count is $r = \\lceil s\\,N_u / ((1 - s)\\,N_l) \\rceil$ for $N_l$ labelled and $N_u$
    unlabelled rows; the repeats are appended after the original rows. ``share=0`` returns the
    data unchanged.
    """
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share < 1:
        raise ConfigError(f"The labelled share must be a float in the range [0, 1). "
                          f"Got {share!r} instead.")
    lab = y >= 0
    n_l, n_u = int(lab.sum()), int((~lab).sum())
    if share == 0 or n_l == 0 or n_l / (n_l + n_u) >= share:
        return x, y
    r = math.ceil(share * n_u / ((1 - share) * n_l))
    idx = torch.nonzero(lab).flatten().repeat(r - 1)
    return torch.cat([x, x[idx]]), torch.cat([y, y[idx]])

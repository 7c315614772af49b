r"""Unpaired two-domain datasets for image-to-image translation (CycleGAN, Zhu et al. 2017).

Domain A holds images of a base dataset; domain B holds a deterministic local transformation $T$
of *other* images of the same dataset. Each split (train, validation, test) of the base dataset is
partitioned at random into two disjoint halves: the first half goes to A as it is, the second
half to B through $T$. An image and its own transform are therefore never both in the data, so no
model trained on it can see a pair: the correspondence $a \mapsto T(a)$ is known (it is $T$) but
only used to score a translation afterwards (:meth:`Unpaired.truth`).

The rows of a split are the A images followed by the B images; ``y`` is the domain of each row
(``0`` for A, ``1`` for B). The training loop shuffles the rows, so every batch draws A and B
images independently, as CycleGAN's unpaired sampling does.

Transformations (``TRANSFORMS``):

- ``thick``: strokes thickened by one pixel, a grey-scale dilation with a plus-shaped 3x3
  element, $T(x)_{ij} = \max(x_{ij}, x_{i\pm1,\,j}, x_{i,\,j\pm1})$ (over the neighbours inside
  the image). Local, nonlinear and not invertible, so a translation has to be learned, not
  copied.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from hourglass.core.errors import ConfigError, DataError
from hourglass.data.dataset import Dataset, Split

__all__ = ["DOMAIN_A", "DOMAIN_B", "TRANSFORMS", "Unpaired", "thicken", "unpaired"]

DOMAIN_A, DOMAIN_B = 0, 1
PARTITION_SEED = 2017  # which half of each split goes to which domain (the same for every seed)
SPLITS = ("train", "val", "test")


def thicken(x: torch.Tensor) -> torch.Tensor:
    r"""Grey-scale dilation by a plus-shaped 3x3 element, per channel:
    $T(x)_{ij} = \max(x_{ij}, x_{i-1,j}, x_{i+1,j}, x_{i,j-1}, x_{i,j+1})$, over the neighbours
    inside the image. Images (N, C, H, W), any dtype (``uint8`` stays ``uint8``: a maximum of
    stored values is exact)."""
    if x.dim() != 4:
        raise DataError(f"thicken takes images (N, C, H, W); got shape {tuple(x.shape)}.")
    out = x.clone()
    out[..., 1:, :] = torch.maximum(out[..., 1:, :], x[..., :-1, :])    # from the pixel above
    out[..., :-1, :] = torch.maximum(out[..., :-1, :], x[..., 1:, :])   # from below
    out[..., :, 1:] = torch.maximum(out[..., :, 1:], x[..., :, :-1])    # from the left
    out[..., :, :-1] = torch.maximum(out[..., :, :-1], x[..., :, 1:])   # from the right
    return out


TRANSFORMS = {"thick": thicken}


@dataclass(frozen=True)
class Unpaired:
    """An unpaired dataset and the truth kept aside for scoring.

    Attributes
    ----------
    dataset : Dataset
        What a model trains on: each split's rows are A images, then transformed B images; ``y``
        is the domain (0 = A, 1 = B).
    base : Dataset
        The dataset the images come from.
    source : dict
        Split name -> (N,) index into the base dataset's split of the image behind each row.
    transform : str
        The name of $T$ in ``TRANSFORMS``.
    """

    dataset: Dataset
    base: Dataset
    source: dict
    transform: str

    def split(self, name: str) -> Split:
        if name not in SPLITS:
            raise ConfigError(f"Unknown split {name!r}; valid splits: {', '.join(SPLITS)}.")
        return getattr(self.dataset, name)

    def domain(self, name: str, domain: int) -> torch.Tensor:
        """The images of one domain (``DOMAIN_A`` or ``DOMAIN_B``) in split `name`."""
        s = self.split(name)
        return s.x[s.y == domain]

    def truth(self, name: str) -> torch.Tensor:
        """The true counterpart of every row of split `name`: $T(a)$ for an A row $a$, and for a
        B row $T(a')$ the image $a'$ it was made from (stored values, the split's shape)."""
        s, base_x = self.split(name), getattr(self.base, name).x
        images = base_x[self.source[name]]
        is_a = (s.y == DOMAIN_A).view(-1, *[1] * (images.dim() - 1))
        return torch.where(is_a, TRANSFORMS[self.transform](images), images)


def unpaired(base: Dataset, transform: str = "thick", *, name: str | None = None,
             description: str = "") -> Unpaired:
    """Build the unpaired two-domain dataset of `base` under `transform` (see the module
    docstring): each split is halved at random (seed ``PARTITION_SEED``), the first half kept as
    domain A, the second transformed into domain B."""
    if transform not in TRANSFORMS:
        raise ConfigError(f"Unknown transformation {transform!r}; valid ones: "
                          f"{', '.join(TRANSFORMS)}.")
    if not base.is_image:
        raise DataError(f"An unpaired translation dataset needs images (C, H, W); {base.name!r} "
                        f"holds examples of shape {base.shape}.")
    t = TRANSFORMS[transform]
    splits, source = {}, {}
    for k, split_name in enumerate(SPLITS):
        s = getattr(base, split_name)
        order = np.random.default_rng(PARTITION_SEED + k).permutation(len(s))
        n_a = len(s) - len(s) // 2
        ia, ib = np.sort(order[:n_a]), np.sort(order[n_a:])
        ia, ib = torch.as_tensor(ia, dtype=torch.long), torch.as_tensor(ib, dtype=torch.long)
        x = torch.cat([s.x[ia], t(s.x[ib])])
        y = torch.cat([torch.full((len(ia),), DOMAIN_A), torch.full((len(ib),), DOMAIN_B)])
        splits[split_name], source[split_name] = Split(x, y.long()), torch.cat([ia, ib])
    ds = Dataset(name or f"{base.name}-{transform}", splits["train"], splits["val"],
                 splits["test"], value_range=base.value_range,
                 classes=[f"A: {base.name}", f"B: {base.name}, {transform}"],
                 description=description or f"unpaired {base.name} (A) and {transform} "
                                            f"{base.name} (B)")
    return Unpaired(ds, base, source, transform)

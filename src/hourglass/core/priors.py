r"""Priors p(z) to sample from: the adversarial autoencoder can match any of them, because its
discriminator only needs samples (Makhzani et al. 2016).

Every sampler has the signature ``sample(n, dim, *, generator=None, labels=None) -> (n, dim)``.
``labels`` (ints, -1 for unknown) pick the component a sample comes from: the label-conditioned
prior of the AAE paper's Figure 4, where class c lives in its own part of the code space.
Components live in the first two code dimensions; further dimensions are standard normal.
"""

from __future__ import annotations

import math

import torch

from hourglass.core.errors import ConfigError
from hourglass.core.tensors import rng

N_COMPONENTS = 10


def _component(n, labels, k, generator, device):
    """Per-row component index: the label where known (>= 0), uniform otherwise."""
    comp = torch.randint(0, k, (n,), **rng(generator), device=device)
    if labels is not None:
        labels = labels.to(device)
        comp = torch.where(labels >= 0, labels % k, comp)
    return comp


def gaussian(n, dim, *, generator=None, labels=None, device=None):
    r"""$z \sim \mathcal N(0, I)$ (labels are ignored)."""
    return torch.randn(n, dim, **rng(generator), device=device)


def mixture(n, dim, *, generator=None, labels=None, device=None, k=N_COMPONENTS,
            radius=4.0, std=0.5):
    r"""Mixture of ``k`` Gaussians with means on a circle of `radius` in the first two dims:
    $\mu_c = r(\cos 2\pi c/k, \sin 2\pi c/k)$, standard deviation `std`."""
    z = torch.randn(n, dim, **rng(generator), device=device)
    comp = _component(n, labels, k, generator, device)
    angle = 2 * math.pi * comp.float() / k
    z[:, 0] = z[:, 0] * std + radius * torch.cos(angle)
    if dim > 1:
        z[:, 1] = z[:, 1] * std + radius * torch.sin(angle)
    return z


def swiss_roll(n, dim, *, generator=None, labels=None, device=None, k=N_COMPONENTS, noise=0.05):
    r"""A 2-D swiss roll: $t \in [0, 1]$, angle $\theta = 3\pi t + \pi/2$, radius $\propto\theta$.
    With labels, class c takes the c-th of ``k`` equal stretches of $t$."""
    u = torch.rand(n, **rng(generator), device=device)
    comp = _component(n, labels, k, generator, device)
    t = (comp.float() + u) / k
    theta = 3 * math.pi * t + math.pi / 2
    r = theta / (3.5 * math.pi) * 3.0
    z = torch.randn(n, dim, **rng(generator), device=device)
    z[:, 0] = r * torch.cos(theta) + noise * z[:, 0]
    if dim > 1:
        z[:, 1] = r * torch.sin(theta) + noise * z[:, 1]
    return z


def uniform(n, dim, *, generator=None, labels=None, device=None, low=-2.0, high=2.0):
    r"""$z \sim U[-2, 2]^d$."""
    return low + (high - low) * torch.rand(n, dim, **rng(generator), device=device)


PRIORS = {"gaussian": gaussian, "mixture": mixture, "swiss-roll": swiss_roll, "uniform": uniform}


def get_prior(name: str):
    if name not in PRIORS:
        raise ConfigError(f"Unknown prior {name!r}. Valid priors: {', '.join(PRIORS)}, or pass "
                          "a callable n -> (n, latent_dim) samples.")
    return PRIORS[name]

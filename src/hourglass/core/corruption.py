r"""Corruption processes $q(\tilde x \mid x)$ of the denoising autoencoder.

The DAE reconstructs the clean $x$ from a corrupted $\tilde x \sim q(\tilde x \mid x)$:

$\mathcal L_{DAE} = \sum_{x \in D} \mathbb E_{q(\tilde x|x)}\big[L(x, g(h(\tilde x)))\big]$

Three classic choices (Vincent et al. 2010, sec. 4.2), each with one level $\nu$:

| kind              | $\tilde x_i$                                                               |
|-------------------|----------------------------------------------------------------------------|
| `masking`         | $0$ with probability $\nu$, else $x_i$ (the SDAE slide's "corruption %")  |
| `gaussian`        | $x_i + \nu\,\epsilon_i$, $\epsilon_i \sim \mathcal N(0, 1)$                  |
| `salt-and-pepper` | with probability $\nu$: $0$ or $1$ by a fair coin; else $x_i$                |

Each function draws fresh noise for every element of the batch in one vectorized call, takes an
optional ``generator`` for reproducible noise and returns a new tensor of the input's shape.
"""

from __future__ import annotations

import torch

from hourglass.core.errors import ConfigError
from hourglass.core.tensors import rng


def _uniform(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """$u_i \\sim U[0, 1)$, one per element of `x`."""
    return torch.rand(x.shape, dtype=x.dtype, device=x.device, **rng(generator))


def masking_noise(x: torch.Tensor, level: float, *,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    r"""Masking noise: $\tilde x_i = x_i\,m_i$, $m_i \sim \mathrm{Bernoulli}(1 - \nu)$.

    Each element is zeroed independently with probability ``level``; ``level=1`` zeroes all.
    """
    keep = _uniform(x, generator) >= level  # P(u >= nu) = 1 - nu
    return x * keep


def gaussian_noise(x: torch.Tensor, level: float, *,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    r"""Additive isotropic Gaussian noise: $\tilde x = x + \nu\,\epsilon$, $\epsilon \sim \mathcal N(0, I)$."""
    eps = torch.randn(x.shape, dtype=x.dtype, device=x.device, **rng(generator))
    return x + level * eps


def salt_and_pepper(x: torch.Tensor, level: float, *, generator: torch.Generator | None = None,
                    low: float = 0.0, high: float = 1.0) -> torch.Tensor:
    r"""Salt-and-pepper noise: with probability $\nu$ an element becomes ``low`` or ``high``.

    $\tilde x_i = \begin{cases} \text{low or high (fair coin)} & u_i < \nu \\ x_i & \text{else}
    \end{cases}$, so a fraction $\nu/2$ of the elements is set to each extreme on average.
    """
    u = _uniform(x, generator)
    hit = u < level
    # given a hit, u / nu is again uniform on [0, 1): use it as the coin
    salt = u < level / 2
    return torch.where(hit, torch.where(salt, high, low).to(x.dtype), x)


CORRUPTIONS = {
    "masking": masking_noise,
    "gaussian": gaussian_noise,
    "salt-and-pepper": salt_and_pepper,
}


def corrupt(x: torch.Tensor, kind: str, level: float, *,
            generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw $\\tilde x \\sim q(\\tilde x \\mid x)$ of the named `kind` at `level` (0 = no corruption)."""
    if kind not in CORRUPTIONS:
        raise ConfigError(f"Unknown corruption {kind!r}. Valid corruptions: "
                          f"{', '.join(CORRUPTIONS)}.")
    if level == 0:
        return x
    return CORRUPTIONS[kind](x, level, generator=generator)

r"""Data augmentation and input noise as batched tensor operations (no per-example Python).

- **Random shifts** (LeCun et al. 1998; Simard et al. 2003): each image moves by
  $(\delta_y, \delta_x) \sim U\{-s, \dots, s\}^2$ pixels, the border filled with zeros; a
  translation-invariant prior on the data.
- **Horizontal flips** (Krizhevsky et al. 2012): each image is mirrored with probability 1/2.
  Only for data whose classes are mirror-symmetric (clothing, objects), not digits or text.
- **Mixup** (Zhang et al. 2018): a classifier is trained on convex combinations of pairs of
  examples and of their labels, $\tilde x = \lambda x_i + (1 - \lambda) x_j$,
  $\tilde y = \lambda y_i + (1 - \lambda) y_j$, $\lambda \sim \mathrm{Beta}(\alpha, \alpha)$.
- **Gaussian input noise** (Sietsma & Dow 1991; Bishop 1995): $\tilde x = x + \epsilon$,
  $\epsilon \sim \mathcal N(0, \sigma^2 I)$, which for small $\sigma$ acts as a Tikhonov penalty on
  the model's sensitivity to its input.
"""

from __future__ import annotations

import torch

from hourglass.core.tensors import rng

AUGMENTATIONS = ("none", "shift", "flip", "shift-flip")


def random_shift(x: torch.Tensor, max_shift: int, generator: torch.Generator | None = None
                 ) -> torch.Tensor:
    """Shift every image of `x` (B, C, H, W) by its own integer offset in [-max_shift, max_shift]
    along both axes, zeros shifted in. One gather over a zero-padded copy."""
    if max_shift == 0:
        return x
    B, C, H, W = x.shape
    s = max_shift
    padded = torch.nn.functional.pad(x, (s, s, s, s))
    offsets = torch.randint(-s, s + 1, (2, B), **rng(generator), device=x.device)
    rows = (torch.arange(H, device=x.device) + s)[None, :] - offsets[0][:, None]   # (B, H)
    cols = (torch.arange(W, device=x.device) + s)[None, :] - offsets[1][:, None]   # (B, W)
    b = torch.arange(B, device=x.device)[:, None, None, None]
    c = torch.arange(C, device=x.device)[None, :, None, None]
    return padded[b, c, rows[:, None, :, None], cols[:, None, None, :]]


def random_flip(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Mirror each image of `x` (B, C, H, W) left-right with probability 1/2."""
    flip = torch.rand(x.shape[0], **rng(generator), device=x.device) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def augment(x: torch.Tensor, kind: str, *, max_shift: int = 2,
            generator: torch.Generator | None = None) -> torch.Tensor:
    """Apply augmentation `kind` (one of :data:`AUGMENTATIONS`) to images `x` (B, C, H, W)."""
    if kind == "none":
        return x
    if x.dim() != 4:
        raise ValueError(f"augmentation {kind!r} needs images (B, C, H, W); got shape "
                         f"{tuple(x.shape)}")
    if "shift" in kind:
        x = random_shift(x, max_shift, generator)
    if "flip" in kind:
        x = random_flip(x, generator)
    return x


def gaussian_input_noise(x: torch.Tensor, std: float, *, clamp: tuple[float, float] | None = None,
                         generator: torch.Generator | None = None) -> torch.Tensor:
    """$x + \\epsilon$, $\\epsilon \\sim \\mathcal N(0, \\mathrm{std}^2)$; clamped to `clamp`
    when given (grey levels that must stay probabilities in [0, 1])."""
    if std == 0:
        return x
    x = x + std * torch.randn(x.shape, **rng(generator), device=x.device, dtype=x.dtype)
    return x if clamp is None else x.clamp_(*clamp)


def mixup(x: torch.Tensor, alpha: float) -> tuple[torch.Tensor, torch.Tensor, float]:
    r"""Mix each example of `x` with a random partner: ``(x_mixed, partner index, lambda)`` with
    one $\lambda \sim \mathrm{Beta}(\alpha, \alpha)$ per batch (Zhang et al. 2018), both drawn
    from torch's global generator (so a seeded run repeats). A classifier's loss is then
    $\lambda\,\ell(f(\tilde x), y) + (1 - \lambda)\,\ell(f(\tilde x), y_{\pi})$."""
    if alpha <= 0:
        raise ValueError("mixup needs alpha > 0")
    a = torch.tensor(float(alpha))
    lam = float(torch.distributions.Beta(a, a).sample())
    perm = torch.randperm(x.shape[0], device=x.device)
    return lam * x + (1 - lam) * x[perm], perm, lam

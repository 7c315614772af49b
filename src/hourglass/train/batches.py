"""The training data as the loop sees it: one tensor on the device, and the order of each epoch.

The data stay in memory as one tensor (uint8 or float) on the training device; each batch is an
index slice of the epoch's permutation, converted to float and (optionally) binarized on the fly:
no per-example Python.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from hourglass.core.augment import augment, gaussian_input_noise
from hourglass.core.errors import ConfigError


class Batches:
    """In-memory data as one tensor on the device, served as float batches.

    ``scale`` turns stored values into model inputs (1/255 for uint8 images); ``binarize`` decides
    whether a batch is resampled as Bernoulli(x) each time ("dynamic") or was sampled once
    ("static", done here at construction) or thresholded at 0.5.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor | None, *, device, binarize="none",
                 seed: int = 0, augment: str = "none", augment_shift: int = 2,
                 input_noise: float = 0.0):
        self.augment, self.augment_shift, self.input_noise = augment, augment_shift, input_noise
        if augment != "none" and x.dim() != 4:
            raise ConfigError(f"augment={augment!r} moves pixels of images (C, H, W); these data "
                              f"have shape {tuple(x.shape[1:])}. Use augment='none' (input_noise "
                              "works on any data).")
        self.scale = 1 / 255 if x.dtype == torch.uint8 else 1.0
        self.mode = binarize
        if binarize in ("static", "threshold"):  # fixed once: store the 0/1 result as uint8
            g = torch.Generator().manual_seed(seed)
            p = x.float() * self.scale
            x = (torch.bernoulli(p, generator=g) if binarize == "static" else p > 0.5).to(torch.uint8)
            self.scale, self.mode = 1.0, "none"
        self.x = x.to(device)
        self.y = None if y is None else y.to(device)

    @classmethod
    def validation(cls, x: torch.Tensor | None, y: torch.Tensor | None, *, device, binarize: str,
                   seed: int) -> Batches | None:
        """The validation split (None without one). It sees one fixed binarization ("dynamic"
        becomes "static", drawn with ``seed + 1``), so its numbers compare across epochs."""
        if x is None:
            return None
        return cls(x, y, device=device, binarize="static" if binarize == "dynamic" else binarize,
                   seed=seed + 1)

    def __len__(self):
        return self.x.shape[0]

    def get(self, idx):
        xb = self.x[idx].float()
        if self.scale != 1.0:
            xb.mul_(self.scale)
        if self.augment != "none":  # before binarization: the grey image moves
            xb = augment(xb, self.augment, max_shift=self.augment_shift)
        if self.input_noise:  # under dynamic binarization the noisy grey levels stay in [0, 1]
            xb = gaussian_input_noise(xb, self.input_noise,
                                      clamp=(0.0, 1.0) if self.mode == "dynamic" else None)
        if self.mode == "dynamic":
            xb = torch.bernoulli(xb)
        return xb, (None if self.y is None else self.y[idx])


class EpochOrder:
    """The rows each epoch visits, in order: a shuffled permutation of the ``n`` rows, or, with
    ``sample_weights`` (a callable ``epoch -> (n,)`` non-negative tensor), ``n`` draws with
    replacement in proportion to the weights.

    ``generator`` is seeded with ``seed`` alone, so every rank of a distributed run draws the same
    order; weights come from the model, so a weighted draw is taken from rank 0
    (``from_rank0``). The generator is checkpointed: a resumed run redraws the same epochs.
    """

    def __init__(self, n: int, *, seed: int, device, sample_weights: Callable | None = None,
                 from_rank0: Callable[[torch.Tensor], torch.Tensor] = lambda perm: perm):
        self.n, self.device = n, device
        self.sample_weights, self.from_rank0 = sample_weights, from_rank0
        self.generator = torch.Generator().manual_seed(seed)

    def draw(self, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(rows of the epoch on the device, the generator's state before the draw)``; a
        checkpoint taken within the epoch stores that state to redraw the same rows."""
        state = self.generator.get_state()
        if self.sample_weights is None:
            return torch.randperm(self.n, generator=self.generator).to(self.device), state
        weights = torch.as_tensor(self.sample_weights(epoch), dtype=torch.float64).cpu()
        perm = torch.multinomial(weights, self.n, replacement=True, generator=self.generator)
        return self.from_rank0(perm.to(self.device)), state

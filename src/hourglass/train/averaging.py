r"""Weight averaging: an exponential moving average of the weights (Polyak & Juditsky 1992).

After every training step the average moves towards the current weights,

$\bar\theta_t = d_t\,\bar\theta_{t-1} + (1 - d_t)\,\theta_t, \qquad
d_t = \min\!\left(d, \frac{1 + t}{10 + t}\right),$

with the decay $d$ (``ema_decay``, e.g. 0.999: an average over the last ~1,000 steps) reached after a
short ramp, so that the first steps do not leave the initial weights in the average for thousands
of steps. The averaged weights wander less than the last iterate of a noisy optimizer, and they are
what training returns: validation losses and early stopping look at them, and the model is left
holding them at the end. The running average rides in every checkpoint, so a resumed run averages
exactly as the uninterrupted one.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch

from hourglass.core.errors import RunError

PREFIX = "average."


class WeightAverage:
    """The moving average of `model`'s trainable parameters; ``decay=None`` does nothing."""

    def __init__(self, model: torch.nn.Module, decay: float | None):
        self.decay = decay
        self.params = [p for p in model.parameters() if p.requires_grad] if decay is not None else []
        self.average = [p.detach().clone() for p in self.params]

    @property
    def enabled(self) -> bool:
        return self.decay is not None

    def update(self, step: int) -> None:
        """Fold the weights after global step `step` (0-based) into the average."""
        if self.enabled:
            d = min(self.decay, (1 + step) / (10 + step))
            with torch.no_grad():
                torch._foreach_lerp_(self.average, [p.detach() for p in self.params], 1.0 - d)

    def tensors(self) -> dict[str, torch.Tensor]:
        """The average, for a checkpoint (keys ``average.<i>``)."""
        return {f"{PREFIX}{i}": a for i, a in enumerate(self.average)}

    def load(self, tensors: dict[str, torch.Tensor]) -> None:
        """Restore the average saved by :meth:`tensors` (a checkpoint's extra tensors)."""
        if not self.enabled:
            return
        if any(f"{PREFIX}{i}" not in tensors for i in range(len(self.average))):
            raise RunError("The checkpoint holds no weight average, but this run averages the "
                           "weights (ema_decay). Resume with the run's own config (without "
                           "ema_decay), or start again.")
        with torch.no_grad():
            for i, a in enumerate(self.average):
                a.copy_(tensors[f"{PREFIX}{i}"])

    @contextmanager
    def swapped(self):
        """Within the block, the model holds the averaged weights (for a validation pass)."""
        if not self.enabled:
            yield
            return
        self._swap()
        try:
            yield
        finally:
            self._swap()

    def _swap(self) -> None:
        with torch.no_grad():
            for p, a in zip(self.params, self.average):
                tmp = p.detach().clone()
                p.copy_(a)
                a.copy_(tmp)

    def apply(self) -> None:
        """Leave the model holding the averaged weights (the end of training)."""
        if self.enabled:
            with torch.no_grad():
                torch._foreach_copy_([p.detach() for p in self.params], self.average)

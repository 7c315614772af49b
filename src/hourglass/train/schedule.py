"""Learning-rate schedules: a factor of the base rate as a pure function of the step.

| schedule | factor after warm-up, at progress $t \\in [0, 1]$ through the remaining steps |
|----------|-----------------------------------------------------------------------------|
| constant | $1$                                                                         |
| cosine   | $r + (1 - r)\\,\\tfrac12 (1 + \\cos \\pi t)$ (Loshchilov & Hutter 2017, without restarts) |
| step     | $\\gamma^{\\lfloor e / s \\rfloor}$ at epoch $e$, every $s$ epochs                |

A linear warm-up from $1/w$ to $1$ over the first $w$ steps (Goyal et al. 2017) comes first for
any schedule. $r$ is ``lr_min_ratio``, the cosine's final share of the base rate.

The factor depends on the global step only, so a resumed run follows the same schedule bitwise.
Each parameter group keeps its base rate under ``"base_lr"`` (saved with the optimizer's state);
the non-finite guard lowers that base when it skips a step.
"""

from __future__ import annotations

import math

import torch

SCHEDULES = ("constant", "cosine", "step")


def lr_factor(step: int, total_steps: int, *, schedule: str = "constant", warmup_steps: int = 0,
              min_ratio: float = 0.0, steps_per_epoch: int = 1, step_every: int = 1,
              gamma: float = 0.5) -> float:
    """The multiplier of the base learning rate at 0-based optimizer step `step` of
    `total_steps`."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    if schedule == "cosine":
        span = max(1, total_steps - warmup_steps)
        t = min(1.0, (step - warmup_steps) / span)
        return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * t))
    if schedule == "step":
        return gamma ** ((step // max(1, steps_per_epoch)) // step_every)
    raise ValueError(f"unknown schedule {schedule!r}")


class LRSchedule:
    """Sets every phase optimizer's rates before each step; does nothing for a constant rate
    without warm-up (the loop's fast path is untouched)."""

    def __init__(self, config, optimizers: dict[str, torch.optim.Optimizer], steps_per_epoch: int):
        self.config = config
        self.steps_per_epoch = steps_per_epoch
        self.total = config.epochs * steps_per_epoch
        self.warmup = round(config.lr_warmup_epochs * steps_per_epoch)
        self.active = config.lr_schedule != "constant" or self.warmup > 0
        self.optimizers = list(optimizers.values())
        if self.active:
            for opt in self.optimizers:
                for group in opt.param_groups:
                    group.setdefault("base_lr", group["lr"])

    def factor(self, step: int) -> float:
        c = self.config
        return lr_factor(step, self.total, schedule=c.lr_schedule, warmup_steps=self.warmup,
                         min_ratio=c.lr_min_ratio, steps_per_epoch=self.steps_per_epoch,
                         step_every=c.lr_step_every, gamma=c.lr_gamma)

    def apply(self, step: int) -> None:
        """Before global step `step` (0-based, counted over the whole run)."""
        if not self.active:
            return
        f = self.factor(step)
        for opt in self.optimizers:
            for group in opt.param_groups:
                group["lr"] = group["base_lr"] * f

    def current(self) -> float | None:
        """The first phase's rate now, for the history; None for a constant rate."""
        if not self.active:
            return None
        return float(self.optimizers[0].param_groups[0]["lr"])

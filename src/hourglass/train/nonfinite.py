"""A loss that becomes non-finite: stop with the batch and the term, or skip the step.

``on_nonfinite="stop"`` (the default): the running loss totals are checked wherever the loop syncs
anyway (every ``SYNC_EVERY`` steps with a progress bar, before a checkpoint, at the epoch end) and
the run stops with a :class:`~hourglass.core.errors.RunError` naming the epoch, the batches and
the terms; the last checkpoint stays intact.

``on_nonfinite="skip"``: after each backward pass the global gradient norm is checked (one sync per
phase and step). A step with a non-finite gradient is not taken, the phase's learning rate is
multiplied by ``NONFINITE_LR_FACTOR``, and the epoch's means leave the skipped rows out; after
``NONFINITE_MAX_SKIPS`` skipped steps in a row the run stops.
"""

from __future__ import annotations

import math

import torch

from hourglass.core.errors import RunError

NONFINITE_LR_FACTOR = 0.5  # on_nonfinite="skip": the phase's learning rate is multiplied by this
NONFINITE_MAX_SKIPS = 10  # ... and the run stops after this many skipped steps in a row


def finite_gradient(parameters) -> bool:
    """Whether the global gradient norm is finite (one sync). In a distributed run the gradients
    are already averaged, so every rank agrees."""
    grads = [p.grad for p in parameters if p.grad is not None]
    return not grads or bool(torch.isfinite(torch.nn.utils.get_total_norm(grads)))


class NonFiniteLoss(RunError):
    """The training loss (or a gradient) became inf/NaN and training stopped."""


class NonFiniteGuard:
    """Checks the loss totals and, with ``mode="skip"``, skips steps whose gradient is not finite.

    ``run`` (a :class:`~hourglass.train.checkpoint.RunState`) holds the counts of the epoch in
    progress, ``skipped`` (rows per phase whose step was skipped) and ``skipped_steps``, so that
    a checkpoint keeps them. ``prefix`` maps each phase to the prefix of the terms it logs.
    """

    def __init__(self, mode: str, run, prefix: dict[str, str]):
        self.skip = mode == "skip"
        self.run, self.prefix = run, prefix
        self.in_a_row = 0  # consecutive skipped steps
        self.checked = 0  # the totals were finite after this many batches of the epoch

    def begin_epoch(self, first: int) -> None:
        """An epoch starts at batch `first` (0, or where a resumed run stopped)."""
        self.checked = first

    def skipped(self, phase, optimizer, rows: int, *, epoch: int, step: int) -> bool:
        """After the backward pass of `phase` on a batch of `rows` rows: whether its step is to be
        skipped (gradient dropped, learning rate lowered). Call only when ``self.skip``."""
        if finite_gradient(phase.parameters):
            self.in_a_row = 0
            return False
        optimizer.zero_grad(set_to_none=True)
        for group in optimizer.param_groups:
            group["lr"] *= NONFINITE_LR_FACTOR
            if "base_lr" in group:  # under a schedule: lower the base it scales
                group["base_lr"] *= NONFINITE_LR_FACTOR
        self.run.skipped[phase.name] = self.run.skipped.get(phase.name, 0) + rows
        self.run.skipped_steps += 1
        self.in_a_row += 1
        if self.in_a_row > NONFINITE_MAX_SKIPS:
            raise NonFiniteLoss(f"The training loss stayed non-finite for {self.in_a_row} steps in a row "
                           f"(epoch {epoch + 1}, batch {step + 1}, phase {phase.name!r}) although "
                           f"the learning rate was lowered {self.in_a_row} times. Check the data "
                           "and the model settings.")
        return True

    def check(self, totals: dict, *, epoch: int, upto: int) -> None:
        """Raise RunError naming the terms whose running total went non-finite in the batches since
        the last check, up to batch `upto` (one sync; nothing to do if `upto` was checked)."""
        if upto == self.checked:
            return
        bad = [k for k, v in totals.items() if not math.isfinite(float(v))]
        if bad:
            after = self.checked
            where = f"batch {upto}" if upto - after <= 1 else f"batches {after + 1}-{upto}"
            raise NonFiniteLoss(f"The training loss became non-finite in epoch {epoch + 1} "
                           f"({', '.join('train_' + k for k in bad)}), {where}. Lower the learning "
                           "rate (--lr) or set --grad-clip; the last checkpoint (if any) is intact.")
        self.checked = upto

    def rows(self, term: str, seen: int) -> int:
        """The rows behind `term`'s total after `seen` rows: those its phase skipped left out
        (at least 1, to divide by)."""
        return max(1, seen - self.run.skipped.get(self._phase_of(term), 0))

    def _phase_of(self, term: str) -> str:
        """The phase that logged `term` (its prefix)."""
        for name, head in self.prefix.items():
            if head and term.startswith(head):
                return name
        return next(iter(self.prefix))

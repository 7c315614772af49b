"""Early stopping: stop after ``patience`` epochs without a lower validation loss, and keep the
weights of the best epoch (Prechelt, 1998, "Early stopping - but when?")."""

from __future__ import annotations

import copy

import torch


class EarlyStopping:
    """Watches ``val_loss`` epoch by epoch; ``patience=None`` never stops.

    The best loss, its weights (on the CPU) and the count of epochs since are kept in ``run`` (a
    :class:`~hourglass.train.checkpoint.RunState`), so that a resumed run stops where the
    uninterrupted one would.
    """

    def __init__(self, patience: int | None, run):
        self.patience, self.run = patience, run

    def stop(self, val_loss: float, model: torch.nn.Module) -> bool:
        """After an epoch: remember `model` if `val_loss` is the lowest so far; whether to stop."""
        if self.patience is None:
            return False
        run = self.run
        if val_loss < run.best_loss:
            run.best_loss, run.bad_epochs = val_loss, 0
            run.best_state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
            return False
        run.bad_epochs += 1
        return run.bad_epochs >= self.patience

    def restore_best(self, model: torch.nn.Module) -> None:
        """Load the weights of the best validation epoch into `model` (if early stopping kept any)."""
        if self.run.best_state is not None:
            model.load_state_dict(self.run.best_state)

"""Checks of a training config beyond each option's own constraint: sane upper bounds, and options
that contradict each other.

:meth:`TrainConfig.validate` checks each option against its declaration; these checks come on
top, wherever a training config is taken from a user (the command line, a ``--config`` file, a
run resumed, an estimator's ``fit``), so that

- a seed beyond what a random generator takes (``2**63 - 1``) or a number of epochs no run could
  finish is refused with the one parameter error shape, not an overflow deep in torch;
- an option that the chosen optimizer ignores (``momentum`` with ``sgd``) is refused rather than
  recorded in the run as if it had been used.
"""

from __future__ import annotations

from hourglass.core.errors import ConfigError
from hourglass.core.validation import check_params, Interval

MAX_SEED = 2 ** 63 - 1      # torch.manual_seed takes a signed 64-bit int
MAX_EPOCHS = 1_000_000      # far beyond any run; a larger number is a typo
LIMITS = {"seed": Interval(int, 0, MAX_SEED), "epochs": Interval(int, 1, MAX_EPOCHS)}
MOMENTUM_OPTIMIZERS = ("momentum", "nesterov")


def check_train_limits(values: dict, owner: str = "TrainConfig") -> None:
    """Raise ConfigError for a training option beyond its sane bound (`LIMITS`) or an option the
    chosen optimizer does not use. `values`: option name -> value (a TrainConfig's ``to_dict()``
    or an estimator's parameters)."""
    check_params(owner, values, LIMITS)
    optimizer = values.get("optimizer")
    if values.get("momentum") is not None and optimizer not in MOMENTUM_OPTIMIZERS:
        raise ConfigError(f"momentum={values['momentum']!r} is used only by the momentum and "
                          f"nesterov optimizers, not by {optimizer!r}. Leave momentum out, or "
                          "choose optimizer momentum or nesterov.")

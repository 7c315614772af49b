"""The optimizers, by name, with sensible default learning rates; one per training phase.

| name     | update                                                                  |
|----------|-------------------------------------------------------------------------|
| sgd      | $\\theta \\leftarrow \\theta - \\eta g$                                    |
| momentum | $v \\leftarrow \\mu v + g,\\ \\theta \\leftarrow \\theta - \\eta v$           |
| nesterov | momentum with the gradient taken at the look-ahead point                |
| adagrad  | per-parameter rates scaled by the running sum of squared gradients      |
| adadelta | Adagrad with a decaying average and unit-free steps                     |
| rmsprop  | rates scaled by a decaying average of squared gradients                 |
| adam     | RMSprop + momentum with bias correction                                 |
| adamw    | Adam with decoupled weight decay                                        |
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING

import torch

from hourglass.core.errors import ConfigError
from hourglass.models.protocol import Phase

if TYPE_CHECKING:  # config.py imports OPTIMIZERS from here
    from hourglass.train.config import TrainConfig

# name -> (constructor, default learning rate, extra fixed arguments)
OPTIMIZERS = {
    "sgd": (torch.optim.SGD, 1e-3, {}),
    "momentum": (torch.optim.SGD, 1e-3, {"momentum": 0.9}),
    "nesterov": (torch.optim.SGD, 1e-3, {"momentum": 0.9, "nesterov": True}),
    "adagrad": (torch.optim.Adagrad, 1e-2, {}),
    "adadelta": (torch.optim.Adadelta, 1.0, {}),
    "rmsprop": (torch.optim.RMSprop, 1e-3, {}),
    "adam": (torch.optim.Adam, 1e-3, {}),
    "adamw": (torch.optim.AdamW, 1e-3, {}),
}


def list_optimizers() -> list[str]:
    return list(OPTIMIZERS)


def default_lr(name: str) -> float:
    return _lookup(name)[1]


def _lookup(name: str):
    if name not in OPTIMIZERS:
        raise ConfigError(f"Unknown optimizer {name!r}. Valid optimizers: {', '.join(OPTIMIZERS)}.")
    return OPTIMIZERS[name]


IMPLEMENTATIONS = ("auto", "fused", "foreach", "loop")


def implementation_kwargs(cls, impl: str, params: list) -> dict:
    """The constructor flags that choose how torch computes the update.

    ``fused``: one kernel for all parameters (torch's fused Adam, AdamW, SGD, Adagrad); ``foreach``:
    the multi-tensor implementation; ``loop``: one parameter at a time. ``auto`` takes ``fused``
    where torch has it for this optimizer and the parameters' device, else ``foreach``. The
    implementations compute the same update up to float rounding.
    """
    if impl == "loop":
        return {"foreach": False}
    fused_ok = "fused" in inspect.signature(cls.__init__).parameters and all(
        p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)
    if impl == "fused" and not fused_ok:
        raise ConfigError(f"{cls.__name__} has no fused implementation for these parameters; use "
                          "optimizer_impl='foreach' (or 'auto').")
    if impl == "fused" or (impl == "auto" and fused_ok):
        return {"fused": True}
    return {"foreach": True}


def make_optimizer(name: str, params, *, lr: float | None = None, weight_decay: float = 0.0,
                   momentum: float | None = None, impl: str = "auto",
                   **settings) -> torch.optim.Optimizer:
    """Build the optimizer `name`; `lr=None` takes its default, `momentum` overrides 0.9, `impl`
    chooses torch's implementation (:func:`implementation_kwargs`), and `settings` go to the
    constructor as they are (e.g. ``betas=(0.5, 0.999)``)."""
    cls, lr0, extra = _lookup(name)
    extra = {**extra, **settings}
    if momentum is not None and "momentum" in extra:
        extra["momentum"] = momentum
    params = list(params)
    return cls(params, lr=lr0 if lr is None else lr, weight_decay=weight_decay,
               **implementation_kwargs(cls, impl, params), **extra)


def phase_optimizer(phase: Phase, config: TrainConfig) -> torch.optim.Optimizer:
    """The phase's optimizer: the run's settings, then the phase's. A phase's "lr" is a default
    (DCGAN's 2e-4, say) that an explicit run lr (--lr) overrides."""
    settings = dict(phase.optimizer)
    name = settings.pop("name", config.optimizer)
    lr = settings.pop("lr", None) if config.lr is None else config.lr
    settings.pop("lr", None)
    return make_optimizer(name, phase.parameters, lr=lr, weight_decay=config.weight_decay,
                          momentum=config.momentum, impl=config.optimizer_impl, **settings)

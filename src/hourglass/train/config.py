"""The training options: one dataclass, validated where it is built."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from hourglass.core.errors import ConfigError
from hourglass.core.validation import AnyOf, Interval, Options, check_params
from hourglass.train.optim import OPTIMIZERS

BINARIZE = ("none", "dynamic", "static", "threshold")


@dataclass
class TrainConfig:
    epochs: int = 30                  # passes over the training split
    batch_size: int = 128             # examples per gradient step
    optimizer: str = "adam"           # sgd, momentum, nesterov, adagrad, adadelta, rmsprop, adam, adamw
    lr: float | None = None           # None: the optimizer's default
    momentum: float | None = None     # for momentum/nesterov; None: 0.9
    weight_decay: float = 0.0         # L2 penalty (decoupled for adamw)
    grad_clip: float | None = None    # clip the global gradient norm to this value
    patience: int | None = None       # early stopping: epochs without val improvement; None = off
    binarize: str = "none"            # none | dynamic (resample each batch) | static | threshold
    seed: int = 0                     # same seed, same numbers
    device: str = "auto"              # auto | cpu | cuda | cuda:N
    progress: bool = True             # tqdm progress bar with the loss terms
    checkpoint_every: int | None = None  # also checkpoint every N steps (None: at epoch ends only)
    keep_checkpoints: int = 1         # checkpoints kept: the latest, plus K-1 in RUN/checkpoints/
    on_nonfinite: str = "stop"        # stop | skip (skip the step and halve that phase's lr)

    constraints = {
        "epochs": Interval(int, 1, None),
        "batch_size": Interval(int, 1, None),
        "optimizer": Options(tuple(OPTIMIZERS)),
        "lr": AnyOf((None, Interval(float, 0, None, closed="neither"))),
        "momentum": AnyOf((None, Interval(float, 0, 1, closed="left"))),
        "weight_decay": Interval(float, 0, None),
        "grad_clip": AnyOf((None, Interval(float, 0, None, closed="neither"))),
        "patience": AnyOf((None, Interval(int, 1, None))),
        "binarize": Options(BINARIZE),
        "seed": Interval(int, 0, None),
        "progress": Options((True, False)),
        "checkpoint_every": AnyOf((None, Interval(int, 1, None))),
        "keep_checkpoints": Interval(int, 1, None),
        "on_nonfinite": Options(("stop", "skip")),
    }

    def validate(self, owner: str = "TrainConfig") -> "TrainConfig":
        check_params(owner, asdict(self), self.constraints)
        resolve_device(self.device)
        return self

    def to_dict(self) -> dict:
        return asdict(self)


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(device, str) or not (device == "cpu" or device.startswith("cuda")):
        raise ConfigError(f"The 'device' parameter must be 'auto', 'cpu', 'cuda' or 'cuda:N'. "
                          f"Got {device!r} instead.")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device={device!r} was asked for but CUDA is not available here. "
                          "Use --device cpu (or auto).")
    return torch.device(device)

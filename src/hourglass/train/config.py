"""The training options: one dataclass, validated where it is built."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from hourglass.core.augment import AUGMENTATIONS
from hourglass.core.errors import ConfigError
from hourglass.core.options import check_options, option
from hourglass.core.validation import AnyOf, Boolean, Interval, Options
from hourglass.train.optim import IMPLEMENTATIONS, OPTIMIZERS
from hourglass.train.schedule import SCHEDULES
from hourglass.train.speed import PRECISIONS

BINARIZE = ("none", "dynamic", "static", "threshold")
PositiveFloat = Interval(float, 0, None, closed="neither")
MAX_SEED = 2 ** 63 - 1      # torch.manual_seed takes a signed 64-bit int
MAX_EPOCHS = 1_000_000      # far beyond any run; a larger number is a typo
MOMENTUM_OPTIMIZERS = ("momentum", "nesterov")


def check_train_limits(values: dict, owner: str = "TrainConfig") -> None:
    """Refuse training options that contradict each other: an option the chosen optimizer does
    not use (``momentum`` with ``sgd``) is refused rather than recorded as if it had been used.
    `values`: option name -> value (a TrainConfig's fields, or an estimator's parameters)."""
    optimizer = values.get("optimizer")
    if values.get("momentum") is not None and optimizer not in MOMENTUM_OPTIMIZERS:
        raise ConfigError(f"momentum={values['momentum']!r} is used only by the momentum and "
                          f"nesterov optimizers, not by {optimizer!r}. Leave momentum out, or "
                          "choose optimizer momentum or nesterov.")


@dataclass
class TrainConfig:
    """How a model is trained: every option of the training loop, declared once.

    The command line's training flags (``--epochs``, ``--lr``, ...) and the scikit-learn
    estimators' training parameters are generated from these fields.
    """

    epochs: int = option(30, Interval(int, 1, MAX_EPOCHS), "passes over the training split")
    batch_size: int = option(128, Interval(int, 1, None), "examples per gradient step")
    optimizer: str = option("adam", Options(tuple(OPTIMIZERS)),
                            "the update rule: SGD, SGD with (Nesterov) momentum, Adagrad, "
                            "Adadelta, RMSprop, Adam or AdamW")
    optimizer_impl: str = option("auto", Options(IMPLEMENTATIONS),
                                 "how torch computes the update: fused (one kernel), foreach "
                                 "(multi-tensor) or loop; auto: fused where torch has it")
    lr: float | None = option(None, AnyOf((None, PositiveFloat)),
                              "learning rate; None: the optimizer's usual default")
    momentum: float | None = option(None, AnyOf((None, Interval(float, 0, 1, closed="left"))),
                                    "momentum of the momentum and nesterov optimizers; None: 0.9")
    lr_schedule: str = option("constant", Options(SCHEDULES),
                              "learning-rate schedule over the run: constant; cosine decay to "
                              "lr_min_ratio x lr (Loshchilov & Hutter 2017); step: times "
                              "lr_gamma every lr_step_every epochs")
    lr_warmup_epochs: float = option(0.0, Interval(float, 0, None),
                                     "linear learning-rate warm-up over this many epochs (a "
                                     "fraction is fine); 0: none")
    lr_min_ratio: float = option(0.0, Interval(float, 0, 1),
                                 "cosine schedule: the final learning rate as a share of lr")
    lr_step_every: int = option(30, Interval(int, 1, MAX_EPOCHS),
                                "step schedule: epochs between two decays")
    lr_gamma: float = option(0.5, Interval(float, 0, 1, closed="right"),
                             "step schedule: factor of each decay")
    weight_decay: float = option(0.0, Interval(float, 0, None),
                                 "L2 penalty on the weights (decoupled for adamw)")
    ema_decay: float | None = option(None, AnyOf((None, Interval(float, 0, 1, closed="left"))),
                                     "Polyak averaging: keep an exponential moving average of "
                                     "the weights with this decay per step (e.g. 0.999) and end "
                                     "training with it (Polyak & Juditsky 1992); None: off")
    grad_clip: float | None = option(None, AnyOf((None, PositiveFloat)),
                                     "clip the global gradient norm to this value; None: off")
    patience: int | None = option(None, AnyOf((None, Interval(int, 1, None))),
                                  "early stopping: stop after this many epochs without a lower "
                                  "validation loss and keep the best weights; None: off")
    binarize: str = option("none", Options(BINARIZE),
                           "binary inputs for a Bernoulli decoder: none, dynamic (a fresh "
                           "Bernoulli sample of each batch), static (one sample) or threshold",
                           flag=dict(default="auto", choices=("auto", *BINARIZE),
                                     help="binary inputs for a Bernoulli decoder: none, dynamic "
                                     "(a fresh Bernoulli sample of each batch), static (one "
                                     "sample) or threshold; auto: dynamic for grey levels in "
                                     "[0, 1] under a Bernoulli decoder, else none"))
    augment: str = option("none", Options(AUGMENTATIONS),
                          "data augmentation of each training batch, on the device: random "
                          "shifts of up to augment_shift pixels (LeCun et al. 1998), left-right "
                          "flips (only for mirror-symmetric classes), or both")
    augment_shift: int = option(2, Interval(int, 0, 64), "largest shift of augment, in pixels")
    input_noise: float = option(0.0, Interval(float, 0, None),
                                "std of Gaussian noise added to each training batch (Bishop "
                                "1995), any model; 0: off")
    precision: str = option("fp32", Options(PRECISIONS),
                            "arithmetic of the loss step: fp32; bf16 (autocast: CUDA, or CPUs "
                            "with native bf16); fp16 (CUDA, with a gradient scaler)")
    compile: bool = option(False, Boolean(),
                           "compile each phase's loss step with torch.compile (the first step "
                           "takes longer; its time is reported as compile_s)")
    seed: int = option(0, Interval(int, 0, MAX_SEED), "random seed: the same seed gives the same run",
                       estimator=False)
    device: str = option("auto", None, "auto, cpu, cuda or cuda:N")
    progress: bool = option(True, Boolean(), "show a progress bar with the loss terms",
                            estimator=False, flag=dict(name="quiet", negate=True, help="no progress bar"))
    checkpoint_every: int | None = option(None, AnyOf((None, Interval(int, 1, None))),
                                          "also checkpoint every N steps (None: at epoch ends)",
                                          estimator=False, flag=dict(metavar="N"))
    keep_checkpoints: int = option(1, Interval(int, 1, None),
                                   "checkpoints kept: the latest, plus K-1 in RUN/checkpoints/",
                                   estimator=False, flag=dict(metavar="K"))
    on_nonfinite: str = option("stop", Options(("stop", "skip")),
                               "when the loss or a gradient is inf/NaN: stop, or skip that step "
                               "and halve the learning rate of its phase (stops after 10 in a "
                               "row)")

    def validate(self, owner: str = "TrainConfig") -> "TrainConfig":
        check_options(self, owner)
        check_train_limits(asdict(self), owner)
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

"""The one training loop, its optimizers and checkpoints."""

from .optim import OPTIMIZERS, default_lr, list_optimizers, make_optimizer
from .trainer import Batches, TrainConfig, evaluate_loss, resolve_device, train

__all__ = ["OPTIMIZERS", "Batches", "TrainConfig", "default_lr", "evaluate_loss",
           "list_optimizers", "make_optimizer", "resolve_device", "train"]

"""The one training loop, its optimizers and checkpoints."""

from .optim import OPTIMIZERS, default_lr, list_optimizers, make_optimizer
from .trainer import Batches, Phase, TrainConfig, evaluate_loss, model_phases, resolve_device, train

__all__ = ["OPTIMIZERS", "Batches", "Phase", "TrainConfig", "default_lr", "evaluate_loss",
           "list_optimizers", "make_optimizer", "model_phases", "resolve_device", "train"]

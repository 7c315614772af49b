"""The one training loop, its options, optimizers and checkpoints."""

from hourglass.models.protocol import Phase, model_phases
from hourglass.train.batches import Batches
from hourglass.train.config import BINARIZE, TrainConfig, resolve_device
from hourglass.train.loop import evaluate_loss, train
from hourglass.train.optim import OPTIMIZERS, default_lr, list_optimizers, make_optimizer

__all__ = ["BINARIZE", "OPTIMIZERS", "Batches", "Phase", "TrainConfig", "default_lr",
           "evaluate_loss", "list_optimizers", "make_optimizer", "model_phases", "resolve_device",
           "train"]

"""Greedy pretraining with the one training loop (Bengio et al. 2007; Vincent et al. 2010).

A model with the ``pretraining`` capability lists its stages (:class:`hourglass.models.protocol.
Stage`): what network to train, on which inputs, and where its weights go. :func:`pretrain` runs
them in order, each with :func:`hourglass.train.train`; the workflow and the estimators call it
before the main training, so that no model needs to know the trainer.
"""

from __future__ import annotations

import dataclasses

import torch

from hourglass.core.errors import ConfigError
from hourglass.core.tensors import batched
from hourglass.models.protocol import has
from hourglass.train.config import TrainConfig
from hourglass.train.loop import train


def pretrain(model: torch.nn.Module, x: torch.Tensor, *, y=None,
             config: TrainConfig) -> list[list[dict]]:
    """Run the model's greedy stages on `x` (labels `y` are not used); returns each stage's
    history, ``[]`` for a model without pretraining (or with no stages).

    Stage k trains for its ``epochs`` with the optimizer settings of `config`, seed
    ``config.seed + k`` and no early stopping; the run's binarization applies to the data, not to
    codes. After it, its network is frozen (eval mode) and installed into the model, and its
    ``encode`` of its inputs, computed once, is what a ``"codes"`` stage above trains on.
    """
    if not has(model, "pretraining"):
        return []
    stages = model.pretraining_stages()
    if stages and stages[0].inputs == "codes":
        raise ConfigError(f"The first pretraining stage of {type(model).__name__} trains on "
                          "'codes', but no stage below computes them; it must train on 'data'.")
    histories, codes = [], None  # codes: the last stage's encode of its inputs
    for k, stage in enumerate(stages):
        inputs = x if stage.inputs == "data" else codes
        cfg = dataclasses.replace(config, epochs=stage.epochs, patience=None,
                                  seed=config.seed + k,
                                  binarize=config.binarize if stage.inputs == "data" else "none")
        torch.manual_seed(cfg.seed)
        network = stage.build()
        histories.append(train(network, inputs, config=cfg))
        network.eval()
        stage.install(network)
        if k + 1 < len(stages) and stages[k + 1].inputs == "codes":
            codes = batched(network.encode, inputs, device=next(network.parameters()).device)
    return histories

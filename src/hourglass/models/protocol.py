"""What a registered model offers the rest of the library: its training phases.

A model trained in several phases per batch (an adversarial autoencoder: reconstruction,
discriminator, generator) lists them with ``phases() -> list[Phase]``; every other model has one
phase, its ``forward`` loss. The training loop reads nothing else of the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from hourglass.core.errors import ConfigError


@dataclass
class Phase:
    """One step of a multi-phase model, taken on every batch in the order the model lists them.

    ``loss(x, y)`` returns scalar terms with ``"loss"``, which is minimized over ``parameters`` by
    the phase's own optimizer; ``optimizer`` overrides the run's settings for this phase (e.g.
    ``{"lr": 2e-4, "betas": (0.5, 0.999)}`` for DCGAN; the phase's ``lr`` is a default that an
    explicit run ``lr`` overrides). Terms are logged as ``<name>_<term>``.
    """

    name: str
    parameters: list
    loss: Callable
    optimizer: dict = field(default_factory=dict)


def model_phases(model: torch.nn.Module) -> list[Phase]:
    """The model's phases, or one phase ("main") that minimizes ``forward``'s loss."""
    if hasattr(model, "phases"):
        phases = model.phases()
        names = [p.name for p in phases]
        if len(set(names)) != len(names) or any("." in n for n in names):
            raise ConfigError(f"Phase names must be unique and dot-free; got {names}.")
        return phases
    return [Phase("main", list(model.parameters()), model)]

"""The model registry: a name for every model, so that the CLI, the estimators, the run loader and
the common tests reach every model the day it is registered (after torchvision's ``get_model``).

The protocol a registered model class follows:

- ``config_class``: a dataclass with the :class:`ModelConfig` mixin and an ``input_shape`` field
  (filled from the data); the model is built as ``cls(config)``;
- ``forward(x, y=None) -> dict`` of scalar loss terms including ``"loss"`` (the one trainer
  minimizes ``"loss"`` and logs every term);
- ``capabilities = declare(...)``: what else it can do (``encode``, ``sample``, ``log_prob`` exact
  or ``log_prob_bound``, ``labels`` when ``y`` is required, ...; see
  :data:`hourglass.models.protocol.CAPABILITIES`), checked against its methods at registration;
- ``tiny_configs``: a list of small config dicts the common tests build for input (1, 8, 8).

Evaluation, figures and the CLI use what a model declares.
"""

from __future__ import annotations

import dataclasses

from hourglass.core.errors import ConfigError
from hourglass.models.protocol import check_declaration, describe
from hourglass.core.options import check_options

_MODELS: dict[str, type] = {}


def register_model(name: str):
    """Class decorator: register a model class under `name`. Duplicate names are refused, and
    so is a class whose declared capabilities do not match its methods (a TypeError that names
    the capability and the method)."""

    def wrap(cls):
        if name in _MODELS:
            raise RuntimeError(f"model name {name!r} is already registered by {_MODELS[name]}")
        check_declaration(cls)
        cls.model_name = name
        _MODELS[name] = cls
        return cls

    return wrap


def list_models() -> list[str]:
    """Names of every registered model, sorted."""
    return sorted(_MODELS)


def get_model_class(name: str) -> type:
    if name not in _MODELS:
        raise ConfigError(f"Unknown model {name!r}. Valid models: {', '.join(list_models())}.")
    return _MODELS[name]


def describe_models() -> list[tuple[str, str, str]]:
    """(name, capabilities in short words, first line of the class docstring) for every model,
    for `hourglass list`."""
    return [(n, describe(_MODELS[n]), (_MODELS[n].__doc__ or "").strip().splitlines()[0])
            for n in list_models()]


def build(name: str, **config):
    """Build the model `name` from keyword config values (validated; errors name the parameter)."""
    cls = get_model_class(name)
    return cls(cls.config_class.from_dict(config, owner=cls.__name__))


class ModelConfig:
    """Mixin for model config dataclasses whose fields are :func:`hourglass.core.options.option`
    declarations: validation from their constraints, JSON round trip."""

    def validate(self, owner: str | None = None) -> None:
        check_options(self, owner)

    def to_dict(self) -> dict:
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v)
                for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, d: dict, *, owner: str | None = None):
        names = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - set(names))
        if unknown:
            raise ConfigError(f"Unknown parameter(s) {', '.join(map(repr, unknown))} for "
                              f"{owner or cls.__name__}. Valid parameters: {', '.join(names)}.")
        # JSON has no tuples: turn lists back into tuples for the sequence-valued fields
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        config = cls(**values)
        config.validate(owner)
        return config

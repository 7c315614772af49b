"""The model registry: a name for every model, so that the CLI, the estimators, the run loader and
the common tests reach every model the day it is registered (after torchvision's ``get_model``).

The protocol a registered model class follows:

- ``config_class``: a dataclass with the :class:`ModelConfig` mixin and an ``input_shape`` field
  (filled from the data); the model is built as ``cls(config)``;
- ``forward(x, y=None) -> dict`` of scalar loss terms including ``"loss"`` (the one trainer
  minimizes ``"loss"`` and logs every term); ``needs_labels = True`` when ``y`` is required;
- ``tiny_configs``: a list of small config dicts the common tests build for input (1, 8, 8);
- where meaningful: ``encode(x)``, ``decode(z)``, ``reconstruct(x)``,
  ``reconstruction_log_likelihood(x)``, ``sample(n, *, generator=None)``,
  ``log_prob(x, *, k=..., generator=None)`` (exact, or a bound with ``k`` samples), ``elbo(x)``.
  Evaluation, figures and the CLI use whatever a model has.
"""

from __future__ import annotations

import dataclasses
import typing

from hourglass.core.errors import ConfigError

_MODELS: dict[str, type] = {}


def register_model(name: str):
    """Class decorator: register a model class under `name`. Duplicate names are refused."""

    def wrap(cls):
        if name in _MODELS:
            raise RuntimeError(f"model name {name!r} is already registered by {_MODELS[name]}")
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


def describe_models() -> list[tuple[str, str]]:
    """(name, first line of the class docstring) for every model, for `hourglass list`."""
    return [(n, (_MODELS[n].__doc__ or "").strip().splitlines()[0]) for n in list_models()]


def build(name: str, **config):
    """Build the model `name` from keyword config values (validated; errors name the parameter)."""
    cls = get_model_class(name)
    return cls(cls.config_class.from_dict(config, owner=cls.__name__))


class ModelConfig:
    """Mixin for model config dataclasses: validation from declared constraints, JSON round trip."""

    constraints: typing.ClassVar[dict] = {}

    def validate(self, owner: str | None = None) -> None:
        from hourglass.core.validation import check_params
        params = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        check_params(owner or type(self).__name__, params, self.constraints)

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

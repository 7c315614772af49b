"""The estimators' parameters, derived from the option declarations.

scikit-learn needs an explicit keyword-only ``__init__`` signature (``get_params``, ``clone`` and
``GridSearchCV`` read it). Here it is generated: an estimator's parameters are

1. the options of its model's config (``latent_dim``, ``hidden``, ``beta``, ...), with
   ``likelihood`` also taking ``"auto"`` (Bernoulli for data in [0, 1], else Gaussian);
2. the training options of :class:`~hourglass.train.TrainConfig` that an estimator takes
   (``epochs``, ``batch_size``, ``optimizer``, ``lr``, ...);
3. the estimator's own options (:class:`EstimatorOptions` and any a family adds, such as
   :class:`ImportanceOptions`).

Each comes with its default and constraint from its one declaration, so adding an option to a
model or to training adds it to the estimators.
"""

from __future__ import annotations

import inspect
import numbers
from dataclasses import dataclass

from hourglass.core.options import constraints, option, options
from hourglass.core.validation import AnyOf, Boolean, Interval, Options, Sizes
from hourglass.train import TrainConfig


class RandomState:
    """Constraint: None, an int seed or a numpy RandomState (scikit-learn's ``random_state``)."""

    def accepts(self, v) -> bool:
        return v is None or (isinstance(v, numbers.Integral) and not isinstance(v, bool)
                             and 0 <= v <= 2 ** 32 - 1) or type(v).__name__ == "RandomState"

    def __str__(self):
        return "None, an int in [0, 2**32 - 1] or a numpy RandomState"


@dataclass
class EstimatorOptions:
    """Options every estimator has besides its model's and training's."""

    image_shape: tuple | None = option(None, AnyOf((None, Sizes())),
                                       "(C, H, W) or (H, W) of one image when X is 2-D; None: "
                                       "taken from X's shape")
    validation_fraction: float = option(0.0, Interval(float, 0, 1, closed="left"),
                                        "share of the rows held out as a validation split "
                                        "(needed by patience)")
    random_state: object = option(None, RandomState(),
                                  "seed of the weights, the data order and the sampling")
    verbose: bool = option(False, Boolean(), "show a progress bar while fitting")


@dataclass
class ImportanceOptions:
    """Options of the estimators whose score is an importance-weighted bound."""

    n_importance: int = option(200, Interval(int, 1, None),
                               "importance samples k of the bound L_k(x) <= log p(x) that "
                               "score_samples returns (Burda et al. 2016)")


@dataclass(frozen=True)
class Param:
    """One estimator parameter: where it goes (``model``, ``train`` or ``estimator``), its
    default, constraint and help."""

    kind: str
    default: object
    constraint: object
    help: str


def estimator_params(model_config, *, extra: tuple = (), skip: tuple = ()) -> dict[str, Param]:
    """The parameters of an estimator over `model_config` (a config dataclass), in order."""
    params: dict[str, Param] = {}
    found = constraints(model_config)
    for name, (f, s) in options(model_config).items():
        if s.estimator and name not in skip:
            c = found.get(name)
            default = f.default
            if name == "likelihood" and isinstance(c, Options):
                c, default = Options(("auto", *c.values)), "auto"
            params[name] = Param("model", default, c, s.help)
    for cls in extra:
        for name, (f, s) in options(cls).items():
            if name not in skip:
                params[name] = Param("estimator", f.default, constraints(cls).get(name), s.help)
    train_found = constraints(TrainConfig)
    for name, (f, s) in options(TrainConfig).items():
        if s.estimator and name not in skip:
            params[name] = Param("train", f.default, train_found.get(name), s.help)
    for name, (f, s) in options(EstimatorOptions).items():
        if name not in skip and name not in params:
            params[name] = Param("estimator", f.default, constraints(EstimatorOptions).get(name),
                                 s.help)
    return params


def make_init(params: dict[str, Param], positional: tuple = ()):
    """An ``__init__`` that stores every parameter as given (the scikit-learn contract), with
    the explicit signature ``(self, <positional>, *, name=default, ...)``."""
    self_ = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    pos = [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=params[n].default)
           for n in positional]
    kw = [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=p.default)
          for n, p in params.items() if n not in positional]
    signature = inspect.Signature([self_, *pos, *kw])

    def __init__(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        for name, value in list(bound.arguments.items())[1:]:
            setattr(self, name, value)

    __init__.__signature__ = signature
    return __init__


def coerce(value, constraint):
    """A parameter's value as its model/training config wants it: lists to tuples, ints to floats
    where a float is declared (``dropout=0`` -> 0.0)."""
    if isinstance(value, list):
        return tuple(value)
    inner = constraint
    if isinstance(constraint, AnyOf):
        inner = next((c for c in constraint.options if c is not None), None)
    if isinstance(inner, Interval) and inner.kind is float and isinstance(value, numbers.Integral) \
            and not isinstance(value, bool):
        return float(value)
    return value


def _type_of(constraint, default) -> str:
    """The numpydoc type of a parameter: ``int``, ``float``, ``bool``, ``{'mlp', 'conv'}``,
    ``tuple of int``, ``float or None``, ..."""
    if isinstance(constraint, AnyOf):
        kinds = [_type_of(c, default) for c in constraint.options if c is not None]
        return " or ".join([*kinds, "None"] if None in constraint.options else kinds)
    if isinstance(constraint, Interval):
        return constraint.kind.__name__
    if isinstance(constraint, Options):
        return "{" + ", ".join(repr(v) for v in constraint.values) + "}"
    if isinstance(constraint, Boolean):
        return "bool"
    if isinstance(constraint, Sizes):
        return "tuple of int"
    if isinstance(constraint, RandomState):
        return "int, RandomState instance or None"
    if constraint is None:
        return type(default).__name__ if default is not None else "object"
    return str(constraint).removeprefix("a ").removeprefix("an ")


def params_doc(params: dict[str, Param]) -> str:
    """A numpydoc ``Parameters`` section of `params`: for each, ``name : type, default=value``,
    then its help text (from its one declaration) and the values it accepts."""
    lines = ["Parameters", "----------"]
    for name, p in params.items():
        lines.append(f"{name} : {_type_of(p.constraint, p.default)}, default={p.default!r}")
        text = p.help
        lines.append(f"    {text}{'' if text.endswith('.') else '.'}")
        if p.constraint is not None and not isinstance(p.constraint, (Options, Boolean)):
            lines.append(f"    Accepts {p.constraint}.")
    return "\n".join(lines)


__all__ = ["EstimatorOptions", "ImportanceOptions", "Param", "coerce", "estimator_params",
           "make_init", "params_doc"]

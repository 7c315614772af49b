"""Command-line flags derived from option declarations (:mod:`hourglass.core.options`).

Each option of a model's config or of :class:`~hourglass.train.TrainConfig` becomes one flag:
``latent_dim`` -> ``--latent-dim``, with the type, choices, default and help its declaration
gives. The constraint decides the flag's form:

- ``Boolean`` -> ``--batch-norm / --no-batch-norm``;
- ``Options`` -> ``choices``; ``Sizes`` -> a comma-separated list (``--hidden 512,256``);
- ``Interval(int)`` / ``Interval(float)`` -> a number, ``AnyOf((None, ...))`` also ``none``.

A declaration's ``flag`` entry overrides the derived flag where the command line differs from the
library (``--binarize auto``, ``--quiet`` for ``progress``). A model's ``likelihood`` also takes
``auto``: the run picks Bernoulli for data in [0, 1] and Gaussian otherwise.
"""

from __future__ import annotations

import argparse
import dataclasses

from hourglass.core.options import constraints, options, options_table
from hourglass.models import describe_models, get_model_class
from hourglass.train import TrainConfig
from hourglass.core.parsing import comma_sizes, optional_float, optional_int
from hourglass.core.validation import AnyOf, Boolean, Interval, Options, Sizes

AUTO_LIKELIHOOD_HELP = "; auto: Bernoulli for data in [0, 1], else Gaussian"
AUTO_BERNOULLI_HELP = "; auto: bernoulli (the data must be in [0, 1])"


def _number_type(c, optional: bool):
    if isinstance(c, Interval):
        if c.kind is int:
            return optional_int if optional else int
        return optional_float if optional else float
    return None


def flag_arguments(name: str, field: dataclasses.Field, spec, constraint) -> tuple[str, dict]:
    """The flag (``--name``) and the ``add_argument`` keywords of one option."""
    over = dict(spec.flag or {})
    flag = "--" + over.pop("name", name).replace("_", "-")
    default = over.pop("default", field.default)
    help_ = over.pop("help", spec.help)
    if over.pop("negate", False):  # --quiet sets progress=False
        return flag, dict(action="store_true", help=help_)
    kwargs: dict = {"default": default}
    optional = isinstance(constraint, AnyOf) and None in constraint.options
    inner = next((c for c in constraint.options if c is not None), None) if optional else constraint
    if isinstance(inner, Boolean) or (isinstance(inner, Options)
                                      and all(isinstance(v, bool) for v in inner.values)):
        kwargs["action"] = argparse.BooleanOptionalAction
    elif isinstance(inner, Options):
        choices = tuple(over.pop("choices", inner.values))
        if name == "likelihood" and "auto" not in choices:
            help_ += (AUTO_LIKELIHOOD_HELP if "gaussian" in choices else
                      AUTO_BERNOULLI_HELP)  # never offer a likelihood the model refuses
            choices, kwargs["default"] = ("auto", *choices), "auto"
        kwargs["choices"] = list(choices)
    elif isinstance(inner, Sizes):
        kwargs.update(type=comma_sizes, metavar="N,N")
    elif _number_type(inner, optional) is not None:
        kwargs["type"] = _number_type(inner, optional)
    kwargs.update(over)  # metavar, ...
    if kwargs.get("action") is None:
        kwargs["help"] = f"{help_} (default: {_show(kwargs['default'])})"
    else:
        kwargs["help"] = help_
    return flag, kwargs


def _show(value) -> str:
    if isinstance(value, tuple):
        return ",".join(map(str, value)) or "none"
    return str(value)


def add_option_flags(group, config_cls, *, skip: tuple = ()) -> list[str]:
    """One flag per option of `config_cls` that has one; returns the option names."""
    found = constraints(config_cls)
    names = []
    for name, (field, spec) in options(config_cls).items():
        if spec.flag is None or name in skip:
            continue
        flag, kwargs = flag_arguments(name, field, spec, found.get(name))
        dest = (spec.flag or {}).get("name", name)
        group.add_argument(flag, dest=dest, **kwargs)
        names.append(name)
    return names


def negated_flags(config_cls) -> dict[str, str]:
    """option name -> dest of its negating flag (``progress`` -> ``quiet``)."""
    return {name: spec.flag["name"] for name, (_, spec) in options(config_cls).items()
            if spec.flag and spec.flag.get("negate")}


def options_markdown() -> str:
    """The option reference of the documentation: the training options, then every model's."""
    parts = ["# Options\n",
             "Every option below is one declaration in the code; the command line's flags "
             "(`--latent-dim` for `latent_dim`) and the estimators' parameters are generated from "
             "it. This page is generated too: `python tools/write_options_doc.py`.\n",
             "## Training (`hourglass train`, and every estimator)\n",
             options_table(TrainConfig)]
    for name, can, summary in describe_models():
        parts += [f"## `{name}`\n", f"{summary} Capabilities: {can}.\n",
                  options_table(get_model_class(name).config_class, skip=("input_shape",))]
    return "\n".join(parts)

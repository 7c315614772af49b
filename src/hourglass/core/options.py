"""One declaration per option.

Every option of a model or of training is one dataclass field declared with :func:`option`: its
type (the annotation), its default, the constraint its values must satisfy and a one-line help
text. Everything else is derived from that declaration:

- validation (:func:`check_options`), with one error shape after scikit-learn's:
  ``The 'latent_dim' parameter of VAE must be an int in the range [1, inf). Got 0 instead.``;
- the scikit-learn estimators' keyword-only signatures (:mod:`hourglass.estimators`);
- the command line's flags, their types, choices, defaults and help (:mod:`hourglass.cli`);
- the option tables of the documentation (:func:`options_table`).

Example::

    @dataclass
    class VAEConfig(AutoencoderConfig):
        beta: float = option(1.0, Interval(float, 0, None), "weight of the KL term (beta-VAE)")
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from hourglass.core.validation import check_params

_KEY = "hourglass.option"


@dataclass(frozen=True)
class Spec:
    """What :func:`option` attaches to a field: its constraint, help and where it appears.

    ``estimator``: whether the scikit-learn estimators take it as a parameter (training options
    that only mean something for a run directory, such as checkpointing, do not).
    ``flag``: overrides of the command-line flag derived from the field (``default``, ``choices``,
    ``help``), for the few options whose command line adds a choice resolved against the data
    (``--binarize auto``); ``None`` means the option has no flag.
    """

    constraint: Any = None
    help: str = ""
    estimator: bool = True
    flag: dict | None = dataclasses.field(default_factory=dict)


def option(default, constraint=None, help: str = "", *, estimator: bool = True,
           flag: dict | None = None, cli: bool = True):
    """A dataclass field that is an option: ``name: type = option(default, constraint, help)``.

    ``constraint`` is an :mod:`hourglass.core.validation` constraint (``Interval``, ``Options``,
    ``Sizes``, ``Boolean``, ``AnyOf``); ``None`` inherits the constraint of the same field in a
    parent config. ``cli=False``: no command-line flag (``input_shape``, which the data decide).
    """
    spec = Spec(constraint, help, estimator, (flag or {}) if cli else None)
    return field(default=default, metadata={_KEY: spec})


def spec(f: dataclasses.Field) -> Spec:
    """The :class:`Spec` of a field (an empty one for a field declared without :func:`option`)."""
    return f.metadata.get(_KEY, Spec())


def options(cls) -> dict[str, tuple[dataclasses.Field, Spec]]:
    """Every option of a config dataclass (class or instance), in declaration order."""
    return {f.name: (f, spec(f)) for f in dataclasses.fields(cls)}


def constraints(cls) -> dict:
    """name -> constraint of every option that has one. A subclass that redeclares a field only to
    change its default (``option(500, None, ...)``) keeps the constraint of the parent's field."""
    cls = cls if isinstance(cls, type) else type(cls)
    found = {}
    for name in options(cls):
        for klass in cls.__mro__:
            f = getattr(klass, "__dataclass_fields__", {}).get(name)
            if f is not None and spec(f).constraint is not None:
                found[name] = spec(f).constraint
                break
    return found


def check_options(config, owner: str | None = None) -> None:
    """Raise ConfigError naming the first option of the dataclass `config` that breaks its
    constraint."""
    values = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    check_params(owner or type(config).__name__, values, constraints(config))


def options_table(cls, *, skip: tuple = ()) -> str:
    """A Markdown table of the options of `cls`: name, default, allowed values, meaning."""
    lines = ["| option | default | allowed | meaning |", "|---|---|---|---|"]
    for name, (f, s) in options(cls).items():
        if name in skip:
            continue
        allowed = str(constraints(cls).get(name, ""))
        lines.append(f"| `{name}` | `{f.default!r}` | {allowed} | {s.help} |")
    return "\n".join(lines) + "\n"

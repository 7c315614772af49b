"""Parameter constraints declared as data and checked in one place.

Every parameter error has the same shape, after scikit-learn's:
``The 'latent_dim' parameter of VAE must be an int in the range [1, inf). Got 0 instead.``
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from hourglass.core.errors import ConfigError


@dataclass(frozen=True)
class Interval:
    """A number of type `kind` (int or float) in [low, high] (None = unbounded).

    ``closed`` says which ends are included: "both", "left", "right" or "neither".
    """

    kind: type
    low: float | None = None
    high: float | None = None
    closed: str = "both"

    def accepts(self, v) -> bool:
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            return False
        if self.kind is int and not isinstance(v, numbers.Integral):
            return False
        if isinstance(v, float) and not math.isfinite(v):
            return False
        lo_ok = self.low is None or (v >= self.low if self.closed in ("both", "left") else v > self.low)
        hi_ok = self.high is None or (v <= self.high if self.closed in ("both", "right") else v < self.high)
        return lo_ok and hi_ok

    def __str__(self):
        left = "[" if self.closed in ("both", "left") and self.low is not None else "("
        right = "]" if self.closed in ("both", "right") and self.high is not None else ")"
        lo = "-inf" if self.low is None else self.low
        hi = "inf" if self.high is None else self.high
        name = "an int" if self.kind is int else "a float"
        return f"{name} in the range {left}{lo}, {hi}{right}"


@dataclass(frozen=True)
class Options:
    """One of a fixed set of values."""

    values: tuple

    def accepts(self, v) -> bool:
        return isinstance(v, (str, bool, type(None))) and v in self.values

    def __str__(self):
        kind = "a str among " if all(isinstance(v, str) for v in self.values) else "one of "
        return kind + "{" + ", ".join(repr(v) for v in self.values) + "}"


@dataclass(frozen=True)
class Boolean:
    """True or False (not 1, 0 or a string such as "yes")."""

    def accepts(self, v) -> bool:
        return isinstance(v, bool)

    def __str__(self):
        return "a bool (True or False)"


@dataclass(frozen=True)
class Sizes:
    """A sequence of positive ints (layer widths); non-empty unless `allow_empty` (no hidden layer)."""

    allow_empty: bool = False

    def accepts(self, v) -> bool:
        return (isinstance(v, (tuple, list)) and (len(v) > 0 or self.allow_empty)
                and all(isinstance(s, numbers.Integral) and not isinstance(s, bool) and s > 0
                        for s in v))

    def __str__(self):
        if self.allow_empty:
            return "a tuple of positive ints (empty for none)"
        return "a non-empty tuple of positive ints"


@dataclass(frozen=True)
class Text:
    """A non-empty string (a name or a path)."""

    def accepts(self, v) -> bool:
        return isinstance(v, str) and v != ""

    def __str__(self):
        return "a non-empty str"


@dataclass(frozen=True)
class AnyOf:
    """Any one of several constraints (e.g. None or a positive float)."""

    options: tuple

    def accepts(self, v) -> bool:
        return any(c is None and v is None or c is not None and c.accepts(v) for c in self.options)

    def __str__(self):
        return " or ".join("None" if c is None else str(c) for c in self.options)


def check_params(owner: str, params: dict, constraints: dict) -> None:
    """Raise ConfigError naming the first parameter of `params` that breaks its constraint."""
    for name, constraint in constraints.items():
        if name not in params:
            continue
        value = params[name]
        if not constraint.accepts(value):
            raise ConfigError(f"The {name!r} parameter of {owner} must be {constraint}. "
                              f"Got {value!r} instead.")


MAX_COUNT = 1_000_000  # samples drawn in one call; more would take minutes and many GB


def check_count(n, *, name: str = "n_samples", owner: str = "sample",
                maximum: int = MAX_COUNT) -> int:
    """`n` as a count of examples to draw or compute: an int (not a bool, a float or a string) in
    [1, maximum]. Raises ConfigError in the usual parameter shape, with the fix."""
    constraint = Interval(int, 1, maximum)
    if not constraint.accepts(n):
        hint = (f" Draw more in several calls of at most {maximum:,}."
                if isinstance(n, numbers.Integral) and not isinstance(n, bool) and n > maximum
                else "")
        raise ConfigError(f"The {name!r} parameter of {owner} must be {constraint}. "
                          f"Got {n!r} instead.{hint}")
    return int(n)

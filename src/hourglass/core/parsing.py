"""Command-line parsing shared by the ``hourglass`` commands and the experiments.

:class:`Parser` is argparse with one-line errors: a user mistake prints
``hourglass: error: ... (see PROG --help)`` and exits with :data:`EXIT_USAGE`. The functions below
are flag value types: each turns the flag's text into a value or raises
:class:`argparse.ArgumentTypeError`, which argparse reports as such a line.

Example
-------
>>> p = Parser(prog="demo")
>>> _ = p.add_argument("--hidden", type=comma_sizes, default=(256,))
>>> p.parse_args(["--hidden", "512,256"]).hidden
(512, 256)
"""

from __future__ import annotations

import argparse

EXIT_USAGE = 2  # exit status of a usage error, as argparse and POSIX tools use


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (usage goes to --help)."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"hourglass: error: {message} (see {self.prog} --help)\n")


def comma_sizes(text: str) -> tuple[int, ...]:
    """Layer widths from ``"512,256"``; ``"none"`` is no hidden layer, ``()``."""
    if text.strip().lower() == "none":  # no hidden layer (models that allow it)
        return ()
    try:
        sizes = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated ints, got {text!r}") from None
    if not sizes:
        raise argparse.ArgumentTypeError("expected at least one size")
    return sizes


def positive_int(text: str) -> int:
    """An int of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive int, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive int, got {value}")
    return value


def optional_float(text: str) -> float | None:
    """A float, or ``None`` for the text ``"none"``."""
    return None if text.lower() == "none" else float(text)


def optional_int(text: str) -> int | None:
    """An int, or ``None`` for the text ``"none"``."""
    return None if text.lower() == "none" else int(text)

"""The subcommands for what the codes are for: ``hourglass compare``, ``detect`` and ``debias``.

Each writes a Markdown table, a JSON file and figures into ``--out`` and prints the table; they are
the experiments :mod:`hourglass.experiments.compare`, :mod:`~hourglass.experiments.detect` and
:mod:`~hourglass.experiments.debias` under a command of their own.
"""

from __future__ import annotations

import argparse

from hourglass.cli.common import add_threads_flag, apply_threads
from hourglass.experiments import compare, debias, detect
from hourglass.train.progress import log_to_stderr

COMMANDS = {"compare": compare, "detect": detect, "debias": debias}


def description(command: str) -> str:
    """The description of `command`'s help: the experiment's own."""
    return COMMANDS[command].DESCRIPTION


def add_arguments(p: argparse.ArgumentParser, command: str) -> None:
    """The flags of `command`: --out, the experiment's own, and --threads."""
    p.add_argument("--out", required=True, help="folder for the table, JSON and figures")
    COMMANDS[command].add_arguments(p)
    add_threads_flag(p)


def run(args: argparse.Namespace) -> int:
    """Run the parsed ``compare``/``detect``/``debias`` command and print its table."""
    apply_threads(args)
    log_to_stderr()
    COMMANDS[args.command].run(args)
    return 0

"""The subcommands for what the codes are for: ``hourglass compare``, ``detect`` and ``debias``.

Each writes a Markdown table, a JSON file and figures into ``--out`` and prints the table; they are
the experiments :mod:`hourglass.experiments.compare`, :mod:`~hourglass.experiments.detect` and
:mod:`~hourglass.experiments.debias` under a command of their own.
"""

from __future__ import annotations

import argparse

from hourglass.experiments import compare, debias, detect

COMMANDS = {"compare": compare, "detect": detect, "debias": debias}


def add_commands(sub) -> None:
    """Add the three subparsers to `sub` (the CLI's subparsers action)."""
    for name, experiment in COMMANDS.items():
        p = sub.add_parser(name, help=experiment.HELP, description=experiment.DESCRIPTION)
        p.add_argument("--out", required=True, help="folder for the table, JSON and figures")
        experiment.add_arguments(p)


def run(args: argparse.Namespace) -> None:
    """Run the parsed ``compare``/``detect``/``debias`` command and print its table."""
    COMMANDS[args.command].run(args)

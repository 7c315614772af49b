"""``hourglass experiment NAME [options]``: run one of :mod:`hourglass.experiments`."""

from __future__ import annotations

import argparse

from hourglass.cli.common import apply_threads
from hourglass.experiments import get_experiment
from hourglass.train.progress import log_to_stderr


def add_arguments(p: argparse.ArgumentParser, command: str) -> None:
    p.add_argument("name", help="experiment name (see `hourglass list`)")
    p.add_argument("args", nargs=argparse.REMAINDER, help="options of the experiment")


def run(args: argparse.Namespace) -> int:
    apply_threads(args)
    log_to_stderr()
    get_experiment(args.name).main(args.args)
    return 0

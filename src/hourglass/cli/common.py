"""Flags and output shared by the commands: ``--threads``, hidden aliases, printed metrics, and
the check that an output file given on the command line does not exist yet."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import torch

from hourglass.core.errors import ConfigError
from hourglass.core.parsing import positive_int

THREADS_HELP = ("CPU threads of torch (default: torch's own, one per core). On a shared or busy "
                "machine 1 thread can be far faster: with more threads every step waits for the "
                "slowest core. Not recorded in the run: results agree up to float rounding (the "
                "last bits can differ between thread counts)")


def add_threads_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=positive_int, default=None, metavar="N", help=THREADS_HELP)


def add_device_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")


def add_alias(p, alias: str, dest: str, **kwargs) -> None:
    """`alias` as a second spelling of the flag of `dest`, left out of the help: it still works."""
    p.add_argument(alias, dest=dest, default=argparse.SUPPRESS, help=argparse.SUPPRESS, **kwargs)


def add_importance_samples_flag(p, default: int = 1000) -> None:
    """``--importance-samples K`` (hidden alias ``--k``): the k of the importance-weighted bound
    log p(x) >= E log (1/k) sum_i p(x, z_i) / q(z_i | x) (Burda et al., 2016)."""
    p.add_argument("--importance-samples", dest="importance_samples", type=positive_int,
                   default=default, metavar="K",
                   help="importance samples of the test log-likelihood bound (Burda et al., 2016)")
    add_alias(p, "--k", "importance_samples", type=positive_int, metavar="K")


def apply_threads(args: argparse.Namespace) -> None:
    if getattr(args, "threads", None) is not None:
        torch.set_num_threads(args.threads)


def show_library_messages() -> None:
    """The library's log messages (logger "hourglass": early stopping, downloads, one line each)
    go to stderr while a command runs, unless a handler was set up already."""
    logger = logging.getLogger("hourglass")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)


def refuse_existing(path, flag: str) -> None:
    """An output file given with `flag` must not exist: nothing of the user's is overwritten."""
    if path is not None and (Path(path).exists() or Path(path).is_symlink()):
        raise ConfigError(f"{flag} {path} exists already; nothing was overwritten. Give a new "
                          "file name, or remove the old file first.")


def print_metrics(metrics: dict) -> None:
    for k, v in metrics.items():
        print(f"  {k:<22} {v:.6g}" if isinstance(v, float) else f"  {k:<22} {v}")

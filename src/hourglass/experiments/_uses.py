"""Flags and logging shared by the compare, detect and debias experiments (also the ``hourglass
compare``, ``detect`` and ``debias`` commands)."""

from __future__ import annotations

import argparse
import sys

from hourglass.core.parsing import comma_sizes, positive_int


def log(message: str) -> None:
    """Progress goes to stderr, so that stdout holds only the table."""
    print(message, file=sys.stderr, flush=True)


def add_common_flags(p: argparse.ArgumentParser, *, epochs: int, hidden: str = "512,256") -> None:
    """--data, --epochs, --hidden, --batch-size, --seed, --device, --download."""
    p.add_argument("--data", default="digits", help="dataset (same forms as for train; "
                   "default: digits)")
    p.add_argument("--epochs", type=positive_int, default=epochs,
                   help=f"training epochs of the autoencoder models (default: {epochs})")
    p.add_argument("--hidden", type=comma_sizes, default=tuple(int(h) for h in hidden.split(",")),
                   metavar="N,N", help=f"MLP widths of the autoencoder models (default: {hidden})")
    p.add_argument("--batch-size", type=positive_int, default=128,
                   help="training batch size of the models (default: 128)")
    p.add_argument("--seed", type=int, default=0, help="seed of subsamples and models (default: 0)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--download", action="store_true", help="allow downloading the dataset")


def common_settings(args: argparse.Namespace) -> dict:
    """The keyword arguments of run_compare/run_detect/run_debias that the common flags give."""
    return dict(epochs=args.epochs, hidden=args.hidden, batch_size=args.batch_size,
                seed=args.seed, device=args.device, out=args.out, download=args.download, log=log)

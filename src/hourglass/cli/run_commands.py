"""``hourglass evaluate``, ``sample`` and ``embed``: the commands over one trained run."""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

from hourglass.cli.common import (add_device_flag, add_importance_samples_flag, add_threads_flag,
                                  apply_threads, print_metrics, refuse_existing)
from hourglass.core.parsing import positive_int
from hourglass.runs import workflow
from hourglass.train.lock import run_lock
from hourglass.train.progress import log_to_stderr


def add_arguments(p: argparse.ArgumentParser, command: str) -> None:
    """The flags of `command` (evaluate, sample or embed)."""
    p.add_argument("run", help="run directory")
    if command == "evaluate":
        add_importance_samples_flag(p)
        p.add_argument("--sample-quality", default=None, action=argparse.BooleanOptionalAction,
                       help="Fréchet distance, precision and recall of 10,000 samples in the "
                       "features of a classifier trained once on the dataset (default: on for "
                       "GANs only)")
    elif command == "sample":
        p.add_argument("-n", type=positive_int, default=64, help="number of samples")
        p.add_argument("--class", dest="label", type=int, default=None, metavar="C",
                       help="draw every sample from p(x | y = C), class C of a class-conditional "
                       "model (cvae, m2, a supervised aae) (default: none, the classes drawn "
                       "from their prior)")
        p.add_argument("--seed", type=int, default=0, help="random seed")
        p.add_argument("--out", default=None,
                       help="PNG to write, a new file (default: RUN/figures/samples.png)")
        p.add_argument("--npy", default=None,
                       help="also save the samples as this .npy file, a new file (default: none)")
    elif command == "embed":
        p.add_argument("--data", required=True, help="dataset (same forms as for train)")
        p.add_argument("--split", default="test", help="train | val | test | all")
        p.add_argument("--out", required=True, help=".npy file to write, a new file")
    add_device_flag(p)
    add_threads_flag(p)


def run(args: argparse.Namespace) -> int:
    apply_threads(args)
    log_to_stderr()
    if args.command == "evaluate":
        # evaluate rewrites metrics, figures and report: hold the run's lock (refused while a
        # live run writes it; a dead run's stale lock is taken over and removed)
        with run_lock(args.run) if Path(args.run).is_dir() else contextlib.nullcontext():
            metrics = workflow.evaluate_run(args.run, k=args.importance_samples,
                                            device=args.device,
                                            sample_quality=args.sample_quality)
        print_metrics(metrics)
        print(f"report: {args.run}/report.html")
    elif args.command == "sample":
        refuse_existing(args.out, "--out")
        refuse_existing(args.npy, "--npy")
        written = workflow.sample_run(args.run, n=args.n, seed=args.seed, out=args.out,
                                      npy=args.npy, device=args.device, label=args.label)
        for kind, path in written.items():
            print(f"{kind}: {path}")
    elif args.command == "embed":
        refuse_existing(args.out, "--out")
        path = workflow.embed_run(args.run, args.data, out=args.out, split=args.split,
                                  device=args.device)
        print(f"codes: {path}")
    return 0

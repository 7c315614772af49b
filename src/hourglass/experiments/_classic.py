"""Helpers shared by the classic-autoencoder experiments (sdae-corruption, regularizers, filters):
Fashion-MNIST as stored, one training call with the experiment's optimizer settings, test error,
and the report (JSON + Markdown with the budget, times and the command that regenerates it)."""

from __future__ import annotations

import argparse
import os
import sys
import time

import torch

from hourglass.data import load
from hourglass.evaluate import batched
from hourglass.train import TrainConfig, train
from hourglass.experiments import machine_info, markdown_table, write_results


def add_training_options(p: argparse.ArgumentParser, *, n: int | None, epochs: int) -> None:
    """--n, --epochs, --batch-size, --lr, --seed, --threads: the budget every row shares."""
    p.add_argument("--n", type=int, default=n, help="Fashion-MNIST training images used "
                   f"(default: {n or 'all 54,000 of the training split'})")
    p.add_argument("--epochs", type=int, default=epochs,
                   help=f"training epochs of every model (default: {epochs})")
    p.add_argument("--batch-size", type=int, default=128, help="examples per step (default: 128)")
    p.add_argument("--lr", type=float, default=None, help="Adam learning rate (default: 1e-3)")
    p.add_argument("--seed", type=int, default=0, help="seed of data subset and training")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (default: 1; on a busy machine more is much slower)")
    p.add_argument("--progress", action="store_true", help="show progress bars")


def fashion_mnist(args):
    """The Fashion-MNIST splits (train: a seeded subset of --n images), uint8 as stored."""
    torch.set_num_threads(args.threads)
    return load("fashion-mnist", n=args.n, seed=args.seed)


def train_config(args, *, epochs: int | None = None, seed: int | None = None) -> TrainConfig:
    """The experiment's optimizer settings; grey levels in [0, 1] are used as given."""
    return TrainConfig(epochs=args.epochs if epochs is None else epochs,
                       batch_size=args.batch_size, lr=args.lr, binarize="none",
                       seed=args.seed if seed is None else seed, device="cpu",
                       progress=args.progress)


def timed_train(model, x, *, y=None, config: TrainConfig) -> tuple[list[dict], float]:
    """Train with the one loop; return the history and the wall time in seconds."""
    t0 = time.perf_counter()
    history = train(model, x, y=y, config=config)
    return history, time.perf_counter() - t0


def test_error(model, x: torch.Tensor, y: torch.Tensor) -> float:
    """Share of misclassified examples under ``model.classify`` (x as stored, uint8 or float)."""
    p_y = batched(model.eval().classify, x, batch_size=1000)
    return float((p_y.argmax(1) != y).float().mean())


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def begin(parse, argv: list[str] | None):
    """The experiment's start: argv (``sys.argv[1:]`` when None), its parsed options, the clock
    (for `report`) and Fashion-MNIST."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse(argv)
    return argv, args, started(), fashion_mnist(args)


def started() -> dict:
    """What `report` needs to say how long the experiment took and how busy the machine was."""
    return {"load": os.getloadavg(), "wall": time.perf_counter(), "cpu": time.process_time()}


def report(name: str, argv: list[str], args, start: dict, *, title: str, rows: list[dict],
           budget: dict, columns: list[str] | None = None, preface: str = "",
           extra: dict | None = None) -> dict:
    """Write NAME.json and NAME.md (title, preface, table, budget, times, the command), print the
    Markdown and return the JSON's content."""
    wall, cpu = time.perf_counter() - start["wall"], time.process_time() - start["cpu"]
    command = " ".join(["hourglass experiment", name, *argv])
    result = {"experiment": name, "command": command, "budget": budget, "rows": rows, **(extra or {}),
              "total_time_s": wall, "total_cpu_time_s": cpu,
              "machine": {**machine_info(start["load"]),
                          "note": "shared 2-core machine: other jobs ran at the same time; "
                                  "times are wall clock, CPU time is this process's"}}
    md = (f"### {title}\n\n{preface}" + markdown_table(rows, columns, digits=3) + "\n"
          + "; ".join(f"{k}: {v}" for k, v in budget.items())
          + f". Total: {wall / 60:.1f} min wall clock, {cpu / 60:.1f} min CPU time, "
            f"{args.threads} torch thread(s) on a shared {os.cpu_count()}-core machine.\n"
          + f"\nRegenerate: `{command}`\n")
    write_results(name, result, md, args.out)
    print(md)
    return result

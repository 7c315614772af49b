"""Data-parallel scaling of `hourglass train` on one machine: 1 process against torchrun with N.

Trains the MLP VAE of benchmarks/throughput.py (784-512-256-16, Adam; global batches of 128 and
1024 by default) for
`--epochs` epochs on Fashion-MNIST with `--no-eval`, as

* one process with `--threads T` for T in 1..N (the baseline a user would try first), and
* `torchrun --nproc-per-node N` with `--threads 1` per rank (gloo on CPU),

and reads the epoch times that the run wrote to history.csv (so start-up and data loading are
not counted). Prints and writes samples/s and the final training loss of each.

    python benchmarks/distributed.py [--data fashion-mnist] [--nproc 2] [--epochs 2]
                                     [--batch-sizes 128,1024] [--device cpu]

Writes benchmarks/results/distributed.json and distributed.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from hourglass.core.io import atomic_write_json, atomic_write_text

RESULTS = Path(__file__).parent / "results"
TRAIN = ["-m", "hourglass", "train", "vae", "--latent-dim", "16", "--hidden", "512,256",
         "--no-eval", "--quiet"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(label: str, batch_size: int, prefix: list[str], args: list[str], out: Path) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([*prefix, *TRAIN, "--batch-size", str(batch_size), *args, "--out", str(out)],
                   env=env, check=True,
                   stdout=subprocess.DEVNULL)
    rows = list(csv.DictReader((out / "history.csv").open()))
    n = json.loads((out / "config.json").read_text())["data"]["sizes"]["train"]
    seconds = sum(float(r["time_s"]) for r in rows)
    result = {"setup": label, "batch_size": batch_size, "epochs": len(rows), "train_rows": n, "seconds": round(seconds, 2),
              "samples_per_s": round(n * len(rows) / seconds, 1),
              "final_train_loss": round(float(rows[-1]["train_loss"]), 3)}
    print(result, flush=True)
    return result


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="fashion-mnist")
    p.add_argument("--nproc", type=int, default=2)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-sizes", default="128,1024", help="global batch sizes, comma-separated")
    p.add_argument("--device", default="cpu")
    a = p.parse_args(argv)
    common = ["--data", a.data, "--epochs", str(a.epochs), "--device", a.device]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for bs in (int(b) for b in a.batch_sizes.split(",")):
            group = []
            for t in range(1, a.nproc + 1):
                group.append(run(f"1 process, {t} thread(s)", bs, [sys.executable],
                                 [*common, "--threads", str(t)], Path(tmp) / f"single{t}-{bs}"))
            torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node",
                        str(a.nproc), "--master-addr", "127.0.0.1", "--master-port", str(free_port())]
            group.append(run(f"torchrun, {a.nproc} processes x 1 thread", bs, torchrun,
                             [*common, "--threads", "1"], Path(tmp) / f"ddp-{bs}"))
            for r in group:
                r["speed_vs_1_thread"] = round(r["samples_per_s"] / group[0]["samples_per_s"], 2)
            results += group
    meta = {"data": a.data, "device": a.device, "cpus": os.cpu_count(),
            "machine": platform.processor() or platform.machine(), "torch": torch.__version__,
            "load_average_at_end": os.getloadavg()[0]}
    RESULTS.mkdir(exist_ok=True)
    atomic_write_json(RESULTS / "distributed.json", {"meta": meta, "results": results})
    lines = ["| global batch | setup | epochs | samples/s | vs 1 process, 1 thread | final train loss |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r['batch_size']} | {r['setup']} | {r['epochs']} | {r['samples_per_s']:,.0f} | "
              f"{r['speed_vs_1_thread']:.2f}x | {r['final_train_loss']} |" for r in results]
    lines.append(f"\n{meta['cpus']} CPUs, torch {meta['torch']}, {a.data}, device {a.device}; "
                 f"load average {meta['load_average_at_end']:.1f} at the end.")
    atomic_write_text(RESULTS / "distributed.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

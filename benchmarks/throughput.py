"""Throughput of Hourglass's training loop against a minimal hand-written PyTorch loop.

Both train the same MLP VAE (784-512-256-16, batch 128, Adam) for one epoch on Fashion-MNIST's
training split, in one process, alternating, for several repeats. The hand loop holds the whole
dataset as one float tensor and slices batches by index: the fastest plain loop there is. The ratio
hourglass / hand says what the library's loop costs.

    python benchmarks/throughput.py [--data fashion-mnist] [--repeats 3] [--device cpu] [--threads N]

Writes benchmarks/results/throughput.json and throughput.md.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import torch

from hourglass.core.io import atomic_write_json, atomic_write_text
from hourglass.data import load
from hourglass.models import build
from hourglass.train import TrainConfig, resolve_device, train

RESULTS = Path(__file__).parent / "results"


def make_model(shape, seed):
    torch.manual_seed(seed)
    return build("vae", input_shape=shape, latent_dim=16, hidden=(512, 256))


def hand_loop(model, x: torch.Tensor, *, batch_size: int, device) -> float:
    """The minimal loop: float data on the device, shuffled index slices, Adam."""
    model.to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = x.to(device)
    t0 = time.perf_counter()
    perm = torch.randperm(x.shape[0], device=device)
    for start in range(0, x.shape[0], batch_size):
        xb = x[perm[start:start + batch_size]]
        loss = model(xb)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def hourglass_loop(model, x_uint8: torch.Tensor, *, batch_size: int, device) -> float:
    config = TrainConfig(epochs=1, batch_size=batch_size, optimizer="adam", progress=False,
                         device=str(device))
    t0 = time.perf_counter()
    train(model, x_uint8, config=config)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="fashion-mnist")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default=str(RESULTS))
    p.add_argument("--threads", type=int, default=None,
                   help="torch intra-op threads (default: torch's own choice)")
    args = p.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    ds = load(args.data)
    x_uint8 = ds.train.x
    x_float = ds.to_float(x_uint8)
    n = x_uint8.shape[0]
    times = {"hand": [], "hourglass": []}
    for r in range(args.repeats):
        for name in ("hand", "hourglass") if r % 2 == 0 else ("hourglass", "hand"):
            model = make_model(ds.shape, seed=r)
            if name == "hand":
                times[name].append(hand_loop(model, x_float, batch_size=args.batch_size,
                                             device=device))
            else:
                times[name].append(hourglass_loop(model, x_uint8, batch_size=args.batch_size,
                                                  device=device))
            print(f"repeat {r + 1}/{args.repeats} {name:<9} {n / times[name][-1]:9.0f} samples/s")
    rate = {k: n / statistics.median(v) for k, v in times.items()}
    result = {
        "benchmark": "one epoch, MLP VAE 784-512-256-16, batch %d, Adam" % args.batch_size,
        "data": args.data, "n_train": n, "repeats": args.repeats, "device": str(device),
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
        "seconds": times,
        "samples_per_s_median": rate,
        "ratio_hourglass_over_hand": rate["hourglass"] / rate["hand"],
    }
    out = Path(args.out)
    atomic_write_json(out / "throughput.json", result)
    table = ("| loop | samples/s (median of %d) | epoch time (s) |\n|---|---|---|\n" % args.repeats
             + "".join(f"| {k} | {rate[k]:.0f} | {statistics.median(times[k]):.2f} |\n"
                       for k in ("hand", "hourglass"))
             + f"\nratio hourglass / hand: **{result['ratio_hourglass_over_hand']:.3f}** "
               f"({result['benchmark']}, {args.data}, {n} examples, {device}, "
               f"{result['threads']} threads, torch {torch.__version__})\n")
    atomic_write_text(out / "throughput.md", table)
    print(table)
    return result


if __name__ == "__main__":
    main()

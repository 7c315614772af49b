"""Where a training step's time goes: Hourglass's trainer against a hand-written loop, by op kind.

The net is the one of ``benchmarks/peer.py``: the 784-512-256-16 MLP VAE with a Bernoulli decoder,
Adam at lr 1e-3 (fused, as Hourglass uses it by default), on Fashion-MNIST. For each batch size:

- **samples/s** of a steady stretch of steps, without the profiler, for the hand-written loop,
  ``hourglass.train`` and ``hourglass.train`` with ``compile=True`` (``torch.compile`` of the loss
  step; its compile time is left out), alternating over ``--rounds`` rounds (median);
- **a profile** (``torch.profiler``, CPU) of the same steps of the hand loop and of the trainer:
  the self time of every op, summed by kind: matrix products (``addmm``, ``mm``, ...), the
  optimizer (``_fused_adam_``, ``_foreach_*``), other torch ops (elementwise, reductions, copies),
  and what is left of the wall time outside any op (Python, the trainer's bookkeeping);
- **bounds**: the FLOPs of one step (``torch.utils.flop_counter``) over the measured fp32 peak of
  a 2048 x 2048 product, and over the rate of the very products of the step (their shapes, timed
  alone): the second is what the machine's matmul library reaches on matrices this small, the
  ceiling for any loop.

    python benchmarks/profile_step.py [--threads 2] [--batch-sizes 128,512] [--steps 200]

Writes benchmarks/results/NAME.json and NAME.md (default profile-step). Run it alone on the
machine: the profile is of wall time.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from hourglass.core.io import atomic_write_json, atomic_write_text
from hourglass.train import TrainConfig, train
# the sibling benchmarks (this script's folder is on sys.path when it is run as a script)
from models import KINDS, _best_time, matmul_peak, profiled
from peer import _data, _model

RESULTS = Path(__file__).parent / "results"
def hand_run(x_uint8: torch.Tensor, batch_size: int, steps: int):
    """A closure running `steps` steps of the minimal loop (float data, index slices, fused
    Adam) on Hourglass's own model, so that the two profiles differ by the trainer alone (the
    side-by-side benchmark, ``peer.py``, gives the hand loop a model of its own)."""
    model = _model(tuple(x_uint8.shape[1:])).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    x = x_uint8[:steps * batch_size].float() / 255

    def run():
        perm = torch.randperm(x.shape[0])
        for start in range(0, x.shape[0], batch_size):
            loss = model(x[perm[start:start + batch_size]])["loss"]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return run


def hourglass_run(x_uint8: torch.Tensor, batch_size: int, steps: int, *, compile: bool = False):
    """A closure training one more epoch of `steps` steps of the same model with
    ``hourglass.train`` (so that, with `compile`, torch compiles the step once, in the warm-up)."""
    x = x_uint8[:steps * batch_size]
    model = _model(tuple(x.shape[1:]))
    config = TrainConfig(epochs=1, batch_size=batch_size, optimizer="adam", lr=1e-3,
                         progress=False, device="cpu", compile=compile)

    def run():
        train(model, x, config=config)
    return run


def step_flops(shape, batch_size: int) -> int:
    model = _model(shape).train()
    x = (torch.rand(batch_size, *shape) < 0.5).float()
    with FlopCounterMode(display=False) as counter:
        model(x)["loss"].backward()
    return counter.get_total_flops()


def peak_own_shapes(batch_size: int, sizes=(784, 512, 256, 16)) -> float:
    """FLOP/s of the step's own products, timed alone: for every linear layer (in, out) of the
    encoder and decoder, the forward x W^T, the input gradient g W and the weight gradient g^T x."""
    layers = list(zip(sizes[:-1], sizes[1:]))
    enc = [(i, o * 2 if o == sizes[-1] else o) for i, o in layers]        # mean and log-variance
    dec = [(o, i) for i, o in reversed(layers)]
    mats = []
    for i, o in enc + dec:
        x, w, g = torch.randn(batch_size, i), torch.randn(o, i), torch.randn(batch_size, o)
        mats.append((x, w, g))
    flops = sum(3 * 2 * x.shape[0] * x.shape[1] * w.shape[0] for x, w, _ in mats)

    def run():
        for x, w, g in mats:
            torch.mm(x, w.t())
            torch.mm(g, w)
            torch.mm(g.t(), x)
    return flops / _best_time(run, repeats=20)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch-sizes", default="128,512")
    p.add_argument("--steps", type=int, default=200, help="steps per timed call (default 200)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--name", default="profile-step")
    p.add_argument("--out", default=str(RESULTS))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    x_all = _data()
    shape = tuple(x_all.shape[1:])
    t_start = time.time()
    square = matmul_peak()
    rows = []
    for bs in (int(b) for b in args.batch_sizes.split(",")):
        steps = min(args.steps, x_all.shape[0] // bs)
        runs = {"hand, fused Adam": hand_run(x_all, bs, steps),
                "hourglass": hourglass_run(x_all, bs, steps),
                "hourglass, compile": hourglass_run(x_all, bs, steps, compile=True)}
        for fn in runs.values():
            fn()  # warm-up (and the compilation)
        times = {k: [] for k in runs}
        for _ in range(args.rounds):
            for k, fn in runs.items():
                t0 = time.perf_counter()
                fn()
                times[k].append(time.perf_counter() - t0)
        flops = step_flops(shape, bs)
        own = peak_own_shapes(bs)
        for k in runs:
            t = statistics.median(times[k]) / steps
            row = {"batch": bs, "loop": k, "samples_per_s": bs / t, "step_ms": 1e3 * t,
                   "share_of_square_peak": flops / t / square,
                   "share_of_own_shapes": flops / t / own}
            if k != "hourglass, compile":
                prof = profiled(runs[k])
                row["profile_ms_per_step"] = {kk: 1e3 * v / steps for kk, v in prof.items()}
            rows.append(row)
            print(row, flush=True)
        rows.append({"batch": bs, "loop": "bound: the step's FLOPs at the own-shapes rate",
                     "samples_per_s": own / flops * bs, "step_ms": 1e3 * flops / own,
                     "share_of_square_peak": own / square, "share_of_own_shapes": 1.0})
    result = {"benchmark": "profile-step", "threads": args.threads, "steps": args.steps,
              "rounds": args.rounds, "square_peak_gflops": square / 1e9,
              "machine": {"cpu": _cpu(), "torch": torch.__version__,
                          "capability": torch.backends.cpu.get_cpu_capability()},
              "rows": rows, "total_time_s": time.time() - t_start}
    out = Path(args.out)
    atomic_write_json(out / f"{args.name}.json", result)
    atomic_write_text(out / f"{args.name}.md", markdown(result))
    print(markdown(result))
    return result


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def markdown(r: dict) -> str:
    m = r["machine"]
    lines = [f"Where the step's time goes: MLP VAE 784-512-256-16, fused Adam, {r['threads']} "
             f"threads, {r['steps']} steps per call, median of {r['rounds']} alternating rounds; "
             f"{m['cpu']} ({m['capability']}), torch {m['torch']}; fp32 peak of a 2048 x 2048 "
             f"product {r['square_peak_gflops']:.1f} GFLOP/s.", "",
             "| batch | loop | samples/s | ms per step | share of 2048^2 peak | share of the "
             "own-shapes rate | " + " | ".join(f"{k} (ms)" for k in KINDS) + " |",
             "|---" * (6 + len(KINDS)) + "|"]
    for row in r["rows"]:
        prof = row.get("profile_ms_per_step", {})
        lines.append(f"| {row['batch']} | {row['loop']} | {row['samples_per_s']:,.0f} | "
                     f"{row['step_ms']:.2f} | {row['share_of_square_peak']:.2f} | "
                     f"{row['share_of_own_shapes']:.2f} | "
                     + " | ".join(f"{prof[k]:.2f}" if k in prof else "" for k in KINDS) + " |")
    lines += ["", "The profile columns are from separate, profiled calls (the fastest of three; "
              "the profiler adds its own "
              "cost to every op, so they sum to more than the unprofiled step). The bound row: the "
              "step's FLOPs (forward and backward products) at the rate the machine's matmul "
              "library reaches on the step's own matrix shapes, timed alone; no loop can beat it "
              "without fewer or cheaper (bf16) FLOPs."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

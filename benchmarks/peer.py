"""Side by side: Hourglass's trainer, a hand-written PyTorch loop (default and fused Adam) and
Pythae, on the same MLP VAE, alternately, in one run.

The net is the 784-512-256-16 VAE with a Bernoulli decoder, Adam at lr 1e-3, on all 60,000
Fashion-MNIST training images; the hand-written loop has its own model (:class:`HandVAE`, plain
``nn.Sequential`` and ``F.binary_cross_entropy_with_logits``, as a notebook has it), Hourglass its
registered ``vae``; each measurement is a fresh process that trains two epochs and
reports the samples/s of the second (steady) one. Rounds alternate the variants, so a slower
stretch of a shared machine hits all of them; the table gives the median of the rounds and the
ratios within the run. Pythae (Chadebec et al. 2022) runs from its own virtual environment, never
from Hourglass's: pass its interpreter and a script that trains this net with Pythae's trainer and
prints ``RESULT {json with samples_per_s}`` (``--pythae-python``, ``--pythae-script``); without
them the Pythae rows are left out. On a CPU with native bf16 (AVX-512 BF16 or AMX) a second
Hourglass row trains with ``precision="bf16"`` (autocast); elsewhere bf16 is emulated and left out.

    python benchmarks/peer.py [--rounds 3] [--threads 2] [--batch-sizes 128,512]
        [--pythae-python ~/.cache/hourglass-peer/venv/bin/python --pythae-script bench_pythae.py]
        [--name peer]

Writes benchmarks/results/NAME.json and NAME.md (default peer).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from hourglass.core.io import atomic_write_json, atomic_write_text
from hourglass.data import load
from hourglass.models import build
from hourglass.train import TrainConfig, train
from hourglass.train.speed import native_bf16

RESULTS = Path(__file__).parent / "results"
VARIANTS = ("hourglass", "hand, default Adam", "hand, fused Adam", "pythae")
BF16 = "hourglass, bf16"


def _data() -> torch.Tensor:
    ds = load("fashion-mnist")
    return torch.cat([torch.as_tensor(ds.train.x), torch.as_tensor(ds.val.x)])  # all 60,000


def _model(shape):
    torch.manual_seed(0)
    return build("vae", input_shape=shape, latent_dim=16, hidden=(512, 256))


class HandVAE(torch.nn.Module):
    """The VAE as a notebook writes it: two ``nn.Sequential`` MLPs, the reparameterization, and the
    loss as binary cross-entropy with logits summed over pixels plus the closed-form KL, averaged
    over the batch (Kingma & Welling 2014). Nothing of Hourglass in it."""

    def __init__(self, d: int = 784, hidden=(512, 256), latent: int = 16):
        super().__init__()
        nn = torch.nn
        self.enc = nn.Sequential(nn.Linear(d, hidden[0]), nn.ReLU(), nn.Linear(*hidden), nn.ReLU(),
                                 nn.Linear(hidden[1], 2 * latent))
        self.dec = nn.Sequential(nn.Linear(latent, hidden[1]), nn.ReLU(),
                                 nn.Linear(hidden[1], hidden[0]), nn.ReLU(),
                                 nn.Linear(hidden[0], d))

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        import torch.nn.functional as F
        mu, logvar = self.enc(x).chunk(2, dim=-1)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        rec = F.binary_cross_entropy_with_logits(self.dec(z), x, reduction="sum")
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        return (rec + kl) / x.shape[0]


def hand_epochs(x_uint8: torch.Tensor, batch_size: int, *, fused: bool, epochs: int = 2) -> list:
    """The minimal loop: the whole dataset as one float tensor, shuffled index slices, Adam."""
    torch.manual_seed(0)
    model = HandVAE(x_uint8[0].numel()).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=fused or None)
    x = x_uint8.flatten(1).float() / 255
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(x.shape[0])
        for start in range(0, x.shape[0], batch_size):
            loss = model.loss(x[perm[start:start + batch_size]])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - t0)
    return times


def hourglass_epochs(x_uint8: torch.Tensor, batch_size: int, *, epochs: int = 2,
                     precision: str = "fp32") -> list:
    model = _model(tuple(x_uint8.shape[1:]))
    history = train(model, x_uint8, config=TrainConfig(epochs=epochs, batch_size=batch_size,
                                                       optimizer="adam", lr=1e-3,
                                                       precision=precision,
                                                       progress=False, device="cpu"))
    return [row["time_s"] for row in history]


def child(variant: str, batch_size: int, threads: int) -> None:
    """One measurement in this process: print one JSON line."""
    torch.set_num_threads(threads)
    x = _data()
    if variant in ("hourglass", BF16):
        times = hourglass_epochs(x, batch_size, precision="bf16" if variant == BF16 else "fp32")
    else:
        times = hand_epochs(x, batch_size, fused=variant == "hand, fused Adam")
    print(json.dumps({"samples_per_s": x.shape[0] / times[-1], "epoch_s": times}))


def measure(variant: str, batch_size: int, args) -> float | None:
    if variant == "pythae":
        if not args.pythae_python:
            return None
        cmd = [args.pythae_python, args.pythae_script, "custom", "--no-progress",
               "--threads", str(args.threads), "--bs", str(batch_size)]
        with tempfile.TemporaryDirectory() as scratch:  # Pythae writes its outputs to the cwd
            out = subprocess.run(cmd, capture_output=True, text=True, check=True,
                                 cwd=scratch).stdout
        line = [s for s in out.splitlines() if s.startswith("RESULT ")][-1]
        value = json.loads(line[len("RESULT "):])["samples_per_s"]
        return float(value[-1] if isinstance(value, list) else value)  # the steady epoch
    cmd = [sys.executable, __file__, "--child", variant, "--bs", str(batch_size),
           "--threads", str(args.threads)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return float(json.loads(out.strip().splitlines()[-1])["samples_per_s"])


def main() -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch-sizes", default="128,512")
    p.add_argument("--pythae-python", default=None)
    p.add_argument("--pythae-script", default=None)
    p.add_argument("--name", default="peer", help="result files NAME.json and NAME.md")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--bs", type=int, default=128, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args.child, args.bs, args.threads)
        return {}
    sizes = [int(s) for s in args.batch_sizes.split(",")]
    bf16 = native_bf16(torch.device("cpu"))
    variants = VARIANTS + ((BF16,) if bf16 else ())
    raw = {bs: {v: [] for v in variants} for bs in sizes}
    for r in range(args.rounds):
        for bs in sizes:
            for v in variants:
                value = measure(v, bs, args)
                if value is not None:
                    raw[bs][v].append(value)
                    print(f"round {r + 1} batch {bs} {v}: {value:,.0f} samples/s", flush=True)
    rows = []
    for bs in sizes:
        med = {v: statistics.median(s) for v, s in raw[bs].items() if s}
        for v, m in med.items():
            rows.append({"batch": bs, "loop": v, "samples_per_s": m,
                         "hourglass / this": med["hourglass"] / m})
    result = {"rows": rows, "raw": {str(k): v for k, v in raw.items()}, "rounds": args.rounds,
              "threads": args.threads, "torch": torch.__version__,
              "cpu_capability": torch.backends.cpu.get_cpu_capability(), "native_bf16": bf16,
              "platform": platform.platform(), "model": "VAE 784-512-256-16, Bernoulli",
              "data": "Fashion-MNIST, 60,000 images, epoch 2 of 2"}
    lines = ["| batch | loop | samples/s (median) | Hourglass / this |", "|---|---|---|---|"]
    lines += [f"| {r['batch']} | {r['loop']} | {r['samples_per_s']:,.0f} | "
              f"{r['hourglass / this']:.2f} |" for r in rows]
    md = (f"Median of {args.rounds} alternating rounds, {args.threads} threads, torch "
          f"{torch.__version__} ({result['cpu_capability']}, "
          f"{'native bf16' if bf16 else 'no native bf16: the bf16 row is left out'}).\n\n"
          + "\n".join(lines) + "\n")
    atomic_write_json(RESULTS / f"{args.name}.json", result)
    atomic_write_text(RESULTS / f"{args.name}.md", md)
    print(md)
    return result


if __name__ == "__main__":
    main()

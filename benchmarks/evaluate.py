"""Evaluation and start-up speed: Hourglass's test log-likelihood against a hand-written one.

The bound is the importance-weighted one of Burda et al. (2016) with k = 1000 samples, on the
784-512-256-16 MLP VAE of ``benchmarks/peer.py`` over Fashion-MNIST test images:

- **hourglass**: ``hourglass.evaluate.metrics.evaluate_model(model, x, k=1000)``, what
  ``hourglass evaluate`` runs (the IWAE bound, the ELBO, the reconstruction errors);
- **hand**: the bound as a notebook writes it, on a model of its own (``HandVAE`` of
  ``peer.py``): per batch of 100 images the encoder, k draws of z, the decoder on all of them in
  chunks, and one log-sum-exp, under ``torch.no_grad``.

The two alternate over ``--rounds`` rounds (median). Start-up: wall time of ``hourglass --help``
and ``hourglass list`` in fresh processes (median of ``--rounds``).

    python benchmarks/evaluate.py [--threads 2] [--n 1000] [--rounds 3]

Writes benchmarks/results/NAME.json and NAME.md (default evaluate). Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import math
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from hourglass.core.io import atomic_write_json, atomic_write_text
from hourglass.data import load
from hourglass.evaluate.metrics import evaluate_model
# the sibling benchmarks (this script's folder is on sys.path when it is run as a script)
from models import alternating
from peer import HandVAE, _model

RESULTS = Path(__file__).parent / "results"
LOG_2PI = math.log(2 * math.pi)


@torch.no_grad()
def hand_iwae(model: HandVAE, x: torch.Tensor, k: int, batch: int = 100,
              chunk: int = 100) -> torch.Tensor:
    """log (1/k) sum_j p(x|z_j) p(z_j) / q(z_j|x) per image, z_j ~ q(z|x): the IWAE bound."""
    out = []
    for start in range(0, x.shape[0], batch):
        xb = x[start:start + batch]
        mu, logvar = model.enc(xb).chunk(2, dim=-1)
        std = torch.exp(0.5 * logvar)
        log_w = []
        for done in range(0, k, chunk):
            eps = torch.randn(min(chunk, k - done), *mu.shape)
            z = mu + std * eps                                       # (chunk, B, d)
            logits = model.dec(z)                                    # (chunk, B, D)
            log_px = -F.binary_cross_entropy_with_logits(
                logits, xb.expand_as(logits), reduction="none").sum(-1)
            log_pz = -0.5 * (z ** 2 + LOG_2PI).sum(-1)
            log_qz = -0.5 * (eps ** 2 + LOG_2PI + logvar).sum(-1)
            log_w.append(log_px + log_pz - log_qz)
        out.append(torch.logsumexp(torch.cat(log_w), 0) - math.log(k))
    return torch.cat(out)


def startup(args: list[str], rounds: int) -> float:
    """Median wall seconds of the command ``hourglass ARGS`` in a fresh process."""
    exe = shutil.which("hourglass") or str(Path(sys.executable).with_name("hourglass"))
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        subprocess.run([exe, *args], check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--n", type=int, default=1000, help="test images (default: 1000)")
    p.add_argument("--k", type=int, default=1000, help="importance samples (default: 1000)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--name", default="evaluate")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    ds = load("fashion-mnist")
    test = torch.as_tensor(ds.test.x[:args.n])
    shape = tuple(test.shape[1:])
    x = (test.flatten(1).float() / 255).bernoulli(
        generator=torch.Generator().manual_seed(0))                  # one fixed binarization
    ours = _model(shape).eval()
    torch.manual_seed(0)
    hand = HandVAE(x.shape[1]).eval()
    x_img = x.view(-1, *shape)

    def run_ours():
        return evaluate_model(ours, x_img, k=args.k)["nll_nats"]

    def run_hand():
        return float(-hand_iwae(hand, x, args.k).mean())

    nll = {}
    times = alternating({"hourglass": lambda: nll.update(hourglass=run_ours()),
                         "hand": lambda: nll.update(hand=run_hand())}, args.rounds)
    rate = {name: args.n / statistics.median(t) for name, t in times.items()}
    starts = {"hourglass --help": startup(["--help"], args.rounds),
              "hourglass list": startup(["list"], args.rounds)}
    result = {
        "benchmark": __doc__.split("\n\n")[0], "threads": args.threads, "n": args.n, "k": args.k,
        "rounds": args.rounds, "machine": platform.processor() or platform.machine(),
        "torch": torch.__version__, "seconds": times, "images/s": rate,
        "ratio hourglass / hand": rate["hourglass"] / rate["hand"],
        "untrained models' NLL (nats)": nll, "startup seconds": starts,
    }
    rows = ["| evaluation | test images/s (median) | seconds per round |", "|---|---|---|"]
    rows += [f"| {name} | {rate[name]:,.1f} | {', '.join(f'{t:.1f}' for t in times[name])} |"
             for name in times]
    md = (f"IWAE bound, k = {args.k}, {args.n} Fashion-MNIST test images, MLP VAE 784-512-256-16, "
          f"{args.threads} threads, median of {args.rounds} alternating rounds; torch "
          f"{torch.__version__}.\n\n" + "\n".join(rows)
          + f"\n\nHourglass / hand: **{result['ratio hourglass / hand']:.2f}x**.\n\n"
          "| command | wall seconds (median) |\n|---|---|\n"
          + "\n".join(f"| `{c}` | {s:.2f} |" for c, s in starts.items()) + "\n")
    RESULTS.mkdir(exist_ok=True)
    atomic_write_json(RESULTS / f"{args.name}.json", result)
    atomic_write_text(RESULTS / f"{args.name}.md", md)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

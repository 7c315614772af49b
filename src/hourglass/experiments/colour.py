"""Colour pixels in order: bits/dim of PixelCNN, gated PixelCNN, Row LSTM and Diagonal BiLSTM on
colour digits.

Every model predicts the three channels of a pixel in order, $p(x_{i,R} \\mid x_{<i})\\,
p(x_{i,G} \\mid x_{<i}, x_{i,R})\\, p(x_{i,B} \\mid x_{<i}, x_{i,R}, x_{i,G})$ (van den Oord et al.
2016), each a 256-way softmax over the 8-bit levels, and is scored by its exact test negative
log-likelihood in bits per dimension (3 x 8 x 8 = 192 values; lower is better). For comparison:
PixelCNN with the three channels of a pixel predicted together (``channel_order=False``), the
empirical histogram of the levels (one distribution for every value, independent) and the uniform
distribution (8 bits). The data are ``colour-digits``: the 8x8 digits painted in two of eight
colours. The budget (epochs, widths) is small and stated; it is recorded in the JSON with the
seed, the train times and the machine.
"""

from __future__ import annotations

import math
import sys
import time

import torch

from hourglass.core.parsing import comma_sizes
from hourglass.data import load
from hourglass.models import build
from hourglass.train import TrainConfig, train
from hourglass.experiments import experiment_parser, markdown_table, write_results
from hourglass.experiments._machine import machine, set_threads

NAME = "colour"
MODELS = (("pixelcnn", {}), ("gated-pixelcnn", {}), ("row-lstm", {}), ("diagonal-bilstm", {}),
          ("pixelcnn", {"channel_order": False}))


def histogram_bits(train_levels: torch.Tensor, test_levels: torch.Tensor) -> float:
    """Bits/dim of one smoothed (add-one) histogram of the 256 levels for every value."""
    counts = torch.bincount(train_levels.flatten(), minlength=256).double() + 1
    log_p = (counts / counts.sum()).log()
    return float(-log_p[test_levels.flatten()].mean() / math.log(2))


def main(argv=None) -> dict:
    p = experiment_parser(__name__, __doc__)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--channels", type=int, default=24, help="feature maps / LSTM states per pixel")
    p.add_argument("--n-layers", type=int, default=2)
    p.add_argument("--hidden", type=comma_sizes, default=(64,), help="widths of the 1x1 head")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    set_threads(args.threads)
    ds = load("colour-digits", seed=0)
    x_train, x_test = ds.to_float(ds.train.x), ds.to_float(ds.test.x)
    dim = ds.dim
    rows = []
    for name, extra in MODELS:
        torch.manual_seed(args.seed)
        model = build(name, input_shape=ds.shape, likelihood="categorical",
                      channels=args.channels, n_layers=args.n_layers, kernel_size=5,
                      hidden=args.hidden, **extra)
        t0 = time.perf_counter()
        train(model, x_train, config=TrainConfig(epochs=args.epochs, batch_size=args.batch_size,
                                                 lr=args.lr, seed=args.seed, progress=False))
        train_time = time.perf_counter() - t0
        model.eval()
        with torch.no_grad():
            nll = float(torch.cat([-model.log_prob(xb) for xb in x_test.split(128)]).mean())
        order = "R, G, B in order" if model.config.channel_order else "channels together"
        rows.append({"model": name, "channels_of_a_pixel": order,
                     "test_bits_per_dim": nll / (dim * math.log(2)), "test_nll_nats": nll,
                     "n_parameters": sum(q.numel() for q in model.parameters()),
                     "train_time_s": train_time})
        print(rows[-1], flush=True)
    rows.append({"model": "histogram of the levels", "channels_of_a_pixel": "independent",
                 "test_bits_per_dim": histogram_bits(ds.train.x.long(), ds.test.x.long())})
    rows.append({"model": "uniform", "channels_of_a_pixel": "independent",
                 "test_bits_per_dim": 8.0})
    budget = {"data": "colour-digits", "n_train": len(x_train), "n_test": len(x_test),
              "epochs": args.epochs, "channels": args.channels, "n_layers": args.n_layers,
              "kernel_size": 5, "hidden": args.hidden, "batch_size": args.batch_size,
              "lr": args.lr, "seed": args.seed, "likelihood": "categorical (256 levels)"}
    mach = machine(args.threads)
    result = {"budget": budget, "machine": mach, "rows": rows}
    argv_s = " ".join(sys.argv[1:] if argv is None else argv)
    md = (f"# {NAME}\n\nExact test NLL in bits/dim (lower is better) on colour-digits "
          f"(3x8x8, 256 levels per channel; {len(x_train)} training, {len(x_test)} test images). "
          f"Budget: {args.epochs} epochs, {args.channels} channels, {args.n_layers} layers after "
          f"a 5x5 mask-A layer, head {args.hidden}, batch {args.batch_size}, Adam lr {args.lr}, "
          f"seed {args.seed}, {args.threads} thread on {mach['cpu']}. Command: "
          f"`hourglass experiment colour {argv_s}`.\n\n" + markdown_table(rows))
    write_results(NAME, result, md, args.out)
    print(md)
    return result


if __name__ == "__main__":
    main()

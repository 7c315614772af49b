"""CycleGAN on unpaired digits and Fashion-MNIST: does it learn the hidden stroke thickening?

Domain A holds images of a dataset, domain B *other* images of it with strokes thickened by one
pixel (a dilation $T$, ``hourglass.data.unpaired``); no image meets its own transform, so CycleGAN
(Zhu et al. 2017) is trained without a single pair. On held-out images the true translation is
known: $T(a)$ for $a$ in A, and for $b = T(a')$ in B its source $a'$. The table gives the mean
absolute pixel error of $G(a)$ against $T(a)$ and of $F(b)$ against $a'$, beside two trivial
baselines: the identity map (no translation) and the mean training image of the target domain;
and the cycle errors $|F(G(a)) - a|$ and $|G(F(b)) - b|$. A figure shows, for test images, $a$,
the true $T(a)$, $G(a)$ and $F(G(a))$. Budgets (epochs, training subset, widths) are options and
are recorded in the JSON.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch

from hourglass.core.parsing import comma_sizes
from hourglass.data import load
from hourglass.data.unpaired import DOMAIN_A, DOMAIN_B, unpaired
from hourglass.models import build
from hourglass.train import TrainConfig, train
from hourglass.viz.images import labelled_grid
from hourglass.experiments import experiment_parser, markdown_table, write_results
from hourglass.experiments._machine import machine, set_threads

NAME = "cyclegan"
TRANSFORM = "thick"


def mae(x: torch.Tensor, target: torch.Tensor) -> float:
    """Mean absolute pixel error, over images and pixels."""
    return float((x - target).abs().mean())


def measure(model, u, ds, n_test: int) -> dict:
    """Translation and cycle errors on (at most `n_test` per domain) test images, and the
    baselines."""
    s, truth = ds.test, ds.to_float(u.truth("test"))
    x = ds.to_float(s.x)
    a, b = x[s.y == DOMAIN_A][:n_test], x[s.y == DOMAIN_B][:n_test]
    t_a, t_b = truth[s.y == DOMAIN_A][:n_test], truth[s.y == DOMAIN_B][:n_test]
    train_x = ds.to_float(ds.train.x)
    mean_a = train_x[ds.train.y == DOMAIN_A].mean(0)
    mean_b = train_x[ds.train.y == DOMAIN_B].mean(0)
    model.eval()
    with torch.no_grad():
        g_a, f_b = model.a_to_b(a), model.b_to_a(b)
        cyc_a, cyc_b = model.b_to_a(g_a), model.a_to_b(f_b)
    return {"n_test_a": len(a), "n_test_b": len(b),
            "ab_error": mae(g_a, t_a), "ab_identity": mae(a, t_a),
            "ab_mean_image": mae(mean_b, t_a),
            "ba_error": mae(f_b, t_b), "ba_identity": mae(b, t_b),
            "ba_mean_image": mae(mean_a, t_b),
            "cycle_a": mae(cyc_a, a), "cycle_b": mae(cyc_b, b)}


def cycle_figure(model, u, ds, path: Path, *, n: int = 10) -> Path:
    """Rows: a, the true T(a), G(a), F(G(a)), for the first `n` test images of domain A."""
    s = ds.test
    a = ds.to_float(s.x[s.y == DOMAIN_A][:n])
    t_a = ds.to_float(u.truth("test")[s.y == DOMAIN_A][:n])
    model.eval()
    with torch.no_grad():
        g_a = model.a_to_b(a)
        rows = torch.cat([a, t_a, g_a, model.b_to_a(g_a)])
    return labelled_grid(rows.numpy(), n, path, shape=ds.shape,
                         title=f"{u.base.name}: A -> B -> A (test images)",
                         row_labels=["a", "true T(a)", "G(a)", "F(G(a))"])


def run_one(u, args, seed: int, epochs: int) -> tuple[dict, object]:
    ds = u.dataset
    torch.manual_seed(seed)
    model = build("cyclegan", input_shape=ds.shape, filters=args.filters,
                  n_downsample=args.n_downsample, n_residual=args.n_residual,
                  hidden=args.hidden, lambda_cycle=args.lambda_cycle,
                  lambda_identity=args.lambda_identity)
    t0 = time.perf_counter()
    history = train(model, ds.train.x, y=ds.train.y,
                    config=TrainConfig(epochs=epochs, batch_size=args.batch_size, lr=args.lr,
                                       seed=seed, progress=False))
    t = time.perf_counter() - t0
    last = history[-1]
    row = {"data": ds.name, "n_train_a": int((ds.train.y == DOMAIN_A).sum()),
           "n_train_b": int((ds.train.y == DOMAIN_B).sum()), "epochs": epochs, "seed": seed,
           **measure(model, u, ds, args.n_test),
           "train_cycle_a": last["train_gen_cycle_a"], "train_cycle_b": last["train_gen_cycle_b"],
           "train_time_s": t}
    return row, model


def main(argv=None) -> dict:
    p = experiment_parser(__name__, __doc__)
    p.add_argument("--data", type=lambda s: s.split(","), default=["digits", "fashion-mnist"],
                   help="base datasets, comma-separated (default digits,fashion-mnist); domain B "
                        "is their thickened other half")
    p.add_argument("--n", type=int, default=1200,
                   help="base training images kept before the A/B halving (default 1200)")
    p.add_argument("--n-test", type=int, default=1000,
                   help="held-out images scored per domain (default 1000)")
    p.add_argument("--epochs", type=comma_sizes, default=(15, 20),
                   help="epochs per dataset, in the order of --data (default 15,20; at 4 the "
                        "Fashion-MNIST translation was no better than the identity map)")
    p.add_argument("--seeds", type=comma_sizes, default=(0, 1, 2))
    p.add_argument("--filters", type=int, default=16, help="generator width (64 in the paper)")
    p.add_argument("--n-downsample", type=int, default=1, help="(2 in the paper)")
    p.add_argument("--n-residual", type=int, default=2, help="(6 or 9 in the paper)")
    p.add_argument("--hidden", type=comma_sizes, default=(16, 32),
                   help="PatchGAN channels (64,128,256,512 in the paper)")
    p.add_argument("--lambda-cycle", type=float, default=10.0)
    p.add_argument("--lambda-identity", type=float, default=5.0,
                   help="weight of the identity loss |G(b) - b| + |F(a) - a| (default 5, "
                        "lambda_cycle / 2 as in Zhu et al. 2017; without it G can hide a in an "
                        "image unlike T(a) that F still inverts)")
    p.add_argument("--name", default=NAME, help=f"name of the result files (default {NAME})")
    p.add_argument("--batch-size", type=int, default=32, help="(1 in the paper)")
    p.add_argument("--lr", type=float, default=None, help="default: the paper's 2e-4")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    if len(args.epochs) == 1:
        args.epochs = args.epochs * len(args.data)
    if len(args.epochs) != len(args.data):
        p.error(f"--epochs gives {len(args.epochs)} values for {len(args.data)} datasets: give "
                f"one value, or one per dataset of --data")
    set_threads(args.threads)
    out = Path(args.out)
    rows, figures = [], []
    for k, (name, epochs) in enumerate(zip(args.data, args.epochs)):
        u = unpaired(load(name, seed=0, n=args.n), TRANSFORM)
        for seed in args.seeds:
            row, model = run_one(u, args, seed, epochs)
            rows.append(row)
            print(row, flush=True)
            if seed == args.seeds[0]:
                fig = out / (f"{args.name}.png" if k == 0 else f"{args.name}-{name}.png")
                figures.append((name, cycle_figure(model, u, u.dataset, fig).name))
    budget = {"data": args.data, "transform": TRANSFORM, "n_base_train_max": args.n,
              "n_test_per_domain_max": args.n_test, "epochs": args.epochs, "seeds": args.seeds,
              "filters": args.filters, "n_downsample": args.n_downsample,
              "n_residual": args.n_residual, "hidden": args.hidden,
              "lambda_cycle": args.lambda_cycle, "lambda_identity": args.lambda_identity,
              "batch_size": args.batch_size, "lr": args.lr or "2e-4 (the model's default)"}
    summary = []
    for name in args.data:
        mine = [r for r in rows if r["data"] == f"{name}-{TRANSFORM}"]
        summary.append({"data": name, "seeds": len(mine),
                        **{key: float(np.mean([r[key] for r in mine])) for key in
                           ("ab_error", "ab_identity", "ab_mean_image", "ba_error", "ba_identity",
                            "ba_mean_image", "cycle_a", "cycle_b")}})
    result = {"budget": budget, "machine": machine(args.threads), "rows": rows,
              "summary": summary, "figures": [f for _, f in figures]}
    argv_s = " ".join(sys.argv[1:] if argv is None else argv)
    columns = ["data", "seed", "epochs", "n_train_a", "ab_error", "ab_identity", "ab_mean_image",
               "ba_error", "ba_identity", "ba_mean_image", "cycle_a", "cycle_b", "train_time_s"]
    md = [(f"# {args.name}\n\nUnpaired translation A -> B (strokes thickened by one pixel) and "
           f"back, mean absolute pixel error on held-out images (at most {args.n_test} per "
           f"domain): `ab_error` = |G(a) - T(a)|, `ba_error` = |F(b) - a'| for b = T(a'); "
           f"baselines: the identity map (`*_identity`) and the target domain's mean training "
           f"image (`*_mean_image`); `cycle_a` = |F(G(a)) - a|, `cycle_b` = |G(F(b)) - b|. "
           f"Budget: at most {args.n} base training images (halved into A and B), "
           f"{', '.join(map(str, args.epochs))} epochs, generator width {args.filters} with "
           f"{args.n_downsample} downsampling(s) and {args.n_residual} residual blocks, PatchGAN "
           f"{args.hidden}, lambda {args.lambda_cycle}, identity weight {args.lambda_identity}, "
           f"batch {args.batch_size}, CPU. Command: `hourglass experiment {NAME} {argv_s}`.\n"),
          markdown_table(rows, columns), "\n## Summary (mean over seeds)\n\n"
          + markdown_table(summary)]
    for name, f in figures:
        md.append(f"\n{name}: rows a, the true T(a), G(a), F(G(a)):\n\n![{name}]({f})\n")
    write_results(args.name, result, "\n".join(md), out)
    print("\n".join(md))
    return result


if __name__ == "__main__":
    main()

"""InfoGAN on digits (and Fashion-MNIST): does the categorical code find the classes unsupervised?

InfoGAN (Chen et al. 2016) is trained without labels; afterwards its Q head reads the 10-way
categorical code of every test image, and the code is matched to the labels one to one by the
Hungarian algorithm (the best assignment of code values to classes). The cluster accuracy is the
share of test images whose matched code is their label; the paper reports about 5% error on MNIST
(28x28, 50k images, a longer budget). Chance is about 0.1. For each dataset and seed the table
also gives $L_I$ of the categorical code (at most $\\log 10 = 2.303$ nats) and the accuracy with
which Q recovers the code of the model's own samples, and a figure varies each continuous code
over [-2, 2] (rows: the categorical value, columns: the continuous value, other codes and the
noise fixed). Budgets (epochs, training subset, widths) are options and are recorded in the JSON.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from hourglass.core.parsing import comma_sizes
from hourglass.data import load
from hourglass.models import build
from hourglass.train import TrainConfig, train
from hourglass.viz import image_grid
from hourglass.experiments import experiment_parser, markdown_table, write_results
from hourglass.experiments._machine import machine, set_threads

NAME = "infogan"


def cluster_accuracy(pred, labels) -> float:
    r"""Accuracy of cluster indices `pred` against `labels` under the best one-to-one matching of
    clusters to classes (the Hungarian algorithm on the contingency table; Kuhn 1955):
    $\max_{\pi} \frac1N \sum_i [\pi(\text{pred}_i) = y_i]$."""
    pred, labels = np.asarray(pred, np.int64), np.asarray(labels, np.int64)
    k = int(max(pred.max(), labels.max())) + 1
    counts = np.zeros((k, k), np.int64)                               # (cluster, class)
    np.add.at(counts, (pred, labels), 1)
    rows, cols = linear_sum_assignment(-counts)
    return float(counts[rows, cols].sum() / len(labels))


def code_accuracy(model, n: int = 2000, seed: int = 0) -> float:
    """Share of the model's samples whose first categorical code Q reads back exactly."""
    g = torch.Generator().manual_seed(seed)
    z = model.sample_noise(n, generator=g)
    c_cat, c_cont = model.sample_codes(n, generator=g)
    with torch.no_grad():
        probs, _ = model.infer_codes(model.generate(z, c_cat, c_cont))
    return float((probs[:, 0].argmax(1) == c_cat[:, 0]).float().mean())


def traversal_grid(model, j: int, path: Path, *, shape, n_values: int = 9, seed: int = 0):
    """Rows: the categorical value; columns: continuous code j from -2 to 2; z and the other
    codes fixed (one z for the whole grid, other continuous codes 0)."""
    k = model.config.categorical_dim
    g = torch.Generator().manual_seed(seed)
    z = model.sample_noise(1, generator=g).expand(k * n_values, -1)
    c_cat = torch.arange(k).repeat_interleave(n_values)[:, None]                # (k * n_values, 1)
    c_cat = c_cat.expand(-1, model.config.n_categorical)
    c_cont = torch.zeros(k * n_values, model.config.n_continuous)
    c_cont[:, j] = torch.linspace(-2, 2, n_values).repeat(k)
    with torch.no_grad():
        x = model.generate(z, c_cat, c_cont)
    return image_grid(x, path, shape=shape, nrow=n_values,
                      title=f"continuous code {j} from -2 to 2 (columns), categorical value (rows)")


def run_one(ds, x, args, seed: int, epochs: int) -> tuple[dict, object]:
    torch.manual_seed(seed)
    model = build("infogan", input_shape=ds.shape, latent_dim=args.noise, channels=args.channels,
                  features=args.features, q_hidden=args.q_hidden)
    t0 = time.perf_counter()
    history = train(model, x, config=TrainConfig(epochs=epochs, batch_size=args.batch_size,
                                                 lr=args.lr, seed=seed, progress=False))
    t = time.perf_counter() - t0
    model.eval()
    probs, _ = model.infer_codes(ds.to_float(ds.test.x))
    acc = cluster_accuracy(probs[:, 0].argmax(1).numpy(), ds.test.y.numpy())
    last = history[-1]
    return {"data": ds.name, "n_train": len(x), "epochs": epochs, "seed": seed,
            "cluster_accuracy": acc, "cluster_error": 1 - acc,
            "code_recovery_on_samples": code_accuracy(model, seed=seed),
            "L_I_categorical_nats": last["train_gen_mi_cat"],
            "L_I_continuous_nats": last["train_gen_mi_cont"],
            "train_time_s": t}, model


def main(argv=None) -> dict:
    p = experiment_parser(__name__, __doc__)
    p.add_argument("--data", type=lambda s: s.split(","), default=["digits", "fashion-mnist"],
                   help="datasets, comma-separated (default digits,fashion-mnist)")
    p.add_argument("--n", type=int, default=10000, help="training subset size (default 10000)")
    p.add_argument("--epochs", type=comma_sizes, default=(30, 10),
                   help="epochs per dataset, in the order of --data (default 30,10)")
    p.add_argument("--seeds", type=comma_sizes, default=(0, 1))
    p.add_argument("--noise", type=int, default=16, help="noise dimension (62 in the paper)")
    p.add_argument("--channels", type=comma_sizes, default=(32, 64))
    p.add_argument("--features", type=int, default=128, help="shared layer (1024 in the paper)")
    p.add_argument("--q-hidden", type=int, default=64, help="Q head width (128 in the paper)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=None,
                   help="one learning rate for both players (default: the paper's 2e-4 for D and "
                        "Q, 1e-3 for G)")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    if len(args.epochs) == 1:
        args.epochs = args.epochs * len(args.data)
    if len(args.epochs) != len(args.data):
        p.error(f"--epochs gives {len(args.epochs)} values for {len(args.data)} datasets: give "
                f"one value, or one per dataset of --data")
    set_threads(args.threads)
    out = Path(args.out)
    rows, figures = [], []
    for name, epochs in zip(args.data, args.epochs):
        ds = load(name, seed=0)
        x = ds.to_float(ds.train.x[:args.n])
        for seed in args.seeds:
            row, model = run_one(ds, x, args, seed, epochs)
            rows.append(row)
            print(row, flush=True)
            if seed == args.seeds[0]:
                for j in range(model.config.n_continuous):
                    path = traversal_grid(model, j, out / f"{NAME}-{name}-continuous-{j}.png",
                                          shape=ds.shape)
                    figures.append((name, j, path.name))
    budget = {"data": args.data, "n_train_max": args.n, "epochs": args.epochs,
              "seeds": args.seeds, "noise": args.noise, "channels": args.channels,
              "features": args.features, "q_hidden": args.q_hidden,
              "batch_size": args.batch_size,
              "lr": args.lr or "2e-4 for D and Q, 1e-3 for G (the model's defaults)",
              "model_defaults": "one 10-way code, two U(-1,1) codes, lambda 1 / 0.1, std 1"}
    summary = []
    for name in args.data:
        accs = [r["cluster_accuracy"] for r in rows if r["data"] == name]
        summary.append({"data": name, "seeds": len(accs), "mean_cluster_accuracy":
                        float(np.mean(accs)), "min": min(accs), "max": max(accs)})
    result = {"budget": budget, "machine": machine(args.threads), "rows": rows,
              "summary": summary, "figures": [f for *_, f in figures],
              "paper": "Chen et al. 2016: about 5% error (0.95 accuracy) on MNIST"}
    argv_s = " ".join(sys.argv[1:] if argv is None else argv)
    epochs = ", ".join(map(str, args.epochs))
    md = [(f"# {NAME}\n\nInfoGAN's categorical code as an unsupervised classifier (Hungarian "
           f"matching of the 10 code values to the labels, test split). Budget: at most "
           f"{args.n} training images, {epochs} epochs, noise {args.noise}, conv channels "
           f"{args.channels}, shared layer {args.features}, Q head {args.q_hidden}, batch "
           f"{args.batch_size}, CPU. Chance is about 0.1; the paper reports about 0.95 on MNIST "
           f"with a far larger budget. Command: `hourglass experiment infogan {argv_s}`.\n"),
          markdown_table(rows), "\n## Summary\n\n" + markdown_table(summary)]
    for name, j, f in figures:
        md.append(f"\n{name}, continuous code {j} (rows: categorical value, columns: code "
                  f"from -2 to 2):\n\n![{name} code {j}]({f})\n")
    write_results(NAME, result, "\n".join(md), out)
    print("\n".join(md))
    return result


if __name__ == "__main__":
    main()

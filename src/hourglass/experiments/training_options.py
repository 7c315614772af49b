"""What the training regularizers do for a classifier trained on few labels: augmentation, input noise and mixup.

One MLP classifier (the stacked AE's classifier, without pretraining: 784-256-128-10, sigmoid
layers as in Vincent et al. 2010) is trained on ``--labels`` labelled Fashion-MNIST images for a
fixed number of epochs, once per option and seed, and scored on the whole test split:

| option | what each training batch sees |
|---|---|
| none | the images |
| shift | each image moved by up to 2 pixels (LeCun et al. 1998) |
| flip | each image mirrored with probability 1/2 (clothing is left-right symmetric) |
| shift-flip | both |
| noise | Gaussian input noise, std 0.1 (Bishop 1995) |
| mixup | pairs of images and labels mixed, lambda ~ Beta(0.2, 0.2) (Zhang et al. 2018) |

With few labels a classifier overfits, which is what these options fight; the table reports test
accuracy, mean and spread over seeds, and the gap between training and test accuracy.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch

from hourglass.core.parsing import comma_sizes
from hourglass.data import load
from hourglass.data.semisupervised import keep_labels
from hourglass.experiments import experiment_parser, markdown_table, write_results
from hourglass.experiments._machine import machine, set_threads
from hourglass.models import build
from hourglass.train import TrainConfig, train

NAME = "training-options"
OPTIONS = {"none": ({}, {}), "shift": ({"augment": "shift"}, {}),
           "flip": ({"augment": "flip"}, {}), "shift-flip": ({"augment": "shift-flip"}, {}),
           "noise": ({"input_noise": 0.1}, {}), "mixup": ({}, {"mixup": 0.2})}


def accuracy(model, x, y) -> float:
    with torch.no_grad():
        return float((model.head(model.encode(x)).argmax(1) == y).float().mean())


def main(argv=None) -> dict:
    p = experiment_parser(__name__, __doc__)
    p.add_argument("--data", default="fashion-mnist")
    p.add_argument("--labels", type=int, default=1000, help="labelled training images")
    p.add_argument("--epochs", type=int, default=300,
                   help="epochs per run (default 300: at 60 the shifted runs still underfit)")
    p.add_argument("--seeds", type=comma_sizes, default=(0, 1, 2))
    p.add_argument("--options", type=lambda s: s.split(","), default=list(OPTIONS))
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    unknown = [o for o in args.options if o not in OPTIONS]
    if unknown:
        p.error(f"--options: unknown {', '.join(unknown)}; valid: {', '.join(OPTIONS)}")
    set_threads(args.threads)
    ds = load(args.data, seed=0)
    keep = keep_labels(ds.train.y, args.labels, seed=0) >= 0
    x, y = ds.to_float(ds.train.x[keep]), ds.train.y[keep]
    x_test, y_test = ds.to_float(ds.test.x), ds.test.y
    rows, t0 = [], time.perf_counter()
    for name in args.options:
        train_kw, model_kw = OPTIONS[name]
        for seed in args.seeds:
            torch.manual_seed(seed)
            model = build("sae", input_shape=tuple(ds.shape), hidden=(256,), latent_dim=128,
                          n_classes=ds.n_classes, pretrain_epochs=0, corruption_level=0.0,
                          **model_kw)
            train(model, x, y=y, config=TrainConfig(epochs=args.epochs, batch_size=64, seed=seed,
                                                    progress=False, **train_kw))
            model.eval()
            rows.append({"option": name, "seed": seed, "train_acc": accuracy(model, x, y),
                         "test_acc": accuracy(model, x_test, y_test)})
            print(rows[-1], flush=True)
    summary = []
    for name in args.options:
        acc = np.array([r["test_acc"] for r in rows if r["option"] == name])
        gap = np.array([r["train_acc"] - r["test_acc"] for r in rows if r["option"] == name])
        summary.append({"option": name, "test_acc_mean": float(acc.mean()),
                        "test_acc_std": float(acc.std(ddof=1)) if len(acc) > 1 else 0.0,
                        "train_minus_test": float(gap.mean())})
    base = next(s for s in summary if s["option"] == "none") if "none" in args.options else None
    for s in summary:
        if base is not None:
            s["vs_none"] = s["test_acc_mean"] - base["test_acc_mean"]
    budget = {"data": args.data, "labels": int(keep.sum()), "epochs": args.epochs,
              "seeds": list(args.seeds), "network": "784-256-128-10 sigmoid MLP, no pretraining",
              "optimizer": "Adam lr 1e-3, batch 64"}
    result = {"budget": budget, "rows": rows, "summary": summary,
              "machine": machine(args.threads), "total_time_s": time.perf_counter() - t0}
    md = (f"# {NAME}\n\nTest accuracy of a classifier trained on {int(keep.sum())} labelled "
          f"{args.data} images for {args.epochs} epochs, {len(args.seeds)} seeds (mean, sample "
          "std; train_minus_test: the overfitting gap). Command: `hourglass experiment "
          f"training-options {' '.join(sys.argv[1:] if argv is None else argv)}`.\n\n"
          + markdown_table(summary, digits=3))
    write_results(NAME, result, md, Path(args.out))
    print(md)
    return result


if __name__ == "__main__":
    main()

"""Corruption level vs. pretraining quality: a 3-layer stacked denoising AE on Fashion-MNIST, fine-tuned with all labels and with 1,000 (after Vincent et al. 2010).

For each masking level (0 %, 10 %, 25 %, 50 %) the 3-layer sigmoid network is pretrained greedily
(each layer a one-layer DAE on the codes of the layers below, ``hourglass.models.stacked``), then
a softmax layer is added and everything is fine-tuned on labels; the baseline is the same network
from a random start (no pretraining). Every row gets the same budget: the same training images,
pretraining epochs per layer, fine-tuning epochs, optimizer (Adam) and seed. Fine-tuning is run
twice from the same pretrained weights: with the labels of all ``--n`` training images, and with
only ``--labels`` of them (the low-label regime, repeated over ``--label-seeds`` subsets), where
pretraining on unlabelled images should matter most. The numbers are test errors on the 10,000
Fashion-MNIST test images after the last epoch (no early stopping, no tuning).
"""

from __future__ import annotations

import copy
import statistics
import time

import torch

from hourglass.core.parsing import comma_sizes
from hourglass.models import build
from hourglass.train.pretrain import pretrain
from hourglass.experiments import experiment_parser
from hourglass.experiments._classic import (add_training_options, begin, log, report, test_error,
                       timed_train, train_config)

NAME = "sdae-corruption"


def parse(argv):
    p = experiment_parser(__name__, __doc__)
    add_training_options(p, n=None, epochs=10)
    p.add_argument("--layers", type=comma_sizes, default=(500, 500, 500),
                   help="widths of the stacked sigmoid layers (default: 500,500,500)")
    p.add_argument("--levels", type=lambda s: [float(v) for v in s.split(",")],
                   default=[0.0, 0.1, 0.25, 0.5], help="masking levels (default: 0,0.1,0.25,0.5)")
    p.add_argument("--pretrain-epochs", type=int, default=3,
                   help="greedy pretraining epochs per layer (default: 3)")
    p.add_argument("--labels", type=int, default=1000,
                   help="labelled images of the low-label regime (default: 1000)")
    p.add_argument("--label-epochs", type=int, default=50,
                   help="fine-tuning epochs in the low-label regime (default: 50)")
    p.add_argument("--label-seeds", type=lambda s: [int(v) for v in s.split(",")],
                   default=[0, 1, 2], help="label subsets of the low-label regime (default: 0,1,2)")
    return p.parse_args(argv)


def run_row(level: float | None, ds, args) -> dict:
    """Pretrain at masking `level` (None: no pretraining), fine-tune in both regimes, test."""
    x, y = ds.train.x, ds.train.y
    torch.manual_seed(args.seed)
    sae = build("sae", input_shape=ds.shape, hidden=tuple(args.layers[:-1]),
                latent_dim=args.layers[-1], n_classes=ds.n_classes,
                pretrain_epochs=0 if level is None else args.pretrain_epochs,
                corruption="masking", corruption_level=level or 0.0)
    t0 = time.perf_counter()
    stages = pretrain(sae, x, config=train_config(args))
    pretrain_s = time.perf_counter() - t0
    name = "none (random start)" if level is None else f"{'SDAE' if level else 'SAE'} {level:.0%}"
    log(f"{name}: pretrained in {pretrain_s:.0f} s")

    full = copy.deepcopy(sae)
    _, full_s = timed_train(full, x, y=y, config=train_config(args))
    full_error = test_error(full, ds.test.x, ds.test.y)
    log(f"{name}: all {len(x)} labels, test error {full_error:.4f} ({full_s:.0f} s)")

    few_errors, few_s = [], 0.0
    for s in args.label_seeds:
        idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(s))[:args.labels]
        few = copy.deepcopy(sae)
        _, seconds = timed_train(few, x[idx], y=y[idx],
                                 config=train_config(args, epochs=args.label_epochs, seed=s))
        few_errors.append(test_error(few, ds.test.x, ds.test.y))
        few_s += seconds
    log(f"{name}: {args.labels} labels, test errors {few_errors} ({few_s:.0f} s)")
    return {"pretraining": name, "masking level": level,
            "test error, all labels (%)": 100 * full_error,
            f"test error, {args.labels} labels (%)": 100 * statistics.mean(few_errors),
            f"sd over {len(few_errors)} label subsets (%)":
                100 * statistics.stdev(few_errors) if len(few_errors) > 1 else None,
            f"errors, {args.labels} labels": few_errors,
            "pretrain time (s)": round(pretrain_s, 1), "fine-tune time (s)": round(full_s + few_s, 1),
            "pretrain final recon (nats) per layer":
                [stage[-1]["train_recon"] for stage in stages]}


def main(argv=None) -> dict:
    argv, args, start, ds = begin(parse, argv)
    rows = [run_row(level, ds, args) for level in [None, *args.levels]]
    budget = {
        "data": f"Fashion-MNIST, {len(ds.train)} training images ("
                + ("the whole training split" if args.n is None else f"subset, seed {args.seed}")
                + f"), grey levels in [0, 1]; test: all {len(ds.test)} test images",
        "network": f"{ds.dim}-" + "-".join(map(str, args.layers)) + "-10, sigmoid units, softmax",
        "pretraining": f"{args.pretrain_epochs} epochs per layer, masking noise, Bernoulli "
                       "cross-entropy reconstruction",
        "fine-tuning": f"{args.epochs} epochs with all labels; {args.label_epochs} epochs with "
                       f"{args.labels} labels (subsets {args.label_seeds})",
        "optimizer": f"Adam, lr {args.lr or 1e-3}, batch {args.batch_size}, seed {args.seed}",
    }
    columns = ["pretraining", "test error, all labels (%)", f"test error, {args.labels} labels (%)",
               f"sd over {len(args.label_seeds)} label subsets (%)", "pretrain time (s)",
               "fine-tune time (s)"]
    return report(NAME, argv, args, start, rows=rows, budget=budget, columns=columns,
                  title=f"Corruption level vs. pretraining (Fashion-MNIST, {budget['network']})")


if __name__ == "__main__":
    main()

"""Corruption level vs. pretraining: a stacked denoising AE on Fashion-MNIST fine-tuned with 1,000 labels, 3 seeds, against plain pretraining and a random start (after Vincent et al. 2010).

For each masking level of Vincent et al. (2010)'s figure (0 %, 10 %, 20 %, 50 %) the stack of
sigmoid layers is pretrained greedily on ``--n`` unlabelled training images (each layer a one-layer
DAE on the codes of the layers below, ``hourglass.models.stacked``); 0 % is the plain stacked
autoencoder. A softmax layer is then added and everything is fine-tuned on the labels of only
``--labels`` of those images, where pretraining on unlabelled images should matter most. The
baseline is the same network from a random start (no pretraining). Every row gets the same
budget (images, pretraining epochs per layer, fine-tuning epochs, optimizer) and the same seeds;
a seed fixes the initial weights, the pretraining order, the labelled subset and the fine-tuning
order, so the rows are compared seed by seed (paired). The numbers are test errors on the 10,000
Fashion-MNIST test images after the last epoch (no early stopping, no tuning).

The verdict on the order the paper reports (denoising <= plain <= random start, in test error)
uses the paired differences over the seeds: a difference is *resolved* when its mean is more
than twice its standard error (sd / sqrt(seeds)) away from zero.
"""

from __future__ import annotations

import math
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
RANDOM = "none (random start)"


def parse(argv):
    p = experiment_parser(__name__, __doc__)
    add_training_options(p, n=10_000, epochs=50)
    p.add_argument("--layers", type=comma_sizes, default=(256, 256, 256),
                   help="widths of the stacked sigmoid layers (default: 256,256,256)")
    p.add_argument("--levels", type=lambda s: [float(v) for v in s.split(",")],
                   default=[0.0, 0.1, 0.2, 0.5], help="masking levels (default: 0,0.1,0.2,0.5)")
    p.add_argument("--pretrain-epochs", type=int, default=20,
                   help="greedy pretraining epochs per layer (default: 20)")
    p.add_argument("--labels", type=int, default=1000,
                   help="labelled images used for fine-tuning (default: 1000)")
    p.add_argument("--seeds", type=lambda s: [int(v) for v in s.split(",")], default=[0, 1, 2],
                   help="seeds: weights, pretraining order, labelled subset (default: 0,1,2)")
    return p.parse_args(argv)


def row_name(level: float | None) -> str:
    return RANDOM if level is None else f"{'SDAE' if level else 'SAE'} {level:.0%}"


def run_one(level: float | None, seed: int, ds, args) -> dict:
    """Pretrain at masking `level` (None: no pretraining) with `seed`, fine-tune on the seed's
    labelled subset, return the test error and the times."""
    x, y = ds.train.x, ds.train.y
    torch.manual_seed(seed)
    sae = build("sae", input_shape=ds.shape, hidden=tuple(args.layers[:-1]),
                latent_dim=args.layers[-1], n_classes=ds.n_classes,
                pretrain_epochs=0 if level is None else args.pretrain_epochs,
                corruption="masking", corruption_level=level or 0.0)
    t0 = time.perf_counter()
    stages = pretrain(sae, x, config=train_config(args, seed=seed))
    pretrain_s = time.perf_counter() - t0
    idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:args.labels]
    _, tune_s = timed_train(sae, x[idx], y=y[idx], config=train_config(args, seed=seed))
    error = test_error(sae, ds.test.x, ds.test.y)
    log(f"{row_name(level)}, seed {seed}: test error {error:.4f} (pretrain {pretrain_s:.0f} s, "
        f"fine-tune {tune_s:.0f} s)")
    return {"error": error, "pretrain_s": pretrain_s, "tune_s": tune_s,
            "recon": [stage[-1]["train_recon"] for stage in stages]}


def paired(a: list[float], b: list[float]) -> dict:
    """Mean and standard error of the paired differences a - b (in %), and whether resolved."""
    d = [100 * (u - v) for u, v in zip(a, b)]
    mean = statistics.mean(d)
    se = statistics.stdev(d) / math.sqrt(len(d)) if len(d) > 1 else math.inf
    return {"mean": mean, "se": se, "resolved": abs(mean) > 2 * se}


def verdict(rows: list[dict], seeds: list[int]) -> tuple[str, str, dict]:
    """(verdict, reason, comparisons) on denoising <= plain <= random start."""
    err = {r["pretraining"]: r["errors"] for r in rows}
    plain = row_name(0.0)
    denoising = [n for n in err if n not in (RANDOM, plain)]
    comp = {f"{plain} - {RANDOM}": paired(err[plain], err[RANDOM]),
            **{f"{n} - {plain}": paired(err[n], err[plain]) for n in denoising}}
    if len(seeds) < 2 or plain not in err or not denoising:
        return "not at this budget", "needs 2 or more seeds and the 0 % and a denoising row", comp
    fmt = lambda k: (f"{k}: {comp[k]['mean']:+.2f} ± {comp[k]['se']:.2f} points "
                     f"({'resolved' if comp[k]['resolved'] else 'not resolved'})")
    pre = comp[f"{plain} - {RANDOM}"]
    dn = [comp[f"{n} - {plain}"] for n in denoising]
    better = [n for n, c in zip(denoising, dn) if c["resolved"] and c["mean"] < 0]
    worse = [n for n, c in zip(denoising, dn) if c["resolved"] and c["mean"] > 0]
    reason = ("paired test-error differences (mean ± standard error over seeds "
              f"{','.join(map(str, seeds))}; resolved = more than 2 standard errors from 0): "
              + "; ".join(fmt(k) for k in comp))
    if (pre["resolved"] and pre["mean"] > 0) or (worse and not better):
        return "contradicted", reason, comp
    if pre["resolved"] and pre["mean"] < 0 and better:
        return "reproduced", reason, comp
    return "not at this budget", reason, comp


def main(argv=None) -> dict:
    argv, args, start, ds = begin(parse, argv)
    rows = []
    for level in [None, *args.levels]:
        runs = [run_one(level, s, ds, args) for s in args.seeds]
        errors = [r["error"] for r in runs]
        rows.append({
            "pretraining": row_name(level), "masking level": level,
            f"test error, {args.labels} labels (%)": 100 * statistics.mean(errors),
            f"sd over {len(errors)} seeds (%)":
                100 * statistics.stdev(errors) if len(errors) > 1 else None,
            "errors": errors,
            "pretrain time (s)": round(sum(r["pretrain_s"] for r in runs), 1),
            "fine-tune time (s)": round(sum(r["tune_s"] for r in runs), 1),
            "pretrain final recon (nats) per layer, per seed": [r["recon"] for r in runs]})
    word, reason, comparisons = verdict(rows, args.seeds)
    budget = {
        "data": f"Fashion-MNIST, {len(ds.train)} unlabelled training images for pretraining ("
                + ("the whole training split" if args.n is None else f"subset, seed {args.seed}")
                + f"), {args.labels} of them labelled for fine-tuning (a subset per seed), "
                  f"grey levels in [0, 1]; test: all {len(ds.test)} test images",
        "network": f"{ds.dim}-" + "-".join(map(str, args.layers)) + "-10, sigmoid units, softmax",
        "pretraining": f"{args.pretrain_epochs} epochs per layer, masking noise, Bernoulli "
                       "cross-entropy reconstruction",
        "fine-tuning": f"{args.epochs} epochs on the {args.labels} labelled images",
        "optimizer": f"Adam, lr {args.lr or 1e-3}, batch {args.batch_size}",
        "seeds": f"{args.seeds} (each: weights, pretraining order, labelled subset, fine-tuning)",
    }
    columns = ["pretraining", f"test error, {args.labels} labels (%)",
               f"sd over {len(args.seeds)} seeds (%)", "pretrain time (s)", "fine-tune time (s)"]
    preface = (f"**Verdict (denoising <= plain <= random start, Vincent et al. 2010): {word}.** "
               f"{reason}.\n\n")
    return report(NAME, argv, args, start, rows=rows, budget=budget, columns=columns,
                  preface=preface, extra={"verdict": word, "verdict_reason": reason,
                                          "paired_differences_points": comparisons},
                  title=f"Corruption level vs. pretraining (Fashion-MNIST, {args.labels} labels, "
                        f"{budget['network']})")


if __name__ == "__main__":
    main()

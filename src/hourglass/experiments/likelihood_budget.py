"""Explicit densities against the clock: exact NLL of NADE, PixelCNN, gated PixelCNN and Row LSTM beside the VAE recipe's bound, each after the same wall-clock budget on binarized Fashion-MNIST.

The published order on binarized MNIST, for converged models, is the Row LSTM (80.54 nats; van
den Oord, Kalchbrenner & Kavukcuoglu 2016) ahead of PixelCNN (81.30), ahead of the VAE's bound
(86.76; Burda et al. 2016), ahead of NADE (88.33; Larochelle & Murray 2011). The gated PixelCNN
(van den Oord et al. 2016, "Conditional image generation") has no binarized-MNIST number; we
expect it ahead of PixelCNN, as its paper measured it on CIFAR-10 and ImageNet. A user's
question is different: which model to train for the half hour they have. So every model here gets
the same wall clock on the same cores, all 60,000 training images dynamically binarized, Adam with
a cosine learning rate that ends where the budget does, and is scored on one fixed binarization of
the 10,000 test images (the one ``vae-budget`` uses): the exact $-\\log p(x)$ for the
autoregressive models, the IWAE bound with k = 1000 for the VAE, which is an upper bound on its
NLL. The VAE row is the ``vae`` recipe's row of ``vae-budget`` at the same budget, shared through
``OUT/vae-budget.rows.json`` (measured once, used by both).

The epochs that fit the budget are measured, not guessed: three epochs of the first
``PROBE_BATCHES`` batches are timed (not counted) and the median of the last two gives the time
per step; the training time is reported as measured. Each row
is saved in ``OUT/NAME.rows.json`` as soon as it is measured, keyed by the model, the budget and
the machine, so a sitting can be split: ``--reuse-rows`` measures only what is missing. Run it
alone on the machine: the budget is wall-clock time.
"""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import torch

from hourglass.data import load
from hourglass.evaluate import batched
from hourglass.experiments import experiment_parser, markdown_table, write_results
from hourglass.experiments import vae_budget
from hourglass.experiments._budget import fit_epochs, measured
from hourglass.experiments._machine import machine, set_threads
from hourglass.experiments.likelihood_table import BINARY_MODELS, EXPECTED, observed_order
from hourglass.models import build
from hourglass.train import TrainConfig, train

NAME = "likelihood-budget"
MODELS = ("nade", "pixelcnn", "gated-pixelcnn", "row-lstm", "vae")
# binarized MNIST, nats (NADE: Larochelle & Murray 2011; VAE: Burda et al. 2016, ELBO training;
# PixelCNN, Row LSTM, Diagonal BiLSTM: van den Oord et al. 2016, PixelRNN table 4); the gated
# PixelCNN paper reports no binarized-MNIST number
PAPER_MNIST = {"nade": 88.33, "vae": 86.76, "pixelcnn": 81.30, "row-lstm": 80.54,
               "diagonal-bilstm": 80.75}
TRAIN = dict(batch_size=64, lr=1e-3, lr_schedule="cosine", binarize="dynamic")
PROBE_BATCHES = 120
# the claim, as pairs (better, worse): gated PixelCNN < PixelCNN; Row LSTM < VAE bound < NADE
CLAIMS = (("gated-pixelcnn", "pixelcnn"), ("row-lstm", "vae"), ("vae", "nade"))


def run(name: str, minutes: float, ds, x_test: torch.Tensor, *, seed: int) -> dict:
    """Train the explicit model `name` for `minutes` of wall clock and score the test images."""
    reg, cfg = BINARY_MODELS[name]
    shape = tuple(ds.train.x.shape[1:])
    make = lambda: build(reg, input_shape=shape, **cfg)  # noqa: E731
    # three epochs of the first PROBE_BATCHES batches timed (on a shared machine one short
    # timing can be a third off the run's mean)
    probe = TrainConfig(**TRAIN, epochs=3, seed=seed, progress=False, device="cpu")
    epochs, epoch_s = fit_epochs(make, ds.train.x, probe, minutes,
                                 probe_rows=PROBE_BATCHES * TRAIN["batch_size"])
    torch.manual_seed(seed)
    model = make()
    t0 = time.perf_counter()
    history = train(model, ds.train.x, config=TrainConfig(**TRAIN, epochs=epochs, seed=seed,
                                                          progress=False, device="cpu"))
    train_s = time.perf_counter() - t0
    model.eval()
    t0 = time.perf_counter()
    log_p = batched(model.log_prob, x_test, batch_size=500, device=torch.device("cpu"))
    return {"model": name, "log p(x)": "exact", "budget_min": minutes, "epochs": epochs,
            "epoch_s_probe": epoch_s, "train_min": train_s / 60,
            "samples_per_s": epochs * len(ds.train) / train_s, "nll_nats": float(-log_p.mean()),
            "parameters": sum(p.numel() for p in model.parameters()),
            "final_train_loss": history[-1]["train_loss"], "eval_s": time.perf_counter() - t0,
            "n_test": len(x_test)}


def row_key(name: str, minutes: float, args, m: dict) -> dict:
    """What a measured row depends on (``m``: :func:`machine`)."""
    return {"model": name, "config": BINARY_MODELS[name][1], "train": TRAIN,
            "budget_min": minutes, "data": args.data, "seed": args.seed, "threads": args.threads,
            "cpu": m["cpu"], "cpu_flags": m["cpu_flags"], "torch": m["torch"]}


def vae_row(minutes: float, args, m: dict) -> dict:
    """The ``vae`` recipe's row of ``vae-budget`` at `minutes`: reused from OUT/vae-budget.rows.json
    when measured there on this machine with these settings, else measured and saved there."""
    vargs = SimpleNamespace(data=args.data, seed=args.seed, k_eval=1000, threads=args.threads)
    r = measured(Path(args.out) / f"{vae_budget.NAME}.rows.json",
                 vae_budget.row_key(minutes, "iwae", vargs, m),
                 lambda: vae_budget.run(minutes, "iwae", data=args.data, seed=args.seed,
                                        k_eval=1000), reuse=args.reuse_rows)
    return {"model": "vae", "log p(x)": "IWAE bound, k=1000 (the vae recipe)",
            "budget_min": minutes, "epochs": r["epochs"], "epoch_s_probe": r["epoch_s_probe"],
            "train_min": r["train_min"], "samples_per_s": r["samples_per_s"],
            "nll_nats": r["nll_iwae_k1000"], "final_train_loss": r["final_train_loss"],
            "eval_s": r["eval_s"], "n_test": r["n_test"]}


def main(argv=None) -> dict:
    p = experiment_parser(__name__, __doc__)
    p.add_argument("--minutes", type=float, default=30.0,
                   help="wall-clock training budget of every model, minutes (default 30)")
    p.add_argument("--models", type=lambda s: s.split(","), default=list(MODELS),
                   help=f"comma-separated, of {', '.join(MODELS)}, diagonal-bilstm "
                        "(default: all but the Diagonal BiLSTM)")
    p.add_argument("--data", default="fashion-mnist")
    p.add_argument("--name", default=NAME,
                   help=f"name of the result files, OUT/NAME.json and .md (default {NAME})")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reuse-rows", action="store_true",
                   help="reuse the rows already measured with the same model, budget, data, "
                        "seed, threads, CPU and torch version (OUT/NAME.rows.json; the VAE's in "
                        "OUT/vae-budget.rows.json), so that a sitting can be split")
    args = p.parse_args(argv)
    for name in args.models:
        if name != "vae" and name not in BINARY_MODELS:
            p.error(f"--models: {name!r} is not one of {', '.join(MODELS)}, diagonal-bilstm")
    set_threads(args.threads)
    where = machine(args.threads)  # at the start: its load average is the one the runs met
    rows_path = Path(args.out) / f"{args.name}.rows.json"
    ds = load(args.data, seed=0, val_fraction=0.0)
    x_test = vae_budget.fixed_binarization(ds.test.x).view(ds.test.x.shape)
    rows = []
    for name in args.models:
        if name == "vae":
            row = vae_row(args.minutes, args, where)
        else:
            row = measured(rows_path, row_key(name, args.minutes, args, where),
                           lambda: run(name, args.minutes, ds, x_test, seed=args.seed),
                           reuse=args.reuse_rows)
        row["paper_mnist_nats"] = PAPER_MNIST.get(name)
        print(row, flush=True)
        rows.append(row)
    order = observed_order(rows, "nll_nats")
    expected = [m for m in EXPECTED if m in order]
    nll = {r["model"]: r["nll_nats"] for r in rows}
    claims = [{"better": a, "worse": b, "margin_nats": nll[b] - nll[a], "holds": nll[a] < nll[b]}
              for a, b in CLAIMS if a in nll and b in nll]
    result = {"rows": rows, "train": TRAIN, "data": args.data, "budget_min": args.minutes,
              "machine": where, "expected_order": expected, "observed_order": order,
              "agrees": order == expected, "claims": claims, "paper_mnist": PAPER_MNIST,
              "missing": [m for m in MODELS if m not in order]}
    cols = ["model", "log p(x)", "nll_nats", "paper_mnist_nats", "epochs", "train_min",
            "samples_per_s", "parameters", "eval_s"]
    md = (f"# {args.name}\n\nEach model trained for {args.minutes:g} minutes of wall clock on "
          f"{len(ds.train)} dynamically binarized {args.data} images ({args.threads} threads, "
          f"alone on the machine; batch {TRAIN['batch_size']}, Adam lr {TRAIN['lr']:g}, cosine "
          f"schedule to the end of the budget), then scored on one fixed binarization of the "
          f"{len(x_test)} test images. `paper_mnist_nats`: the published number on binarized "
          "MNIST (converged models; a different dataset, shown for the order, not the values). "
          f"Command: `hourglass experiment likelihood-budget "
          f"{shlex.join(sys.argv[1:] if argv is None else argv)}`.\n\n"
          + markdown_table(rows, cols)
          + f"\nObserved, best first: {' < '.join(order)}. Expected order (published, with the "
          "gated PixelCNN, which has no binarized-MNIST number, placed first): "
          + f"{' < '.join(expected)}. Agrees: {'yes' if result['agrees'] else 'no'}."
          + "".join(f" {c['better']} < {c['worse']}: {'yes' if c['holds'] else 'no'} "
                    f"({c['margin_nats']:+.2f} nats)." for c in claims)
          + (f" Not measured yet: {', '.join(result['missing'])}." if result["missing"] else "")
          + "\n")
    write_results(args.name, result, md, args.out)
    print(md)
    return result


if __name__ == "__main__":
    main()

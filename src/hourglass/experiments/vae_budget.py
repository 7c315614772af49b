"""The VAE recipe against the clock: test NLL of binarized Fashion-MNIST after a wall-clock budget.

Burda, Grosse & Salakhutdinov (2016) report, for the 784-512-256-32 VAE on binarized MNIST,
86.76 nats (ELBO training) and 84.78 (IWAE k = 50 training) after 3,280 epochs. A user's budget
is minutes, not thousands of epochs, so this experiment trains the shipped ``vae`` recipe
(``hourglass train --config vae``: that network with a VampPrior, IWAE k = 5 training with the
DReG gradient, Adam with a cosine learning rate) for a stated number of minutes and reports the test NLL, estimated with the importance-
weighted bound at k = 1000 on one fixed binarization of the test set (``torch.bernoulli`` with a
generator seeded 0, in file order), ELBO alongside. ``--objectives iwae,elbo`` also trains the same
model and prior on the ELBO, for the IWAE-versus-ELBO comparison at equal time.

The same bound on the first 2,000 training images gives the generalization gap. Each set's NLL is
first reduced by its images' binarization entropy (the entropy of the product Bernoulli of the
grey levels, which no model can remove): the first 2,000 training images of Fashion-MNIST carry
5 nats less of it than the test set, so comparing the raw NLLs would report that 5 nats as
overfitting.

The number of epochs that fits the budget is measured, not guessed: four epochs are timed first (not
counted), and the run is given ``floor(budget / median time of the last three)`` epochs so that its
cosine schedule ends where the budget does (the first epoch also pays for warming up the allocator
and the kernels; one timed epoch alone can be several per cent off the run's mean). The training time is reported as measured. Run it alone on the
machine: the budget is wall-clock time.
"""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path

import torch

from hourglass.data import load
from hourglass.experiments import experiment_parser, markdown_table, write_results
from hourglass.experiments._budget import fit_epochs, measured
from hourglass.experiments._machine import machine, set_threads
from hourglass.models import VAEConfig, build
from hourglass.runs.config_file import read_settings
from hourglass.train import TrainConfig, train

NAME = "vae-budget"
PAPER = {"vae_elbo_mnist": 86.76, "iwae_k50_mnist": 84.78,
         "source": "Burda, Grosse & Salakhutdinov 2016, Table 1 (binarized MNIST, 3,280 epochs)"}
PROBE_EPOCHS = 4  # timed before the run, not counted; the first is dropped
N_SEEN = 2000  # training images whose NLL is measured beside the test set's


def recipe() -> tuple[dict, dict]:
    """The shipped vae recipe, split into model options and training options."""
    values = dict(read_settings("vae").values)
    values.pop("model", None)
    model = {k: values.pop(k) for k in VAEConfig.__dataclass_fields__ if k in values}
    train_keys = {f for f in TrainConfig.__dataclass_fields__}
    return model, {k: v for k, v in values.items() if k in train_keys}


def fixed_binarization(x: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """One Bernoulli sample of grey levels `x` (uint8 or [0, 1]), drawn in order."""
    p = x.float() / 255 if x.dtype == torch.uint8 else x.float()
    return torch.bernoulli(p.flatten(1), generator=torch.Generator().manual_seed(seed))


def binarization_entropy(x: torch.Tensor) -> float:
    """Mean entropy, nats, of the product Bernoulli of each image's grey levels: the part of the
    NLL of a binarized image that no model can remove (a model's NLL is this plus the KL from that
    distribution to the model)."""
    p = (x.float() / 255 if x.dtype == torch.uint8 else x.float()).flatten(1)
    return float(-(torch.special.xlogy(p, p) + torch.special.xlogy(1 - p, 1 - p)).sum(1).mean())


def run(minutes: float, objective: str, *, data: str, seed: int, k_eval: int) -> dict:
    model_kw, train_kw = recipe()
    if objective == "elbo":  # the same model and prior on the ELBO
        model_kw.update(train_k=1, iwae_gradient="standard")
    ds = load(data, seed=0, val_fraction=0.0)
    x = ds.train.x.flatten(1)  # as stored (uint8): the trainer converts and binarizes each batch
    x_test = fixed_binarization(ds.test.x)
    x_seen = fixed_binarization(ds.train.x[:N_SEEN])  # training images: the generalization gap
    make = lambda: build("vae", input_shape=(x.shape[1],), **model_kw)  # noqa: E731

    # time four epochs of all the images (not counted); fit the epochs to the budget
    cfg = dict(train_kw, epochs=PROBE_EPOCHS, seed=seed, progress=False)
    epochs, epoch_s = fit_epochs(make, x, TrainConfig(**cfg), minutes)

    torch.manual_seed(seed)
    model = make()
    t0 = time.perf_counter()
    history = train(model, x, config=TrainConfig(**dict(cfg, epochs=epochs)))
    train_s = time.perf_counter() - t0
    model.eval()
    t0 = time.perf_counter()
    gen = torch.Generator().manual_seed(1)
    nll_of = lambda xs: float(-torch.cat([model.log_prob(xb, k=k_eval, generator=gen)  # noqa: E731
                                          for xb in xs.split(100)]).mean())
    nll = nll_of(x_test)
    nll_seen = nll_of(x_seen)
    elbo = float(torch.cat([model.elbo(xb, generator=gen) for xb in x_test.split(1000)]).mean())
    return {"objective": objective, "train_k": model_kw.get("train_k", 1),
            "budget_min": minutes, "epochs": epochs, "epoch_s_probe": epoch_s,
            "train_min": train_s / 60, "samples_per_s": epochs * len(x) / train_s,
            f"nll_iwae_k{k_eval}": nll, "neg_elbo_nats": -elbo,
            f"train_nll_iwae_k{k_eval}": nll_seen, "n_train_eval": len(x_seen),
            # NLL minus the binarization entropy, test minus training images: the overfitting
            "generalization_gap_nats": (nll - binarization_entropy(ds.test.x))
            - (nll_seen - binarization_entropy(ds.train.x[:N_SEEN])),
            "final_train_loss": history[-1]["train_loss"],
            "eval_s": time.perf_counter() - t0, "n_test": len(x_test)}


def row_key(minutes: float, objective: str, args, m: dict) -> dict:
    """What a measured row depends on (``m``: :func:`machine`): a saved row with the same key
    can be reused."""
    model, train_kw = recipe()
    return {"budget_min": minutes, "objective": objective, "data": args.data, "seed": args.seed,
            "k_eval": args.k_eval, "threads": args.threads, "model": model, "train": train_kw,
            "cpu": m["cpu"], "cpu_flags": m["cpu_flags"], "torch": m["torch"]}


def main(argv=None) -> dict:
    p = experiment_parser(__name__, __doc__)
    p.add_argument("--minutes", type=lambda s: [float(v) for v in s.split(",")], default=[20.0],
                   help="training budgets in minutes, comma-separated (default 20)")
    p.add_argument("--objectives", type=lambda s: s.split(","), default=["iwae"],
                   help="iwae (the recipe) and/or elbo, comma-separated (default iwae)")
    p.add_argument("--elbo-minutes", type=lambda s: [float(v) for v in s.split(",")], default=None,
                   help="train the ELBO twin only at these of the budgets (default: at all)")
    p.add_argument("--data", default="fashion-mnist")
    p.add_argument("--name", default=NAME,
                   help=f"name of the result files, OUT/NAME.json and .md (default {NAME}); "
                        "a second name keeps a run at other budgets beside the first")
    p.add_argument("--k-eval", type=int, default=1000, help="importance samples of the test NLL")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reuse-rows", action="store_true",
                   help="reuse the rows already measured with the same recipe, budget, objective, "
                        "data, seed, k, threads, CPU and torch version (each row is saved in "
                        "OUT/NAME.rows.json as soon as it is measured, so a long run that dies "
                        "loses only its current row)")
    p.add_argument("--reference", type=float, default=None,
                   help="NLL of a hand-written loop at the same budget on the same machine, "
                        "measured in the same sitting, to compare against")
    p.add_argument("--reference-minutes", type=float, default=20.0,
                   help="the reference loop's budget, one of --minutes (default 20)")
    p.add_argument("--reference-samples-per-s", type=float, default=None,
                   help="the reference loop's training samples per second, measured in the "
                        "same sitting")
    p.add_argument("--reference-note", default="",
                   help="what the reference is (model, optimizer, objective, budget)")
    args = p.parse_args(argv)
    for o in args.objectives:
        if o not in ("iwae", "elbo"):
            p.error(f"--objectives: {o!r} is not iwae or elbo")
    if args.reference is not None and args.reference_minutes not in args.minutes:
        p.error(f"--reference-minutes {args.reference_minutes:g} is not one of --minutes; the "
                "reference is compared with the recipe at the same budget")
    set_threads(args.threads)
    where = machine(args.threads)  # at the start: its load average is the one the runs met
    rows_path = Path(args.out) / f"{args.name}.rows.json"
    rows = []
    for minutes in args.minutes:
        for objective in args.objectives:
            if objective == "elbo" and args.elbo_minutes is not None \
                    and minutes not in args.elbo_minutes:
                continue
            row = measured(rows_path, row_key(minutes, objective, args, where),
                           lambda: run(minutes, objective, data=args.data, seed=args.seed,
                                       k_eval=args.k_eval), reuse=args.reuse_rows)
            print(row, flush=True)
            rows.append(row)
    key = f"nll_iwae_k{args.k_eval}"
    result = {"recipe": dict(zip(("model", "train"), recipe())), "rows": rows, "paper": PAPER,
              "machine": where, "data": args.data,
              "reference": {"nll": args.reference, "note": args.reference_note,
                            "minutes": args.reference_minutes,
                            "samples_per_s": args.reference_samples_per_s}}
    md = [f"# {args.name}\n\nThe `vae` recipe on binarized {args.data} against the clock "
          f"({args.threads} threads, alone on the machine). Test NLL: IWAE bound k={args.k_eval} "
          f"on one fixed binarization of the {rows[0]['n_test']} test images. Command: "
          f"`hourglass experiment vae-budget {shlex.join(sys.argv[1:] if argv is None else argv)}`."
          "\n", markdown_table(rows)]
    if args.reference is not None:
        best = min(r[key] for r in rows if r["objective"] == "iwae"
                   and r["budget_min"] == args.reference_minutes)
        result["reference"]["margin_nats"] = args.reference - best
        md.append(f"\nReference: {args.reference_note or 'a hand-written loop'}: "
                  f"{args.reference:.2f} nats. The recipe at {args.reference_minutes:g} min: {best:.2f} nats "
                  f"(margin {args.reference - best:+.2f} nats; positive: the recipe is better)."
                  "\n")
    md.append(f"\nFor scale: {PAPER['source']}: {PAPER['vae_elbo_mnist']} (ELBO training), "
              f"{PAPER['iwae_k50_mnist']} (IWAE k=50) on MNIST; Fashion-MNIST's binarized "
              "images hold far more bits, so the numbers are not comparable across datasets.\n")
    write_results(args.name, result, "\n".join(md), Path(args.out))
    print("\n".join(md))
    return result


if __name__ == "__main__":
    main()

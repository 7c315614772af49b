"""AAE vs VAE vs GAN/DCGAN on Fashion-MNIST: prior matching, sample quality, semi-supervised AAE.

Three studies of the adversarial models, one command each (``--study``):

- ``prior``: AAE with a 2-D code and a Gaussian, a 10-component mixture and a swiss-roll prior, and
  a VAE (Gaussian prior) with the same encoder/decoder; for each, the unbiased MMD^2 between 2,000
  test codes and 2,000 prior samples, the k-NN accuracy of the codes and the reconstruction NLL,
  plus a figure of the codes over the prior's samples;
- ``quality``: VAE, AAE, GAN, DCGAN trained for the same number of epochs; Fréchet distance,
  precision and recall of 5,000 samples against the test set in the features of the classifier
  Hourglass trains on the dataset, and a sample grid per model;
- ``semi``: the semi-supervised AAE with 100 and 1,000 labels (the rest of the training subset
  unlabelled), test error; M2's numbers are quoted from its own experiment's results if present.

Budgets (epochs, training subset) are options and are recorded in the JSON.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from hourglass.core.io import atomic_write_bytes
from hourglass.core.priors import get_prior
from hourglass.data import load
from hourglass.data.semisupervised import keep_labels, repeat_labelled
from hourglass.models import build
from hourglass.train import TrainConfig, train
from hourglass.evaluate import batched, knn_accuracy
from hourglass.evaluate.sample_quality import feature_net, mmd_rbf, sample_quality
from hourglass.viz import image_grid
from hourglass.experiments import experiment_parser, markdown_table, write_results
from hourglass.experiments._machine import machine, set_threads

NAME = "adversarial"


def _train(name, ds, x, y=None, *, epochs, seed, batch_size=128, **config):
    torch.manual_seed(seed)
    model = build(name, input_shape=ds.shape, **config)
    t0 = time.perf_counter()
    train(model, x, y=y, config=TrainConfig(epochs=epochs, batch_size=batch_size, seed=seed,
                                            progress=False))
    return model.eval(), time.perf_counter() - t0


def prior_study(ds, x_train, args) -> tuple[list[dict], list]:
    rows, panels = [], []
    x_test = torch.bernoulli(ds.to_float(ds.test.x), generator=torch.Generator().manual_seed(0))
    xb = torch.bernoulli(ds.to_float(x_train), generator=torch.Generator().manual_seed(1))
    common = dict(latent_dim=2, hidden=tuple(args.hidden))
    for model_name, prior in [("vae", "gaussian"), ("aae", "gaussian"), ("aae", "mixture"),
                              ("aae", "swiss-roll")]:
        extra = {} if model_name == "vae" else {"prior": prior}
        model, t = _train(model_name, ds, xb, epochs=args.epochs, seed=args.seed, **common, **extra)
        z = batched(model.encode, x_test)
        z_train = batched(model.encode, xb[:10000])
        prior_z = get_prior(prior)(2000, 2, generator=torch.Generator().manual_seed(2))
        rows.append({"model": model_name, "prior": prior,
                     "mmd2_codes_vs_prior": mmd_rbf(z[:2000], prior_z),
                     "knn_accuracy": knn_accuracy(z_train, ds.train.y[:len(z_train)], z, ds.test.y),
                     "recon_nll": float(-batched(model.reconstruction_log_likelihood, x_test).mean()),
                     "train_time_s": t})
        panels.append((f"{model_name.upper()}, {prior} prior", z.numpy(), prior_z.numpy()))
        print(rows[-1], flush=True)
    return rows, panels


def prior_figure(panels, y, path):
    fig = Figure(figsize=(4 * len(panels), 4.2))
    for i, (title, z, prior_z) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        ax.scatter(prior_z[:, 0], prior_z[:, 1], s=2, c="lightgrey", label="prior samples")
        sc = ax.scatter(z[:2000, 0], z[:2000, 1], s=2, c=np.asarray(y[:2000]), cmap="tab10")
        ax.set_title(title)
        ax.set_xlabel("z[0]")
        ax.set_ylabel("z[1]")
    fig.colorbar(sc, ax=fig.axes, label="class")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return atomic_write_bytes(path, buf.getvalue())


def quality_study(ds, x_train, args, out: Path) -> list[dict]:
    net, info = feature_net(ds)
    xf = ds.to_float(x_train)
    xb = torch.bernoulli(xf, generator=torch.Generator().manual_seed(1))
    rows = []
    specs = [("vae", xb, dict(latent_dim=16, hidden=tuple(args.hidden))),
             ("aae", xb, dict(latent_dim=16, hidden=tuple(args.hidden))),
             ("gan", xf, dict(latent_dim=64, hidden=tuple(args.hidden[::-1]))),
             ("dcgan", xf, dict(latent_dim=64, channels=(32, 64)))]
    for name, x, config in specs:
        model, t = _train(name, ds, x, epochs=args.epochs, seed=args.seed, **config)
        samples = model.sample(5000, generator=torch.Generator().manual_seed(0))
        q = sample_quality(samples, ds, net=net)
        grid = image_grid(samples[:64], out / f"{NAME}-samples-{name}.png", shape=ds.shape,
                          title=f"{name}: samples after {args.epochs} epochs")
        rows.append({"model": name, "frechet_distance": q["frechet_distance"],
                     "precision": q["precision"], "recall": q["recall"], "train_time_s": t,
                     "n_parameters": sum(p.numel() for p in model.parameters()),
                     "samples": grid.name})
        print(rows[-1], flush=True)
    real = sample_quality(ds.val.x[:5000], ds, net=net)
    rows.append({"model": "held-out real images (reference)", "frechet_distance":
                 real["frechet_distance"], "precision": real["precision"], "recall": real["recall"]})
    rows.append({"model": f"feature net test accuracy: {info['test_accuracy']:.4f}"})
    return rows


def semi_study(ds, x_train, y_train, args) -> list[dict]:
    x_test = torch.bernoulli(ds.to_float(ds.test.x), generator=torch.Generator().manual_seed(0))
    xb = torch.bernoulli(ds.to_float(x_train), generator=torch.Generator().manual_seed(1))
    rows = []
    for n_labels in args.labels:
        y = keep_labels(y_train, n_labels, seed=args.seed)
        x2, y2 = repeat_labelled(xb, y, 0.25)
        model, t = _train("aae", ds, x2, y2, epochs=args.epochs, seed=args.seed, latent_dim=8,
                          hidden=tuple(args.hidden), mode="semi-supervised")
        pred = batched(model.predict_proba, x_test).argmax(1)
        rows.append({"model": "AAE (semi-supervised)", "labels": n_labels,
                     "test_error": float((pred != ds.test.y).float().mean()), "train_time_s": t})
        print(rows[-1], flush=True)
    m2 = Path(args.out) / "semi-supervised.json"
    if m2.exists():
        for r in json.loads(m2.read_text()).get("rows", []):
            if "labels" in r and "test_error" in r:
                rows.append({"model": f"M2 (from {m2.name})", "labels": r["labels"],
                             "test_error": r["test_error"]})
    return rows


def main(argv=None) -> dict:
    p = experiment_parser(__name__, __doc__)
    p.add_argument("--study", choices=["prior", "quality", "semi", "all"], default="all")
    p.add_argument("--data", default="fashion-mnist")
    p.add_argument("--n", type=int, default=20000, help="training subset size (default 20000)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--hidden", type=lambda s: tuple(int(v) for v in s.split(",")), default=(512, 256))
    p.add_argument("--labels", type=lambda s: [int(v) for v in s.split(",")], default=[100, 1000])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    set_threads(args.threads)
    ds = load(args.data, seed=args.seed)
    x_train, y_train = ds.train.x[:args.n], ds.train.y[:args.n]
    out = Path(args.out)
    result = {"budget": {"n_train": len(x_train), "epochs": args.epochs, "hidden": args.hidden,
                         "seed": args.seed, "data": args.data},
              "machine": machine(args.threads), "studies": {}}
    md = [f"# {NAME}\n\nBudget: {len(x_train)} training images of {args.data}, {args.epochs} "
          f"epochs, MLP {args.hidden}, seed {args.seed}. Command: `hourglass experiment "
          f"adversarial --study {args.study}`.\n"]
    for study in (["prior", "quality", "semi"] if args.study == "all" else [args.study]):
        t0 = time.perf_counter()
        if study == "prior":
            rows, panels = prior_study(ds, x_train, args)
            prior_figure(panels, ds.test.y, out / f"{NAME}-prior-matching.png")
            md.append("## Prior matching (2-D codes)\n\n" + markdown_table(rows) +
                      f"\n![codes over prior samples]({NAME}-prior-matching.png)\n")
        elif study == "quality":
            rows = quality_study(ds, x_train, args, out)
            md.append("## Sample quality\n\n" + markdown_table(rows))
        else:
            rows = semi_study(ds, x_train, y_train, args)
            md.append("## Semi-supervised classification\n\n" + markdown_table(rows))
        result["studies"][study] = {"rows": rows, "wall_time_s": time.perf_counter() - t0}
    name = NAME if args.study == "all" else f"{NAME}-{args.study}"
    write_results(name, result, "\n".join(md), out)
    print("\n".join(md))
    return result


if __name__ == "__main__":
    main()

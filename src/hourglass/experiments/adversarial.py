"""AAE vs VAE vs GAN/DCGAN on Fashion-MNIST: prior matching, sample quality, semi-supervised AAE.

Three studies of the adversarial models, one command each (``--study``):

- ``prior``: AAE with a 2-D code and a Gaussian, a 10-component mixture and a swiss-roll prior, and
  a VAE (Gaussian prior) with the same encoder/decoder; for each, the unbiased MMD^2 between 2,000
  test codes and 2,000 prior samples, the k-NN accuracy of the codes and the reconstruction NLL,
  plus a figure of the codes over the prior's samples;
- ``quality``: VAE, AAE, GAN, DCGAN trained for the same number of epochs; Fréchet distance,
  precision and recall of 5,000 samples against the test set in the features of the classifier
  Hourglass trains on the dataset, the samples' diversity (mean pairwise distance over the
  data's), and a sample grid per model;
- ``semi``: the semi-supervised AAE and M2 (Kingma et al. 2014) with 100 and 1,000 labels (the rest
  of the training subset unlabelled), the same labelled rows and epochs, test error.

Each study runs on every dataset of ``--data`` and every seed of ``--seeds`` and reports the mean
and standard deviation over the seeds. Budgets (epochs, training subset) are options and are
recorded in the JSON.
"""

from __future__ import annotations

import argparse
import io
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


def _train(name, ds, x, y=None, *, epochs, seed, batch_size=128, binarize="none", **config):
    torch.manual_seed(seed)
    model = build(name, input_shape=ds.shape, **config)
    t0 = time.perf_counter()
    train(model, x, y=y, config=TrainConfig(epochs=epochs, batch_size=batch_size, seed=seed,
                                            binarize=binarize, progress=False))
    return model.eval(), time.perf_counter() - t0


def prior_study(ds, x_train, args, epochs: int) -> tuple[list[dict], list]:
    rows, panels = [], []
    x_test = torch.bernoulli(ds.to_float(ds.test.x), generator=torch.Generator().manual_seed(0))
    xb = torch.bernoulli(ds.to_float(x_train), generator=torch.Generator().manual_seed(1))
    common = dict(latent_dim=2, hidden=tuple(args.hidden))
    for model_name, prior in [("vae", "gaussian"), ("aae", "gaussian"), ("aae", "mixture"),
                              ("aae", "swiss-roll")]:
        extra = {} if model_name == "vae" else {"prior": prior}
        model, t = _train(model_name, ds, xb, epochs=epochs, seed=args.seed,
                          batch_size=args.batch_size, **common, **extra)
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


FEATURE_EPOCHS_SMALL = 8  # the feature net's epochs on datasets under 10,000 training images


def _spread(values) -> dict:
    """Mean and sample standard deviation over seeds."""
    v = np.asarray(values, np.float64)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0}


def _pm(d) -> str:
    return f"{d['mean']:.3g} ± {d['std']:.2g}"


def _diversity(x) -> float:
    """Mean pairwise Euclidean distance of (the first 1,000 of) `x`, flattened."""
    return float(torch.pdist(x[:1000].flatten(1).float()).mean())


QUALITY_MODELS = ("vae", "aae", "gan", "dcgan")


def quality_specs(ds, args):
    """(model, data kind, config) of the sample-quality study; DCGAN's channels fit the images."""
    big = ds.shape[-1] >= 16
    return [("vae", "binary", dict(latent_dim=16, hidden=tuple(args.hidden))),
            ("aae", "binary", dict(latent_dim=16, hidden=tuple(args.hidden))),
            ("gan", "float", dict(latent_dim=64, hidden=tuple(args.hidden[::-1]),
                                  d_dropout=getattr(args, "gan_dropout", 0.0))),
            ("dcgan", "float", dict(latent_dim=64, channels=(32, 64) if big else (64, 128)))]


def quality_study(ds, x_train, args, out: Path, epochs: int) -> list[dict]:
    """Each model trains `epochs`, or its own epochs on this dataset where ``--model-epochs``
    gives them (the MLP GAN's epoch costs a fraction of the others', and it needs more steps)."""
    net, info = feature_net(ds, epochs=3 if len(ds.train) >= 10000 else FEATURE_EPOCHS_SMALL)
    xf = ds.to_float(x_train)
    xb = torch.bernoulli(xf, generator=torch.Generator().manual_seed(1))
    data_diversity = _diversity(ds.to_float(ds.test.x))
    rows = []
    for name, kind, config in quality_specs(ds, args):
        if name not in args.models:
            continue
        per_seed = []
        model_epochs = getattr(args, "model_epochs", {}).get(name, {}).get(ds.name, epochs)
        for seed in args.seeds:
            model, t = _train(name, ds, xb if kind == "binary" else xf, epochs=model_epochs,
                              seed=seed, batch_size=args.batch_size, **config)
            samples = model.sample(args.n_samples, generator=torch.Generator().manual_seed(seed))
            q = sample_quality(samples, ds, net=net)
            per_seed.append({"seed": seed, "frechet_distance": q["frechet_distance"],
                             "precision": q["precision"], "recall": q["recall"],
                             "diversity": _diversity(samples) / data_diversity,
                             "train_time_s": t})
            print(ds.name, name, per_seed[-1], flush=True)
            if seed == args.seeds[0]:
                grid = image_grid(samples[:64], out / f"{NAME}-samples-{ds.name}-{name}.png",
                                  shape=ds.shape, title=f"{name}: samples after {model_epochs} "
                                                        f"epochs (seed {seed})")
        rows.append({"data": ds.name, "model": name, "epochs": model_epochs, **{
            k: _spread([r[k] for r in per_seed]) for k in
            ("frechet_distance", "precision", "recall", "diversity", "train_time_s")},
            "n_parameters": sum(p.numel() for p in model.parameters()),
            "samples": grid.name, "per_seed": per_seed})
    real = sample_quality(ds.val.x[:args.n_samples], ds, net=net)
    rows.append({"data": ds.name, "model": "held-out real images (reference)",
                 "frechet_distance": real["frechet_distance"], "precision": real["precision"],
                 "recall": real["recall"], "diversity": _diversity(ds.to_float(ds.val.x)) /
                 data_diversity, "feature_net_test_accuracy": info["test_accuracy"]})
    return rows


def quality_table(rows) -> str:
    shown = [{"data": r["data"], "model": r["model"], "epochs": r.get("epochs"), **{
        k: (_pm(r[k]) if isinstance(r.get(k), dict) else r.get(k)) for k in
        ("frechet_distance", "precision", "recall", "diversity", "train_time_s")}}
        for r in rows]
    return markdown_table(shown)


def semi_study(ds, x_train, y_train, args, epochs: int) -> list[dict]:
    """Semi-supervised AAE vs M2: the same labelled rows (balanced, drawn with the seed), the same
    epochs, the labelled rows repeated to the same share of the training rows; both train on
    dynamically binarized images and classify the grey-level test images, as in the
    ``semi-supervised`` experiment."""
    x_test = ds.to_float(ds.test.x)
    xb = ds.to_float(x_train)
    rows = []
    for n_labels in args.labels:
        errors = {"aae": [], "m2": []}
        times = {"aae": [], "m2": []}
        for seed in args.seeds:
            y = keep_labels(y_train, n_labels, seed=seed)
            x2, y2 = repeat_labelled(xb, y, args.labelled_share)
            for name, config in [("aae", dict(latent_dim=8, mode="semi-supervised")),
                                 ("m2", dict(latent_dim=8, n_classes=ds.n_classes))]:
                model, t = _train(name, ds, x2, y2, epochs=epochs, seed=seed,
                                  batch_size=args.batch_size, binarize="dynamic",
                                  hidden=tuple(args.hidden), **config)
                proba = model.predict_proba if name == "aae" else model.classify
                pred = batched(proba, x_test).argmax(1)
                errors[name].append(float((pred != ds.test.y).float().mean()))
                times[name].append(t)
                print(ds.name, name, n_labels, seed, errors[name][-1], flush=True)
        for name, label in [("aae", "AAE (semi-supervised)"), ("m2", "M2")]:
            rows.append({"data": ds.name, "model": label, "labels": n_labels, "epochs": epochs,
                         "test_error": _spread(errors[name]), "per_seed": errors[name],
                         "train_time_s": _spread(times[name])})
    return rows


def semi_table(rows) -> str:
    return markdown_table([{"data": r["data"], "model": r["model"], "labels": r["labels"],
                            "test_error": _pm(r["test_error"]),
                            "train_time_s": _pm(r["train_time_s"])} for r in rows])


def section(study, rows, args) -> str:
    if study == "quality":
        return ("## Sample quality\n\nFréchet distance, precision and recall (k = 3) of "
                f"{args.n_samples} samples against the test images, in the features of a "
                "classifier trained on the dataset; diversity: the samples' mean pairwise distance "
                "over the test images' (1 for the data, near 0 for a collapsed generator).\n\n"
                + quality_table(rows))
    return ("## Semi-supervised classification\n\nTest error; AAE and M2 see the same labelled "
            f"rows, repeated to {args.labelled_share} of the training rows, for the same "
            "epochs; dynamically binarized training images, grey-level test images.\n\n" + semi_table(rows))


def _ints(text):
    return [int(v) for v in text.split(",")]


def _model_epochs(text) -> dict:
    """"gan=120,100;aae=20" -> {"gan": [120, 100], "aae": [20]} (per dataset, resolved in main)."""
    out = {}
    for part in filter(None, text.split(";")):
        name, sep, values = part.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"{part!r}: write MODEL=EPOCHS, e.g. gan=120,100")
        try:
            out[name.strip()] = _ints(values)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{part!r}: the epochs must be whole numbers, "
                                             "e.g. gan=120,100") from None
    return out


def main(argv=None) -> dict:
    p = experiment_parser(__name__, __doc__)
    p.add_argument("--study", choices=["prior", "quality", "semi", "all"], default="all")
    p.add_argument("--data", type=lambda s: s.split(","), default=["fashion-mnist"],
                   help="dataset(s), comma-separated (default: fashion-mnist)")
    p.add_argument("--n", type=int, default=20000, help="training subset size (default 20000)")
    p.add_argument("--epochs", type=_ints, default=[10],
                   help="epochs, one per dataset of --data or one for all (default 10)")
    p.add_argument("--model-epochs", type=_model_epochs, default={},
                   help="quality: a model's own epochs, one per dataset of --data or one for all, "
                        "models apart by ';', e.g. 'gan=120,100;aae=20' (default: every model "
                        "trains --epochs)")
    p.add_argument("--gan-dropout", type=float, default=0.0,
                   help="quality: dropout in the MLP GAN's discriminator, as Goodfellow et al. "
                        "(2014) trained it (default 0: none)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--hidden", type=lambda s: tuple(int(v) for v in s.split(",")), default=(512, 256))
    p.add_argument("--labels", type=_ints, default=[100, 1000])
    p.add_argument("--labelled-share", type=float, default=0.1,
                   help="semi: labelled rows repeated to this share of the rows (default 0.1)")
    p.add_argument("--models", type=lambda s: s.split(","), default=["vae", "aae", "gan", "dcgan"],
                   help="quality: the models to compare (default vae,aae,gan,dcgan)")
    p.add_argument("--n-samples", type=int, default=5000, help="quality: samples per model")
    p.add_argument("--seeds", type=_ints, default=[0, 1, 2])
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    if len(args.epochs) not in (1, len(args.data)):
        raise SystemExit(f"--epochs: give one value or one per dataset ({len(args.data)}).")
    epochs_of = dict(zip(args.data, args.epochs * len(args.data) if len(args.epochs) == 1
                         else args.epochs))
    for model_name, values in args.model_epochs.items():
        if model_name not in QUALITY_MODELS:
            raise SystemExit(f"--model-epochs: unknown model {model_name!r}; the study trains "
                             f"{', '.join(QUALITY_MODELS)}.")
        if len(values) not in (1, len(args.data)):
            raise SystemExit(f"--model-epochs {model_name}: give one value or one per dataset "
                             f"({len(args.data)}).")
        args.model_epochs[model_name] = dict(zip(args.data, values * len(args.data)
                                                 if len(values) == 1 else values))
    set_threads(args.threads)
    args.seed = args.seeds[0]
    out = Path(args.out)
    result = {"budget": {"n_train_max": args.n, "epochs": epochs_of, "hidden": args.hidden,
                         "batch_size": args.batch_size, "seeds": args.seeds, "data": args.data,
                         "labelled_share": args.labelled_share, "n_samples": args.n_samples,
                         "model_epochs": args.model_epochs, "gan_dropout": args.gan_dropout},
              "machine": machine(args.threads), "studies": {}}
    budget = ", ".join(f"{d}: {e} epochs" for d, e in epochs_of.items())
    md = [f"# {NAME}\n\nBudget: at most {args.n} training images ({budget}), batch "
          f"{args.batch_size}, MLP {args.hidden}, seeds {args.seeds} (mean ± standard deviation "
          f"over the seeds). Command: `hourglass experiment adversarial --study {args.study} "
          f"--data {','.join(args.data)} --epochs {','.join(map(str, args.epochs))} --n {args.n} "
          f"--batch-size {args.batch_size}"
          + (" --model-epochs " + ";".join(f"{m}={','.join(str(v[d]) for d in args.data)}"
                                           for m, v in args.model_epochs.items())
             if args.model_epochs else "")
          + (f" --gan-dropout {args.gan_dropout:g}" if args.gan_dropout else "") + "`.\n"]
    t_all = time.perf_counter()
    name = NAME if args.study == "all" else f"{NAME}-{args.study}"
    for study in (["prior", "quality", "semi"] if args.study == "all" else [args.study]):
        t0 = time.perf_counter()
        rows = []
        for data in args.data:
            ds = load(data, seed=args.seed)
            x_train, y_train = ds.train.x[:args.n], ds.train.y[:args.n]
            epochs = epochs_of[data]
            if study == "prior":
                r, panels = prior_study(ds, x_train, args, epochs)
                prior_figure(panels, ds.test.y, out / f"{NAME}-prior-matching-{data}.png")
                md.append(f"## Prior matching (2-D codes), {data}\n\n" + markdown_table(r) +
                          f"\n![codes over prior samples]({NAME}-prior-matching-{data}.png)\n")
            elif study == "quality":
                r = quality_study(ds, x_train, args, out, epochs)
            else:
                r = semi_study(ds, x_train, y_train, args, epochs)
            rows += r
            # what is done so far, written after each dataset (a long run keeps its results)
            result["studies"][study] = {"rows": rows, "wall_time_s": time.perf_counter() - t0,
                                        "done": args.data[:args.data.index(data) + 1]}
            partial = [section(study, rows, args)] if study in ("quality", "semi") else []
            write_results(name, result, "\n".join(md + partial), out)
        if study in ("quality", "semi"):
            md.append(section(study, rows, args))
        result["studies"][study] = {"rows": rows, "wall_time_s": time.perf_counter() - t0,
                                    "done": args.data}
    result["total_time_s"] = time.perf_counter() - t_all
    m = result["machine"]
    md.append(f"Total time: {result['total_time_s'] / 60:.1f} min on {m['cpu']} ({m['cpu_count']} "
              f"cores, {args.threads} torch threads, load average {m['load_average_1min_at_start']}"
              " at the start).")
    write_results(name, result, "\n".join(md), out)
    print("\n".join(md))
    return result


if __name__ == "__main__":
    main()

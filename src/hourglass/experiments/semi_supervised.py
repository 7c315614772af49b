"""Semi-supervised Fashion-MNIST: M2 with 100-3000 labels vs pixel and VAE-code (M1) classifiers.

The claim to check (Kingma et al. 2014): a VAE that treats the label as a
latent variable learns a classifier from a few labels plus many unlabelled images. All methods see
the same pool of training images and the same labelled subset (balanced over the 10 classes, drawn
with the seed); the rest of the pool is unlabelled. Baselines with the same labels: logistic
regression on the pixels, and logistic regression on the codes (posterior means) of an
unsupervised VAE trained on every image of the pool (the M1 idea). And the paper's best model,
M1+M2: the same M2 trained on those codes (posterior means, standardized over the pool) in place of
the pixels, with a Gaussian $p(z_1|y, z_2)$ of learned variance. Reported: test error on the
10,000 Fashion-MNIST test images (grey levels in [0, 1]; the VAEs on pixels train on dynamically
binarized images).
"""

from __future__ import annotations

import time

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from hourglass.data import load
from hourglass.data.semisupervised import keep_labels, repeat_labelled
from hourglass.evaluate import batched
from hourglass.models import build
from hourglass.train import TrainConfig, train
from hourglass.experiments import experiment_parser, markdown_table, write_results
from hourglass.experiments._machine import machine, set_threads

COLUMNS = ["labels", "pixels_error", "m1_vae_codes_error", "m2_error", "m1_m2_error",
           "m2_train_s", "m1_m2_train_s"]


def _ints(text):
    return tuple(int(v) for v in text.split(","))


def parse(argv=None):
    p = experiment_parser(__name__, __doc__)
    p.add_argument("--labels", type=_ints, default=(100, 600, 1000, 3000))
    p.add_argument("--data", default="fashion-mnist")
    p.add_argument("--n", type=int, default=10000,
                   help="training pool: labelled + unlabelled images (default: 10000)")
    p.add_argument("--epochs", type=int, default=10, help="M2 epochs (default: 10)")
    p.add_argument("--vae-epochs", type=int, default=30, help="M1 VAE epochs (default: 30)")
    p.add_argument("--latent-dim", type=int, default=16)
    p.add_argument("--hidden", type=_ints, default=(256,))
    p.add_argument("--alpha", type=float, default=50.0)
    p.add_argument("--labelled-share", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    return p.parse_args(argv)


def logistic_error(z_train, y_train, z_test, y_test) -> float:
    """Test error of standardized logistic regression (scikit-learn defaults, C = 1)."""
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    clf.fit(np.asarray(z_train), np.asarray(y_train))
    return float(1 - clf.score(np.asarray(z_test), np.asarray(y_test)))


def main(argv=None) -> dict:
    args = parse(argv)
    set_threads(args.threads)
    t_start = time.perf_counter()
    ds = load(args.data, val_fraction=0.0, seed=args.seed, n=args.n)
    x_pool, y_pool = ds.train.x, ds.train.y
    x_test, y_test = ds.test.x, ds.test.y  # as stored: batched() reads uint8 as x / 255
    config = dict(input_shape=ds.shape, latent_dim=args.latent_dim, hidden=args.hidden,
                  likelihood="bernoulli")
    fit = TrainConfig(epochs=args.vae_epochs, binarize="dynamic", seed=args.seed, progress=False)

    # M1: an unsupervised VAE on every image of the pool; its codes feed a classifier
    torch.manual_seed(args.seed)
    vae = build("vae", **config)
    t0 = time.perf_counter()
    train(vae, x_pool, config=fit)
    vae_s = time.perf_counter() - t0
    vae.eval()
    z_pool, z_test = batched(vae.encode, x_pool).numpy(), batched(vae.encode, x_test).numpy()
    pixels_pool, pixels_test = (batched(lambda xb: xb.flatten(1), x).numpy()
                                for x in (x_pool, x_test))
    # M1+M2's inputs: the M1 codes, standardized with the pool's mean and spread
    mean, spread = z_pool.mean(0), z_pool.std(0) + 1e-6
    z1_pool, z1_test = (torch.from_numpy((z - mean) / spread).float() for z in (z_pool, z_test))

    rows = []
    for n_labels in args.labels:
        y_few = keep_labels(y_pool, n_labels, seed=args.seed)
        lab = (y_few >= 0).numpy()
        row = {"labels": n_labels,
               "pixels_error": logistic_error(pixels_pool[lab], y_few[lab], pixels_test, y_test),
               "m1_vae_codes_error": logistic_error(z_pool[lab], y_few[lab], z_test, y_test)}
        torch.manual_seed(args.seed)
        m2 = build("m2", **config, n_classes=ds.n_classes, alpha=args.alpha)
        x_rep, y_rep = repeat_labelled(x_pool, y_few, args.labelled_share)
        t0 = time.perf_counter()
        train(m2, x_rep, y=y_rep, config=TrainConfig(**{**fit.to_dict(), "epochs": args.epochs}))
        row["m2_train_s"] = time.perf_counter() - t0
        q_y = batched(m2.eval().classify, x_test)
        row["m2_error"] = float((q_y.argmax(1) != y_test).float().mean())
        torch.manual_seed(args.seed)
        m12 = build("m2", input_shape=(args.latent_dim,), latent_dim=args.latent_dim,
                    hidden=args.hidden, likelihood="gaussian", n_classes=ds.n_classes,
                    alpha=args.alpha)
        z_rep, y_rep = repeat_labelled(z1_pool, y_few, args.labelled_share)
        t0 = time.perf_counter()
        train(m12, z_rep, y=y_rep, config=TrainConfig(**{**fit.to_dict(), "epochs": args.epochs,
                                                          "binarize": "none"}))
        row["m1_m2_train_s"] = time.perf_counter() - t0
        q_y = batched(m12.eval().classify, z1_test)
        row["m1_m2_error"] = float((q_y.argmax(1) != y_test).float().mean())
        rows.append(row)
        print(markdown_table([row], COLUMNS), flush=True)

    result = {
        "experiment": "semi-supervised", "rows": rows, "m1_vae_train_s": vae_s,
        "budget": {"data": f"{args.data}: pool of {len(x_pool)} training images (seeded subset), "
                           f"{len(x_test)} test images",
                   "m2_epochs": args.epochs, "vae_epochs": args.vae_epochs, "batch_size": 128,
                   "optimizer": "adam 1e-3", "binarize": "dynamic",
                   "model": f"MLP {args.hidden}, latent {args.latent_dim}, Bernoulli decoder; "
                            f"M2 alpha {args.alpha}, labelled rows repeated to a share of "
                            f"{args.labelled_share}; M1+M2: the same M2 on the standardized "
                            "M1 codes, Gaussian likelihood of learned variance",
                   "classifier": "StandardScaler + LogisticRegression (scikit-learn defaults)"},
        "seed": args.seed, "machine": machine(args.threads),
        "total_time_s": time.perf_counter() - t_start,
    }
    md = (f"Semi-supervised {args.data}: test error (10 classes; pool of {len(x_pool)} training "
          f"images, {args.epochs} M2 epochs, {args.vae_epochs} M1-VAE epochs, seed {args.seed}; "
          f"total {result['total_time_s'] / 60:.1f} min)\n\n" + markdown_table(rows, COLUMNS))
    write_results("semi-supervised", result, md, args.out)
    print(md)
    return result


if __name__ == "__main__":
    main()

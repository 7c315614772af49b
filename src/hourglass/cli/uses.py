"""The subcommands for what the codes are for: ``hourglass compare``, ``detect`` and ``debias``.

Each writes a Markdown table, a JSON file and figures into ``--out`` and prints the table; the
work is done by :func:`hourglass.uses.compare.run_compare`, :func:`hourglass.uses.detect.run_detect` and
:func:`hourglass.uses.debias.run_debias`.
"""

from __future__ import annotations

import argparse
import sys

COMMANDS = ("compare", "detect", "debias")


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _common(p, *, epochs: int, hidden: str = "512,256") -> None:
    from hourglass.cli.main import _positive_int, _sizes
    p.add_argument("--data", default="digits", help="dataset (same forms as for train; "
                   "default: digits)")
    p.add_argument("--out", required=True, help="folder for the table, JSON and figures")
    p.add_argument("--epochs", type=_positive_int, default=epochs,
                   help=f"training epochs of the autoencoder models (default: {epochs})")
    p.add_argument("--hidden", type=_sizes, default=tuple(int(h) for h in hidden.split(",")),
                   metavar="N,N", help=f"MLP widths of the autoencoder models (default: {hidden})")
    p.add_argument("--batch-size", type=_positive_int, default=128,
                   help="training batch size of the models (default: 128)")
    p.add_argument("--seed", type=int, default=0, help="seed of subsamples and models (default: 0)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--download", action="store_true", help="allow downloading the dataset")


def add_commands(sub) -> None:
    """Add the three subparsers to `sub` (the CLI's subparsers action)."""
    from hourglass.cli.main import _positive_int
    from hourglass.uses.compare import DEFAULT_METHODS as COMPARE_METHODS
    from hourglass.uses.detect import DEFAULT_METHODS as DETECT_METHODS

    c = sub.add_parser("compare", help="dimensionality reduction side by side: PCA, LDA, Isomap, "
                       "LLE, t-SNE, UMAP, autoencoders",
                       description="Fit each method on the same training subsample, embed "
                       "held-out test points, and report trustworthiness, continuity, k-NN "
                       "accuracy, reconstruction error, time and peak memory; on swiss-roll and "
                       "s-curve also how well the true coordinates are kept. Writes compare.md, "
                       "compare.json, compare.png and embeddings.npz.")
    c.add_argument("--methods", default=COMPARE_METHODS,
                   help=f"comma-separated (default: {COMPARE_METHODS}); any registered model "
                   "with an encoder works too")
    c.add_argument("--dims", type=_positive_int, default=2, help="embedding size (default: 2)")
    c.add_argument("--n", type=_positive_int, default=10_000,
                   help="training points every method is fitted on (default: 10000)")
    c.add_argument("--n-eval", type=_positive_int, default=2000,
                   help="held-out test points the metrics use (default: 2000)")
    c.add_argument("--k", type=_positive_int, default=10,
                   help="neighbours of trustworthiness and continuity (default: 10)")
    c.add_argument("--knn-k", type=_positive_int, default=5,
                   help="neighbours of the k-NN classifier (default: 5)")
    c.add_argument("--no-isolate", action="store_true",
                   help="run every method in this process (faster; no peak-memory figure)")
    _common(c, epochs=30)

    d = sub.add_parser("detect", help="outlier detection benchmark: one-class AUROC per class, "
                       "cross-dataset AUROC",
                       description="One-class protocol: for each class, fit every method on "
                       "that class alone and score the whole test split (AUROC of the class "
                       "against the others). With --against, fit on all classes and score the "
                       "test split against other data (digits, noise, a dataset). Writes "
                       "detect.md, detect.json, detect.png and cross.png.")
    d.add_argument("--methods", default=DETECT_METHODS,
                   help=f"comma-separated models and baselines (pca, ocsvm, iforest), a model "
                   f"optionally with :score (recon, elbo, log_prob) (default: {DETECT_METHODS})")
    d.add_argument("--classes", default="all", help="'all', 'none' or indices, e.g. 0,3")
    d.add_argument("--n-per-class", type=_positive_int, default=None,
                   help="training examples per one-class model (default: all of the class)")
    d.add_argument("--against", default="",
                   help="outlier sets for the cross-dataset check, e.g. digits,noise")
    d.add_argument("--n-cross", type=_positive_int, default=10_000,
                   help="training examples of the cross-dataset models (default: 10000)")
    d.add_argument("--n-outliers", type=_positive_int, default=2000,
                   help="examples of each outlier set (default: 2000)")
    d.add_argument("--latent-dim", type=_positive_int, default=16,
                   help="code size of the models and PCA's components (default: 16)")
    d.add_argument("--k", type=_positive_int, default=100,
                   help="importance samples of log_prob bounds (default: 100)")
    _common(d, epochs=20)

    b = sub.add_parser("debias", help="latent-density re-sampling: a classifier trained on "
                       "imbalanced data with and without it",
                       description="Thin one class out of the training data, train a db-vae "
                       "classifier with uniform batches and with batches re-sampled by the "
                       "inverse density of its codes, and report accuracy overall and on the "
                       "rare class. Writes debias.md, debias.json, rarest.png, most_common.png.")
    b.add_argument("--rare-class", type=int, default=0, help="class index to thin (default: 0)")
    b.add_argument("--keep", type=float, default=0.02,
                   help="share of the rare class's training examples kept (default: 0.02)")
    b.add_argument("--n", type=_positive_int, default=None,
                   help="use only N training examples before thinning")
    b.add_argument("--latent-dim", type=_positive_int, default=16,
                   help="code size of the db-vae (default: 16)")
    b.add_argument("--bins", type=_positive_int, default=10,
                   help="histogram bins per latent dimension (default: 10)")
    b.add_argument("--alpha", type=float, default=0.001,
                   help="density smoothing: larger is closer to uniform (default: 0.001)")
    b.add_argument("--combine", default="max", choices=["max", "product"],
                   help="across dimensions: max (course lab) or product (paper) of 1/density")
    _common(b, epochs=10)


def run(args: argparse.Namespace) -> None:
    """Run the parsed ``compare``/``detect``/``debias`` command and print its table."""
    common = dict(epochs=args.epochs, hidden=args.hidden, batch_size=args.batch_size,
                  seed=args.seed, device=args.device, out=args.out, download=args.download,
                  log=_log)
    if args.command == "compare":
        from hourglass.uses.compare import markdown, run_compare
        result = run_compare(args.data, methods=args.methods, n=args.n, n_eval=args.n_eval,
                             dims=args.dims, k=args.k, knn_k=args.knn_k,
                             isolate=not args.no_isolate, **common)
        files = "compare.md, compare.json, compare.png, embeddings.npz"
    elif args.command == "detect":
        from hourglass.uses.detect import markdown, run_detect
        result = run_detect(args.data, methods=args.methods, classes=args.classes,
                            n_per_class=args.n_per_class, against=args.against,
                            n_cross=args.n_cross, n_outliers=args.n_outliers,
                            latent_dim=args.latent_dim, k=args.k, **common)
        files = "detect.md, detect.json" + (", detect.png" if result["one_class"] else "") + \
            (", cross.png" if result["cross"] else "")
    else:
        from hourglass.uses.debias import markdown, run_debias
        result = run_debias(args.data, rare_class=args.rare_class, keep=args.keep, n=args.n,
                            latent_dim=args.latent_dim, bins=args.bins, alpha=args.alpha,
                            combine=args.combine, **common)
        files = "debias.md, debias.json, rarest.png, most_common.png"
    print(markdown(result))
    print(f"written to {args.out}: {files}")

"""Latent-density re-sampling: a classifier trained on imbalanced data with and without it.

One class of ``--data`` is thinned out of the training split; a ``db-vae`` classifier is trained
once with uniform batches and once with batches re-sampled by the inverse density of its codes
(:class:`hourglass.uses.debias.DebiasSampler`, after Amini et al. 2019), and the table reports
accuracy overall and on the rare class. Writes ``debias.md``, ``debias.json``, ``rarest.png`` and
``most_common.png`` into ``--out``. Also ``hourglass debias``.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import torch

from hourglass.core.errors import ConfigError
from hourglass.core.io import atomic_write_json, atomic_write_text
from hourglass.core.parsing import positive_int
from hourglass.core.validation import check_params
from hourglass.data import load
from hourglass.models import build
from hourglass.train import TrainConfig, train
from hourglass.viz import image_grid
from hourglass.runs.workflow import resolve_likelihood
from hourglass.uses.debias import (CONSTRAINTS, DebiasSampler, latent_sampling_weights,
                                   make_imbalanced, predict)
from hourglass.experiments import experiment_parser, markdown_table
from hourglass.experiments._uses import add_common_flags, common_settings

HELP = "latent-density re-sampling: a classifier trained on imbalanced data with and without it"
DESCRIPTION = ("Thin one class out of the training data, train a db-vae classifier with uniform "
               "batches and with batches re-sampled by the inverse density of its codes, and "
               "report accuracy overall and on the rare class. Writes debias.md, debias.json, "
               "rarest.png, most_common.png.")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of the experiment, all but ``--out``."""
    p.add_argument("--rare-class", type=int, default=0, help="class index to thin (default: 0)")
    p.add_argument("--keep", type=float, default=0.02,
                   help="share of the rare class's training examples kept (default: 0.02)")
    p.add_argument("--n", type=positive_int, default=None,
                   help="use only N training examples before thinning")
    p.add_argument("--latent-dim", type=positive_int, default=16,
                   help="code size of the db-vae (default: 16)")
    p.add_argument("--bins", type=positive_int, default=10,
                   help="histogram bins per latent dimension (default: 10)")
    p.add_argument("--alpha", type=float, default=0.001,
                   help="density smoothing: larger is closer to uniform (default: 0.001)")
    p.add_argument("--combine", default="max", choices=["max", "product"],
                   help="across dimensions: max (the MIT 6.S191 lab) or product (the paper) of "
                   "1/density")
    add_common_flags(p, epochs=10)


def run(args: argparse.Namespace) -> dict:
    """Run the parsed flags, print the table and where the files went; returns the result."""
    result = run_debias(args.data, rare_class=args.rare_class, keep=args.keep, n=args.n,
                        latent_dim=args.latent_dim, bins=args.bins, alpha=args.alpha,
                        combine=args.combine, **common_settings(args))
    print(markdown(result))
    print(f"written to {args.out}: debias.md, debias.json, rarest.png, most_common.png")
    return result


def main(argv: list[str] | None = None) -> dict:
    p = experiment_parser(__name__, DESCRIPTION)
    add_arguments(p)
    return run(p.parse_args(argv))


def run_debias(data: str = "fashion-mnist", *, rare_class: int = 0, keep: float = 0.02,
               n: int | None = None, epochs: int = 10, latent_dim: int = 16, hidden=(512, 256),
               batch_size: int = 128, bins: int = 10, alpha: float = 0.001, combine: str = "max",
               seed: int = 0, device: str = "auto", out: str | Path | None = None,
               download: bool = False, log=None) -> dict:
    """Train a ``db-vae`` classifier on `data` with class `rare_class` thinned to a `keep` share,
    once with uniform batches and once with latent-density re-sampling; report accuracy overall
    and on the rare class, and (with `out`) the training images the re-sampling model rated
    rarest and most common."""
    check_params("run_debias", {"bins": bins, "alpha": alpha, "combine": combine}, CONSTRAINTS)
    ds = load(data, val_fraction=0.0, seed=seed, n=n, download=download)
    if ds.train.y is None:
        raise ConfigError(f"Debiasing is shown with a classifier; {ds.name!r} has no labels. Use "
                          "labelled data: digits, fashion-mnist, or an .npz file with y.")
    if not 0 <= rare_class < ds.n_classes:
        raise ConfigError(f"--rare-class must be in 0..{ds.n_classes - 1}. Got {rare_class}.")
    idx = make_imbalanced(ds.train.y.numpy(), rare_class, keep, seed=seed)
    x, y = ds.train.x[idx], ds.train.y[idx]
    x_test, y_test = ds.test.x, ds.test.y.numpy()
    config = dict(input_shape=ds.shape, n_classes=ds.n_classes, latent_dim=latent_dim,
                  hidden=tuple(hidden), likelihood=resolve_likelihood("auto", ds))
    say = log or (lambda _msg: None)
    rows, samplers = [], {}
    t_start = time.perf_counter()
    for mode in ("uniform", "debiased"):
        torch.manual_seed(seed)
        model = build("db-vae", **config)
        sampler = DebiasSampler(model, x, bins=bins, alpha=alpha, combine=combine) \
            if mode == "debiased" else None
        t0 = time.perf_counter()
        train(model, x, y=y, config=TrainConfig(epochs=epochs, batch_size=batch_size, seed=seed,
                                                device=device, progress=False),
              sample_weights=sampler)
        train_s = time.perf_counter() - t0
        final = sampler or DebiasSampler(model, x, bins=bins, alpha=alpha, combine=combine)
        w = latent_sampling_weights(final.codes(), bins=bins, alpha=alpha, combine=combine)
        samplers[mode] = w
        pred = predict(model, x_test)
        rare = y_test == rare_class
        rows.append({
            "training": mode, "accuracy": float((pred == y_test).mean()),
            "rare_class_accuracy": float((pred[rare] == rare_class).mean()),
            "other_classes_accuracy": float((pred[~rare] == y_test[~rare]).mean()),
            "rare_sampling_mass": float(w[(y == rare_class).numpy()].sum()),
            "train_s": train_s,
            "per_class_accuracy": [float((pred[y_test == c] == c).mean())
                                   for c in range(ds.n_classes)]})
        say(f"{mode}: accuracy {rows[-1]['accuracy']:.4f}, rare class "
            f"{rows[-1]['rare_class_accuracy']:.4f} ({train_s:.0f} s)")
    order = np.argsort(samplers["debiased"])
    result = {
        "data": data, "rare_class": rare_class,
        "rare_class_name": ds.classes[rare_class] if ds.classes else str(rare_class),
        "keep": keep, "n_train": len(idx), "n_rare_train": int((y == rare_class).sum()),
        "rare_share_of_data": float((y == rare_class).float().mean()), "n_test": len(y_test),
        "epochs": epochs, "latent_dim": latent_dim, "hidden": list(hidden),
        "batch_size": batch_size, "bins": bins, "alpha": alpha, "combine": combine, "seed": seed,
        "rows": rows, "rarest_labels": y[order[::-1][:64].copy()].tolist(),
        "most_common_labels": y[order[:64].copy()].tolist(),
        "wall_s": time.perf_counter() - t_start,
        "machine": {"platform": platform.platform(), "torch_threads": torch.get_num_threads()},
    }
    if out is not None:
        write_debias(out, result, x, ds, order)
    return result


def markdown(result: dict) -> str:
    cols = ["training", "accuracy", "rare_class_accuracy", "other_classes_accuracy",
            "rare_sampling_mass", "train_s"]
    return (f"{result['data']}: class {result['rare_class']} ({result['rare_class_name']}) kept "
            f"at {100 * result['keep']:g}% ({result['n_rare_train']} of {result['n_train']} "
            f"training examples, {100 * result['rare_share_of_data']:.2f}% of the data); "
            f"db-vae, {result['epochs']} epochs, latent {result['latent_dim']}, bins "
            f"{result['bins']}, alpha {result['alpha']}, combine {result['combine']}; "
            f"accuracy on all {result['n_test']} test examples. rare_sampling_mass: the rare "
            "class's share of the latent-density sampling weights computed from that row's final "
            f"model (uniform draws give it {100 * result['rare_share_of_data']:.2f}%).\n\n"
            + markdown_table(result["rows"], cols, digits=4))


def write_debias(out, result: dict, x: torch.Tensor, ds, order: np.ndarray) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "debias.json", result, sort_keys=False)
    atomic_write_text(out / "debias.md", markdown(result))
    if ds.is_image:
        rarest, common = order[::-1][:64].copy(), order[:64].copy()
        image_grid(ds.to_float(x[rarest]), out / "rarest.png", shape=ds.shape,
                   title="rated rarest (highest sampling weight)")
        image_grid(ds.to_float(x[common]), out / "most_common.png", shape=ds.shape,
                   title="rated most common (lowest sampling weight)")
    return out


if __name__ == "__main__":
    main()

"""Dimensionality reduction side by side: PCA, LDA, Isomap, LLE, t-SNE, UMAP and autoencoders.

Every method is fitted on the same training subsample of ``--data`` and embeds the same held-out
test points; the table reports trustworthiness, continuity, k-NN accuracy, reconstruction error,
time and peak memory, and on swiss-roll and s-curve how well the true coordinates are kept (the
metrics are described in :mod:`hourglass.uses.compare`). Writes ``compare.md``, ``compare.json``,
``compare.png`` and ``embeddings.npz`` into ``--out``. Also ``hourglass compare``.
"""

from __future__ import annotations

import argparse
import io
import platform
import time
from pathlib import Path

import numpy as np
import torch

from hourglass.core.errors import ConfigError
from hourglass.core.io import atomic_write_bytes, atomic_write_json, atomic_write_text
from hourglass.core.parsing import positive_int
from hourglass.data import load
from hourglass.evaluate.embedding import sheet_coordinates
from hourglass.uses.compare import Options, Unavailable, measure, parse_methods, score_embedding
from hourglass.viz.panels import embedding_panel
from hourglass.experiments import experiment_parser, markdown_table
from hourglass.experiments._uses import add_common_flags, common_settings

DEFAULT_METHODS = "pca,lda,isomap,lle,tsne,umap,ae,dae,vae"
COLUMNS = ["method", "out_of_sample", "trustworthiness", "continuity", "knn_accuracy",
           "recon_mse", "coord_spearman", "fit_s_per_1k", "transform_s_per_1k", "peak_mem_mb",
           "note"]
HELP = "dimensionality reduction side by side: PCA, LDA, Isomap, LLE, t-SNE, UMAP, autoencoders"
DESCRIPTION = ("Fit each method on the same training subsample, embed held-out test points, and "
               "report trustworthiness, continuity, k-NN accuracy, reconstruction error, time and "
               "peak memory; on swiss-roll and s-curve also how well the true coordinates are "
               "kept. Writes compare.md, compare.json, compare.png and embeddings.npz.")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of the experiment, all but ``--out``."""
    p.add_argument("--methods", default=DEFAULT_METHODS,
                   help=f"comma-separated (default: {DEFAULT_METHODS}); any registered model "
                   "with an encoder works too")
    p.add_argument("--dims", type=positive_int, default=2, help="embedding size (default: 2)")
    p.add_argument("--n", type=positive_int, default=10_000,
                   help="training points every method is fitted on (default: 10000)")
    p.add_argument("--n-eval", type=positive_int, default=2000,
                   help="held-out test points the metrics use (default: 2000)")
    p.add_argument("--neighbors", dest="k", type=positive_int, default=10, metavar="K",
                   help="neighbours of trustworthiness and continuity (default: 10)")
    p.add_argument("--k", dest="k", type=positive_int, default=argparse.SUPPRESS,
                   help=argparse.SUPPRESS)  # the former name of --neighbors
    p.add_argument("--knn-neighbors", dest="knn_k", type=positive_int, default=5, metavar="K",
                   help="neighbours of the k-NN classifier (default: 5)")
    p.add_argument("--knn-k", dest="knn_k", type=positive_int, default=argparse.SUPPRESS,
                   help=argparse.SUPPRESS)  # the former name of --knn-neighbors
    p.add_argument("--no-isolate", action="store_true",
                   help="run every method in this process (faster; no peak-memory figure)")
    add_common_flags(p, epochs=30)


def run(args: argparse.Namespace) -> dict:
    """Run the parsed flags, print the table and where the files went; returns the result."""
    result = run_compare(args.data, methods=args.methods, n=args.n, n_eval=args.n_eval,
                         dims=args.dims, k=args.k, knn_k=args.knn_k, isolate=not args.no_isolate,
                         **common_settings(args))
    print(markdown(result))
    print(f"written to {args.out}: compare.md, compare.json, compare.png, embeddings.npz")
    return result


def main(argv: list[str] | None = None) -> dict:
    p = experiment_parser(__name__, DESCRIPTION)
    add_arguments(p)
    return run(p.parse_args(argv))


def _flat(ds, split, idx=None):
    s = getattr(ds, split)
    x = ds.to_float(s.x).reshape(len(s), -1).numpy().astype(np.float64)
    y = None if s.y is None else s.y.numpy()
    t = None if s.t is None else sheet_coordinates(ds.name, s.t.numpy())
    if idx is not None:
        x, y, t = x[idx], None if y is None else y[idx], None if t is None else t[idx]
    return x, y, t


def run_compare(data: str, *, methods: str | list = DEFAULT_METHODS, n: int | None = 10_000,
                n_eval: int = 2000, dims: int = 2, k: int = 10, knn_k: int = 5,
                epochs: int = 30, hidden=(512, 256), batch_size: int = 128, seed: int = 0,
                device: str = "auto", isolate: bool = True, out: str | Path | None = None,
                download: bool = False, log=None) -> dict:
    """Fit every method on `n` training points of `data`, score on `n_eval` held-out test points.

    Returns the result dict (``rows``, the settings, the machine); with `out`, writes
    ``compare.json``, ``compare.md``, ``compare.png`` and ``embeddings.npz`` there.
    """
    names = parse_methods(methods) if isinstance(methods, str) else parse_methods(",".join(methods))
    for value, what in ((dims, "dims"), (n_eval, "n_eval"), (epochs, "epochs"), (knn_k, "knn_k")):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"The {what!r} parameter must be an int >= 1. Got {value!r} instead.")
    ds = load(data, val_fraction=0.0, seed=seed, n=n, download=download)
    rng = np.random.default_rng(seed)
    eval_idx = np.sort(rng.permutation(len(ds.test))[:n_eval])
    x_fit, y_fit, _ = _flat(ds, "train")
    x_eval, y_eval, t_eval = _flat(ds, "test", eval_idx)
    if not 2 * k < len(x_eval):
        raise ConfigError(f"k={k} neighbours need more than {2 * k} held-out points; the test "
                          f"split gives {len(x_eval)}. Lower --k or raise --n-eval.")
    opts = Options(dims=dims, seed=seed, epochs=epochs, hidden=tuple(hidden),
                   batch_size=batch_size, device=device)
    rows, embeddings = [], {}
    t_start = time.perf_counter()
    for name in names:
        row = {"method": name}
        t0 = time.perf_counter()
        try:
            res = measure(name, x_fit, y_fit, x_eval, opts, ds.n_classes, isolate=isolate)
        except Unavailable as e:
            row["note"] = str(e)
        else:
            row["out_of_sample"] = "yes" if res["out_of_sample"] else "no (fitted with them)"
            row.update(score_embedding(res, x_eval, y_fit, y_eval, t_eval, k=k, knn_k=knn_k))
            row.update({c: res[c] for c in ("fit_s_per_1k", "transform_s_per_1k", "peak_mem_mb")})
            if res["supervised"]:
                row["note"] = "supervised: uses the labels"
            embeddings[name] = np.asarray(res["z_eval"], dtype=np.float32)
        row["wall_s"] = time.perf_counter() - t0
        rows.append(row)
        if log is not None:
            log(f"{name}: " + ", ".join(f"{c} {row[c]:.4g}" if isinstance(row[c], float)
                                        else f"{c} {row[c]}" for c in row if c != "method"))
    result = {
        "data": data, "dataset": ds.info(), "n_fit": len(x_fit), "n_eval": len(x_eval),
        "dims": dims, "k": k, "knn_k": knn_k, "seed": seed,
        "autoencoder": {"epochs": epochs, "hidden": list(hidden), "batch_size": batch_size},
        "memory_measure": ("rise of a fresh process's peak RSS above its RSS before fit, over "
                           "fit + transform" if isolate else "not measured (run in-process)"),
        "rows": rows, "wall_s": time.perf_counter() - t_start,
        "machine": {"platform": platform.platform(), "torch_threads": torch.get_num_threads(),
                    "python": platform.python_version()},
    }
    if out is not None:
        write_compare(out, result, embeddings, y_eval, t_eval, ds.classes)
    return result


def markdown(result: dict) -> str:
    used = [c for c in COLUMNS if any(c in r for r in result["rows"])]
    head = (f"{result['data']}: {result['n_fit']} fitted points, {result['n_eval']} held-out, "
            f"{result['dims']}-D, k = {result['k']} (trustworthiness/continuity), "
            f"k-NN with k = {result['knn_k']}; peak memory: {result['memory_measure']}.\n\n")
    return head + markdown_table(result["rows"], used, digits=4)


def write_compare(out, result, embeddings, y_eval, t_eval, classes) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "compare.json", result, sort_keys=False)
    atomic_write_text(out / "compare.md", markdown(result))
    buf = io.BytesIO()
    np.savez(buf, **embeddings)  # held-out codes per method, readable with allow_pickle=False
    atomic_write_bytes(out / "embeddings.npz", buf.getvalue())
    color = y_eval if y_eval is not None else (None if t_eval is None else t_eval[:, 0])
    notes = {r["method"]: r["note"] for r in result["rows"] if r["method"] not in embeddings}
    embedding_panel(embeddings, out / "compare.png", color=color,
                    classes=classes if y_eval is not None else None, notes=notes,
                    title=f"{result['data']}: {result['n_eval']} held-out points")
    return out


if __name__ == "__main__":
    main()

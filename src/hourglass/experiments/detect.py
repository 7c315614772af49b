"""Outlier detection benchmark: one-class AUROC per class and cross-dataset AUROC.

The one-class protocol: for each class, fit every method on that class alone and score the whole
test split (AUROC of the class against the others). With ``--against``, fit on all classes and
score the test split against other data (digits, noise, a dataset). Methods are registered models,
each with one or more of its scores (:class:`hourglass.uses.detect.OutlierDetector` describes
them), and the baselines PCA (reconstruction error), a one-class SVM and an isolation forest.
Writes ``detect.md``, ``detect.json``, ``detect.png`` and ``cross.png`` into ``--out``. Also
``hourglass detect``.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.svm import OneClassSVM

from hourglass.core.errors import ConfigError, DataError
from hourglass.core.io import atomic_write_json, atomic_write_text
from hourglass.core.parsing import positive_int
from hourglass.data import load
from hourglass.estimators.generic import available_scores, estimator_for, usable_models
from hourglass.models import get_model_class
from hourglass.models.protocol import capabilities
from hourglass.uses.detect import auroc, estimator_scores
from hourglass.viz.panels import auroc_heatmap, score_histograms
from hourglass.experiments import experiment_parser, markdown_table
from hourglass.experiments._uses import add_common_flags, common_settings

BASELINES = ("pca", "ocsvm", "iforest")
DEFAULT_METHODS = "ae,dae,vae,pca,ocsvm,iforest"
HELP = "outlier detection benchmark: one-class AUROC per class, cross-dataset AUROC"
DESCRIPTION = ("One-class protocol: for each class, fit every method on that class alone and "
               "score the whole test split (AUROC of the class against the others). With "
               "--against, fit on all classes and score the test split against other data "
               "(digits, noise, a dataset). Writes detect.md, detect.json, detect.png and "
               "cross.png.")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of the experiment, all but ``--out``."""
    p.add_argument("--methods", default=DEFAULT_METHODS,
                   help=f"comma-separated models and baselines (pca, ocsvm, iforest), a model "
                   f"optionally with :score (recon, elbo, log_prob) (default: {DEFAULT_METHODS})")
    p.add_argument("--classes", default="all", help="'all', 'none' or indices, e.g. 0,3")
    p.add_argument("--n-per-class", type=positive_int, default=None,
                   help="training examples per one-class model (default: all of the class)")
    p.add_argument("--against", default="",
                   help="outlier sets for the cross-dataset check, e.g. digits,noise")
    p.add_argument("--n-cross", type=positive_int, default=10_000,
                   help="training examples of the cross-dataset models (default: 10000)")
    p.add_argument("--n-outliers", type=positive_int, default=2000,
                   help="examples of each outlier set (default: 2000)")
    p.add_argument("--latent-dim", type=positive_int, default=16,
                   help="code size of the models and PCA's components (default: 16)")
    p.add_argument("--k", type=positive_int, default=100,
                   help="importance samples of log_prob bounds (default: 100)")
    add_common_flags(p, epochs=20)


def run(args: argparse.Namespace) -> dict:
    """Run the parsed flags, print the tables and where the files went; returns the result."""
    result = run_detect(args.data, methods=args.methods, classes=args.classes,
                        n_per_class=args.n_per_class, against=args.against,
                        n_cross=args.n_cross, n_outliers=args.n_outliers,
                        latent_dim=args.latent_dim, k=args.k, **common_settings(args))
    files = "detect.md, detect.json" + (", detect.png" if result["one_class"] else "") + \
        (", cross.png" if result["cross"] else "")
    print(markdown(result))
    print(f"written to {args.out}: {files}")
    return result


def main(argv: list[str] | None = None) -> dict:
    p = experiment_parser(__name__, DESCRIPTION)
    add_arguments(p)
    return run(p.parse_args(argv))


def parse_methods(text: str) -> list[tuple[str, list[str]]]:
    """'ae,vae,vae:recon,pca' -> [(method, [scores])], one entry per method, in order. A model
    without an explicit score gets each density score it has (else ``recon``), and ``mse``."""
    groups: dict[str, list[str]] = {}
    models = usable_models()
    for item in (s.strip() for s in text.split(",")):
        if not item:
            continue
        name, _, kind = item.partition(":")
        if name not in (*BASELINES, *models):
            raise ConfigError(f"Unknown method {name!r}. Valid methods: "
                              f"{', '.join((*models, *BASELINES))}.")
        if name in BASELINES:
            kinds = [kind or ("mse" if name == "pca" else "score_samples")]
        else:
            has = available_scores(get_model_class(name))
            if kind and kind not in has:
                raise ConfigError(f"The {name!r} model has no {kind!r} score; it has: "
                                  f"{', '.join(has) or 'none'}.")
            density = [k for k in has if k not in ("recon", "mse")]
            kinds = [kind] if kind else [*(density or ["recon"]), *(["mse"] if "mse" in has else [])]
        groups.setdefault(name, [])
        groups[name] += [k for k in kinds if k not in groups[name]]
    if not groups:
        raise ConfigError("No method given. Valid methods: "
                          f"{', '.join((*models, *BASELINES))}.")
    return list(groups.items())


def make_estimator(name: str, *, latent_dim: int, epochs: int, hidden, batch_size: int, k: int,
                   seed: int, device: str):
    """The estimator `name` stands for in the benchmark (baselines: scikit-learn defaults; PCA
    keeps as many components as the models' codes)."""
    if name == "pca":
        return PCA(n_components=latent_dim, random_state=seed)
    if name == "ocsvm":
        return OneClassSVM(kernel="rbf", gamma="scale", nu=0.1)
    if name == "iforest":
        return IsolationForest(random_state=seed)
    return estimator_for(name, latent_dim=latent_dim, hidden=tuple(hidden), epochs=epochs,
                         batch_size=batch_size, n_importance=k, random_state=seed, device=device)


def row_label(name: str, kind: str, k: int) -> str:
    """'vae (log_prob, k=100)': the bound's sample count is shown for models whose log_prob is a
    bound (latent-variable models); an explicit model's log_prob is exact."""
    if name in BASELINES:
        return "pca (mse)" if name == "pca" else name
    if kind == "log_prob" and "log_prob_bound" in capabilities(get_model_class(name)):
        return f"{name} (log_prob, k={k})"
    return f"{name} ({kind})"


def outlier_set(name: str, *, shape: tuple, value_range: tuple, n: int, seed: int) -> np.ndarray:
    """Flat float inputs of another kind, shaped like the training data: 'noise' (uniform over
    the data's value range) or a dataset name (images resized to the training image size)."""
    dim = int(np.prod(shape))
    if name == "noise":
        lo, hi = value_range
        return np.random.default_rng(seed).uniform(lo, hi, size=(n, dim))
    ds = load(name, val_fraction=0.0)
    x = torch.cat([ds.to_float(s.x) for s in (ds.train, ds.test)])
    if len(shape) == 3 and ds.is_image:
        if x.shape[1] != shape[0]:
            raise DataError(f"{name} has {x.shape[1]} channel(s) but the training data has "
                            f"{shape[0]}; pick outlier data with the same channels.")
        if tuple(x.shape[2:]) != tuple(shape[1:]):  # e.g. 8x8 digits -> 28x28, bilinear
            x = torch.nn.functional.interpolate(x, size=tuple(shape[1:]), mode="bilinear",
                                                align_corners=False).clamp(0, 1)
    x = x.reshape(len(x), -1)
    if x.shape[1] != dim:
        raise DataError(f"{name} has {x.shape[1]} values per example but the training data has "
                        f"{dim}; it cannot be scored by the same model.")
    keep = np.sort(np.random.default_rng(seed).permutation(len(x))[:n])
    return x[keep].numpy().astype(np.float64)


def fit_and_score(groups, x_fit, sets: dict, *, opts: dict, say) -> dict:
    """Fit each method of `groups` on `x_fit` once; score every array of `sets` with each of its
    score kinds. Returns {row label: {"scores": {set name: (n,)}, "time_s": fit share + scoring}}."""
    rows = {}
    for name, kinds in groups:
        t0 = time.perf_counter()
        est = make_estimator(name, **opts).fit(x_fit)
        fit_s = time.perf_counter() - t0
        for kind in kinds:
            t1 = time.perf_counter()
            scores = {s: estimator_scores(est, x, kind) for s, x in sets.items()}
            rows[row_label(name, kind, opts["k"])] = {
                "scores": scores, "time_s": fit_s / len(kinds) + time.perf_counter() - t1}
        say(f"{name} fitted and scored ({time.perf_counter() - t0:.1f} s)")
    return rows


def _flat(ds, split) -> tuple[np.ndarray, np.ndarray | None]:
    s = getattr(ds, split)
    x = ds.to_float(s.x).reshape(len(s), -1).numpy().astype(np.float64)
    return x, None if s.y is None else s.y.numpy()


def run_detect(data: str, *, methods: str = DEFAULT_METHODS, classes: str = "all",
               n_per_class: int | None = None, against: str = "", n_cross: int | None = 10_000,
               n_outliers: int = 2000, latent_dim: int = 16, hidden=(512, 256), epochs: int = 20,
               batch_size: int = 128, k: int = 100, seed: int = 0, device: str = "auto",
               out: str | Path | None = None, download: bool = False, log=None) -> dict:
    """The one-class benchmark over `classes` and the cross-dataset check against `against`.

    One-class: for each class c, fit every method on (at most `n_per_class`) training examples of
    c, score the whole test split, AUROC of c (normal) against the other classes. Cross-dataset:
    fit on `n_cross` training examples of every class, AUROC of the test split against each set
    in `against` ("digits", "noise", any dataset name). With `out`, writes ``detect.json``,
    ``detect.md``, ``detect.png`` (AUROC per class) and ``cross.png`` (score histograms).
    """
    groups = parse_methods(methods)
    ds = load(data, val_fraction=0.0, seed=seed, download=download)
    x_train, y_train = _flat(ds, "train")
    x_test, y_test = _flat(ds, "test")
    class_ids = _parse_classes(classes, ds)
    opts = dict(latent_dim=latent_dim, epochs=epochs, hidden=hidden, batch_size=batch_size, k=k,
                seed=seed, device=device)
    say = log or (lambda _msg: None)
    rng = np.random.default_rng(seed)
    t_start = time.perf_counter()
    one_class: dict[str, dict] = {}
    for c in class_ids:
        idx = np.flatnonzero(y_train == c)
        if n_per_class is not None:
            idx = np.sort(rng.permutation(idx)[:n_per_class])
        for label, row in fit_and_score(groups, x_train[idx], {"normal": x_test}, opts=opts,
                                        say=lambda m: say(f"class {c} ({ds.classes[c]}), "
                                                          f"n={len(idx)}: {m}")).items():
            s = row["scores"]["normal"]
            entry = one_class.setdefault(label, {"auroc": {}, "time_s": 0.0})
            entry["auroc"][str(c)] = auroc(s[y_test == c], s[y_test != c])
            entry["time_s"] += row["time_s"]
        say(f"class {c} AUROC: " + ", ".join(f"{label} {r['auroc'][str(c)]:.4f}"
                                             for label, r in one_class.items()))
    for row in one_class.values():
        row["mean"] = float(np.mean(list(row["auroc"].values())))

    cross, cross_scores, keep = {}, {}, []
    sets = [s.strip() for s in against.split(",") if s.strip()]
    if sets:
        keep = np.arange(len(x_train)) if n_cross is None else \
            np.sort(rng.permutation(len(x_train))[:n_cross])
        value_range = (0.0, 1.0) if ds.dtype == torch.uint8 else ds.value_range
        others = {s: outlier_set(s, shape=ds.shape, value_range=value_range, n=n_outliers,
                                 seed=seed) for s in sets}
        scored = fit_and_score(groups, x_train[keep], {f"{data} test": x_test, **others},
                               opts=opts, say=lambda m: say(f"cross-dataset, n={len(keep)}: {m}"))
        for label, row in scored.items():
            cross_scores[label] = row["scores"]
            s_in = row["scores"][f"{data} test"]
            cross[label] = {o: auroc(s_in, row["scores"][o]) for o in others}

    result = {
        "data": data, "dataset": ds.info(), "classes": [int(c) for c in class_ids],
        "class_names": [ds.classes[c] for c in class_ids] if ds.classes else [],
        "n_per_class": n_per_class, "n_test": len(x_test),
        "n_cross": (len(keep) if sets else None),
        "n_outliers": n_outliers, "against": sets, "seed": seed,
        "models": {"latent_dim": latent_dim, "hidden": list(hidden), "epochs": epochs,
                   "batch_size": batch_size, "k": k},
        "baselines": {"pca": f"PCA({latent_dim}) mean squared reconstruction error",
                      "ocsvm": "OneClassSVM(rbf, gamma='scale', nu=0.1) on raw pixels",
                      "iforest": "IsolationForest(100 trees) on raw pixels"},
        "one_class": one_class, "cross": cross, "wall_s": time.perf_counter() - t_start,
        "machine": {"platform": platform.platform(), "torch_threads": torch.get_num_threads()},
    }
    if out is not None:
        write_detect(out, result, cross_scores)
    return result


def _parse_classes(text: str, ds) -> list[int]:
    if ds.train.y is None:
        if text not in ("", "none"):
            raise ConfigError(f"{ds.name} has no labels, so there is no one-class benchmark; "
                              "use --classes none with --against.")
        return []
    if text == "all":
        return list(range(ds.n_classes))
    if text in ("", "none"):
        return []
    try:
        ids = [int(c) for c in text.split(",")]
    except ValueError:
        raise ConfigError(f"--classes must be 'all', 'none' or comma-separated class indices; "
                          f"got {text!r}.") from None
    bad = [c for c in ids if not 0 <= c < ds.n_classes]
    if bad:
        raise ConfigError(f"Class index(es) {bad} out of range: {ds.name} has classes "
                          f"0..{ds.n_classes - 1}.")
    return ids


def _pct(v: float) -> float:
    return round(100 * v, 1)


def markdown(result: dict) -> str:
    parts = []
    if result["one_class"]:
        names = result["class_names"] or [str(c) for c in result["classes"]]
        rows = [{"method": m, **{n: _pct(r["auroc"][str(c)]) for n, c in zip(names, result["classes"])},
                 "mean": _pct(r["mean"]), "time_s": round(r["time_s"], 1)}
                for m, r in result["one_class"].items()]
        parts.append(f"One-class AUROC (%) on {result['data']}: train on one class "
                     f"({result['n_per_class'] or 'all'} examples), score all {result['n_test']} "
                     "test examples.\n\n" + markdown_table(rows, digits=4))
    if result["cross"]:
        rows = [{"method": m, **{o: _pct(v) for o, v in r.items()}}
                for m, r in result["cross"].items()]
        parts.append(f"Cross-dataset AUROC (%): train on {result['n_cross'] or 'all'} "
                     f"{result['data']} training examples; {result['data']} test (normal) "
                     f"against {result['n_outliers']} examples of each other set.\n\n"
                     + markdown_table(rows, digits=4))
    return "\n".join(parts)


def write_detect(out, result: dict, cross_scores: dict) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "detect.json", result, sort_keys=False)
    atomic_write_text(out / "detect.md", markdown(result))
    if result["one_class"]:
        names = result["class_names"] or [str(c) for c in result["classes"]]
        table = {m: [r["auroc"][str(c)] for c in result["classes"]] + [r["mean"]]
                 for m, r in result["one_class"].items()}
        auroc_heatmap(table, [*names, "mean"], out / "detect.png",
                      title=f"One-class AUROC (%), {result['data']}")
    if cross_scores:
        score_histograms(cross_scores, out / "cross.png",
                         title=f"Scores: {result['data']} test vs other data")
    return out


if __name__ == "__main__":
    main()

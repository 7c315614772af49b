"""Outlier detection benchmark: one-class AUROC per class and cross-dataset AUROC.

The one-class protocol: for each class, fit every method on that class alone and score the whole
test split (AUROC of the class against the others). With ``--against``, fit on all classes and
score the test split against other data (digits, noise, a dataset). Methods are registered models,
each with one or more of its scores (:class:`hourglass.uses.detect.OutlierDetector` describes
them), and the baselines PCA (reconstruction error), a one-class SVM, an isolation forest and
k nearest neighbours (mean distance to the 5 nearest training images). A model takes config
values after a slash (``vae/likelihood=gaussian``). With ``--complexity CODEC`` every
log-likelihood score also gets a row with the input-complexity correction of Serra et al. (2020),
$S(x) = -\\log p(x) - L(x)$ (:func:`hourglass.uses.detect.input_complexity_score`); with
``--likelihood-ratio RATE`` every log-likelihood score also gets a row with the likelihood ratio of
Ren et al. (2019), $\\log p_\\theta(x) - \\log p_{\\theta_0}(x)$, $p_{\\theta_0}$ the same model fitted
on the training data with each value replaced at that rate by a random grey level
(:class:`hourglass.uses.detect.LikelihoodRatio`); with ``--ensemble`` a row averages the standardized scores of several rows. Writes ``NAME.md``,
``NAME.json``, ``NAME.png`` and ``cross.png`` (``NAME-cross.png`` for another NAME) into ``--out``
(``--name``, default ``detect``).
Also ``hourglass detect``.
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
from hourglass.uses.detect import (CODECS, LIKELIHOOD_SCORES, KNNDetector, auroc, complexity_nats,
                                   estimator_scores, input_complexity_score, perturb,
                                   standardized_mean)
from hourglass.viz.panels import auroc_heatmap, score_histograms
from hourglass.experiments import experiment_parser, markdown_table
from hourglass.experiments._uses import add_common_flags, common_settings

BASELINES = ("pca", "ocsvm", "iforest", "knn")
PUBLISHED = {"OC-SVM, raw pixels (Golan & El-Yaniv 2018)": 0.928,
             "geometric transformations (Golan & El-Yaniv 2018)": 0.935}
DEFAULT_METHODS = "ae,dae,vae,pca,ocsvm,iforest"
HELP = "outlier detection benchmark: one-class AUROC per class, cross-dataset AUROC"
DESCRIPTION = ("One-class protocol: for each class, fit every method on that class alone and "
               "score the whole test split (AUROC of the class against the others). With "
               "--against, fit on all classes and score the test split against other data "
               "(digits, noise, a dataset). Writes detect.md, detect.json, detect.png and "
               "cross.png.")


def mutation_rate(text: str) -> float:
    """The --likelihood-ratio value: a probability strictly between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not 0 < value < 1:
        raise argparse.ArgumentTypeError(
            f"the mutation rate is the probability of replacing each value by a random grey "
            f"level and must lie strictly between 0 and 1 (e.g. 0.2); got {text!r}")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of the experiment, all but ``--out``."""
    p.add_argument("--methods", default=DEFAULT_METHODS,
                   help=f"comma-separated models and baselines (pca, ocsvm, iforest, knn), a model "
                   f"optionally with config values (vae/likelihood=gaussian) and :score (recon, "
                   f"elbo, log_prob, mse) (default: {DEFAULT_METHODS})")
    p.add_argument("--complexity", choices=("none", *CODECS), default="none",
                   help="also score each log-likelihood with the input-complexity correction "
                   "S(x) = -log p(x) - L(x), L the code length of this lossless codec "
                   "(default: none)")
    p.add_argument("--likelihood-ratio", type=mutation_rate, default=None,
                   metavar="MUTATION_RATE",
                   help="also score each log-likelihood with the likelihood ratio of Ren et al. "
                   "(2019), log p(x) - log p0(x), p0 a background model: the same model fitted "
                   "on the training data with each value replaced, with this probability, by a "
                   "random grey level, so that it learns only the population-level statistics; "
                   "Ren et al. tune the rate in 0.1-0.3 (default: no ratio)")
    p.add_argument("--ensemble", default="",
                   help="'+'-separated methods of --methods to average, each score standardized "
                   "on the training data, e.g. ae:mse+knn+iforest (default: none)")
    p.add_argument("--name", default="detect",
                   help="stem of the files written into --out (default: detect)")
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
    p.add_argument("--importance-samples", dest="k", type=positive_int, default=100,
                   metavar="K", help="importance samples of log_prob bounds (default: 100)")
    p.add_argument("--k", dest="k", type=positive_int, default=argparse.SUPPRESS,
                   help=argparse.SUPPRESS)  # the former name of --importance-samples
    add_common_flags(p, epochs=20)


def run(args: argparse.Namespace) -> dict:
    """Run the parsed flags, print the tables and where the files went; returns the result."""
    result = run_detect(args.data, methods=args.methods, classes=args.classes,
                        n_per_class=args.n_per_class, against=args.against,
                        n_cross=args.n_cross, n_outliers=args.n_outliers,
                        latent_dim=args.latent_dim, k=args.k, complexity=args.complexity,
                        likelihood_ratio=args.likelihood_ratio, ensemble=args.ensemble, name=args.name, **common_settings(args))
    n = args.name
    files = f"{n}.md, {n}.json" + (f", {n}.png" if result["one_class"] else "") + \
        ((", cross.png" if n == "detect" else f", {n}-cross.png") if result["cross"] else "")
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
        base, _, params = name.partition("/")
        if params and base in BASELINES:
            raise ConfigError(f"The baseline {base!r} takes no config values; got {name!r}.")
        if base not in (*BASELINES, *models):
            raise ConfigError(f"Unknown method {name!r}. Valid methods: "
                              f"{', '.join((*models, *BASELINES))}.")
        model_params(name)   # refuses a malformed key=value
        name = base + (f"/{params}" if params else "")
        if name in BASELINES:
            kinds = [kind or ("mse" if name == "pca" else "score_samples")]
        else:
            has = available_scores(get_model_class(base))
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


def model_params(name: str) -> dict:
    """'vae/likelihood=gaussian/sigma=0.1' -> {'likelihood': 'gaussian', 'sigma': 0.1}."""
    params = {}
    for item in name.split("/")[1:]:
        key, eq, value = item.partition("=")
        if not (key and eq and value):
            raise ConfigError(f"A model's config values are written name/key=value (e.g. "
                              f"vae/likelihood=gaussian); got {name!r}.")
        for cast in (int, float):
            try:
                value = cast(value)
                break
            except ValueError:
                pass
        params[key.replace("-", "_")] = value
    return params


def make_estimator(name: str, *, latent_dim: int, epochs: int, hidden, batch_size: int, k: int,
                   seed: int, device: str):
    """The estimator `name` stands for in the benchmark (baselines: scikit-learn defaults; PCA
    keeps as many components as the models' codes; k-NN uses 5 neighbours)."""
    if name == "knn":
        return KNNDetector(n_neighbors=5)
    if name == "pca":
        return PCA(n_components=latent_dim, random_state=seed)
    if name == "ocsvm":
        return OneClassSVM(kernel="rbf", gamma="scale", nu=0.1)
    if name == "iforest":
        return IsolationForest(random_state=seed)
    return estimator_for(name.split("/")[0], **{
        "latent_dim": latent_dim, "hidden": tuple(hidden), "epochs": epochs,
        "batch_size": batch_size, "n_importance": k, "random_state": seed, "device": device,
        **model_params(name)})


def row_label(name: str, kind: str, k: int) -> str:
    """'vae (log_prob, k=100)': the bound's sample count is shown for models whose log_prob is a
    bound (latent-variable models); an explicit model's log_prob is exact."""
    if name in BASELINES:
        return "pca (mse)" if name == "pca" else name
    if kind == "log_prob" and "log_prob_bound" in capabilities(get_model_class(name.split("/")[0])):
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


def corrected_label(label: str, codec: str) -> str:
    """'vae (elbo)' -> 'vae (elbo, -L png)': the row of S(x) = -log p(x) - L(x)."""
    return f"{label[:-1]}, -L {codec})"


def ratio_label(label: str, rate: float) -> str:
    """'vae (elbo)' -> 'vae (elbo, LR 0.2)': the row of the likelihood ratio at mutation rate 0.2."""
    return f"{label[:-1]}, LR {rate:g})"


def fit_and_score(groups, x_fit, sets: dict, *, opts: dict, say, complexity: dict | None = None,
                  likelihood_ratio: float | None = None, train_for: set | None = None) -> dict:
    """Fit each method of `groups` on `x_fit` once; score every array of `sets` with each of its
    score kinds. `complexity`: {"codec": name, set name: L(x) in nats} adds a row of
    $-S(x) = \\log p(x) + L(x)$ for each log-likelihood score. `likelihood_ratio` (a mutation
    rate) adds a row of $\\log p_\\theta(x) - \\log p_{\\theta_0}(x)$ for each log-likelihood score,
    $p_{\\theta_0}$ the same method fitted on `x_fit` perturbed at that rate (what
    :class:`hourglass.uses.detect.LikelihoodRatio` computes). `train_for`: the (method, kind)
    pairs whose scores of `x_fit` are also kept (under "train"; k-NN's leave-one-out). Returns
    {row label: {"scores": {set name: (n,)}, "time_s": fit share + scoring}}."""
    rows = {}
    for name, kinds in groups:
        t0 = time.perf_counter()
        est = make_estimator(name, **opts).fit(x_fit)
        fit_s = time.perf_counter() - t0
        background, bg_s = None, 0.0
        if likelihood_ratio is not None and any(k in LIKELIHOOD_SCORES for k in kinds):
            t1 = time.perf_counter()
            background = make_estimator(name, **opts).fit(
                perturb(x_fit, likelihood_ratio, opts["seed"]))
            bg_s = time.perf_counter() - t1
        for kind in kinds:
            t1 = time.perf_counter()
            scores = {s: estimator_scores(est, x, kind) for s, x in sets.items()}
            if train_for and (name, kind) in train_for:
                scores["train"] = (est.train_scores_ if isinstance(est, KNNDetector)
                                   else estimator_scores(est, x_fit, kind))
            label = row_label(name, kind, opts["k"])
            rows[label] = {"scores": scores, "time_s": fit_s / len(kinds) + time.perf_counter() - t1}
            if complexity and kind in LIKELIHOOD_SCORES:
                rows[corrected_label(label, complexity["codec"])] = {
                    "scores": {s: -input_complexity_score(v, complexity[s])
                               for s, v in scores.items() if s in complexity},
                    "time_s": rows[label]["time_s"], "corrects": label}
            if background is not None and kind in LIKELIHOOD_SCORES:
                t1 = time.perf_counter()
                ratio = {s: v - estimator_scores(background, sets.get(s, x_fit), kind)
                         for s, v in scores.items()}
                rows[ratio_label(label, likelihood_ratio)] = {
                    "scores": ratio, "ratio_of": label,
                    "time_s": rows[label]["time_s"] + bg_s / len(kinds) + time.perf_counter() - t1}
        say(f"{name} fitted and scored ({time.perf_counter() - t0:.1f} s)")
    return rows


def parse_ensemble(text: str, groups) -> list[tuple[str, str]]:
    """'ae:mse+knn' -> [("ae", "mse"), ("knn", "score_samples")], each one of `groups`' pairs."""
    if not text.strip():
        return []
    pairs = []
    for item in (t.strip() for t in text.split("+")):
        [(name, kinds)] = parse_methods(item)
        run = dict(groups).get(name)
        if run is None or kinds[0] not in run:
            raise ConfigError(f"The ensemble member {item!r} is not among --methods; add it there "
                              f"(the methods run: {', '.join(n for n, _ in groups)}).")
        pairs.append((name, kinds[0]))
    if len(pairs) < 2:
        raise ConfigError(f"An ensemble needs 2 or more members joined by '+'; got {text!r}.")
    return pairs


def _flat(ds, split) -> tuple[np.ndarray, np.ndarray | None]:
    s = getattr(ds, split)
    x = ds.to_float(s.x).reshape(len(s), -1).numpy().astype(np.float64)
    return x, None if s.y is None else s.y.numpy()


def run_detect(data: str, *, methods: str = DEFAULT_METHODS, classes: str = "all",
               n_per_class: int | None = None, against: str = "", n_cross: int | None = 10_000,
               n_outliers: int = 2000, latent_dim: int = 16, hidden=(512, 256), epochs: int = 20,
               batch_size: int = 128, k: int = 100, seed: int = 0, device: str = "auto",
               complexity: str = "none", likelihood_ratio: float | None = None,
               ensemble: str = "", name: str = "detect",
               out: str | Path | None = None, download: bool = False, log=None) -> dict:
    """The one-class benchmark over `classes` and the cross-dataset check against `against`.

    One-class: for each class c, fit every method on (at most `n_per_class`) training examples of
    c, score the whole test split, AUROC of c (normal) against the other classes. Cross-dataset:
    fit on `n_cross` training examples of every class, AUROC of the test split against each set
    in `against` ("digits", "noise", any dataset name). `complexity` (a codec of
    :func:`hourglass.uses.detect.compressed_bits`) adds the complexity-corrected rows,
    `likelihood_ratio` (a mutation rate in (0, 1)) the rows of the likelihood ratio of Ren et al.
    (2019), `ensemble`
    ('ae:mse+knn') a row of the mean standardized score of those methods (one-class protocol). With
    `out`, writes ``NAME.json``, ``NAME.md``, ``NAME.png`` (AUROC per class) and ``cross.png``
    (score histograms; ``NAME-cross.png`` unless NAME is "detect"), NAME = `name`.
    """
    groups = parse_methods(methods)
    members = parse_ensemble(ensemble, groups)
    if complexity not in ("none", *CODECS):
        raise ConfigError(f"Unknown codec {complexity!r} for the complexity correction; choose "
                          f"none or one of {', '.join(CODECS)}.")
    if likelihood_ratio is not None:
        _check_likelihood_ratio(likelihood_ratio, groups)
    ds = load(data, val_fraction=0.0, seed=seed, download=download)
    x_train, y_train = _flat(ds, "train")
    x_test, y_test = _flat(ds, "test")
    if likelihood_ratio is not None and (x_train.min() < 0 or x_train.max() > 1):
        raise DataError(f"The likelihood ratio's background model is fitted on the inputs with "
                        f"values replaced by random grey levels in [0, 1]; {data} has values in "
                        f"[{x_train.min():g}, {x_train.max():g}]. Use image data scaled to [0, 1] "
                        "or drop --likelihood-ratio.")
    class_ids = _parse_classes(classes, ds)
    opts = dict(latent_dim=latent_dim, epochs=epochs, hidden=hidden, batch_size=batch_size, k=k,
                seed=seed, device=device)
    say = log or (lambda _msg: None)
    rng = np.random.default_rng(seed)
    t_start = time.perf_counter()
    codec = None if complexity == "none" else complexity
    image_shape = tuple(ds.shape[-2:]) if len(ds.shape) == 3 and ds.shape[0] == 1 else None
    if codec == "png" and image_shape is None:
        raise ConfigError(f"The PNG codec compresses one-channel images; {data} has shape "
                          f"{tuple(ds.shape)}. Use --complexity zlib.")
    L_test = None if codec is None or not class_ids else complexity_nats(x_test, codec, image_shape)
    one_class: dict[str, dict] = {}
    ens_label = "ensemble (" + " + ".join(row_label(n, k_, k) for n, k_ in members) + ")"
    for c in class_ids:
        idx = np.flatnonzero(y_train == c)
        if n_per_class is not None:
            idx = np.sort(rng.permutation(idx)[:n_per_class])
        rows = fit_and_score(groups, x_train[idx], {"normal": x_test}, opts=opts,
                             say=lambda m: say(f"class {c} ({ds.classes[c]}), n={len(idx)}: {m}"),
                             complexity=None if codec is None else {"codec": codec,
                                                                    "normal": L_test},
                             likelihood_ratio=likelihood_ratio, train_for=set(members))
        if members:
            parts = [rows[row_label(n, k_, k)] for n, k_ in members]
            rows[ens_label] = {"scores": {"normal": standardized_mean(
                [p["scores"]["normal"] for p in parts], [p["scores"]["train"] for p in parts])},
                "time_s": sum(p["time_s"] for p in parts)}
        for label, row in rows.items():
            s = row["scores"]["normal"]
            entry = one_class.setdefault(label, {"auroc": {}, "time_s": 0.0})
            for key in ("corrects", "ratio_of"):
                if key in row:
                    entry[key] = row[key]
            entry["auroc"][str(c)] = auroc(s[y_test == c], s[y_test != c])
            entry["time_s"] += row["time_s"]
        say(f"class {c} AUROC: " + ", ".join(f"{label} {r['auroc'][str(c)]:.4f}"
                                             for label, r in one_class.items()))
    for row in one_class.values():
        row["mean"] = float(np.mean(list(row["auroc"].values())))

    cross, cross_scores, keep, cross_means = {}, {}, [], {}
    sets = [s.strip() for s in against.split(",") if s.strip()]
    if sets:
        keep = np.arange(len(x_train)) if n_cross is None else \
            np.sort(rng.permutation(len(x_train))[:n_cross])
        value_range = (0.0, 1.0) if ds.dtype == torch.uint8 else ds.value_range
        others = {s: outlier_set(s, shape=ds.shape, value_range=value_range, n=n_outliers,
                                 seed=seed) for s in sets}
        cset = {f"{data} test": x_test, **others}
        L_cross = {} if codec is None else {s: complexity_nats(x, codec, image_shape)
                                            for s, x in cset.items()}
        scored = fit_and_score(groups, x_train[keep], cset, opts=opts,
                               say=lambda m: say(f"cross-dataset, n={len(keep)}: {m}"),
                               complexity=None if codec is None else {"codec": codec, **L_cross},
                               likelihood_ratio=likelihood_ratio)
        cross_means = {"L(x), nats": {s: float(v.mean()) for s, v in L_cross.items()}} if codec \
            else {}
        for label, row in scored.items():
            cross_scores[label] = row["scores"]
            cross_means[label] = {s: float(v.mean()) for s, v in row["scores"].items()}
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
                      "iforest": "IsolationForest(100 trees) on raw pixels",
                      "knn": "minus the mean Euclidean distance to the 5 nearest training images, "
                             "raw pixels"},
        "complexity": codec, "likelihood_ratio": likelihood_ratio,
        "ensemble": [list(m) for m in members], "name": name,
        "one_class": one_class, "cross": cross, "cross_mean_scores": cross_means,
        "wall_s": time.perf_counter() - t_start,
        "machine": {"platform": platform.platform(), "torch_threads": torch.get_num_threads()},
    }
    if one_class:
        result["verdict"] = verdict(result)
    if out is not None:
        write_detect(out, result, cross_scores)
    return result


def _check_likelihood_ratio(rate, groups) -> None:
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate < 1:
        raise ConfigError(f"The likelihood ratio's mutation rate is the probability of replacing "
                          f"each value by a random grey level and must lie strictly between 0 "
                          f"and 1 (Ren et al. 2019 tune it in 0.1-0.3); got {rate!r}.")
    if not any(k in LIKELIHOOD_SCORES for _name, kinds in groups for k in kinds):
        raise ConfigError(f"The likelihood ratio compares log-likelihoods, and none of the methods "
                          f"has one ({', '.join(LIKELIHOOD_SCORES)}); add a model with such a "
                          "score (e.g. vae:elbo) or drop the likelihood ratio.")


def _before_after(one: dict, key: str) -> dict:
    """{row: before/after mean and the classes raised} for the rows that derive from another."""
    out = {}
    for m, r in one.items():
        if key in r:
            before = one[r[key]]
            raised = [c for c in r["auroc"] if r["auroc"][c] > before["auroc"][c]]
            out[m] = {"before": before["mean"], "after": r["mean"], "classes_raised": raised}
    return out


def verdict(result: dict) -> dict:
    """The best mean one-class AUROC against the published ones, and what the complexity
    correction and the likelihood ratio did to each likelihood score (mean, and classes it
    raised)."""
    one = result["one_class"]
    best = max(one, key=lambda m: one[m]["mean"])
    bar_name, bar = next(iter(PUBLISHED.items()))
    reached = [m for m in one if one[m]["mean"] >= bar]
    line = (f"{best} has the best mean AUROC, {_pct(one[best]['mean'])}; "
            + (f"{len(reached)} detector(s) reach the {_pct(bar)} of the {bar_name}"
               if reached else f"none reaches the {_pct(bar)} of the {bar_name}")
            + "; " + ", ".join(f"{n}: {_pct(v)}" for n, v in PUBLISHED.items()) + ".")
    corrections = _before_after(one, "corrects")
    ratios = _before_after(one, "ratio_of")
    for title, key, rows in (("Complexity correction", "corrects", corrections),
                             ("Likelihood ratio", "ratio_of", ratios)):
        if rows:
            line += f" {title} (mean AUROC before -> after): " + "; ".join(
                f"{one[m][key]}: {_pct(v['before'])} -> {_pct(v['after'])} "
                f"({len(v['classes_raised'])} of {len(one[m]['auroc'])} classes raised)"
                for m, v in rows.items()) + "."
    out = {"line": line, "best": best, "best_mean": one[best]["mean"], "reached": reached,
           "published": PUBLISHED, "complexity_correction": corrections}
    if ratios:
        out["likelihood_ratio"] = ratios
    return out


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
        if result.get("complexity"):
            parts.append(f"'-L {result['complexity']}' rows: S(x) = -log p(x) - L(x), L(x) the "
                         f"nats of x as a {result['complexity']} file (Serra et al. 2020).\n")
        if result.get("likelihood_ratio"):
            parts.append(f"'LR {result['likelihood_ratio']:g}' rows: the likelihood ratio "
                         "log p(x) - log p0(x) of Ren et al. (2019), p0 the same model fitted on "
                         "the training data with each value replaced, with probability "
                         f"{result['likelihood_ratio']:g}, by a random grey level.\n")
        if result.get("verdict"):
            parts.append(f"**Verdict:** {result['verdict']['line']}\n")
    if result["cross"]:
        rows = [{"method": m, **{o: _pct(v) for o, v in r.items()}}
                for m, r in result["cross"].items()]
        parts.append(f"Cross-dataset AUROC (%): train on {result['n_cross'] or 'all'} "
                     f"{result['data']} training examples; {result['data']} test (normal) "
                     f"against {result['n_outliers']} examples of each other set.\n\n"
                     + markdown_table(rows, digits=4))
        means = result.get("cross_mean_scores") or {}
        if result.get("complexity") and means:
            rows = [{"score (nats)": m, **{s: round(v, 1) for s, v in r.items()}}
                    for m, r in means.items()]
            parts.append("Mean score of each set (nats; higher = more normal; L(x) the "
                         f"{result['complexity']} code length):\n\n" + markdown_table(rows, digits=5))
    return "\n".join(parts)


def write_detect(out, result: dict, cross_scores: dict) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    name = result.get("name", "detect")
    atomic_write_json(out / f"{name}.json", result, sort_keys=False)
    atomic_write_text(out / f"{name}.md", markdown(result))
    if result["one_class"]:
        names = result["class_names"] or [str(c) for c in result["classes"]]
        table = {m: [r["auroc"][str(c)] for c in result["classes"]] + [r["mean"]]
                 for m, r in result["one_class"].items()}
        auroc_heatmap(table, [*names, "mean"], out / f"{name}.png",
                      title=f"One-class AUROC (%), {result['data']}")
    if cross_scores:
        figure = "cross.png" if name == "detect" else f"{name}-cross.png"
        score_histograms(cross_scores, out / figure,
                         title=f"Scores: {result['data']} test vs other data")
    return out


if __name__ == "__main__":
    main()

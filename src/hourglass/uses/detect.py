"""Outlier detection with a model's score (lecture notes 003: a generative model knows what its
training data look like, so it can tell when an input does not).

:class:`OutlierDetector` follows scikit-learn's outlier detectors (``IsolationForest``,
``OneClassSVM``): ``fit(X)`` learns the model and a threshold, ``score_samples`` is higher for
more normal inputs, ``decision_function = score_samples - offset_`` is negative for outliers, and
``predict`` returns +1 for inliers, -1 for outliers, with ``offset_`` the ``contamination``
quantile of the training scores (so that fraction of the training data is called an outlier).

The model is a registry name (``"ae"``, ``"vae"``, ``"dae"``, an explicit density model, ...) or
any scikit-learn estimator. Scores (see :mod:`hourglass.estimators.generic`): ``recon``
($\\log p(x \\mid g(h(x)))$, the reconstruction error with its sign flipped; for other transformers
with ``inverse_transform``, $-\\tfrac12 \\lVert x - \\hat x \\rVert^2$), ``mse`` (minus the mean squared
reconstruction error), ``elbo``, ``log_prob`` (exact NLL for explicit models, the IWAE bound for
VAEs), or the estimator's own ``score_samples``.

:func:`run_detect` is the ``hourglass detect`` benchmark: the one-class protocol (train on one class,
score the whole test set, AUROC of that class against the others) for every class, and the
cross-dataset check (train on the whole training set, score the test set against other data).
"""

from __future__ import annotations

import platform
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.base import BaseEstimator, OutlierMixin, clone
from sklearn.metrics import roc_auc_score
from sklearn.utils.validation import check_array, check_is_fitted

from hourglass.core.io import atomic_write_json, atomic_write_text
from hourglass.core.validation import Interval, Options, check_params
from hourglass.core.errors import ConfigError, DataError
from hourglass.estimators.generic import available_scores, estimator_for, model_scores, usable_models
from hourglass.models import get_model_class

SCORE_KINDS = ("auto", "recon", "mse", "elbo", "log_prob", "score_samples")
BASELINES = ("pca", "ocsvm", "iforest")
DEFAULT_METHODS = "ae,dae,vae,pca,ocsvm,iforest"


def _is_hourglass(est) -> bool:
    return hasattr(est, "model_") and hasattr(est, "_check_X")


def estimator_scores(est, X, kind: str = "auto") -> np.ndarray:
    """Per-example score `kind` of X under the fitted estimator `est` (higher = more normal)."""
    if kind == "score_samples" or (kind == "auto" and not _is_hourglass(est)
                                   and hasattr(est, "score_samples")):
        if not hasattr(est, "score_samples"):
            raise ConfigError(f"{type(est).__name__} has no score_samples; use score_type='mse' or "
                              "another model.")
        return np.asarray(est.score_samples(X), dtype=np.float64)
    if _is_hourglass(est):
        return model_scores(est, X, kind)
    if kind in ("auto", "recon", "mse") and hasattr(est, "inverse_transform"):
        X = check_array(X, dtype=np.float64)
        x_hat = np.asarray(est.inverse_transform(est.transform(X)), dtype=np.float64)
        if kind == "mse":
            return -((X - x_hat) ** 2).mean(axis=1)
        return -0.5 * ((X - x_hat) ** 2).sum(axis=1)  # a unit-variance Gaussian, up to a constant
    raise ConfigError(f"{type(est).__name__} has no {kind!r} score: use an Hourglass model, an "
                      "estimator with score_samples, or a transformer with inverse_transform.")


def resolve_score(est, kind: str) -> str:
    """The score name `kind` ("auto" included) stands for with the fitted estimator `est`."""
    if kind != "auto":
        return kind
    if _is_hourglass(est):
        return next(k for k in ("log_prob", "elbo", "recon") if k in available_scores(est.model_))
    return "score_samples" if hasattr(est, "score_samples") else "recon"


class OutlierDetector(OutlierMixin, BaseEstimator):
    """Outlier detection by a model's per-example score, after scikit-learn's outlier detectors.

    Parameters
    ----------
    model : str or estimator, default "vae"
        A registered model name (fitted through ``hourglass.AE``/``VAE`` or a
        :class:`~hourglass.estimators.generic.ModelEstimator`) or an unfitted scikit-learn estimator
        (cloned at ``fit``).
    score_type : {"auto", "recon", "mse", "elbo", "log_prob", "score_samples"}, default "auto"
        Which score ranks the inputs; "auto": ``log_prob``, else ``elbo``, else ``recon`` for
        Hourglass models, ``score_samples`` (else ``recon``) for other estimators.
    contamination : float in (0, 0.5], default 0.1
        Fraction of the training data to call outliers; sets ``offset_``.
    model_params : dict, optional
        Parameters of the estimator built from a model name (``latent_dim``, ``epochs``, ...), or
        set on a cloned estimator.
    random_state : int, optional
        Seed of the estimator built from a model name (when ``model_params`` has none).

    Attributes
    ----------
    estimator_ : the fitted estimator
    score_type_ : str, the score used
    offset_ : float, the ``contamination`` quantile of the training scores

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.decomposition import PCA
    >>> from hourglass.uses.detect import OutlierDetector
    >>> rng = np.random.default_rng(0)
    >>> X = np.outer(rng.normal(size=200), [1.0, 2.0]) + 0.01 * rng.normal(size=(200, 2))
    >>> det = OutlierDetector(PCA(n_components=1), score_type="mse", contamination=0.1).fit(X)
    >>> det.predict([[1.0, 2.0], [2.0, -1.0]])
    array([ 1, -1])
    """

    _constraints = {"score_type": Options(SCORE_KINDS),
                    "contamination": Interval(float, 0, 0.5, closed="right")}

    def __init__(self, model="vae", *, score_type="auto", contamination=0.1, model_params=None,
                 random_state=None):
        self.model = model
        self.score_type = score_type
        self.contamination = contamination
        self.model_params = model_params
        self.random_state = random_state

    def _make_estimator(self):
        params = dict(self.model_params or {})
        if isinstance(self.model, str):
            params.setdefault("random_state", self.random_state)
            return estimator_for(self.model, **params)
        if not hasattr(self.model, "fit"):
            raise ConfigError(f"The 'model' parameter of OutlierDetector must be a model name "
                              f"({', '.join(usable_models())}) or an estimator. Got {self.model!r}.")
        return clone(self.model).set_params(**params)

    def fit(self, X, y=None):
        """Fit the model to X (y is ignored) and set the threshold ``offset_``. Returns self."""
        check_params("OutlierDetector", self.get_params(deep=False), self._constraints)
        self.estimator_ = self._make_estimator().fit(X)
        self.score_type_ = resolve_score(self.estimator_, self.score_type)
        train_scores = estimator_scores(self.estimator_, X, self.score_type_)
        if hasattr(self.estimator_, "n_features_in_"):
            self.n_features_in_ = self.estimator_.n_features_in_
        # $\mathrm{offset} = $ the contamination quantile: that share of training points scores below
        self.offset_ = float(np.percentile(train_scores, 100 * self.contamination))
        return self

    def score_samples(self, X):
        """Score of each sample; higher is more normal (see ``score_type_``)."""
        check_is_fitted(self)
        return estimator_scores(self.estimator_, X, self.score_type_)

    def decision_function(self, X):
        """``score_samples(X) - offset_``: negative for outliers."""
        return self.score_samples(X) - self.offset_

    def predict(self, X):
        """+1 for inliers, -1 for outliers."""
        return np.where(self.decision_function(X) < 0, -1, 1)


def auroc(normal_scores, outlier_scores) -> float:
    """Area under the ROC curve of telling normal inputs (high scores) from outliers: the
    probability that a random normal input scores above a random outlier (ties count 1/2)."""
    s_in, s_out = np.asarray(normal_scores, float), np.asarray(outlier_scores, float)
    if len(s_in) == 0 or len(s_out) == 0:
        raise DataError("AUROC needs at least one normal and one outlying example.")
    labels = np.r_[np.ones(len(s_in)), np.zeros(len(s_out))]
    return float(roc_auc_score(labels, np.r_[s_in, s_out]))


# ---------------------------------------------------------------------------------------------
# the benchmark


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
        from sklearn.decomposition import PCA
        return PCA(n_components=latent_dim, random_state=seed)
    if name == "ocsvm":
        from sklearn.svm import OneClassSVM
        return OneClassSVM(kernel="rbf", gamma="scale", nu=0.1)
    if name == "iforest":
        from sklearn.ensemble import IsolationForest
        return IsolationForest(random_state=seed)
    return estimator_for(name, latent_dim=latent_dim, hidden=tuple(hidden), epochs=epochs,
                         batch_size=batch_size, n_importance=k, random_state=seed, device=device)


def row_label(name: str, kind: str, k: int) -> str:
    """'vae (log_prob, k=100)': the bound's sample count is shown for latent-variable models (those
    with an ELBO); an explicit model's log_prob is exact."""
    if name in BASELINES:
        return "pca (mse)" if name == "pca" else name
    if kind == "log_prob" and hasattr(get_model_class(name), "elbo"):
        return f"{name} (log_prob, k={k})"
    return f"{name} ({kind})"


def outlier_set(name: str, *, shape: tuple, value_range: tuple, n: int, seed: int) -> np.ndarray:
    """Flat float inputs of another kind, shaped like the training data: 'noise' (uniform over
    the data's value range) or a dataset name (images resized to the training image size)."""
    from hourglass.data import load
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
    from hourglass.data import load
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
    from hourglass.experiments import markdown_table
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
    from hourglass.viz.panels import auroc_heatmap, score_histograms
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

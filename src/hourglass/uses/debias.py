r"""Debiasing by latent-density re-sampling (Amini et al. 2019; the MIT 6.S191 lecture of notes 003:
"Debiasing → capable of uncovering underlying features in a dataset").

A model's codes $z(x)$ show which inputs are common and which are rare, without any label saying
so. At the start of every epoch the codes of the training data are computed; per latent dimension
$i$ a histogram $\hat Q_i$ (fractions of the codes in each of ``bins`` equal-width bins) estimates
their density, and each example is drawn with probability proportional to its inverse density,
smoothed by $\alpha$:

- ``combine="product"`` (the paper's equation): $W(x) \propto \prod_i 1 / (\hat Q_i(z_i(x)) + \alpha)$;
- ``combine="max"`` (the course lab's code, the default): $W(x) \propto \max_i 1 / (\hat Q_i(z_i(x)) + \alpha)$,
  which does not let many moderately rare dimensions multiply into a few huge weights.

Large $\alpha$ makes the weights uniform (plain training); $\alpha = 0$ equalizes the mass of every
occupied bin. :class:`DebiasSampler` is the ``sample_weights`` callable of
:func:`hourglass.train.train`; :func:`run_debias` is ``hourglass debias``: a ``db-vae`` classifier
trained with and without re-sampling on data made imbalanced on purpose.
"""

from __future__ import annotations

import platform
import time
from pathlib import Path

import numpy as np
import torch

from hourglass.core.io import atomic_write_json, atomic_write_text
from hourglass.core.validation import Interval, Options, check_params
from hourglass.core.errors import ConfigError, DataError

COMBINE = ("max", "product")
_CONSTRAINTS = {"bins": Interval(int, 1, None), "alpha": Interval(float, 0, None),
                "combine": Options(COMBINE)}


def latent_sampling_weights(z, *, bins: int = 10, alpha: float = 0.001,
                            combine: str = "max") -> np.ndarray:
    """Sampling probabilities (n,), summing to 1, inversely proportional to the per-dimension
    histogram density of the codes `z` (n, d); see the module docstring for the equations."""
    check_params("latent_sampling_weights", {"bins": bins, "alpha": alpha, "combine": combine},
                 _CONSTRAINTS)
    z = np.asarray(z, dtype=np.float64)
    z = z.reshape(len(z), -1)
    if len(z) == 0 or not np.isfinite(z).all():
        raise DataError("latent_sampling_weights needs at least one code and finite codes.")
    n = len(z)
    log_w = np.empty_like(z)                                          # (n, d)
    for i in range(z.shape[1]):
        counts, edges = np.histogram(z[:, i], bins=bins)
        q = counts / n                                                # $\hat Q_i$, sums to 1
        b = np.clip(np.searchsorted(edges, z[:, i], side="right") - 1, 0, bins - 1)
        if alpha == 0 and (q[b] == 0).any():                          # cannot happen: z made q
            raise AssertionError("an example fell in an empty bin")
        log_w[:, i] = -np.log(q[b] + alpha)                           # $\log 1/(\hat Q_i + \alpha)$
    log_w = log_w.max(axis=1) if combine == "max" else log_w.sum(axis=1)
    w = np.exp(log_w - log_w.max())                                   # stable for the product
    return w / w.sum()


class DebiasSampler:
    """``sample_weights`` for the trainer: re-estimates the latent density at every epoch start.

    Parameters
    ----------
    model : a model with ``encode`` (the codes whose density is estimated)
    x : tensor (n, ...) of training inputs as the trainer gets them (uint8 is read as x/255)

    After each call, ``weights`` holds the last probabilities (numpy, (n,)).
    """

    def __init__(self, model, x: torch.Tensor, *, bins: int = 10, alpha: float = 0.001,
                 combine: str = "max", batch_size: int = 1000):
        check_params("DebiasSampler", {"bins": bins, "alpha": alpha, "combine": combine},
                     _CONSTRAINTS)
        if not hasattr(model, "encode"):
            raise ConfigError(f"Debiasing re-samples by the density of the codes; the "
                              f"{type(model).__name__} model has no encoder.")
        self.model, self.x = model, x
        self.bins, self.alpha, self.combine, self.batch_size = bins, alpha, combine, batch_size
        self.weights: np.ndarray | None = None

    def codes(self) -> np.ndarray:
        from hourglass.evaluate.metrics import batched
        was_training = self.model.training
        self.model.eval()
        device = next(self.model.parameters()).device
        z = batched(self.model.encode, self.x, batch_size=self.batch_size, device=device)
        self.model.train(was_training)
        return z.numpy()

    def __call__(self, epoch: int) -> torch.Tensor:
        self.weights = latent_sampling_weights(self.codes(), bins=self.bins, alpha=self.alpha,
                                               combine=self.combine)
        return torch.from_numpy(self.weights)


def make_imbalanced(y, rare_class: int, keep: float, *, seed: int = 0) -> np.ndarray:
    """Sorted indices that keep every example except all but a `keep` share (at least one) of
    class `rare_class`, drawn with `seed`."""
    y = np.asarray(y)
    if not 0 < keep <= 1:
        raise ConfigError(f"keep must be a share in (0, 1]. Got {keep!r} instead.")
    rare = np.flatnonzero(y == rare_class)
    if len(rare) == 0:
        raise DataError(f"Class {rare_class} has no training examples to thin out; pick a class "
                        f"in 0..{int(y.max())}.")
    kept = np.random.default_rng(seed).permutation(rare)[:max(1, round(keep * len(rare)))]
    return np.sort(np.r_[np.flatnonzero(y != rare_class), kept])


@torch.no_grad()
def predict(model, x: torch.Tensor, *, batch_size: int = 1000) -> np.ndarray:
    from hourglass.evaluate.metrics import batched
    model.eval()
    device = next(model.parameters()).device
    return batched(model.classify, x, batch_size=batch_size, device=device).argmax(1).numpy()


def run_debias(data: str = "fashion-mnist", *, rare_class: int = 0, keep: float = 0.02,
               n: int | None = None, epochs: int = 10, latent_dim: int = 16, hidden=(512, 256),
               batch_size: int = 128, bins: int = 10, alpha: float = 0.001, combine: str = "max",
               seed: int = 0, device: str = "auto", out: str | Path | None = None,
               download: bool = False, log=None) -> dict:
    """Train a ``db-vae`` classifier on `data` with class `rare_class` thinned to a `keep` share,
    once with uniform batches and once with latent-density re-sampling; report accuracy overall
    and on the rare class, and (with `out`) the training images the re-sampling model rated
    rarest and most common."""
    from hourglass.data import load
    from hourglass.models import build
    from hourglass.train import TrainConfig, train
    from hourglass.runs.workflow import resolve_likelihood
    check_params("run_debias", {"bins": bins, "alpha": alpha, "combine": combine}, _CONSTRAINTS)
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
    from hourglass.experiments import markdown_table
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
        from hourglass.viz import image_grid
        rarest, common = order[::-1][:64].copy(), order[:64].copy()
        image_grid(ds.to_float(x[rarest]), out / "rarest.png", shape=ds.shape,
                   title="rated rarest (highest sampling weight)")
        image_grid(ds.to_float(x[common]), out / "most_common.png", shape=ds.shape,
                   title="rated most common (lowest sampling weight)")
    return out

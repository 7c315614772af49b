"""Dimensionality reduction side by side: the methods and the measurements of ``hourglass compare``.

The manifold hypothesis says that high-dimensional data lie near a low-dimensional manifold; linear
methods (PCA, LDA) find a flat one, nonlinear ones (Isomap, LLE, t-SNE, UMAP, an autoencoder's
encoder) a curved one. Every method is fitted on the same training subsample and scored on the
same held-out points:

- ``trustworthiness`` / ``continuity`` at k neighbours (:mod:`hourglass.evaluate.embedding`),
  measured between the held-out points and their embedding;
- ``knn_accuracy``: a k-NN classifier on the training codes, scored on the held-out codes;
- ``recon_mse``: mean squared error per value of ``inverse_transform(transform(x))`` where the
  method has an inverse map (PCA, autoencoders, UMAP);
- ``coord_spearman``: on data with known manifold coordinates (swiss-roll, s-curve), the Spearman
  correlation of pairwise geodesic distances with embedded distances;
- fit time per 1,000 fitted points, transform time per 1,000 held-out points, and peak memory.

Methods that cannot embed new points (t-SNE; also any without ``transform``) are fitted on the
training and held-out points together (labels unused) and scored on the held-out part of that fit;
the table says so in ``out_of_sample``.

Peak memory is measured by running each method in a fresh process (``isolate=True``): how far that
process's resident set size rose above its level before fit (data loaded) at its highest during
fit + transform. It counts NumPy, BLAS and PyTorch allocations alike; see
:func:`start_peak_memory` for how the peak is read. In-process (``isolate=False``, quicker, for small data) memory is not
measured: ``tracemalloc`` would see NumPy's allocations but not PyTorch's, and slows t-SNE down.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.manifold import TSNE, Isomap, LocallyLinearEmbedding

from hourglass.core.errors import ConfigError
from hourglass.evaluate.embedding import continuity, distance_correlation, trustworthiness
from hourglass.evaluate.metrics import knn_accuracy
from hourglass.estimators.generic import estimator_for, usable_models
from hourglass.models.protocol import has

UMAP_HINT = "not installed: pip install 'hourglass-ae[umap]' (or umap-learn)"
SKLEARN_METHODS = ("pca", "lda", "isomap", "lle", "tsne", "umap")


class Unavailable(Exception):
    """A method that cannot run on this data or this installation; its row carries the reason."""


@dataclass(frozen=True)
class Options:
    """What every method is built with (autoencoder training settings included)."""

    dims: int = 2             # size of the embedding
    seed: int = 0             # random_state of every method
    n_neighbors: int = 10     # neighbourhood size of Isomap and LLE
    epochs: int = 30          # autoencoder training epochs
    hidden: tuple = (512, 256)  # autoencoder MLP widths
    batch_size: int = 128     # autoencoder batch size
    device: str = "auto"      # autoencoder device


def known_methods() -> list[str]:
    """The scikit-learn methods and every registered model that has an encoder."""
    return [*SKLEARN_METHODS, *usable_models(need="encode")]


def parse_methods(text: str) -> list[str]:
    methods = [m.strip() for m in text.split(",") if m.strip()]
    valid = known_methods()
    bad = [m for m in methods if m not in valid]
    if bad or not methods:
        raise ConfigError(f"Unknown method(s) {', '.join(map(repr, bad)) or '(none given)'}. "
                          f"Valid methods: {', '.join(valid)}.")
    return methods


def make_method(name: str, opts: Options, *, n_classes: int | None, n_features: int):
    """(estimator, supervised, out_of_sample) for `name`; raises :class:`Unavailable`."""
    d, seed = opts.dims, opts.seed
    if name == "pca":
        if d > n_features:
            raise Unavailable(f"PCA gives at most {n_features} dimensions here")
        return PCA(n_components=d, random_state=seed), False, True
    if name == "lda":
        if n_classes is None:
            raise Unavailable("LDA needs class labels; this data has none")
        if d > min(n_classes - 1, n_features):
            raise Unavailable(f"LDA gives at most n_classes - 1 = {n_classes - 1} dimensions")
        return LinearDiscriminantAnalysis(n_components=d), True, True
    if name == "isomap":
        return Isomap(n_neighbors=opts.n_neighbors, n_components=d), False, True
    if name == "lle":
        return LocallyLinearEmbedding(n_neighbors=opts.n_neighbors, n_components=d,
                                      random_state=seed), False, True
    if name == "tsne":
        if d > 3:
            raise Unavailable("Barnes-Hut t-SNE embeds into at most 3 dimensions")
        return TSNE(n_components=d, init="pca", random_state=seed), False, False
    if name == "umap":
        try:
            import umap
        except ImportError:
            raise Unavailable(UMAP_HINT) from None
        return umap.UMAP(n_components=d, random_state=seed), False, True
    return estimator_for(name, latent_dim=d, hidden=tuple(opts.hidden), epochs=opts.epochs,
                         batch_size=opts.batch_size, device=opts.device,
                         random_state=seed), False, True


def has_inverse(est) -> bool:
    model = getattr(est, "model_", None)
    if model is not None:  # an Hourglass estimator: the model must have a decoder
        return has(model, "decode")
    return hasattr(est, "inverse_transform")


def fit_embed(name: str, x_fit, y_fit, x_eval, opts: Options, n_classes: int | None) -> dict:
    """Fit `name` and embed; returns codes, reconstructions and times (no metrics)."""
    est, supervised, out_of_sample = make_method(name, opts, n_classes=n_classes,
                                                 n_features=x_fit.shape[1])
    torch.manual_seed(opts.seed)
    if not out_of_sample or not hasattr(est, "transform"):
        t0 = time.perf_counter()
        z = est.fit_transform(np.concatenate([x_fit, x_eval]))
        fit_s = time.perf_counter() - t0
        return dict(z_fit=z[:len(x_fit)], z_eval=z[len(x_fit):], x_hat=None, out_of_sample=False,
                    fit_s_per_1k=1000 * fit_s / len(z), transform_s_per_1k=None,
                    supervised=supervised)
    t0 = time.perf_counter()
    z_fit = est.fit_transform(x_fit, y_fit) if supervised else est.fit_transform(x_fit)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    z_eval = est.transform(x_eval)
    transform_s = time.perf_counter() - t0
    x_hat = est.inverse_transform(z_eval) if has_inverse(est) else None
    return dict(z_fit=z_fit, z_eval=z_eval, x_hat=x_hat, out_of_sample=True,
                fit_s_per_1k=1000 * fit_s / len(x_fit),
                transform_s_per_1k=1000 * transform_s / len(x_eval), supervised=supervised)


def _status_mib(field: str) -> float:
    """A memory field of /proc/self/status (VmRSS, VmHWM), MiB."""
    with open("/proc/self/status") as f:
        line = next(line for line in f if line.startswith(field + ":"))
    return int(line.split()[1]) / 1024


def start_peak_memory() -> float:
    """Begin measuring peak memory; returns the baseline, MiB.

    On Linux the kernel's peak resident set size (VmHWM) is reset to the current RSS (writing 5 to
    /proc/self/clear_refs), so the peak measured after is that of the work alone. Elsewhere the
    baseline is the lifetime peak ``ru_maxrss``, which hides growth below an earlier peak.
    """
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return _status_mib("VmRSS")
    except OSError:
        return _ru_maxrss_mib()


def peak_memory() -> float:
    """The peak resident set size since :func:`start_peak_memory` (see there), MiB."""
    try:
        return _status_mib("VmHWM")
    except OSError:
        return _ru_maxrss_mib()


def _ru_maxrss_mib() -> float:
    import resource
    scale = 1 / 2 ** 20 if sys.platform == "darwin" else 1 / 2 ** 10  # bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def _worker(folder: str) -> None:
    """Entry of the fresh process (``python -m hourglass.uses.compare FOLDER``): read the job from
    FOLDER, fit and embed, record the growth of the peak RSS, write the result back."""
    folder = Path(folder)
    job = json.loads((folder / "job.json").read_text())
    torch.set_num_threads(job["threads"])
    with np.load(folder / "data.npz", allow_pickle=False) as f:
        data = {k: f[k] for k in f.files}
    before = start_peak_memory()
    out = fit_embed(job["name"], data["x_fit"], data.get("y_fit"), data["x_eval"],
                    Options(**{**job["options"], "hidden": tuple(job["options"]["hidden"])}),
                    job["n_classes"])
    out["peak_mem_mb"] = peak_memory() - before
    arrays = {k: np.asarray(out.pop(k)) for k in ("z_fit", "z_eval", "x_hat") if out[k] is not None}
    np.savez(folder / "result.npz", **arrays)
    (folder / "result.json").write_text(json.dumps(out))


def measure(name, x_fit, y_fit, x_eval, opts: Options, n_classes, *, isolate: bool) -> dict:
    """:func:`fit_embed`, in a fresh Python process that also measures its peak memory
    (`isolate`), or in this one (no memory figure)."""
    if not isolate:
        return {**fit_embed(name, x_fit, y_fit, x_eval, opts, n_classes), "peak_mem_mb": None}
    make_method(name, opts, n_classes=n_classes, n_features=x_fit.shape[1])  # Unavailable: here
    with tempfile.TemporaryDirectory(prefix="hourglass-compare-") as tmp:
        folder = Path(tmp)
        arrays = {"x_fit": x_fit, "x_eval": x_eval, **({} if y_fit is None else {"y_fit": y_fit})}
        np.savez(folder / "data.npz", **arrays)
        (folder / "job.json").write_text(json.dumps({
            "name": name, "options": dataclasses.asdict(opts), "n_classes": n_classes,
            "threads": torch.get_num_threads()}))
        proc = subprocess.run([sys.executable, "-m", "hourglass.uses.compare", str(folder)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise RuntimeError(f"{name} failed in its own process: {last}")
        out = json.loads((folder / "result.json").read_text())
        with np.load(folder / "result.npz", allow_pickle=False) as f:
            out.update({k: f[k] for k in f.files})
        out.setdefault("x_hat", None)
        return out


def score_embedding(out: dict, x_eval, y_fit, y_eval, t_eval, *, k: int, knn_k: int = 5) -> dict:
    """The quality metrics of one method's embedding of the held-out points."""
    z_eval = out["z_eval"]
    row = {"trustworthiness": trustworthiness(x_eval, z_eval, k=k),
           "continuity": continuity(x_eval, z_eval, k=k)}
    if y_eval is not None:
        row["knn_accuracy"] = knn_accuracy(out["z_fit"], y_fit, z_eval, y_eval, k=knn_k)
    if out["x_hat"] is not None:
        x_hat = np.asarray(out["x_hat"], dtype=np.float64).reshape(len(x_eval), -1)
        row["recon_mse"] = float(np.mean((x_hat - x_eval) ** 2))
    if t_eval is not None:
        row["coord_spearman"] = distance_correlation(t_eval, z_eval)
    return row


if __name__ == "__main__":
    _worker(sys.argv[1])

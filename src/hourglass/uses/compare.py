"""``hourglass compare``: dimensionality reduction side by side (lecture notes 000, chapter 2).

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
import io
import json
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hourglass.core.io import atomic_write_bytes, atomic_write_json, atomic_write_text
from hourglass.core.errors import ConfigError
from hourglass.evaluate.embedding import continuity, distance_correlation, sheet_coordinates, trustworthiness
from hourglass.evaluate.metrics import knn_accuracy

UMAP_HINT = "not installed: pip install 'hourglass[umap]' (or umap-learn)"
SKLEARN_METHODS = ("pca", "lda", "isomap", "lle", "tsne", "umap")
DEFAULT_METHODS = "pca,lda,isomap,lle,tsne,umap,ae,dae,vae"
COLUMNS = ["method", "out_of_sample", "trustworthiness", "continuity", "knn_accuracy",
           "recon_mse", "coord_spearman", "fit_s_per_1k", "transform_s_per_1k", "peak_mem_mb",
           "note"]


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
    from hourglass.estimators.generic import usable_models
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
        from sklearn.decomposition import PCA
        if d > n_features:
            raise Unavailable(f"PCA gives at most {n_features} dimensions here")
        return PCA(n_components=d, random_state=seed), False, True
    if name == "lda":
        from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
        if n_classes is None:
            raise Unavailable("LDA needs class labels; this data has none")
        if d > min(n_classes - 1, n_features):
            raise Unavailable(f"LDA gives at most n_classes - 1 = {n_classes - 1} dimensions")
        return LinearDiscriminantAnalysis(n_components=d), True, True
    if name == "isomap":
        from sklearn.manifold import Isomap
        return Isomap(n_neighbors=opts.n_neighbors, n_components=d), False, True
    if name == "lle":
        from sklearn.manifold import LocallyLinearEmbedding
        return LocallyLinearEmbedding(n_neighbors=opts.n_neighbors, n_components=d,
                                      random_state=seed), False, True
    if name == "tsne":
        from sklearn.manifold import TSNE
        if d > 3:
            raise Unavailable("Barnes-Hut t-SNE embeds into at most 3 dimensions")
        return TSNE(n_components=d, init="pca", random_state=seed), False, False
    if name == "umap":
        try:
            import umap
        except ImportError:
            raise Unavailable(UMAP_HINT) from None
        return umap.UMAP(n_components=d, random_state=seed), False, True
    from hourglass.estimators.generic import estimator_for
    return estimator_for(name, latent_dim=d, hidden=tuple(opts.hidden), epochs=opts.epochs,
                         batch_size=opts.batch_size, device=opts.device,
                         random_state=seed), False, True


def has_inverse(est) -> bool:
    model = getattr(est, "model_", None)
    if model is not None:  # an Hourglass estimator: the model must have a decoder
        return hasattr(model, "decode")
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
    from hourglass.data import load
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
    from hourglass.experiments import markdown_table
    used = [c for c in COLUMNS if any(c in r for r in result["rows"])]
    head = (f"{result['data']}: {result['n_fit']} fitted points, {result['n_eval']} held-out, "
            f"{result['dims']}-D, k = {result['k']} (trustworthiness/continuity), "
            f"k-NN with k = {result['knn_k']}; peak memory: {result['memory_measure']}.\n\n")
    return head + markdown_table(result["rows"], used, digits=4)


def write_compare(out, result, embeddings, y_eval, t_eval, classes) -> Path:
    from hourglass.viz.panels import embedding_panel
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
    _worker(sys.argv[1])

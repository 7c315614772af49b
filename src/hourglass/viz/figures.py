"""Figures for autoencoders: image grids, reconstructions, training curves, latent spaces.

Every function takes numpy arrays (or torch tensors, moved to the CPU), draws on its own
`matplotlib.figure.Figure` with the Agg canvas (no pyplot, so no global state and no figure left
open), renders a PNG into memory and writes it atomically. Each returns the `Path` it wrote.

The arithmetic behind the pictures lives in small pure helpers that the tests check directly:
`tile` (images -> one padded mosaic), `project_2d` (codes -> plane), `latent_plane` (the grid of
latent points behind the "manifold" picture) and `history_columns` (a training history -> columns).
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from statistics import NormalDist

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from hourglass.core.io import atomic_write_bytes
from hourglass.core.errors import ConfigError, DataError

__all__ = [
    "image_grid",
    "reconstruction_grid",
    "training_curves",
    "latent_scatter",
    "latent_grid",
    "point_cloud",
    "tile",
    "project_2d",
    "latent_plane",
    "history_columns",
    "group_terms",
]

DPI = 100
PAD_VALUE = 1.0  # white between tiles: separates dark-background digits, matches the page
SPLIT_PREFIXES = ("train_", "val_", "valid_", "test_")  # history columns are "<split>_<term>"


# --------------------------------------------------------------------------------------------
# small helpers


def _to_numpy(x, *, name: str, func: str) -> np.ndarray:
    """`x` as a numpy array; torch tensors are detached and moved to the CPU first."""
    if hasattr(x, "detach"):  # a torch tensor, without importing torch here
        x = x.detach().cpu()
        if x.dtype.is_floating_point and x.dtype.itemsize < 4:
            x = x.float()  # numpy has no bfloat16
    try:
        return np.asarray(x)
    except (TypeError, ValueError) as e:
        raise DataError(
            f"The '{name}' argument of {func} must be an array-like of numbers "
            f"(numpy array or torch tensor). Got {type(x).__name__} instead."
        ) from e


def _check_finite(a: np.ndarray, *, name: str, func: str) -> None:
    if not np.all(np.isfinite(a)):
        bad = int(np.size(a) - np.isfinite(a).sum())
        raise DataError(
            f"The '{name}' argument of {func} contains {bad} NaN or infinite values. Plot finite "
            f"values only: a NaN usually means training diverged (lower the learning rate)."
        )


def _new_figure(figsize: tuple[float, float]) -> Figure:
    fig = Figure(figsize=figsize, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)  # attaches itself as fig.canvas; no pyplot involved
    return fig


def _save_png(fig: Figure, path: str | os.PathLike) -> Path:
    """Render `fig` to PNG in memory, then write it atomically (no half-written file on disk)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return atomic_write_bytes(path, buf.getvalue())


def _check_shape(shape, *, func: str) -> tuple[int, int, int]:
    try:
        shape = tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        shape = None
    if shape is None or len(shape) != 3 or shape[0] not in (1, 3) or min(shape) < 1:
        raise ConfigError(
            f"The 'shape' parameter of {func} must be (C, H, W) with C in {{1, 3}} "
            f"(1: grayscale, 3: RGB), e.g. (1, 28, 28) for MNIST. Got {shape!r} instead."
        )
    return shape


def _as_images(x, shape: tuple[int, int, int], *, name: str, func: str) -> np.ndarray:
    """Reshape `x` of shape (N, C, H, W), (N, H, W) for C = 1, or flat (N, C*H*W) to (N, C, H, W).

    Values are clipped to [0, 1] for display (decoders may overshoot slightly).
    """
    x = _to_numpy(x, name=name, func=func).astype(np.float32, copy=False)
    c, h, w = shape
    if x.ndim == 2 and x.shape[1] == c * h * w:
        x = x.reshape(-1, c, h, w)
    elif x.ndim == 3 and c == 1 and x.shape[1:] == (h, w):
        x = x[:, None]
    elif x.shape[1:] != shape:
        raise DataError(
            f"The '{name}' argument of {func} must have shape (N, {c}, {h}, {w}) or flat "
            f"(N, {c * h * w}) to match shape={shape}. Got {x.shape} instead."
        )
    if len(x) == 0:
        raise DataError(f"The '{name}' argument of {func} holds no images; pass at least one.")
    _check_finite(x, name=name, func=func)
    return np.clip(x, 0.0, 1.0)


def _grid_figsize(height_px: int, width_px: int, *, title: str | None) -> tuple[float, float]:
    """Figure size showing each data pixel as 1 to 8 screen pixels, longest side ~800 px."""
    scale = min(8.0, max(1.0, 800 / max(height_px, width_px)))
    title_in = 0.4 if title else 0.0
    return (width_px * scale / DPI + 0.2, height_px * scale / DPI + 0.2 + title_in)


def _show_mosaic(mosaic: np.ndarray, path, *, title: str | None) -> Path:
    """Draw a (H, W, C) mosaic from `tile` as one image, pixel for pixel, and save it."""
    fig = _new_figure(_grid_figsize(*mosaic.shape[:2], title=title))
    ax = fig.add_subplot()
    _imshow(ax, mosaic)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return _save_png(fig, path)


def _imshow(ax, mosaic: np.ndarray) -> None:
    if mosaic.shape[-1] == 1:
        ax.imshow(mosaic[..., 0], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    else:
        ax.imshow(mosaic, interpolation="nearest")


def _check_positive_int(value, *, name: str, func: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(
            f"The '{name}' parameter of {func} must be an int in the range [1, inf). "
            f"Got {value!r} instead."
        )
    return int(value)


# --------------------------------------------------------------------------------------------
# image grids


def tile(x: np.ndarray, nrow: int = 8, pad: int = 1, *, pad_value: float = PAD_VALUE) -> np.ndarray:
    """Tile a batch of images into one mosaic, `nrow` images per row, with `pad` pixels between.

    Image ``k`` goes to block ``(k // ncol, k % ncol)`` with ``ncol = min(nrow, N)``; its top-left
    pixel sits at row ``pad + (k // ncol) * (H + pad)``, column ``pad + (k % ncol) * (W + pad)``.
    Padding surrounds every image, so the mosaic is ``rows * (H + pad) + pad`` by
    ``ncol * (W + pad) + pad`` pixels. Empty cells of the last row hold `pad_value`.

    Parameters
    ----------
    x : ndarray of shape (N, C, H, W)
        Images, channels first (the torch convention).
    nrow : int, default=8
        Images per row of the mosaic (the torchvision name, kept for familiarity).
    pad : int, default=1
        Pixels of padding around every image.
    pad_value : float, default=1.0
        Value of the padding and of empty cells.

    Returns
    -------
    ndarray of shape (rows * (H + pad) + pad, ncol * (W + pad) + pad, C)
        Channels last, as `imshow` wants them.

    Examples
    --------
    >>> tile(np.zeros((16, 1, 8, 8)), nrow=8).shape
    (19, 73, 1)
    """
    x = np.asarray(x)
    if x.ndim != 4:
        raise DataError(f"tile needs images of shape (N, C, H, W). Got shape {x.shape} instead.")
    n, c, h, w = x.shape
    ncol = min(nrow, n)
    nrows = math.ceil(n / ncol)
    mosaic = np.full((nrows * (h + pad) + pad, ncol * (w + pad) + pad, c), pad_value, dtype=x.dtype)
    for k in range(n):
        top = pad + (k // ncol) * (h + pad)
        left = pad + (k % ncol) * (w + pad)
        mosaic[top : top + h, left : left + w] = x[k].transpose(1, 2, 0)  # (C, H, W) -> (H, W, C)
    return mosaic


def image_grid(x, path, *, shape, nrow: int = 8, title: str | None = None) -> Path:
    """Save a batch of images as one tiled PNG.

    Parameters
    ----------
    x : array-like of shape (N, C, H, W) or (N, C*H*W)
        Images with values in [0, 1] (clipped for display). Torch tensors are accepted.
    path : str or PathLike
        Where to write the PNG.
    shape : tuple of int
        ``(C, H, W)`` of one image, ``C`` in {1, 3}; ``C = 1`` is drawn in grayscale.
    nrow : int, default=8
        Images per row.
    title : str, optional
        Figure title.

    Returns
    -------
    Path
        The PNG written.
    """
    func = "image_grid"
    shape = _check_shape(shape, func=func)
    nrow = _check_positive_int(nrow, name="nrow", func=func)
    images = _as_images(x, shape, name="x", func=func)
    return _show_mosaic(tile(images, nrow), path, title=title)


def interleave_rows(x: np.ndarray, x_hat: np.ndarray, per_row: int = 8) -> np.ndarray:
    """Order images so that a mosaic `per_row` wide shows inputs above their reconstructions.

    Returns ``[x[0:p], x_hat[0:p], x[p:2p], x_hat[p:2p], ...]`` as one array; a short last chunk is
    completed with blank (`PAD_VALUE`) images so that each reconstruction sits under its input.
    """
    n = len(x)
    blank = np.full((1, *x.shape[1:]), PAD_VALUE, dtype=x.dtype)
    rows = []
    for start in range(0, n, per_row):
        stop = min(start + per_row, n)
        fill = np.repeat(blank, per_row - (stop - start), axis=0)
        rows += [x[start:stop], fill, x_hat[start:stop], fill]
    return np.concatenate(rows)


def reconstruction_grid(
    x, x_hat, path, *, shape, n: int = 16,
    title: str | None = "input (top) vs reconstruction (bottom)",
) -> Path:
    """Save inputs and their reconstructions as a PNG: row pairs of 8, input above output.

    Parameters
    ----------
    x, x_hat : array-like of shape (N, C, H, W) or (N, C*H*W)
        Inputs and their reconstructions, values in [0, 1], same N.
    path : str or PathLike
        Where to write the PNG.
    shape : tuple of int
        ``(C, H, W)`` of one image.
    n : int, default=16
        Number of examples shown (the first `n`, or all if fewer).
    title : str, optional
        Figure title.

    Returns
    -------
    Path
        The PNG written.
    """
    func = "reconstruction_grid"
    shape = _check_shape(shape, func=func)
    n = _check_positive_int(n, name="n", func=func)
    x = _as_images(x, shape, name="x", func=func)
    x_hat = _as_images(x_hat, shape, name="x_hat", func=func)
    if len(x) != len(x_hat):
        raise DataError(
            f"reconstruction_grid needs one reconstruction per input. Got {len(x)} inputs and "
            f"{len(x_hat)} reconstructions; pass x_hat = model(x) for the same batch."
        )
    n = min(n, len(x))
    per_row = min(8, n)
    images = interleave_rows(x[:n], x_hat[:n], per_row)
    return _show_mosaic(tile(images, per_row), path, title=title)


# --------------------------------------------------------------------------------------------
# training curves


def _parse_number(value) -> float | None:
    """A history cell as a float: blanks and None are NaN; text that is not a number gives None."""
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return math.nan
    if hasattr(value, "item"):  # numpy or torch scalar
        value = value.item()
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def history_columns(history) -> dict[str, np.ndarray]:
    """Turn a training history into float columns, one per key, in order of first appearance.

    Parameters
    ----------
    history : list of dict, or str or PathLike
        One dict per epoch (``{"epoch": 1, "train_loss": ..., "val_loss": ...}``), or the path to
        a ``history.csv`` with those columns. Both forms give identical columns.

    Returns
    -------
    dict of str to ndarray of shape (n_epochs,)
        Float64 columns. A key missing from an epoch, or a blank cell, is NaN. Columns holding
        text that is not a number (a timestamp, say) are left out.
    """
    if isinstance(history, (str, os.PathLike)):
        path = Path(history)
        if not path.is_file():
            raise DataError(
                f"No history file at {path}. Pass the path to a run's history.csv, or the "
                f"history itself as a list of dicts (one per epoch)."
            )
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    elif isinstance(history, Iterable) and not isinstance(history, Mapping):
        rows = list(history)
        if not all(isinstance(r, Mapping) for r in rows):
            raise DataError(
                "The 'history' argument must be a list of dicts (one per epoch) or the path to a "
                "history.csv. Got a list with non-dict items."
            )
    else:
        raise DataError(
            f"The 'history' argument must be a list of dicts (one per epoch) or the path to a "
            f"history.csv. Got {type(history).__name__} instead."
        )
    if not rows:
        raise DataError("The training history is empty; train for at least one epoch first.")

    keys = list(dict.fromkeys(k for row in rows for k in row))
    columns = {}
    for key in keys:
        values = [_parse_number(row.get(key)) for row in rows]
        if all(v is not None for v in values):
            columns[key] = np.array(values, dtype=np.float64)
    return columns


def group_terms(names: Iterable[str]) -> dict[str, list[str]]:
    """Group history columns by term: ``train_kl`` and ``val_kl`` share the term ``kl``.

    Columns without a split prefix (``lr``, say) are a term of their own; ``epoch`` is the x axis
    and belongs to none. The term ``loss`` comes first, the rest in order of first appearance.
    """
    groups: dict[str, list[str]] = {}
    for name in names:
        if name == "epoch":
            continue
        prefix = next((p for p in SPLIT_PREFIXES if name.startswith(p)), "")
        groups.setdefault(name[len(prefix):], []).append(name)
    if "loss" in groups:
        groups = {"loss": groups.pop("loss"), **groups}
    return groups


def training_curves(history, path) -> Path:
    """Save one subplot per loss term, train and validation on the same axes, against epoch.

    Parameters
    ----------
    history : list of dict, or str or PathLike
        One dict per epoch with ``"epoch"`` and float columns such as ``"train_loss"``,
        ``"val_loss"``, ``"train_kl"``, ``"val_recon"``; or the path to a ``history.csv``.
    path : str or PathLike
        Where to write the PNG.

    Returns
    -------
    Path
        The PNG written.
    """
    columns = history_columns(history)
    n_epochs = len(next(iter(columns.values()))) if columns else 0
    epoch = columns.get("epoch", np.arange(1, n_epochs + 1, dtype=np.float64))
    groups = group_terms(columns)
    if not groups:
        raise DataError(
            "The training history has no numeric columns besides 'epoch'; expected columns such "
            "as 'train_loss' and 'val_loss'."
        )

    ncols = min(3, len(groups))
    nrows = math.ceil(len(groups) / ncols)
    fig = _new_figure((4.0 * ncols, 3.0 * nrows))
    marker = "o" if n_epochs <= 30 else None  # dots help read short runs, clutter long ones
    for i, (term, names) in enumerate(groups.items()):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        for name in names:
            split = name[: -len(term) - 1] if name != term else name
            ax.plot(epoch, columns[name], marker=marker, markersize=3, label=split)
        ax.set_title(term)
        ax.set_xlabel("epoch")
        ax.set_ylabel(term)
        ax.grid(True, alpha=0.3)
        if len(names) > 1:
            ax.legend()
    return _save_png(fig, path)


# --------------------------------------------------------------------------------------------
# latent spaces


def project_2d(z) -> tuple[np.ndarray, tuple[str, str]]:
    """Bring codes to a plane for plotting: 1-D gets a zero second column, 2-D is kept, more is PCA.

    Parameters
    ----------
    z : array-like of shape (N, d)
        Latent codes.

    Returns
    -------
    z2 : ndarray of shape (N, 2)
        The plotted coordinates. For ``d > 2`` the first two principal components
        (``sklearn.decomposition.PCA``); for ``d == 2`` `z` itself.
    labels : tuple of str
        Axis labels; for PCA they say "PCA of d-D codes" and the variance each component explains.
    """
    func = "project_2d"
    z = _to_numpy(z, name="z", func=func).astype(np.float64, copy=False)
    if z.ndim == 1:
        z = z[:, None]
    if z.ndim != 2 or len(z) == 0:
        raise DataError(f"Latent codes must have shape (N, d) with N >= 1. Got {z.shape} instead.")
    _check_finite(z, name="z", func=func)
    n, d = z.shape
    if d == 1:
        return np.column_stack([z[:, 0], np.zeros(n)]), ("z", "")
    if d == 2:
        return z, ("z[0]", "z[1]")
    if n < 2:
        raise DataError(f"PCA of {d}-D codes needs at least 2 codes. Got {n}; pass more samples.")
    from sklearn.decomposition import PCA  # imported here: only needed for d > 2

    pca = PCA(n_components=2, svd_solver="full")
    z2 = pca.fit_transform(z)
    ratio = pca.explained_variance_ratio_
    labels = tuple(f"PC{k + 1} (PCA of {d}-D codes, {100 * ratio[k]:.0f}% var.)" for k in range(2))
    return z2, labels


def _class_names(labels: np.ndarray, classes: Sequence[str] | None) -> list[str]:
    """Legend names: ``classes[label]`` where it exists, else the label itself."""
    if classes is None:
        return [str(v) for v in labels]
    return [str(classes[int(v)]) if 0 <= int(v) < len(classes) else str(v) for v in labels]


def latent_scatter(z, path, *, y=None, classes: Sequence[str] | None = None,
                   title: str | None = None) -> Path:
    """Save a scatter plot of latent codes, coloured by label when labels are given.

    ``d == 1`` is a strip plot (one jittered strip per class), ``d == 2`` is drawn as is, and
    ``d > 2`` is projected on its first two principal components (see `project_2d`).

    Parameters
    ----------
    z : array-like of shape (N, d)
        Latent codes (e.g. the encoder means).
    path : str or PathLike
        Where to write the PNG.
    y : array-like of shape (N,), optional
        Class labels, ints (or names), coloured with tab10 and shown in a legend; or, if float
        and `classes` is None, a continuous value coloured with viridis and a colour bar.
    classes : sequence of str, optional
        Class names, indexed by label.
    title : str, optional
        Figure title.

    Returns
    -------
    Path
        The PNG written.
    """
    func = "latent_scatter"
    z = _to_numpy(z, name="z", func=func)
    strip = z.ndim == 1 or (z.ndim == 2 and z.shape[1] == 1)  # d == 1
    z2, (xlabel, ylabel) = project_2d(z)
    n = len(z2)
    categorical = False
    if y is not None:
        y = _to_numpy(y, name="y", func=func).reshape(-1)
        if len(y) != n:
            raise DataError(
                f"latent_scatter needs one label per code. Got {len(y)} labels for {n} codes."
            )
        categorical = y.dtype.kind in "iubUSO" or classes is not None  # ints, bools, names
        if classes is not None and not (y.dtype.kind in "iub" or np.all(np.mod(y, 1) == 0)):
            raise DataError(
                "With 'classes', latent_scatter needs integer labels y that index the class "
                "names. Got non-integer labels; pass y as ints, or leave classes out."
            )

    if strip:
        # jitter spreads overlapping points vertically; seeded so the figure is reproducible
        jitter = np.random.default_rng(0).uniform(-0.3, 0.3, size=n)
        z2 = z2.copy()
        z2[:, 1] = jitter

    n_strips = len(np.unique(y)) if categorical else 1
    fig = _new_figure((6.5, 1.5 + 0.5 * n_strips) if strip else (6.5, 5.0))
    ax = fig.add_subplot()
    size = float(np.clip(10_000 / n, 4, 40))  # marker area in pt^2: fewer points, bigger dots
    if categorical:
        values = np.unique(y)
        cmap = colormaps["tab10" if len(values) <= 10 else "tab20"]
        names = _class_names(values, classes)
        for i, (value, name) in enumerate(zip(values, names)):
            keep = y == value
            ys = z2[keep, 1] + (i if strip else 0)
            ax.scatter(z2[keep, 0], ys, s=size, color=cmap(i % cmap.N), alpha=0.7, label=name,
                       linewidths=0)
        if strip:
            ax.set_yticks(range(len(values)), names)
        else:
            ax.legend(markerscale=max(1.0, 6 / math.sqrt(size)), fontsize="small",
                      loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    elif y is not None:
        points = ax.scatter(z2[:, 0], z2[:, 1], s=size, c=y.astype(np.float64), cmap="viridis",
                            alpha=0.7, linewidths=0)
        fig.colorbar(points, ax=ax)
    else:
        ax.scatter(z2[:, 0], z2[:, 1], s=size, alpha=0.7, linewidths=0)
    if strip and not categorical:
        ax.set_yticks([])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title or "latent codes")
    return _save_png(fig, path)


def latent_plane(n: int = 15, prior: str = "gaussian") -> np.ndarray:
    """The n x n grid of 2-D latent points behind the "manifold" picture.

    Each axis runs over the standard normal's quantiles at ``linspace(0.05, 0.95, n)``:
    $z = \\Phi^{-1}(p)$, so equal steps in the picture are equal steps in prior probability.
    Point ``i * n + j`` is row ``i`` (top to bottom, z[1] decreasing, as on a plot) and column
    ``j`` (left to right, z[0] increasing).

    Parameters
    ----------
    n : int, default=15
        Points per axis.
    prior : {"gaussian"}, default="gaussian"
        The latent prior whose quantiles are used.

    Returns
    -------
    ndarray of shape (n * n, 2), float32

    Examples
    --------
    >>> latent_plane(3)[4]  # the middle point
    array([0., 0.], dtype=float32)
    """
    n = _check_positive_int(n, name="n", func="latent_plane")
    if prior != "gaussian":
        raise ConfigError(
            f"The 'prior' parameter of latent_plane must be 'gaussian' (the standard normal "
            f"prior of a VAE). Got {prior!r} instead."
        )
    p = np.linspace(0.05, 0.95, n) if n > 1 else np.array([0.5])
    q = np.array([NormalDist().inv_cdf(pk) for pk in p])  # Phi^{-1}(p)
    q = (q - q[::-1]) / 2  # exact symmetry q[k] = -q[n-1-k]: cancels linspace's rounding
    z0, z1 = np.meshgrid(q, q[::-1])  # (n, n) each; rows run from high z[1] to low
    return np.column_stack([z0.ravel(), z1.ravel()]).astype(np.float32)


def latent_grid(decode: Callable[[np.ndarray], np.ndarray], path, *, shape, n: int = 15,
                prior: str = "gaussian") -> Path:
    """Save the decoder's "manifold": images decoded from an n x n grid over a 2-D latent prior.

    Parameters
    ----------
    decode : callable
        Maps a float32 array of shape (M, 2) to images of shape (M, C, H, W) or (M, C*H*W) with
        values in [0, 1] (numpy array or torch tensor).
    path : str or PathLike
        Where to write the PNG.
    shape : tuple of int
        ``(C, H, W)`` of one image.
    n : int, default=15
        Images per axis.
    prior : {"gaussian"}, default="gaussian"
        Grid over the standard normal's quantiles (see `latent_plane`).

    Returns
    -------
    Path
        The PNG written.
    """
    func = "latent_grid"
    shape = _check_shape(shape, func=func)
    z = latent_plane(n, prior)  # (n*n, 2)
    images = _as_images(decode(z), shape, name="decode(z)", func=func)
    if len(images) != len(z):
        raise DataError(
            f"decode returned {len(images)} images for {len(z)} latent points; it must return "
            f"one image per row of its (M, 2) input."
        )
    mosaic = tile(images, n)
    title = "decoded latent grid (normal quantiles 5%..95%)"
    fig = _new_figure(_grid_figsize(*mosaic.shape[:2], title=title))
    ax = fig.add_subplot()
    _imshow(ax, mosaic)
    # ticks at the centres of the first, middle and last images, labelled with their latent value
    c, h, w = shape
    q = z[:n, 0]  # z[0] along the top row
    idx = sorted({0, n // 2, n - 1})
    ax.set_xticks([1 + j * (w + 1) + (w - 1) / 2 for j in idx], [f"{q[j]:.2f}" for j in idx])
    ax.set_yticks([1 + i * (h + 1) + (h - 1) / 2 for i in idx],
                  [f"{q[n - 1 - i]:.2f}" for i in idx])
    ax.set_xlabel("z[0]")
    ax.set_ylabel("z[1]")
    ax.set_title(title)
    return _save_png(fig, path)


# --------------------------------------------------------------------------------------------
# non-image data


def point_cloud(x, path, *, x_hat=None, color=None, title: str | None = None) -> Path:
    """Save non-image data (a swiss roll, say) and its reconstruction side by side.

    2-D data is drawn as is, 3-D data in 3-D, more dimensions on the data's first three
    principal components (the reconstruction goes through the same projection); 1-D data
    against the sample index. Both panels share their axis limits, so points the model
    moved off the data are visible as such.

    Parameters
    ----------
    x : array-like of shape (N, D)
        Data points.
    path : str or PathLike
        Where to write the PNG.
    x_hat : array-like of shape (N, D), optional
        Reconstructions of `x`; a second panel when given.
    color : array-like of shape (N,), optional
        A value per point (e.g. the position along the roll), coloured with viridis in both panels.
    title : str, optional
        Figure title.

    Returns
    -------
    Path
        The PNG written.
    """
    func = "point_cloud"
    x = _to_numpy(x, name="x", func=func).astype(np.float64, copy=False)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or len(x) == 0:
        raise DataError(
            f"point_cloud needs points of shape (N, D) with N >= 1. Got {x.shape} instead."
        )
    _check_finite(x, name="x", func=func)
    panels = {"data": x}
    if x_hat is not None:
        x_hat = _to_numpy(x_hat, name="x_hat", func=func).astype(np.float64, copy=False)
        x_hat = x_hat[:, None] if x_hat.ndim == 1 else x_hat
        if x_hat.shape != x.shape:
            raise DataError(
                f"x_hat must have the shape of x, {x.shape}: one reconstruction per point. "
                f"Got {x_hat.shape} instead."
            )
        _check_finite(x_hat, name="x_hat", func=func)
        panels["reconstruction"] = x_hat
    if color is not None:
        color = _to_numpy(color, name="color", func=func).astype(np.float64).reshape(-1)
        if len(color) != len(x):
            raise DataError(
                f"point_cloud needs one color value per point. Got {len(color)} for {len(x)}."
            )

    n, d = x.shape
    axis_labels = [f"x[{k}]" for k in range(min(d, 3))]
    if d > 3:
        from sklearn.decomposition import PCA

        pca = PCA(n_components=3, svd_solver="full").fit(x)
        panels = {k: pca.transform(v) for k, v in panels.items()}
        axis_labels = [f"PC{k + 1} of {d}-D data" for k in range(3)]
    elif d == 1:
        panels = {k: np.column_stack([np.arange(n), v[:, 0]]) for k, v in panels.items()}
        axis_labels = ["index", "x[0]"]
    dims = 3 if d >= 3 else 2

    both = np.concatenate(list(panels.values()))
    span = both.max(axis=0) - both.min(axis=0)
    lo, hi = both.min(axis=0) - 0.05 * span, both.max(axis=0) + 0.05 * span
    lo, hi = np.where(span > 0, lo, lo - 1), np.where(span > 0, hi, hi + 1)  # constant columns
    size = float(np.clip(10_000 / n, 4, 40))  # marker area in pt^2
    norm = Normalize(color.min(), color.max()) if color is not None else None

    fig = _new_figure((5.0 * len(panels) + (0.8 if color is not None else 0), 4.5))
    points = None
    for i, (name, v) in enumerate(panels.items()):
        ax = fig.add_subplot(1, len(panels), i + 1, projection="3d" if dims == 3 else None)
        kw = dict(s=size, alpha=0.8, linewidths=0)
        if color is not None:
            kw.update(c=color, cmap="viridis", norm=norm)
        points = ax.scatter(*(v[:, k] for k in range(dims)), **kw)
        ax.set_xlim(lo[0], hi[0])
        ax.set_ylim(lo[1], hi[1])
        ax.set_xlabel(axis_labels[0])
        ax.set_ylabel(axis_labels[1])
        if dims == 3:
            ax.set_zlim(lo[2], hi[2])
            ax.set_zlabel(axis_labels[2])
            ax.view_init(elev=15, azim=-70)
        ax.set_title(name)
    if color is not None:
        fig.colorbar(points, ax=fig.axes, shrink=0.8)
    if title:
        fig.suptitle(title)
    return _save_png(fig, path)

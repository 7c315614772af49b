"""Codes in a plane: a scatter of latent codes coloured by label, PCA for codes of more than two
dimensions (`project_2d`, tested directly)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from sklearn.decomposition import PCA

from hourglass.core.errors import DataError
from hourglass.viz.canvas import _check_finite, _new_figure, _save_png, _to_numpy

__all__ = ["project_2d", "latent_scatter"]


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

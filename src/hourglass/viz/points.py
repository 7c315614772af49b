"""Non-image data: points (a swiss roll, say) and their reconstructions, side by side."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.colors import Normalize
from sklearn.decomposition import PCA

from hourglass.core.errors import DataError
from hourglass.viz.canvas import _check_finite, _new_figure, _save_png, _to_numpy

__all__ = ["point_cloud"]


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

"""Image grids: a batch of images as one mosaic, inputs above their reconstructions, and labelled
grids (rows and columns named at the centres of their tiles).

`tile` (images -> one padded mosaic) and `interleave_rows` hold the arithmetic and are tested
directly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from hourglass.core.errors import DataError
from hourglass.viz.canvas import (PAD_VALUE, _as_images, _check_positive_int, _check_shape,
                                  _grid_figsize, _imshow, _new_figure, _save_png)

__all__ = ["tile", "image_grid", "interleave_rows", "reconstruction_grid", "labelled_grid"]


def _show_mosaic(mosaic: np.ndarray, path, *, title: str | None) -> Path:
    """Draw a (H, W, C) mosaic from `tile` as one image, pixel for pixel, and save it."""
    fig = _new_figure(_grid_figsize(*mosaic.shape[:2], title=title))
    ax = fig.add_subplot()
    _imshow(ax, mosaic)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return _save_png(fig, path)


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


def _ticks(labels) -> dict[int, str]:
    """Tick labels by tile index: a sequence labels tiles 0, 1, ...; a mapping names its tiles."""
    return dict(labels) if isinstance(labels, Mapping) else dict(enumerate(labels))


def labelled_grid(images: np.ndarray, ncol: int, path, *, shape, title: str,
                  row_labels: Sequence[str] | Mapping[int, str] = (),
                  col_labels: Sequence[str] | Mapping[int, str] = (),
                  xlabel: str | None = None, ylabel: str | None = None,
                  fontsize: float | None = 7, tick_length: float | None = 0) -> Path:
    """Tile `images` (N, C, H, W) `ncol` to a row and label rows (left) and columns (bottom) at
    the centres of their tiles; labels given as a mapping name only the tiles they index.
    ``fontsize=None`` / ``tick_length=None`` keep matplotlib's tick style."""
    c, h, w = shape
    mosaic = tile(images, ncol)
    fig = _new_figure(_grid_figsize(*mosaic.shape[:2], title=title))
    ax = fig.add_subplot()
    _imshow(ax, mosaic)
    cols, rows = _ticks(col_labels), _ticks(row_labels)
    ax.set_xticks([1 + j * (w + 1) + (w - 1) / 2 for j in cols], list(cols.values()),
                  fontsize=fontsize)
    ax.set_yticks([1 + i * (h + 1) + (h - 1) / 2 for i in rows], list(rows.values()),
                  fontsize=fontsize)
    if tick_length is not None:
        ax.tick_params(length=tick_length)
    if xlabel:
        ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    ax.set_title(title)
    return _save_png(fig, path)

"""What every figure shares: numpy conversion and checks that name the argument at fault, a
matplotlib Figure on its own Agg canvas (no pyplot, so no global state and no figure left open),
and PNGs rendered in memory and written atomically."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from hourglass.core.io import atomic_write_bytes
from hourglass.core.errors import ConfigError, DataError

DPI = 100
PAD_VALUE = 1.0  # white between tiles: separates dark-background digits, matches the page


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

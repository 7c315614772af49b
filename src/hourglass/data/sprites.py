"""Sprites: binary images of shapes whose generating factors are known (the dSprites design of
Matthey et al. 2017, generated here instead of downloaded).

Five factors, each on a grid; every combination is one image (the full factor product):

=============  ======  ==================================================
factor         values  meaning
=============  ======  ==================================================
shape          3       square, ellipse, heart
scale          6       size, linspace(0.5, 1, 6) of the largest
orientation    40      rotation, k * 2 pi / 40 (k = 0..39)
x, y           32, 32  position of the centre, linspace(0, 1, 32) across the free area
=============  ======  ==================================================

3 * 6 * 40 * 32 * 32 = 737,280 images; at 64x64 that is ~3 GB as uint8, so nothing holds them all.
:class:`Sprites` renders any of them on demand (deterministic: an image is a pure function of its
factors), and :func:`load_sprites` / ``load("sprites")`` renders a seeded random subset of the
product as a :class:`~hourglass.data.Dataset` (images uint8 0/255, ``y`` = shape, ``t`` = the five
factor indices). Shapes are symmetric as in dSprites (a square repeats every 10 orientation steps,
an ellipse every 20), so orientation is only partly identifiable from an image.

>>> s = Sprites(size=28)
>>> len(s), s.render([[2, 5, 0, 16, 16]]).shape
(737280, (1, 1, 28, 28))
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from hourglass.data.dataset import Dataset
from hourglass.data.sources import register_dataset
from hourglass.core.errors import ConfigError, DataError

__all__ = ["Sprites", "load_sprites", "FACTORS", "FACTOR_SIZES", "SHAPES", "factor_values"]

FACTORS = ("shape", "scale", "orientation", "x", "y")
FACTOR_SIZES = (3, 6, 40, 32, 32)
SHAPES = ("square", "ellipse", "heart")
SUBSET_SEED = 0          # which combinations load_sprites renders (the split seed is separate)
RADIUS = 0.18            # radius of the largest shape's bounding circle, as a share of the side
N_DEFAULT = 20_000       # images rendered by load("sprites")


def factor_values(factors) -> np.ndarray:
    """Factor indices (N, 5) -> values (N, 5): shape index, scale in [0.5, 1], orientation in
    radians, x and y in [0, 1]."""
    f = _check_factors(factors)
    return np.stack([f[:, 0].astype(np.float64),
                     0.5 + 0.5 * f[:, 1] / (FACTOR_SIZES[1] - 1),
                     2 * math.pi * f[:, 2] / FACTOR_SIZES[2],
                     f[:, 3] / (FACTOR_SIZES[3] - 1),
                     f[:, 4] / (FACTOR_SIZES[4] - 1)], axis=1)


def _check_factors(factors) -> np.ndarray:
    f = np.asarray(factors)
    if f.ndim != 2 or f.shape[1] != len(FACTORS) or not np.issubdtype(f.dtype, np.integer):
        raise DataError(f"Sprite factors must be an int array of shape (N, {len(FACTORS)}) "
                        f"({', '.join(FACTORS)}); got {f.dtype} {f.shape}.")
    if (f < 0).any() or (f >= np.array(FACTOR_SIZES)).any():
        raise DataError(f"Sprite factor indices must lie in 0..size-1 for sizes {FACTOR_SIZES}.")
    return f


def _inside(shape: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Whether points (u, v) of the shape's unit frame (v up) lie inside shape number `shape`."""
    if shape == 0:                                   # square of half-side 0.65
        return np.maximum(np.abs(u), np.abs(v)) <= 0.65
    if shape == 1:                                   # ellipse with semi-axes 1 and 0.5
        return u * u + 4 * v * v <= 1.0
    hx, hy = u / 0.75, v / 0.75 + 0.1                # heart: (x^2 + y^2 - 1)^3 <= x^2 y^3
    r = hx * hx + hy * hy - 1
    return r * r * r <= hx * hx * hy * hy * hy


class Sprites:
    """Every sprite of one image size, rendered on demand; indexable like an array.

    ``sprites[i]`` (int, slice or int array of flat indices into the factor product, in C order
    over :data:`FACTORS`) returns uint8 images (N, 1, size, size) with values 0 and 255.
    """

    def __init__(self, size: int = 64):
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 8:
            raise ConfigError(f"The 'size' parameter of Sprites must be an int >= 8. Got {size!r} "
                              "instead.")
        self.size = int(size)
        self.factor_sizes = FACTOR_SIZES

    def __len__(self) -> int:
        return math.prod(FACTOR_SIZES)

    def __getitem__(self, index) -> np.ndarray:
        flat = np.arange(len(self))[index] if isinstance(index, slice) else np.asarray(index)
        return self.render(self.factors(np.atleast_1d(flat)))

    def factors(self, index) -> np.ndarray:
        """Flat indices (N,) -> factor indices (N, 5)."""
        return np.stack(np.unravel_index(np.asarray(index), FACTOR_SIZES), axis=1)

    def index(self, factors) -> np.ndarray:
        """Factor indices (N, 5) -> flat indices (N,)."""
        return np.ravel_multi_index(tuple(_check_factors(factors).T), FACTOR_SIZES)

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """`n` factor combinations drawn uniformly from the product, (n, 5)."""
        return np.stack([rng.integers(0, k, n) for k in FACTOR_SIZES], axis=1)

    def render(self, factors, *, chunk: int = 1024) -> np.ndarray:
        """Images of the given factor indices (N, 5): uint8 (N, 1, size, size), 0 or 255.

        A pixel is on when its centre lies inside the shape: the shape's frame is rotated by the
        orientation, scaled to ``scale * RADIUS * size`` pixels and centred so that the largest
        shape stays inside the image at every position.
        """
        vals = factor_values(factors).astype(np.float32)
        S = self.size
        # only a W x W window around each shape can be on: its bounding circle fits inside
        W = min(S, math.ceil(2 * RADIUS * S) + 2)
        cx = (RADIUS + vals[:, 3] * (1 - 2 * RADIUS)) * S        # centre, in pixels
        cy = (RADIUS + vals[:, 4] * (1 - 2 * RADIUS)) * S
        c0 = np.clip(np.floor(cx - W / 2), 0, S - W).astype(np.int64)   # window corner (N,)
        r0 = np.clip(np.floor(cy - W / 2), 0, S - W).astype(np.int64)
        grid = np.arange(W, dtype=np.float32) + 0.5
        out = np.zeros((len(vals), 1, S, S), dtype=np.uint8)
        for start in range(0, len(vals), chunk):                 # bounded memory: (chunk, W, W)
            sl = slice(start, start + chunk)
            radius = (vals[sl, 1] * RADIUS * S)[:, None, None]
            dx = (c0[sl, None, None] + grid[None, None, :] - cx[sl, None, None]) / radius
            dy = -(r0[sl, None, None] + grid[None, :, None] - cy[sl, None, None]) / radius
            c, s = np.cos(vals[sl, 2])[:, None, None], np.sin(vals[sl, 2])[:, None, None]
            u, v = c * dx + s * dy, -s * dx + c * dy             # rotate the frame by -theta
            shape = vals[sl, 0]
            on = np.zeros(u.shape, dtype=bool)
            for k in range(len(SHAPES)):                         # one pass per shape, not per image
                rows = shape == k
                on[rows] = _inside(k, u[rows], v[rows])
            n = on.shape[0]
            rr = r0[sl, None, None] + np.arange(W)[None, :, None]          # (n, W, 1)
            cc = c0[sl, None, None] + np.arange(W)[None, None, :]          # (n, 1, W)
            out[np.arange(start, start + n)[:, None, None], 0, rr, cc] = on * np.uint8(255)
        return out


def load_sprites(*, size: int = 64, n: int = N_DEFAULT, val_fraction: float = 0.1,
                 seed: int = 0, subset_seed: int = SUBSET_SEED) -> Dataset:
    """A Dataset of `n` distinct sprites drawn uniformly from the factor product with
    `subset_seed`, split as :meth:`Dataset.from_arrays` splits (test fixed, validation by `seed`).

    ``x`` is uint8 (n, 1, size, size) in {0, 255}; ``y`` the shape (0 square, 1 ellipse, 2 heart);
    ``t`` the factor indices (n, 5) as float32, columns in :data:`FACTORS` order.
    """
    sprites = Sprites(size)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 10 <= n <= len(sprites):
        raise ConfigError(f"The 'n' parameter of load_sprites must be an int in the range "
                          f"[10, {len(sprites)}]. Got {n!r} instead.")
    flat = np.sort(np.random.default_rng(subset_seed).choice(len(sprites), size=n, replace=False))
    factors = sprites.factors(flat)
    ds = Dataset.from_arrays(sprites.render(factors), factors[:, 0], t=factors.astype(np.float32),
                             name=f"sprites-{size}" if size != 64 else "sprites",
                             val_fraction=val_fraction, seed=seed,
                             description=f"{n:,} sprites {size}x{size} (shape, scale, orientation, "
                                         f"x, y known; factor indices in Split.t)")
    return replace(ds, classes=list(SHAPES))


register_dataset("sprites", f"dSprites-style shapes, {N_DEFAULT:,} of the 737,280 factor "
                            "combinations at 64x64, generated; factors in Split.t")(
    lambda *, val_fraction, seed, **_: load_sprites(size=64, val_fraction=val_fraction, seed=seed))
register_dataset("sprites-28", f"the same sprites at 28x28 ({N_DEFAULT:,} combinations)")(
    lambda *, val_fraction, seed, **_: load_sprites(size=28, val_fraction=val_fraction, seed=seed))

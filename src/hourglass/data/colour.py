"""Colour digits: scikit-learn's 8x8 digits painted in a foreground and a background colour, a
small colour dataset generated deterministically, with its factors known.

Every digit image is painted once, with two different colours of :data:`PALETTE` drawn with a
seed: a pixel of grey level $g = l / 16$ ($l = 0..16$ the digit's ink) becomes
$\\mathrm{round}\\big((1 - g)\\, \\text{background} + g\\, \\text{foreground}\\big)$ in each of R, G, B,
so the three channels of a pixel are strongly dependent (one level $g$ and two colours make
them), which is what predicting them in order, R then G then B (van den Oord et al. 2016), can
use. Images are ``uint8`` (N, 3, 8, 8); ``y`` is the digit; ``t`` holds the factors
(digit, foreground index, background index) as float32.

>>> x, y, t = colour_digits()
>>> x.shape, x.dtype, t[0].tolist() == [y[0], *t[0, 1:].tolist()]
((1797, 3, 8, 8), dtype('uint8'), True)
"""

from __future__ import annotations

import numpy as np
import sklearn.datasets

__all__ = ["colour_digits", "PALETTE", "COLOUR_NAMES", "FACTORS", "COLOUR_SEED"]

COLOUR_NAMES = ("black", "white", "red", "green", "blue", "yellow", "cyan", "magenta")
PALETTE = np.array([[0, 0, 0], [255, 255, 255], [230, 25, 75], [60, 180, 75], [0, 130, 200],
                    [255, 225, 25], [70, 240, 240], [240, 50, 230]], dtype=np.float64)
FACTORS = ("digit", "foreground", "background")
COLOUR_SEED = 0  # which colours each digit gets (the split seed is separate)


def colour_digits(seed: int = COLOUR_SEED) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The colour digits: images uint8 (1797, 3, 8, 8), digits (1797,), factors (1797, 3).

    The foreground is uniform over the palette, the background uniform over the other colours;
    both are drawn with `seed`, and the images are a pure function of the digits and colours.
    """
    bunch = sklearn.datasets.load_digits()
    n, k = len(bunch.target), len(PALETTE)
    rng = np.random.default_rng(seed)
    fg = rng.integers(0, k, n)
    bg = (fg + rng.integers(1, k, n)) % k                         # never the foreground colour
    g = (bunch.images / 16.0)[:, None]                            # (n, 1, 8, 8), levels 0..1
    col = lambda idx: PALETTE[idx][:, :, None, None]              # noqa: E731 (n, 3, 1, 1)
    x = np.rint((1 - g) * col(bg) + g * col(fg)).astype(np.uint8)  # (n, 3, 8, 8)
    factors = np.stack([bunch.target, fg, bg], axis=1).astype(np.float32)
    return x, bunch.target.astype(np.int64), factors

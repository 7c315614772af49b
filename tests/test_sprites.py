"""Tests of hourglass.data.sprites: the factor product, the renderer against a brute-force one,
the shapes' symmetries, and the registered dataset with its factors beside the images."""

import math
import re

import numpy as np
import pytest

from hourglass.data import list_datasets, load
from hourglass.data.sprites import (FACTOR_SIZES, RADIUS, SHAPES, Sprites, _inside, factor_values,
                                    load_sprites)
from hourglass.core.errors import ConfigError, DataError


def brute_force(factors, size):
    """Every pixel of every image tested against its shape: the definition the renderer follows."""
    v = factor_values(factors)
    centres = (np.arange(size) + 0.5) / size
    py, px = np.meshgrid(centres, centres, indexing="ij")
    out = np.zeros((len(v), 1, size, size), dtype=np.uint8)
    for i, (shape, scale, theta, x, y) in enumerate(v):
        cx, cy = RADIUS + x * (1 - 2 * RADIUS), RADIUS + y * (1 - 2 * RADIUS)
        dx, dy = (px - cx) / (scale * RADIUS), -(py - cy) / (scale * RADIUS)
        c, s = math.cos(theta), math.sin(theta)
        u, w = c * dx + s * dy, -s * dx + c * dy
        out[i, 0] = _inside(int(shape), u, w) * 255
    return out


def test_the_factor_product_and_its_indexing():
    s = Sprites(28)
    assert len(s) == 3 * 6 * 40 * 32 * 32 == 737_280 and FACTOR_SIZES == (3, 6, 40, 32, 32)
    idx = np.array([0, 1, 32, 1024, 737_279])
    f = s.factors(idx)
    assert f[1].tolist() == [0, 0, 0, 0, 1] and f[2].tolist() == [0, 0, 0, 1, 0]
    assert f[-1].tolist() == [2, 5, 39, 31, 31]
    np.testing.assert_array_equal(s.index(f), idx)
    np.testing.assert_array_equal(s[idx], s.render(f))


def test_factor_values_follow_the_grids():
    v = factor_values(np.array([[2, 0, 10, 0, 31], [1, 5, 39, 16, 0]]))
    np.testing.assert_allclose(v[0], [2, 0.5, math.pi / 2, 0, 1])
    np.testing.assert_allclose(v[1], [1, 1.0, 2 * math.pi * 39 / 40, 16 / 31, 0])


@pytest.mark.parametrize("size", [28, 64])
def test_renderer_matches_the_brute_force_definition(size):
    s = Sprites(size)
    f = s.sample_factors(60, np.random.default_rng(size))
    f[:6, 3:] = [[0, 0], [31, 31], [0, 31], [31, 0], [0, 0], [31, 31]]  # corners, largest scale
    f[:6, 1] = 5
    a, b = s.render(f, chunk=7), brute_force(f, size)
    assert a.dtype == np.uint8 and set(np.unique(a)) <= {0, 255}
    # float32 in the renderer against float64 here: a pixel centre exactly on an edge may differ
    assert np.mean(a != b) < 1e-3


def test_shapes_have_their_sizes_and_symmetries():
    s = Sprites(64)
    def at(shape, orient, scale=5):
        return s.render(np.array([[shape, scale, orient, 16, 16]]))[0, 0]

    side = 2 * 0.65 * RADIUS * 64                            # the largest square's side, ~15 px
    assert abs((at(0, 0) > 0).sum() - side ** 2) < 2 * side + 1
    ellipse_area = math.pi * (RADIUS * 64) * (0.5 * RADIUS * 64)
    assert abs((at(1, 0) > 0).sum() / ellipse_area - 1) < 0.05
    # scale 0.5 has a quarter of the area
    assert abs((at(1, 0, scale=0) > 0).sum() / (ellipse_area / 4) - 1) < 0.1
    # a square repeats every quarter turn (10 steps), an ellipse every half turn; a heart does not
    assert np.mean(at(0, 0) != at(0, 10)) < 0.002 and np.mean(at(1, 0) != at(1, 20)) < 0.002
    assert np.mean(at(2, 0) != at(2, 20)) > 0.01
    # the heart points down in the image at orientation 0: more of it in the upper half
    heart = at(2, 0) > 0
    rows = np.nonzero(heart.any(1))[0]
    mid = (rows[0] + rows[-1]) / 2
    assert heart[:int(mid)].sum() > heart[int(mid) + 1:].sum()


def test_bad_factors_and_sizes_are_named():
    with pytest.raises(DataError, match=re.escape("must be an int array of shape (N, 5)")):
        Sprites(28).render(np.zeros((2, 4), dtype=int))
    with pytest.raises(DataError, match="must lie in 0..size-1"):
        Sprites(28).render(np.array([[3, 0, 0, 0, 0]]))
    with pytest.raises(ConfigError, match="The 'size' parameter of Sprites must be an int >= 8"):
        Sprites(4)


def test_load_sprites_keeps_the_factors_beside_the_images():
    ds = load_sprites(size=28, n=300, seed=0)
    assert ds.shape == (1, 28, 28) and ds.dtype.is_floating_point is False
    assert ds.classes == list(SHAPES) and len(ds.train) + len(ds.val) + len(ds.test) == 300
    for split in (ds.train, ds.val, ds.test):
        f = split.t.numpy().astype(np.int64)
        np.testing.assert_array_equal(split.x.numpy(), Sprites(28).render(f))
        np.testing.assert_array_equal(split.y.numpy(), f[:, 0])
    # the combinations are distinct; the test split does not move with the split seed
    all_f = np.concatenate([s.t.numpy() for s in (ds.train, ds.val, ds.test)])
    assert len(np.unique(all_f, axis=0)) == 300
    np.testing.assert_array_equal(load_sprites(size=28, n=300, seed=5).test.t, ds.test.t)


def test_sprites_are_registered_datasets():
    names = {d["name"] for d in list_datasets()}
    assert {"sprites", "sprites-28"} <= names
    ds = load("sprites-28", n=100)
    assert ds.shape == (1, 28, 28) and len(ds.train) == 100 and ds.info()["has_coords"]
    with pytest.raises(ConfigError, match=r"The 'n' parameter of load_sprites must be an int in "
                                          r"the range \[10, 737280\]. Got 5 instead."):
        load_sprites(n=5)

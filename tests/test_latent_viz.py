"""Tests of hourglass.viz.latent: traversal codes, linear and spherical interpolation, the figures'
calls to the decoder, and the figures a run's report gets for VAE-family models."""

import math

import matplotlib.image as mpimg
import numpy as np
import pytest
import torch

from hourglass.core.errors import ConfigError, DataError
from hourglass.models import build
from hourglass.viz import (analogy_grid, class_grid, interpolate, interpolation_grid,
                           latent_traversal, traversal_codes)
from hourglass.viz.latent import latent_figures


def brightness_decoder(calls):
    """A decoder that records its codes and draws a (1, 4, 4) image of brightness sigmoid(z0)."""
    def decode(z, y=None):
        calls.append((np.asarray(z), None if y is None else np.asarray(y)))
        v = torch.sigmoid(torch.as_tensor(np.asarray(z)[:, :1], dtype=torch.float32))
        return v.repeat(1, 16)
    return decode


def test_traversal_codes_move_one_unit_per_row():
    z = traversal_codes([0.1, 0.2, 0.3], dims=[2, 0], values=[-1.0, 0.0, 1.0])
    assert z.shape == (6, 3) and z.dtype == np.float32
    np.testing.assert_allclose(z[:3], [[0.1, 0.2, -1], [0.1, 0.2, 0], [0.1, 0.2, 1]])
    np.testing.assert_allclose(z[3:], [[-1, 0.2, 0.3], [0, 0.2, 0.3], [1, 0.2, 0.3]])
    with pytest.raises(ConfigError, match=r"dims must name units in 0..2; got \[3\]"):
        traversal_codes([0, 0, 0], [3], [1])


def test_linear_interpolation_is_the_straight_line():
    z = interpolate([0.0, 2.0], [4.0, -2.0], n=5)
    np.testing.assert_allclose(z, [[0, 2], [1, 1], [2, 0], [3, -1], [4, -2]])


def test_slerp_follows_the_great_circle():
    a, b = np.array([2.0, 0.0]), np.array([0.0, 2.0])
    z = interpolate(a, b, n=3, method="slerp")
    np.testing.assert_allclose(z[[0, 2]], [a, b], atol=1e-6)
    np.testing.assert_allclose(z[1], [math.sqrt(2), math.sqrt(2)], rtol=1e-6)  # 45 degrees, norm 2
    np.testing.assert_allclose(np.linalg.norm(interpolate(a, b, 7, "slerp"), axis=1), 2, rtol=1e-6)
    # the norm moves linearly between unequal norms; parallel codes fall back to the line
    np.testing.assert_allclose(np.linalg.norm(interpolate([1, 0], [0, 3], 3, "slerp"), axis=1),
                               [1, 2, 3], rtol=1e-6)
    np.testing.assert_allclose(interpolate([1, 1], [2, 2], 3, "slerp"),
                               interpolate([1, 1], [2, 2], 3))
    with pytest.raises(ConfigError, match="'method' parameter of interpolate must be 'linear' or "
                                          "'slerp'. Got 'cubic' instead."):
        interpolate(a, b, method="cubic")


def test_figures_decode_the_expected_codes(tmp_path):
    calls = []
    decode = brightness_decoder(calls)
    latent_traversal(decode, [0.5, -0.5], tmp_path / "t.png", shape=(1, 4, 4), dims=[1],
                     values=[-2, 2])
    np.testing.assert_allclose(calls[-1][0], [[0.5, -2], [0.5, 2]])
    interpolation_grid(decode, [[0.0, 1.0]], [[1.0, 0.0]], tmp_path / "i.png", shape=(1, 4, 4), n=3)
    codes = calls[-1][0]
    np.testing.assert_allclose(codes[:3], interpolate([0, 1], [1, 0], 3))
    np.testing.assert_allclose(codes[3:], interpolate([0, 1], [1, 0], 3, "slerp"))
    class_grid(decode, np.array([[1.0, 0.0], [2.0, 0.0]]), 3, tmp_path / "c.png", shape=(1, 4, 4))
    z, y = calls[-1]
    assert y.tolist() == [0, 0, 1, 1, 2, 2] and z[:, 0].tolist() == [1, 2, 1, 2, 1, 2]
    analogy_grid(decode, np.zeros((2, 16)), np.array([[1.0, 0.0], [2.0, 0.0]]), 3,
                 tmp_path / "a.png", shape=(1, 4, 4), classes=["a", "b", "c"])
    z, y = calls[-1]
    assert y.tolist() == [0, 1, 2, 0, 1, 2] and z[:, 0].tolist() == [1, 1, 1, 2, 2, 2]
    img = mpimg.imread(tmp_path / "a.png")
    assert 1.2 < img.shape[1] / img.shape[0] < 3.5     # 2 rows of 4 tiles (input + 3 classes)
    with pytest.raises(DataError, match="one code per image; got 2 images and 1 codes"):
        analogy_grid(decode, np.zeros((2, 16)), np.zeros((1, 2)), 3, tmp_path / "b.png",
                     shape=(1, 4, 4))


@pytest.mark.parametrize("name,extra,figures", [
    ("vae", {}, ["traversal", "interpolation"]),
    ("cvae", {"n_classes": 3}, ["traversal", "interpolation", "class_grid", "analogies"]),
])
def test_latent_figures_for_a_run_report(tmp_path, name, extra, figures):
    torch.manual_seed(0)
    model = build(name, input_shape=(1, 8, 8), latent_dim=4, hidden=(16,), **extra).eval()
    x = torch.rand(20, 1, 8, 8)
    y = torch.arange(20) % 3
    shown = latent_figures(model, x, y, tmp_path, shape=(1, 8, 8), classes=["a", "b", "c"])
    assert [p.stem for _, p in shown] == figures
    assert all(p.exists() and p.read_bytes()[:4] == b"\x89PNG" for _, p in shown)
    assert latent_figures(build("ae", input_shape=(1, 8, 8), hidden=(8,)), x, y, tmp_path,
                          shape=(1, 8, 8)) == []

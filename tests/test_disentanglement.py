"""Known-answer tests of the disentanglement metrics on synthetic codes: a code that copies the
factors scores ~1, a random rotation of it scores lower, noise scores at chance; plus exact MIG
values for hand-built codes and the plumbing that encodes rendered sprites."""

import re

import numpy as np
import pytest
import torch

from hourglass.data.sprites import Sprites
from hourglass.core.errors import ConfigError
from hourglass.evaluate import (beta_vae_score, factor_vae_score, image_representation, mig_score,
                                mutual_information_gap)

SIZES = (3, 6, 10, 8, 8)            # at most 20 values per factor: MIG's bins can resolve them
SCALE = np.array(SIZES) - 1
ROTATION = np.linalg.qr(np.random.default_rng(1).standard_normal((5, 5)))[0]
SMALL = dict(n_train=600, n_test=400, batch_size=32)


def identity(f):
    return f / SCALE


def rotated(f):
    return identity(f) @ ROTATION.T


def noise(f):
    return np.random.default_rng(int(f.sum()) % 2 ** 32).standard_normal((len(f), 5))


def padded(f):  # the factors plus three dead units
    return np.concatenate([identity(f), np.zeros((len(f), 3))], axis=1)


@pytest.mark.parametrize("score,chance", [(beta_vae_score, 0.2), (factor_vae_score, 0.2)])
def test_supervised_scores_identity_rotation_noise(score, chance):
    ident = score(identity, SIZES, **SMALL)
    rot = score(rotated, SIZES, **SMALL)
    rand = score(noise, SIZES, **SMALL)
    assert ident == 1.0
    assert rot < ident - 0.02
    assert abs(rand - chance) < 0.07
    assert score(padded, SIZES, **SMALL) == 1.0     # dead units change nothing


def test_mig_identity_rotation_noise():
    assert mig_score(identity, SIZES, n=4000) > 0.98
    assert mig_score(rotated, SIZES, n=4000) < 0.5
    assert mig_score(noise, SIZES, n=4000) < 0.02


def test_mig_exact_values_for_hand_built_codes():
    f = np.random.default_rng(0).integers(0, 4, size=(2000, 2))
    # each factor held by one unit, the other unit (nearly) blind to it: gap = H(v) / H(v) = 1
    assert mutual_information_gap(f.astype(float), f) == pytest.approx(1.0, abs=0.01)
    # a factor copied into two units has no gap at all
    assert mutual_information_gap(np.stack([f[:, 0], f[:, 0]], 1).astype(float),
                                  f[:, :1]) == pytest.approx(0.0, abs=1e-12)
    # units independent of the factors
    unrelated = np.random.default_rng(1).integers(0, 4, size=(2000, 2)).astype(float)
    assert mutual_information_gap(unrelated, f) < 0.01


def test_metric_inputs_are_checked():
    with pytest.raises(ConfigError, match=r"codes \(N, d\) and factors \(N, F\) must have the "
                                          r"same N"):
        mutual_information_gap(np.zeros((5, 2)), np.zeros((4, 2), dtype=int))
    with pytest.raises(ConfigError, match="codes need d >= 2"):
        mutual_information_gap(np.zeros((5, 1)), np.zeros((5, 2), dtype=int))
    with pytest.raises(ConfigError, match=re.escape("factor_sizes needs at least two factors")):
        beta_vae_score(identity, (5,))
    with pytest.raises(ConfigError, match=re.escape("represent must return codes of shape (N, d)")):
        factor_vae_score(lambda f: np.zeros(len(f)), SIZES, **SMALL)


def test_image_representation_renders_and_encodes_sprites():
    sprites = Sprites(28)
    seen = []

    def encode(x):  # a "model" whose code is the mean brightness of the top and left halves
        seen.append(x)
        return torch.stack([x[:, 0, :14].mean((1, 2)), x[:, 0, :, :14].mean((1, 2))], 1)

    represent = image_representation(encode, sprites.render, batch_size=7)
    f = sprites.sample_factors(20, np.random.default_rng(0))
    z = represent(f)
    x = torch.from_numpy(sprites.render(f)).float() / 255
    assert z.shape == (20, 2) and len(seen) == 3 and float(seen[0].max()) == 1.0
    np.testing.assert_allclose(z, encode(x).numpy(), rtol=1e-6)

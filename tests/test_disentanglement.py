"""Known-answer tests of the disentanglement metrics on synthetic codes: a code that copies the
factors scores ~1, a random rotation of it scores lower, noise scores at chance; plus exact MIG
values for hand-built codes, the plumbing that encodes rendered sprites, and the same known answers
on the full sprite factor grid, with a hand-made image encoder (centroid and size) as the level a
model can reach from 28x28 images."""

import re

import numpy as np
import pytest
import torch

from hourglass.data.sprites import FACTOR_SIZES, Sprites
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


# ---- the real sprite factor grid (3, 6, 40, 32, 32): known answers at the sizes the sweep uses

def test_true_factors_plus_noise_units_score_near_the_top_on_the_sprite_grid():
    """An encoder that returns the true factors (plus a little noise) and five pure-noise units
    scores at the top of beta-VAE and FactorVAE; MIG stays near its binning cap (x, y and
    orientation have more values than the 20 bins); a random encoder sits at chance."""
    scale = np.array(FACTOR_SIZES) - 1

    def perfect(f):
        rng = np.random.default_rng(int(f.sum()) % 2 ** 32)
        return np.concatenate([f / scale + 0.01 * rng.standard_normal(f.shape),
                               rng.standard_normal((len(f), 5))], axis=1)

    def random_code(f):
        return np.random.default_rng(int(f.sum()) % 2 ** 32).standard_normal((len(f), 10))

    assert beta_vae_score(perfect, FACTOR_SIZES, **SMALL) == 1.0
    assert factor_vae_score(perfect, FACTOR_SIZES, **SMALL) == 1.0
    assert 0.80 < mig_score(perfect, FACTOR_SIZES, n=4000) < 0.90
    assert abs(beta_vae_score(random_code, FACTOR_SIZES, **SMALL) - 0.2) < 0.07
    assert abs(factor_vae_score(random_code, FACTOR_SIZES, **SMALL) - 0.2) < 0.07
    assert mig_score(random_code, FACTOR_SIZES, n=4000) < 0.01


def test_a_hand_made_image_encoder_sets_the_reachable_level_on_sprites():
    """From images, shape and orientation (symmetric shapes) are hard to read, but position and
    size are not: an encoder that returns the centroid, sqrt(area) and two noise units scores
    well above chance on rendered 28x28 sprites; the same code linearly mixed drops MIG."""
    sprites = Sprites(28)
    grid = torch.arange(28.0)
    mix = torch.as_tensor(ROTATION[:3, :3], dtype=torch.float32)

    def measure(x):
        w = x[:, 0]
        m = w.sum((1, 2)).clamp(min=1)
        cx, cy = (w * grid).sum((1, 2)) / m, (w * grid[:, None]).sum((1, 2)) / m
        return torch.stack([(cx - 14) / 6, (cy - 14) / 6, (m.sqrt() - 7) / 2], 1)

    def noise2(n):
        return torch.randn(n, 2, generator=torch.Generator().manual_seed(n))

    def encode(x):
        return torch.cat([measure(x), noise2(len(x))], 1)

    def mixed(x):
        return torch.cat([measure(x) @ mix.T, noise2(len(x))], 1)

    rep = image_representation(encode, sprites.render)
    small = {"n_train": 300, "n_test": 300}
    assert beta_vae_score(rep, FACTOR_SIZES, **small) > 0.7
    assert factor_vae_score(rep, FACTOR_SIZES, **small) > 0.65
    mig = mig_score(rep, FACTOR_SIZES, n=4000)
    assert 0.4 < mig < 0.55
    assert mig_score(image_representation(mixed, sprites.render), FACTOR_SIZES, n=4000) < mig - 0.2

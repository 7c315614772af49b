"""Augmentation and input noise: exact shifts and flips, only on training batches, in the loop."""

import pytest
import torch

from hourglass.core.augment import augment, gaussian_input_noise, random_flip, random_shift
from hourglass.core.errors import ConfigError
from hourglass.models import build
from hourglass.train import TrainConfig, train
from hourglass.train.batches import Batches


def test_shift_moves_each_image_by_its_own_offset():
    x = torch.zeros(64, 1, 5, 5)
    x[:, 0, 2, 2] = 1.0                       # one bright centre pixel
    y = random_shift(x, 2, torch.Generator().manual_seed(0))
    assert y.shape == x.shape
    pos = y.flatten(1).argmax(1)
    rows, cols = pos // 5, pos % 5
    assert torch.all(y.flatten(1).sum(1) == 1)            # the pixel is moved, never lost (|s|<=2)
    assert set(rows.tolist()) == set(range(5)) and set(cols.tolist()) == set(range(5))
    g = torch.Generator().manual_seed(0)
    dy, dx = torch.randint(-2, 3, (2, 64), generator=g)   # the offsets drawn inside
    assert torch.equal(rows, 2 + dy) and torch.equal(cols, 2 + dx)


def test_shift_fills_with_zeros_and_zero_shift_is_identity():
    x = torch.ones(8, 2, 4, 4)
    y = random_shift(x, 3, torch.Generator().manual_seed(1))
    assert y.sum() < x.sum() and set(y.unique().tolist()) <= {0.0, 1.0}
    assert random_shift(x, 0) is x


def test_flip_mirrors_about_half_left_right():
    x = torch.arange(16.0).view(1, 1, 4, 4).expand(1000, 1, 4, 4)
    y = random_flip(x, torch.Generator().manual_seed(0))
    flipped = (y == x.flip(-1)).flatten(1).all(1)
    kept = (y == x).flatten(1).all(1)
    assert torch.all(flipped ^ kept)                      # each image one or the other
    assert 450 < int(flipped.sum()) < 550


def test_input_noise_has_its_std_and_clamps():
    x = torch.full((20000,), 0.5)
    n = gaussian_input_noise(x, 0.1, generator=torch.Generator().manual_seed(0))
    assert float((n - x).std()) == pytest.approx(0.1, rel=0.03)
    c = gaussian_input_noise(torch.zeros(1000), 1.0, clamp=(0.0, 1.0))
    assert float(c.min()) == 0.0 and float(c.max()) <= 1.0


def test_batches_augment_training_only_and_refuse_flat_data():
    x = torch.rand(10, 1, 6, 6)
    train_b = Batches(x, None, device="cpu", augment="shift", augment_shift=1)
    val_b = Batches.validation(x, None, device="cpu", binarize="none", seed=0)
    torch.manual_seed(0)
    assert not torch.equal(train_b.get(slice(0, 10))[0], x)
    assert torch.equal(val_b.get(slice(0, 10))[0], x)
    with pytest.raises(ConfigError, match="augment"):
        Batches(torch.rand(10, 36), None, device="cpu", augment="flip")
    with pytest.raises(ConfigError, match="augment"):
        TrainConfig(augment="rotate").validate()


def test_loop_trains_with_augmentation_and_noise_deterministically():
    x = torch.rand(64, 1, 8, 8)
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        m = build("ae", input_shape=(1, 8, 8), latent_dim=2, hidden=(8,))
        h = train(m, x, config=TrainConfig(epochs=2, batch_size=16, progress=False,
                                           augment="shift-flip", input_noise=0.05))
        runs.append(h[-1]["train_loss"])
    plain = build("ae", input_shape=(1, 8, 8), latent_dim=2, hidden=(8,))
    torch.manual_seed(0)
    base = train(plain, x, config=TrainConfig(epochs=2, batch_size=16, progress=False))
    assert runs[0] == runs[1] != base[-1]["train_loss"]


def test_mixup_is_a_convex_combination_with_beta_lambda():
    from hourglass.core.augment import mixup
    x = torch.randn(32, 5)
    torch.manual_seed(0)
    xm, perm, lam = mixup(x, 0.4)
    assert 0 < lam < 1 and sorted(perm.tolist()) == list(range(32))
    assert torch.allclose(xm, lam * x + (1 - lam) * x[perm])
    torch.manual_seed(1)
    lams = torch.tensor([mixup(x, 0.2)[2] for _ in range(2000)])
    assert float(lams.mean()) == pytest.approx(0.5, abs=0.03)          # Beta(a, a) has mean 1/2
    assert float(lams.var()) == pytest.approx(0.25 / (2 * 0.2 + 1), rel=0.1)  # and var 1/(4(2a+1))


def test_sae_mixup_loss_is_the_mixed_cross_entropy_and_only_in_training():
    import torch.nn.functional as F
    from hourglass.core.augment import mixup
    torch.manual_seed(0)
    x, y = torch.rand(16, 1, 8, 8), torch.randint(0, 10, (16,))
    m = build("sae", input_shape=(1, 8, 8), hidden=(16,), latent_dim=8, mixup=0.3,
              pretrain_epochs=0).train()
    torch.manual_seed(3)
    loss = m(x, y)["loss"]
    torch.manual_seed(3)
    xm, perm, lam = mixup(x, 0.3)
    logits = m.head(m.encode(xm))
    expected = (lam * F.cross_entropy(logits, y) + (1 - lam) * F.cross_entropy(logits, y[perm]))
    assert float(loss.detach()) == pytest.approx(float(expected.detach()), rel=1e-5)
    m.eval()
    assert float(m(x, y)["loss"]) == pytest.approx(float(F.cross_entropy(m.head(m.encode(x)), y)), rel=1e-5)
    with pytest.raises(ConfigError, match="mixup"):
        build("sae", input_shape=(64,), mixup=0.2, finetune="reconstruction")

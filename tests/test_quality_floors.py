"""Quality floors: every registered model, trained for a few seconds on binarized 8x8 digits, must
beat a trivial baseline by a stated margin. A model that stops learning (a collapsed GAN, an
autoencoder that returns the mean image, a density no better than independent pixels) turns this
red.

What is checked follows the model's capabilities:

- a likelihood (``log_prob`` exact or a bound): test NLL at least ``NLL_MARGIN`` below the
  independent-pixel Bernoulli model fitted to the training split;
- reconstruction only (not a classifier): test squared error below ``RECON_SHARE`` of the mean image's;
- a classifier (``classify``): test accuracy at least 3x chance;
- sampling only (GANs): samples as spread out as ``SPREAD_SHARE`` of the data (mean pairwise
  distance) and nearer the data than noise is.

A new model is covered the day it is registered; one that needs other data says so in ``OWN_FLOOR``
with the test file that holds its floor.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from hourglass.models import build, list_models
from hourglass.models.protocol import has
from hourglass.train import TrainConfig, train

NLL_MARGIN = 0.07      # share of the baseline NLL a likelihood model must shave off
RECON_SHARE = 0.6      # reconstruction error, as a share of the mean image's
SPREAD_SHARE = 0.5     # samples' mean pairwise distance, as a share of the data's
OWN_FLOOR = {          # models whose floor needs data of their own kind
    "cyclegan": "tests/test_cyclegan.py (translation error below the identity map's)",
    "rnade": "tests/test_rnade.py (continuous data: beats a diagonal Gaussian)",
}

# small but real settings: a few seconds of training each on 1,000 images
FLOOR_CONFIGS = {
    "ae": dict(latent_dim=8, hidden=(64,)),
    "dae": dict(latent_dim=8, hidden=(64,)),
    "cae": dict(latent_dim=8, hidden=(64,), contraction=0.1),
    "scae": dict(latent_dim=8, hidden=(64,)),
    "sparse-ae": dict(latent_dim=16, hidden=(64,)),
    "sae": dict(latent_dim=8, hidden=(64,), pretrain_epochs=3),
    "vae": dict(latent_dim=8, hidden=(64,)),
    "beta-vae": dict(latent_dim=8, hidden=(64,), beta=2.0),
    "cvae": dict(latent_dim=8, hidden=(64,)),
    "db-vae": dict(latent_dim=8, hidden=(64,)),
    "m2": dict(latent_dim=8, hidden=(64,)),
    "aae": dict(latent_dim=8, hidden=(64,), disc_hidden=(32,)),
    "nade": dict(hidden=(64,)),
    "pixelcnn": dict(channels=16, n_layers=2, kernel_size=3, hidden=(16,)),
    "gated-pixelcnn": dict(channels=16, n_layers=2, kernel_size=3, hidden=(16,)),
    "row-lstm": dict(channels=8, n_layers=1, kernel_size=3, hidden=(16,)),
    "diagonal-bilstm": dict(channels=8, n_layers=1, kernel_size=3, hidden=(16,)),
    "gan": dict(latent_dim=8, hidden=(128,)),
    "dcgan": dict(latent_dim=8, channels=(16, 32)),
    "infogan": dict(latent_dim=8, channels=(16, 32), features=128),
}
# default: 20. Sample spread (share of the data's) at these settings: DCGAN 0.77 at 40 epochs
# (0.63 at 20), InfoGAN 0.84 at 10; the default widths (64, 128) cost 2-4x the time for 0.92.
EPOCHS = {"gan": 40, "dcgan": 40, "sae": 10, "infogan": 10}
PHASED = ("aae", "gan", "dcgan", "infogan")  # their phases set their own learning rates


@pytest.fixture(scope="module")
def digits():
    """1,000 training and 300 test images of the digits, binarized at 0.5, with labels."""
    d = load_digits()
    x = torch.tensor(d.data.reshape(-1, 1, 8, 8) / 16.0 > 0.5, dtype=torch.float32)
    y = torch.tensor(d.target)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    tr, te = order[:1000], order[1000:1300]
    return x[tr], y[tr], x[te], y[te]


def independent_pixel_nll(x_train, x_test) -> float:
    p = x_train.mean(0).clamp(1e-3, 1 - 1e-3)
    ll = x_test * p.log() + (1 - x_test) * (1 - p).log()
    return float(-ll.flatten(1).sum(1).mean())


def mean_pairwise_distance(x) -> float:
    f = x.flatten(1).double()
    return float(torch.cdist(f, f).mean())


def fit(name, digits):
    x, y, _, _ = digits
    torch.manual_seed(0)
    model = build(name, input_shape=(1, 8, 8), **FLOOR_CONFIGS[name],
                  **({"n_classes": 10} if name in ("cvae", "db-vae", "m2", "sae") else {}))
    labels = y if has(model, "labels") else None
    lr = None if name in PHASED else 3e-3
    train(model, x, y=labels, config=TrainConfig(epochs=EPOCHS.get(name, 20), batch_size=32,
                                                 lr=lr, progress=False, seed=0))
    return model.eval()


def test_every_model_has_a_floor():
    assert set(list_models()) == set(FLOOR_CONFIGS) | set(OWN_FLOOR), (
        "a registered model without a quality floor: add it to FLOOR_CONFIGS (or OWN_FLOOR with "
        "the test that holds its floor)")


@pytest.mark.parametrize("name", sorted(FLOOR_CONFIGS))
def test_model_beats_its_trivial_baseline(name, digits):
    x, y, x_test, y_test = digits
    model = fit(name, digits)
    checked = []
    with torch.no_grad():
        if has(model, "log_prob") or has(model, "log_prob_bound"):
            given = (y_test,) if has(model, "conditional") else ()
            kw = {} if has(model, "log_prob") else {"k": 50}
            nll = float(-model.log_prob(x_test, *given, **kw,
                                        generator=torch.Generator().manual_seed(0)).mean()) \
                if not has(model, "log_prob") else float(-model.log_prob(x_test, *given).mean())
            baseline = independent_pixel_nll(x, x_test)
            assert nll < (1 - NLL_MARGIN) * baseline, (name, nll, baseline)
            checked.append("nll")
        elif has(model, "reconstruct") and not has(model, "classify"):
            x_hat = model.reconstruct(x_test)
            err = float(((x_hat - x_test) ** 2).mean())
            mean_err = float(((x.mean(0) - x_test) ** 2).mean())
            assert err < RECON_SHARE * mean_err, (name, err, mean_err)
            checked.append("recon")
        if has(model, "classify"):
            acc = float((model.classify(x_test).argmax(1) == y_test).float().mean())
            assert acc > 0.3, (name, acc)   # 3x chance for 10 classes
            checked.append("classify")
        if has(model, "sample") and not checked:
            s = model.sample(300, generator=torch.Generator().manual_seed(0)).float()
            spread, data_spread = mean_pairwise_distance(s), mean_pairwise_distance(x_test)
            assert spread > SPREAD_SHARE * data_spread, (name, spread, data_spread)  # no collapse
            # nearer the data than uniform noise: distance to the nearest test image
            noise = torch.rand(300, 1, 8, 8, generator=torch.Generator().manual_seed(1)).round()
            near = torch.cdist(s.flatten(1), x_test.flatten(1)).min(1).values.mean()
            near_noise = torch.cdist(noise.flatten(1), x_test.flatten(1)).min(1).values.mean()
            assert near < 0.7 * near_noise, (name, float(near), float(near_noise))
            checked.append("samples")
    assert checked, f"{name}: no floor applies to its capabilities"

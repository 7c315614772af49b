"""Tests of hourglass.uses.debias (latent-density sampling weights against hand-computed values, the
sampler, the imbalanced split, `hourglass debias`), the trainer's ``sample_weights`` and the
db-vae model's loss."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hourglass.cli.main import main
from hourglass.experiments.debias import markdown, run_debias
from hourglass.uses.debias import DebiasSampler, latent_sampling_weights, make_imbalanced
from hourglass.core.errors import ConfigError, DataError
from hourglass.models import build
from hourglass.train import TrainConfig, train

SHAPE = (1, 8, 8)


# --------------------------------------------------------------------------------------------
# the weights


def test_inverse_density_gives_every_occupied_bin_the_same_mass():
    z = np.r_[np.zeros(9), 1.0][:, None]      # 9 codes in one bin, 1 in the other: Q = (.9, .1)
    w = latent_sampling_weights(z, bins=2, alpha=0.0)
    np.testing.assert_allclose(w, np.r_[np.full(9, 1 / 18), 0.5])   # 1/0.9 each vs 1/0.1


def test_alpha_smooths_towards_uniform():
    z = np.r_[np.zeros(9), 1.0][:, None]
    # W ~ 1 / (Q + alpha) = 1/1.0 and 1/0.2: weights 1 and 5, normalized by 9 + 5
    np.testing.assert_allclose(latent_sampling_weights(z, bins=2, alpha=0.1),
                               np.r_[np.full(9, 1 / 14), 5 / 14])
    big = latent_sampling_weights(z, bins=2, alpha=1e9)
    np.testing.assert_allclose(big, np.full(10, 0.1), rtol=1e-8)
    np.testing.assert_allclose(latent_sampling_weights(np.ones((5, 3))), np.full(5, 0.2))


def test_max_and_product_across_dimensions():
    z = np.array([[0, 0], [0, 0], [0, 1], [1, 1.0]])
    # dim 0: Q = (3/4, 1/4) -> 1/Q = 4/3, 4/3, 4/3, 4; dim 1: Q = (1/2, 1/2) -> 2, 2, 2, 2
    np.testing.assert_allclose(latent_sampling_weights(z, bins=2, alpha=0, combine="max"),
                               [0.2, 0.2, 0.2, 0.4])                  # (2, 2, 2, 4) / 10
    np.testing.assert_allclose(latent_sampling_weights(z, bins=2, alpha=0, combine="product"),
                               [1 / 6, 1 / 6, 1 / 6, 1 / 2])          # (8/3, 8/3, 8/3, 8) / 16


def test_weight_errors():
    with pytest.raises(ConfigError, match=r"The 'bins' parameter of latent_sampling_weights must "
                                          r"be an int in the range \[1, inf\). Got 0 instead."):
        latent_sampling_weights(np.zeros((3, 1)), bins=0)
    with pytest.raises(ConfigError, match=r"The 'combine' parameter .* Got 'mean' instead."):
        latent_sampling_weights(np.zeros((3, 1)), combine="mean")
    with pytest.raises(DataError, match="finite codes"):
        latent_sampling_weights(np.array([[np.nan]]))


# --------------------------------------------------------------------------------------------
# the trainer's sample_weights, the sampler


def test_one_hot_weights_train_on_that_example_alone():
    x = torch.rand(8, *SHAPE, generator=torch.Generator().manual_seed(0))
    config = TrainConfig(epochs=2, batch_size=4, seed=0, progress=False)
    one_hot = torch.zeros(8)
    one_hot[3] = 1.0
    torch.manual_seed(0)
    a = build("ae", input_shape=SHAPE, hidden=(16,), latent_dim=2)
    hist_a = train(a, x, config=config, sample_weights=lambda epoch: one_hot)
    torch.manual_seed(0)
    b = build("ae", input_shape=SHAPE, hidden=(16,), latent_dim=2)
    hist_b = train(b, x[3].expand(8, *SHAPE).clone(), config=config)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    assert [r["train_loss"] for r in hist_a] == [r["train_loss"] for r in hist_b]


def test_sampler_weights_follow_the_codes_and_keep_the_mode():
    torch.manual_seed(0)
    model = build("vae", input_shape=SHAPE, hidden=(16,), latent_dim=3)
    x = (torch.rand(50, *SHAPE, generator=torch.Generator().manual_seed(1)) * 255).to(torch.uint8)
    sampler = DebiasSampler(model, x, bins=5, alpha=0.01)
    model.train()
    w = sampler(0)
    assert model.training and w.shape == (50,) and float(w.sum()) == pytest.approx(1.0)
    model.eval()
    with torch.no_grad():
        z = model.encode(x.float() / 255).numpy()
    np.testing.assert_allclose(w.numpy(), latent_sampling_weights(z, bins=5, alpha=0.01),
                               rtol=1e-5)
    with pytest.raises(ConfigError, match="the NADE model has no encoder"):
        DebiasSampler(build("nade", input_shape=SHAPE, hidden=(4,)), x)


def test_make_imbalanced_keeps_the_share_asked_for():
    y = np.repeat(np.arange(4), 50)                    # 50 of each class
    idx = make_imbalanced(y, 2, 0.1, seed=0)
    assert np.bincount(y[idx]).tolist() == [50, 50, 5, 50]
    assert np.bincount(y[make_imbalanced(y, 1, 0.001)]).tolist() == [50, 1, 50, 50]  # >= 1
    assert (np.diff(idx) > 0).all()
    with pytest.raises(ConfigError, match=r"keep must be a share in \(0, 1\]. Got 0 instead."):
        make_imbalanced(y, 2, 0)
    with pytest.raises(DataError, match="Class 7 has no training examples"):
        make_imbalanced(y, 7, 0.5)


# --------------------------------------------------------------------------------------------
# the db-vae model


def test_db_vae_loss_is_cross_entropy_plus_weighted_negative_elbo():
    torch.manual_seed(0)
    x = torch.rand(6, *SHAPE).round()
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    model = build("db-vae", input_shape=SHAPE, hidden=(16,), latent_dim=2, n_classes=3,
                  vae_weight=0.0)
    terms = model(x, y)
    ce = F.cross_entropy(model.classify(x), y)
    assert torch.allclose(terms["loss"], ce) and torch.allclose(terms["ce"], ce)
    model.config.vae_weight = 2.0
    torch.manual_seed(1)
    terms = model(x, y)
    expected = ce + 2.0 * (terms["recon"] + terms["kl"]) / 64   # beta = 1, D = 64
    assert torch.allclose(terms["loss"], expected, atol=1e-6)
    with pytest.raises(ConfigError, match="needs n_classes=K"):
        build("db-vae", input_shape=SHAPE)


# --------------------------------------------------------------------------------------------
# the demonstration


def test_run_debias_on_digits(tmp_path):
    result = run_debias("digits", rare_class=3, keep=0.1, epochs=1, latent_dim=2, hidden=(16,),
                        out=tmp_path)
    from hourglass.data import load
    y_train = load("digits", val_fraction=0.0).train.y.numpy()
    n3 = int((y_train == 3).sum())
    assert result["n_rare_train"] == round(0.1 * n3)
    assert result["n_train"] == len(y_train) - n3 + round(0.1 * n3)
    uniform, debiased = result["rows"]
    assert (uniform["training"], debiased["training"]) == ("uniform", "debiased")
    for row in result["rows"]:
        assert 0 <= row["rare_class_accuracy"] <= 1 and 0 < row["rare_sampling_mass"] < 1
    assert json.loads((tmp_path / "debias.json").read_text())["rows"] == result["rows"]
    assert (tmp_path / "debias.md").read_text() == markdown(result)
    assert {p.name for p in tmp_path.iterdir()} == {"debias.json", "debias.md", "rarest.png",
                                                    "most_common.png"}


def test_cli_debias_needs_labels(tmp_path, capsys):
    rc = main(["debias", "--data", "swiss-roll", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2 and err == ("hourglass: error: Debiasing is shown with a classifier; "
                               "'swiss-roll' has no labels. Use labelled data: digits, "
                               "fashion-mnist, or an .npz file with y.\n")

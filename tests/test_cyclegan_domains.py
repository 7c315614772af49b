"""CycleGAN (Zhu et al. 2017) trains on two domains and refuses class labels: y must be 0 (domain
A) or 1 (domain B). The check runs once per fit, on the first training batch, not on every step."""

from __future__ import annotations

import pytest
import torch
from cli_helpers import assert_one_error_line, cli

from hourglass.core.errors import DataError
from hourglass.models import build
from hourglass.models import cyclegan as cg
from hourglass.train import TrainConfig, train

TINY = dict(input_shape=(1, 8, 8), filters=4, n_residual=0, hidden=(4,))


def _images(n, seed=0):
    return torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(seed))


def test_the_cli_refuses_a_single_domain_dataset_in_one_line(capsys, tmp_path):
    rc, _, err = cli(["train", "cyclegan", "--data", "digits", "--n", "128", "--epochs", "1",
                      "--filters", "4", "--n-residual", "0", "--hidden", "4", "--quiet",
                      "--out", tmp_path / "run"], capsys)
    assert_one_error_line(rc, err, "CycleGAN trains on two domains",
                          "y must hold 0 (domain A) and 1 (domain B)", "got labels 0..9",
                          "digits-thick")
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_training_on_class_labels_is_refused_with_the_fix():
    model = build("cyclegan", **TINY)
    y = torch.arange(32) % 10
    with pytest.raises(DataError, match=r"got labels 0\.\.9.*two-domain dataset such as "
                                        r"digits-thick or fashion-mnist-thick"):
        train(model, _images(32), y=y, config=TrainConfig(epochs=1, batch_size=16,
                                                          progress=False))


def test_check_domains_refuses_other_values_and_a_single_domain():
    cg.check_domains(torch.tensor([0, 1, 1, 0]))
    cg.check_domains(torch.tensor([0.0, 1.0]))  # float labels of the two domains are fine
    cg.check_domains(torch.tensor([1, 1]), both=False)  # a batch may hold one domain
    with pytest.raises(DataError, match="got labels 0, 2"):
        cg.check_domains(torch.tensor([0, 2, 2]))
    with pytest.raises(DataError, match=r"got labels -1\.\.1"):
        cg.check_domains(torch.tensor([-1, 0, 1]))
    with pytest.raises(DataError, match="got labels 0, 0.5, 1"):
        cg.check_domains(torch.tensor([0.0, 0.5, 1.0]))
    with pytest.raises(DataError, match=r"every row is of domain A \(y = 0\)"):
        cg.check_domains(torch.zeros(5, dtype=torch.long))
    with pytest.raises(DataError, match=r"every row is of domain B \(y = 1\)"):
        cg.check_domains(torch.ones(5, dtype=torch.long))


def test_the_check_runs_once_per_fit_not_per_step(monkeypatch):
    calls = []
    real = cg.check_domains
    monkeypatch.setattr(cg, "check_domains", lambda y, **kw: (calls.append(len(y)), real(y, **kw)))
    model = build("cyclegan", **TINY)
    y = torch.arange(40) % 2
    config = TrainConfig(epochs=2, batch_size=8, progress=False)
    history = train(model, _images(40), y=y, config=config)  # 2 epochs x 5 steps x 2 phases
    assert len(history) == 2 and calls == [40]   # once, on all the labels
    train(model, _images(40), y=y, config=config)  # a second fit checks its data again
    assert calls == [40, 40]
    with pytest.raises(DataError, match="every row is of domain A"):  # one domain: refused too
        train(build("cyclegan", **TINY), _images(40), y=torch.zeros(40, dtype=torch.long),
              config=config)


def test_the_unpaired_dataset_trains():
    from hourglass.data import load
    from hourglass.data.unpaired import unpaired
    ds = unpaired(load("digits"), "thick").dataset
    cg.check_domains(ds.train.y)
    model = build("cyclegan", input_shape=ds.shape, filters=4, n_residual=0, hidden=(4,))
    rows = torch.randperm(len(ds.train), generator=torch.Generator().manual_seed(0))[:64]
    history = train(model, ds.train.x[rows], y=ds.train.y[rows],
                    config=TrainConfig(epochs=1, batch_size=32, progress=False))
    assert torch.isfinite(torch.tensor(history[-1]["train_gen_loss"]))

"""Learning-rate schedules: closed forms of the factor, what the loop sets, bitwise resume."""

import math

import pytest
import torch

from hourglass.core.errors import ConfigError
from hourglass.models import build
from hourglass.train import TrainConfig, train
from hourglass.train.schedule import lr_factor


def test_cosine_closed_form():
    total = 100
    assert lr_factor(0, total, schedule="cosine") == 1.0
    assert lr_factor(50, total, schedule="cosine") == pytest.approx(0.5)
    assert lr_factor(100, total, schedule="cosine") == pytest.approx(0.0, abs=1e-12)
    assert lr_factor(100, total, schedule="cosine", min_ratio=0.1) == pytest.approx(0.1)
    t = 0.3
    assert lr_factor(30, total, schedule="cosine", min_ratio=0.2) == pytest.approx(
        0.2 + 0.8 * 0.5 * (1 + math.cos(math.pi * t)))


def test_warmup_is_linear_then_schedule_starts():
    f = [lr_factor(s, 20, schedule="cosine", warmup_steps=4) for s in range(6)]
    assert f[:4] == [0.25, 0.5, 0.75, 1.0]
    assert f[4] == 1.0 and f[5] < 1.0   # the cosine starts at 1 after the warm-up


def test_step_schedule():
    f = [lr_factor(s, 1000, schedule="step", steps_per_epoch=10, step_every=3, gamma=0.1)
         for s in (0, 29, 30, 59, 60)]
    assert f == pytest.approx([1, 1, 0.1, 0.1, 0.01])


def _run(tmp_path=None, **kw):
    torch.manual_seed(0)
    x = torch.rand(64, 1, 8, 8)
    model = build("ae", input_shape=(1, 8, 8), latent_dim=2, hidden=(8,))
    cfg = TrainConfig(epochs=4, batch_size=16, progress=False, lr=0.01, **kw)
    return model, train(model, x, config=cfg, run_dir=tmp_path)


def test_loop_records_the_scheduled_rate():
    _, hist = _run(lr_schedule="cosine", lr_min_ratio=0.1, lr_warmup_epochs=1)
    # rate of the last step of each epoch: warm-up ends at step 4, 16 steps in all
    expected = [0.01 * lr_factor(4 * (e + 1) - 1, 16, schedule="cosine", warmup_steps=4,
                                 min_ratio=0.1, steps_per_epoch=4) for e in range(4)]
    assert [r["lr"] for r in hist] == pytest.approx(expected)
    assert hist[0]["lr"] == pytest.approx(0.01)   # end of the warm-up
    _, plain = _run()
    assert "lr" not in plain[0]


def test_schedule_resumes_bitwise(tmp_path):
    full_model, full = _run(lr_schedule="cosine")
    # stop after 2 epochs, then resume to 4
    torch.manual_seed(0)
    x = torch.rand(64, 1, 8, 8)
    model = build("ae", input_shape=(1, 8, 8), latent_dim=2, hidden=(8,))
    train(model, x, config=TrainConfig(epochs=2, batch_size=16, progress=False, lr=0.01,
                                       lr_schedule="cosine"), run_dir=tmp_path)
    # the schedule's length is the run's epochs: the resumed run is told 4
    model2 = build("ae", input_shape=(1, 8, 8), latent_dim=2, hidden=(8,))
    hist = train(model2, x, config=TrainConfig(epochs=4, batch_size=16, progress=False, lr=0.01,
                                               lr_schedule="cosine"), run_dir=tmp_path, resume=True)
    assert len(hist) == 4
    # epochs 1-2 ran under a 2-epoch cosine, so only the resumed rates are compared
    assert hist[-1]["lr"] == pytest.approx(full[-1]["lr"])


def test_schedule_resume_same_length_is_bitwise(tmp_path):
    full_model, full = _run(lr_schedule="step", lr_step_every=1, lr_gamma=0.5)
    torch.manual_seed(0)
    x = torch.rand(64, 1, 8, 8)
    cfg = TrainConfig(epochs=4, batch_size=16, progress=False, lr=0.01, lr_schedule="step",
                      lr_step_every=1, lr_gamma=0.5, checkpoint_every=6)
    model = build("ae", input_shape=(1, 8, 8), latent_dim=2, hidden=(8,))

    class Stop(Exception):
        pass

    def stop_after_two(row, m):
        if row["epoch"] == 2:
            raise Stop
    with pytest.raises(Stop):
        train(model, x, config=cfg, run_dir=tmp_path, on_epoch_end=stop_after_two)
    model2 = build("ae", input_shape=(1, 8, 8), latent_dim=2, hidden=(8,))
    hist = train(model2, x, config=cfg, run_dir=tmp_path, resume=True)
    assert [r["lr"] for r in hist] == pytest.approx([0.01, 0.005, 0.0025, 0.00125])
    for a, b in zip(full_model.state_dict().values(), model2.state_dict().values()):
        assert torch.equal(a, b)


def test_bad_schedule_options_are_refused():
    with pytest.raises(ConfigError, match="lr_schedule"):
        TrainConfig(lr_schedule="linear").validate()
    with pytest.raises(ConfigError, match="lr_min_ratio"):
        TrainConfig(lr_min_ratio=2.0).validate()

"""Weight averaging (Polyak & Juditsky 1992): the closed form of the average, what training
returns, validation on the averaged weights, and a bitwise resume."""

import pytest
import torch

from hourglass.core.errors import ConfigError
from hourglass.models import build
from hourglass.train import TrainConfig, train
from hourglass.train.averaging import WeightAverage


class Linear(torch.nn.Module):
    """loss = c * a: a constant gradient c, so plain SGD moves a by -lr*c every step."""

    def __init__(self):
        super().__init__()
        self.a = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x, y=None):
        loss = 2.0 * self.a + 0 * x.sum()
        return {"loss": loss}


def expected_average(steps: int, decay: float, lr: float, c: float = 2.0) -> float:
    avg = 0.0  # the initial weight
    for t in range(steps):
        theta = -lr * c * (t + 1)
        d = min(decay, (1 + t) / (10 + t))
        avg = d * avg + (1 - d) * theta
    return avg


def test_training_ends_with_the_closed_form_average():
    model = Linear()
    x = torch.zeros(40, 3)
    cfg = TrainConfig(epochs=3, batch_size=4, optimizer="sgd", lr=0.1, ema_decay=0.9, progress=False)
    train(model, x, config=cfg)
    # 30 steps; the last iterate is -0.1 * 2 * 30 = -6, the average lags behind it
    assert float(model.a.detach()) == pytest.approx(expected_average(30, 0.9, 0.1), rel=1e-5)
    assert float(model.a.detach()) > -6.0 + 0.5


def test_decay_zero_is_the_last_iterate():
    model = Linear()
    train(model, torch.zeros(40, 3), config=TrainConfig(epochs=1, batch_size=4, optimizer="sgd",
                                                       lr=0.1, ema_decay=0.0, progress=False))
    assert float(model.a.detach()) == pytest.approx(-2.0)


def test_validation_sees_the_averaged_weights():
    torch.manual_seed(0)
    x, v = torch.rand(64, 1, 8, 8), torch.rand(32, 1, 8, 8)
    model = build("ae", input_shape=(1, 8, 8), latent_dim=2, hidden=(8,))
    hist = train(model, x, val_x=v, config=TrainConfig(epochs=2, batch_size=16, lr=0.05,
                                                       ema_decay=0.8, progress=False))
    model.eval()
    with torch.no_grad():
        assert float(model(v)["loss"]) == pytest.approx(hist[-1]["val_loss"], rel=1e-5)


def test_swap_restores_the_weights():
    model = Linear()
    avg = WeightAverage(model, 0.5)
    with torch.no_grad():
        model.a.fill_(4.0)
    avg.update(100)             # d = 0.5: average of 0 and 4
    with avg.swapped():
        assert float(model.a.detach()) == 2.0
    assert float(model.a.detach()) == 4.0
    avg.apply()
    assert float(model.a.detach()) == 2.0


def _ae():
    return build("ae", input_shape=(1, 8, 8), latent_dim=2, hidden=(8,))


def test_resume_with_averaging_is_bitwise(tmp_path):
    torch.manual_seed(0)
    x = torch.rand(64, 1, 8, 8)
    cfg = TrainConfig(epochs=4, batch_size=16, lr=0.02, ema_decay=0.95, progress=False,
                      checkpoint_every=6)
    full = _ae()
    torch.manual_seed(1)
    full.load_state_dict(_ae().state_dict())
    start = {k: v.clone() for k, v in full.state_dict().items()}
    train(full, x, config=cfg)

    class Stop(Exception):
        pass

    def stop_after_two(row, m):
        if row["epoch"] == 2:
            raise Stop

    model = _ae()
    model.load_state_dict(start)
    with pytest.raises(Stop):
        train(model, x, config=cfg, run_dir=tmp_path, on_epoch_end=stop_after_two)
    resumed = _ae()
    train(resumed, x, config=cfg, run_dir=tmp_path, resume=True)
    for a, b in zip(full.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)


def test_bad_decay_is_refused():
    with pytest.raises(ConfigError, match="ema_decay"):
        TrainConfig(ema_decay=1.0).validate()

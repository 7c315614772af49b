"""on_nonfinite="skip": a step whose gradient is not finite is skipped, the phase's learning rate
is halved, and the epoch's numbers leave the skipped rows out; too many in a row stop the run."""

from __future__ import annotations

import json

import pytest
import torch

from hourglass.core.errors import RunError
from hourglass.train import TrainConfig, train
from hourglass.train.nonfinite import NONFINITE_LR_FACTOR, NONFINITE_MAX_SKIPS


class Mean(torch.nn.Module):
    """Fits `a` to the data mean: loss = mean((x - a)^2)."""

    def __init__(self):
        super().__init__()
        self.a = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x, y=None):
        return {"loss": ((x[:, 0] - self.a) ** 2).mean()}


def data(bad_rows=(5,)):
    x = torch.linspace(0, 1, 40).reshape(40, 1)
    x[list(bad_rows)] = float("inf")  # a corrupt example: its batch's gradient is not finite
    return x


def config(**kw):
    return TrainConfig(**{"epochs": 6, "batch_size": 8, "optimizer": "sgd", "lr": 0.2,
                          "progress": False, "seed": 0, "on_nonfinite": "skip", **kw})


def test_stop_is_the_default_and_names_the_batch():
    with pytest.raises(RunError, match=r"non-finite in epoch 1 \(train_loss\), batch"):
        train(Mean(), data(), config=config(on_nonfinite="stop"))


def replay(x, epochs, lr, bs=8, seed=0):
    """The same training written out by hand: SGD on a, batches of a seeded permutation, a batch
    with a non-finite gradient skipped and the lr multiplied by the factor."""
    a, shuffle, rows = torch.zeros(1), torch.Generator().manual_seed(seed), []
    for _ in range(epochs):
        perm, total, used, skipped = torch.randperm(len(x), generator=shuffle), 0.0, 0, 0
        for start in range(0, len(x), bs):
            xb = x[perm[start:start + bs], 0]
            grad = (-2 * (xb - a)).mean()
            if not torch.isfinite(grad):
                lr *= NONFINITE_LR_FACTOR
                skipped += 1
                continue
            total += float(((xb - a) ** 2).mean()) * len(xb)
            used += len(xb)
            a = a - lr * grad
        rows.append({"train_loss": total / used, "skipped_steps": skipped})
    return a, lr, rows


def test_skip_matches_the_hand_written_replay(tmp_path):
    x = data()
    model = Mean()
    history = train(model, x, config=config(), run_dir=tmp_path)
    a, lr, rows = replay(x, epochs=6, lr=0.2)
    assert [row["skipped_steps"] for row in history] == [r["skipped_steps"] for r in rows] == [1] * 6
    assert float(model.a.detach()) == pytest.approx(float(a), abs=1e-6)
    for got, want in zip(history, rows):
        assert got["train_loss"] == pytest.approx(want["train_loss"], rel=1e-5)
    # the lowered learning rate is what the checkpoint keeps (a resume continues with it)
    state = json.loads((tmp_path / "checkpoint.json").read_text())
    assert state["optimizers"]["main"]["param_groups"][0]["lr"] == pytest.approx(lr)
    assert lr == pytest.approx(0.2 * NONFINITE_LR_FACTOR ** 6)


def test_too_many_skips_in_a_row_stop_the_run():
    x = torch.full((400, 1), float("nan"))
    with pytest.raises(RunError, match=f"non-finite for {NONFINITE_MAX_SKIPS + 1} steps in a row"):
        train(Mean(), x, config=config())

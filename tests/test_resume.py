"""Never lose a run: step checkpoints, resume after SIGKILL/SIGTERM with bitwise-identical final
weights, SIGINT/SIGTERM checkpoint-and-stop, keep the last K, the run lock, non-finite loss named by
batch and term."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from hourglass.core.errors import RunError
from hourglass.models import build
from hourglass.train import TrainConfig, train
from hourglass.train.lock import run_lock
from hourglass.train.signals import Interrupted

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
RUN = [sys.executable, "-m", "hourglass", "train", "vae", "--data", "digits", "--n", "300",
       "--latent-dim", "2", "--hidden", "16", "--epochs", "6", "--batch-size", "10",
       "--checkpoint-every", "5", "--quiet", "--no-eval", "--out"]
STEPS_PER_EPOCH = 30  # 300 training examples (--n; validation is split off the rest), batches of 10


def _weights(run):
    return load_file(str(run / "model.safetensors"))


def _position(run) -> int:
    """Global step of the checkpoint in `run` (0 if none yet)."""
    try:
        state = json.loads((run / "checkpoint.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return 0
    return state["epoch"] * STEPS_PER_EPOCH + state["step"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run."""
    out = tmp_path_factory.mktemp("ref") / "run"
    subprocess.run([*RUN, str(out)], env=ENV, check=True, capture_output=True, timeout=300)
    return out


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killed_run_resumes_to_bitwise_identical_weights(reference, tmp_path, sig):
    out = tmp_path / "run"
    target = random.Random(sig).randrange(6, 110)  # a random step (seeded) past the first checkpoint
    proc = subprocess.Popen([*RUN, str(out)], env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while _position(out) < target and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    killed_at = _position(out)
    assert not (out / "model.safetensors").exists(), "the run finished before the signal"
    assert 0 < killed_at < 6 * STEPS_PER_EPOCH
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
        assert (out / ".lock").exists()  # left behind by the dead process, taken over below
    else:  # SIGTERM: the current step finishes, a checkpoint is written, one line, status 130
        assert proc.returncode == 130
        assert err.splitlines() == [
            f"hourglass: interrupted: SIGTERM received: stopped after step {killed_at % STEPS_PER_EPOCH or STEPS_PER_EPOCH} "
            f"of epoch {(killed_at - 1) // STEPS_PER_EPOCH + 1} and saved a checkpoint in {out}. Continue "
            "with the same command and --resume."]
        assert not (out / ".lock").exists()
    resumed = subprocess.run([*RUN, str(out), "--resume"], env=ENV, capture_output=True,
                             text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    ref, got = _weights(reference), _weights(out)
    assert ref.keys() == got.keys()
    for k in ref:
        assert torch.equal(ref[k], got[k]), k
    ref_hist = [r.split(",")[:-1] for r in (reference / "history.csv").read_text().splitlines()]
    got_hist = [r.split(",")[:-1] for r in (out / "history.csv").read_text().splitlines()]
    assert got_hist == ref_hist  # every loss term of every epoch, time_s aside


# --- in-process: signals, mid-epoch resume, keep-K, non-finite


class _SignalAt(torch.nn.Module):
    """A VAE that sends itself `sig` during its `at`-th forward pass."""

    def __init__(self, sig=None, at=None):
        super().__init__()
        torch.manual_seed(0)  # the same initial weights every time
        self.vae = build("vae", input_shape=(6,), latent_dim=2, hidden=(8,),
                         likelihood="gaussian")
        self.sig, self.at, self.calls = sig, at, 0

    def forward(self, x, y=None):
        self.calls += 1
        if self.calls == self.at:
            os.kill(os.getpid(), self.sig)
        return self.vae(x)


X = torch.randn(64, 6, generator=torch.Generator().manual_seed(0))
CONFIG = dict(epochs=3, batch_size=8, checkpoint_every=3, progress=False, seed=1)


def _train(run_dir, model, **kw):
    torch.manual_seed(0)
    return train(model, X, config=TrainConfig(**{**CONFIG, **kw}), run_dir=run_dir)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_checkpoints_mid_epoch_and_resume_matches(tmp_path, sig):
    before = signal.getsignal(sig)
    ref_model = _SignalAt()
    ref_hist = _train(tmp_path / "ref", ref_model)
    model = _SignalAt(sig, at=13)  # during step 5 of epoch 2 (8 steps per epoch)
    with pytest.raises(Interrupted, match=f"{signal.Signals(sig).name} received: stopped after "
                                          "step 5 of epoch 2 and saved a checkpoint"):
        _train(tmp_path / "run", model)
    state = json.loads((tmp_path / "run" / "checkpoint.json").read_text())
    assert (state["epoch"], state["step"]) == (1, 5)
    assert signal.getsignal(sig) is before  # the handlers in place before are restored
    resumed = _SignalAt()
    torch.manual_seed(0)
    hist = train(resumed, X, config=TrainConfig(**CONFIG), run_dir=tmp_path / "run", resume=True)
    for a, b in zip(ref_model.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    drop = lambda rows: [{k: v for k, v in r.items() if k != "time_s"} for r in rows]  # noqa: E731
    assert drop(hist) == drop(ref_hist)


def test_keep_last_k_checkpoints(tmp_path):
    _train(tmp_path, _SignalAt(), keep_checkpoints=3)
    # 8 steps per epoch, a checkpoint every 3 steps and at epoch ends: ... (2, 2), (2, 5), (3, 0)
    kept = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert kept == ["epoch00002-step0000002.safetensors", "epoch00002-step0000005.safetensors"]
    state = json.loads((tmp_path / "checkpoint.json").read_text())
    assert (state["epoch"], state["step"]) == (3, 0)


class _Explodes(torch.nn.Module):
    """Loss terms finite until forward call `at`, then the 'kl' term is +inf."""

    def __init__(self, at):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(6))
        self.at, self.calls = at, 0

    def forward(self, x, y=None):
        self.calls += 1
        rec = ((x - self.w) ** 2).sum(1).mean()
        kl = rec * 0 + (float("inf") if self.calls >= self.at else 0.0)
        return {"loss": rec, "rec": rec, "kl": kl}


def test_non_finite_loss_names_batch_and_term_and_keeps_last_checkpoint(tmp_path):
    with pytest.raises(RunError, match=r"non-finite in epoch 2 \(train_kl\), batches 5-7\. "):
        _train(tmp_path, _Explodes(at=13))  # batch 5 of epoch 2, found at the next checkpoint
    state = json.loads((tmp_path / "checkpoint.json").read_text())
    assert (state["epoch"], state["step"]) == (1, 4)  # the last good one, global step 12
    tensors = load_file(str(tmp_path / "checkpoint.safetensors"))
    assert torch.isfinite(tensors["extra.totals.kl"]).all()


def test_lock_refuses_a_live_owner_and_takes_over_a_dead_ones(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / ".lock").write_text(f"{dead.pid}\n")
    with run_lock(tmp_path) as path:
        assert path.read_text() == f"{os.getpid()}\n"
        live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        try:
            path.write_text(f"{live.pid}\n")  # as if another live run held it
            with pytest.raises(RunError, match=f"is being written by another run \\(PID "
                                               f"{live.pid}, see "):
                with run_lock(tmp_path):
                    pass
        finally:
            live.kill()
            live.wait()
        path.write_text(f"{os.getpid()}\n")
    assert not (tmp_path / ".lock").exists()

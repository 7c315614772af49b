"""A full disk or a file-size limit: refused before training where it can be seen, one clear line
and no half-written file where it cannot, and a run that resumes to the weights it would have had.

The mid-run faults are real: the training subprocess runs under ``RLIMIT_FSIZE`` (``ulimit -f``),
so a write past the limit fails with EFBIG exactly as it does on a file system at its size limit
(no root, no special mount). ENOSPC itself is injected into the atomic writer.
"""

from __future__ import annotations

import errno
import io
import json
import os
import resource
import signal
import subprocess
import sys

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from hourglass.runs import workflow
from hourglass.core.io import WriteError, atomic_open, atomic_save_safetensors, atomic_write_bytes
from hourglass.core.errors import RunError
from hourglass.models import build
from hourglass.train import TrainConfig

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
RUN = [sys.executable, "-m", "hourglass", "train", "vae", "--data", "digits", "--n", "300",
       "--latent-dim", "2", "--hidden", "16", "--epochs", "3", "--batch-size", "10",
       "--keep-checkpoints", "3", "--quiet", "--no-eval", "--out"]
ENOSPC = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _train(out, *extra, limit=None):
    """The CLI in a subprocess, its files limited to `limit` bytes each (SIGXFSZ ignored, so a
    write past the limit fails with EFBIG instead of killing the process)."""
    def limit_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    return subprocess.run([*RUN, str(out), *extra], env=ENV, capture_output=True, text=True,
                          timeout=300, preexec_fn=None if limit is None else limit_files)


def _assert_whole(out):
    """Nothing half-written in `out`: no temp, probe or lock file left; every file loads."""
    assert sorted(p.name for p in out.rglob(".*")) == []
    for p in out.rglob("*.safetensors"):
        load_file(str(p))
    for p in out.rglob("*.json"):
        json.loads(p.read_text())


def _assert_same_weights(a, b):
    ta, tb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    assert ta.keys() == tb.keys()
    for k in ta:
        assert torch.equal(ta[k], tb[k]), k


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The run without a limit, and the sizes of its epoch-1 and epoch-2 checkpoints (kept)."""
    out = tmp_path_factory.mktemp("ref") / "run"
    done = _train(out)
    assert done.returncode == 0, done.stderr
    kept = sorted((out / "checkpoints").iterdir())
    return out, [p.stat().st_size for p in kept]


def test_checkpoint_past_the_limit_fails_cleanly_and_resumes_to_the_same_weights(
        reference, tmp_path):
    ref, (size1, size2) = reference
    # the checkpoint grows with the history in its metadata: epoch 1's fits, epoch 2's does not
    assert size2 - size1 >= 128
    out = tmp_path / "run"
    failed = _train(out, limit=(size1 + size2) // 2)
    assert failed.returncode == 2
    assert failed.stderr.splitlines() == [
        f"hourglass: error: Could not write {out}/checkpoint.safetensors: File too large. "
        "Raise the file-size limit (ulimit -f) and continue with --resume; the last checkpoint "
        "is intact."]
    _assert_whole(out)
    assert not (out / "model.safetensors").exists()
    meta = safe_open(str(out / "checkpoint.safetensors"), "pt").metadata()
    assert json.loads(meta["state"])["epoch"] == 1
    assert (out / "checkpoint.safetensors").stat().st_size == size1

    resumed = _train(out, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    _assert_whole(out)
    _assert_same_weights(ref, out)
    drop_time = lambda p: [r.split(",")[:-1] for r in p.read_text().splitlines()]  # noqa: E731
    assert drop_time(out / "history.csv") == drop_time(ref / "history.csv")


def test_first_checkpoint_past_the_limit_leaves_only_the_config(reference, tmp_path):
    ref, (size1, _) = reference
    out = tmp_path / "run"
    limit = size1 // 2
    assert (ref / "config.json").stat().st_size < limit  # the config fits, the checkpoint not
    failed = _train(out, limit=limit)
    assert failed.returncode == 2
    assert failed.stderr.splitlines() == [
        f"hourglass: error: Could not write {out}/checkpoint.safetensors: File too large. "
        "Raise the file-size limit (ulimit -f) and run the command again; nothing was "
        "half-written."]
    assert sorted(p.name for p in out.rglob("*")) == ["config.json"]
    _assert_whole(out)

    again = _train(out)  # the same command, as the message says
    assert again.returncode == 0, again.stderr
    _assert_same_weights(ref, out)


# --- the free-space check before training


def _n_params(d, h, z):
    """An MLP VAE d -> h -> (mu, logvar) in z -> h -> d: weights and biases."""
    return (d * h + h) + 2 * (h * z + z) + (z * h + h) + (h * d + d)


@pytest.mark.parametrize("optimizer, patience, keep, per_param", [
    # bytes per parameter in float32: weights W = 4; a checkpoint C = W + optimizer + best copy;
    # peak = max(2, keep) C + W (model.safetensors)
    ("adam", None, 1, 2 * (4 + 8) + 4),
    ("adam", 3, 1, 2 * (4 + 8 + 4) + 4),
    ("momentum", None, 3, 3 * (4 + 4) + 4),
    ("sgd", None, 1, 2 * 4 + 4),
])
def test_estimate_matches_the_closed_form(optimizer, patience, keep, per_param):
    model = build("vae", input_shape=(1, 8, 8), latent_dim=2, hidden=(16,))
    n = _n_params(64, 16, 2)
    assert n == sum(p.numel() for p in model.parameters()) == 2244 and not list(model.buffers())
    config = TrainConfig(optimizer=optimizer, patience=patience, keep_checkpoints=keep)
    assert workflow.estimate_run_bytes(model, config) == per_param * n + workflow.MARGIN_BYTES


def _train_run(out, *, epochs=1, resume=False):
    return workflow.train_run(
        "vae", "digits", out=out, model_params={"latent_dim": 2, "hidden": (16,)}, n=300,
        train_config=TrainConfig(epochs=epochs, batch_size=50, progress=False),
        evaluate=False, resume=resume)


def test_not_enough_free_space_is_refused_before_training(tmp_path, monkeypatch):
    needed = workflow.estimate_run_bytes(
        build("vae", input_shape=(1, 8, 8), latent_dim=2, hidden=(16,)), TrainConfig())
    monkeypatch.setattr(workflow, "free_bytes", lambda path: needed - 1)
    out = tmp_path / "run"
    with pytest.raises(RunError) as e:
        _train_run(out)
    assert str(e.value) == (
        f"Not enough free space in {out}: the run needs about {needed / 1e6:.1f} MB (weights, "
        f"checkpoints, report) but only {(needed - 1) / 1e6:.1f} MB are free. Free some space "
        "or choose another --out.")
    assert sorted(p.name for p in out.iterdir()) == ["config.json"]  # nothing trained

    monkeypatch.setattr(workflow, "free_bytes", lambda path: needed)  # just enough
    _train_run(out)
    assert (out / "model.safetensors").exists()


def test_resume_counts_the_checkpoint_it_replaces(tmp_path, monkeypatch):
    out = tmp_path / "run"
    _train_run(out)
    (out / "model.safetensors").unlink()  # as in a run stopped before its end
    needed = workflow.estimate_run_bytes(
        build("vae", input_shape=(1, 8, 8), latent_dim=2, hidden=(16,)), TrainConfig()
    ) - (out / "checkpoint.safetensors").stat().st_size
    monkeypatch.setattr(workflow, "free_bytes", lambda path: needed - 1)
    with pytest.raises(RunError, match=r"^Not enough free space in .* Free some space and "
                                       r"resume again\.$"):
        _train_run(out, epochs=2, resume=True)
    monkeypatch.setattr(workflow, "free_bytes", lambda path: needed)
    _train_run(out, epochs=2, resume=True)
    assert json.loads((out / "checkpoint.json").read_text())["epoch"] == 2


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="names the synced file by /proc")
def test_disk_full_during_training_names_the_file_and_resume(tmp_path, monkeypatch):
    """ENOSPC when the second checkpoint is synced: one message naming the file; the first
    checkpoint stays as it was."""
    fsync, calls = os.fsync, []

    def fsync_fills_up(fd):
        calls.append(os.readlink(f"/proc/self/fd/{fd}"))
        if sum(".checkpoint.safetensors." in c for c in calls) == 2:
            raise ENOSPC
        fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync_fills_up)
    out = tmp_path / "run"
    with pytest.raises(WriteError) as e:
        _train_run(out, epochs=3)
    monkeypatch.undo()
    assert str(e.value) == (f"Could not write {out}/checkpoint.safetensors: No space left on "
                            "device. Free some space and continue with --resume; the last "
                            "checkpoint is intact.")
    _assert_whole(out)
    meta = safe_open(str(out / "checkpoint.safetensors"), "pt").metadata()
    assert json.loads(meta["state"])["epoch"] == 1


# --- the atomic writer


@pytest.mark.parametrize("step", ["fsync", "replace"])
def test_a_failed_flush_or_rename_keeps_the_old_file(tmp_path, monkeypatch, step):
    target = tmp_path / "w.safetensors"
    old = {"w": torch.arange(6.0)}
    atomic_save_safetensors(target, old)
    before = target.read_bytes()

    def no_space(*args):
        raise ENOSPC

    monkeypatch.setattr(os, step, no_space)
    with pytest.raises(WriteError) as e:
        atomic_save_safetensors(target, {"w": torch.zeros(1000)})
    monkeypatch.undo()
    assert str(e.value) == (f"Could not write {target}: No space left on device. Free some space "
                            "and try again; nothing was half-written.")
    assert isinstance(e.value, RunError) and e.value.path == target
    assert target.read_bytes() == before
    assert torch.equal(load_file(str(target))["w"], old["w"])
    assert [p.name for p in tmp_path.iterdir()] == ["w.safetensors"]  # no temp file left


class _FillsUp(io.FileIO):
    """A file on a disk that fills up halfway through the first write."""

    def write(self, b):
        super().write(bytes(b)[:len(b) // 2])
        self.size_when_full = os.fstat(self.fileno()).st_size
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_write_that_fills_the_disk_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "history.csv"
    target.write_bytes(b"epoch,loss\n1,0.5\n")
    opened = []

    def fdopen(fd, mode):
        opened.append(_FillsUp(fd, mode))
        return opened[-1]

    monkeypatch.setattr(os, "fdopen", fdopen)
    with pytest.raises(WriteError, match="^Could not write .*history.csv: No space left on device"):
        atomic_write_bytes(target, b"x" * 10_000)
    monkeypatch.undo()
    assert [f.size_when_full for f in opened] == [5_000]  # half of it reached the temp file ...
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.csv"]  # ... which is gone
    assert target.read_bytes() == b"epoch,loss\n1,0.5\n"


@pytest.mark.parametrize("raised, caught", [
    (ValueError("not a write"), ValueError),
    (ConnectionResetError(errno.ECONNRESET, "reset"), ConnectionResetError),  # e.g. a download
    (OSError(errno.EDQUOT, os.strerror(errno.EDQUOT)), WriteError),
])
def test_only_write_errors_of_the_block_become_write_errors(tmp_path, raised, caught):
    target = tmp_path / "f.bin"
    with pytest.raises(caught) as e:
        with atomic_open(target) as f:
            f.write(b"partial")
            raise raised
    assert isinstance(e.value, WriteError) == (caught is WriteError)
    assert list(tmp_path.iterdir()) == []  # neither the target nor a temp file


# --- the run directory itself


def test_a_full_or_unusable_out_is_refused_before_anything(tmp_path, monkeypatch):
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    with pytest.raises(RunError) as e:
        workflow._check_writable(a_file)
    assert str(e.value) == (f"Cannot write the run directory {a_file} (File exists). "
                            "Choose another --out.")

    def no_space(self, data):
        self.touch()  # the file is created, the byte does not fit
        raise ENOSPC

    monkeypatch.setattr(type(tmp_path), "write_bytes", no_space)
    with pytest.raises(RunError) as e:
        workflow._check_writable(tmp_path / "run")
    monkeypatch.undo()
    assert str(e.value) == (f"Cannot write the run directory {tmp_path / 'run'} (No space left "
                            "on device). Free some space or choose another --out.")
    assert list((tmp_path / "run").iterdir()) == []  # the probe is gone

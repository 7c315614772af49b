"""Data-parallel training (DistributedDataParallel over gloo, 2 processes on loopback): the same
numbers as one process with the same global batch; a rank that dies or hangs ends the run with a
clear message instead of a hang; the CLI under torchrun writes one run directory from rank 0."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from hourglass.train.distributed import World, shard

WORKER = str(Path(__file__).with_name("ddp_worker.py"))
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
    ENV.pop(key, None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_ranks(args: list[str], world: int = 2, env: dict | None = None) -> list[subprocess.Popen]:
    """Start `world` ranks by hand (what torchrun does): same command, RANK differs."""
    port = free_port()
    procs = []
    for rank in range(world):
        rank_env = {**ENV, **(env or {}), "RANK": str(rank), "LOCAL_RANK": str(rank),
                    "WORLD_SIZE": str(world), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
        procs.append(subprocess.Popen([sys.executable, *args], env=rank_env, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    return procs


# --- sharding: the scaled rank losses average to the global batch mean ---------------------------

@pytest.mark.parametrize("m,size", [(20, 2), (7, 2), (1, 2), (5, 3), (2, 3), (9, 4)])
def test_shard_scales_average_to_the_global_mean(m, size):
    idx = torch.arange(100, 100 + m)
    losses = torch.rand(200, generator=torch.Generator().manual_seed(m), dtype=torch.float64)
    rows_seen, averaged = [], 0.0
    for rank in range(size):
        rows, m_rank, scale = shard(idx, World(rank, size))
        if m_rank:
            rows_seen += rows.tolist()
        assert m_rank == len(range(rank, m, size))
        averaged += scale * losses[rows].mean() / size  # what DDP's gradient average computes
    assert sorted(rows_seen) == idx.tolist()  # every row once, no row twice
    assert float(averaged) == pytest.approx(float(losses[idx].mean()), rel=1e-12)


def test_a_rank_without_rows_takes_part_with_weight_zero():
    rows, m_rank, scale = shard(torch.tensor([7]), World(1, 2))
    assert rows.tolist() == [7] and m_rank == 0 and scale == 0.0


# --- two processes give the single-process numbers ------------------------------------------------

def _run_pair(case: str, tmp_path) -> tuple[dict, dict, list, list]:
    single = tmp_path / "single"
    subprocess.run([sys.executable, WORKER, case, str(single)], env=ENV, check=True,
                   capture_output=True, timeout=300)
    multi = tmp_path / "multi"
    procs = launch_ranks([WORKER, case, str(multi)])
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-2000:]
    meta = json.loads(multi.with_suffix(".json").read_text())
    assert meta["world"] == 2
    return (load_file(str(single.with_suffix(".safetensors"))),
            load_file(str(multi.with_suffix(".safetensors"))),
            json.loads(single.with_suffix(".json").read_text())["history"], meta["history"])


@pytest.mark.parametrize("case", ["ae", "two-phase"])
def test_two_ranks_match_one_process_with_the_same_global_batch(case, tmp_path):
    """101 rows in batches of 20 (the last batch has one row, so rank 1 gets none), 4 epochs,
    Adam: the loss history and the final weights agree to float32 rounding."""
    w1, w2, h1, h2 = _run_pair(case, tmp_path)
    assert w1.keys() == w2.keys()
    for k in w1:
        torch.testing.assert_close(w2[k], w1[k], rtol=1e-5, atol=1e-6)
    assert len(h1) == len(h2) == 4
    for r1, r2 in zip(h1, h2):
        assert r1.keys() == r2.keys()
        for k in r1:
            if k != "time_s":
                assert r2[k] == pytest.approx(r1[k], rel=1e-5), k
    assert h1[-1]["train_loss" if case == "ae" else "train_a_loss"] < h1[0]["train_loss" if case == "ae" else "train_a_loss"]


def test_every_registered_model_trains_data_parallel(tmp_path):
    """Two epochs of every model (each tiny config; multi-phase adversarial models, pretrained
    stacks and autoregressive models included) on 2 ranks: the ranks end with bitwise-identical
    weights and buffers and agree on every logged number, all finite."""
    import math

    from hourglass.models import get_model_class, list_models
    out = tmp_path / "em"
    procs = launch_ranks([WORKER, "every-model", str(out)])
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-3000:]
    w0, w1 = (load_file(f"{out}.rank{r}.safetensors") for r in (0, 1))
    assert w0.keys() == w1.keys() and len(w0) > 300
    assert [k for k in w0 if not torch.equal(w0[k], w1[k])] == []
    h0, h1 = (json.loads(Path(f"{out}.rank{r}.json").read_text()) for r in (0, 1))
    expected = {f"{name}-{i}" for name in list_models()
                for i, _ in enumerate(getattr(get_model_class(name), "tiny_configs", [{}]))}
    assert set(h0) == set(h1) == expected
    for case in h0:
        for r0, r1 in zip(h0[case], h1[case]):
            numbers = {k: v for k, v in r0.items() if k != "time_s"}
            assert numbers == {k: v for k, v in r1.items() if k != "time_s"}, case
            assert all(math.isfinite(v) for v in numbers.values()), case


# --- the CLI under torchrun -----------------------------------------------------------------------

CLI = ["-m", "hourglass", "train", "ae", "--data", "digits", "--n-examples", "300", "--hidden",
       "32", "--latent-dim", "4", "--binarize", "threshold", "--batch-size", "10", "--quiet"]


def _files(run: Path) -> set[str]:
    return {str(p.relative_to(run)) for p in run.rglob("*")}


def test_torchrun_cli_matches_one_process_and_only_rank_0_writes(tmp_path):
    single, multi = tmp_path / "single", tmp_path / "multi"
    args = [*CLI, "--epochs", "2", "--k", "5"]
    subprocess.run([sys.executable, *args, "--out", str(single)], env=ENV, check=True,
                   capture_output=True, timeout=300)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
                "--master-addr", "127.0.0.1", "--master-port", str(free_port())]
    done = subprocess.run([*torchrun, *args, "--out", str(multi)], env=ENV, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("test metrics of") == 1  # rank 0 reports, once
    assert _files(multi) == _files(single)  # the same run directory, nothing from rank 1
    w1, w2 = load_file(str(single / "model.safetensors")), load_file(str(multi / "model.safetensors"))
    for k in w1:
        torch.testing.assert_close(w2[k], w1[k], rtol=1e-4, atol=1e-5)
    config = json.loads((multi / "config.json").read_text())
    assert config["distributed"] == {"world_size": 2, "backend": "gloo"}
    assert config["train"] == json.loads((single / "config.json").read_text())["train"]
    m1, m2 = (json.loads((r / "metrics.json").read_text()) for r in (single, multi))
    assert m2["recon_nll"] == pytest.approx(m1["recon_nll"], rel=1e-4)


def _position(run: Path) -> int:
    try:
        state = json.loads((run / "checkpoint.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return 0
    return state["epoch"] * 30 + state["step"]  # 30 steps per epoch: 300 training rows / 10


def test_sigterm_to_every_rank_checkpoints_and_resume_is_bitwise(tmp_path):
    """A scheduler pre-empts a 2-rank run: every rank stops at the same step, rank 0 saves, both
    exit 130 with one message; resumed on 2 ranks, the final weights equal an uninterrupted
    2-rank run's bit for bit (same world size: each rank's RNG is restored from the checkpoint)."""
    args = [*CLI, "--epochs", "4", "--no-eval", "--checkpoint-every", "5"]
    ref = tmp_path / "ref"
    for p in launch_ranks([*args, "--out", str(ref)]):
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-2000:]
    out = tmp_path / "run"
    procs = launch_ranks([*args, "--out", str(out)])
    while _position(out) < 30 and all(p.poll() is None for p in procs):
        time.sleep(0.05)
    for p in procs:
        p.send_signal(signal.SIGTERM)
    errs = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [130, 130], errs
    lines = [line for err in errs for line in err.strip().splitlines()]
    assert len(lines) == 1 and lines[0].startswith("hourglass: interrupted: SIGTERM received")
    assert 30 <= _position(out) < 4 * 30
    for p in launch_ranks([*args, "--out", str(out), "--resume"]):
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-2000:]
    a, b = load_file(str(ref / "model.safetensors")), load_file(str(out / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_an_error_only_rank_0_can_see_is_reported_once_and_stops_every_rank(tmp_path):
    """Rank 0 alone locks the run directory; when another live run holds the lock, every rank
    exits 2 and the user reads one line."""
    out = tmp_path / "run"
    out.mkdir()
    (out / ".lock").write_text(str(os.getpid()))  # this test process is alive: a real holder
    procs = launch_ranks([*CLI, "--epochs", "1", "--no-eval", "--out", str(out)])
    errs = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [2, 2]
    lines = [line for err in errs for line in err.strip().splitlines()]
    assert len(lines) == 1 and "is being written by another run" in lines[0]
    assert not (out / "config.json").exists()


def test_a_distributed_runs_config_replays_on_one_process(tmp_path):
    """config.json of a torchrun launch records the world size; replaying it in one process
    trains the same (deterministic) model to the same weights up to float rounding."""
    args = [*CLI, "--epochs", "1", "--no-eval"]
    multi = tmp_path / "multi"
    for p in launch_ranks([*args, "--out", str(multi)]):
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-2000:]
    replay = tmp_path / "replay"
    done = subprocess.run([sys.executable, "-m", "hourglass", "train", "--config",
                           str(multi / "config.json"), "--out", str(replay), "--no-eval"],
                          env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "distributed" not in json.loads((replay / "config.json").read_text())
    a, b = load_file(str(multi / "model.safetensors")), load_file(str(replay / "model.safetensors"))
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("sig,words", [(signal.SIGKILL, "Connection"), (signal.SIGSTOP, "Timed out")])
def test_a_lost_rank_ends_the_others_with_a_clear_message(tmp_path, sig, words):
    """Rank 1 of `hourglass train` is killed (SIGKILL) or frozen (SIGSTOP) after the first
    checkpoint: rank 0 does not hang; it sees the closed connection at once, or gives up after
    the group's timeout, and exits 2 with one line saying what happened and what to do."""
    out = tmp_path / "run"
    procs = launch_ranks([*CLI, "--epochs", "20", "--no-eval", "--checkpoint-every", "5",
                          "--out", str(out)], env={"HOURGLASS_DIST_TIMEOUT": "8"})
    try:
        while _position(out) < 5 and all(p.poll() is None for p in procs):
            time.sleep(0.05)
        procs[1].send_signal(sig)
        _, err = procs[0].communicate(timeout=120)  # a hang would end in TimeoutExpired here
    finally:
        procs[1].kill()
        procs[1].communicate()
    assert procs[0].returncode == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("hourglass: error: Rank 0 lost the other processes of the "
                               "distributed run (")
    assert words in lines[0] and "--resume" in lines[0] and "HOURGLASS_DIST_TIMEOUT" in lines[0]
    assert 5 <= _position(out) < 20 * 30  # the checkpoint written before is there

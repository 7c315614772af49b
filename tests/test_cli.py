"""Tests of the command line: `hourglass list|train|evaluate|sample|embed`, run in-process through
`hourglass.cli.main.main` (and once as a real subprocess): the files a run leaves, the numbers in them,
reproducibility and --resume, and the one-line error of every user mistake."""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import math
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from hourglass.runs import store
from hourglass.cli.main import main
from hourglass.data import load, sources
from hourglass.runs.workflow import eval_inputs
from cli_helpers import assert_one_error_line, cli

OPTIMIZERS = ["sgd", "momentum", "nesterov", "adagrad", "adadelta", "rmsprop", "adam", "adamw"]
FIGURES = ["codes.png", "latent_grid.png", "reconstructions.png", "samples.png",
           "training_curves.png"]
TRAIN = ["train", "vae", "--data", "digits", "--latent-dim", "2", "--hidden", "32", "--quiet"]
FAST = ["train", "vae", "--data", "digits", "--latent-dim", "2", "--hidden", "16", "--quiet",
        "--no-eval"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """One trained and evaluated digits VAE run (3 epochs), shared by the read-only tests."""
    out = tmp_path_factory.mktemp("cli") / "run"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main([*TRAIN, "--epochs", "3", "--k", "20", "--out", str(out)])
    assert rc == 0
    (out.parent / "train-stdout.txt").write_text(buf.getvalue())
    return out


def read_history(path: Path, drop=("time_s",)) -> list[list[str]]:
    """history.csv as rows of strings, header first, without the wall-clock column."""
    rows = list(csv.reader(path.read_text().splitlines()))
    keep = [i for i, name in enumerate(rows[0]) if name not in drop]
    return [[row[i] for i in keep] for row in rows]


# --------------------------------------------------------------------------------------------
# list


def test_list_names_models_datasets_and_optimizers(capsys):
    rc, out, err = cli(["list"], capsys)
    assert rc == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == "models:"
    words = {line.split()[0] for line in lines if line.startswith("  ") and line.split()}
    assert {"ae", "vae", "digits", "fashion-mnist", "mnist"} <= words
    i = lines.index("optimizers:")
    assert lines[i + 1] == "  " + ", ".join(OPTIMIZERS)
    assert lines[i + 2] == "experiments (hourglass experiment NAME):"


# --------------------------------------------------------------------------------------------
# train -> evaluate -> sample -> embed on digits


def test_train_writes_a_complete_run(run_dir):
    names = {p.name for p in run_dir.iterdir()}
    assert {"config.json", "model.safetensors", "metrics.json", "history.csv",
            "report.html"} <= names
    assert set(FIGURES) <= {p.name for p in (run_dir / "figures").iterdir()}
    for fig in FIGURES:
        assert (run_dir / "figures" / fig).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    history = read_history(run_dir / "history.csv")
    assert [row[0] for row in history] == ["epoch", "1", "2", "3"]
    assert "train_loss" in history[0] and "val_loss" in history[0]
    config = json.loads((run_dir / "config.json").read_text())
    assert config["model"] == "vae"
    assert config["model_config"]["latent_dim"] == 2 and config["model_config"]["hidden"] == [32]
    assert config["model_config"]["likelihood"] == "bernoulli"
    assert config["train"]["epochs"] == 3 and config["train"]["binarize"] == "dynamic"
    stdout = (run_dir.parent / "train-stdout.txt").read_text().splitlines()
    assert stdout[0] == f"test metrics of {run_dir}:"
    assert stdout[-1] == f"report: {run_dir}/report.html"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert f"  {'nll_nats':<22} {metrics['nll_nats']:.6g}" in stdout


def test_metrics_nll_and_bits_per_dim(run_dir):
    m = json.loads((run_dir / "metrics.json").read_text())
    assert m["nll_nats"] > 0 and m["nll_k"] == 20 and m["n_test"] == 359
    assert m["bits_per_dim"] == pytest.approx(m["nll_nats"] / (64 * math.log(2)), abs=1e-9)
    # the IWAE bound with k = 20 is at least the ELBO (nll <= -elbo), up to Monte-Carlo noise
    assert m["nll_nats"] <= -m["elbo_nats"] + 0.5


def test_evaluate_recomputes_the_same_nll(run_dir, capsys):
    before = json.loads((run_dir / "metrics.json").read_text())
    rc, out, err = cli(["evaluate", run_dir, "--k", "20"], capsys)
    assert rc == 0 and err == ""
    printed = {line.split()[0]: line.split()[1] for line in out.splitlines()
               if line.startswith("  ")}
    # evaluation is seeded: the same weights give the same bound as at the end of training
    assert printed["nll_nats"] == f"{before['nll_nats']:.6g}"
    after = json.loads((run_dir / "metrics.json").read_text())
    assert after["nll_nats"] == pytest.approx(before["nll_nats"], rel=1e-6)
    assert after["train_time_s"] == before["train_time_s"]  # kept from training


def test_sample_writes_an_array_of_images(run_dir, tmp_path, capsys):
    npy, png = tmp_path / "S.npy", tmp_path / "S.png"
    rc, out, err = cli(["sample", run_dir, "-n", "9", "--npy", npy, "--out", png], capsys)
    assert rc == 0 and err == ""
    assert out.splitlines() == [f"png: {png}", f"npy: {npy}"]
    s = np.load(npy)
    assert s.shape == (9, 1, 8, 8) and s.min() >= 0 and s.max() <= 1
    model = store.load_model(run_dir)[0]
    expected = model.sample(9, generator=torch.Generator().manual_seed(0)).numpy()
    np.testing.assert_array_equal(s, expected)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_embed_saves_the_codes_of_the_test_split(run_dir, tmp_path, capsys):
    out_npy = tmp_path / "Z.npy"
    rc, out, err = cli(["embed", run_dir, "--data", "digits", "--out", out_npy], capsys)
    assert rc == 0 and out.strip() == f"codes: {out_npy}"
    z = np.load(out_npy)
    ds = load("digits", val_fraction=0.1, seed=0)
    assert z.shape == (len(ds.test), 2) == (359, 2)
    model, config, _ = store.load_model(run_dir)
    with torch.no_grad():
        expected = model.encode(eval_inputs(ds.test.x, config["train"]["binarize"])).numpy()
    np.testing.assert_allclose(z, expected, rtol=1e-6, atol=1e-7)


def test_training_into_an_existing_run_is_refused(run_dir, capsys):
    weights = (run_dir / "model.safetensors").read_bytes()
    rc, out, err = cli([*FAST, "--epochs", "1", "--out", run_dir], capsys)
    assert_one_error_line(rc, err, "already holds a run", "--resume")
    assert (run_dir / "model.safetensors").read_bytes() == weights


# --------------------------------------------------------------------------------------------
# reproducibility and --resume


@pytest.fixture(scope="module")
def four_epoch_runs(tmp_path_factory):
    """Two straight 4-epoch runs with the same seed, and one of 2 epochs resumed to 4."""
    root = tmp_path_factory.mktemp("resume")
    with contextlib.redirect_stdout(io.StringIO()):
        for name in ("straight", "again"):
            assert main([*FAST, "--epochs", "4", "--out", str(root / name)]) == 0
        assert main([*FAST, "--epochs", "2", "--out", str(root / "resumed")]) == 0
        assert len(read_history(root / "resumed" / "history.csv")) == 1 + 2
        assert main(["train", "vae", "--resume", "--epochs", "4", "--quiet", "--no-eval",
                     "--out", str(root / "resumed")]) == 0
    return root


def test_same_seed_same_history(four_epoch_runs):
    a = read_history(four_epoch_runs / "straight" / "history.csv")
    b = read_history(four_epoch_runs / "again" / "history.csv")
    assert len(a) == 1 + 4 and a == b


def test_resume_gives_the_straight_runs_weights(four_epoch_runs):
    straight = load_file(str(four_epoch_runs / "straight" / "model.safetensors"))
    resumed = load_file(str(four_epoch_runs / "resumed" / "model.safetensors"))
    assert straight.keys() == resumed.keys()
    for k in straight:
        assert torch.equal(straight[k], resumed[k]), k


def test_resume_gives_the_straight_runs_history_values(four_epoch_runs):
    def by_name(path):
        rows = list(csv.DictReader(path.read_text().splitlines()))
        return [{k: v for k, v in row.items() if k != "time_s"} for row in rows]
    assert (by_name(four_epoch_runs / "resumed" / "history.csv")
            == by_name(four_epoch_runs / "straight" / "history.csv"))


def test_resumed_history_csv_has_the_straight_runs_columns(four_epoch_runs):
    assert (read_history(four_epoch_runs / "resumed" / "history.csv")
            == read_history(four_epoch_runs / "straight" / "history.csv"))


# --------------------------------------------------------------------------------------------
# user mistakes: exit 2, one line on stderr, no traceback, no half-made run directory


def _npy(tmp_path, array, name="data.npy"):
    path = tmp_path / name
    np.save(path, array)
    return path


TRAIN_ERRORS = {
    "unknown-model": (lambda t: ["train", "vaex", "--out", t / "out"],
                      ["Unknown model 'vaex'. Valid models: "]),
    "unknown-optimizer": (lambda t: [*FAST, "--optimizer", "adamm", "--out", t / "out"],
                          ["argument --optimizer: invalid choice: 'adamm'", "'adamw'"]),
    "latent-dim-0": (lambda t: [*FAST, "--latent-dim", "0", "--out", t / "out"],
                     ["The 'latent_dim' parameter of VAE must be an int in the range [1, inf). "
                      "Got 0 instead."]),
    "unknown-dataset": (lambda t: [*FAST, "--data", "nosuch", "--out", t / "out"],
                        ["Unknown dataset 'nosuch'.", "digits", "fashion-mnist"]),
    "missing-file": (lambda t: [*FAST, "--data", t / "data.npy", "--out", t / "out"],
                     ["data.npy does not exist. Check the path."]),
    "1d-npy": (lambda t: [*FAST, "--data", _npy(t, np.arange(10.0)), "--out", t / "out"],
               ["got a 1-D array of shape (10,)"]),
    "nan-npy": (lambda t: [*FAST, "--data", _npy(t, np.where(np.eye(50, 4) > 0, np.nan, 0.5)),
                           "--out", t / "out"],
                ["contains 4 NaN or infinite values"]),
    "negative-data-bernoulli": (lambda t: [*FAST, "--likelihood", "bernoulli", "--data",
                                           _npy(t, np.linspace(-1, 1, 200).reshape(50, 4)),
                                           "--out", t / "out"],
                                ["A Bernoulli decoder needs data in [0, 1]",
                                 "--likelihood gaussian"]),
}


@pytest.mark.parametrize("case", list(TRAIN_ERRORS))
def test_train_mistakes(case, tmp_path, capsys):
    make_argv, fragments = TRAIN_ERRORS[case]
    rc, out, err = cli(make_argv(tmp_path), capsys)
    assert_one_error_line(rc, err, *fragments)
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available on this machine")
def test_device_cuda_without_cuda(tmp_path, capsys):
    rc, out, err = cli([*FAST, "--device", "cuda", "--out", tmp_path / "out"], capsys)
    assert_one_error_line(rc, err, "device='cuda' was asked for but CUDA is not available here. "
                                   "Use --device cpu (or auto).")
    assert not (tmp_path / "out").exists()


def test_fashion_mnist_not_found(tmp_path, capsys, monkeypatch):
    empty, cache = tmp_path / "empty", tmp_path / "cache"
    empty.mkdir()
    monkeypatch.setenv("HOURGLASS_DATA", str(empty))
    monkeypatch.setenv("HOURGLASS_CACHE", str(cache))
    # hide the Debian package's folder (/usr/share/datasets/fashion-mnist) from the search
    source = sources.IDX_SOURCES["fashion-mnist"]
    monkeypatch.setitem(sources.IDX_SOURCES, "fashion-mnist",
                        dataclasses.replace(source, system_dirs=(str(tmp_path / "no-debian"),)))
    rc, out, err = cli([*FAST, "--data", "fashion-mnist", "--out", tmp_path / "out"], capsys)
    assert_one_error_line(rc, err, "fashion-mnist was not found", str(empty),
                          "apt-get install dataset-fashion-mnist", "--download")
    assert not (tmp_path / "out").exists() and not cache.exists()


# --- broken run directories


class _Marker:
    """Unpickling this creates the file `path`: proof that a pickle was executed."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def _copy_run(run_dir, dest):
    dest.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(run_dir / name, dest / name)
    return dest


def _pickle_weights(run, marker):
    (run / "model.safetensors").write_bytes(pickle.dumps(_Marker(marker)))


def _unknown_model(run, _):
    config = json.loads((run / "config.json").read_text())
    config["model"] = "no-such-model"
    (run / "config.json").write_text(json.dumps(config))


def _not_json(run, _):
    (run / "config.json").write_text("{not json")


def _wrong_shape(run, _):
    tensors = load_file(str(run / "model.safetensors"))
    w = tensors["model.encoder.net.0.weight"]  # (32, 64): the first encoder layer
    tensors["model.encoder.net.0.weight"] = w.reshape(w.shape[1], w.shape[0]).contiguous()
    save_file(tensors, str(run / "model.safetensors"))


BROKEN_RUNS = {
    "pickle-weights": (_pickle_weights, ["model.safetensors is not a safetensors file",
                                         "never unpickles"]),
    "unknown-model": (_unknown_model, ["cannot be used: Unknown model 'no-such-model'. "
                                       "Valid models: "]),
    "config-not-json": (_not_json, ["config.json is not valid JSON"]),
    "wrong-tensor-shape": (_wrong_shape, ["do not fit the model of its config.json",
                                          "wrong shape for encoder.net.0.weight (64, 32) != "
                                          "(32, 64)"]),
}


@pytest.mark.parametrize("command", ["evaluate", "sample", "embed"])
@pytest.mark.parametrize("case", list(BROKEN_RUNS))
def test_broken_run_directories(case, command, run_dir, tmp_path, capsys):
    breaker, fragments = BROKEN_RUNS[case]
    run, marker = _copy_run(run_dir, tmp_path / "run"), tmp_path / "PWNED"
    breaker(run, marker)
    extra = {"evaluate": ["--k", "5"], "sample": ["-n", "2", "--npy", tmp_path / "s.npy"],
             "embed": ["--data", "digits", "--out", tmp_path / "z.npy"]}[command]
    rc, out, err = cli([command, run, *extra], capsys)
    assert_one_error_line(rc, err, *fragments)
    assert not marker.exists()
    assert sorted(p.name for p in run.iterdir()) == ["config.json", "model.safetensors"]
    assert not (tmp_path / "s.npy").exists() and not (tmp_path / "z.npy").exists()


def test_evaluate_a_folder_that_is_not_a_run(tmp_path, capsys):
    rc, out, err = cli(["evaluate", tmp_path], capsys)
    assert_one_error_line(rc, err, f"{tmp_path} has no config.json: not a Hourglass run "
                                   "directory.")
    rc, out, err = cli(["evaluate", tmp_path / "nowhere"], capsys)
    assert_one_error_line(rc, err, "is not a run directory (it does not exist)")


def test_subprocess_refuses_a_pickled_model_without_running_it(run_dir, tmp_path):
    run, marker = _copy_run(run_dir, tmp_path / "run"), tmp_path / "PWNED"
    _pickle_weights(run, marker)
    proc = subprocess.run([sys.executable, "-m", "hourglass", "evaluate", str(run), "--k", "5"],
                          capture_output=True, text=True, timeout=120)
    assert_one_error_line(proc.returncode, proc.stderr,
                          "model.safetensors is not a safetensors file")
    assert proc.stdout == ""
    assert not marker.exists()


def test_the_marker_pickle_does_run_when_unpickled(tmp_path):
    """The payload of the pickle tests is live: unpickling it really creates the marker."""
    marker = tmp_path / "PWNED"
    pickle.loads(pickle.dumps(_Marker(marker)))
    assert marker.exists()


RUN_MISTAKES = {
    "sample-n-0": (lambda t: ["sample", "-n", "0", "--npy", t / "s.npy"],
                   ["argument -n: expected a positive int, got 0"]),
    "embed-bad-split": (lambda t: ["embed", "--data", "digits", "--split", "bogus",
                                   "--out", t / "z.npy"],
                        ["--split must be one of train, val, test, all. Got 'bogus' instead."]),
    "embed-other-shape": (lambda t: ["embed", "--data", "swiss-roll", "--out", t / "z.npy"],
                          ["'swiss-roll' has examples of shape (3,) but the model of",
                           "expects (1, 8, 8)."]),
}


@pytest.mark.parametrize("case", list(RUN_MISTAKES))
def test_run_command_mistakes(case, run_dir, tmp_path, capsys):
    make_argv, fragments = RUN_MISTAKES[case]
    command, *rest = make_argv(tmp_path)
    rc, out, err = cli([command, run_dir, *rest], capsys)
    assert_one_error_line(rc, err, *fragments)
    assert list(tmp_path.iterdir()) == []


def test_sampling_an_autoencoder_is_refused(tmp_path, capsys):
    run = tmp_path / "ae"
    rc, out, err = cli(["train", "ae", "--latent-dim", "2", "--hidden", "16", "--epochs", "1",
                        "--quiet", "--no-eval", "--out", run], capsys)
    assert rc == 0 and out.strip() == f"trained: {run}"
    rc, out, err = cli(["sample", run, "-n", "4", "--npy", tmp_path / "s.npy"], capsys)
    assert_one_error_line(rc, err, "The 'ae' model has no generative prior to sample from.")
    assert not (tmp_path / "s.npy").exists()


# --------------------------------------------------------------------------------------------
# regressions: bugs found and fixed (each once a strict xfail)


def test_evaluate_with_zero_importance_samples(run_dir, tmp_path, capsys):
    run = _copy_run(run_dir, tmp_path / "run")
    rc, out, err = cli(["evaluate", run, "--k", "0"], capsys)
    assert_one_error_line(rc, err, "--k")


def test_train_with_zero_importance_samples(tmp_path, capsys):
    rc, out, err = cli([*TRAIN, "--epochs", "1", "--k", "0", "--out", tmp_path / "out"], capsys)
    assert_one_error_line(rc, err, "--k")
    assert not (tmp_path / "out").exists()


def test_patience_without_validation_split(tmp_path, capsys):
    rc, out, err = cli([*FAST, "--val-fraction", "0", "--patience", "2", "--out",
                        tmp_path / "out"], capsys)
    assert_one_error_line(rc, err, "--val-fraction")
    assert not (tmp_path / "out").exists()


def test_a_run_that_failed_in_its_first_epoch_can_be_restarted(tmp_path, capsys):
    out_dir = tmp_path / "out"
    rc, out, err = cli([*FAST, "--epochs", "1", "--optimizer", "sgd", "--lr", "1e6",
                        "--out", out_dir], capsys)
    assert_one_error_line(rc, err, "The training loss became non-finite in epoch 1")
    rc_plain, _, _ = cli([*FAST, "--epochs", "1", "--out", out_dir], capsys)
    rc_resume, _, _ = cli(["train", "vae", "--resume", "--epochs", "1", "--quiet", "--no-eval",
                           "--out", out_dir], capsys)
    assert 0 in (rc_plain, rc_resume)


def test_evaluate_holds_the_run_lock(run_dir, tmp_path, capsys):
    """evaluate rewrites a run's files: it refuses while a live process holds the run's lock, and
    takes over (then removes) the stale lock of a run killed with SIGKILL."""
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    (run / ".lock").write_text(f"{os.getppid()}\n")  # a live process: pytest's parent
    before = (run / "metrics.json").read_bytes()
    rc, _, err = cli(["evaluate", run, "--k", "5"], capsys)
    assert_one_error_line(rc, err, "is being written by another run", f"PID {os.getppid()}")
    assert (run / "metrics.json").read_bytes() == before
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (run / ".lock").write_text(f"{dead.pid}\n")  # its owner is gone
    rc, _, err = cli(["evaluate", run, "--k", "5"], capsys)
    assert rc == 0, err
    assert not (run / ".lock").exists()

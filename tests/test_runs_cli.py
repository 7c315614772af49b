"""Tests of the command line's shape and of `hourglass runs`: a lazy start (`--help` without
PyTorch), help lines with their defaults, the renamed flags and their aliases, `sample --class`,
outputs that are never overwritten, the run table and `runs compare`, and the progress output."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from hourglass.cli import catalog
from hourglass.cli import main as cli_main
from hourglass.runs import listing, store
from hourglass.train import TrainConfig, train
from hourglass.train.progress import Progress, early_stop_text, epoch_text, format_duration
from cli_helpers import assert_one_error_line, cli

TINY = ["--data", "digits", "--n", "200", "--latent-dim", "2", "--hidden", "16",
        "--batch-size", "64", "--quiet"]
SRC = str(Path(__file__).resolve().parent.parent / "src")


def _python(*args, env=None, **kw):
    env = {**os.environ, "PYTHONPATH": SRC, **(env or {})}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env,
                          timeout=300, **kw)


def _imported(importtime_stderr: str) -> set[str]:
    """Module names from `python -X importtime`'s report."""
    return {line.rsplit("|", 1)[-1].strip() for line in importtime_stderr.splitlines()
            if line.startswith("import time:")}


# --------------------------------------------------------------------------------------------
# a lazy start


def test_help_does_not_import_torch(tmp_path):
    proc = _python("-X", "importtime", "-m", "hourglass", "--help",
                   env={"HOURGLASS_CACHE": str(tmp_path)})
    assert proc.returncode == 0
    assert proc.stdout.startswith("usage: hourglass [-h] [--version] COMMAND ...")
    for name in cli_main.COMMANDS:
        assert f"\n    {name}" in proc.stdout, name
    modules = _imported(proc.stderr)
    assert "hourglass.cli.main" in modules
    assert not {"torch", "sklearn", "matplotlib", "hourglass.cli.train"} & modules


def test_command_help_is_cached_and_then_starts_without_torch(tmp_path):
    env = {"HOURGLASS_CACHE": str(tmp_path), "COLUMNS": "100"}
    first = _python("-X", "importtime", "-m", "hourglass", "runs", "--help", env=env)
    again = _python("-X", "importtime", "-m", "hourglass", "runs", "--help", env=env)
    assert first.returncode == again.returncode == 0
    assert first.stdout == again.stdout
    assert first.stdout.startswith("usage: hourglass runs [-h] [--out OUT]")
    assert "torch" in _imported(first.stderr) and "torch" not in _imported(again.stderr)
    assert len(list((tmp_path / "cli").glob("*.txt"))) == 1


def test_list_prints_the_shipped_catalog_without_torch(tmp_path):
    proc = _python("-X", "importtime", "-m", "hourglass", "list",
                   env={"HOURGLASS_CACHE": str(tmp_path)})
    assert proc.returncode == 0
    assert proc.stdout == catalog.text(catalog.live())
    imported = _imported(proc.stderr)
    assert not {"torch", "sklearn", "scipy"} & imported
    assert not (tmp_path / "cli").exists()


def test_the_shipped_catalog_is_the_registries():
    """src/hourglass/cli/catalog.json is written by `python tools/write_catalog.py`."""
    assert catalog.CATALOG.read_text(encoding="utf-8") == catalog.dumps(catalog.live()), \
        "catalog.json is out of date: run `python tools/write_catalog.py`"


def test_a_catalog_of_another_version_is_not_used(tmp_path, monkeypatch):
    stale = tmp_path / "catalog.json"
    stale.write_text(json.dumps({**catalog.live(), "version": "0.0.1", "models": []}))
    monkeypatch.setattr(catalog, "CATALOG", stale)
    assert catalog.load() == catalog.live()
    monkeypatch.setattr(catalog, "CATALOG", tmp_path / "missing.json")
    assert catalog.load()["models"] == catalog.live()["models"] != []


def test_in_process_calls_cache_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HOURGLASS_CACHE", str(tmp_path))
    rc, out, err = cli(["runs", "--help"], capsys)
    assert rc == 0 and out.startswith("usage: hourglass runs")
    assert not (tmp_path / "cli").exists()


def test_cacheable_outputs():
    ok = [["train", "--help"], ["train", "vae", "--help"], ["sample", "-h"]]
    no = [["list"], ["experiment", "compare", "--help"], ["train", "--config", "x", "--help"],
          ["train", "vae", "--out", "x"], ["list", "--help", "x"], ["nosuch", "--help"], []]
    assert all(cli_main.cacheable(a) for a in ok)
    assert not any(cli_main.cacheable(a) for a in no)


# --------------------------------------------------------------------------------------------
# help: a description per command, a default per option


def _subparsers(p):
    return next(a for a in p._actions if isinstance(a, argparse._SubParsersAction)).choices


def test_every_command_has_a_description_and_every_option_its_default():
    parsers = _subparsers(cli_main.build_parser("vae"))
    assert list(parsers) == list(cli_main.COMMANDS)
    for name, p in parsers.items():
        assert p.description, name
        formatter = p._get_formatter()
        for a in p._actions:
            if a.help == argparse.SUPPRESS or not a.option_strings or a.required \
                    or isinstance(a, argparse._HelpAction):
                continue
            assert "default" in formatter._get_help_string(a), (name, a.option_strings)


def test_the_command_table_agrees_with_the_experiments():
    from hourglass.cli import uses
    for name, experiment in uses.COMMANDS.items():
        assert cli_main.COMMANDS[name].help == experiment.HELP


def test_nade_offers_only_the_likelihood_it_has():
    train_parser = _subparsers(cli_main.build_parser("nade"))["train"]
    action = next(a for a in train_parser._actions if a.dest == "likelihood")
    assert action.choices == ["auto", "bernoulli"]
    assert "categorical" not in action.help and "Gaussian" not in action.help


# --------------------------------------------------------------------------------------------
# one name per meaning, the former names as hidden aliases


@pytest.mark.parametrize("argv, dest, value", [
    (["train", "vae", "--out", "x", "--importance-samples", "7"], "importance_samples", 7),
    (["train", "vae", "--out", "x", "--k", "7"], "importance_samples", 7),
    (["train", "vae", "--out", "x"], "importance_samples", 1000),
    (["evaluate", "r", "--importance-samples", "9"], "importance_samples", 9),
    (["evaluate", "r", "--k", "9"], "importance_samples", 9),
    (["compare", "--out", "o", "--neighbors", "4"], "k", 4),
    (["compare", "--out", "o", "--k", "4"], "k", 4),
    (["compare", "--out", "o"], "k", 10),
    (["compare", "--out", "o", "--knn-neighbors", "3"], "knn_k", 3),
    (["compare", "--out", "o", "--knn-k", "3"], "knn_k", 3),
    (["detect", "--out", "o", "--importance-samples", "5"], "k", 5),
    (["detect", "--out", "o", "--k", "5"], "k", 5),
    (["compare", "--out", "o", "--threads", "2"], "threads", 2),
    (["detect", "--out", "o", "--threads", "2"], "threads", 2),
    (["debias", "--out", "o", "--threads", "2"], "threads", 2),
    (["sample", "r", "--class", "3"], "label", 3),
])
def test_flags_and_their_aliases(argv, dest, value):
    assert getattr(cli_main.parse_args(argv), dest) == value


def test_aliases_are_left_out_of_the_help(capsys):
    for argv, shown, hidden in [(["evaluate", "--help"], "--importance-samples", "--k"),
                                (["compare", "--help"], "--neighbors", "--knn-k")]:
        rc, out, _ = cli(argv, capsys)
        assert rc == 0 and shown in out and f"{hidden} " not in out and f"{hidden}\n" not in out


# --------------------------------------------------------------------------------------------
# tiny runs, trained through the command line


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """runs/: a finished vae (evaluated), a finished ae (not evaluated), an interrupted, a
    running and a failed run; and a cvae outside it."""
    root = tmp_path_factory.mktemp("runs")
    folder = root / "runs"
    args = ["--importance-samples", "5"]
    assert cli_main.main(["train", "vae", *TINY, "--epochs", "2", *args,
                          "--out", str(folder / "vae")]) == 0
    assert cli_main.main(["train", "ae", *TINY, "--epochs", "1", "--no-eval",
                          "--out", str(folder / "ae")]) == 0
    assert cli_main.main(["train", "cvae", *TINY, "--epochs", "1", "--no-eval",
                          "--out", str(root / "cvae")]) == 0
    broken = folder / "interrupted"
    shutil.copytree(folder / "ae", broken)
    (broken / "model.safetensors").unlink()  # weights not written yet, a checkpoint is
    running = folder / "running"
    shutil.copytree(folder / "ae", running)
    (running / ".lock").write_text(f"{os.getppid()}\n")  # a live process: pytest's parent
    failed = folder / "failed"
    failed.mkdir()
    shutil.copy(folder / "ae" / "config.json", failed / "config.json")
    (folder / "not-a-run").mkdir()  # ignored
    return root


def test_runs_lists_the_runs_as_a_table(runs, capsys, monkeypatch):
    monkeypatch.chdir(runs)  # the default folder: runs
    rc, out, err = cli(["runs"], capsys)
    assert rc == 0 and err == ""
    lines = out.splitlines()
    header = lines[0].split()
    assert header == ["name", "model", "data", "nll", "-elbo", "bits/dim", "recon_mse", "knn_acc",
                      "val_loss", "epochs", "time", "status"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert list(rows) == ["ae", "failed", "interrupted", "running", "vae"]
    m = json.loads((runs / "runs" / "vae" / "metrics.json").read_text())
    history = listing.read_history(runs / "runs" / "vae")
    vae = rows["vae"].split()  # the data "digits (n=200)" is two words
    assert vae[:4] == ["vae", "vae", "digits", "(n=200)"]
    assert vae[4:9] == [f"{sign * m[k]:.4g}" for sign, k in (
        (1, "nll_nats"), (-1, "elbo_nats"), (1, "bits_per_dim"), (1, "recon_mse"),
        (1, "knn_accuracy"))]
    assert float(vae[5]) >= float(vae[4])   # minus the ELBO bounds the NLL from above
    assert vae[9] == f"{float(history[-1]['val_loss']):.4g}"
    assert vae[10] == "2/2" and vae[11].endswith("s") and vae[12] == "finished"
    assert len(vae) == 13
    ae = rows["ae"].split()  # no test metrics: those cells are empty
    assert ae[:4] == ["ae", "ae", "digits", "(n=200)"] and len(ae) == 8
    assert ae[5] == "1/1" and ae[7] == "finished"
    assert rows["interrupted"].split()[5::2] == ["1/1", "interrupted"]
    assert rows["running"].split()[5::2] == ["1/1", "running"]
    assert rows["failed"].split() == ["failed", "ae", "digits", "(n=200)", "0/1", "failed"]


def test_runs_of_an_empty_folder_and_mistakes(runs, tmp_path, capsys):
    rc, out, err = cli(["runs", tmp_path], capsys)
    assert rc == 0 and out == f"no runs in {tmp_path}\n"
    rc, out, err = cli(["runs", tmp_path / "nowhere"], capsys)
    assert_one_error_line(rc, err, "is no folder, not a folder of runs")
    rc, out, err = cli(["runs", "compare", runs / "runs" / "vae"], capsys)
    assert_one_error_line(rc, err, "needs --out DIR")


def test_runs_compare_prints_the_metrics_side_by_side_and_draws_the_curves(runs, tmp_path,
                                                                            capsys):
    a, b = runs / "runs" / "vae", runs / "runs" / "ae"
    out_dir = tmp_path / "cmp"
    rc, out, err = cli(["runs", "compare", a, b, "--out", out_dir], capsys)
    assert rc == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split() == ["metric", "vae", "ae"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:-1]}
    m = json.loads((a / "metrics.json").read_text())
    assert rows["nll_nats"] == [f"{m['nll_nats']:.4g}"]  # the ae has none: an empty cell
    assert rows["epochs"] == ["2/2", "1/1"] and rows["status"] == ["finished", "finished"]
    assert rows["model"] == ["vae", "ae"]
    assert lines[-1] == f"written: {out_dir / 'compare.png'}, {out_dir / 'compare.html'}"
    assert (out_dir / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (out_dir / "compare.html").read_text()
    assert "<th>vae</th><th>ae</th>" in page and "data:image/png;base64," in page
    before = (out_dir / "compare.png").read_bytes()
    rc, out, err = cli(["runs", "compare", a, b, "--out", out_dir], capsys)
    assert_one_error_line(rc, err, "already holds compare.png, compare.html",
                          "nothing was overwritten")
    assert (out_dir / "compare.png").read_bytes() == before


# --------------------------------------------------------------------------------------------
# sample --class; outputs never overwritten


def test_sample_by_class_draws_from_p_x_given_y(runs, tmp_path, capsys):
    npy = tmp_path / "three.npy"
    rc, out, err = cli(["sample", runs / "cvae", "-n", "6", "--class", "3", "--npy", npy,
                        "--out", tmp_path / "three.png"], capsys)
    assert rc == 0, err
    model = store.load_model(runs / "cvae")[0]
    expected = model.sample(6, y=torch.full((6,), 3), generator=torch.Generator().manual_seed(0))
    np.testing.assert_array_equal(np.load(npy), expected.numpy())


@pytest.mark.parametrize("run, label, fragments", [
    ("runs/vae", "3", ["The 'vae' model is not class-conditional", "Leave --class out"]),
    ("cvae", "10", ["--class must be a class of the model, an int in [0, 9]. Got 10 instead."]),
    ("cvae", "-1", ["--class must be a class of the model, an int in [0, 9]. Got -1 instead."]),
])
def test_sample_by_class_mistakes(runs, run, label, fragments, tmp_path, capsys):
    rc, out, err = cli(["sample", runs / run, "--class", label, "--npy", tmp_path / "s.npy"],
                       capsys)
    assert_one_error_line(rc, err, *fragments)
    assert not (tmp_path / "s.npy").exists()


@pytest.mark.parametrize("argv, flag", [
    (["sample", "{run}", "-n", "2", "--npy", "{file}"], "--npy"),
    (["sample", "{run}", "-n", "2", "--out", "{file}"], "--out"),
    (["embed", "{run}", "--data", "digits", "--out", "{file}"], "--out"),
])
def test_outputs_are_never_overwritten(runs, argv, flag, tmp_path, capsys):
    mine = tmp_path / "mine.bin"
    mine.write_bytes(b"keep me")
    words = [str(runs / "runs" / "vae") if w == "{run}" else str(mine) if w == "{file}" else w
             for w in argv]
    rc, out, err = cli(words, capsys)
    assert_one_error_line(rc, err, f"{flag} {mine} exists already; nothing was overwritten.")
    assert mine.read_bytes() == b"keep me"


# --------------------------------------------------------------------------------------------
# progress and log lines


def test_epoch_and_early_stopping_lines():
    row = {"epoch": 3, "train_loss": 97.123456, "val_loss": 99.3, "time_s": 1.25}
    assert epoch_text(row, 10, 8.4) == ("epoch 3/10  train_loss 97.12  val_loss 99.3  "
                                        "time_s 1.25  eta 8s")
    assert epoch_text({**row, "epoch": 10}, 10, 0.0) == ("epoch 10/10  train_loss 97.12  "
                                                          "val_loss 99.3  time_s 1.25")
    assert [format_duration(s) for s in (0, 8.4, 75, 3725)] == ["0s", "8s", "1:15", "1:02:05"]
    assert early_stop_text(5, 20, 2, 3, 81.25) == (
        "early stopping: val_loss has not improved for 2 epochs; stopped after epoch 5 of 20 "
        "and restored the weights of epoch 3 (val_loss 81.25)")


def test_early_stopping_is_said_in_one_line_even_when_quiet(caplog):
    caplog.set_level(logging.INFO, logger="hourglass")
    x = torch.rand(64, 1, 8, 8, generator=torch.Generator().manual_seed(0)).round()
    from hourglass.models import get_model_class
    cls = get_model_class("ae")  # deterministic: its validation loss draws no noise
    model = cls(cls.config_class(input_shape=(1, 8, 8), latent_dim=2, hidden=(8,)))
    # a learning rate too small to move any weight: the validation loss never improves again
    config = TrainConfig(epochs=6, batch_size=32, optimizer="sgd", lr=1e-30, patience=2,
                         progress=False)
    history = train(model, x[:48], val_x=x[48:], config=config)
    assert [r["epoch"] for r in history] == [1, 2, 3]
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("hourglass")]
    assert lines == [early_stop_text(3, 6, 2, 1, history[0]["val_loss"])]


def test_progress_without_a_terminal_logs_one_line_per_epoch(caplog):
    caplog.set_level(logging.INFO, logger="hourglass")
    p = Progress(enabled=True, epochs=2, steps_per_epoch=3, bars=False)
    assert list(p.steps(0, range(3))) == [0, 1, 2]
    p.close()
    p.epoch_line({"epoch": 1, "train_loss": 2.0})
    p.finish()
    assert p.run_bar is None
    [line] = [r.getMessage() for r in caplog.records]
    assert line.startswith("epoch 1/2  train_loss 2  eta ")


def test_redirected_training_output_has_no_carriage_returns(tmp_path):
    out = tmp_path / "run"
    argv = [a for a in TINY if a != "--quiet"]
    proc = _python("-m", "hourglass", "train", "vae", *argv, "--epochs", "2", "--no-eval",
                   "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "\r" not in proc.stderr and "\r" not in proc.stdout
    lines = proc.stderr.splitlines()
    assert [line.split("  ")[0] for line in lines] == ["epoch 1/2", "epoch 2/2"]
    assert "eta " in lines[0] and "eta " not in lines[1]
    assert proc.stdout == f"trained: {out}\n"

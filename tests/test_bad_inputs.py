"""A corpus of bad inputs, one table: every case must be refused cleanly.

Families of cases are generated from the option declarations (every flag of ``hourglass train``
for the training options and each model option, every estimator parameter, every training
option a run's config.json records), so the corpus grows with the options. Hand-written cases
cover data files, settings files, tampered run directories and the Python API.

Each case asserts:

- the command line exits with status 2 and prints exactly one line ``hourglass: error: ...``
  matching the case's pattern, without a traceback; the Python API raises the case's exception
  type with a message matching the pattern;
- nothing outside the run directory it names changed, and a refused command on an existing run
  changed nothing of that run (a hash of every file before and after).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import stat
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from sklearn.exceptions import NotFittedError

from cli_helpers import cli
from hourglass import AE, VAE
from hourglass.cli.main import build_parser, main
from hourglass.core.errors import ConfigError, HourglassError, RunError
from hourglass.core.options import constraints, options
from hourglass.core.validation import AnyOf, Boolean, Interval, Options, Sizes
from hourglass.estimators import adversarial, autoencoders, conditional, generic, stacked
from hourglass.estimators.autoencoders import _AutoencoderEstimator
from hourglass.models import get_model_class, list_models
from hourglass.train import TrainConfig

TINY = ["--epochs", "1", "--n", "64", "--hidden", "16", "--latent-dim", "2", "--quiet"]
NEW = "{tmp}/new"  # the --out of a new run: the one place a refused train may leave files


class Cli(NamedTuple):
    id: str
    argv: list          # "{run}" / "{tmp}" are filled in
    pattern: str        # regex the one error line must match
    setup: Callable | None = None   # setup(tmp: Path, run: Path) prepares files
    out: str | None = None          # a new run directory the command may create


class Api(NamedTuple):
    id: str
    call: Callable      # call(tmp: Path, fitted: dict)
    error: type
    pattern: str


def _words(name: str) -> str:
    """A regex for an option name as a message may spell it: latent_dim, latent-dim."""
    return re.sub(r"[-_]", "[-_]", re.escape(name))


# ---------------------------------------------------------------------------------------------
# bad values derived from a constraint


def _inner(c):
    if isinstance(c, AnyOf):
        return next(o for o in c.options if o is not None)
    return c


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def bad_texts(c) -> list[str]:
    """Flag texts that the constraint `c` (or the flag's type) refuses."""
    inner = _inner(c)
    if isinstance(inner, Interval):
        texts = ["abc", "nan", "inf", "-inf", ""]
        if inner.kind is int:
            texts.append("1.5")
        if inner.low is not None:
            low_in = inner.closed in ("both", "left")
            texts.append(_fmt(inner.low - 1) if low_in or inner.kind is int else _fmt(inner.low))
        if inner.high is not None:
            high_in = inner.closed in ("both", "right")
            texts.append(_fmt(inner.high + 1) if high_in or inner.kind is int else _fmt(inner.high))
        return texts
    if isinstance(inner, Options):
        return ["no-such-choice", ""]
    if isinstance(inner, Sizes):
        return ["abc", "0", "8,-1", ",", "1.5", "8,x"]
    return []


def bad_values(c) -> list:
    """Python values that the constraint `c` refuses (for config files and estimators)."""
    inner = _inner(c)
    values: list = ["text", {"a": 1}]
    if not (isinstance(c, AnyOf) and None in c.options):
        values.append(None)
    if isinstance(inner, Interval):
        values += [True, float("nan")]
        if inner.kind is int:
            values.append(1.5)
        if inner.low is not None:
            values.append(inner.low - 1)
    elif isinstance(inner, Options):
        values.append("no-such-choice")
    elif isinstance(inner, Sizes):
        values += [[0], [8, -1], "8,8"]
    elif isinstance(inner, Boolean):
        values += [1, "yes"]
    return [v for v in values if not c.accepts(v)]


# ---------------------------------------------------------------------------------------------
# CLI families: every flag of hourglass train, from the declarations


def _train_option_flags():
    """(option name, flag, constraint, model) for TrainConfig and every model option, each name
    once (the first model that declares it)."""
    found = constraints(TrainConfig)
    for name, (f, s) in options(TrainConfig).items():
        if s.flag is None or s.flag.get("negate") or name not in found:
            continue
        yield name, "--" + name.replace("_", "-"), found[name], "vae"
    seen = set(found)
    for model in list_models():
        cls = get_model_class(model).config_class
        found = constraints(cls)
        for name, (f, s) in options(cls).items():
            if s.flag is None or name in seen or name not in found:
                continue
            seen.add(name)
            yield name, "--" + name.replace("_", "-"), found[name], model


def _flag_cases() -> list[Cli]:
    cases = []
    for name, flag, c, model in _train_option_flags():
        argv_model = ["train", model, "--out", NEW, "--quiet", "--epochs", "1", "--n", "64"]
        inner = _inner(c)
        if isinstance(inner, Boolean):
            cases.append(Cli(f"flag-{name}=yes", [*argv_model, f"{flag}=yes"], _words(name),
                             out=NEW))
            continue
        for text in bad_texts(c):
            cases.append(Cli(f"flag-{name}={text}", [*argv_model, f"{flag}={text}"],
                             _words(name), out=NEW))
    # sizes no machine holds: refused by the memory guard before anything is allocated
    for flag, text in (("--latent-dim", "1000000000000"), ("--hidden", "1000000000000"),
                       ("--hidden", "100000,100000,100000"), ("--channels", "100000,100000"),
                       ("--latent-dim", "10" * 12)):
        argv = ["train", "vae", "--out", NEW, "--quiet", "--epochs", "1", f"{flag}={text}"]
        if flag == "--channels":
            argv.append("--arch=conv")
        cases.append(Cli(f"huge{flag}={text}", argv, "weights alone take|too large", out=NEW))
    return cases


def _other_flag_cases() -> list[Cli]:
    """The flags of train, evaluate, sample and embed that are not options of a config."""
    t = ["train", "vae", "--out", NEW, *TINY]
    c = [Cli(f"train{flag}={text}", [*t, f"{flag}={text}"], pattern, out=NEW) for flag, text, pattern in [
        ("--val-fraction", "abc", "val.fraction"), ("--val-fraction", "-0.1", "val_fraction"),
        ("--val-fraction", "1", "val_fraction"), ("--val-fraction", "nan", "val_fraction"),
        ("--val-fraction", "inf", "val_fraction"), ("--n", "abc", "--n"), ("--n", "0", "'n'"),
        ("--n", "-5", "'n'"), ("--n", "1.5", "--n"), ("--k", "0", "--k"), ("--k", "abc", "--k"),
        ("--k", "-1", "--k"), ("--importance-samples", "0", "--importance-samples"),
        ("--importance-samples", "abc", "--importance-samples"), ("--labels", "0", "--labels"), ("--labels", "abc", "--labels"),
        ("--labels", "10", "labels"), ("--labelled-share", "abc", "labelled.share"),
        ("--threads", "0", "--threads"), ("--threads", "abc", "--threads"),
        ("--data", "no-such-dataset", "no-such-dataset"), ("--data", "", "data|dataset"),
        ("--data", "mnist:/no/such/folder", "/no/such/folder"),
        ("--device", "tpu", "device"), ("--device", "", "device"),
        ("--seed", "99999999999999999999999", "'seed'"), ("--seed", "-1", "'seed'"),
        ("--seed", str(2 ** 63), "'seed'"), ("--epochs", str(10 ** 20), "'epochs'"),
        ("--epochs", "1000001", "'epochs'"), ("--optimizer", "sgd", "momentum"),
    ]]
    c[-1] = c[-1]._replace(id="train-sgd-with-momentum",
                           argv=[*t, "--optimizer", "sgd", "--momentum", "0.9"])
    c += [
        Cli("train-adam-with-momentum", [*t, "--momentum", "0.5"], "momentum", out=NEW),
        Cli("train-out-empty", ["train", "vae", *TINY, "--out", ""], "--out"),
        Cli("train-out-blank", ["train", "vae", *TINY, "--out", "  "], "--out"),
        Cli("train-out-missing", ["train", "vae", *TINY], "--out"),
        Cli("train-out-is-a-file", ["train", "vae", *TINY, "--out", "{tmp}/file.txt"],
            "is a file", setup=lambda tmp, run: (tmp / "file.txt").write_text("keep")),
        Cli("train-out-foreign-config", ["train", "vae", *TINY, "--out", "{tmp}/foreign"],
            "not a Hourglass run", setup=_foreign_dir("config.json", '{"a": 1}')),
        Cli("train-out-foreign-report", ["train", "vae", *TINY, "--out", "{tmp}/foreign"],
            "not a Hourglass run", setup=_foreign_dir("report.html", "<html>mine</html>")),
        Cli("train-out-foreign-notes", ["train", "vae", *TINY, "--out", "{tmp}/foreign"],
            "not a Hourglass run", setup=_foreign_dir("notes.txt", "my notes")),
        Cli("train-out-foreign-figures", ["train", "vae", *TINY, "--out", "{tmp}/foreign"],
            "no config.json of a run", setup=_foreign_dir("figures/mine.png", "png")),
        Cli("train-out-foreign-subfolder", ["train", "vae", *TINY, "--out", "{tmp}/foreign"],
            "not a Hourglass run", setup=_foreign_dir("data/mine.npy", "npy")),
        Cli("train-out-existing-run", ["train", "vae", *TINY, "--out", "{run}"],
            "already holds a run"),
        Cli("train-out-run-plus-foreign", ["train", "vae", *TINY, "--out", "{run}"],
            "not a Hourglass run", setup=lambda tmp, run: (run / "mine.txt").write_text("x")),
        Cli("train-unknown-model", ["train", "no-such-model", "--out", NEW], "no-such-model"),
        Cli("train-unknown-flag", [*t, "--no-such-flag", "1"], "no-such-flag"),
        Cli("train-no-model", ["train", "--out", NEW], "MODEL"),
        Cli("train-conv-too-deep", ["train", "vae", "--out", NEW, "--quiet", "--arch", "conv",
                                    "--channels", "8,8,8,8,8"], "channels.*at most 3"),
        Cli("train-conv-on-vectors", ["train", "vae", "--out", NEW, "--quiet", "--arch", "conv",
                                      "--data", "swiss-roll", "--n", "64"], "arch='conv'"),
        Cli("train-bernoulli-on-swiss-roll", ["train", "vae", "--out", NEW, "--quiet",
                                              "--likelihood", "bernoulli", "--data",
                                              "swiss-roll", "--n", "64"], r"\[0, 1\]"),
        Cli("train-patience-without-val", [*t, "--patience", "2", "--val-fraction", "0"],
            "patience"),
        Cli("train-labels-for-vae", [*t, "--labels", "10"], "labels"),
        Cli("train-cvae-on-unlabelled", ["train", "cvae", "--out", NEW, "--quiet", "--data",
                                         "swiss-roll", "--n", "64"], "labels"),
        Cli("train-k-0-last", [*t, "--k", "0"], "--k"),
        Cli("train-mnist-fifo", [*t, "--data", "mnist:{tmp}/idx"], "idx|IDX|files",
            setup=_idx_fifo),
    ]
    for i, c_ in enumerate(c):
        if c_.out is None and NEW in c_.argv:
            c[i] = c_._replace(out=NEW)
    run_cmds = [
        ("evaluate-k-0", ["evaluate", "{run}", "--k", "0"], "--k"),
        ("evaluate-k-text", ["evaluate", "{run}", "--k", "abc"], "--k"),
        ("evaluate-importance-samples-0", ["evaluate", "{run}", "--importance-samples", "0"],
         "--importance-samples"),
        ("evaluate-device", ["evaluate", "{run}", "--device", "tpu"], "device"),
        ("evaluate-missing-run", ["evaluate", "{tmp}/nope"], "does not exist"),
        ("evaluate-a-file", ["evaluate", "{tmp}/file.txt"], "is a file"),
        ("evaluate-empty-dir", ["evaluate", "{tmp}/empty"], "no config.json"),
        ("sample-n-0", ["sample", "{run}", "-n", "0"], "-n"),
        ("sample-n-negative", ["sample", "{run}", "-n=-3"], "-n"),
        ("sample-n-text", ["sample", "{run}", "-n", "abc"], "-n"),
        ("sample-n-float", ["sample", "{run}", "-n", "2.5"], "-n"),
        ("sample-n-huge", ["sample", "{run}", "-n", "100000000000"], "'n'.*1000000"),
        ("sample-n-just-over", ["sample", "{run}", "-n", "1000001"], "'n'.*1000000"),
        ("sample-seed-huge", ["sample", "{run}", "--seed", "99999999999999999999"], "'seed'"),
        ("sample-seed-negative", ["sample", "{run}", "--seed=-1"], "'seed'"),
        ("sample-seed-text", ["sample", "{run}", "--seed", "abc"], "--seed"),
        ("sample-device", ["sample", "{run}", "--device", "tpu"], "device"),
        ("sample-threads-0", ["sample", "{run}", "--threads", "0"], "--threads"),
        ("embed-split", ["embed", "{run}", "--data", "digits", "--split", "nope", "--out",
                         "{tmp}/z.npy"], "--split"),
        ("embed-wrong-shape-data", ["embed", "{run}", "--data", "swiss-roll", "--out",
                                    "{tmp}/z.npy"], "shape"),
        ("embed-no-such-data", ["embed", "{run}", "--data", "{tmp}/nope.npy", "--out",
                                "{tmp}/z.npy"], "does not exist"),
        ("embed-missing-out", ["embed", "{run}", "--data", "digits"], "--out"),
        ("embed-device", ["embed", "{run}", "--data", "digits", "--out", "{tmp}/z.npy",
                          "--device", "tpu"], "device"),
        ("experiment-unknown", ["experiment", "no-such-experiment"], "no-such-experiment"),
        ("no-command", [], "COMMAND"),
        ("unknown-command", ["frobnicate"], "frobnicate"),
    ]
    for id_, argv, pattern in run_cmds:
        c.append(Cli(id_, argv, pattern, setup=_files))
    return c


def _idx_fifo(tmp: Path, run: Path) -> None:
    (tmp / "idx").mkdir()
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"):
        os.mkfifo(tmp / "idx" / name)


def _files(tmp: Path, run: Path) -> None:
    (tmp / "file.txt").write_text("keep")
    (tmp / "empty").mkdir()


def _foreign_dir(name: str, text: str):
    def setup(tmp: Path, run: Path) -> None:
        path = tmp / "foreign" / name
        path.parent.mkdir(parents=True)
        path.write_text(text)
    return setup


# ---------------------------------------------------------------------------------------------
# --resume: every option given must agree with the run; epochs may only grow


def _resume_cases() -> list[Cli]:
    r = ["train", "vae", "--resume", "--out", "{run}", "--quiet"]
    cases = [Cli(f"resume-{flag}={value}", [*r, "--epochs", "2", flag, value],
                 f"--resume.*{re.escape(flag)}") for flag, value in [
        ("--hidden", "64"), ("--latent-dim", "3"), ("--data", "swiss-roll"), ("--lr", "0.5"),
        ("--optimizer", "sgd"), ("--batch-size", "7"), ("--seed", "3"), ("--beta", "2"),
        ("--likelihood", "gaussian"), ("--val-fraction", "0.3"), ("--n", "50"),
        ("--binarize", "threshold"), ("--weight-decay", "0.1"), ("--dropout", "0.2"),
        ("--arch", "conv"), ("--on-nonfinite", "skip"), ("--keep-checkpoints", "3"),
        ("--patience", "4"), ("--grad-clip", "1.0"), ("--batch-norm", ""),
    ]]
    cases[-1] = cases[-1]._replace(id="resume--batch-norm",
                                   argv=[*r, "--epochs", "2", "--batch-norm"])
    cases += [
        Cli("resume-epochs-lower", [*r, "--epochs", "1"], "already trained 2 epochs"),
        Cli("resume-config-other", [*r, "--epochs", "3", "--config", "{tmp}/other.json"],
            "--resume.*--hidden 32", setup=_settings("other.json", '{"hidden": [32]}')),
        Cli("resume-other-model", ["train", "ae", "--resume", "--out", "{run}", "--quiet"],
            "'vae' run"),
        Cli("resume-missing-run", ["train", "vae", "--resume", "--out", "{tmp}/nope"],
            "does not exist"),
        Cli("resume-epochs-huge", [*r, "--epochs", "10000000"], "'epochs'"),
    ]
    return cases


# ---------------------------------------------------------------------------------------------
# --config files (TOML and JSON)


def _settings(name: str, text: str | bytes):
    def setup(tmp: Path, run: Path) -> None:
        path = tmp / name
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)
    return setup


def _config_cases() -> list[Cli]:
    cfg = ["train", "--config"]
    cases = []
    # every flag of `hourglass train vae`: a JSON list where a value is wanted, and (numbers,
    # choices) a TOML string it cannot be
    t = next(a for a in build_parser("vae")._actions if a.dest == "command").choices["train"]
    skip = {"help", "config", "model", "out"}
    for a in t._actions:
        if a.dest in skip or not a.option_strings or a.help == argparse.SUPPRESS:
            continue  # a hidden alias (--k) sets the same setting as its flag
        key = a.dest.replace("_", "-")
        cases.append(Cli(f"json-{key}-list", [*cfg, "{tmp}/s.json"], _words(a.dest),
                         setup=_settings("s.json", json.dumps(
                             {"model": "vae", "out": "{tmp}/new", key: [1, [2]]})), out=NEW))
        if a.nargs != 0 and (a.type is not None or a.choices is not None):
            cases.append(Cli(f"toml-{key}-text", [*cfg, "{tmp}/s.toml"], _words(a.dest),
                             setup=_settings("s.toml", f'model = "vae"\nout = "new"\n'
                                             f'{key} = "not-valid"\n'), out=NEW))
    # values of the right type that break the option's constraint
    for name, flag, c, model in _train_option_flags():
        inner = _inner(c)
        if isinstance(inner, Interval) and inner.low is not None:
            value = inner.low - 1
            cases.append(Cli(f"toml-{name}-below", [*cfg, "{tmp}/b.toml", "--out", NEW],
                             _words(name), setup=_settings("b.toml", f'model = "{model}"\n'
                                                          f'{flag[2:]} = {value}\n'), out=NEW))
    hand = [
        ("bad-toml", "x.toml", "model = \n", "not valid TOML"),
        ("bad-json", "x.json", '{"model": ', "not valid JSON"),
        ("json-list", "x.json", "[1, 2]", "JSON object"),
        ("json-deep", "x.json", "[" * 100000 + "]" * 100000, "nested|JSON object"),
        ("toml-table", "x.toml", 'model = "vae"\n[train]\nepochs = 1\n', "table"),
        ("unknown-key", "x.toml", 'model = "vae"\nout = "n"\nlatent-dimm = 2\n', "latent-dimm"),
        ("unknown-model", "x.toml", 'model = "nope"\nout = "n"\n', "nope"),
        ("model-number", "x.toml", 'model = 3\nout = "n"\n', "model"),
        ("dup-key", "x.json", '{"model": "vae", "latent-dim": 2, "latent_dim": 3}', "twice"),
        ("not-utf8", "x.toml", b"model = \"\xff\xfe\"\n", "UTF-8"),
        ("wrong-suffix", "x.yaml", "model: vae\n", r"\.toml or \.json"),
        ("empty-toml", "x.toml", "", "MODEL"),
        ("run-config-bad-train", "x.json", json.dumps({"model": "vae", "model_config": {},
                                                       "train": {"nope": 1}, "data": {
                                                           "spec": "digits"}}), "nope"),
        ("run-config-extra-entry", "x.json", json.dumps({"model": "vae", "model_config": {},
                                                         "zzz": 1}), "zzz"),
        ("run-config-no-data", "x.json", json.dumps({"model": "vae", "model_config": {}}),
         "'data'"),
    ]
    for id_, name, text, pattern in hand:
        cases.append(Cli(f"config-{id_}", [*cfg, f"{{tmp}}/{name}", "--out", NEW], pattern,
                         setup=_settings(name, text), out=NEW))
    cases += [
        Cli("config-missing", [*cfg, "{tmp}/nope.toml", "--out", NEW], "does not exist"),
        Cli("config-fifo", [*cfg, "{tmp}/f.toml", "--out", NEW], "not a regular file",
            setup=_special("f.toml", "fifo")),
        Cli("config-dev-zero", [*cfg, "{tmp}/z.json", "--out", NEW], "not a regular file",
            setup=_special("z.json", "/dev/zero")),
        Cli("config-sparse", [*cfg, "{tmp}/s.json", "--out", NEW], "more than",
            setup=_special("s.json", "sparse")),
        Cli("config-folder", [*cfg, "{tmp}/d.toml", "--out", NEW], "folder|does not exist",
            setup=_special("d.toml", "dir")),
        Cli("config-abbreviated", ["train", "vae", "--conf", "{tmp}/x.toml", "--out", NEW],
            "--config", setup=_settings("x.toml", "epochs = 1\n")),
        Cli("config-run-as-other-model", ["train", "ae", "--config", "{run}", "--out", NEW],
            "'vae' run"),
    ]
    return cases


def _special(name: str, kind: str):
    """A path that is not a regular file of sensible size: a FIFO, a device, a sparse giant."""
    def setup(tmp: Path, run: Path) -> None:
        path = tmp / name
        if kind == "fifo":
            os.mkfifo(path)
        elif kind == "dir":
            path.mkdir()
        elif kind == "sparse":
            with open(path, "wb") as f:
                f.truncate(100 * 2 ** 30)
        else:
            path.symlink_to(kind)
    return setup


# ---------------------------------------------------------------------------------------------
# data files


def _data(name: str, write: Callable[[Path], None]):
    def setup(tmp: Path, run: Path) -> None:
        write(tmp / name)
    return setup


def _npy(array):
    return lambda p: np.save(p, array, allow_pickle=True)


def _data_cases() -> list[Cli]:
    rng = np.random.default_rng(0)
    ints = rng.integers(0, 1000, (80, 6)).astype(np.float32)
    table = [
        ("fifo.npy", _special("fifo.npy", "fifo"), "not a regular file"),
        ("zero.npy", _special("zero.npy", "/dev/zero"), "not a regular file"),
        ("zero.csv", _special("zero.csv", "/dev/zero"), "not a regular file"),
        ("fifo.csv", _special("fifo.csv", "fifo"), "not a regular file"),
        ("fifo.npz", _special("fifo.npz", "fifo"), "not a regular file"),
        ("dir.npy", _special("dir.npy", "dir"), "folder|not a regular|does not exist"),
        ("sparse.npy", _special("sparse.npy", "sparse"), "more than|not a valid|Cannot read"),
        ("empty.npy", _data("empty.npy", lambda p: p.write_bytes(b"")), "npy"),
        ("garbage.npy", _data("garbage.npy", lambda p: p.write_bytes(b"\x93NUMPY garbage")),
         "npy"),
        ("object.npy", _data("object.npy", _npy(np.array([{"a": 1}] * 8, dtype=object))),
         "dtype"),
        ("nan.npy", _data("nan.npy", _npy(np.full((40, 4), np.nan, np.float32))),
         "NaN|non-finite|finite"),
        ("inf.npy", _data("inf.npy", _npy(np.full((40, 4), np.inf, np.float32))),
         "inf|non-finite|finite"),
        ("scalar.npy", _data("scalar.npy", _npy(np.float32(3))), "example|shape|0-d|dimension"),
        ("strings.npy", _data("strings.npy", _npy(np.array([["a", "b"]] * 40))), "dtype|number"),
        ("empty-rows.npy", _data("empty-rows.npy", _npy(np.zeros((0, 4), np.float32))),
         "example|empty|no"),
        ("text.csv", _data("text.csv", lambda p: p.write_text("a,b\nx,y\n")), "csv"),
        ("ragged.csv", _data("ragged.csv", lambda p: p.write_text("1,2\n3\n")), "csv"),
        ("header-only.csv", _data("header-only.csv", lambda p: p.write_text("a,b\n")),
         "no rows"),
        ("binary.csv", _data("binary.csv", lambda p: p.write_bytes(b"\xff\xfe\x00")),
         "csv|UTF|decode"),
        ("nox.npz", _data("nox.npz", lambda p: np.savez(p, w=np.zeros((4, 4)))), "none named"),
        ("zip.npz", _data("zip.npz", lambda p: p.write_bytes(b"PK\x03\x04broken")), "npz"),
        ("labels.npz", _data("labels.npz", lambda p: np.savez(p, x=np.zeros((8, 4)),
                                                            y=np.zeros(3))), "labels"),
        ("data.txt", _data("data.txt", lambda p: p.write_text("1,2\n")), "no-such|suffix|dataset"),
    ]
    cases = [Cli(f"data-{name}", ["train", "vae", "--out", NEW, *TINY, "--data", f"{{tmp}}/{name}"],
                 pattern, setup=setup, out=NEW) for name, setup, pattern in table]
    cases += [
        Cli("data-ints-bernoulli", ["train", "vae", "--out", NEW, *TINY, "--likelihood",
                                    "bernoulli", "--data", "{tmp}/ints.npy"],
            r"needs data in \[0, 1\].*values in \[\d, 99\d\]", setup=_data("ints.npy", _npy(ints)), out=NEW),
        Cli("data-ints-bernoulli-csv", ["train", "vae", "--out", NEW, *TINY, "--likelihood",
                                        "bernoulli", "--data", "{tmp}/ints.csv"],
            r"needs data in \[0, 1\]", setup=_data("ints.csv", lambda p: np.savetxt(
                p, ints, delimiter=",")), out=NEW),
        Cli("data-ints-auto", ["train", "vae", "--out", NEW, "--quiet", "--epochs", "2",
                               "--no-eval", "--data", "{tmp}/ints.npy"],
            "non-finite.*scale them", setup=_data("ints.npy", _npy(ints * 1e3)), out=NEW),
        Cli("data-negative-bernoulli", ["train", "vae", "--out", NEW, *TINY, "--likelihood",
                                        "bernoulli", "--data", "{tmp}/neg.npy"],
            r"needs data in \[0, 1\]", setup=_data("neg.npy", _npy(-np.ones((40, 4), "f4"))),
            out=NEW),
    ]
    return cases


# ---------------------------------------------------------------------------------------------
# tampered run directories


def _edit_config(edit: Callable[[dict], None]):
    def setup(tmp: Path, run: Path) -> None:
        path = run / "config.json"
        config = json.loads(path.read_text())
        edit(config)
        path.write_text(json.dumps(config))
    return setup


def _edit_weights(edit: Callable[[dict], None]):
    def setup(tmp: Path, run: Path) -> None:
        path = run / "model.safetensors"
        tensors = load_file(str(path))
        edit(tensors)
        save_file(tensors, str(path))
    return setup


def _replace(name: str, kind: str):
    def setup(tmp: Path, run: Path) -> None:
        path = run / name
        path.unlink()
        if kind == "fifo":
            os.mkfifo(path)
        elif kind == "sparse":
            with open(path, "wb") as f:
                f.truncate(100 * 2 ** 30)
        elif kind == "dir":
            path.mkdir()
        elif kind.startswith("bytes:"):
            path.write_bytes(kind[6:].encode("latin-1"))
        elif kind == "pickle":
            torch.save({"w": torch.zeros(2)}, path)
        elif kind == "missing":
            pass
        else:
            path.symlink_to(kind)
    return setup


def _first(tensors: dict) -> str:
    return next(k for k in sorted(tensors) if tensors[k].is_floating_point())


def _set(d: dict, key: str, value):
    d[key] = value


def _tamper_cases() -> list[Cli]:
    commands = {"evaluate": ["evaluate", "{run}", "--k", "1"],
                "sample": ["sample", "{run}", "-n", "4"],
                "embed": ["embed", "{run}", "--data", "digits", "--out", "{tmp}/z.npy"]}
    weights = [
        ("nan", _edit_weights(lambda t: t[_first(t)].fill_(float("nan"))), "NaN or infinite"),
        ("inf", _edit_weights(lambda t: t[_first(t)].fill_(float("inf"))), "NaN or infinite"),
        ("extra", _edit_weights(lambda t: _set(t, "model.zzz", torch.zeros(1))), "unexpected"),
        ("other-prefix", _edit_weights(lambda t: _set(t, "evil.x", torch.zeros(1))),
         "unexpected"),
        ("missing", _edit_weights(lambda t: t.pop(_first(t))), "missing"),
        ("shape", _edit_weights(lambda t: _set(t, _first(t), torch.zeros(3, 3))), "wrong shape"),
        ("fifo", _replace("model.safetensors", "fifo"), "not a regular file"),
        ("dev-zero", _replace("model.safetensors", "/dev/zero"), "not a regular file"),
        ("sparse", _replace("model.safetensors", "sparse"), "more than"),
        ("folder", _replace("model.safetensors", "dir"), "folder"),
        ("garbage", _replace("model.safetensors", "bytes:not safetensors"), "safetensors"),
        ("empty", _replace("model.safetensors", "bytes:"), "safetensors"),
        ("pickle", _replace("model.safetensors", "pickle"), "safetensors"),
        ("deleted", _replace("model.safetensors", "missing"), "--resume"),
    ]
    cases = [Cli(f"run-weights-{wid}-{cmd}", argv, pattern, setup=setup)
             for wid, setup, pattern in weights for cmd, argv in commands.items()]
    configs = [
        ("fifo", _replace("config.json", "fifo"), "not a regular file"),
        ("dev-zero", _replace("config.json", "/dev/zero"), "not a regular file"),
        ("sparse", _replace("config.json", "sparse"), "more than"),
        ("folder", _replace("config.json", "dir"), "folder"),
        ("deleted", _replace("config.json", "missing"), "no config.json"),
        ("not-json", _replace("config.json", "bytes:{"), "not valid JSON"),
        ("list", _replace("config.json", "bytes:[1]"), "'model'"),
        ("deep", _replace("config.json", "bytes:" + "[" * 100000), "JSON"),
        ("not-utf8", _replace("config.json", "bytes:\xff{"), "UTF-8|JSON"),
        ("train-hello", _edit_config(lambda c: _set(c, "train", "hello")), "train = 'hello'"),
        ("train-list", _edit_config(lambda c: _set(c, "train", [1])), "train = "),
        ("train-unknown", _edit_config(lambda c: c["train"].update(zzz=1)), "zzz"),
        ("data-list", _edit_config(lambda c: _set(c, "data", [])), "data = "),
        ("model-unknown", _edit_config(lambda c: _set(c, "model", "nope")), "nope"),
        ("model-number", _edit_config(lambda c: _set(c, "model", 3)), "'model'"),
        ("model-config-list", _edit_config(lambda c: _set(c, "model_config", [])),
         "model_config"),
        ("model-config-unknown", _edit_config(lambda c: c["model_config"].update(zzz=1)), "zzz"),
        ("model-config-huge", _edit_config(lambda c: c["model_config"].update(
            latent_dim=10 ** 12)), "weights alone take"),
        ("model-config-shape", _edit_config(lambda c: c["model_config"].update(
            input_shape=[3])), "do not fit|shape"),
    ]
    for key in ("model", "model_config", "train", "data"):
        configs.append((f"no-{key}", _edit_config(lambda c, k=key: c.pop(k)), _words(key)))
    for key in ("spec", "val_fraction", "seed", "n"):
        configs.append((f"data-no-{key}", _edit_config(lambda c, k=key: c["data"].pop(k)),
                        f"lacks '{key}'"))
        configs.append((f"data-{key}-bad", _edit_config(lambda c, k=key: c["data"].update(
            {k: "" if k == "spec" else -1})), f"data.{key}"))
    # every training option the run records, with a value its declaration refuses
    for name, c in constraints(TrainConfig).items():
        value = bad_values(c)[0]
        configs.append((f"train-{name}-bad", _edit_config(
            lambda cfg, n=name, v=value: cfg["train"].update({n: v})), _words(name)))
    # every option of the run's model, likewise
    for name, c in constraints(get_model_class("vae").config_class).items():
        value = bad_values(c)[0]
        configs.append((f"model-{name}-bad", _edit_config(
            lambda cfg, n=name, v=value: cfg["model_config"].update({n: v})), _words(name)))
    cases += [Cli(f"run-config-{cid}-evaluate", commands["evaluate"], pattern, setup=setup)
              for cid, setup, pattern in configs]
    cases += [Cli(f"run-config-{cid}-sample", commands["sample"], pattern, setup=setup)
              for cid, setup, pattern in configs[:9]]
    cases += [
        Cli("run-history-fifo-evaluate", commands["evaluate"], "not a regular file",
            setup=_replace("history.csv", "fifo")),
        Cli("run-metrics-fifo-evaluate", commands["evaluate"], "not a regular file",
            setup=_replace_or_make("metrics.json", "fifo")),
        Cli("run-metrics-list-evaluate", commands["evaluate"], "metrics file",
            setup=_replace_or_make("metrics.json", "bytes:[1]")),
        Cli("run-checkpoint-fifo-resume", ["train", "vae", "--resume", "--out", "{run}",
                                           "--epochs", "3", "--quiet"],
            "not a regular file", setup=_replace("checkpoint.safetensors", "fifo")),
        Cli("run-checkpoint-dev-zero-resume", ["train", "vae", "--resume", "--out", "{run}",
                                               "--epochs", "3", "--quiet"],
            "not a regular file", setup=_replace("checkpoint.safetensors", "/dev/zero")),
        Cli("run-checkpoint-sparse-resume", ["train", "vae", "--resume", "--out", "{run}",
                                             "--epochs", "3", "--quiet"],
            "more than", setup=_replace("checkpoint.safetensors", "sparse")),
    ]
    return cases


def _replace_or_make(name: str, kind: str):
    def setup(tmp: Path, run: Path) -> None:
        (run / name).touch()
        _replace(name, kind)(tmp, run)
    return setup


CLI_CASES = (_flag_cases() + _other_flag_cases() + _resume_cases() + _config_cases()
             + _data_cases() + _tamper_cases())


# ---------------------------------------------------------------------------------------------
# the Python API


def _estimator_classes() -> list[type]:
    return list({c: None for module in (autoencoders, adversarial, conditional, stacked, generic)
                 for c in vars(module).values() if isinstance(c, type)
                 and issubclass(c, _AutoencoderEstimator) and not c.__name__.startswith("_")})


def _param_cases() -> list[Api]:
    """Every parameter of every estimator class, each name once, with values its constraint
    refuses: fit raises ConfigError naming it, before any training."""
    cases, seen = [], set()
    X = np.random.default_rng(0).random((16, 4))
    for cls in _estimator_classes():
        for name, p in cls._params.items():
            if p.constraint is None or name in seen:
                continue
            seen.add(name)
            for i, value in enumerate(bad_values(p.constraint)[:3]):
                cases.append(Api(f"fit-{cls.__name__}-{name}-{i}",
                                 lambda tmp, f, c=cls, n=name, v=value: c(**{n: v}).fit(X),
                                 ConfigError, _words(name)))
    return cases


def _saved(kind: str, edit: Callable[[dict], None] | None = None, weights=None):
    """Copy the saved estimator `kind`, edit its config / weights, and load it."""
    def call(tmp: Path, fitted: dict):
        dest = tmp / "est"
        shutil.copytree(fitted[f"{kind}-dir"], dest)
        if edit is not None:
            config = json.loads((dest / "config.json").read_text())
            edit(config)
            (dest / "config.json").write_text(json.dumps(config))
        if weights is not None:
            tensors = load_file(str(dest / "model.safetensors"))
            weights(tensors)
            save_file(tensors, str(dest / "model.safetensors"))
        return (VAE if kind == "vae" else AE).load(dest)
    return call


def _params_edit(**changes):
    return lambda c: c["estimator"]["params"].update(changes)


def _api_cases() -> list[Api]:
    X = np.random.default_rng(0).random((32, 4))
    cases = []
    for est in ("vae", "ae"):
        for value, pattern in [(-1, "n_samples"), (0, "n_samples"), (2.5, "n_samples"),
                               ("3", "n_samples"), (10 ** 12, "at most 1,000,000"),
                               (True, "n_samples"), (None, "n_samples"),
                               (np.float64(3.0), "n_samples"), (float("nan"), "n_samples")]:
            cases.append(Api(f"{est}-sample-{value!r}", lambda tmp, f, e=est, v=value:
                             f[e].sample(v), ConfigError, pattern))
    load_cases = [
        ("unknown-param", "vae", _params_edit(zzz=1), None, ConfigError, "'zzz'"),
        ("epochs-negative", "vae", _params_edit(epochs=-5), None, ConfigError, "'epochs'"),
        ("latent-dim-text", "vae", _params_edit(latent_dim="zz"), None, ConfigError,
         "'latent_dim'"),
        ("random-state-huge", "vae", _params_edit(random_state=10 ** 30), None, ConfigError,
         "random_state"),
        ("seedless-momentum", "vae", _params_edit(optimizer="adam", momentum=0.5), None,
         ConfigError, "momentum"),
        ("n-features-negative", "vae", lambda c: c["estimator"].update(n_features_in=-1), None,
         ConfigError, "n_features_in"),
        ("input-ndim", "vae", lambda c: c["estimator"].update(input_ndim=7), None,
         ConfigError, "input_ndim"),
        ("params-list", "vae", lambda c: c["estimator"].update(params=[1]), None, RunError,
         "estimator"),
        ("other-class", "vae", lambda c: c["estimator"].update({"class": "AE"}), None,
         ConfigError, "not a VAE"),
        ("training-run", "vae", lambda c: c.pop("estimator"), None, ConfigError,
         "training run, not a VAE"),
        ("extra-tensor", "vae", None, lambda t: _set(t, "model.zzz", torch.zeros(1)), RunError,
         "unexpected"),
        ("stray-extra", "vae", None, lambda t: _set(t, "extra.zzz", torch.zeros(1)), RunError,
         "unexpected"),
        ("nan-weights", "vae", None, lambda t: t[_first(t)].fill_(float("nan")), RunError,
         "NaN"),
        ("ae-missing-extra", "ae", None, lambda t: t.pop("extra.code_cov"), RunError,
         "missing.*code_cov"),
        ("ae-unknown-param", "ae", _params_edit(beta=2.0), None, ConfigError, "'beta'"),
    ]
    for id_, kind, edit, weights, error, pattern in load_cases:
        cases.append(Api(f"load-{id_}", _saved(kind, edit, weights), error, pattern))

    def load_file_path(tmp, f):
        return VAE.load(Path(f["vae-dir"]) / "config.json")

    def load_no_weights(tmp, f):
        shutil.copytree(f["vae-dir"], tmp / "est")
        (tmp / "est" / "model.safetensors").unlink()
        return VAE.load(tmp / "est")

    cases += [
        Api("load-a-file", load_file_path, RunError, "is a file, not a run directory"),
        Api("load-no-weights", load_no_weights, RunError, "save it again"),
        Api("load-missing", lambda tmp, f: VAE.load(tmp / "nope"), RunError, "does not exist"),
        Api("fit-huge-latent", lambda tmp, f: VAE(latent_dim=10 ** 10, epochs=1).fit(X),
            ConfigError, "weights alone take"),
        Api("fit-huger-latent", lambda tmp, f: VAE(latent_dim=10 ** 30, epochs=1).fit(X),
            ConfigError, "too large"),
        Api("fit-epochs-huge", lambda tmp, f: VAE(epochs=10 ** 20).fit(X), ConfigError,
            "'epochs'"),
        Api("fit-sgd-momentum", lambda tmp, f: VAE(optimizer="sgd", momentum=0.9).fit(X),
            ConfigError, "momentum"),
        Api("fit-nan", lambda tmp, f: VAE(epochs=1).fit(np.full((8, 4), np.nan)), ValueError,
            "NaN"),
        Api("fit-inf", lambda tmp, f: VAE(epochs=1).fit(np.full((8, 4), np.inf)), ValueError,
            "infinity"),
        Api("fit-1d", lambda tmp, f: VAE(epochs=1).fit(np.zeros(8)), ValueError, "2D"),
        Api("fit-empty", lambda tmp, f: VAE(epochs=1).fit(np.zeros((0, 4))), ValueError,
            "0 sample"),
        Api("fit-strings", lambda tmp, f: VAE(epochs=1).fit([["a", "b"]]), ValueError,
            "string|float"),
        Api("fit-bernoulli-ints", lambda tmp, f: VAE(likelihood="bernoulli", epochs=1).fit(
            X * 999), ConfigError, r"\[0, 1\]"),
        Api("fit-image-shape", lambda tmp, f: VAE(image_shape=(3, 3), epochs=1).fit(X),
            ConfigError, "image_shape"),
        Api("fit-conv-not-square", lambda tmp, f: VAE(arch="conv", epochs=1).fit(
            np.random.default_rng(0).random((8, 5))), ConfigError, "square"),
        Api("fit-conv-too-deep", lambda tmp, f: VAE(arch="conv", channels=(4,) * 5,
                                                   epochs=1).fit(np.zeros((8, 1, 8, 8))),
            ConfigError, "channels"),
        Api("fit-val-fraction", lambda tmp, f: VAE(validation_fraction=0.99, epochs=1).fit(
            X[:4]), ConfigError, "validation_fraction"),
        Api("fit-patience-no-val", lambda tmp, f: VAE(patience=2, epochs=1).fit(X),
            ConfigError, "patience"),
        Api("transform-unfitted", lambda tmp, f: VAE().transform(X), NotFittedError,
            "not fitted"),
        Api("sample-unfitted", lambda tmp, f: VAE().sample(2), NotFittedError, "not fitted"),
        Api("transform-wrong-width", lambda tmp, f: f["vae"].transform(np.zeros((2, 5))),
            ValueError, "features"),
        Api("inverse-wrong-shape", lambda tmp, f: f["vae"].inverse_transform(np.zeros((2, 5))),
            ConfigError, "shape"),
        Api("inverse-nan", lambda tmp, f: f["vae"].inverse_transform(np.full((2, 2), np.nan)),
            ConfigError, "NaN"),
        Api("device-bad", lambda tmp, f: VAE(device="tpu", epochs=1).fit(X), ConfigError,
            "device"),
    ]
    return cases


API_CASES = _param_cases() + _api_cases()


# ---------------------------------------------------------------------------------------------
# the checks


def snapshot(root: Path) -> dict:
    """path -> what it is: a hash for a regular file (size and mtime for a giant sparse one),
    the target of a link, or the kind of a FIFO or folder. Never reads a FIFO or a device."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            rel = str(p.relative_to(root))
            if stat.S_ISLNK(st.st_mode):
                found[rel] = "link:" + os.readlink(p)
            elif stat.S_ISDIR(st.st_mode):
                found[rel] = "dir"
            elif not stat.S_ISREG(st.st_mode):
                found[rel] = "special"
            elif st.st_size > 50_000_000:
                found[rel] = f"big:{st.st_size}:{st.st_mtime_ns}"
            else:
                found[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return found


@pytest.fixture(scope="module")
def base_run(tmp_path_factory):
    """A tiny finished run: vae on 64 digits, 2 epochs (the --resume cases need a run at 2)."""
    run = tmp_path_factory.mktemp("bad-inputs") / "run"
    rc = main(["train", "vae", "--out", str(run), "--epochs", "2", "--n", "64", "--hidden",
                  "16", "--latent-dim", "2", "--quiet", "--no-eval"])
    assert rc == 0
    return run


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("estimators")
    X = np.random.default_rng(0).random((32, 4))
    vae = VAE(latent_dim=2, hidden=(8,), epochs=1, random_state=0).fit(X)
    ae = AE(latent_dim=2, hidden=(8,), epochs=1, random_state=0).fit(X)
    return {"vae": vae, "ae": ae, "vae-dir": vae.save(folder / "vae"),
            "ae-dir": ae.save(folder / "ae")}


@pytest.fixture
def deadline():
    """A case that blocks (a FIFO read) fails after 60 s instead of hanging the suite."""
    def expire(signum, frame):
        raise TimeoutError("the command blocked for 60 s")
    old = signal.signal(signal.SIGALRM, expire)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


@pytest.mark.parametrize("case", CLI_CASES, ids=[c.id for c in CLI_CASES])
def test_cli_refuses(case: Cli, base_run, tmp_path, monkeypatch, capsys, deadline):
    work = tmp_path / "work"
    run = work / "run"
    shutil.copytree(base_run, run)
    monkeypatch.chdir(work)
    if case.setup is not None:
        case.setup(work, run)
    before = snapshot(tmp_path)
    argv = [a.format(run=run, tmp=work) for a in case.argv]
    rc, out, err = cli(argv, capsys)
    assert "Traceback" not in err and "Traceback" not in out
    lines = err.splitlines()
    assert rc == 2, (rc, out, err)
    assert len(lines) == 1 and lines[0].startswith("hourglass: error: "), err
    assert re.search(case.pattern, lines[0]), (case.pattern, lines[0])
    after = snapshot(tmp_path)
    new_run = None if case.out is None else str(
        Path(case.out.format(tmp=work)).relative_to(tmp_path))
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    if new_run is not None and new_run not in before:  # a new run may keep its own folder
        changed = {k for k in changed if k != new_run and not k.startswith(new_run + os.sep)}
    assert not changed, sorted(changed)


@pytest.mark.parametrize("case", API_CASES, ids=[c.id for c in API_CASES])
def test_api_refuses(case: Api, fitted, tmp_path, monkeypatch, deadline):
    monkeypatch.chdir(tmp_path)
    before = snapshot(Path(fitted["vae-dir"]).parent)
    with pytest.raises(case.error) as info:
        case.call(tmp_path, fitted)
    message = str(info.value)
    assert re.search(case.pattern, message), (case.pattern, message)
    if isinstance(info.value, HourglassError):
        assert "\n" not in message
    assert snapshot(Path(fitted["vae-dir"]).parent) == before


def test_the_corpus_is_large_and_its_ids_unique():
    ids = [c.id for c in CLI_CASES] + [c.id for c in API_CASES]
    assert len(ids) == len(set(ids)), [i for i in ids if ids.count(i) > 1]
    assert len(ids) >= 300


def test_a_new_run_starts_after_removing_stray_temp_files(base_run, tmp_path, capsys):
    """A write killed mid-way leaves `.NAME.xxxx.tmp`; the next start in that run removes it."""
    run = tmp_path / "run"
    shutil.copytree(base_run, run)
    stray = [run / ".checkpoint.safetensors.abc123.tmp", run / ".config.json.x_9.tmp"]
    for p in stray:
        p.write_bytes(b"\0" * 1000)
    mine = run.parent / ".notes.abc.tmp"
    mine.write_text("not in the run")
    rc, _, err = cli(["train", "vae", "--resume", "--out", run, "--epochs", "3", "--quiet",
                        "--no-eval"], capsys)
    assert rc == 0, err
    assert [p.exists() for p in stray] == [False, False]
    assert mine.read_text() == "not in the run"
    assert json.loads((run / "config.json").read_text())["train"]["epochs"] == 3


def test_resume_with_the_same_flags_is_accepted(base_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(base_run, run)
    rc, _, err = cli(["train", "vae", "--resume", "--out", run, "--epochs", "2", "--hidden",
                        "16", "--latent-dim", "2", "--n", "64", "--quiet", "--no-eval"], capsys)
    assert (rc, err) == (0, "")
    assert json.loads((run / "config.json").read_text())["train"]["epochs"] == 2


def test_a_run_that_never_got_to_a_checkpoint_may_be_started_again(base_run, tmp_path, capsys):
    """Only our config.json (a start that failed before its first checkpoint) and a stale lock:
    the folder is ours, so a new run may start in it."""
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(base_run / "config.json", run / "config.json")
    (run / ".lock").write_text("999999999\n")
    rc, _, err = cli(["train", "vae", "--out", run, *TINY, "--no-eval"], capsys)
    assert (rc, err) == (0, "")
    assert sorted(p.name for p in run.iterdir()) == [
        "checkpoint.json", "checkpoint.safetensors", "config.json", "history.csv",
        "model.safetensors"]

"""Tests of `hourglass train --config FILE` (:mod:`hourglass.runs.config_file` and the CLI that applies
it) and of `--threads`: a TOML file trains the same run as its flags, a run's config.json trains
the same weights again (bitwise, CPU), flags override the file, and every mistake in a file is
one line that names the file and the fix."""

from __future__ import annotations

import contextlib
import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from hourglass.cli.main import main, parse_args
from hourglass.cli.main import train_config_from as cli_train_config
from hourglass.models import get_model_class, list_models
from hourglass.train import TrainConfig
from cli_helpers import assert_one_error_line, cli

# every value differs from the default, so a setting that is lost shows up in config.json
TOML = """\
# a tiny VAE on 200 digits
model = "vae"
data = "digits"
n = 200
val-fraction = 0.2
epochs = 2
batch_size = 64              # _ works as well as -
optimizer = "rmsprop"
lr = 0.003
seed = 3
latent-dim = 2
hidden = [16, 8]
beta = 2                     # an int where a float is expected is fine
binarize = "static"
quiet = true
no-eval = true
threads = 1
"""
FLAGS = ["train", "vae", "--data", "digits", "--n", "200", "--val-fraction", "0.2",
         "--epochs", "2", "--batch-size", "64", "--optimizer", "rmsprop", "--lr", "0.003",
         "--seed", "3", "--latent-dim", "2", "--hidden", "16,8", "--beta", "2",
         "--binarize", "static", "--quiet", "--no-eval"]


def weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run / "model.safetensors"))


def config_of(run: Path) -> dict:
    return json.loads((run / "config.json").read_text())


def history(run: Path) -> list[dict]:
    rows = csv.DictReader((run / "history.csv").read_text().splitlines())
    return [{k: v for k, v in row.items() if k != "time_s"} for row in rows]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Four trainings of the tiny VAE: from the TOML file, from the same flags, and from the
    first run's config.json (as is, and with --epochs 3 on top)."""
    root = tmp_path_factory.mktemp("config")
    (root / "run.toml").write_text(TOML + f'out = "{root / "file"}"\n')
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["train", "--config", str(root / "run.toml")]) == 0
        assert main([*FLAGS, "--out", str(root / "flags")]) == 0
        assert main(["train", "--config", str(root / "file" / "config.json"),
                     "--out", str(root / "replay")]) == 0
        assert main(["train", "--config", str(root / "file"), "--epochs", "3",
                     "--out", str(root / "longer")]) == 0
    torch.set_num_threads(1)  # as conftest set it, whatever the file said
    return root


def test_a_toml_file_sets_every_option(runs):
    config = config_of(runs / "file")
    assert config["model"] == "vae"
    mc = config["model_config"]
    assert (mc["latent_dim"], mc["hidden"], mc["beta"]) == (2, [16, 8], 2.0)
    t = config["train"]
    assert (t["epochs"], t["batch_size"], t["optimizer"], t["lr"], t["seed"], t["binarize"],
            t["progress"]) == (2, 64, "rmsprop", 0.003, 3, "static", False)
    d = config["data"]
    assert (d["spec"], d["n"], d["val_fraction"]) == ("digits", 200, 0.2)
    # 1438 non-test digits: 20% (288) held out for validation, then n = 200 training rows kept
    assert d["sizes"] == {"train": 200, "val": 288, "test": 359}
    assert not (runs / "file" / "metrics.json").exists()  # no-eval = true
    assert "threads" not in json.dumps(config)  # threads do not change results: not recorded


def test_a_toml_file_trains_the_run_its_flags_train(runs):
    assert config_of(runs / "file") == config_of(runs / "flags")
    a, b = weights(runs / "file"), weights(runs / "flags")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_runs_config_json_replays_it_bitwise(runs):
    assert config_of(runs / "replay") == config_of(runs / "file")
    a, b = weights(runs / "file"), weights(runs / "replay")
    assert len(a) == 12 and a.keys() == b.keys()  # 6 layers (16, 8 wide), weight and bias
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert history(runs / "replay") == history(runs / "file")


def test_flags_override_a_replayed_config(runs):
    assert config_of(runs / "longer")["train"]["epochs"] == 3
    assert config_of(runs / "longer")["model_config"] == config_of(runs / "file")["model_config"]
    longer = history(runs / "longer")
    assert [row["epoch"] for row in longer] == ["1", "2", "3"]
    assert longer[:2] == history(runs / "file")  # the same seed: the same first two epochs


def _args(argv) -> dict:
    """parse_args as a dict, without the path of the file (the only intended difference)."""
    return {k: v for k, v in vars(parse_args([str(a) for a in argv])).items() if k != "config"}


def test_toml_json_and_flags_parse_to_the_same_options(tmp_path):
    toml = tmp_path / "run.toml"
    toml.write_text(TOML + 'out = "o"\n')
    settings = {"model": "vae", "data": "digits", "n": 200, "val_fraction": 0.2, "epochs": 2,
                "batch-size": 64, "optimizer": "rmsprop", "lr": 0.003, "seed": 3,
                "latent_dim": 2, "hidden": "16,8", "beta": 2.0, "binarize": "static",
                "quiet": True, "no_eval": True, "threads": 1, "out": "o"}
    (tmp_path / "run.json").write_text(json.dumps(settings))
    expected = _args([*FLAGS, "--threads", "1", "--out", "o"])
    assert expected["hidden"] == (16, 8) and expected["beta"] == 2.0
    assert _args(["train", "--config", toml]) == expected
    assert _args(["train", "--config", tmp_path / "run.json"]) == expected
    # a flag overrides the file; the other settings stay the file's
    over = _args(["train", "vae", "--config", toml, "--latent-dim", "5", "--out", "p"])
    assert over == {**expected, "latent_dim": 5, "out": "p"}


def test_help_names_config_threads_and_tensorboard(capsys):
    rc, out, err = cli(["train", "--help"], capsys)
    assert rc == 0
    text = " ".join(out.split())
    assert "--config FILE" in text and "--tensorboard" in text
    assert "On a shared or busy machine 1 thread can be far faster" in text


# --------------------------------------------------------------------------------------------
# --threads


def test_threads_sets_torchs_threads_and_not_the_samples_values(runs, tmp_path, capsys):
    run = runs / "file"
    try:
        rc, _, err = cli(["sample", run, "-n", "6", "--threads", "2", "--npy", tmp_path / "a.npy"],
                         capsys)
        assert rc == 0 and err == "" and torch.get_num_threads() == 2
        rc, _, _ = cli(["sample", run, "-n", "6", "--threads", "1", "--npy", tmp_path / "b.npy"],
                       capsys)
        assert rc == 0 and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(1)
    # the thread count splits the matrix products differently: the same numbers up to float32
    # rounding (measured: at most 6e-8 apart here), not always the same bits
    np.testing.assert_allclose(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"),
                               rtol=1e-6, atol=1e-7)


# --------------------------------------------------------------------------------------------
# mistakes: one line naming the file and the fix, nothing written


def _write(tmp_path, text, name="run.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _replayed(tmp_path, runs, change):
    config = config_of(runs / "file")
    change(config)
    return _write(tmp_path, json.dumps(config), "config.json")


OK = 'model = "vae"\nepochs = 1\nquiet = true\n'
FILE_ERRORS = {
    "unknown-key": (lambda t: [_write(t, OK + "latnt-dim = 2\n")],
                    ["run.toml: unknown setting 'latnt-dim'. Valid settings of hourglass train "
                     "vae: arch, augment, augment-shift, batch-norm, batch-size,", " latent-dim, ", " weight-decay."]),
    "bad-toml": (lambda t: [_write(t, OK + "hidden = [16,\nlr = 0.1\n")],
                 ["run.toml is not valid TOML: ", "(at line 5, column", "Fix that line."]),
    "bad-json": (lambda t: [_write(t, '{"model": "vae",\n "epochs": 1,\n}', "run.json")],
                 ["run.json is not valid JSON: Expecting property name enclosed in double "
                  "quotes at line 3, column 1. Fix that line."]),
    "json-list": (lambda t: [_write(t, '["vae"]', "run.json")],
                  ["run.json must hold a JSON object of settings"]),
    "string-for-int": (lambda t: [_write(t, OK + 'latent-dim = "two"\n')],
                       ["run.toml: latent-dim = 'two' is not valid (invalid literal for int()"]),
    "float-for-int": (lambda t: [_write(t, OK + "batch-size = 6.5\n")],
                      ["run.toml: batch-size = 6.5 is not valid (expected an int)."]),
    "bool-for-number": (lambda t: [_write(t, OK + "lr = true\n")],
                        ["run.toml: lr = True is not valid (expected a value, not true/false)."]),
    "number-for-bool": (lambda t: [_write(t, OK + "no-eval = 1\n")],
                        ["run.toml: no-eval = 1 is not valid (expected true or false)."]),
    "bad-sizes": (lambda t: [_write(t, OK + 'hidden = [16, "8"]\n')],
                  ["run.toml: hidden = [16, '8'] is not valid (expected a list of ints"]),
    "bad-choice": (lambda t: [_write(t, OK + 'optimizer = "adamm"\n')],
                   ["run.toml: optimizer = 'adamm' is not valid (expected one of sgd,", "adamw)."]),
    "zero-labels": (lambda t: [_write(t, OK + "labels = 0\n")],
                    ["labels = 0 is not valid (expected a positive int, got 0)."]),
    "table": (lambda t: [_write(t, OK + "[train]\nepochs = 2\n")],
              ["run.toml: 'train' is a table; write every setting at the top level"]),
    "twice": (lambda t: [_write(t, OK + "latent-dim = 2\nlatent_dim = 3\n")],
              ["run.toml sets 'latent-dim' twice (as - and _). Keep one."]),
    "no-model": (lambda t: [_write(t, "epochs = 1\n")],
                 ["hourglass train needs a MODEL: `hourglass train vae --out RUN`, or "
                  'model = "vae" in the --config file. Models: aae, ae,']),
    "unknown-model": (lambda t: [_write(t, 'model = "vaex"\n')],
                      ["Unknown model 'vaex'. Valid models: "]),
    "no-out": (lambda t: [_write(t, OK)], ["the following arguments are required: --out"]),
    "missing-file": (lambda t: [t / "nope.toml"],
                     ["The --config file", "nope.toml does not exist. Check the path"]),
    "wrong-suffix": (lambda t: [_write(t, OK, "run.yaml")],
                     ["run.yaml must be a .toml or .json file (or a run's config.json)."]),
    "config-in-config": (lambda t: [_write(t, OK + 'config = "other.toml"\n')],
                         ["unknown setting 'config'"]),
}


@pytest.mark.parametrize("case", list(FILE_ERRORS))
def test_mistakes_in_a_settings_file(case, tmp_path, capsys):
    make, fragments = FILE_ERRORS[case]
    path, *rest = make(tmp_path)
    out_flag = [] if case == "no-out" else ["--out", tmp_path / "out"]
    rc, out, err = cli(["train", "--config", path, *rest, *out_flag], capsys)
    assert_one_error_line(rc, err, *fragments)
    assert not (tmp_path / "out").exists()


REPLAY_ERRORS = {
    "other-model": ("ae", lambda c: None,
                    ["config.json is the config of a 'vae' run, not 'ae'. Leave MODEL out to "
                     "train it again: hourglass train --config"]),
    "unknown-entry": (None, lambda c: c.update(notes="x"),
                      ["config.json has entries a run config does not: notes."]),
    "unknown-train-setting": (None, lambda c: c["train"].update(warp=9),
                              ["config.json has a training setting this version does not know: "
                               "'warp'. Replay it with the Hourglass version that wrote it "
                               "(0.1.0)"]),
    "unknown-model-option": (None, lambda c: c["model_config"].update(depth=3),
                             ["config.json: the 'vae' model of this version has no option "
                              "'depth'; replay the run with the Hourglass version"]),
    "no-train": (None, lambda c: c.pop("train"),
                 ["config.json is not the config of a training run: it needs 'model'"]),
    "bad-train-value": (None, lambda c: c["train"].update(epochs=0),
                        ["The 'epochs' parameter of train must be an int in the range [1, 1000000]. "
                         "Got 0 instead."]),
}


@pytest.mark.parametrize("case", list(REPLAY_ERRORS))
def test_mistakes_in_a_replayed_config(case, runs, tmp_path, capsys):
    model, change, fragments = REPLAY_ERRORS[case]
    path = _replayed(tmp_path, runs, change)
    rc, out, err = cli(["train", *([model] if model else []), "--config", path,
                        "--out", tmp_path / "out"], capsys)
    assert_one_error_line(rc, err, *fragments)
    assert not (tmp_path / "out").exists()


def test_replaying_into_the_source_run_is_refused(runs, capsys):
    before = (runs / "file" / "model.safetensors").read_bytes()
    rc, out, err = cli(["train", "--config", runs / "file" / "config.json",
                        "--out", runs / "file"], capsys)
    assert_one_error_line(rc, err, "already holds a run", "choose another --out")
    assert (runs / "file" / "model.safetensors").read_bytes() == before


def test_model_after_the_options_must_match_a_replayed_config(runs, tmp_path, capsys):
    rc, out, err = cli(["train", "--config", runs / "file" / "config.json", "--out",
                        tmp_path / "out", "ae"], capsys)
    assert_one_error_line(rc, err, "is the config of a 'vae' run, not 'ae'.")
    assert not (tmp_path / "out").exists()


def test_model_after_the_options_gets_its_own_flags(tmp_path):
    """`hourglass train --data digits --out o vae`: MODEL last still gets its model's options
    (with their defaults; a model option before MODEL is not known yet)."""
    args = parse_args(["train", "--data", "digits", "--out", str(tmp_path / "o"), "vae"])
    assert args.model == "vae" and "latent_dim" in args.model_fields and args.latent_dim == 16


@pytest.mark.parametrize("model", list_models())
def test_every_models_config_survives_a_replay(model, tmp_path):
    """The model config in config.json comes back through the flags unchanged (lists, None,
    floats, booleans), for every registered model."""
    cls = get_model_class(model)
    shape = [1, 8, 8]
    model_config = cls.config_class.from_dict({"input_shape": shape}, owner=cls.__name__).to_dict()
    model_config = json.loads(json.dumps(model_config))  # as written to and read from disk
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"hourglass_version": "0.1.0", "model": model,
                                "model_config": model_config, "train": TrainConfig().to_dict(),
                                "data": {"spec": "digits", "val_fraction": 0.1, "n": None}}))
    args = parse_args(["train", "--config", str(path), "--out", str(tmp_path / "o")])
    params = {f: getattr(args, f) for f in args.model_fields}
    again = cls.config_class.from_dict({**params, "input_shape": shape}, owner=cls.__name__)
    assert json.loads(json.dumps(again.to_dict())) == model_config
    assert cli_train_config(args) == TrainConfig()

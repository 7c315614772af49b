"""Tests of `hourglass train --tensorboard` (:mod:`hourglass.train.tensorboard`): the event files
hold every number of history.csv and metrics.json and every figure, pixel for pixel; without the
tensorboard package the flag fails before training, in one line."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import sys

import numpy as np
import pytest

from hourglass.cli.main import main
from hourglass.train.tensorboard import png_pixels, scalar_tag

TRAIN = ["train", "vae", "--data", "digits", "--n", "200", "--epochs", "3", "--latent-dim", "2",
         "--hidden", "16", "--k", "10", "--seed", "1", "--quiet"]


@pytest.fixture(scope="module")
def events(tmp_path_factory):
    """A tiny evaluated run with --tensorboard, and its event files read back."""
    pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path_factory.mktemp("tb") / "run"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main([*TRAIN, "--tensorboard", "--out", str(run)]) == 0
    acc = EventAccumulator(str(run / "tensorboard"), size_guidance={"images": 0, "scalars": 0})
    acc.Reload()
    return run, acc


@pytest.mark.parametrize("column, tag", [("train_loss", "train/loss"), ("val_kl", "val/kl"),
                                         ("train_gen_loss", "train/gen_loss"),
                                         ("time_s", "time/epoch_s"), ("lr", "lr")])
def test_scalar_tags(column, tag):
    assert scalar_tag(column) == tag


def test_every_history_number_is_a_scalar(events):
    run, acc = events
    rows = list(csv.DictReader((run / "history.csv").read_text().splitlines()))
    assert [row["epoch"] for row in rows] == ["1", "2", "3"]
    columns = [c for c in rows[0] if c != "epoch"]
    assert {"train_loss", "train_recon", "train_kl", "val_loss", "val_kl", "time_s"} <= set(columns)
    for column in columns:
        logged = acc.Scalars(scalar_tag(column))
        assert [e.step for e in logged] == [1, 2, 3], column
        # TensorBoard stores float32: the same number, rounded once
        assert [e.value for e in logged] == [float(np.float32(row[column])) for row in rows], column


def test_test_metrics_are_scalars_at_the_last_epoch(events):
    run, acc = events
    metrics = json.loads((run / "metrics.json").read_text())
    numbers = {k: v for k, v in metrics.items()
               if isinstance(v, (int, float)) and not isinstance(v, bool)}
    assert {"nll_nats", "bits_per_dim", "elbo_nats", "knn_accuracy", "nll_k"} <= set(numbers)
    assert numbers["nll_k"] == 10
    tags = set(acc.Tags()["scalars"])
    for name, value in numbers.items():
        (event,) = acc.Scalars(f"test/{name}")
        assert event.step == 3 and event.value == float(np.float32(value)), name
    assert "test/test_binarization" not in tags  # a string, not a number


def test_every_figure_is_an_image_pixel_for_pixel(events):
    from PIL import Image

    run, acc = events
    pngs = sorted((run / "figures").glob("*.png"))
    assert {"samples", "reconstructions", "codes", "training_curves"} <= {p.stem for p in pngs}
    assert set(acc.Tags()["images"]) == {f"figures/{p.stem}" for p in pngs}
    for png in pngs:
        (event,) = acc.Images(f"figures/{png.stem}")
        pixels = png_pixels(png)
        assert event.step == 3
        assert (event.height, event.width) == pixels.shape[:2]
        shown = np.asarray(Image.open(io.BytesIO(event.encoded_image_string)))
        np.testing.assert_array_equal(shown, pixels)


def test_png_pixels_gives_back_the_bytes_of_the_png(tmp_path):
    """matplotlib reads k as the float k/255; rounding back must give k for every k."""
    from PIL import Image

    rgba = np.arange(256 * 4, dtype=np.uint8).reshape(16, 16, 4)
    rgba[..., 0] = np.arange(256, dtype=np.uint8).reshape(16, 16)
    Image.fromarray(rgba).save(tmp_path / "a.png")
    np.testing.assert_array_equal(png_pixels(tmp_path / "a.png"), rgba)


def test_without_the_package_the_flag_fails_before_training(tmp_path, capsys, monkeypatch):
    # None in sys.modules makes `import tensorboard` raise ImportError, as if not installed
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    try:
        rc = main([*TRAIN, "--tensorboard", "--out", str(tmp_path / "out")])
    except SystemExit as e:
        rc = e.code
    out, err = capsys.readouterr()
    assert rc == 2 and out == ""
    assert err == ('hourglass: error: --tensorboard needs the tensorboard package: '
                   'pip install "hourglass-ae[tensorboard]"\n')
    assert not (tmp_path / "out").exists()  # nothing trained, nothing written

"""Tests of hourglass.viz: the arithmetic behind each figure, and the files it writes."""

import csv
import math
import re

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA

from hourglass.core.errors import ConfigError, DataError, RunError
from hourglass.viz import (
    image_grid,
    latent_grid,
    latent_scatter,
    point_cloud,
    reconstruction_grid,
    training_curves,
    write_report,
)
from hourglass.viz import (
    group_terms,
    history_columns,
    interleave_rows,
    latent_plane,
    project_2d,
    tile,
)
from hourglass.viz.report import flatten, format_value

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def numbered_images(n, c=1, h=8, w=8):
    """Images whose every pixel says which image it is: image k is filled with k / n."""
    return np.broadcast_to((np.arange(n) / n)[:, None, None, None], (n, c, h, w)).copy()


def read_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    return mpimg.imread(path)


def assert_only(folder, names):
    """The folder holds exactly these files: no temporary file was left behind."""
    assert sorted(p.name for p in folder.iterdir()) == sorted(names)


# --------------------------------------------------------------------------------------------
# tile and image grids


def test_tile_shape_and_padding_convention():
    mosaic = tile(numbered_images(16), nrow=8, pad=1)
    # 2 rows x 8 columns of 8x8 images, 1 px around each: (2*(8+1)+1, 8*(8+1)+1)
    assert mosaic.shape == (19, 73, 1)
    assert tile(numbered_images(16), nrow=4, pad=2).shape == (4 * 10 + 2, 4 * 10 + 2, 1)
    # fewer images than nrow: one row, as wide as the images
    assert tile(numbered_images(3), nrow=8).shape == (1 * 9 + 1, 3 * 9 + 1, 1)


@pytest.mark.parametrize("n, nrow", [(16, 8), (10, 8), (7, 3)])
def test_tile_puts_image_k_in_its_block(n, nrow):
    x = numbered_images(n, c=3, h=5, w=4)
    mosaic = tile(x, nrow=nrow, pad=1, pad_value=-1.0)
    ncol = min(nrow, n)
    for k in range(n):
        top, left = 1 + (k // ncol) * 6, 1 + (k % ncol) * 5
        block = mosaic[top : top + 5, left : left + 4]  # (H, W, C)
        np.testing.assert_array_equal(block, x[k].transpose(1, 2, 0))
    # everything that is not an image is padding: n images of 5x4x3 pixels, the rest -1
    assert (mosaic != -1.0).sum() == n * 5 * 4 * 3 - (x == -1.0).sum()
    assert np.all(mosaic[0] == -1.0) and np.all(mosaic[:, 0] == -1.0)


def test_image_grid_writes_a_png_of_the_grid(tmp_path):
    x = numbered_images(16)
    path = image_grid(x, tmp_path / "grid.png", shape=(1, 8, 8), nrow=8, title="numbers")
    assert path == tmp_path / "grid.png"
    img = read_png(path)
    height, width = img.shape[:2]
    # every data pixel gets at least one screen pixel, and the aspect ratio follows the grid's 19:73
    assert width >= 73 and height >= 19
    assert 73 / 19 * 0.6 < width / height < 73 / 19 * 1.4
    assert_only(tmp_path, ["grid.png"])


def test_image_grid_accepts_flat_and_tensor_input_identically(tmp_path):
    x = np.random.default_rng(0).random((12, 3, 6, 6)).astype(np.float32)
    a = image_grid(x, tmp_path / "a.png", shape=(3, 6, 6)).read_bytes()
    b = image_grid(x.reshape(12, -1), tmp_path / "b.png", shape=(3, 6, 6)).read_bytes()
    c = image_grid(torch.from_numpy(x), tmp_path / "c.png", shape=(3, 6, 6)).read_bytes()
    assert a == b == c


def test_image_grid_names_the_problem():
    with pytest.raises(DataError, match=r"must have shape \(N, 1, 8, 8\) or flat \(N, 64\)"):
        image_grid(np.zeros((4, 63)), "unused.png", shape=(1, 8, 8))
    with pytest.raises(ConfigError, match="C in {1, 3}"):
        image_grid(np.zeros((4, 2, 8, 8)), "unused.png", shape=(2, 8, 8))
    with pytest.raises(DataError, match="NaN"):
        image_grid(np.full((4, 64), np.nan), "unused.png", shape=(1, 8, 8))


def test_interleave_rows_puts_each_reconstruction_under_its_input():
    x, x_hat = numbered_images(10), -numbered_images(10)
    rows = interleave_rows(x, x_hat, per_row=8)
    assert rows.shape == (32, 1, 8, 8)  # 2 row pairs of 8 cells
    np.testing.assert_array_equal(rows[0:8], x[0:8])
    np.testing.assert_array_equal(rows[8:16], x_hat[0:8])
    np.testing.assert_array_equal(rows[16:18], x[8:10])
    np.testing.assert_array_equal(rows[24:26], x_hat[8:10])
    assert np.all(rows[18:24] == 1.0) and np.all(rows[26:32] == 1.0)  # blanks complete the rows


def test_reconstruction_grid(tmp_path):
    x = numbered_images(20)
    x_hat = torch.from_numpy(x * 0.5)
    path = reconstruction_grid(x, x_hat, tmp_path / "recon.png", shape=(1, 8, 8), n=16)
    img = read_png(path)
    # 16 examples: 2 row pairs of 8 -> a 4 x 8 mosaic of 37 x 73 pixels
    assert 73 / 37 * 0.6 < img.shape[1] / img.shape[0] < 73 / 37 * 1.4
    with pytest.raises(DataError, match="one reconstruction per input"):
        reconstruction_grid(x, x[:5], tmp_path / "bad.png", shape=(1, 8, 8))
    assert_only(tmp_path, ["recon.png"])


# --------------------------------------------------------------------------------------------
# training curves


HISTORY = [
    {"epoch": 1, "train_loss": 2.5, "val_loss": 2.75, "train_kl": 0.125, "val_kl": 0.1,
     "lr": 1e-3, "time": "12:00"},
    {"epoch": 2, "train_loss": 1.0 / 3, "val_loss": 0.4, "train_kl": 0.3, "val_kl": 0.35,
     "lr": 1e-3, "time": "12:01"},
    {"epoch": 3, "train_loss": 0.1, "train_kl": 0.5, "lr": 5e-4, "time": "12:02"},  # no val
]


def write_history_csv(path, rows):
    fields = list(dict.fromkeys(k for row in rows for k in row))
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_history_columns_reads_csv_and_list_identically(tmp_path):
    from_list = history_columns(HISTORY)
    from_csv = history_columns(write_history_csv(tmp_path / "history.csv", HISTORY))
    names = ["epoch", "train_loss", "val_loss", "train_kl", "val_kl", "lr"]  # "time" is text
    assert list(from_list) == list(from_csv) == names
    for name in from_list:
        np.testing.assert_array_equal(from_list[name], from_csv[name])
    np.testing.assert_array_equal(from_list["epoch"], [1, 2, 3])
    assert from_list["train_loss"][1] == 1.0 / 3  # full precision survives the CSV
    assert math.isnan(from_list["val_loss"][2])  # a missing value is NaN, not a crash


def test_group_terms_pairs_train_and_val():
    names = ["epoch", "train_kl", "val_kl", "train_loss", "val_loss", "lr", "test_recon"]
    groups = group_terms(names)
    assert groups == {"loss": ["train_loss", "val_loss"], "kl": ["train_kl", "val_kl"],
                      "lr": ["lr"], "recon": ["test_recon"]}


def test_training_curves_same_figure_from_csv_and_list(tmp_path):
    a = training_curves(HISTORY, tmp_path / "a.png")
    b = training_curves(write_history_csv(tmp_path / "history.csv", HISTORY), tmp_path / "b.png")
    assert a.read_bytes() == b.read_bytes()
    img = read_png(a)
    assert img.shape[1] > img.shape[0]  # 3 terms side by side
    with pytest.raises(DataError, match="empty"):
        training_curves([], tmp_path / "c.png")
    with pytest.raises(DataError, match="No history file"):
        training_curves(tmp_path / "missing.csv", tmp_path / "c.png")


# --------------------------------------------------------------------------------------------
# latent spaces


def test_project_2d_uses_pca_above_two_dimensions():
    z = np.random.default_rng(0).normal(size=(200, 5)) * [5.0, 3.0, 1.0, 0.5, 0.1]
    z2, labels = project_2d(torch.from_numpy(z))
    np.testing.assert_allclose(z2, PCA(n_components=2).fit_transform(z), atol=1e-10)
    assert all("PCA of 5-D codes" in label for label in labels)


def test_project_2d_keeps_two_and_one_dimensional_codes():
    z = np.random.default_rng(1).normal(size=(50, 2))
    z2, labels = project_2d(z)
    np.testing.assert_array_equal(z2, z)
    assert labels == ("z[0]", "z[1]")
    z1, _ = project_2d(z[:, :1])
    np.testing.assert_array_equal(z1, np.column_stack([z[:, 0], np.zeros(50)]))


@pytest.mark.parametrize("d", [1, 2, 5])
def test_latent_scatter_writes_for_every_dimension(tmp_path, d):
    rng = np.random.default_rng(d)
    z, y = rng.normal(size=(60, d)), rng.integers(0, 3, size=60)
    path = latent_scatter(z, tmp_path / "z.png", y=y, classes=["a", "b", "c"], title="codes")
    assert read_png(path).shape[0] > 100
    latent_scatter(z, tmp_path / "plain.png")
    latent_scatter(z, tmp_path / "continuous.png", y=rng.random(60))  # colour bar
    with pytest.raises(DataError, match="one label per code"):
        latent_scatter(z, tmp_path / "bad.png", y=y[:10])
    assert_only(tmp_path, ["z.png", "plain.png", "continuous.png"])


def test_latent_scatter_accepts_label_names_and_names_bad_labels(tmp_path):
    z, y = np.zeros((6, 2)), np.array(["cat", "dog", "cat", "cow", "dog", "cat"])
    assert read_png(latent_scatter(z, tmp_path / "names.png", y=y)).shape[0] > 100
    with pytest.raises(DataError, match="integer labels"):
        latent_scatter(z, tmp_path / "bad.png", y=np.linspace(0, 1, 6), classes=["a", "b"])


@pytest.mark.parametrize("n", [15, 4, 1])
def test_latent_plane_is_a_symmetric_grid_of_normal_quantiles(n):
    z = latent_plane(n)
    assert z.shape == (n * n, 2) and z.dtype == np.float32
    np.testing.assert_array_equal(z.min(axis=0), -z.max(axis=0))
    if n > 1:
        np.testing.assert_allclose(z.max(axis=0), [1.6449, 1.6449], atol=1e-4)  # Phi^-1(0.95)
    if n % 2 == 1:
        np.testing.assert_array_equal(z[(n * n) // 2], [0.0, 0.0])
    grid = z.reshape(n, n, 2)
    assert np.all(np.diff(grid[:, :, 0], axis=1) > 0)  # z[0] grows left to right
    assert np.all(np.diff(grid[:, :, 1], axis=0) < 0)  # z[1] shrinks top to bottom
    assert np.all(grid[:, :, 0] == grid[0, :, 0]) and np.all(grid[:, :, 1] == grid[:, :1, 1])


def test_latent_grid_decodes_the_plane(tmp_path):
    calls = []

    def decode(z):
        calls.append(z)
        # a (1, 6, 6) image whose brightness is the point's z[0] rescaled to [0, 1]
        return torch.from_numpy(np.repeat((z[:, :1] + 2) / 4, 36, axis=1))

    path = latent_grid(decode, tmp_path / "manifold.png", shape=(1, 6, 6), n=5)
    (z,) = calls
    assert z.dtype == np.float32
    np.testing.assert_array_equal(z, latent_plane(5))
    img = read_png(path)
    assert 0.7 < img.shape[1] / img.shape[0] < 1.4  # square grid
    with pytest.raises(DataError, match="one image per row"):
        latent_grid(lambda z: np.zeros((3, 36)), tmp_path / "bad.png", shape=(1, 6, 6), n=5)
    with pytest.raises(ConfigError, match="'prior'"):
        latent_grid(decode, tmp_path / "bad.png", shape=(1, 6, 6), prior="uniform")


# --------------------------------------------------------------------------------------------
# point clouds


@pytest.mark.parametrize("d", [2, 3, 5])
def test_point_cloud_data_and_reconstruction(tmp_path, d):
    rng = np.random.default_rng(d)
    x = rng.normal(size=(100, d))
    one = read_png(point_cloud(x, tmp_path / "one.png", color=x[:, 0], title="data"))
    two = read_png(point_cloud(x, tmp_path / "two.png", x_hat=x + 0.1, color=x[:, 0]))
    assert two.shape[1] > 1.5 * one.shape[1] * 0.9  # a second panel, about as wide as the first
    with pytest.raises(DataError, match="shape of x"):
        point_cloud(x, tmp_path / "bad.png", x_hat=x[:, :1])


def test_figures_leave_no_pyplot_figure_open(tmp_path):
    before = plt.get_fignums()
    image_grid(numbered_images(4), tmp_path / "a.png", shape=(1, 8, 8))
    latent_scatter(np.zeros((10, 2)), tmp_path / "b.png")
    point_cloud(np.zeros((10, 3)), tmp_path / "c.png")
    assert plt.get_fignums() == before


# --------------------------------------------------------------------------------------------
# report


def test_format_value_and_flatten():
    assert format_value(0.012345678) == "0.01235"
    assert format_value(-98.7654) == "-98.77"
    assert format_value(np.float32(2.0)) == "2"
    assert format_value(torch.tensor(0.5)) == "0.5"
    assert format_value(123456.0) == "123456"
    assert format_value(1e-7) == "1e-07"
    assert format_value(12) == "12" and format_value(True) == "True"
    assert format_value(float("nan")) == "nan"
    assert flatten({"a": {"b": 1, "c": {"d": 2}}, "e": 3}) == {"a.b": 1, "a.c.d": 2, "e": 3}


def test_write_report_is_self_contained_and_escaped(tmp_path):
    run = tmp_path / "run"
    grid = image_grid(numbered_images(8), run / "grid.png", shape=(1, 8, 8))
    curves = training_curves(HISTORY, run / "curves.png")
    path = write_report(
        run,
        title="VAE <on> MNIST",
        config={"model": "vae", "latent_dim": 2, "comment": "<script>alert(1)</script>"},
        metrics={"test": {"elbo": -98.123456, "kl": 20.5}, "epochs": 10, "params": 123456.0},
        figures=[("Samples & more", grid), ("training curves", "curves.png")],  # relative to run
        notes="first run\nsecond line",
    )
    assert path == run / "report.html"
    text = path.read_text(encoding="utf-8")
    for cell in ["test.elbo", "-98.12", "test.kl", "20.5", "epochs", "10", "123456"]:
        assert f">{cell}<" in text
    assert "Samples &amp; more" in text and "training curves" in text
    assert text.count("data:image/png;base64,") == 2
    assert not re.search(r"https?://", text)  # nothing fetched from the network
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "VAE &lt;on&gt; MNIST" in text
    assert_only(run, ["grid.png", "curves.png", "report.html"])


def test_write_report_names_a_missing_figure(tmp_path):
    with pytest.raises(RunError, match="does not exist"):
        write_report(tmp_path, title="t", config={}, metrics={},
                     figures=[("x", tmp_path / "no.png")])
    assert_only(tmp_path, [])

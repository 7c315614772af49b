"""Tests of hourglass.data: splits, IDX reading, sources, downloads, user files, binarization."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import http.server
import json
import struct
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from hourglass.data import Dataset, Split, binarize, list_datasets, load, read_idx
from hourglass.data import sources
from hourglass.data.dataset import split_indices
from hourglass.data.download import download
from hourglass.core.errors import ConfigError, DataError

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


# ---------------------------------------------------------------------------------------------
# Helpers: an IDX writer independent of the library's, and a tiny IDX dataset
# ---------------------------------------------------------------------------------------------

_CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D,
          np.float64: 0x0E}


def idx_bytes(array: np.ndarray) -> bytes:
    header = struct.pack(">BBBB", 0, 0, _CODES[array.dtype.type], array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_file(path: Path, data: bytes, gz: bool = False) -> Path:
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def tiny_idx(n_train=20, n_test=5, h=4, w=3, seed=0):
    """(name -> IDX bytes of a .gz-less file, arrays) for a tiny MNIST-like dataset."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, h, w), dtype=np.uint8),
        "train-labels-idx1-ubyte": (np.arange(n_train) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, h, w), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(n_test) % 10).astype(np.uint8),
    }
    return {k: idx_bytes(v) for k, v in arrays.items()}, arrays


def write_tiny_folder(folder: Path, *, gz=True, dotted=False) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    files, arrays = tiny_idx()
    for name, data in files.items():
        if dotted:  # train-images.idx3-ubyte spelling
            name = name.replace("-idx", ".idx")
        write_file(folder / (name + (".gz" if gz else "")), data, gz=gz)
    return arrays


# ---------------------------------------------------------------------------------------------
# digits and splitting
# ---------------------------------------------------------------------------------------------

def test_digits_sizes_shape_range_and_classes():
    ds = load("digits")
    assert (len(ds.train), len(ds.val), len(ds.test)) == (1294, 144, 359)
    assert len(ds.train) + len(ds.val) + len(ds.test) == 1797
    assert ds.shape == (1, 8, 8) and ds.is_image and ds.dim == 64
    assert ds.train.x.shape == (1294, 1, 8, 8) and ds.train.x.dtype == torch.float32
    assert ds.value_range == (0.0, 1.0)
    assert float(ds.train.x.min()) == 0.0 and float(ds.train.x.max()) == 1.0
    assert ds.classes == [str(k) for k in range(10)] and ds.n_classes == 10
    assert ds.train.y.dtype == torch.long and set(ds.train.y.tolist()) == set(range(10))
    assert ds.coords is None and ds.train.t is None


def test_digits_split_depends_on_seed_but_test_split_does_not():
    a, b, c = load("digits", seed=0), load("digits", seed=0), load("digits", seed=1)
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.val.y, b.val.y)
    assert not torch.equal(a.train.x, c.train.x)
    assert torch.equal(a.test.x, c.test.x)  # runs with different seeds share one test set


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_split_indices_partition_the_examples(seed):
    train, val, test = split_indices(1797, val_fraction=0.1, test_fraction=0.2, seed=seed)
    assert (len(train), len(val), len(test)) == (1294, 144, 359)
    assert sorted(np.concatenate([train, val, test]).tolist()) == list(range(1797))
    assert test.tolist() == split_indices(1797, seed=seed + 10)[2].tolist()


def test_val_fraction_and_n_subsample():
    ds = load("digits", val_fraction=0.0)
    assert (len(ds.train), len(ds.val), len(ds.test)) == (1438, 0, 359)
    small, again = load("digits", n=100, seed=3), load("digits", n=100, seed=3)
    assert len(small.train) == 100 and torch.equal(small.train.x, again.train.x)
    assert len(small.val) == 144 and len(small.test) == 359
    assert len(load("digits", n=10**6).train) == 1294  # n beyond the train size keeps it all


@pytest.mark.parametrize("kwargs, match", [
    ({"val_fraction": 1.0}, "val_fraction.*range \\[0, 1\\)"),
    ({"val_fraction": -0.1}, "val_fraction"),
    ({"n": 0}, "'n' parameter"),
    ({"seed": 1.5}, "'seed' parameter"),
])
def test_bad_parameters_raise_config_error(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        load("digits", **kwargs)


def test_unknown_name_lists_valid_names():
    with pytest.raises(ConfigError, match="Unknown dataset 'nope'.*digits.*fashion-mnist"):
        load("nope")


def test_list_datasets_names_and_descriptions():
    entries = list_datasets()
    names = [e["name"] for e in entries]
    for name in ("digits", "fashion-mnist", "mnist", "swiss-roll", "s-curve", "idx:PATH"):
        assert name in names
    assert all(isinstance(e["description"], str) and e["description"] for e in entries)


def test_info_is_json_serializable_and_exact():
    info = json.loads(json.dumps(load("digits").info()))
    assert info["sizes"] == {"train": 1294, "val": 144, "test": 359}
    assert info["shape"] == [1, 8, 8] and info["dtype"] == "float32"
    assert info["value_range"] == [0.0, 1.0] and info["n_classes"] == 10


def test_to_float_maps_uint8_to_unit_interval_and_keeps_floats():
    ds = Dataset.from_arrays(np.arange(256, dtype=np.uint8).reshape(16, 4, 4), name="u8")
    assert ds.dtype == torch.uint8 and ds.value_range == (0.0, 255.0) and ds.shape == (1, 4, 4)
    x = torch.tensor([0, 51, 255], dtype=torch.uint8)
    assert torch.equal(ds.to_float(x), torch.tensor([0.0, 0.2, 1.0]))
    y = torch.tensor([-1.5, 2.0], dtype=torch.float64)
    out = ds.to_float(y)
    assert out.dtype == torch.float32 and out.tolist() == [-1.5, 2.0]


def test_split_rejects_mismatched_labels():
    with pytest.raises(DataError, match="Split.y has 2 rows but Split.x has 3"):
        Split(torch.zeros(3, 2), torch.zeros(2, dtype=torch.long))


# ---------------------------------------------------------------------------------------------
# IDX reader
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip(tmp_path, dtype, gz):
    array = (np.arange(2 * 3 * 5) - 7).astype(dtype).reshape(2, 3, 5)
    path = write_file(tmp_path / "a-idx3-ubyte", idx_bytes(array), gz=gz)
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.dtype.isnative and back.shape == (2, 3, 5)
    np.testing.assert_array_equal(back, array)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_bad_magic(tmp_path, gz):
    path = write_file(tmp_path / "bad", b"\x01\x02\x08\x01" + b"\x00" * 8, gz=gz)
    with pytest.raises(DataError, match="not an IDX file") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_idx_unknown_dtype_code_and_zero_rank(tmp_path):
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx(write_file(tmp_path / "code", b"\x00\x00\x07\x01" + struct.pack(">I", 1) + b"x"))
    with pytest.raises(DataError, match="0 dimensions"):
        read_idx(write_file(tmp_path / "rank", b"\x00\x00\x08\x00"))


@pytest.mark.parametrize("gz", [False, True])
def test_idx_truncated(tmp_path, gz):
    data = idx_bytes(np.zeros((10, 4, 4), np.uint8))
    path = write_file(tmp_path / "t-idx3-ubyte", data[:-7], gz=gz)
    with pytest.raises(DataError, match="truncated") as info:
        read_idx(path)
    assert str(path) in str(info.value)
    with pytest.raises(DataError, match="truncated"):  # cut inside the header
        read_idx(write_file(tmp_path / "h", data[:9], gz=gz))


@pytest.mark.parametrize("gz", [False, True])
def test_idx_huge_header_is_refused_quickly(tmp_path, gz):
    header = b"\x00\x00\x08\x02" + struct.pack(">II", 10**6, 10**6)  # claims 10**12 bytes
    path = write_file(tmp_path / "huge", header + b"\x00" * 100, gz=gz)
    import tracemalloc
    tracemalloc.start()
    with pytest.raises(DataError, match="truncated"):
        read_idx(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 10 * 2**20  # refused before allocating: far below the 10**12 bytes claimed


def test_idx_trailing_bytes_and_missing_file(tmp_path):
    path = write_file(tmp_path / "x", idx_bytes(np.zeros(3, np.uint8)) + b"\x00")
    with pytest.raises(DataError, match="bytes after"):
        read_idx(path)
    with pytest.raises(DataError, match="does not exist"):
        read_idx(tmp_path / "absent")


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("dotted", [False, True])
@pytest.mark.parametrize("prefix", ["idx", "mnist"])
def test_idx_folder_load(tmp_path, gz, dotted, prefix):
    arrays = write_tiny_folder(tmp_path / "data", gz=gz, dotted=dotted)
    ds = load(f"{prefix}:{tmp_path / 'data'}")
    assert (len(ds.train), len(ds.val), len(ds.test)) == (18, 2, 5)
    assert ds.shape == (1, 4, 3) and ds.dtype == torch.uint8 and ds.value_range == (0.0, 255.0)
    assert ds.classes == [str(k) for k in range(10)]
    np.testing.assert_array_equal(ds.test.x[:, 0].numpy(), arrays["t10k-images-idx3-ubyte"])
    # train + val together are exactly the train file, labels attached to the right images
    x = torch.cat([ds.train.x, ds.val.x])[:, 0].numpy()
    y = torch.cat([ds.train.y, ds.val.y]).numpy()
    order = np.lexsort(x.reshape(len(x), -1).T)
    ref_x, ref_y = arrays["train-images-idx3-ubyte"], arrays["train-labels-idx1-ubyte"]
    ref_order = np.lexsort(ref_x.reshape(len(ref_x), -1).T)
    np.testing.assert_array_equal(x[order], ref_x[ref_order])
    np.testing.assert_array_equal(y[order], ref_y[ref_order])


def test_idx_folder_missing_files_names_folder_and_files(tmp_path):
    write_tiny_folder(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte") as info:
        load(f"idx:{tmp_path}")
    assert str(tmp_path) in str(info.value)


def test_idx_folder_count_mismatch(tmp_path):
    write_tiny_folder(tmp_path)
    write_file(tmp_path / "t10k-labels-idx1-ubyte.gz", idx_bytes(np.zeros(4, np.uint8)), gz=True)
    with pytest.raises(DataError, match="5 images but .* has 4 labels"):
        load(f"idx:{tmp_path}")


# ---------------------------------------------------------------------------------------------
# fashion-mnist: the installed package, HOURGLASS_DATA, and the error when absent
# ---------------------------------------------------------------------------------------------

@pytest.mark.skipif(not FASHION_DIR.is_dir(),
                    reason="needs `apt-get install dataset-fashion-mnist` (CI installs it)")
def test_fashion_mnist_from_installed_package(monkeypatch):
    monkeypatch.delenv("HOURGLASS_DATA", raising=False)
    ds = load("fashion-mnist")
    assert len(ds.train) + len(ds.val) == 60000 and len(ds.val) == 6000
    assert len(ds.test) == 10000
    assert ds.shape == (1, 28, 28) and ds.dtype == torch.uint8 and ds.value_range == (0, 255)
    assert ds.classes[:2] == ["T-shirt/top", "Trouser"] and ds.classes[-1] == "Ankle boot"
    y = torch.cat([ds.train.y, ds.val.y])
    assert torch.bincount(y).tolist() == [6000] * 10
    assert torch.bincount(ds.test.y).tolist() == [1000] * 10


@pytest.fixture
def no_fashion(monkeypatch):
    """Hide every installed copy of fashion-mnist; return a function to swap its md5 table."""
    monkeypatch.delenv("HOURGLASS_DATA", raising=False)
    monkeypatch.delenv("HOURGLASS_MIRROR", raising=False)
    source = dataclasses.replace(sources.IDX_SOURCES["fashion-mnist"], system_dirs=())
    monkeypatch.setitem(sources.IDX_SOURCES, "fashion-mnist", source)

    def set_md5(md5: dict):
        monkeypatch.setitem(sources.IDX_SOURCES, "fashion-mnist",
                            dataclasses.replace(source, md5=md5))
    return set_md5


def test_fashion_mnist_missing_says_how_to_get_it(no_fashion, tmp_path):
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist") as info:
        load("fashion-mnist", cache_dir=tmp_path)
    assert "HOURGLASS_DATA" in str(info.value) and "download=True" in str(info.value)


@pytest.mark.parametrize("subfolder", [True, False])
def test_fashion_mnist_from_hourglass_data(no_fashion, tmp_path, monkeypatch, subfolder):
    write_tiny_folder(tmp_path / "fashion-mnist" if subfolder else tmp_path, dotted=True)
    monkeypatch.setenv("HOURGLASS_DATA", str(tmp_path))
    ds = load("fashion-mnist", cache_dir=tmp_path / "cache")
    assert (len(ds.train), len(ds.val), len(ds.test)) == (18, 2, 5)
    assert ds.name == "fashion-mnist" and ds.classes[0] == "T-shirt/top" and ds.n_classes == 10


# ---------------------------------------------------------------------------------------------
# Downloads against a local HTTP server
# ---------------------------------------------------------------------------------------------

@pytest.fixture
def server():
    """A local HTTP server; map path -> (body, declared Content-Length) in `routes`."""
    routes: dict[str, tuple[bytes, int]] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path not in routes:
                self.send_error(404, "Not Found")
                return
            body, length = routes[self.path]
            self.send_response(200)
            self.send_header("Content-Length", str(length))
            self.end_headers()
            self.wfile.write(body)  # HTTP/1.0: the connection closes after this

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", routes
    httpd.shutdown()
    httpd.server_close()


def test_download_good_file_with_md5_and_sha256(server, tmp_path):
    base, routes = server
    body = b"hourglass" * 1000
    routes["/f.bin"] = (body, len(body))
    dest = download(f"{base}/f.bin", tmp_path / "sub" / "f.bin",
                    md5=hashlib.md5(body).hexdigest(), sha256=hashlib.sha256(body).hexdigest())
    assert dest.read_bytes() == body
    assert sorted(p.name for p in dest.parent.iterdir()) == ["f.bin"]  # no temp file left


def test_download_checksum_mismatch_leaves_nothing(server, tmp_path):
    base, routes = server
    body = b"corrupt"
    routes["/f.bin"] = (body, len(body))
    with pytest.raises(DataError, match=f"expected md5 {'0' * 32}, got "
                                        f"{hashlib.md5(body).hexdigest()}"):
        download(f"{base}/f.bin", tmp_path / "f.bin", md5="0" * 32)
    assert list(tmp_path.iterdir()) == []


def test_download_truncated_transfer_leaves_nothing(server, tmp_path):
    base, routes = server
    routes["/f.bin"] = (b"x" * 1000, 5000)  # promises 5000 bytes, sends 1000, closes
    with pytest.raises(DataError, match="truncated"):
        download(f"{base}/f.bin", tmp_path / "f.bin")
    assert list(tmp_path.iterdir()) == []


def test_download_404(server, tmp_path):
    base, _ = server
    with pytest.raises(DataError, match="HTTP 404"):
        download(f"{base}/absent.gz", tmp_path / "absent.gz")
    assert list(tmp_path.iterdir()) == []


def test_fashion_mnist_download_then_load_from_cache(server, no_fashion, tmp_path, monkeypatch):
    base, routes = server
    files, arrays = tiny_idx()
    md5 = {}
    for name, data in files.items():
        gz = gzip.compress(data)
        routes[f"/mirror/{name}.gz"] = (gz, len(gz))
        md5[f"{name}.gz"] = hashlib.md5(gz).hexdigest()
    no_fashion(md5)
    monkeypatch.setenv("HOURGLASS_MIRROR", f"{base}/mirror")
    ds = load("fashion-mnist", download=True, cache_dir=tmp_path)
    assert sorted(p.name for p in (tmp_path / "fashion-mnist").iterdir()) == sorted(md5)
    assert (len(ds.train), len(ds.val), len(ds.test)) == (18, 2, 5)
    np.testing.assert_array_equal(ds.test.y.numpy(), arrays["t10k-labels-idx1-ubyte"])
    routes.clear()  # the server now has nothing: the second load must use the cache
    again = load("fashion-mnist", cache_dir=tmp_path)
    assert torch.equal(again.train.x, ds.train.x) and torch.equal(again.test.x, ds.test.x)


def test_fashion_mnist_download_with_wrong_checksum_fails(server, no_fashion, tmp_path,
                                                          monkeypatch):
    base, routes = server
    files, _ = tiny_idx()
    for name, data in files.items():
        gz = gzip.compress(data)
        routes[f"/{name}.gz"] = (gz, len(gz))
    monkeypatch.setenv("HOURGLASS_MIRROR", base)  # official md5s: the tiny files do not match
    with pytest.raises(DataError, match="Checksum mismatch"):
        load("fashion-mnist", download=True, cache_dir=tmp_path)
    assert list((tmp_path / "fashion-mnist").iterdir()) == []


# ---------------------------------------------------------------------------------------------
# User files: npy, npz, csv
# ---------------------------------------------------------------------------------------------

def test_npy_vectors(tmp_path):
    x = np.arange(50 * 4, dtype=np.float64).reshape(50, 4)
    np.save(tmp_path / "v.npy", x)
    ds = load(str(tmp_path / "v.npy"))
    assert ds.shape == (4,) and not ds.is_image and ds.dtype == torch.float32
    assert (len(ds.train), len(ds.val), len(ds.test)) == (36, 4, 10)
    assert ds.value_range == (0.0, 199.0) and ds.classes is None and ds.train.y is None
    rows = torch.cat([ds.train.x, ds.val.x, ds.test.x])
    assert sorted(rows[:, 0].tolist()) == x[:, 0].tolist()


@pytest.mark.parametrize("shape, expected", [((10, 5, 6), (1, 5, 6)), ((10, 3, 5, 6), (3, 5, 6))])
def test_npy_images_stay_uint8(tmp_path, shape, expected):
    np.save(tmp_path / "i.npy", np.full(shape, 7, dtype=np.uint8))
    ds = load(str(tmp_path / "i.npy"))
    assert ds.shape == expected and ds.is_image and ds.dtype == torch.uint8
    assert ds.value_range == (0.0, 255.0) and int(ds.train.x.sum()) == 7 * len(ds.train) * \
        int(np.prod(expected))


@pytest.mark.parametrize("array, match", [
    (np.arange(10.0), r"expected \(N, D\)"),
    (np.array([[1.0, np.nan], [0.0, 1.0]]), "NaN"),
    (np.array([[1.0, np.inf], [0.0, 1.0]]), "infinite"),
    (np.zeros((0, 5)), "empty"),
    (np.zeros((2, 2, 2, 2, 2)), "expected"),
])
def test_npy_errors(tmp_path, array, match):
    np.save(tmp_path / "bad.npy", array)
    with pytest.raises(DataError, match=match):
        load(str(tmp_path / "bad.npy"))


def test_npz_with_labels(tmp_path):
    x = np.random.default_rng(0).random((30, 2, 3)).astype(np.float32)
    y = np.arange(30) % 3
    np.savez(tmp_path / "d.npz", X=x, y=y)
    ds = load(str(tmp_path / "d.npz"))
    assert ds.shape == (1, 2, 3) and ds.classes == ["0", "1", "2"]
    assert (len(ds.train), len(ds.val), len(ds.test)) == (22, 2, 6)
    # each label stays with its example
    for split in (ds.train, ds.test):
        for xi, yi in zip(split.x, split.y):
            (i,) = np.nonzero((x == xi[0].numpy()).all(axis=(1, 2)))[0]
            assert y[i] == yi


def test_npz_errors(tmp_path):
    np.savez(tmp_path / "m.npz", x=np.zeros((5, 2)), y=np.zeros(4, dtype=int))
    with pytest.raises(DataError, match=r"labels 'y' have shape \(4,\) but 'x' has 5"):
        load(str(tmp_path / "m.npz"))
    np.savez(tmp_path / "k.npz", images=np.zeros((5, 2)))
    with pytest.raises(DataError, match=r"arrays \['images'\] but none named x"):
        load(str(tmp_path / "k.npz"))


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load(str(tmp_path / "absent.npy"))


def test_csv_with_header_and_label_column(tmp_path):
    rows = "\n".join(f"{i},{i * 0.5},{i % 2}" for i in range(20))
    (tmp_path / "d.csv").write_text("a,b,label\n" + rows + "\n")
    ds = load(str(tmp_path / "d.csv"))
    assert ds.shape == (2,) and ds.dtype == torch.float32 and ds.classes == ["0", "1"]
    assert (len(ds.train), len(ds.val), len(ds.test)) == (14, 2, 4)
    for split in (ds.train, ds.val, ds.test):
        assert torch.equal(split.y, split.x[:, 0].long() % 2)
        assert torch.equal(split.x[:, 1], split.x[:, 0] * 0.5)


def test_csv_without_header(tmp_path):
    (tmp_path / "d.csv").write_text("1,2,3\n4,5,6\n7,8,9\n10,11,12\n13,14,15\n")
    ds = load(str(tmp_path / "d.csv"), val_fraction=0.0)
    assert ds.shape == (3,) and ds.train.y is None and ds.value_range == (1.0, 15.0)
    assert (len(ds.train), len(ds.val), len(ds.test)) == (4, 0, 1)


@pytest.mark.parametrize("text, match", [
    ("", "no rows"),
    ("a,b,label\n", "no rows"),
    ("1,2\n3,oops\n", "Cannot read"),
    ("a,b\n1,2,3\n", "header has 2 names but rows have 3"),
    ("1,nan\n2,3\n", "NaN"),
])
def test_csv_errors(tmp_path, text, match):
    (tmp_path / "bad.csv").write_text(text)
    with pytest.raises(DataError, match=match):
        load(str(tmp_path / "bad.csv"))


# ---------------------------------------------------------------------------------------------
# binarize
# ---------------------------------------------------------------------------------------------

def test_binarize_threshold_exact():
    x = torch.tensor([0.0, 0.2, 0.5, 0.5001, 0.9, 1.0])
    assert binarize(x, "threshold").tolist() == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]


@pytest.mark.parametrize("mode", ["dynamic", "static"])
def test_binarize_bernoulli_mean_matches_probabilities(mode):
    p = torch.tensor([0.0, 0.1, 0.5, 0.9, 1.0])
    g = torch.Generator().manual_seed(0)
    samples = binarize(p.expand(20000, 5), mode, generator=g)
    assert set(samples.unique().tolist()) <= {0.0, 1.0} and samples.dtype == torch.float32
    # 20000 draws: standard error <= 0.0036, so 0.02 is over 5 sigma
    assert torch.allclose(samples.mean(0), p, atol=0.02)
    again = binarize(p.expand(20000, 5), mode, generator=torch.Generator().manual_seed(0))
    assert torch.equal(samples, again)


def test_binarize_errors():
    with pytest.raises(ConfigError, match="dynamic, static, threshold"):
        binarize(torch.rand(3), "round")
    with pytest.raises(DataError, match="to_float"):
        binarize(torch.zeros(3, dtype=torch.uint8), "threshold")


# ---------------------------------------------------------------------------------------------
# Synthetic manifolds
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["swiss-roll", "s-curve"])
def test_manifolds_standardized_with_true_coordinates(name):
    ds = load(name)
    assert ds.shape == (3,) and not ds.is_image and ds.classes is None and ds.train.y is None
    assert (len(ds.train), len(ds.val), len(ds.test)) == (7200, 800, 2000)
    assert torch.allclose(ds.train.x.mean(0), torch.zeros(3), atol=1e-5)
    assert torch.allclose(ds.train.x.std(0), torch.ones(3), atol=1e-5)
    lo, hi = ds.value_range
    all_x = torch.cat([ds.train.x, ds.val.x, ds.test.x])
    assert lo == float(all_x.min()) and hi == float(all_x.max())
    for split in ("train", "val", "test"):
        t = ds.coords[split]
        assert t.shape == (len(getattr(ds, split)), 2) and t.dtype == torch.float32
    # the second coordinate is the sheet's height, the y axis before standardization
    r = np.corrcoef(ds.train.t[:, 1].numpy(), ds.train.x[:, 1].numpy())[0, 1]
    assert r > 0.99

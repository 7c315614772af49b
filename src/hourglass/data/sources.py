"""Named datasets and `load`, the one entry point that turns a name into a `Dataset`.

Names `load` understands:

- registered names (`list_datasets`): ``digits``, ``colour-digits``, ``fashion-mnist``,
  ``mnist``, ``swiss-roll``, ``s-curve``;
- ``mnist:PATH`` or ``idx:PATH``: any folder of MNIST-style IDX files (standard train/test split);
- a file ``*.npy``, ``*.npz`` or ``*.csv`` (split 20% test, then `val_fraction` validation).

Fashion-MNIST and MNIST are looked for, in order, in ``$HOURGLASS_DATA/<name>``,
``$HOURGLASS_DATA``, ``/usr/share/datasets/<name>`` (Debian's ``dataset-fashion-mnist``) and the
download cache ``<cache>/<name>``, where ``<cache>`` is `cache_dir`, ``$HOURGLASS_CACHE``, or
``~/.cache/hourglass``. With ``download=True`` missing files are fetched, checksum-verified, into
the cache from the official URL or ``$HOURGLASS_MIRROR``.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np
import sklearn.datasets
import torch

from hourglass.data.colour import colour_digits
from hourglass.data.dataset import (Dataset, Split, as_examples, as_labels, check_fraction,
                                    split_indices, value_range)
from hourglass.data.download import download as download_file
from hourglass.data.idx import MAX_DEFLATE_RATIO, claimed_nbytes, read_idx
from hourglass.data.unpaired import unpaired
from hourglass.core.errors import ConfigError, DataError
from hourglass.core.io import checked_file, physical_memory

__all__ = ["load", "list_datasets", "register_dataset", "fetch", "load_idx_folder", "load_file",
           "IdxSource", "IDX_SOURCES", "cache_root"]

FILE_SUFFIXES = (".npy", ".npz", ".csv")
IDX_FILES = {  # role -> (file stem, IDX rank)
    "train-images": ("train-images", 3), "train-labels": ("train-labels", 1),
    "test-images": ("t10k-images", 3), "test-labels": ("t10k-labels", 1),
}


@dataclass(frozen=True)
class IdxSource:
    """A published IDX dataset: where it is installed, where to download it, its checksums."""

    name: str
    url: str                        # base URL of the four .gz files
    md5: dict[str, str]             # file name -> md5 of the .gz as published
    classes: tuple[str, ...]
    system_dirs: tuple[str, ...]    # folders where an OS package installs it
    install_hint: str | None        # how to install it from an OS package, if one exists


IDX_SOURCES = {
    "fashion-mnist": IdxSource(
        name="fashion-mnist",
        url="http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        md5={"train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
             "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8d0aad5ffbe6",
             "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
             "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83fd310"},
        classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                 "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        system_dirs=("/usr/share/datasets/fashion-mnist",),
        install_hint="`apt-get install dataset-fashion-mnist`",
    ),
    "mnist": IdxSource(
        name="mnist",
        url="https://ossci-datasets.s3.amazonaws.com/mnist/",
        md5={"train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
             "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
             "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
             "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c"},
        classes=tuple(str(k) for k in range(10)),
        system_dirs=("/usr/share/datasets/mnist",),
        install_hint=None,
    ),
}


# ---------------------------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Entry:
    loader: Callable[..., Dataset]  # loader(*, val_fraction, seed, download, cache_dir)
    description: str


_REGISTRY: dict[str, _Entry] = {}
_PATTERNS = {
    "mnist:PATH": "any folder of MNIST-style IDX files (train-/t10k- images and labels)",
    "idx:PATH": "same as mnist:PATH",
    "FILE.npy": "array (N, D) vectors, (N, H, W) or (N, C, H, W) images; no labels",
    "FILE.npz": "arrays x (or X, data) and optional labels y (or Y, labels)",
    "FILE.csv": "numbers, comma-separated; optional header; a column 'label' or 'y' holds labels",
}


def register_dataset(name: str, description: str):
    """Decorator registering `loader(*, val_fraction, seed, download, cache_dir)` under `name`."""
    def decorate(loader):
        if name in _REGISTRY:
            raise ConfigError(f"A dataset named {name!r} is already registered; pick another name.")
        _REGISTRY[name] = _Entry(loader, description)
        return loader
    return decorate


def list_datasets() -> list[dict]:
    """Registered dataset names and the name patterns, each with a one-line description."""
    return ([{"name": k, "description": e.description} for k, e in _REGISTRY.items()]
            + [{"name": k, "description": d} for k, d in _PATTERNS.items()])


def load(name: str | os.PathLike, *, val_fraction: float = 0.1, seed: int = 0, n: int | None = None,
         download: bool = False, cache_dir: str | os.PathLike | None = None) -> Dataset:
    """Load a dataset by name.

    Parameters
    ----------
    name : str
        A registered name (see `list_datasets`), ``mnist:PATH`` / ``idx:PATH`` for a folder of
        IDX files, or a path ending in ``.npy``, ``.npz`` or ``.csv``.
    val_fraction : float in [0, 1), default 0.1
        Fraction of the training data held out for validation.
    seed : int, default 0
        Seed of the train/validation split and of the `n` subsample. The test split never depends
        on it.
    n : int, optional
        Keep only `n` training examples (a deterministic random subset), for quick runs.
    download : bool, default False
        Download Fashion-MNIST / MNIST into the cache when they are not found locally.
    cache_dir : str or path-like, optional
        Download cache; default ``$HOURGLASS_CACHE`` or ``~/.cache/hourglass``.

    Returns
    -------
    Dataset

    Raises
    ------
    ConfigError
        For an unknown name or a parameter out of range.
    DataError
        For data that is missing, corrupt or unusable; the message says how to fix it.

    Examples
    --------
    >>> ds = load("digits")
    >>> ds.shape, len(ds.train) + len(ds.val) + len(ds.test), ds.classes[:3]
    ((1, 8, 8), 1797, ['0', '1', '2'])
    """
    if isinstance(name, os.PathLike):
        name = os.fspath(name)
    if not isinstance(name, str):
        raise ConfigError(f"The dataset name must be a str or a path. Got {name!r} instead.")
    val_fraction = check_fraction(val_fraction, "val_fraction")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ConfigError(f"The 'seed' parameter must be an int. Got {seed!r} instead.")
    kwargs = dict(val_fraction=val_fraction, seed=int(seed))
    prefix, sep, rest = name.partition(":")
    if name in _REGISTRY:
        ds = _REGISTRY[name].loader(download=download, cache_dir=cache_dir, **kwargs)
    elif sep and prefix in ("mnist", "idx"):
        ds = load_idx_folder(rest, name=name, **kwargs)
    elif name.lower().endswith(FILE_SUFFIXES):
        ds = load_file(name, **kwargs)
    else:
        is_dir = Path(name).is_dir()
        hint = f" {name!r} is a folder: for IDX files use 'idx:{name}'." if is_dir else ""
        raise ConfigError(f"Unknown dataset {name!r}.{hint} Valid names: "
                          f"{', '.join(d['name'] for d in list_datasets())}.")
    return ds.subsample_train(n, seed=seed)


# ---------------------------------------------------------------------------------------------
# Embedded and synthetic datasets
# ---------------------------------------------------------------------------------------------

@register_dataset("digits", "scikit-learn digits: 1,797 8x8 grey images of digits, 10 classes "
                            "(embedded, no download)")
def _load_digits(*, val_fraction: float, seed: int, download: bool, cache_dir) -> Dataset:
    bunch = sklearn.datasets.load_digits()
    x = (bunch.images / 16.0).astype(np.float32)  # pixel counts 0..16 -> [0, 1], (N, 8, 8)
    ds = Dataset.from_arrays(x, bunch.target, name="digits", val_fraction=val_fraction,
                             seed=seed, description=_REGISTRY["digits"].description)
    return replace(ds, value_range=(0.0, 1.0))


# True coordinates are (t, height): sklearn draws height uniformly, the roll angle is t.
# Gaussian noise of about 1% of each manifold's extent is added to the 3-D points (not to the
# coordinates); the points are the same whatever the seed, which only moves the split.
_MANIFOLDS = {"swiss-roll": ("make_swiss_roll", 0.25), "s-curve": ("make_s_curve", 0.02)}
N_MANIFOLD = 10_000


def _load_manifold(name: str, *, val_fraction: float, seed: int, **_) -> Dataset:
    maker, noise = _MANIFOLDS[name]
    x, t = getattr(sklearn.datasets, maker)(N_MANIFOLD, noise=0.0, random_state=0)
    coords = np.stack([t, x[:, 1]], axis=1)  # (N, 2): angle and height on the clean sheet
    x = x + noise * np.random.default_rng(1).standard_normal(x.shape)  # (N, 3)
    ds = Dataset.from_arrays(x, t=coords, name=name, val_fraction=val_fraction, seed=seed,
                             description=_REGISTRY[name].description)
    # Standardize with train statistics: x' = (x - mean_train) / std_train, per column.
    mean, std = ds.train.x.mean(0), ds.train.x.std(0)
    splits = [replace(s, x=(s.x - mean) / std) for s in (ds.train, ds.val, ds.test)]
    lo = min(float(s.x.min()) for s in splits if len(s))
    hi = max(float(s.x.max()) for s in splits if len(s))
    return replace(ds, train=splits[0], val=splits[1], test=splits[2], value_range=(lo, hi))


register_dataset("swiss-roll", "Swiss roll: 10,000 points on a 2-D sheet rolled up in 3-D "
                               "(standardized; true coordinates in Split.t)")(
    partial(_load_manifold, "swiss-roll"))
register_dataset("s-curve", "S-curve: 10,000 points on a 2-D S-shaped sheet in 3-D "
                            "(standardized; true coordinates in Split.t)")(
    partial(_load_manifold, "s-curve"))


@register_dataset("colour-digits", "the digits painted in a foreground and a background colour: "
                                   "1,797 8x8 RGB images, generated (factors digit, foreground, "
                                   "background in Split.t)")
def _load_colour_digits(*, val_fraction: float, seed: int, **_) -> Dataset:
    x, y, factors = colour_digits()
    return Dataset.from_arrays(x, y, t=factors, name="colour-digits", val_fraction=val_fraction,
                               seed=seed, description=_REGISTRY["colour-digits"].description)


# ---------------------------------------------------------------------------------------------
# IDX folders: fashion-mnist, mnist, mnist:PATH
# ---------------------------------------------------------------------------------------------

def _idx_candidates(stem: str, rank: int) -> list[str]:
    """Accepted names of an IDX file: `stem-idx3-ubyte` or `stem.idx3-ubyte`, gzipped or not."""
    names = [f"{stem}-idx{rank}-ubyte", f"{stem}.idx{rank}-ubyte"]
    return [n + gz for n in names for gz in (".gz", "")]


def _find_idx_files(folder: Path) -> dict[str, Path] | None:
    """Role -> path for the four IDX files in `folder`, or None when any is missing."""
    found = {}
    for role, (stem, rank) in IDX_FILES.items():
        paths = [folder / c for c in _idx_candidates(stem, rank) if (folder / c).is_file()]
        if not paths:
            return None
        found[role] = paths[0]
    return found


def load_idx_folder(folder: str | os.PathLike, *, name: str | None = None,
                    classes: tuple[str, ...] | list[str] | None = None, val_fraction: float = 0.1,
                    seed: int = 0, description: str = "") -> Dataset:
    """Load the standard train/test IDX files of `folder` (gzipped or not, either spelling).

    Validation is a random `val_fraction` of the train files, drawn with `seed`. Images stay
    ``uint8`` (shape ``(N, 1, H, W)``); classes default to ``"0"``..``"K-1"``.
    """
    folder = Path(folder).expanduser()
    files = _find_idx_files(folder) if folder.is_dir() else None
    if files is None:
        expected = ", ".join(f"{stem}-idx{rank}-ubyte[.gz]" for stem, rank in IDX_FILES.values())
        raise DataError(f"IDX folder {folder} does not exist or lacks some of the files "
                        f"{expected} (the spelling {{stem}}.idx3-ubyte is accepted too). "
                        "Put the four files there or point to the folder that has them.")
    x_train, y_train = _read_images_labels(files["train-images"], files["train-labels"])
    x_test, y_test = _read_images_labels(files["test-images"], files["test-labels"])
    if x_train.shape[1:] != x_test.shape[1:] or x_train.dtype != x_test.dtype:
        raise DataError(f"In {folder} the train images are {tuple(x_train.shape[1:])} "
                        f"{x_train.dtype} but the test images {tuple(x_test.shape[1:])} "
                        f"{x_test.dtype}; both must come from the same dataset.")
    n_classes = int(max(y_train.max(), y_test.max())) + 1
    if classes is None:
        classes = [str(k) for k in range(n_classes)]
    elif n_classes > len(classes):
        raise DataError(f"{folder} has labels up to {n_classes - 1} but {len(classes)} classes "
                        "are known; check that these are the right files.")
    train, val, _ = split_indices(len(x_train), val_fraction=val_fraction, test_fraction=0,
                                  seed=seed)
    full = Split(x_train, y_train)
    return Dataset(name or f"idx:{folder}", full.subset(train), full.subset(val),
                   Split(x_test, y_test), value_range=value_range(x_train),
                   classes=list(classes), description=description or f"IDX files in {folder}")


def _read_images_labels(images: Path, labels: Path) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = read_idx(images), read_idx(labels)
    if x.ndim != 3:
        raise DataError(f"{images} holds an array of shape {x.shape}; expected images (N, H, W).")
    if len(x) != len(y):
        raise DataError(f"{images} has {len(x)} images but {labels} has {len(y)} labels; "
                        "they must come from the same release. Download or copy them again.")
    return as_examples(x, name=str(images)), as_labels(y, len(x), name=str(labels))


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """The download cache: `cache_dir`, else ``$HOURGLASS_CACHE``, else ``~/.cache/hourglass``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    if os.environ.get("HOURGLASS_CACHE"):
        return Path(os.environ["HOURGLASS_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(xdg) / "hourglass"


def _search_dirs(source: IdxSource, cache_dir) -> list[Path]:
    dirs = []
    if os.environ.get("HOURGLASS_DATA"):
        data = Path(os.environ["HOURGLASS_DATA"]).expanduser()
        dirs += [data / source.name, data]
    return dirs + [Path(d) for d in source.system_dirs] + [cache_root(cache_dir) / source.name]


def fetch(name: str, *, cache_dir: str | os.PathLike | None = None, mirror: str | None = None,
          timeout: float = 30) -> Path:
    """Download the IDX files of dataset `name` into ``<cache>/<name>``; return that folder.

    Files already in the cache are kept. The base URL is `mirror`, else ``$HOURGLASS_MIRROR``,
    else the official one; every file is checked against its published MD5.
    """
    if name not in IDX_SOURCES:
        raise ConfigError(f"No download is known for {name!r}; downloadable datasets: "
                          f"{', '.join(IDX_SOURCES)}.")
    source = IDX_SOURCES[name]
    base = (mirror or os.environ.get("HOURGLASS_MIRROR") or source.url).rstrip("/") + "/"
    folder = cache_root(cache_dir) / name
    for filename, md5 in source.md5.items():
        if not (folder / filename).is_file():
            download_file(base + filename, folder / filename, md5=md5, timeout=timeout)
    return folder


def _load_idx_source(name: str, *, val_fraction: float, seed: int, download: bool,
                     cache_dir) -> Dataset:
    source = IDX_SOURCES[name]
    dirs = _search_dirs(source, cache_dir)
    folder = next((d for d in dirs if _find_idx_files(d) is not None), None)
    if folder is None:
        if not download:
            raise DataError(
                f"{name} was not found (looked in {', '.join(map(str, dirs))}). "
                + (f"Install it with {source.install_hint}, or set" if source.install_hint
                   else "Set")
                + f" HOURGLASS_DATA to a folder holding its four IDX files (or a subfolder "
                f"'{name}' with them), or pass download=True (CLI: --download) to fetch it."
            )
        folder = fetch(name, cache_dir=cache_dir)
    return load_idx_folder(folder, name=name, classes=source.classes, val_fraction=val_fraction,
                           seed=seed, description=_REGISTRY[name].description)


register_dataset("fashion-mnist", "Fashion-MNIST: 70,000 28x28 grey images of clothing, "
                                  "10 classes")(
    partial(_load_idx_source, "fashion-mnist"))
register_dataset("mnist", "MNIST: 70,000 28x28 grey images of handwritten digits, 10 classes")(
    partial(_load_idx_source, "mnist"))


def _load_unpaired(base: str, transform: str, **kwargs) -> Dataset:
    """Unpaired translation data (`hourglass.data.unpaired`): A = `base`, B = other images of it
    under `transform`; y is the domain."""
    name = f"{base}-{transform}"
    return unpaired(load(base, **kwargs), transform, name=name,
                    description=_REGISTRY[name].description).dataset


register_dataset("digits-thick", "unpaired translation: A = digits, B = other digits with strokes "
                                 "thickened by one pixel; y = domain (0 = A, 1 = B)")(
    partial(_load_unpaired, "digits", "thick"))
register_dataset("fashion-mnist-thick", "unpaired translation: A = Fashion-MNIST, B = other "
                                        "images thickened by one pixel; y = domain (0 = A, "
                                        "1 = B)")(
    partial(_load_unpaired, "fashion-mnist", "thick"))


# ---------------------------------------------------------------------------------------------
# User files: .npy, .npz, .csv
# ---------------------------------------------------------------------------------------------

_X_KEYS, _Y_KEYS = ("x", "X", "data"), ("y", "Y", "labels")
_CSV_LABELS = ("label", "y")


def load_file(path: str | os.PathLike, *, val_fraction: float = 0.1, seed: int = 0) -> Dataset:
    """Load a ``.npy``, ``.npz`` or ``.csv`` file (formats in `list_datasets`) and split it."""
    path = Path(path).expanduser()
    if not path.exists() and not path.is_symlink():
        raise DataError(f"Data file {path} does not exist. Check the path.")
    # a FIFO would block forever, /dev/zero or a sparse file fill the memory
    checked_file(path, max_bytes=physical_memory() // 2, what="data file", error=DataError)
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            with open(path, "rb") as f:
                x, y = _read_npy(f, path.stat().st_size, path), None
        elif suffix == ".npz":
            x, y = _read_npz(path)
        elif suffix == ".csv":
            x, y = _read_csv(path)
        else:
            raise DataError(f"Cannot read {path}: the suffix must be one of {FILE_SUFFIXES}.")
    except DataError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error,
            NotImplementedError) as e:
        raise DataError(f"Cannot read {path} as {suffix[1:]}: {e}. Check that the file is a "
                        f"valid {suffix[1:]} file of numbers.") from e
    return Dataset.from_arrays(x, y, name=str(path), val_fraction=val_fraction, seed=seed,
                               description=f"data from {path}")


def _read_npy(f, size: int, name) -> np.ndarray:
    """One .npy array from the binary file `f` of `size` bytes, read without trusting its header:
    object (pickled) dtypes are refused, and so is a shape that claims more bytes than follow,
    before anything is allocated."""
    try:
        version = np.lib.format.read_magic(f)
        read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                       (2, 0): np.lib.format.read_array_header_2_0}[version]
        shape, fortran_order, dtype = read_header(f)
    except Exception as e:  # noqa: BLE001 - numpy parses the untrusted header with eval-like code
        raise DataError(f"{name} is not a valid .npy file (its header cannot be read: "
                        f"{type(e).__name__}). Save it with numpy.save.") from None
    if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
        raise DataError(f"{name} holds dtype {dtype}; Hourglass reads plain numeric arrays only "
                        "(and never unpickles object arrays).")
    nbytes = claimed_nbytes(shape, dtype, name)
    if nbytes > size - f.tell():
        raise DataError(f"{name} is truncated: its header promises shape {shape} ({nbytes} bytes) "
                        f"but only {size - f.tell()} bytes follow. Save it again.")
    data = f.read(nbytes)
    return np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran_order else "C")


def _read_npz(path: Path):
    with zipfile.ZipFile(path) as archive:
        members = {n[:-4]: n for n in archive.namelist() if n.endswith(".npy")}

        def read(key):
            info = archive.getinfo(members[key])
            if info.file_size > MAX_DEFLATE_RATIO * info.compress_size + 1024:
                raise DataError(f"{path}: member {key!r} claims {info.file_size} bytes in "
                                f"{info.compress_size} compressed; the archive is corrupt.")
            with archive.open(info) as f:
                return _read_npy(f, info.file_size, f"{path}[{key}]")

        keys = list(members)
        x_key = next((k for k in _X_KEYS if k in members), None)
        if x_key is None:
            raise DataError(f"{path} has arrays {keys} but none named {' / '.join(_X_KEYS)}; "
                            "save the examples as np.savez(path, x=x, y=labels).")
        y_key = next((k for k in _Y_KEYS if k in members), None)
        x = read(x_key)
        y = None if y_key is None else read(y_key)
    n = len(x) if x.ndim else 0  # a 0-d x is refused by as_examples
    if y is not None and (y.ndim != 1 or len(y) != n):
        raise DataError(f"{path}: labels {y_key!r} have shape {y.shape} but {x_key!r} has "
                        f"{n} examples; save one label per example.")
    return x, y


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def _read_csv(path: Path):
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    header = None
    if lines and not all(_is_number(v) for v in lines[0].split(",")):
        header = [v.strip().strip('"').lower() for v in lines[0].split(",")]
        lines = lines[1:]
    if not lines:
        raise DataError(f"{path} holds no rows of data; it needs at least one row of numbers.")
    table = np.loadtxt(lines, delimiter=",", ndmin=2, dtype=np.float64)
    if header and len(header) != table.shape[1]:
        raise DataError(f"{path}: the header has {len(header)} names but rows have "
                        f"{table.shape[1]} values; make them agree.")
    label_cols = [i for i, h in enumerate(header or []) if h in _CSV_LABELS]
    if not label_cols:
        return table, None
    keep = [i for i in range(table.shape[1]) if i != label_cols[0]]
    return table[:, keep], table[:, label_cols[0]]

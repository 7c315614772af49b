"""In-memory datasets: three splits of tensors plus what a model needs to know about them.

A `Dataset` holds `train`, `val` and `test` `Split`s. Each split's `x` has shape ``(N, *shape)``:
``(N, C, H, W)`` for images, ``(N, D)`` for vectors. Images from 8-bit sources stay ``uint8``
(4x less memory than float32); `Dataset.to_float` maps a batch to float32 in the training loop.

Splitting rule for data without a standard split (digits, user files, synthetic manifolds): the
test set is a fixed ``test_fraction`` of the examples, drawn with a seed of its own so that it does
not change with `seed` (runs with different seeds are scored on the same examples); `val_fraction`
of the remaining examples, drawn with `seed`, form the validation set; the rest is train.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np
import torch

from hourglass.core.errors import ConfigError, DataError

__all__ = ["Split", "Dataset", "binarize", "BINARIZE_MODES", "split_indices", "check_fraction"]

BINARIZE_MODES = ("dynamic", "static", "threshold")
TEST_SEED = 20240101  # fixed seed of the held-out test split (see module docstring)


@dataclass(frozen=True)
class Split:
    """One split of a dataset.

    Attributes
    ----------
    x : torch.Tensor
        Examples, shape ``(N, *shape)``; ``uint8`` or ``float32``.
    y : torch.LongTensor or None
        Class labels, shape ``(N,)``.
    t : torch.Tensor or None
        True latent coordinates where known (swiss roll, S-curve), float32 ``(N, 2)``.
    """

    x: torch.Tensor
    y: torch.Tensor | None = None
    t: torch.Tensor | None = None

    def __post_init__(self):
        for name in ("y", "t"):
            other = getattr(self, name)
            if other is not None and len(other) != len(self.x):
                raise DataError(
                    f"Split.{name} has {len(other)} rows but Split.x has {len(self.x)}; "
                    "every example needs exactly one entry."
                )

    def __len__(self) -> int:
        return self.x.shape[0]

    def subset(self, index: torch.Tensor | np.ndarray | Sequence[int]) -> "Split":
        """The examples at `index` (a copy), with their labels and coordinates."""
        index = torch.as_tensor(index, dtype=torch.long)
        return Split(self.x[index], *(v if v is None else v[index] for v in (self.y, self.t)))


@dataclass(frozen=True)
class Dataset:
    """A named dataset with train, validation and test splits.

    Attributes
    ----------
    name : str
        The name it was loaded by (``"digits"``, ``"fashion-mnist"``, a file path, ...).
    train, val, test : Split
    value_range : tuple of float
        Range of the stored values: ``(0, 255)`` for ``uint8``, ``(0, 1)`` for digits, the data's
        ``(min, max)`` otherwise.
    classes : list of str or None
        Class names, indexed by label.
    description : str
        One line on where the data comes from.

    Examples
    --------
    >>> ds = Dataset.from_arrays(np.random.default_rng(0).random((100, 3)), name="toy")
    >>> ds.shape, ds.is_image, len(ds.train), len(ds.val), len(ds.test)
    ((3,), False, 72, 8, 20)
    """

    name: str
    train: Split
    val: Split
    test: Split
    value_range: tuple[float, float]
    classes: list[str] | None = None
    description: str = ""

    def __post_init__(self):
        shapes = {tuple(s.x.shape[1:]) for s in (self.train, self.val, self.test)}
        dtypes = {s.x.dtype for s in (self.train, self.val, self.test)}
        if len(shapes) > 1 or len(dtypes) > 1:
            raise DataError(
                f"The splits of dataset {self.name!r} disagree on example shape {shapes} or dtype "
                f"{dtypes}; all splits must hold examples of one shape and dtype."
            )

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one example: ``(C, H, W)`` for images, ``(D,)`` for vectors."""
        return tuple(self.train.x.shape[1:])

    @property
    def is_image(self) -> bool:
        return len(self.shape) == 3

    @property
    def dim(self) -> int:
        """Number of values per example, ``prod(shape)``."""
        return math.prod(self.shape)

    @property
    def n_classes(self) -> int | None:
        return None if self.classes is None else len(self.classes)

    @property
    def dtype(self) -> torch.dtype:
        return self.train.x.dtype

    @property
    def coords(self) -> dict[str, torch.Tensor] | None:
        """True manifold coordinates per split (``{"train": (N, 2), ...}``), or None."""
        if self.train.t is None:
            return None
        return {"train": self.train.t, "val": self.val.t, "test": self.test.t}

    def to_float(self, x: torch.Tensor) -> torch.Tensor:
        """Map stored values to float32: ``uint8`` is divided by 255 into [0, 1], floats cast."""
        if x.dtype == torch.uint8:
            return x.to(torch.float32).div_(255.0)
        return x.to(torch.float32)

    def info(self) -> dict:
        """JSON-serializable summary (name, split sizes, shape, value range, dtype, classes)."""
        return {
            "name": self.name,
            "description": self.description,
            "sizes": {"train": len(self.train), "val": len(self.val), "test": len(self.test)},
            "shape": list(self.shape),
            "is_image": self.is_image,
            "dtype": str(self.dtype).removeprefix("torch."),
            "value_range": [float(v) for v in self.value_range],
            "classes": None if self.classes is None else list(self.classes),
            "n_classes": self.n_classes,
            "has_coords": self.coords is not None,
        }

    def subsample_train(self, n: int | None, *, seed: int = 0) -> "Dataset":
        """A copy whose train split keeps `n` examples drawn with `seed` (all when `n` is None or
        at least the train size)."""
        if n is None:
            return self
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
            raise ConfigError(f"The 'n' parameter must be an int >= 1 or None. Got {n!r} instead.")
        if n >= len(self.train):
            return self
        keep = np.sort(np.random.default_rng(seed).permutation(len(self.train))[:n])
        return replace(self, train=self.train.subset(keep))

    @classmethod
    def from_arrays(cls, x, y=None, t=None, *, name: str = "array", val_fraction: float = 0.1,
                    test_fraction: float = 0.2, seed: int = 0, description: str = "") -> "Dataset":
        """Build a dataset from arrays, split as described in the module docstring.

        Parameters
        ----------
        x : array-like
            ``(N, D)`` vectors, ``(N, H, W)`` grey images (become ``(N, 1, H, W)``) or
            ``(N, C, H, W)`` images. ``uint8`` is kept; other numbers become float32.
        y : array-like of int, optional
            ``(N,)`` class labels in ``0..K-1``; the classes are named ``"0"``..``"K-1"``.
        t : array-like, optional
            ``(N, k)`` true latent coordinates.
        name : str
        val_fraction, test_fraction : float in [0, 1)
        seed : int
            Seed of the train/validation split (the test split does not depend on it).
        """
        x = as_examples(x, name=name)
        y = None if y is None else as_labels(y, len(x), name=name)
        t = None if t is None else torch.as_tensor(np.asarray(t, dtype=np.float32))
        full = Split(x, y, t)
        train, val, test = split_indices(len(x), val_fraction=val_fraction,
                                         test_fraction=test_fraction, seed=seed)
        classes = None if y is None else [str(k) for k in range(int(y.max()) + 1)]
        return cls(name, full.subset(train), full.subset(val), full.subset(test),
                   value_range=value_range(x), classes=classes, description=description)


def check_fraction(value, name: str) -> float:
    """Validate a split fraction in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ConfigError(f"The '{name}' parameter must be a float in the range [0, 1). "
                          f"Got {value!r} instead.")
    return float(value)


def split_indices(n: int, *, val_fraction: float = 0.1, test_fraction: float = 0.2,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted (train, val, test) indices into `n` examples; see the module docstring for the rule.

    Sizes: ``n_test = round(test_fraction * n)``, ``n_val = round(val_fraction * (n - n_test))``.
    """
    val_fraction = check_fraction(val_fraction, "val_fraction")
    test_fraction = check_fraction(test_fraction, "test_fraction")
    n_test = round(test_fraction * n)
    n_val = round(val_fraction * (n - n_test))
    if n - n_test - n_val < 1:
        raise DataError(f"{n} examples are too few to split into train, validation and test; "
                        "provide more examples or lower val_fraction.")
    order = np.random.default_rng(TEST_SEED).permutation(n)
    test, rest = order[:n_test], order[n_test:]
    rest = np.random.default_rng(seed).permutation(rest)
    return np.sort(rest[n_val:]), np.sort(rest[:n_val]), np.sort(test)


def as_examples(x, *, name: str = "data") -> torch.Tensor:
    """Validate an array of examples and return it as a uint8 or float32 tensor.

    ``(N, D)`` stays, ``(N, H, W)`` becomes ``(N, 1, H, W)``, ``(N, C, H, W)`` stays. Raises
    `DataError` for other ranks, empty data, non-numeric or non-finite values.
    """
    x = x.numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if x.ndim == 1:
        raise DataError(
            f"{name}: expected (N, D) vectors or (N, H, W) / (N, C, H, W) images, got a 1-D array "
            f"of shape {x.shape}. If each value is one example, use x.reshape(-1, 1)."
        )
    if not 2 <= x.ndim <= 4:
        raise DataError(f"{name}: expected (N, D), (N, H, W) or (N, C, H, W) data, got shape "
                        f"{x.shape}. Reshape it to one of those.")
    if x.size == 0:
        raise DataError(f"{name} is empty (shape {x.shape}); it needs at least one example "
                        "with at least one value.")
    if x.dtype == np.uint8:
        pass
    elif x.dtype == np.bool_ or np.issubdtype(x.dtype, np.number) and not np.iscomplexobj(x):
        with np.errstate(over="ignore"):  # too large for float32: inf, reported just below
            x = x.astype(np.float32)
        if not np.isfinite(x).all():
            bad = int((~np.isfinite(x)).sum())
            raise DataError(f"{name} contains {bad} NaN or infinite values (or values too large "
                            "for float32); remove or impute them first.")
    else:
        raise DataError(f"{name} has dtype {x.dtype}; expected real numbers (uint8 or float).")
    if x.ndim == 3:
        x = x[:, None]  # (N, H, W) -> (N, 1, H, W)
    # contiguous and writable (a read-only array, e.g. memory-mapped, is copied once)
    return torch.from_numpy(np.require(x, requirements=["C", "W"]))


MAX_CLASSES = 100_000  # a label beyond this is a corrupt file, not a class (one name per class)


def as_labels(y, n: int, *, name: str = "data") -> torch.Tensor:
    """Validate ``(n,)`` integer labels >= 0 and return them as a LongTensor."""
    y = y.numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
    if y.ndim != 1 or len(y) != n:
        raise DataError(f"{name}: labels have shape {y.shape} but x has {n} examples; "
                        f"expected labels of shape ({n},), one per example.")
    if not np.issubdtype(y.dtype, np.number) or np.iscomplexobj(y) or not np.isfinite(y).all() \
            or (y != np.round(y)).any() or (y < 0).any() or (y >= MAX_CLASSES).any():
        raise DataError(f"{name}: labels must be integers 0..K-1 with K at most {MAX_CLASSES}; "
                        f"got values such as {np.unique(y)[:5].tolist()}. Encode class names as "
                        "integers first.")
    return torch.from_numpy(y.astype(np.int64))


def value_range(x: torch.Tensor) -> tuple[float, float]:
    """(0, 255) for uint8, else the data's (min, max)."""
    if x.dtype == torch.uint8:
        return (0.0, 255.0)
    return (float(x.min()), float(x.max()))


def binarize(x01: torch.Tensor, mode: str, *,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """Binarize values in [0, 1].

    ``"dynamic"`` and ``"static"`` draw ``b ~ Bernoulli(x01)`` (dynamic binarization calls this on
    every batch, static once for the whole dataset; the draw itself is the same); ``"threshold"``
    returns ``1[x01 > 0.5]``. The result has `x01`'s float dtype.

    Examples
    --------
    >>> binarize(torch.tensor([0.2, 0.5, 0.9]), "threshold")
    tensor([0., 0., 1.])
    """
    if mode not in BINARIZE_MODES:
        raise ConfigError(f"Unknown binarization mode {mode!r}; valid modes are "
                          f"{', '.join(BINARIZE_MODES)}.")
    if not x01.is_floating_point():
        raise DataError(f"binarize expects float values in [0, 1], got dtype {x01.dtype}; "
                        "convert with Dataset.to_float first.")
    if mode == "threshold":
        return (x01 > 0.5).to(x01.dtype)
    return torch.bernoulli(x01, generator=generator)

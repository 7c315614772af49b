"""Reader for the IDX format of MNIST, Fashion-MNIST and their relatives.

An IDX file is a 4-byte magic number, one 4-byte dimension per axis, then the values, all
big-endian:

    magic = 0x00 0x00 <dtype code> <ndim>,   dims = ndim x uint32,   data = prod(dims) values

The reader checks every part of the header against the file before it allocates anything, so a
corrupt or truncated file fails with a `DataError` that names it instead of a `MemoryError` or a
confusing reshape error. Files may be gzipped (detected by their content, not their name).
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

from hourglass.core.io import atomic_write_bytes, checked_file, physical_memory
from hourglass.core.errors import DataError

__all__ = ["read_idx", "write_idx", "IDX_DTYPES"]

# dtype code (third magic byte) -> big-endian numpy dtype, as in the format's specification.
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20


MAX_DEFLATE_RATIO = 1032  # deflate's largest possible expansion: a bound on what a .gz can hold


def claimed_nbytes(shape: tuple[int, ...], dtype: np.dtype, name) -> int:
    """Bytes an array of `shape` and `dtype` needs, as a header claims it; a shape numpy cannot
    even represent (more than 2^63 bytes, zero-sized axes aside) raises `DataError`."""
    if np.prod([max(d, 1) for d in shape], dtype=object) * dtype.itemsize >= 2**63:
        raise DataError(f"{name} claims an array of shape {shape}, larger than any array can be; "
                        "the file is corrupt. Download or copy it again.")
    return int(np.prod(shape, dtype=object)) * dtype.itemsize


def _open(path: Path):
    """Open `path` for binary reading, transparently decompressing gzip (a regular file only: a
    FIFO would block the read, a device never end)."""
    checked_file(path, max_bytes=physical_memory() // 2, what="IDX file", error=DataError)
    with open(path, "rb") as f:
        gzipped = f.read(2) == _GZIP_MAGIC
    return gzip.open(path, "rb") if gzipped else open(path, "rb")


def _read_exactly(f, n: int, path: Path, what: str) -> bytes | bytearray:
    """Read `n` bytes in chunks, so memory grows with the data actually present, not with `n`."""
    buf = bytearray()
    while len(buf) < n:
        chunk = f.read(min(_CHUNK, n - len(buf)))
        if not chunk:
            raise DataError(
                f"{path} is truncated: its header promises {n} bytes of {what} but the file "
                f"ends after {len(buf)}. Download or copy the file again."
            )
        buf += chunk
    return buf


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (raw or gzipped) into a numpy array in native byte order.

    Parameters
    ----------
    path : str or path-like
        The file, e.g. ``train-images-idx3-ubyte.gz``.

    Returns
    -------
    numpy.ndarray
        Array of the shape and dtype given by the header (``uint8`` for MNIST-style files).

    Raises
    ------
    DataError
        If the file is missing, is not an IDX file (bad magic, unknown dtype code), is truncated,
        has bytes after the data, or is a corrupt gzip stream.

    Examples
    --------
    >>> import tempfile, os, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "labels-idx1-ubyte")
    >>> _ = write_idx(path, np.array([3, 1, 4], dtype=np.uint8))
    >>> read_idx(path)
    array([3, 1, 4], dtype=uint8)
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"IDX file {path} does not exist. Check the path.")
    try:
        with _open(path) as f:
            magic = f.read(4)
            if len(magic) < 4 or magic[:2] != b"\x00\x00" or magic[2] not in IDX_DTYPES:
                raise DataError(
                    f"{path} is not an IDX file: it starts with {magic.hex() or 'nothing'}, "
                    f"expected 0000<dtype code><ndim> with a dtype code in "
                    f"{sorted(hex(c) for c in IDX_DTYPES)}. Check that this is the right file."
                )
            dtype, ndim = IDX_DTYPES[magic[2]], magic[3]
            if ndim == 0:
                raise DataError(f"{path} is not an IDX file: its header declares 0 dimensions.")
            dims = np.frombuffer(_read_exactly(f, 4 * ndim, path, "header"), dtype=">u4")
            shape = tuple(int(d) for d in dims)
            nbytes = claimed_nbytes(shape, dtype, path)
            if not isinstance(f, gzip.GzipFile):
                # A raw file's size is known: refuse a header that claims more before reading.
                actual = path.stat().st_size - 4 - 4 * ndim
                if actual < nbytes:
                    raise DataError(
                        f"{path} is truncated: its header promises shape {shape} ({nbytes} bytes) "
                        f"but only {actual} bytes follow. Download or copy the file again."
                    )
            elif nbytes > MAX_DEFLATE_RATIO * path.stat().st_size:
                raise DataError(
                    f"{path} is truncated or corrupt: it claims shape {shape} ({nbytes} bytes) "
                    f"but a gzip file of "
                    f"{path.stat().st_size} bytes cannot hold that much (deflate expands at most "
                    f"{MAX_DEFLATE_RATIO}:1). Download or copy the file again."
                )
            data = _read_exactly(f, nbytes, path, f"data for shape {shape}")
            if f.read(1):
                raise DataError(
                    f"{path} has bytes after the {nbytes} promised by its header (shape {shape}); "
                    "it is not a valid IDX file. Download or copy the file again."
                )
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:
        raise DataError(f"{path} is a corrupt gzip file ({e}). Download or copy it again.") from e
    array = np.frombuffer(data, dtype=dtype).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=False)  # native byte order


def write_idx(path: str | os.PathLike, array: np.ndarray, *, compress: bool | None = None) -> Path:
    """Write `array` as an IDX file; gzipped when `compress` is true or the name ends in ``.gz``.

    The inverse of :func:`read_idx`, handy for exporting data and for tests.
    """
    path = Path(path)
    array = np.asarray(array)
    codes = {dt.newbyteorder("="): code for code, dt in IDX_DTYPES.items()}
    native = array.dtype.newbyteorder("=")
    if native not in codes:
        raise DataError(
            f"IDX cannot store dtype {array.dtype}; use one of "
            f"{sorted(str(d) for d in codes)} (e.g. array.astype(np.uint8))."
        )
    header = bytes([0, 0, codes[native], array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    payload = header + array.astype(native.newbyteorder(">")).tobytes()
    if compress if compress is not None else path.suffix == ".gz":
        payload = gzip.compress(payload)
    return atomic_write_bytes(path, payload)

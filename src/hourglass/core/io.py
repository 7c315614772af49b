"""Atomic file writes: every file Hourglass writes appears whole or not at all.

The pattern is the classic one: write to a temporary file in the same folder, flush and fsync,
then `os.replace` it over the target (atomic on POSIX and Windows). When the write fails (a full
disk, a file-size limit) the temporary file is deleted, the target keeps its previous content, and
the caller gets a :class:`WriteError` naming the file and the fix.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import torch
from safetensors.torch import save as _st_save

from hourglass.core.errors import RunError

# errnos that only a write can raise: an OSError with one of these is a failed write, wherever
# it came from inside `atomic_open`'s block
DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def write_fix(err: OSError) -> str:
    """What the user can do about a failed write, by its errno."""
    if err.errno == errno.EFBIG:  # RLIMIT_FSIZE (ulimit -f), or a FAT32 disk's 4 GiB
        return "Raise the file-size limit (ulimit -f)"
    if err.errno in DISK_FULL:
        return "Free some space"
    return "Check that the folder is writable"


class WriteError(RunError):
    """A file could not be written; it was left as it was and no temporary file remains.

    ``then`` completes the fix: what to do once the cause is gone (callers that know the context,
    such as training, say "continue with --resume").
    """

    def __init__(self, path: str | os.PathLike, err: OSError, *,
                 then: str = "try again; nothing was half-written"):
        self.path, self.err = Path(path), err
        super().__init__(f"Could not write {path}: {err.strerror or err}. "
                         f"{write_fix(err)} and {then}.")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_open(path: str | os.PathLike, *, suffix: str = ".tmp"):
    """Open a temporary binary file beside `path`; on a clean exit it is flushed, fsynced and renamed
    over `path`, on an exception it is deleted and `path` is left untouched.

    The file gets the usual permissions of a new file (0666 minus the umask), not mkstemp's 0600.
    An OSError of creating, flushing, syncing or renaming the file, or one with a `DISK_FULL`
    errno from the block (its writes), is raised as a :class:`WriteError`; any other exception of
    the block passes through as it is.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    except OSError as e:
        raise WriteError(path, e) from None
    in_block = True
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            in_block = False
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(e, OSError) and (not in_block or e.errno in DISK_FULL):
            raise WriteError(path, e) from None
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` atomically (temp file + fsync + rename)."""
    with atomic_open(path) as f:
        f.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj, *, sort_keys: bool = True) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=sort_keys) + "\n")


def atomic_save_safetensors(path: str | os.PathLike, tensors: dict[str, torch.Tensor],
                            metadata: dict[str, str] | None = None) -> Path:
    """Save a flat dict of tensors as safetensors, atomically. Tensors are made contiguous on CPU."""
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    return atomic_write_bytes(path, _st_save(tensors, metadata=metadata))

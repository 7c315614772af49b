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
import stat
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


MAX_JSON_BYTES = 64_000_000  # config.json, metrics.json, settings files: far above any real one


def physical_memory() -> int:
    """This machine's physical memory in bytes."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def checked_file(path: str | os.PathLike, *, max_bytes: int, what: str = "file",
                 error: type[Exception] = RunError) -> int:
    """The size of `path` after checking that it is a regular file of at most `max_bytes`.

    Every file Hourglass reads goes through this first: a FIFO would block the read forever, a
    device (``/dev/zero``) or a huge sparse file would fill the memory. Symbolic links are
    followed and their target is checked. Raises `error` naming the path and the fix.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise error(f"The {what} {path} does not exist. Check the path.") from None
    except OSError as e:
        raise error(f"Cannot read the {what} {path} ({e.strerror}).") from None
    if stat.S_ISDIR(st.st_mode):
        raise error(f"The {what} {path} is a folder, not a file. Give the path of the file.")
    if not stat.S_ISREG(st.st_mode):
        raise error(f"The {what} {path} is not a regular file (a pipe, socket or device); "
                    "Hourglass reads only regular files. Give the path of a regular file.")
    if st.st_size > max_bytes:
        raise error(f"The {what} {path} is {st.st_size:,} bytes, more than the {max_bytes:,} "
                    "bytes such a file can hold here; it is not a file Hourglass wrote. Check "
                    "the path.")
    return st.st_size


def read_checked_text(path: str | os.PathLike, *, max_bytes: int = MAX_JSON_BYTES,
                      what: str = "file", error: type[Exception] = RunError) -> str:
    """The UTF-8 text of `path`, checked first by :func:`checked_file`."""
    checked_file(path, max_bytes=max_bytes, what=what, error=error)
    try:
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as e:
        raise error(f"Cannot read the {what} {path} ({e.strerror}).") from None
    if len(data) > max_bytes:
        raise error(f"The {what} {path} grew beyond {max_bytes:,} bytes while it was read. "
                    "Check the path.")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise error(f"The {what} {path} is not UTF-8 text. Save it as UTF-8.") from None


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

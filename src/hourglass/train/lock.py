"""A lock file that stops two runs writing one run directory.

``RUN/.lock`` is created with ``O_CREAT | O_EXCL`` (atomic: of two processes racing, one wins)
and holds the owner's PID. A lock whose PID is no longer alive (a run killed with SIGKILL, a
crashed machine) is stale and taken over; a live one is refused with the PID to look at.
"""

from __future__ import annotations

import os
import stat
from contextlib import contextmanager
from pathlib import Path

from hourglass.core.errors import RunError

LOCK = ".lock"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _read_pid(path: Path) -> int | None:
    """The PID in a lock file; None for one that holds none (or is not a small regular file: a
    FIFO would block the read)."""
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_size > 100:
            return None
        return int(path.read_text().strip() or "x")
    except (ValueError, OSError):
        return None


@contextmanager
def run_lock(run_dir: str | Path):
    """Hold ``run_dir/.lock`` for the duration of the block; RunError if a live process holds it."""
    path = Path(run_dir) / LOCK
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            break
        except FileExistsError:
            pid = _read_pid(path)
            if pid is not None and pid != os.getpid() and _alive(pid):
                raise RunError(f"{run_dir} is being written by another run (PID {pid}, see "
                               f"{path}). Wait for it, or choose another --out.") from None
            path.unlink(missing_ok=True)  # stale: its owner is dead
    else:
        raise RunError(f"Cannot take the lock {path}: other processes keep taking it.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(f"{os.getpid()}\n")
    except OSError as e:  # a full disk: no lock left behind, one clear line
        path.unlink(missing_ok=True)
        raise RunError(f"Cannot write the lock {path} ({e.strerror}). Free some space or choose "
                       "another --out.") from None
    try:
        yield path
    finally:
        if _read_pid(path) == os.getpid():
            path.unlink(missing_ok=True)

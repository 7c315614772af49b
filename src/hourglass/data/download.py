"""Download a file over HTTP(S) into a cache, verified, all or nothing.

The file is streamed into a temporary file beside `dest`, its length is checked against the
server's Content-Length and its digest against the expected checksum, and only then is it renamed
over `dest` (atomic on POSIX and Windows). Any failure removes the temporary file, so `dest` either
does not exist or holds the complete, verified file. Only the standard library is used.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import urllib.error
import urllib.request
from pathlib import Path

from hourglass.core.io import atomic_open
from hourglass.core.errors import DataError

__all__ = ["download", "file_digest"]

log = logging.getLogger(__name__)
_CHUNK = 1 << 20


def file_digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file's content, read in chunks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def download(url: str, dest: str | os.PathLike, *, md5: str | None = None,
             sha256: str | None = None, timeout: float = 30) -> Path:
    """Download `url` to `dest`, verifying its length and checksum, atomically.

    Parameters
    ----------
    url : str
        Where to fetch from (``http://``, ``https://`` or ``file://``).
    dest : str or path-like
        Final path of the file; its folder is created if needed.
    md5, sha256 : str, optional
        Expected hex digest(s). Each one given is checked; with none, only the length is checked.
    timeout : float, default 30
        Seconds to wait for the connection and for each read.

    Returns
    -------
    pathlib.Path
        `dest`.

    Raises
    ------
    DataError
        If the server cannot be reached or answers with an error (e.g. 404), the transfer is cut
        short (fewer bytes than Content-Length), or the checksum differs. `dest` is left untouched.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    expected = {name: value.lower() for name, value in (("md5", md5), ("sha256", sha256)) if value}
    hashes = {name: hashlib.new(name) for name in expected}
    with atomic_open(dest, suffix=".part") as out:
        received, length = _stream(url, out, hashes, timeout)
        if length is not None and received != length:
            raise DataError(
                f"Download of {url} is truncated: got {received} of {length} bytes. "
                "Try again, or use another mirror (HOURGLASS_MIRROR)."
            )
        for name, want in expected.items():
            got = hashes[name].hexdigest()
            if got != want:
                raise DataError(
                    f"Checksum mismatch for {url}: expected {name} {want}, got {got}. The file is "
                    "corrupt or the mirror serves another file; try again or use another mirror."
                )
    log.info("downloaded %s -> %s (%d bytes)", url, dest, received)
    return dest


def _stream(url: str, out, hashes: dict, timeout: float) -> tuple[int, int | None]:
    """Copy the body of `url` into `out`, updating `hashes`.

    Returns (bytes received, Content-Length or None).
    """
    received = 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            header = response.headers.get("Content-Length")
            length = int(header) if header and header.isdigit() else None
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                for h in hashes.values():
                    h.update(chunk)
                received += len(chunk)
    except urllib.error.HTTPError as e:
        raise DataError(
            f"Download of {url} failed: HTTP {e.code} {e.reason}. Check the URL, or set "
            "HOURGLASS_MIRROR to a mirror that has the file."
        ) from e
    except http.client.IncompleteRead as e:
        raise DataError(
            f"Download of {url} is truncated: the connection closed after "
            f"{received + len(e.partial)} bytes ({e}). Try again."
        ) from e
    except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
        raise DataError(
            f"Download of {url} failed: {getattr(e, 'reason', e)}. Check your network connection, "
            "or get the files another way and point HOURGLASS_DATA at their folder."
        ) from e
    return received, length

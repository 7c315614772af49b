"""Small C kernels, compiled on first use with the machine's C compiler and loaded with ctypes.

Some models' inner loops are elementwise work that PyTorch can only run as a chain of separate
passes over a large tensor (NADE's running sum: Larochelle & Murray 2011, Algorithm 1). A loop
written out in C does the whole chain per element, in registers. The sources ship with the package
(``hourglass/models/*.c`` and the headers beside them, plain C99, no PyTorch headers), so
compiling one takes about a second.

The shared library is cached under ``$HOURGLASS_CACHE`` (default ``$XDG_CACHE_HOME/hourglass``,
else ``~/.cache/hourglass``), in ``native/<name>-<key>.so``, where the key hashes the source, the
compiler's version, the flags and the CPU's instruction sets (the code is built for this CPU,
``-march=native``), and is written atomically, so concurrent first uses are safe. Set
``HOURGLASS_NATIVE=0`` to never compile (the models then take their PyTorch path); where no
compiler is found or compiling fails, :func:`load` says so in one line and returns None.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

FLAGS = ("-O3", "-march=native", "-fopenmp-simd", "-fPIC", "-shared", "-std=c99")
if platform.machine().lower() in ("x86_64", "amd64"):
    FLAGS += ("-mprefer-vector-width=512",)  # AVX-512 where the CPU has it (x86 compilers only)


def cache_dir() -> Path:
    """Where compiled kernels are kept: ``$HOURGLASS_CACHE``, else the user's cache folder."""
    if os.environ.get("HOURGLASS_CACHE"):
        return Path(os.environ["HOURGLASS_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "hourglass"


def compiler() -> list[str] | None:
    """The C compiler: ``$CC``, else the one Python was built with, else ``cc``; None if absent."""
    for cmd in (os.environ.get("CC"), sysconfig.get_config_var("CC"), "cc", "gcc", "clang"):
        words = shlex.split(cmd or "")
        if words and shutil.which(words[0]):
            return words
    return None


def _cpu_flags() -> str:
    """The CPU's instruction sets as the kernel sees them (part of the cache key)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    return platform.machine() + platform.processor()


def _say(message: str) -> None:
    print(f"hourglass: {message}", file=sys.stderr)


@lru_cache(maxsize=None)
def load(source: Path, functions: tuple[tuple[str, int, int], ...] = ()) -> ctypes.CDLL | None:
    """The compiled library of the C file `source` (built once per machine and cached), or None.

    `functions`: ``(name, ints, pointers)`` of each C function to declare (see :func:`declare`).
    None where ``HOURGLASS_NATIVE=0``, where no C compiler is found, or where it fails; the last
    two print one line saying why, once per process.
    """
    if os.environ.get("HOURGLASS_NATIVE", "1") == "0":
        return None
    cc = compiler()
    if cc is None:
        _say(f"no C compiler found (set CC); {source.stem} runs its slower PyTorch path")
        return None
    try:
        version = subprocess.run([*cc, "--version"], capture_output=True, text=True,
                                 timeout=60).stdout
        code = "\0".join(p.read_text() for p in [source, *sorted(source.parent.glob("*.h"))])
        key = hashlib.sha256("\0".join([code, version, " ".join(FLAGS),
                                        _cpu_flags()]).encode()).hexdigest()[:16]
        folder = cache_dir() / "native"
        target = folder / f"{source.stem}-{key}.so"
        if not target.exists():
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{source.stem}.", suffix=".so.tmp")
            os.close(fd)
            try:
                done = subprocess.run([*cc, *FLAGS, "-o", tmp, str(source), "-lm"],
                                      capture_output=True, text=True, timeout=300)
                if done.returncode != 0:
                    lines = done.stderr.strip().splitlines()
                    err = next((ln for ln in lines if "error" in ln), lines[-1] if lines else
                               "no message").strip()
                    _say(f"compiling {source.name} failed ({err}); {source.stem} runs its slower "
                         "PyTorch path")
                    return None
                os.replace(tmp, target)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        lib = ctypes.CDLL(str(target))
        for name, ints, pointers in functions:
            declare(lib, name, ints, pointers)
        return lib
    except (OSError, subprocess.SubprocessError, UnicodeDecodeError) as e:
        _say(f"could not build {source.name} ({e}); {source.stem} runs its slower PyTorch path")
        return None


# ---- running a kernel over the rows of a batch, one chunk per thread ---------------------------

def declare(lib: ctypes.CDLL, name: str, ints: int, pointers: int) -> None:
    """Declare C function `name` of `lib` as taking `ints` ints, then `pointers` pointers."""
    fn = getattr(lib, name)
    fn.argtypes = [ctypes.c_int] * ints + [ctypes.c_void_p] * pointers
    fn.restype = None


def bind(fn, *args):
    """``fn(*args)`` as a call to make later, with every tensor checked (contiguous float32 on the
    CPU: anything else is a bug of the caller, not the user's input) and passed as the address of
    its data; the tensors are kept alive with the call. Made in the calling thread, so that a
    worker of :func:`in_threads` that runs it runs C code alone."""
    import torch
    for a in args:
        if isinstance(a, torch.Tensor) and not (a.is_contiguous() and a.device.type == "cpu"
                                                and a.dtype == torch.float32):
            raise ValueError(f"a C kernel takes contiguous float32 CPU tensors, got {a.dtype} "
                             f"on {a.device}, contiguous={a.is_contiguous()}")
    addresses = tuple(a.data_ptr() if isinstance(a, torch.Tensor) else a for a in args)

    def run(_keep_alive=args):
        fn(*addresses)
    return run


def sum_in_order(parts: list[tuple]) -> tuple:
    """The per-thread partial sums ``[(a_0, b_0, ...), (a_1, b_1, ...), ...]`` added in the order
    of the threads, into the first part's tensors: the same split gives the same bits."""
    first, *rest = parts
    for part in rest:
        for total, p in zip(first, part):
            total += p
    return first


@lru_cache(maxsize=4)
def _pool(threads: int, pid: int) -> ThreadPoolExecutor:
    """Worker threads, per process: a forked child gets a pool of its own, not its parent's."""
    return ThreadPoolExecutor(threads, thread_name_prefix="hourglass-native")


def row_chunks(B: int, tile: int = 1) -> list[tuple[int, int]]:
    """Rows [0, B) split over ``torch.get_num_threads()`` threads, in whole tiles of rows."""
    import torch
    tiles = -(-B // tile)
    n = max(1, min(torch.get_num_threads(), tiles))
    per = -(-tiles // n) * tile
    return [(s, min(B, s + per)) for s in range(0, B, per)]


def in_threads(calls: list) -> None:
    """Run the bound C calls (:func:`bind`) at once, one per worker thread (ctypes releases the
    GIL while a C function runs).

    The workers never run a torch op, which is why the calls are bound beforehand, tensors and
    all: a thread that runs a parallel torch op gets an OpenMP team of its own, and once a
    process has more OpenMP threads than cores, GNU OpenMP stops spin-waiting between parallel
    regions, so that afterwards every small parallel op in the whole process wakes its team
    through the kernel (measured once, ad hoc, on 2 cores: a (64, 288) x (288, 32) linear
    layer went from 17 to 141 microseconds once a pool thread had filled a tensor)."""
    if len(calls) == 1:
        calls[0]()
        return
    pool = _pool(len(calls), os.getpid())
    list(pool.map(lambda run: run(), calls))

"""hourglass.core.native: C kernels compiled once per machine into a cache, or a clear fallback."""

import ctypes
from pathlib import Path

import pytest

from hourglass.core import native

SOURCE = "int twice(int x) { return 2 * x; }\n"


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    """An empty cache and a C file of its own; `load`'s memo is cleared before and after."""
    monkeypatch.setenv("HOURGLASS_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("HOURGLASS_NATIVE", raising=False)
    src = tmp_path / "twice.c"
    src.write_text(SOURCE)
    native.load.cache_clear()
    yield src
    native.load.cache_clear()


def test_compiles_once_and_reuses_the_cached_library(fresh):
    lib = native.load(fresh)
    assert lib.twice(ctypes.c_int(21)) == 42
    built = list((Path(native.cache_dir()) / "native").iterdir())
    assert [p.name.startswith("twice-") and p.suffix == ".so" for p in built] == [True]
    stamp = built[0].stat().st_mtime_ns
    native.load.cache_clear()
    assert native.load(fresh).twice(ctypes.c_int(-4)) == -8
    assert built[0].stat().st_mtime_ns == stamp                       # not rebuilt
    fresh.write_text(SOURCE.replace("2 * x", "3 * x"))                # a new source: a new key
    native.load.cache_clear()
    assert native.load(fresh).twice(ctypes.c_int(5)) == 15
    assert len(list((Path(native.cache_dir()) / "native").iterdir())) == 2
    (fresh.parent / "k.h").write_text("#define K 7\n")               # a header beside it too
    fresh.write_text('#include "k.h"\nint twice(int x) { return K * x; }\n')
    native.load.cache_clear()
    assert native.load(fresh).twice(ctypes.c_int(2)) == 14
    (fresh.parent / "k.h").write_text("#define K 9\n")
    native.load.cache_clear()
    assert native.load(fresh).twice(ctypes.c_int(2)) == 18
    assert len(list((Path(native.cache_dir()) / "native").iterdir())) == 4


def test_a_failing_compiler_falls_back_in_one_line_and_leaves_no_file(fresh, monkeypatch, capsys):
    fresh.write_text("this is not C\n")
    assert native.load(fresh) is None
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("hourglass: compiling twice.c failed (")
    assert err[0].endswith("; twice runs its slower PyTorch path")
    assert list((Path(native.cache_dir()) / "native").iterdir()) == []  # no half-written .so


def test_no_compiler_or_disabled_means_none(fresh, monkeypatch, capsys):
    monkeypatch.setenv("PATH", "")
    monkeypatch.delenv("CC", raising=False)
    assert native.compiler() is None
    assert native.load(fresh) is None
    assert capsys.readouterr().err == ("hourglass: no C compiler found (set CC); twice runs its "
                                       "slower PyTorch path\n")
    monkeypatch.undo()
    monkeypatch.setenv("HOURGLASS_NATIVE", "0")
    native.load.cache_clear()
    assert native.load(fresh) is None and capsys.readouterr().err == ""


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("HOURGLASS_CACHE", str(tmp_path / "a"))
    assert native.cache_dir() == tmp_path / "a"
    monkeypatch.delenv("HOURGLASS_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert native.cache_dir() == tmp_path / "x" / "hourglass"

"""Native replay: a traced graph as one C function over a batch of rows, built with the system
C compiler and loaded with `ctypes`.

`compile_grad(..., backend="c")` (or `"auto"`) asks this module for a shared library. The C
source is produced by `compile._generate` from the graph only (node indices, the primitives'
C templates below, constants as exact hex float literals); nothing a user wrote (labels, names,
reprs) reaches it. It is compiled without `-ffast-math`, with FMA contraction and builtin
folding off, and calls the same libm functions as Python's `math` module, so it computes the
interpreter's numbers bit for bit.

Errors and non-finite values: rows whose inputs are not finite (and every row, when a
parameter or a constant of the graph is not) run in the interpreter. With finite values in,
each forward domain error the interpreter raises (log of 0, sqrt of -1, 0 ** -1, x / 0) and
each non-finite result (overflow to inf, inf - inf) raises an IEEE exception flag (invalid,
divide-by-zero or overflow). The generated function clears the flags before each row and
tests them after it; a row that raised one is reported (its index) and `Compiled` re-runs that
row in the interpreter, which gives its exact exception, or its numbers (IEEE inf/nan, as the
engine's policy says) when the flag did not mean an error.

Libraries are cached in `$XDG_CACHE_HOME/autograd-lite` (else `~/.cache/autograd-lite`), a
directory made with user-only permissions, under the SHA-256 of (source, compiler, its version,
flags); a library is loaded only when its bytes hash to the digest recorded at build time, so a
corrupted or tampered file is rebuilt, never loaded.
"""

from __future__ import annotations

import atexit
import ctypes
import hashlib
import os
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .core import AutogradError, Primitive

__all__ = ["NativeUnavailableError", "NativeUnavailableWarning", "c_template", "find_compiler",
           "load", "PRELUDE", "literal", "missing_template"]


class NativeUnavailableError(AutogradError, RuntimeError):
    """`backend="c"` cannot be used: no working C compiler, or a primitive has no C template."""


class NativeUnavailableWarning(UserWarning):
    """`backend="auto"` found no working C compiler and uses Python replay instead."""


#: The head of every generated source. The templates (the primitives' `c` fields) call the C
#: library's functions, the same ones Python's `math` module calls.
PRELUDE = """#include <math.h>
#include <fenv.h>
#define AL_BAD (FE_INVALID | FE_DIVBYZERO | FE_OVERFLOW)
"""


def c_template(op: Primitive) -> tuple[str, tuple[str, ...]] | None:
    """The C code template of `op`: its record's `c` field (None for a user's primitive that
    gives none)."""
    t = getattr(op, "c", None)
    return t if isinstance(t, tuple) and len(t) == 2 else None


def literal(x: float) -> str:
    """An exact C literal for a float: hex (`float.hex`), or INFINITY / NAN."""
    x = float.__float__(x) if isinstance(x, float) else float(x)
    if x != x:
        return "NAN"
    if x in (float("inf"), float("-inf")):
        return "INFINITY" if x > 0 else "(-INFINITY)"
    text = float.hex(x)
    return f"({text})" if text.startswith("-") else text


# ---- the compiler ----------------------------------------------------------------------------
_lock = threading.Lock()
_compiler: dict[str, Any] = {}  # cache of the probe: {"key": (CC, PATH), "found": ...}
_loaded: dict[str, Any] = {}  # digest -> CDLL, for this process


def _candidates() -> list[list[str]]:
    out = []
    cc = os.environ.get("CC", "").strip()
    if cc:
        try:
            out.append(shlex.split(cc))
        except ValueError:
            pass
    for name in ("cc", "gcc", "clang"):
        out.append([name])
    return out


_PROBE = "#include <math.h>\n#include <fenv.h>\ndouble al_probe(double x) " \
         "{ feclearexcept(FE_ALL_EXCEPT); return exp(x) + (double)fetestexcept(FE_OVERFLOW); }\n"


def find_compiler() -> tuple[list[str], str] | str:
    """(compiler command, its version text) of the first working C compiler, or the reason
    none works. Tries `$CC`, then `cc`, `gcc`, `clang` on PATH; the result is cached per
    (CC, PATH)."""
    key = (os.environ.get("CC", ""), os.environ.get("PATH", ""))
    with _lock:
        if _compiler.get("key") == key:
            return _compiler["found"]
    tried = []
    found: tuple[list[str], str] | str = ""
    for cmd in _candidates():
        exe = shutil.which(cmd[0])
        if exe is None:
            tried.append(f"{cmd[0]} (not found)")
            continue
        full = [exe, *cmd[1:]]
        try:
            with tempfile.TemporaryDirectory(prefix="autograd-lite-probe-") as tmp:
                src = Path(tmp) / "probe.c"
                src.write_text(_PROBE)
                done = subprocess.run([*full, *_FLAGS_BASE, "-O0", "-o",
                                       str(Path(tmp) / "probe.so"), str(src), "-lm"],
                                      capture_output=True, text=True, timeout=60, check=False)
                if done.returncode != 0:
                    tried.append(f"{cmd[0]} (cannot build a shared library: "
                                 f"{done.stderr.strip()[:200]})")
                    continue
                version = subprocess.run([*full, "--version"], capture_output=True, text=True,
                                         timeout=30, check=False).stdout
        except (OSError, subprocess.SubprocessError) as e:
            tried.append(f"{cmd[0]} ({e})")
            continue
        found = (full, version.strip())
        break
    if not found:
        found = ("no working C compiler: tried " + ", ".join(tried) + ". Install one (e.g. "
                 "`apt-get install gcc`, or Xcode's command line tools on macOS) or set $CC")
    with _lock:
        _compiler.update(key=key, found=found)
    return found


# -ffp-contract=off: no fused multiply-add (it rounds once instead of twice); -fno-builtin:
# libm calls stay calls (no compile-time folding with another rounding, no pow(x, 2) -> x*x).
_FLAGS_BASE = ["-shared", "-fPIC", "-ffp-contract=off", "-fno-builtin", "-fno-fast-math",
               "-w"]


# GCC passes that cost a third of -O1's time here and find nothing: every store of the
# generated code is read later (dead store elimination).
_GCC_FAST_COMPILE = ["-fno-tree-dse", "-fno-dse"]


def opt_level(n_lines: int) -> str:
    """The optimisation level for a program of `n_lines` statements: -O1 makes code ~3x faster
    than -O0 and costs little more to compile on these chunked programs (~100 us per statement
    on this 2-core machine). Above 15,000 statements (the digits MLP's graph has 12,000), -O0,
    so a 10,000-node graph (~20,000 statements) compiles in under 3 s."""
    return "-O1" if n_lines <= _O1_MAX_LINES else "-O0"


_O1_MAX_LINES = 15_000


def cache_dir() -> Path:
    """`$XDG_CACHE_HOME/autograd-lite`, or `~/.cache/autograd-lite`."""
    base = os.environ.get("XDG_CACHE_HOME", "").strip()
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".cache"
    return root / "autograd-lite"


def _private_dir(path: Path) -> bool:
    """Make `path` (mode 0o700) if missing; True if it is ours and no one else can write it."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = os.lstat(path)
    except OSError:
        return False
    if not stat.S_ISDIR(st.st_mode) or (hasattr(os, "getuid") and st.st_uid != os.getuid()):
        return False
    if st.st_mode & 0o077:
        try:
            os.chmod(path, 0o700)
        except OSError:
            return False
    return True


def _digest_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_verified(lib: Path, sidecar: Path) -> bytes | None:
    """The library's bytes if they hash to the digest recorded beside it, else None."""
    try:
        want = sidecar.read_text().strip()
        data = lib.read_bytes()
    except OSError:
        return None
    return data if len(want) == 64 and _digest_of(data) == want else None


#: Number of libraries built (not loaded from the cache) in this process: tests read it.
BUILDS = [0]


def _build(source: str, cmd: list[str], flags: list[str]) -> bytes:
    """Compile `source` in a private temporary directory; the library's bytes."""
    with tempfile.TemporaryDirectory(prefix="autograd-lite-build-") as tmp:
        src = Path(tmp) / "replay.c"
        out = Path(tmp) / "replay.so"
        src.write_text(source)
        try:
            done = subprocess.run([*cmd, *flags, "-o", str(out), str(src), "-lm"],
                                  capture_output=True, text=True, timeout=600, check=False)
        except (OSError, subprocess.SubprocessError) as e:
            raise NativeUnavailableError(f"C compiler {cmd[0]} failed to run: {e}") from None
        if done.returncode != 0:
            raise NativeUnavailableError(
                f"C compiler {cmd[0]} failed on the generated source (exit "
                f"{done.returncode}): {done.stderr.strip()[:500]}")
        BUILDS[0] += 1
        return out.read_bytes()


_open_fds: list[int] = []  # descriptors of loaded libraries, kept open (see _dlopen)


def _dlopen(data: bytes, digest: str) -> Any:
    """Load verified library bytes from a copy only this process holds (an anonymous memory
    file where the OS has one, else a file in a private temporary directory), so what is
    loaded is exactly what was hashed, even if the cache file changes meanwhile.

    The copy stays open (or on disk) while the process runs: the dynamic loader recognises a
    library it has loaded by path and by inode, and a reused descriptor number or inode would
    hand back an earlier library.
    """
    if hasattr(os, "memfd_create") and os.path.isdir("/proc/self/fd"):
        fd = os.memfd_create("autograd-lite-replay")
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            lib = ctypes.CDLL(f"/proc/self/fd/{fd}")
        except OSError:
            os.close(fd)
        else:
            _open_fds.append(fd)
            return lib
    tmp = tempfile.mkdtemp(prefix="autograd-lite-load-")
    atexit.register(shutil.rmtree, tmp, True)
    name = os.path.join(tmp, "replay.so")
    with open(name, "wb") as f:
        f.write(data)
    if _digest_of(Path(name).read_bytes()) != digest:  # pragma: no cover - paranoia
        raise NativeUnavailableError("library changed while being loaded")
    return ctypes.CDLL(name)


def load(source: str, n_lines: int) -> Any:
    """The shared library of `source`: from this process, the disk cache (verified), or built.

    Raises NativeUnavailableError when there is no working compiler or the build fails.
    """
    found = find_compiler()
    if isinstance(found, str):
        raise NativeUnavailableError(found)
    cmd, version = found
    flags = [*_FLAGS_BASE, opt_level(n_lines)]
    if "Free Software Foundation" in version and flags[-1] != "-O0":
        flags += _GCC_FAST_COMPILE
    key = _digest_of("\0".join([source, *cmd, version, *flags, sys.platform]).encode())
    with _lock:
        lib = _loaded.get(key)
    if lib is not None:
        return lib
    folder = cache_dir()
    cached = _private_dir(folder)
    path, sidecar = folder / f"{key}.so", folder / f"{key}.sha256"
    data = _read_verified(path, sidecar) if cached else None
    if data is None:
        data = _build(PRELUDE + source, cmd, flags)
        if cached:
            _store(folder, path, sidecar, data)
    lib = _dlopen(data, _digest_of(data))
    with _lock:
        _loaded[key] = lib
    return lib


def _store(folder: Path, path: Path, sidecar: Path, data: bytes) -> None:
    """Write the library and its digest atomically (temporary name, then rename)."""
    for target, payload in ((path, data), (sidecar, _digest_of(data).encode())):
        try:
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
            with os.fdopen(fd, "wb") as f:
                f.write(payload)
            os.chmod(tmp, 0o600)
            os.replace(tmp, target)
        except OSError:
            return


def forget_loaded() -> None:
    """Drop this process's table of loaded libraries (tests use it to exercise the disk cache)."""
    with _lock:
        _loaded.clear()


def forget_compiler() -> None:
    """Probe for the compiler again at the next build (after changing $CC or PATH)."""
    with _lock:
        _compiler.clear()


def missing_template(ops_used: Sequence[Primitive]) -> Primitive | None:
    """The first primitive among `ops_used` without a C template, or None."""
    for op in ops_used:
        if c_template(op) is None:
            return op
    return None

"""Native replay: a traced graph as one C function over a batch of rows, built with the system
C compiler and loaded with `ctypes`.

Why one file past ~400 lines: it is one idea, the trust boundary between generated C and this
process (the compiler probe and the probe of its vector code, the trusted cache, loading and
closing); its checks are meant to be read, and reviewed, in one place (docs/native-cache.md).

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
divide-by-zero or overflow). The generated function clears the flags before each row (or
block of rows in SIMD lanes, see `simd` and `emit.c_blocks_source`; a flagged block is re-run
row by row) and tests them after it; a row that raised one is reported (its index) and
`Compiled` re-runs that row in the interpreter, which gives its exact exception, or its
numbers (IEEE inf/nan, as the engine's policy says) when the flag did not mean an error.

Libraries are cached in `$XDG_CACHE_HOME/autograd-lite` (else `~/.cache/autograd-lite`), used
only when this user owns it and no one else can write it or any directory above it; each is
stored under a key covering everything that changes it and authenticated by an HMAC under a
per-user secret (mode 0o600). A library that does not verify, or that the loader refuses, is
rebuilt; an untrusted cache means building in a private temporary directory; a compiler is used
only after a child interpreter loaded and ran its probe library. Loaded libraries are closed when
unused. The threat model: docs/native-cache.md.
"""

from __future__ import annotations

import _ctypes
import contextlib
import ctypes
import hashlib
import hmac
import itertools
import math
import os
import platform
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import warnings
import weakref
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ..engine import derive
from ..engine.errors import AutogradError
from ..engine.value import Primitive
from . import vector

__all__ = ["NativeCacheWarning", "NativeUnavailableError", "NativeUnavailableWarning",
           "c_template", "cpu_simd", "find_compiler", "load", "PRELUDE", "literal",
           "missing_template", "simd", "simd_of"]


class NativeUnavailableError(AutogradError, RuntimeError):
    """`backend="c"` cannot be used: no working C compiler, or a primitive has no C template."""


class NativeUnavailableWarning(UserWarning):
    """`backend="auto"` found no working C compiler and uses Python replay instead."""


#: The head of every generated source. The templates (the primitives' `c` fields) call the C
#: library's functions, the same ones Python's `math` module calls.
PRELUDE = """#include <math.h>
#include <fenv.h>
#define AL_BAD (FE_INVALID | FE_DIVBYZERO | FE_OVERFLOW)
#define AL_CHUNK __attribute__((noinline, visibility("hidden")))
"""
#: A generated program's layout (`emit._CText`): the head, this line, its statement functions
#: (each starting with a line `AL_CHUNK ...`), the second line, the entry points.
PIECES_MARK = "/* autograd-lite: statement functions */"
MAIN_MARK = "/* autograd-lite: entry points */"


def c_template(op: Primitive) -> tuple[str, tuple[str, ...]] | None:
    """The C code of `op`: `(forward, (partial, ...))`, the partials (and the forward, where the
    record names none) derived from the record's own functions (None if not derivable)."""
    return derive.templates(op, "c")


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
#: cache key -> loaded library, for this process. Weak: a library no Compiled uses any more is
#: closed (its mapping released), so nothing grows with the number of graphs compiled.
_loaded: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()
#: cache key -> the lock of the thread loading or building it now (`load`). A child forked
#: meanwhile starts without them (the thread holding one is not in the child).
_building: dict[str, threading.Lock] = {}
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_building.clear)


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

#: Run by a child interpreter: load the probe library, call it, print the result. A compiler
#: whose libraries this interpreter cannot load (another architecture, a sanitizer runtime that
#: must come first, a crash in a constructor) kills or fails the child, never this process.
_PROBE_CHILD = ("import ctypes, os, sys\n"
                "path = sys.argv[1]\n"
                "if hasattr(os, 'memfd_create') and os.path.isdir('/proc/self/fd'):\n"
                "    fd = os.memfd_create('autograd-lite-probe')\n"
                "    os.write(fd, open(path, 'rb').read())\n"
                "    path = '/proc/self/fd/%d' % fd\n"
                "f = ctypes.CDLL(path).al_probe\n"
                "f.restype = ctypes.c_double\n"
                "f.argtypes = [ctypes.c_double]\n"
                "r = f(1.0)\n"
                # a library that turns on flush-to-zero (-ffast-math's crtfastmath) changes
                # every float of the process: subnormals must survive the load
                "tiny = float.fromhex('0x1p-1022') * float(sys.argv[2])\n"
                "sys.stdout.write(float.hex(r) + ' ' + float.hex(tiny))\n")


def _run(cmd: list[str], timeout: float, tmp: str | None = None
         ) -> subprocess.CompletedProcess[str]:
    """Run a tool with output decoded leniently (a compiler in another locale), its temporary
    files in `tmp` (our private directory: the compiler's intermediate files are code we will
    load, so they must not go to a $TMPDIR another user can write), and its whole process group
    killed when it overruns `timeout`."""
    env = None
    if tmp is not None:
        env = {**os.environ, "TMPDIR": tmp, "TMP": tmp, "TEMP": tmp}
    with subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=env, start_new_session=True) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
    return subprocess.CompletedProcess(cmd, proc.returncode,
                                       out.decode("utf-8", "replace"),
                                       err.decode("utf-8", "replace"))


def _probe(full: list[str]) -> tuple[list[str], str] | str:
    """(command, identity text) if `full` builds a library that this interpreter loads and
    that computes exp(1) as Python's math does; else why not (one line)."""
    name = full[0]
    with _private_tmpdir("autograd-lite-probe-") as tmp:
        src = Path(tmp) / "probe.c"
        lib = Path(tmp) / "probe.so"
        src.write_text(_PROBE)
        done = _run([*full, *_FLAGS_BASE, "-O1", "-o", str(lib), str(src), "-lm"], 120, tmp)
        if done.returncode != 0 or not lib.is_file():
            return (f"{name} cannot build a shared library (exit {done.returncode}: "
                    f"{done.stderr.strip()[:200]})")
        if sys.executable:
            child = _run([sys.executable, "-I", "-S", "-c", _PROBE_CHILD, str(lib), "0.5"], 120,
                         tmp)
            want = f"{float.hex(math.exp(1.0))} {float.hex(float.fromhex('0x1p-1023'))}"
            if child.returncode != 0 or child.stdout.strip() != want:
                why = (child.stderr.strip().splitlines() or [f"exit {child.returncode}"])[-1]
                if child.returncode == 0:
                    why = (f"after loading one, exp(1) and 2**-1022 / 2 are {child.stdout!r}, "
                           f"not {want!r} (fast-math flushing subnormals?)")
                return (f"{name} builds libraries this Python cannot load or run "
                        f"({why[:200]})")
        version = _run([*full, "--version"], 60, tmp).stdout.strip()
        target = _run([*full, "-dumpmachine"], 60, tmp).stdout.strip()
    try:
        st = os.stat(full[0])
        stamp = f"{os.path.realpath(full[0])} {st.st_size}:{st.st_mtime_ns}"
    except OSError:
        stamp = ""
    # Everything that tells one compiler from another goes into the cache key: its path and
    # flags, the version text, the target triple, the binary's size and time, and this CPU's
    # instruction-set flags (a $CC with -march=native builds code only this CPU runs).
    identity = "\n".join([version, f"target: {target or '?'}", f"binary: {stamp}",
                          f"cpu: {_cpu_flags()}"])
    return full, identity


def _cpu_flags() -> str:
    """A digest of this CPU's instruction-set flags (Linux's /proc/cpuinfo), else the
    platform's processor name."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    words = " ".join(sorted(line.split(":", 1)[1].split()))
                    return _digest_of(words.encode())[:16]
    except OSError:
        pass
    return platform.processor() or platform.machine()


class _Speculation:
    """`_probe_simd` of the level `simd()` will first try (if any), run in a thread while the
    compiler itself is probed: `level` and `ok` (None: not run, or it failed to run)."""

    def __init__(self, cmd: list[str]) -> None:
        self.level: str | None = None
        self.ok: bool | None = None
        try:
            level = _wanted_simd()
        except ValueError:  # (said by `simd()` itself)
            return
        if level == "none":
            return
        self._level = level
        self._thread = threading.Thread(target=self._run, args=(cmd,), daemon=True,
                                        name="autograd-lite-probe")
        try:
            self._thread.start()
        except RuntimeError:  # no new threads (at interpreter exit): `simd()` probes later
            return
        self.level = level

    def _run(self, cmd: list[str]) -> None:
        try:
            self.ok = _probe_simd(cmd, vector.SIMDS[self._level])
        except (OSError, subprocess.SubprocessError, NativeUnavailableError):
            self.ok = None

    def join(self) -> None:
        if self.level is not None:
            self._thread.join()


def find_compiler() -> tuple[list[str], str] | str:
    """(compiler command, its identity: version text, target, binary stamp) of the first
    working C compiler, or the reason none works. Tries `$CC`, then `cc`, `gcc`, `clang` on
    PATH. Working means: it builds a shared library that a child interpreter loads and runs
    (so a compiler that makes unloadable or crashing libraries is never used in-process).
    The result is cached per (CC, PATH)."""
    key = (os.environ.get("CC", ""), os.environ.get("PATH", ""))
    with _lock:
        if _compiler.get("key") == key:
            return _compiler["found"]
    tried = []
    seen: set[tuple[str, ...]] = set()
    found: tuple[list[str], str] | str = ""
    user_cc = os.environ.get("CC", "").strip()
    for i, cmd in enumerate(_candidates()):
        exe = shutil.which(cmd[0])
        if exe is None:
            tried.append(f"{cmd[0]} (not found)")
            continue
        # Run the name found on PATH (a front end such as ccache decides by the name it is
        # called by); the same program under two names is probed once.
        full = [os.path.abspath(exe), *cmd[1:]]
        same = (os.path.realpath(exe), *cmd[1:])
        if same in seen:
            continue
        seen.add(same)
        # The vector-code probe of the level block code will ask for runs meanwhile (another
        # core): its result is kept if this compiler is the one found.
        vec = _Speculation(full)
        try:
            result = _probe(full)
        except (OSError, subprocess.SubprocessError, NativeUnavailableError) as e:
            result = f"{cmd[0]} ({e})"
        vec.join()
        if isinstance(result, str):
            tried.append(result)
            continue
        found = result
        if vec.level is not None and vec.ok is not None:
            with _lock:
                _simd_probed[("\0".join([*found[0], found[1]]), vec.level)] = vec.ok
        if user_cc and i > 0:
            warnings.warn(f"$CC ({user_cc}) is not usable: {'; '.join(tried)}; compiled replay "
                          f"uses {full[0]} instead", NativeUnavailableWarning, stacklevel=4)
        break
    if not found:
        found = ("no working C compiler: tried " + "; ".join(tried) + ". Install one (e.g. "
                 "`apt-get install gcc`, or Xcode's command line tools on macOS) or set $CC")
    with _lock:
        _compiler.update(key=key, found=found)
    return found


# -ffp-contract=off: no fused multiply-add (it rounds once instead of twice); -fno-builtin:
# libm calls stay calls (no compile-time folding with another rounding, no pow(x, 2) -> x*x).
_FLAGS_BASE = ["-shared", "-fPIC", "-ffp-contract=off", "-fno-builtin", "-fno-fast-math",
               "-w"]


# GCC passes that cost a third of -O1's time here and find nothing: every store of the
# generated code is read later (dead store elimination); points-to analysis (~20% of the
# digits graph's block-code build; identical machine code there, a few more reloads of
# inputs in small graphs, no measurable run time: bench_blocks.py).
_GCC_FAST_COMPILE = ["-fno-tree-dse", "-fno-dse", "-fno-tree-pta"]


def opt_level(n_lines: int) -> str:
    """The optimisation level for a program of `n_lines` statements: -O1 makes code ~3x faster
    than -O0 and costs little more to compile on these chunked programs (~100 us per statement
    on this 2-core machine). Above 15,000 statements (the digits MLP's graph has 12,000), -O0,
    so a 10,000-node graph (~20,000 statements) compiles in under 3 s. Up to 2,000 statements,
    -O2: bench_native's MLP step (1,559 statements) runs its block code in 14.3 us instead of
    17.6 us at -O1 (its fast-compile flags, `_GCC_FAST_COMPILE`, cost more than they save
    there: 17.8 us), for 0.9 s of compiler CPU instead of 0.5 s (benchmarks/bench_blocks.py).
    The level is in the flags, so in the cache key."""
    if n_lines <= _O2_MAX_LINES:
        return "-O2"
    return "-O1" if n_lines <= _O1_MAX_LINES else "-O0"


_O2_MAX_LINES = 2_000
_O1_MAX_LINES = 15_000
#: Above this many statements, scalar code only: a block-code library holds the vector code
#: and the scalar rows (for flagged blocks and short tails), ~2.3x the scalar library's
#: compile time (10,000-node graph: 6.0 s against 2.7 s of compiler CPU), while the digits
#: MLP's 12,000 statements build in ~3 s either way.
BLOCKS_MAX_LINES = _O1_MAX_LINES
#: Above this many bytes of block-code source, scalar code: the compile time follows the
#: vector code's size, not its count of statements (a lane call or a select costs more than
#: a `+`). At the statement limit, a graph of tanh/sin nodes gives 1.08 MB of source and
#: 4.3 s of compiler CPU, one of softplus/sigmoid/maximum nodes 2.9 MB and 15.9 s (its scalar
#: code 6.9 s); the digits MLP 0.75 MB. Measured with gcc 12 -O1 on this 2-core machine.
BLOCKS_MAX_BYTES = 1_200_000


# ---- the instruction set of block code ---------------------------------------------------------
#: Chooses the instruction set of block code: "none" (scalar code), "sse2", "avx2" or "avx512"
#: (one the CPU lacks is lowered to the CPU's best). Unset: the CPU's best up to AVX2.
SIMD_ENV = "AUTOGRAD_LITE_SIMD"
SIMD_LEVELS = ("none", "sse2", "avx2", "avx512")
#: The lowest level used when the environment names none: SSE2's two lanes already pay
#: (1.8x the scalar code's speed on bench_native's MLP step, 3.3x on the digits graph;
#: benchmarks/bench_blocks.py), so every x86-64 CPU gets block code.
_DEFAULT_FLOOR = "sse2"
#: The highest level used when the environment names none: AVX-512's 8 lanes measured slower
#: than AVX2's 4 (AMD EPYC, which runs 512-bit operations in two halves: MLP step 33 against
#: 25 us, digits 4.9 against 3.7 ms; bench_blocks.py), and B=8 leaves longer scalar tails.
_DEFAULT_CEILING = "avx2"
_cpu_level: list[str] = []
_POINTER_BYTES = ctypes.sizeof(ctypes.c_void_p)  # this interpreter's: 4 in a 32-bit one


def cpu_simd() -> str:
    """The best instruction set for block code this CPU and OS run (read once per process):
    "avx512" (AVX-512F), "avx2", "sse2" on x86-64 per Linux's /proc/cpuinfo (the kernel lists
    AVX only when it saves the registers), else "none". A 32-bit interpreter on an x86-64
    kernel (whose machine says x86_64) gets "none": SSE2 is not its compiler's baseline (block
    code's "sse2" level has no target attribute), and its scalar code uses the x87 unit."""
    with _lock:
        if _cpu_level:
            return _cpu_level[0]
    level = "none"
    if platform.machine().lower() in ("x86_64", "amd64") and _POINTER_BYTES == 8:
        flags: set[str] = set()
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
                for line in f:
                    if line.startswith("flags"):
                        flags = set(line.split(":", 1)[1].split())
                        break
        except OSError:
            pass
        for name, flag in (("avx512", "avx512f"), ("avx2", "avx2"), ("sse2", "sse2")):
            if flag in flags:
                level = name
                break
    with _lock:
        _cpu_level[:] = [level]
    return level


def _wanted_simd() -> str:
    """The level asked for: $AUTOGRAD_LITE_SIMD, lowered to the CPU's; by default the CPU's
    capped at `_DEFAULT_CEILING`, or "none" below `_DEFAULT_FLOOR`."""
    env = os.environ.get(SIMD_ENV, "").strip().lower()
    if env and env not in SIMD_LEVELS:
        raise ValueError(f"${SIMD_ENV} must be one of {', '.join(SIMD_LEVELS)} (or unset), "
                         f"got {env!r}")
    cpu = cpu_simd()
    if not env:
        if SIMD_LEVELS.index(cpu) < SIMD_LEVELS.index(_DEFAULT_FLOOR):
            return "none"
        return SIMD_LEVELS[min(SIMD_LEVELS.index(cpu), SIMD_LEVELS.index(_DEFAULT_CEILING))]
    return SIMD_LEVELS[min(SIMD_LEVELS.index(env), SIMD_LEVELS.index(cpu))]


_simd_probed: dict[tuple[str, str], bool] = {}


def simd() -> vector.Simd | None:
    """The instruction set block code is generated for (`vector.SIMDS`), or None for scalar
    code: the CPU's (see `cpu_simd`, `$AUTOGRAD_LITE_SIMD`), stepped down until the compiler
    builds a probe of vector-type code that a child interpreter loads and runs exactly; None
    also when there is no working compiler. Probed once per compiler and level."""
    level = _wanted_simd()
    found = find_compiler()
    if isinstance(found, str):
        return None
    cmd, identity = found
    while level != "none":
        key = ("\0".join([*cmd, identity]), level)
        with _lock:
            ok = _simd_probed.get(key)
        if ok is None:
            try:
                ok = _probe_simd(cmd, vector.SIMDS[level])
            except (OSError, subprocess.SubprocessError, NativeUnavailableError):
                ok = False
            with _lock:
                _simd_probed[key] = ok
        if ok:
            return vector.SIMDS[level]
        level = SIMD_LEVELS[SIMD_LEVELS.index(level) - 1]
    return None


def _probe_simd(cmd: list[str], s: vector.Simd) -> bool:
    """Whether `cmd` builds block code for `s` (vector types, the target attribute, lane
    calls, selects) that a child interpreter loads and runs with exp(1) in every lane."""
    lanes = ", ".join(f"o[{i}]" for i in range(s.lanes))
    source = (_PROBE.split("double al_probe")[0] + s.prelude() + s.lane_call("exp", 1) +
              "static __attribute__((noinline)) AL_T void al_pv(double *o, double x) {\n"
              "  vd a = al_bc(x); vd e = al_v1_exp(a);\n"
              "  vd r = al_sel((vl)(a > al_bc(0.0)), al_fabs(-e), al_bc(-1.0));\n"
              f"  r = AL_SHUF(r, e, {', '.join(map(str, range(s.lanes - 1, -1, -1)))});\n"
              "  union { vd v; double d[AL_LANES]; } u = {r};\n"
              "  for (int l = 0; l < AL_LANES; l++) o[l] = u.d[l];\n  AL_VZ;\n}\n"
              "double al_probe(double x) { double o[AL_LANES]; feclearexcept(FE_ALL_EXCEPT);"
              " AL_CLEAR; al_pv(o, x); double w[] = {" + lanes + "};\n"
              "  for (int l = 1; l < AL_LANES; l++) if (w[l] != w[0]) return -2.0;\n"
              "  return w[0] + (double)fetestexcept(FE_OVERFLOW); }\n")
    with _private_tmpdir("autograd-lite-probe-") as tmp:
        src = Path(tmp) / "probe.c"
        lib = Path(tmp) / "probe.so"
        src.write_text(source)
        done = _run([*cmd, *_FLAGS_BASE, *SIMD_FLAGS, "-O1", "-o", str(lib), str(src), "-lm"],
                    120, tmp)
        if done.returncode != 0 or not lib.is_file():
            return False
        if not sys.executable:
            return False
        child = _run([sys.executable, "-I", "-S", "-c", _PROBE_CHILD, str(lib), "0.5"], 120,
                     tmp)
        want = f"{float.hex(math.exp(1.0))} {float.hex(float.fromhex('0x1p-1023'))}"
        return child.returncode == 0 and child.stdout.strip() == want


#: Flags for block code: GCC's vzeroupper insertion and the register allocation of vector
#: code need its "expensive optimizations" (on at -O2, off at -O1).
SIMD_FLAGS = ["-fexpensive-optimizations"]
_SIMD_MARK = "/* autograd-lite block code: "


def simd_of(source: str) -> str | None:
    """The instruction set a generated source's block code is for ("avx2"...), or None for
    scalar code: read from the first line `vector.Simd.prelude` writes."""
    first = source.split("\n", 1)[0]
    if first.startswith(_SIMD_MARK):
        name = first[len(_SIMD_MARK):].split(",", 1)[0]
        if name in vector.SIMDS:
            return name
    return None


# ---- where files go: the trust checks ----------------------------------------------------------
class NativeCacheWarning(UserWarning):
    """The library cache directory cannot be trusted (another user can write it or a parent):
    libraries are built in a private temporary directory and never loaded from it."""


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # a FIFO planted as a file must not hang the open
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_warned_cache: set[str] = set()


def cache_dir() -> Path:
    """`$XDG_CACHE_HOME/autograd-lite`, or `~/.cache/autograd-lite`."""
    base = os.environ.get("XDG_CACHE_HOME", "").strip()
    if base and os.path.isabs(base):
        return Path(base) / "autograd-lite"
    return Path(os.path.expanduser("~")) / ".cache" / "autograd-lite"


def _uid() -> int | None:
    return os.getuid() if hasattr(os, "getuid") else None


def _unsafe_part(path: Path, own_last: bool = True) -> str | None:
    """Why `path` (an existing directory) could be changed by another user, or None.

    Each directory from the root down (followed through symlinks too) must be owned by this
    user or root and writable by no one else, except a sticky one (like /tmp) whose entry on
    the path is ours or root's; with `own_last`, the last one must be ours and not sticky.
    A symlink on the path must be ours or root's (only they can change it, and the directory
    holding it is checked)."""
    uid = _uid()
    if uid is None:
        return "this platform has no user ids to check ownership with"
    for chain in (path, Path(os.path.realpath(path))):
        parts = [Path(chain.anchor), *reversed(chain.parents[:-1]), chain] if chain.parents \
            else [chain]
        for i, part in enumerate(parts):
            try:
                st = os.lstat(part)
            except OSError as e:
                return f"{part}: {e.strerror}"
            last = own_last and i == len(parts) - 1
            if st.st_uid not in ((uid,) if last else (uid, 0)):
                return f"{part} is owned by uid {st.st_uid}"
            if stat.S_ISLNK(st.st_mode):
                continue
            if not stat.S_ISDIR(st.st_mode):
                return f"{part} is not a directory"
            if st.st_mode & 0o022:
                if last or not st.st_mode & stat.S_ISVTX:
                    return f"{part} is writable by other users (mode {st.st_mode & 0o7777:o})"
    return None


def _make_private(path: Path) -> None:
    """Create `path` and its missing parents, each with mode 0o700 (not the umask's), only
    below a directory another user cannot change (else nothing is created)."""
    missing = []
    p = path
    while not os.path.lexists(p):
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    if missing and _unsafe_part(p, own_last=False) is not None:
        return  # the caller's check says why
    for d in reversed(missing):
        try:
            os.mkdir(d, 0o700)
        except FileExistsError:
            pass


def usable_cache() -> Path | None:
    """The cache directory if it can be trusted (created, user-only, if missing), else None;
    an untrusted one is reported once per process with a NativeCacheWarning saying why."""
    folder: Path | None = None
    try:
        folder = cache_dir()
        if folder.is_absolute():
            _make_private(folder)
            why = _unsafe_part(folder)
        else:
            why = f"{folder} is not an absolute path (no home directory?)"
    except (OSError, RuntimeError, ValueError) as e:
        why = str(e)
        where = "the cache directory"
    else:
        if why is None:
            return folder
        where = str(folder)
    with _lock:
        first = where not in _warned_cache
        _warned_cache.add(where)
    if first and _uid() is not None:
        warnings.warn(f"autograd-lite does not use the compiled-library cache {where}: {why}. "
                      "Libraries are built in a private temporary directory instead (set "
                      "$XDG_CACHE_HOME to a directory only you can write, or remove that one)",
                      NativeCacheWarning, stacklevel=4)
    return None


def _temp_parent() -> str | None:
    """A directory for private temporary directories: $TMPDIR (or the platform's default),
    then /tmp, then /dev/shm, the first that another user cannot tamper with."""
    for cand in (tempfile.gettempdir(), "/tmp", "/dev/shm"):
        if os.path.isdir(cand) and _unsafe_part(Path(cand), own_last=False) is None:
            return cand
    return None


@contextlib.contextmanager
def _private_tmpdir(prefix: str) -> Iterator[str]:
    """A fresh 0o700 directory that only this user can change, removed afterwards whatever
    happens (a full disk included)."""
    parent = _temp_parent()
    if parent is None:
        raise NativeUnavailableError("no temporary directory that other users cannot write "
                                     "(checked $TMPDIR, /tmp, /dev/shm)")
    try:
        tmp = tempfile.mkdtemp(prefix=prefix, dir=parent)
    except OSError as e:  # out of space or inodes
        raise NativeUnavailableError(f"cannot make a private temporary directory in {parent}: "
                                     f"{e}") from None
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---- the cache: keyed MACs with a per-user secret ---------------------------------------------
_SECRET_BYTES = 32


def _read_own_file(path: Path, limit: int) -> bytes | None:
    """The bytes of `path` if it is a regular file (not a symlink) owned by this user, writable
    by no one else, of at most `limit` bytes; else None. Checked on the open descriptor."""
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _CLOEXEC | _NONBLOCK)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if (not stat.S_ISREG(st.st_mode) or st.st_uid != _uid() or st.st_mode & 0o022
                or st.st_size > limit):
            return None
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def _write_atomic(folder: Path, target: Path, payload: bytes, exclusive: bool = False) -> bool:
    """Write `payload` to `target` in `folder` through a 0o600 temporary file and a rename
    (`exclusive`: a hard link, so an existing `target` is kept: two processes making the first
    secret at once agree on one); False, and no temporary file left, if anything fails (a full
    disk)."""
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        os.chmod(tmp, 0o600)
        if exclusive:
            try:
                os.link(tmp, target)
                return True
            except FileExistsError:
                return True
            except OSError:  # no hard links on this file system: last writer wins
                pass
        os.replace(tmp, target)
        tmp = None
        return True
    except OSError:
        return False
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _secret(folder: Path) -> bytes | None:
    """This user's secret for the cache's MACs: `folder/key`, 32 random bytes, mode 0o600,
    created on first use; replaced if it is not a valid one of ours."""
    path = folder / "key"
    data = _read_own_file(path, _SECRET_BYTES)
    if data is not None and len(data) == _SECRET_BYTES and _private_mode(path):
        return data
    fresh = os.urandom(_SECRET_BYTES)
    if os.path.lexists(path):  # not a valid secret of ours: replaced
        if not _write_atomic(folder, path, fresh):
            return None
    elif not _write_atomic(folder, path, fresh, exclusive=True):
        return None
    data = _read_own_file(path, _SECRET_BYTES)  # another process may have made it first
    return data if data is not None and len(data) == _SECRET_BYTES else None


def _private_mode(path: Path) -> bool:
    try:
        return not os.lstat(path).st_mode & 0o077
    except OSError:
        return False


def _mac(secret: bytes, key: str, data: bytes) -> str:
    return hmac.new(secret, key.encode() + b"\0" + data, hashlib.sha256).hexdigest()


def _digest_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


#: Number of libraries built (not loaded from the cache) in this process: tests read it.
BUILDS = [0]

# ---- translation units, compiled in parallel ----------------------------------------------------
#: A program is cut into 2, 4 or 8 translation units of at least this many bytes, compiled by
#: parallel compiler processes and linked into one library: GCC's time is linear in the
#: statement functions, so two cores build the digits MLP's block code (0.36 MB, 4 units) in
#: 0.52 s instead of 0.92 s (2 units 0.55 s, 8 units 0.56 s: more compiler CPU). The count
#: follows the program's size alone (the same library on every machine: it is in the cache
#: key); the number of compiler processes at once follows the CPUs this process may run on
#: (`build_jobs`).
UNIT_BYTES = 64_000
MAX_UNITS = 8


def unit_count(size: int) -> int:
    """Translation units for a program of `size` bytes: 1, or a power of two up to MAX_UNITS
    with at least UNIT_BYTES each (a power of two splits evenly over 2 or 4 cores)."""
    n = 1
    while n < MAX_UNITS and size >= 2 * n * UNIT_BYTES:
        n *= 2
    return n


def build_jobs(n_units: int) -> int:
    """Compiler processes at once: the CPUs this process may run on, never more than units."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(n_units, cpus))


def units(text: str, n: int | None = None) -> list[str]:
    """`text` (a whole program, prelude included) as at most `n` translation units
    (`unit_count`'s by default): each the head (everything before PIECES_MARK) followed by a
    contiguous run of the statement functions of about equal size in bytes; the last one also
    holds the entry points (after MAIN_MARK: the prototypes of every statement function, the
    tables and row loops). Text without the marks, or n = 1: the text itself, one unit."""
    lines = text.split("\n")
    try:
        a, b = lines.index(PIECES_MARK), lines.index(MAIN_MARK)
    except ValueError:
        return [text]
    n = unit_count(len(text)) if n is None else n
    if n <= 1 or b < a:
        return [text]
    head = "\n".join(lines[:a + 1]) + "\n"
    pieces: list[list[str]] = []
    for line in lines[a + 1:b]:
        if line.startswith("AL_CHUNK ") or not pieces:
            pieces.append([])
        pieces[-1].append(line)
    parts = ["\n".join(p) + "\n" for p in pieces] + ["\n".join(lines[b:])]
    total = sum(map(len, parts)) or 1
    groups: list[list[str]] = [[] for _ in range(n)]
    done = 0
    for part in parts:  # each part to the unit its middle falls in
        groups[min(n - 1, (2 * done + len(part)) * n // (2 * total))].append(part)
        done += len(part)
    return [head + "".join(g) for g in groups if g]


def _compile_units(texts: list[str], cmd: list[str], flags: list[str], tmp: str) -> list[str]:
    """Compile each unit into an object file in `tmp`, `build_jobs` compilers at once (this
    thread and helpers; this thread alone where no thread can start, at interpreter exit); the
    objects' paths. A unit that fails raises NativeUnavailableError naming it with the
    compiler's message (the units not started yet are not compiled)."""
    n = len(texts)
    failed: list[tuple[int, subprocess.CompletedProcess[str]]] = []
    errors: list[BaseException] = []
    stop = threading.Event()
    todo = iter(range(n))
    take = threading.Lock()

    def work() -> None:
        while not stop.is_set():
            with take:
                i = next(todo, None)
            if i is None:
                return
            src = Path(tmp) / f"unit{i}.c"
            try:
                src.write_text(texts[i])
                done = _run([*cmd, *flags, "-c", "-o", str(src.with_suffix(".o")), str(src)],
                            600, tmp)
            except BaseException as e:  # noqa: BLE001 - raised in the calling thread
                errors.append(e)
                stop.set()
                return
            if done.returncode != 0:
                failed.append((i, done))
                stop.set()

    helpers = []
    for _ in range(build_jobs(n) - 1):
        t = threading.Thread(target=work, daemon=True, name="autograd-lite-cc")
        try:
            t.start()
        except RuntimeError:  # no new threads (at interpreter exit)
            break
        helpers.append(t)
    work()
    for t in helpers:
        t.join()
    if errors:
        raise errors[0]  # (OSError, SubprocessError: the caller says the compiler failed)
    if failed:
        i, done = min(failed, key=lambda f: f[0])
        raise NativeUnavailableError(
            f"C compiler {cmd[0]} failed on unit {i + 1} of {n} of the generated source "
            f"(exit {done.returncode}): {done.stderr.strip()[:500]}")
    return [str(Path(tmp) / f"unit{i}.o") for i in range(n)]


def _build(source: str, cmd: list[str], flags: list[str], n_units: int = 1,
           texts: list[str] | None = None) -> bytes:
    """Compile `source` in a private temporary directory, as `n_units` translation units
    (see `units`) compiled in parallel and linked; the library's bytes."""
    texts = units(source, n_units) if texts is None else texts
    with _private_tmpdir("autograd-lite-build-") as tmp:
        out = Path(tmp) / "replay.so"
        try:
            if len(texts) == 1:
                src = Path(tmp) / "replay.c"
                src.write_text(source)
                done = _run([*cmd, *flags, "-o", str(out), str(src), "-lm"], 600, tmp)
            else:
                objects = _compile_units(texts, cmd, flags, tmp)
                done = _run([*cmd, *flags, "-o", str(out), *objects, "-lm"], 600, tmp)
        except (OSError, subprocess.SubprocessError) as e:
            raise NativeUnavailableError(f"C compiler {cmd[0]} failed to run: {e}") from None
        if done.returncode != 0:
            what = "the generated source" if len(texts) == 1 else \
                f"linking the {len(texts)} units of the generated source"
            raise NativeUnavailableError(
                f"C compiler {cmd[0]} failed on {what} (exit {done.returncode}): "
                f"{done.stderr.strip()[:500]}")
        BUILDS[0] += 1
        try:
            return out.read_bytes()
        except OSError as e:
            raise NativeUnavailableError(f"C compiler {cmd[0]} wrote no library: {e}") from None


_serial = itertools.count()


def _dlclose(handle: int) -> None:
    close = getattr(_ctypes, "dlclose", None) or getattr(_ctypes, "FreeLibrary", None)
    if close is not None:
        with contextlib.suppress(OSError):
            close(handle)


def _dlopen(data: bytes) -> Any:
    """Load library bytes (already verified or just built) from a copy only this process
    holds, under a name never used before in this process (the dynamic loader recognises
    loaded libraries by name): an anonymous memory file reached through a uniquely named
    symlink in a private directory (memory files load even where /tmp is mounted noexec), else
    a file in a private directory. The copy's descriptor, symlink and file are gone once the
    library is mapped; the library is closed when no one uses it (not at exit: threads or
    atexit handlers may still call it).

    Raises OSError when the loader refuses the bytes (another architecture, a broken file)."""
    errors: list[OSError] = []
    for way in (_load_from_memory, _load_from_file):
        try:
            lib = way(data)
        except OSError as e:
            errors.append(e)
            continue
        if lib is not None:
            weakref.finalize(lib, _dlclose, lib._handle).atexit = False
            return lib
    raise errors[0] if errors else OSError("no way to load a library here")


def _load_from_memory(data: bytes) -> Any:
    if not (hasattr(os, "memfd_create") and os.path.isdir("/proc/self/fd")):
        return None
    fd = os.memfd_create("autograd-lite-replay", getattr(os, "MFD_CLOEXEC", 0))
    try:
        _write_all(fd, data)
        with _private_tmpdir("autograd-lite-load-") as tmp:
            name = os.path.join(tmp, f"replay-{os.getpid()}-{next(_serial)}.so")
            os.symlink(f"/proc/self/fd/{fd}", name)
            return ctypes.CDLL(name)
    finally:
        os.close(fd)


def _load_from_file(data: bytes) -> Any:
    with _private_tmpdir("autograd-lite-load-") as tmp:
        name = os.path.join(tmp, f"replay-{os.getpid()}-{next(_serial)}.so")
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o600)
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)
        return ctypes.CDLL(name)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _package_version() -> str:
    from .. import __version__

    return __version__


def cache_key(text: str, cmd: Sequence[str], identity: str, flags: Sequence[str],
              simd_tag: str = "simd: none", n_units: int = 1) -> str:
    """The cache key of a library: everything that changes it (the whole C text, prelude
    included, the package version, the compiler's command, identity and target (this CPU's
    flags among them), the flags, the block code's instruction set and rows per vector (also
    in the text), the number of translation units it is built from, the platform and
    machine)."""
    parts = [_package_version(), text, *cmd, identity, *flags, simd_tag, f"units: {n_units}",
             sys.platform, platform.machine(), str(ctypes.sizeof(ctypes.c_void_p))]
    return _digest_of("\0".join(parts).encode())


def _has_symbols(lib: Any, symbols: Sequence[str]) -> bool:
    try:
        for name in symbols:
            getattr(lib, name)
    except AttributeError:
        return False
    return True


def load(source: str, n_lines: int, symbols: Sequence[str] = ("al_vg", "al_fw")) -> Any:
    """The shared library of `source` (without the prelude): from this process, the disk
    cache (its MAC checked with this user's secret), or built.

    Raises NativeUnavailableError when there is no working compiler or the build fails or
    cannot be loaded; a cached library that does not verify or load is rebuilt.
    """
    found = find_compiler()
    if isinstance(found, str):
        raise NativeUnavailableError(found)
    cmd, identity = found
    flags = [*_FLAGS_BASE, opt_level(n_lines)]
    if "Free Software Foundation" in identity and flags[-1] == "-O1":
        flags += _GCC_FAST_COMPILE
    isa = simd_of(source)
    if isa is not None:
        flags += SIMD_FLAGS
    text = PRELUDE + source
    tag = f"simd: {isa} x{vector.SIMDS[isa].lanes}" if isa is not None else "simd: none"
    parts = units(text)
    n_units = len(parts)
    key = cache_key(text, cmd, identity, flags, tag, n_units)
    with _lock:
        lib = _loaded.get(key)
        if lib is not None:
            return lib
        gate = _building.setdefault(key, threading.Lock())
    # One load or build per key at a time in this process: a second thread asking for the
    # same library (two Compileds of one graph, their lent scalar rows) waits for the first
    # and takes its library, instead of running the compilers again beside it.
    try:
        with gate:
            with _lock:
                lib = _loaded.get(key)
            return lib if lib is not None else _load_or_build(key, text, cmd, flags, n_units,
                                                              parts, symbols)
    finally:
        with _lock:
            if _building.get(key) is gate:
                del _building[key]


def _load_or_build(key: str, text: str, cmd: list[str], flags: list[str], n_units: int,
                   parts: list[str], symbols: Sequence[str]) -> Any:
    """`load`'s library of `key`: from the disk cache (its MAC checked), else built (and
    cached); entered in this process's table."""
    lib = None
    folder = usable_cache()
    secret = _secret(folder) if folder is not None else None
    path, sidecar = Path(f"{key}.so"), Path(f"{key}.mac")
    if folder is not None and secret is not None:
        path, sidecar = folder / path, folder / sidecar
        data = _read_own_file(path, 1 << 30)
        mac = _read_own_file(sidecar, 64)
        if data is not None and mac is not None and hmac.compare_digest(
                mac, _mac(secret, key, data).encode()):
            try:
                lib = _dlopen(data)
            except (OSError, NativeUnavailableError):
                lib = None  # ours, but this machine cannot load it: rebuilt below
            if lib is not None and not _has_symbols(lib, symbols):
                lib = None
    if lib is None:
        data = _build(text, cmd, flags, n_units, parts)
        try:
            lib = _dlopen(data)
        except OSError as e:
            raise NativeUnavailableError(
                f"the library built by {cmd[0]} cannot be loaded: {e}") from None
        if not _has_symbols(lib, symbols):
            raise NativeUnavailableError(f"the library built by {cmd[0]} lacks the functions "
                                         f"{', '.join(symbols)} of its source")
        if folder is not None and secret is not None and _write_atomic(folder, path, data):
            _write_atomic(folder, sidecar, _mac(secret, key, data).encode())
    with _lock:
        _loaded[key] = lib
    return lib


def forget_loaded() -> None:
    """Drop this process's table of loaded libraries (tests use it to exercise the disk cache)."""
    with _lock:
        _loaded.clear()


def forget_compiler() -> None:
    """Probe for the compiler (and its vector code) again at the next build (after changing
    $CC or PATH)."""
    with _lock:
        _compiler.clear()
        _simd_probed.clear()


def missing_template(ops_used: Sequence[Primitive]) -> Primitive | None:
    """The first primitive among `ops_used` without a C template, or None."""
    for op in ops_used:
        if c_template(op) is None:
            return op
    return None

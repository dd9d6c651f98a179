"""A large generated program is built as several translation units, compiled by parallel compiler
processes (as many at once as this process has CPUs, never more than units) and linked into one
library: the same functions and the same numbers, bit for bit, as the program built as one unit.
The number of units follows the program's size alone and is in the cache key; a unit that does
not compile is named with the compiler's message; every unit is compiled in our private
directory, and a library planted by another user under a multi-unit key is never loaded.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import threading
import time
import warnings
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autograd_lite import Value, compile_grad
from autograd_lite.compile import emit, native, vector
from autograd_lite.compile.native import NativeCacheWarning, NativeUnavailableError
from autograd_lite.compile.program import _Program
from autograd_lite.compile.trace import _Graph

from ..oracles import interpret
from .test_native_blocks import SPECIAL, Raw
from .test_native_builds_on_first_use import fresh_cache  # noqa: F401 - autouse: applies here
from .test_native_cache_trust import as_root, evil_library, runuser, world_path  # noqa: F401

HAVE_CC = not isinstance(native.find_compiler(), str)
pytestmark = pytest.mark.skipif(not HAVE_CC, reason="no working C compiler")


P = [Value(0.75), Value(-1.25)]


def f(x, y):
    """About 60 nodes: at CHUNK = 4 statements, some 30 statement functions to share out."""
    h = x
    for i in range(6):
        h = (h * P[0] + y).tanh() + (x / y).log() * P[1] + (h - y * 0.5).relu() * float(i)
    return h


XS = [0.5, 0.25]
ROWS = [[0.1 * r + 0.05, 0.4 + 0.15 * r] for r in range(13)]


def program(simd, input_grads=True):
    graph = _Graph(f, XS, P, "test")
    cemit = emit._CEmitter(len(graph.order))
    prog = _Program(graph, len(P), cemit, input_grads=input_grads)
    source, _, _ = emit.c_blocks_source(prog, 2, len(P), len(graph.order), cemit.non_finite,
                                        input_grads, simd=simd)
    return native.PRELUDE + source


@pytest.fixture
def small_chunks(monkeypatch):
    """Statement functions of 4 statements, so a small graph has many of them."""
    monkeypatch.setattr(emit, "CHUNK", 4)


def functions(text: str) -> list[str]:
    """The statement functions a text defines, by name, in order."""
    return re.findall(r"^AL_CHUNK (?:AL_T )?void (\w+)\(.*\{$", text, re.M)


LEVELS = [None] + [vector.SIMDS[lv] for lv in ("sse2", "avx2")
                   if native.SIMD_LEVELS.index(lv) <= native.SIMD_LEVELS.index(native.cpu_simd())]


@functools.cache
def chunked(simd) -> str:
    """`program(simd)` cut into statement functions of 4 statements."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(emit, "CHUNK", 4)
        return program(simd)


@pytest.mark.parametrize("simd", LEVELS, ids=lambda s: getattr(s, "name", "scalar"))
@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 12))
def test_units_share_out_every_statement_function_once_in_order(simd, n):
    text = chunked(simd)
    whole = functions(text)
    assert len(whole) > 12
    parts = native.units(text, n)
    assert 1 <= len(parts) <= n
    if n == 1:
        assert parts == [text]
    head = text.split(native.PIECES_MARK)[0]
    assert all(p.startswith(head + native.PIECES_MARK + "\n") for p in parts)
    assert [name for p in parts for name in functions(p)] == whole
    # The entry points (prototypes, tables, row loops, drivers) are in the last unit only.
    assert [native.MAIN_MARK in p for p in parts] == [False] * (len(parts) - 1) + [True]
    assert parts[-1].endswith(text.split(native.MAIN_MARK, 1)[1])
    # About equal sizes: none past an n-th of the whole by more than its largest function
    # (or the entry points: they are not cut).
    body = text.split(native.PIECES_MARK + "\n", 1)[1]
    pieces, main = body.split(native.MAIN_MARK, 1)
    largest = max(len(main), *(len(x) for x in re.split(r"^(?=AL_CHUNK )", pieces,
                                                         flags=re.M)))
    assert max(len(p) - len(head) for p in parts) <= len(body) / n + largest + len(
        native.PIECES_MARK) + 1


def test_a_text_without_the_layout_is_one_unit():
    text = native.PRELUDE + "double al_x(double a) { return a; }\n"
    assert native.units(text, 4) == [text]


def test_the_unit_count_follows_the_size_alone():
    u = native.UNIT_BYTES
    assert [native.unit_count(s) for s in (0, u, 2 * u - 1, 2 * u, 4 * u, 8 * u, 100 * u)] == \
        [1, 1, 1, 2, 4, 8, native.MAX_UNITS]


def test_jobs_follow_the_cpus_this_process_may_use(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert native.build_jobs(8) == 1
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(16)), raising=False)
    assert native.build_jobs(4) == 4 and native.build_jobs(1) == 1
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 3)
    assert native.build_jobs(8) == 3
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert native.build_jobs(8) == 1


@pytest.mark.parametrize("simd", LEVELS, ids=lambda s: getattr(s, "name", "scalar"))
def test_a_library_built_from_units_computes_what_one_unit_computes(small_chunks, monkeypatch,
                                                                    simd):
    """The functions called directly: return codes, *fail and every buffer, on batches with
    flagged rows (log(0), overflow), inf and NaN inputs."""
    batches = [ROWS, [[1.0, 0.5], [0.0, 1.0], [2.0, 0.5], [800.0, 1e-320]],
               [[a, b] for a in SPECIAL[:6] for b in SPECIAL[5:]]]
    one = Raw(f, XS, P, simd)
    assert len(native.units(native.PRELUDE + one.source)) == 1
    monkeypatch.setattr(native, "UNIT_BYTES", 500)  # now the same text is cut into units
    assert len(native.units(native.PRELUDE + one.source)) > 2
    start = native.BUILDS[0]
    split = Raw(f, XS, P, simd)
    assert split.source == one.source and native.BUILDS[0] == start + 1  # another key: built
    pdata = [p.data for p in P]
    for rows in batches:
        for with_grad in (True, False):
            assert split.run(rows, pdata, with_grad) == one.run(rows, pdata, with_grad)


def test_compiled_replay_from_units_is_the_interpreter(small_chunks, monkeypatch):
    monkeypatch.setattr(native, "UNIT_BYTES", 500)
    calls = []
    real = native._compile_units

    def spy(texts, cmd, flags, tmp):
        calls.append(len(texts))
        return real(texts, cmd, flags, tmp)

    monkeypatch.setattr(native, "_compile_units", spy)
    c = compile_grad(f, XS, params=P, backend="c")
    assert calls and calls[0] > 1
    for row in ROWS:
        assert c.value_and_grad(row) == interpret(f, row, P)
    values, _, total = c.value_and_grad_batch(ROWS)
    want = [interpret(f, row, P) for row in ROWS]
    assert values == [w[0] for w in want]
    expect = [0.0, 0.0]
    for w in want:
        expect = [a + g for a, g in zip(expect, w[1][2:])]
    assert list(total) == expect
    # From the disk cache in a new "process": loaded, not built.
    native.forget_loaded()
    start = native.BUILDS[0]
    c2 = compile_grad(f, XS, params=P, backend="c")
    assert native.BUILDS[0] == start and c2.value_and_grad(ROWS[2]) == want[2]


def test_the_unit_count_is_in_the_cache_key():
    base = ("src", ["/usr/bin/cc"], "gcc 12", ["-O1"], "simd: none")
    assert native.cache_key(*base) == native.cache_key(*base, 1)
    assert len({native.cache_key(*base, n) for n in (1, 2, 4, 8)}) == 4


def test_a_unit_that_does_not_compile_is_named_with_the_compiler_message(small_chunks):
    text = program(LEVELS[-1])
    third = functions(text)[len(functions(text)) // 2]
    broken = re.sub(rf"(^AL_CHUNK .*{third}\(.*\{{$)", r"\1\n  this_is_not_c = ;", text,
                    count=1, flags=re.M)
    cmd, _ = native.find_compiler()
    flags = [*native._FLAGS_BASE, "-O1"]
    bad = [i for i, u in enumerate(native.units(broken, 4)) if "this_is_not_c" in u]
    assert len(bad) == 1
    with pytest.raises(NativeUnavailableError) as e:
        native._build(broken, cmd, flags, 4)
    msg = str(e.value)
    assert f"failed on unit {bad[0] + 1} of 4 of the generated source" in msg
    assert "this_is_not_c" in msg and "error" in msg
    assert native._build(text, cmd, flags, 4)[:4] == b"\x7fELF"  # the unbroken text builds


def test_no_more_compilers_run_at_once_than_jobs(small_chunks, monkeypatch):
    running, peak = [0], [0]
    lock = threading.Lock()
    real = native._run

    def counted(cmd, timeout, tmp=None):
        if "-c" not in cmd:
            return real(cmd, timeout, tmp)
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        try:
            time.sleep(0.2)  # (so that overlapping units are seen, even on a loaded machine)
            return real(cmd, timeout, tmp)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(native, "_run", counted)
    cmd, _ = native.find_compiler()
    text = program(None)
    for cpus in (1, 2, 3):
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid, n=cpus: set(range(n)),
                            raising=False)
        peak[0] = 0
        assert native._build(text, cmd, [*native._FLAGS_BASE, "-O1"], 4)[:4] == b"\x7fELF"
        assert peak[0] == cpus, (cpus, peak[0])


def test_every_unit_is_compiled_in_our_private_directory(small_chunks, tmp_path, monkeypatch):
    """A hostile $TMPDIR: each compiler process (units and link) gets our private one."""
    hostile = tmp_path / "hostile"
    hostile.mkdir()
    os.chmod(hostile, 0o777)
    log = tmp_path / "tmpdirs"
    gcc = shutil.which("gcc") or shutil.which("cc")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("cc", "gcc", "clang"):
        script = bin_dir / name
        script.write_text(f'#!/bin/sh\necho "$TMPDIR $*" >> {log}\n'
                          f'PATH="{os.environ["PATH"]}" exec {gcc} "$@"\n')
        script.chmod(0o755)
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("TMPDIR", str(hostile))
    monkeypatch.setattr(native, "UNIT_BYTES", 500)
    native.forget_compiler()
    try:
        c = compile_grad(f, XS, params=P, backend="c")
        assert c.value_and_grad(ROWS[1]) == interpret(f, ROWS[1], P)
    finally:
        native.forget_compiler()
    lines = log.read_text().splitlines()
    units = [ln for ln in lines if " -c " in ln]
    assert len(units) > 2
    assert all(Path(ln.split()[0]).name.startswith("autograd-lite-") for ln in lines), lines
    assert list(hostile.iterdir()) == []


@as_root
def test_another_users_library_under_a_multi_unit_key_is_never_loaded(
        small_chunks, world_path, monkeypatch):  # noqa: F811
    """`nobody` owns a shared cache holding a library under the very key of a program built
    from 8 units: the cache is refused, the library built privately, the planted one never
    loaded."""
    monkeypatch.setattr(native, "UNIT_BYTES", 500)
    keys = []
    real_key = native.cache_key

    def spy(*args, **kwargs):
        keys.append(real_key(*args, **kwargs))
        return keys[-1]

    monkeypatch.setattr(native, "cache_key", spy)
    scratch = world_path / "scratch"
    monkeypatch.setenv("XDG_CACHE_HOME", str(scratch))
    compile_grad(f, XS, params=P, backend="c")
    (key,) = keys
    assert (scratch / "autograd-lite" / f"{key}.so").is_file()
    native.forget_loaded()
    marks = world_path / "marks"
    marks.mkdir()
    os.chmod(marks, 0o777)
    marker = marks / "loaded"
    evil = world_path / "evil.so"
    evil_library(evil, marker)
    os.chmod(evil, 0o644)
    shared = world_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    cache = shared / "autograd-lite"
    runuser("mkdir", "-m", "755", str(cache))
    runuser("cp", str(evil), str(cache / f"{key}.so"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(shared))
    monkeypatch.setattr(native, "_warned_cache", set())
    start = native.BUILDS[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NativeCacheWarning)
        c = compile_grad(f, XS, params=P, backend="c")
    assert not marker.exists(), "a library this process did not build was loaded"
    assert native.BUILDS[0] == start + 1
    assert c.value_and_grad(ROWS[0]) == interpret(f, ROWS[0], P)


# ---- the vector-code probe runs beside the compiler's ------------------------------------------
@pytest.fixture
def fresh_probes(monkeypatch):
    native.forget_compiler()
    monkeypatch.setattr(native, "_cpu_level", [])
    yield
    native.forget_compiler()


def spy_vector_probes(monkeypatch) -> list[tuple[str, str]]:
    seen = []
    real = native._probe_simd

    def spy(cmd, s):
        seen.append((s.name, threading.current_thread().name))
        return real(cmd, s)

    monkeypatch.setattr(native, "_probe_simd", spy)
    return seen


@pytest.mark.skipif(native.cpu_simd() == "none", reason="no vector instruction set here")
def test_the_vector_code_probe_runs_while_the_compiler_is_probed(monkeypatch, fresh_probes):
    monkeypatch.delenv(native.SIMD_ENV, raising=False)
    seen = spy_vector_probes(monkeypatch)
    assert not isinstance(native.find_compiler(), str)
    assert [t for _, t in seen] == ["autograd-lite-probe"]
    chosen = native.simd()
    assert chosen is not None and seen == [(chosen.name, "autograd-lite-probe")]  # not again


@pytest.mark.parametrize("env", ["none", "avx3"])
def test_no_vector_probe_beside_the_compiler_when_none_is_wanted_or_the_level_is_bad(
        monkeypatch, fresh_probes, env):
    monkeypatch.setenv(native.SIMD_ENV, env)
    seen = spy_vector_probes(monkeypatch)
    assert not isinstance(native.find_compiler(), str)  # a bad level is not the probe's error
    assert seen == []
    if env == "avx3":
        with pytest.raises(ValueError, match="AUTOGRAD_LITE_SIMD"):
            native.simd()
    else:
        assert native.simd() is None


def test_units_are_built_at_interpreter_exit_too(tmp_path):
    """An atexit handler that builds a program of several units (no new threads then): the
    units are compiled one after another, and the numbers are the interpreter's."""
    import subprocess
    import sys

    script = tmp_path / "at_exit.py"
    script.write_text(
        "import atexit, math\n"
        "from autograd_lite import Value, compile_grad\n"
        "from autograd_lite.compile import emit, native\n"
        "emit.CHUNK = 4\n"
        "native.UNIT_BYTES = 500\n"
        "def f(x):\n"
        "    h = x\n"
        "    for _ in range(12):\n"
        "        h = (h * 0.75).tanh() + x\n"
        "    return h\n"
        "def last():\n"
        "    native.forget_compiler()\n"
        "    c = compile_grad(f, [0.5], backend='c')\n"
        "    got = c.forward_batch([[0.1 * r] for r in range(7)])\n"
        "    want = [f(Value(0.1 * r)).data for r in range(7)]\n"
        "    print('units', len(native.units(native.PRELUDE + c.c_source)), got == want)\n"
        "atexit.register(last)\n")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          env=env, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    count, ok = done.stdout.split()[1:]
    assert int(count) > 1 and ok == "True", done.stdout

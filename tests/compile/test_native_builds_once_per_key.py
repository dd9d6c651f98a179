"""Two threads asking this process for the same library at once (two Compileds of one graph on
their first call; their block code's scalar rows, lent on the first flagged block) build it
once: the second waits for the first and takes its library, the numbers the interpreter's."""

from __future__ import annotations

import math
import threading
import time

import pytest

from autograd_lite import compile_grad
from autograd_lite.compile import native

# (the graph, rows and interpreter reference of the borrowed-rows tests)
from .test_block_code_borrows_its_scalar_rows import CLEAN, P, bits, f, reference

HAVE_CC = not isinstance(native.find_compiler(), str)
pytestmark = pytest.mark.skipif(not HAVE_CC, reason="needs a C compiler")

FLAGGED = [*CLEAN[:9], [math.inf, 1.0], [1e-320, 1.0], *CLEAN[9:]]


@pytest.fixture(autouse=True)
def fresh(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv(native.SIMD_ENV, raising=False)
    native.forget_loaded()
    real = native._build

    def slow(*args, **kwargs):  # both threads surely ask before the first build is done
        time.sleep(0.3)
        return real(*args, **kwargs)

    monkeypatch.setattr(native, "_build", slow)
    yield
    native.forget_loaded()


def at_once(calls):
    go = threading.Barrier(len(calls))
    out, errors = [None] * len(calls), []

    def run(i):
        go.wait()
        try:
            out[i] = calls[i]()
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return out


def test_two_compileds_of_one_graph_build_its_library_once():
    a, b = (compile_grad(f, [0.5, 0.25], params=P) for _ in range(2))
    start = native.BUILDS[0]
    got = at_once([lambda c=c: c.value_and_grad_batch(CLEAN, input_grads=False)
                   for c in (a, b)])
    assert native.BUILDS[0] == start + 1
    assert a._impl.cut.lib.lib is b._impl.cut.lib.lib
    for values, _, total in got:
        assert (bits(values), bits(total)) == reference(CLEAN)


def test_two_compileds_borrowing_the_same_scalar_rows_build_them_once():
    a, b = (compile_grad(f, [0.5, 0.25], params=P) for _ in range(2))
    a.value_and_grad_batch(CLEAN, input_grads=False)
    b.value_and_grad_batch(CLEAN, input_grads=False)
    start = native.BUILDS[0]
    got = at_once([lambda c=c: c.value_and_grad_batch(FLAGGED, input_grads=False)
                   for c in (a, b)])
    assert native.BUILDS[0] <= start + 1  # (none when this machine's code is scalar)
    for values, _, total in got:
        assert (bits(values), bits(total)) == reference(FLAGGED)


def test_a_failed_build_is_not_kept_from_the_next_caller(monkeypatch):
    c = compile_grad(f, [0.5, 0.25], params=P, backend="auto")
    real = native._build
    calls = []

    def refuse_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise native.NativeUnavailableError("C compiler cc failed: refused once")
        return real(*args, **kwargs)

    monkeypatch.setattr(native, "_build", refuse_once)
    source = c._impl.cut.source()
    with pytest.raises(native.NativeUnavailableError, match="refused once"):
        native.load(source, 10)
    assert native.load(source, 10) is native.load(source, 10)  # built, then from the table
    assert not native._building


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
def test_a_child_forked_during_a_build_builds_its_own(monkeypatch):
    import os

    c = compile_grad(f, [0.5, 0.25], params=P)
    source = c._impl.cut.source()
    started, release = threading.Event(), threading.Event()
    real = native._build

    def held(*args, **kwargs):  # the build is under way in another thread when we fork
        started.set()
        release.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(native, "_build", held)
    t = threading.Thread(target=native.load, args=(source, 10))
    t.start()
    assert started.wait(30)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            release.set()  # (the child's own build is not held)
            native.load(source, 10)
            code = 0
        finally:
            os._exit(code)
    release.set()
    t.join()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        pytest.fail("the forked child waited for a build of its parent's other thread")
    assert os.waitstatus_to_exitcode(status) == 0

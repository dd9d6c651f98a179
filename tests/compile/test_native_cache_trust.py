"""The native cache trusts nothing it did not make: another user, another machine, another
compiler (see docs/native-cache.md for the threat model).

Each test ends in one of the two outcomes the threat model allows: the library is rebuilt
(and the numbers are the interpreter's), or Python replay with a warning. Never a foreign
library's code running in this process, a crash, or a raw OSError. The second user is
`nobody`, reached with `runuser` (to plant files) or a forked child that drops to its uid
(to be the victim); the tests run as root in CI and skip, saying why, where that is not
possible.
"""

from __future__ import annotations

import gc
import hmac
import math
import os
import pwd
import shutil
import stat
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from autograd_lite import compile_grad
from autograd_lite.compile import compiled as compile_mod
from autograd_lite.compile import native
from autograd_lite.compile.native import (
    NativeCacheWarning,
    NativeUnavailableError,
    NativeUnavailableWarning,
)

from ..oracles import interpret

HAVE_CC = not isinstance(native.find_compiler(), str)
needs_cc = pytest.mark.skipif(not HAVE_CC, reason="no working C compiler (apt-get install gcc)")
IS_ROOT = hasattr(os, "getuid") and os.getuid() == 0
try:
    NOBODY = pwd.getpwnam("nobody")
except KeyError:  # pragma: no cover - every Debian has nobody
    NOBODY = None
as_root = pytest.mark.skipif(not IS_ROOT or NOBODY is None or shutil.which("runuser") is None,
                             reason="acting as a second user needs root, `nobody` and runuser "
                                    "(CI runs as root)")


def f(x):
    return (x * 1.75).sin() + x * x


X = [0.3]


@pytest.fixture(autouse=True)
def fresh_state(monkeypatch):
    """Each test starts with no library loaded and the once-per-process warnings re-armed."""
    monkeypatch.setattr(native, "_warned_cache", set())
    monkeypatch.setattr(compile_mod, "_warned_no_compiler", [False])
    native.forget_loaded()
    yield
    native.forget_loaded()
    native.forget_compiler()


def evil_library(path: Path, marker: Path) -> None:
    """A library exporting the replay's symbols whose constructor leaves `marker` when it is
    loaded: the proof that a process ran code it did not build."""
    src = path.with_suffix(".evil.c")
    src.write_text('#include <stdio.h>\n__attribute__((constructor)) static void mark(void) '
                   f'{{ FILE *f = fopen("{marker}", "w"); if (f) fclose(f); }}\n'
                   "int al_fw(void) { return 0; }\nint al_vg(void) { return 0; }\n")
    cc = native.find_compiler()
    assert not isinstance(cc, str)
    subprocess.run([*cc[0], "-shared", "-fPIC", "-o", str(path), str(src)], check=True)
    src.unlink()


def legit_cache(xdg: Path, monkeypatch) -> tuple[Path, str]:
    """Build f's library into a trusted cache under `xdg`: (the cache folder, the key)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(xdg))
    compile_grad(f, X, backend="c")
    folder = xdg / "autograd-lite"
    (lib,) = folder.glob("*.so")
    native.forget_loaded()
    return folder, lib.stem


def check_rebuilt_or_python(marker: Path, builds_before: int, backend: str = "c"):
    """Compile f again: the numbers are the interpreter's, the marker never appears."""
    c = compile_grad(f, X, backend=backend)
    assert not marker.exists(), "a library this process did not build was loaded"
    assert c.value_and_grad([0.2]) == interpret(f, [0.2])
    if c.backend == "c":
        assert native.BUILDS[0] == builds_before + 1, "not rebuilt"
    return c


def runuser(*cmd: str) -> None:
    subprocess.run(["runuser", "-u", "nobody", "--", *cmd], check=True)


@pytest.fixture
def world_path():
    """A directory that `nobody` can reach (pytest's own tmp is root-only): 0o755 under the
    system's temporary directory, removed afterwards."""
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="al-two-users-", dir=native._temp_parent()))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


# ---- the cache directory and its parents ----------------------------------------------------
@needs_cc
def test_cache_opened_to_others_is_not_used_and_its_planted_library_never_loaded(
        tmp_path, monkeypatch):
    folder, key = legit_cache(tmp_path / "xdg", monkeypatch)
    os.chmod(folder, 0o777)  # a setup script or umask 000 opened it up
    marker = tmp_path / "loaded"
    evil_library(folder / f"{key}.so", marker)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    builds = native.BUILDS[0]
    with pytest.warns(NativeCacheWarning, match="writable by other users"):
        check_rebuilt_or_python(marker, builds)
    # Nothing was written into (or repaired in) the untrusted directory.
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o777


@needs_cc
def test_parent_writable_by_others_makes_the_cache_untrusted(tmp_path, monkeypatch):
    open_parent = tmp_path / "open"
    open_parent.mkdir()
    os.chmod(open_parent, 0o777)  # another user could rename the cache away and replace it
    monkeypatch.setenv("XDG_CACHE_HOME", str(open_parent / "xdg"))
    with pytest.warns(NativeCacheWarning, match=str(open_parent)):
        assert native.usable_cache() is None
    builds = native.BUILDS[0]
    check_rebuilt_or_python(tmp_path / "loaded", builds)


@needs_cc
def test_sticky_shared_parent_is_fine_and_the_cache_hits(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)  # like /tmp: others cannot rename or delete our entries
    monkeypatch.setenv("XDG_CACHE_HOME", str(shared))
    with warnings.catch_warnings():
        warnings.simplefilter("error", NativeCacheWarning)
        compile_grad(f, X, backend="c")
        native.forget_loaded()
        builds = native.BUILDS[0]
        c = compile_grad(f, X, backend="c")
    assert native.BUILDS[0] == builds and c.backend == "c"  # loaded from the disk cache
    folder = shared / "autograd-lite"
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(folder / "key").st_mode) == 0o600


def test_missing_parents_are_created_private_whatever_the_umask(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "a" / "b"))
    old = os.umask(0)
    try:
        folder = native.usable_cache()
    finally:
        os.umask(old)
    assert folder == tmp_path / "a" / "b" / "autograd-lite"
    for d in (tmp_path / "a", tmp_path / "a" / "b", folder):
        assert stat.S_IMODE(os.stat(d).st_mode) == 0o700


def test_an_unusable_cache_is_never_an_error(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    with pytest.warns(NativeCacheWarning):
        assert native.usable_cache() is None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NativeCacheWarning)
        c = compile_grad(f, X)  # auto: C built privately, or Python replay
    assert c.value_and_grad([0.2]) == interpret(f, [0.2])


@needs_cc
def test_symlinked_cache_owned_by_us_is_followed_and_checked(tmp_path, monkeypatch):
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(real)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "link"))
    assert native.usable_cache() == tmp_path / "link" / "autograd-lite"
    os.chmod(real, 0o777)  # the target opened up: the link does not hide it
    native._warned_cache.clear()
    with pytest.warns(NativeCacheWarning):
        assert native.usable_cache() is None


# ---- the MAC ----------------------------------------------------------------------------------
@needs_cc
def test_library_with_a_plain_digest_or_a_foreign_mac_is_rebuilt(tmp_path, monkeypatch):
    folder, key = legit_cache(tmp_path / "xdg", monkeypatch)
    marker = tmp_path / "loaded"
    lib = folder / f"{key}.so"
    evil_library(lib, marker)
    data = lib.read_bytes()
    # Whoever can write the library can write a digest of it, but not a MAC under our secret.
    for proof in (native._digest_of(data),
                  hmac.new(os.urandom(32), key.encode() + b"\0" + data, "sha256").hexdigest()):
        (folder / f"{key}.mac").write_text(proof)
        (folder / f"{key}.sha256").write_text(native._digest_of(data))
        evil_library(lib, marker)
        native.forget_loaded()
        builds = native.BUILDS[0]
        check_rebuilt_or_python(marker, builds)


@needs_cc
def test_our_library_that_this_machine_cannot_load_is_rebuilt(tmp_path, monkeypatch):
    """A home shared with a machine of another architecture: the file is ours and its MAC is
    valid, but the loader refuses it. Rebuilt, never a raw OSError (also for backend='auto')."""
    folder, key = legit_cache(tmp_path / "xdg", monkeypatch)
    secret = (folder / "key").read_bytes()
    foreign = b"\x7fELF\x02\x01\x01" + bytes(9) + b"\x03\x00\xb7\x00" + os.urandom(512)
    for backend in ("c", "auto"):
        (folder / f"{key}.so").write_bytes(foreign)
        (folder / f"{key}.mac").write_text(native._mac(secret, key, foreign))
        native.forget_loaded()
        builds = native.BUILDS[0]
        c = check_rebuilt_or_python(tmp_path / "loaded", builds, backend)
        assert c.backend == "c"
        assert (folder / f"{key}.so").read_bytes() != foreign  # replaced by the rebuilt one


@needs_cc
def test_secret_file_that_is_not_ours_is_replaced(tmp_path, monkeypatch):
    folder, key = legit_cache(tmp_path / "xdg", monkeypatch)
    secret = folder / "key"
    os.chmod(secret, 0o644)  # readable by others: a MAC under it proves nothing
    native.forget_loaded()
    builds = native.BUILDS[0]
    compile_grad(f, X, backend="c")
    assert native.BUILDS[0] == builds + 1  # a new secret: the old MACs do not verify
    assert stat.S_IMODE(os.stat(secret).st_mode) == 0o600


# ---- a second user ----------------------------------------------------------------------------
@needs_cc
@as_root
def test_another_users_planted_cache_is_never_loaded(world_path, monkeypatch):
    """`nobody` pre-creates the cache in a shared cache home and plants a library with every
    kind of proof it can make (an old-style digest, its own secret and MAC)."""
    tmp_path = world_path
    _, key = legit_cache(tmp_path / "legit", monkeypatch)
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(tmp_path, 0o755)
    os.chmod(shared, 0o1777)
    evil_dir = tmp_path / "evil"
    evil_dir.mkdir()
    os.chmod(evil_dir, 0o777)
    marker = evil_dir / "loaded"
    evil_library(evil_dir / "lib.so", marker)
    data = (evil_dir / "lib.so").read_bytes()
    secret = b"s" * 32
    (evil_dir / "key").write_bytes(secret)
    (evil_dir / "mac").write_text(native._mac(secret, key, data))
    (evil_dir / "sha").write_text(native._digest_of(data))
    for p in evil_dir.iterdir():
        os.chmod(p, 0o644)
    cache = shared / "autograd-lite"
    runuser("mkdir", "-m", "777", str(cache))
    for src, name in (("lib.so", f"{key}.so"), ("key", "key"), ("mac", f"{key}.mac"),
                      ("sha", f"{key}.sha256")):
        runuser("cp", str(evil_dir / src), str(cache / name))
    monkeypatch.setenv("XDG_CACHE_HOME", str(shared))
    builds = native.BUILDS[0]
    with pytest.warns(NativeCacheWarning, match="owned by uid"):
        check_rebuilt_or_python(marker, builds)
    # Even a private-looking directory of another user's is not ours.
    runuser("chmod", "700", str(cache))
    native._warned_cache.clear()
    native.forget_loaded()
    with pytest.warns(NativeCacheWarning, match="owned by uid"):
        check_rebuilt_or_python(marker, native.BUILDS[0])


@needs_cc
@as_root
def test_nobody_as_the_victim_builds_privately(world_path):
    """A forked child drops to `nobody` (the probe's result is inherited: the interpreter
    binary may not be readable by nobody) and compiles with a hostile, root-owned 0o777
    cache holding a planted library: rebuilt privately, never loaded."""
    tmp_path = world_path
    xdg = tmp_path / "xdg"
    cache = xdg / "autograd-lite"
    cache.mkdir(parents=True)
    os.chmod(xdg, 0o755)
    os.chmod(cache, 0o777)
    marker_dir = tmp_path / "marks"
    marker_dir.mkdir()
    os.chmod(marker_dir, 0o777)
    marker = marker_dir / "loaded"
    for key in _keys_of_f():
        evil_library(cache / f"{key}.so", marker)
        os.chmod(cache / f"{key}.so", 0o777)
    native.find_compiler()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit status
        code = 1
        try:
            os.setgroups([])
            os.setgid(NOBODY.pw_gid)
            os.setuid(NOBODY.pw_uid)
            os.environ["XDG_CACHE_HOME"] = str(xdg)
            os.environ["HOME"] = str(tmp_path)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                c = compile_grad(f, X, backend="c")
                ok = c.value_and_grad([0.2]) == interpret(f, [0.2]) and c.backend == "c"
            code = 0 if ok and not marker.exists() else 2
        except BaseException:  # noqa: BLE001 - the child must always exit
            import traceback

            (marker_dir / "error").write_text(traceback.format_exc())
            code = 3
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    error = marker_dir / "error"
    assert os.waitstatus_to_exitcode(status) == 0, error.read_text() if error.exists() else ""
    assert not marker.exists()


def _keys_of_f() -> list[str]:
    """The cache keys f's libraries get (built once in a scratch cache to learn them)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        old = os.environ.get("XDG_CACHE_HOME")
        os.environ["XDG_CACHE_HOME"] = tmp
        try:
            native.forget_loaded()
            c = compile_grad(f, X, backend="c")
            c.value_and_grad_batch([X], input_grads=False)
            keys = [p.stem for p in (Path(tmp) / "autograd-lite").glob("*.so")]
        finally:
            if old is None:
                del os.environ["XDG_CACHE_HOME"]
            else:
                os.environ["XDG_CACHE_HOME"] = old
            native.forget_loaded()
    return keys


# ---- the compiler probe -----------------------------------------------------------------------
def fake_compilers(tmp_path: Path, body: str, monkeypatch) -> None:
    """PATH holds only `cc`, `gcc` and `clang` scripts running `body`; $CC is unset."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("cc", "gcc", "clang"):
        script = bin_dir / name
        script.write_text(f"#!/bin/sh\n{body}\n")
        script.chmod(0o755)
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.setenv("PATH", str(bin_dir))
    native.forget_compiler()


def check_python_replay_with_one_warning(match: str):
    with pytest.warns(NativeUnavailableWarning, match=match):
        c = compile_grad(f, X)
    assert c.backend == "python"
    assert c.value_and_grad([0.2]) == interpret(f, [0.2])
    with pytest.raises(NativeUnavailableError, match=match):
        compile_grad(f, X, backend="c")


def test_a_compiler_that_builds_nothing_means_python_replay(tmp_path, monkeypatch):
    fake_compilers(tmp_path, "exit 0", monkeypatch)  # CC=true: exit 0, no library
    check_python_replay_with_one_warning("cannot build a shared library")


@needs_cc
def test_cc_true_is_skipped_for_a_working_compiler(monkeypatch):
    monkeypatch.setenv("CC", "true")
    native.forget_compiler()
    found = native.find_compiler()
    assert not isinstance(found, str) and not found[0][0].endswith("true")


@needs_cc
@pytest.mark.parametrize("extra", [
    "-fsanitize=address",  # the ASan runtime must come first: unloadable into Python
    "-include {boom}",  # a constructor that aborts whoever loads the library
])
def test_a_compiler_whose_libraries_cannot_be_loaded_means_python_replay(
        tmp_path, monkeypatch, extra):
    gcc = shutil.which("gcc") or shutil.which("cc")
    assert gcc
    boom = tmp_path / "boom.h"
    boom.write_text("#include <stdlib.h>\n"
                    "__attribute__((constructor)) static void boom(void) { abort(); }\n")
    probe = subprocess.run([gcc, "-shared", "-fPIC", *extra.format(boom=boom).split(), "-x", "c",
                            "-", "-o", str(tmp_path / "t.so")], input="int f(void){return 1;}",
                           capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"{gcc} {extra} cannot link here: {probe.stderr[:200]}")
    path = os.environ["PATH"]
    fake_compilers(tmp_path, f'PATH="{path}" exec {gcc} {extra.format(boom=boom)} "$@"',
                   monkeypatch)
    check_python_replay_with_one_warning("cannot load or run")
    # The interpreter is alive and well.
    assert interpret(f, [0.2])[0] == math.sin(0.2 * 1.75) + 0.2 * 0.2


# ---- the key ----------------------------------------------------------------------------------
@needs_cc
def test_the_key_covers_everything_that_changes_the_library(monkeypatch):
    base = ("src", ["/usr/bin/cc"], "gcc 12\ntarget: x86_64-linux-gnu", ["-O1"])
    k0 = native.cache_key(*base)
    assert native.cache_key(*base) == k0
    changed = [("src2", *base[1:]), (base[0], ["/usr/bin/clang"], *base[2:]),
               (*base[:2], "gcc 12\ntarget: aarch64-linux-gnu", base[3]), (*base[:3], ["-O0"])]
    assert len({native.cache_key(*c) for c in changed} | {k0}) == 5
    monkeypatch.setattr(native, "_package_version", lambda: "99.0")
    assert native.cache_key(*base) != k0
    # The identity carries the target triple the compiler reports.
    found = native.find_compiler()
    assert not isinstance(found, str) and "target: " in found[1]


@needs_cc
def test_a_new_prelude_is_a_new_library(tmp_path, monkeypatch):
    legit_cache(tmp_path / "xdg", monkeypatch)
    monkeypatch.setattr(native, "PRELUDE", native.PRELUDE + "/* upgraded */\n")
    builds = native.BUILDS[0]
    compile_grad(f, X, backend="c")
    assert native.BUILDS[0] == builds + 1


def private_tmp(tmp_path: Path, monkeypatch) -> None:
    """This test's own temporary directory (other processes share the system's)."""
    tmp = tmp_path / "tmp"
    tmp.mkdir(mode=0o700)
    monkeypatch.setattr(native.tempfile, "tempdir", str(tmp))


# ---- nothing grows ----------------------------------------------------------------------------
def _resources() -> tuple[int, int, int]:
    fds = len(os.listdir("/proc/self/fd"))
    with open("/proc/self/maps") as m:
        maps = sum(1 for line in m if "autograd-lite-" in line)  # memfd or file copies
    tmp = sum(1 for p in Path(native._temp_parent() or "/tmp").iterdir()
              if p.name.startswith("autograd-lite-"))
    return fds, maps, tmp


@needs_cc
@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc (Linux)")
def test_no_descriptor_mapping_or_temporary_file_grows_with_graphs(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    private_tmp(tmp_path, monkeypatch)
    gc.collect()
    start = _resources()
    alive = compile_grad(f, X, backend="c")
    assert _resources()[1] > start[1]  # the count sees a loaded library
    del alive
    for i in range(25):
        c = compile_grad(lambda x, i=i: (x * (2.0 + i)).cos(), X, backend="c")
        c.value_and_grad_batch([X, X], input_grads=False)  # its second library too
        del c
    gc.collect()
    end = _resources()
    # Nothing grew (earlier tests may still have libraries that this collection frees).
    assert all(e <= s for e, s in zip(end, start)), (start, end)


# ---- a full disk ------------------------------------------------------------------------------
@needs_cc
@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_leaves_no_temporary_file(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    private_tmp(tmp_path, monkeypatch)
    real_mkstemp = native.tempfile.mkstemp

    def full_mkstemp(*args, **kwargs):
        fd, path = real_mkstemp(*args, **kwargs)
        os.close(fd)
        return os.open("/dev/full", os.O_WRONLY), path  # every write: ENOSPC

    monkeypatch.setattr(native.tempfile, "mkstemp", full_mkstemp)
    for i in range(3):
        builds = native.BUILDS[0]
        c = compile_grad(lambda x, i=i: (x + i).exp(), X, backend="c")
        assert native.BUILDS[0] == builds + 1 and c.backend == "c"
    folder = tmp_path / "autograd-lite"
    assert sorted(p.name for p in folder.iterdir()) == []  # not even the secret: disk full
    # Loading's own copy on a full disk: Python replay with a warning, nothing left behind.
    before = _resources()[2]

    def full_write(fd, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(native.os, "write", full_write)
    with pytest.warns(NativeUnavailableWarning, match="No space left"):
        c = compile_grad(lambda x: (x * 3.5).tanh(), X)
        got = c.value_and_grad([0.2])  # built on first use: Python replay, with the warning
    assert got == interpret(lambda x: (x * 3.5).tanh(), [0.2])
    assert _resources()[2] == before


def test_no_private_temporary_directory_means_a_clear_error(monkeypatch):
    monkeypatch.setattr(native, "_temp_parent", lambda: None)
    monkeypatch.setattr(native, "_compiler", {})
    found = native.find_compiler()
    assert isinstance(found, str) and "temporary directory" in found


def test_docs_page_states_the_threat_model():
    page = Path(__file__).resolve().parent.parent.parent / "docs" / "native-cache.md"
    text = page.read_text()
    for needed in ("MAC", "0o700", "another user", "temporary", "-dumpmachine", "child"):
        assert needed in text
    compiled = (page.parent / "compiled.md").read_text()
    assert "native-cache.md" in compiled


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))


# ---- the toolchain's own files and habits ------------------------------------------------------
@needs_cc
def test_the_compiler_writes_its_intermediate_files_in_our_private_directory(
        tmp_path, monkeypatch):
    """Another user's $TMPDIR would let them swap the assembler's output before it is linked
    into the library we load: the compiler runs with TMPDIR set to our private directory."""
    hostile = tmp_path / "hostile"
    hostile.mkdir()
    os.chmod(hostile, 0o777)
    log = tmp_path / "tmpdirs"
    gcc = shutil.which("gcc") or shutil.which("cc")
    monkeypatch.setenv("TMPDIR", str(hostile))
    fake_compilers(tmp_path, f'echo "$TMPDIR" >> {log}\nPATH="{os.environ["PATH"]}" '
                             f'exec {gcc} "$@"', monkeypatch)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    c = compile_grad(f, X, backend="c")
    assert c.value_and_grad([0.2]) == interpret(f, [0.2])
    used = log.read_text().split()
    assert used and all(Path(t).name.startswith("autograd-lite-") for t in used), used
    assert not any(t.startswith(str(hostile)) for t in used)
    assert list(hostile.iterdir()) == []


@needs_cc
def test_a_compiled_function_works_in_atexit_handlers_and_at_exit(tmp_path):
    script = tmp_path / "late.py"
    script.write_text(
        "import atexit\n"
        "from autograd_lite import compile_grad\n"
        "c = None\n"
        "def late():\n"
        "    print('late', c.value_and_grad([0.5])[0])\n"
        "atexit.register(late)\n"
        "c = compile_grad(lambda x: (x * 2.0).sin(), [0.3], backend='c')\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          env={**os.environ, "XDG_CACHE_HOME": str(tmp_path)}, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"late {math.sin(1.0)!r}"


@needs_cc
def test_no_room_for_a_temporary_directory_means_python_replay(monkeypatch):
    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(native.tempfile, "mkdtemp", full)
    with pytest.warns(NativeUnavailableWarning, match="No space left"):
        c = compile_grad(lambda x: (x * 4.25).cos(), X)
        got = c.value_and_grad([0.2])  # built on first use: Python replay, with the warning
    assert got == interpret(lambda x: (x * 4.25).cos(), [0.2])
    with pytest.raises(NativeUnavailableError, match="No space left"):
        compile_grad(lambda x: (x * 4.5).cos(), X, backend="c")


def test_compiler_output_in_another_encoding_is_no_crash(tmp_path, monkeypatch):
    fake_compilers(tmp_path, "printf 'erreur: \\351chec\\n' >&2; exit 1", monkeypatch)
    found = native.find_compiler()
    assert isinstance(found, str) and "chec" in found


@needs_cc
def test_a_compiler_that_turns_on_flush_to_zero_is_refused(tmp_path, monkeypatch):
    """-funsafe-math-optimizations links crtfastmath (our -fno-fast-math does not undo it):
    loading such a library flushes subnormals to zero for the whole process. The probe sees
    it in its child; this process stays exact."""
    gcc = shutil.which("gcc") or shutil.which("cc")
    path = os.environ["PATH"]
    fake_compilers(tmp_path, f'PATH="{path}" exec {gcc} -funsafe-math-optimizations "$@"',
                   monkeypatch)
    check_python_replay_with_one_warning("cannot load or run")
    assert float.fromhex("0x1p-1022") * 0.5 != 0.0


@needs_cc
def test_a_front_end_is_called_by_the_name_found_on_path(tmp_path, monkeypatch):
    """ccache's masquerade directory: `cc` is a symlink to a program that decides what to do
    by the name it is called by."""
    gcc = shutil.which("gcc") or shutil.which("cc")
    front = tmp_path / "front-end"
    front.write_text(f'#!/bin/sh\ncase "${{0##*/}}" in\n  cc) PATH="{os.environ["PATH"]}" '
                     f'exec {gcc} "$@";;\n  *) exit 3;;\nesac\n')
    front.chmod(0o755)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "cc").symlink_to(front)
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.setenv("PATH", str(bin_dir))
    native.forget_compiler()
    found = native.find_compiler()
    assert not isinstance(found, str), found
    assert found[0][0] == str(bin_dir / "cc")


@needs_cc
def test_a_rejected_cc_is_said_when_another_compiler_is_used(monkeypatch):
    monkeypatch.setenv("CC", "true")
    native.forget_compiler()
    with pytest.warns(NativeUnavailableWarning, match=r"\$CC \(true\) is not usable"):
        native.find_compiler()


@needs_cc
def test_a_fifo_planted_as_the_secret_does_not_hang(tmp_path, monkeypatch):
    folder, _ = legit_cache(tmp_path / "xdg", monkeypatch)
    (folder / "key").unlink()
    os.mkfifo(folder / "key")
    builds = native.BUILDS[0]
    c = compile_grad(f, X, backend="c")  # the FIFO is replaced by a new secret
    assert native.BUILDS[0] == builds + 1 and c.value_and_grad([0.2]) == interpret(f, [0.2])
    assert stat.S_ISREG(os.lstat(folder / "key").st_mode)


@needs_cc
@pytest.mark.skipif(not IS_ROOT or shutil.which("mount") is None, reason="mounting needs root")
def test_a_noexec_temporary_directory_still_loads(tmp_path, monkeypatch):
    mnt = tmp_path / "noexec"
    mnt.mkdir(mode=0o700)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "noexec,mode=1777,size=16m", "tmpfs",
                           str(mnt)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        monkeypatch.setattr(native.tempfile, "tempdir", str(mnt))
        native.forget_compiler()
        c = compile_grad(lambda x: (x * 5.5).sin(), X, backend="c")
        assert c.value_and_grad([0.2]) == interpret(lambda x: (x * 5.5).sin(), [0.2])
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


@needs_cc
def test_training_library_that_cannot_be_built_later_falls_back_to_the_full_one(monkeypatch):
    """The program without input gradients is built on first use (training): if the disk is
    full by then, the full program answers (one warning), with the same numbers."""
    def g(x, y):
        return (x * y * 1.25).tanh() + y

    c = compile_grad(g, [0.1, 0.2], backend="c")
    want = c.value_and_grad_batch([[0.3, 0.4], [0.5, -0.6]])

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(native.tempfile, "mkdtemp", full)
    with pytest.warns(NativeUnavailableWarning, match="full program is used"):
        got = c.value_and_grad_batch([[0.3, 0.4], [0.5, -0.6]], input_grads=False)
    assert got[0] == want[0] and got[1] is None and got[2] == want[2]

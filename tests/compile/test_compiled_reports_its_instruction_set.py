"""`Compiled.simd` names the instruction set of the native code and its rows per block ("avx2
x4"), None for scalar C code and Python replay, and `repr` shows it; the default, the
environment ($AUTOGRAD_LITE_SIMD) and the CPU's detection decide it, as docs/compiled.md says.
The CPU's detection is replaced where a test needs another CPU; what runs is checked too.
"""

from __future__ import annotations

import math
import struct

import pytest

from autograd_lite import Value, compile_grad
from autograd_lite.compile import native

HAVE_CC = not isinstance(native.find_compiler(), str)
needs_cc = pytest.mark.skipif(not HAVE_CC, reason="no working C compiler (apt-get install gcc)")
#: Rows per block of each instruction set: 128-, 256- and 512-bit vectors of doubles.
LANES = {"sse2": 2, "avx2": 4, "avx512": 8}
#: The levels this CPU runs (and whose block code the compiler builds), lowest first.
RUNS = [lv for lv in LANES
        if native.SIMD_LEVELS.index(lv) <= native.SIMD_LEVELS.index(native.cpu_simd())]


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    """Libraries go to a cache directory of this test session, not the user's."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "xdg"))


@pytest.fixture
def fresh_choice(monkeypatch):
    """The CPU's level and the vector-code probes are found again (and again after the test)."""
    native.forget_compiler()
    monkeypatch.setattr(native, "_cpu_level", [])
    yield
    native.forget_compiler()


def bits(xs) -> list[str]:
    return [struct.pack("<d", x).hex() for x in xs]


def f(x, y):
    return (x * 1.5 + y).tanh() * y.exp()


ROWS = [[0.1 * r - 0.4, 0.3 - 0.05 * r] for r in range(11)]  # several blocks and a tail
WANT = [math.tanh(x * 1.5 + y) * math.exp(y) for x, y in ROWS]


def compiled(backend: str = "c"):
    """f compiled; its batch checked against the floats' answer, bit for bit."""
    c = compile_grad(f, [0.5, 0.25], backend=backend)
    assert bits(c.forward_batch(ROWS)) == bits(WANT)
    return c


@needs_cc
@pytest.mark.parametrize("level", RUNS)
def test_simd_names_the_level_asked_for_and_its_rows_per_block(monkeypatch, level):
    monkeypatch.setenv(native.SIMD_ENV, level)
    c = compiled()
    assert c.simd == f"{level} x{LANES[level]}"
    assert native.simd_of(c.c_source) == level  # what the C source holds
    assert repr(c).endswith(f"backend 'c' ({level} x{LANES[level]})>")


@needs_cc
def test_scalar_c_code_and_python_replay_have_no_instruction_set(monkeypatch):
    monkeypatch.setenv(native.SIMD_ENV, "none")
    c = compiled()
    assert c.backend == "c" and c.simd is None and native.simd_of(c.c_source) is None
    assert repr(c).endswith("backend 'c' (scalar)>")
    monkeypatch.delenv(native.SIMD_ENV)
    p = compiled("python")
    assert p.simd is None and repr(p).endswith("backend 'python'>")


@needs_cc
@pytest.mark.parametrize("cpu, want", [("none", None), ("sse2", "sse2 x2"),
                                       ("avx2", "avx2 x4"), ("avx512", "avx2 x4")])
def test_by_default_avx2_at_most_sse2_below_and_scalar_without_either(
        monkeypatch, fresh_choice, cpu, want):
    """AVX-512 only when asked for (measured slower than AVX2 on this machine's AMD EPYC)."""
    monkeypatch.delenv(native.SIMD_ENV, raising=False)
    monkeypatch.setattr(native, "_cpu_level", [cpu])
    if want is not None and want.split()[0] not in RUNS:
        pytest.skip(f"this CPU does not run {want}")
    assert compiled().simd == want


@needs_cc
@pytest.mark.parametrize("cpu, asked, want", [("avx2", "avx512", "avx2 x4"),
                                              ("sse2", "avx2", "sse2 x2"),
                                              ("none", "sse2", None),
                                              ("avx512", "sse2", "sse2 x2")])
def test_a_level_the_cpu_lacks_is_lowered_to_the_best_it_has(monkeypatch, fresh_choice, cpu,
                                                             asked, want):
    monkeypatch.setattr(native, "_cpu_level", [cpu])
    monkeypatch.setenv(native.SIMD_ENV, asked)
    if want is not None and want.split()[0] not in RUNS:
        pytest.skip(f"this CPU does not run {want}")
    assert compiled().simd == want


@needs_cc
@pytest.mark.parametrize("machine, cpuinfo", [("aarch64", True), ("arm64", False),
                                              ("x86_64", False)])
def test_without_cpuinfo_or_off_x86_64_the_code_is_scalar(monkeypatch, fresh_choice, machine,
                                                         cpuinfo):
    """macOS has no /proc/cpuinfo; AArch64 Linux has one, without x86 flags."""
    monkeypatch.delenv(native.SIMD_ENV, raising=False)
    monkeypatch.setattr(native.platform, "machine", lambda: machine)
    if not cpuinfo:
        real_open = open

        def no_cpuinfo(path, *args, **kwargs):
            if str(path) == "/proc/cpuinfo":
                raise FileNotFoundError(2, "No such file or directory", path)
            return real_open(path, *args, **kwargs)

        monkeypatch.setattr(native, "open", no_cpuinfo, raising=False)
    c = compiled()
    assert c.backend == "c" and c.simd is None


@pytest.mark.parametrize("bad", ["avx3", "AVX-512", "sse4", "1"])
@pytest.mark.parametrize("backend", ["auto", pytest.param("c", marks=needs_cc)])
def test_a_bad_level_is_a_value_error_naming_the_variable(monkeypatch, bad, backend):
    if backend == "auto" and not HAVE_CC:
        pytest.skip("without a compiler, the level is never read")
    monkeypatch.setenv(native.SIMD_ENV, bad)
    with pytest.raises(ValueError, match=r"AUTOGRAD_LITE_SIMD must be one of none, sse2, avx2, "
                                         r"avx512 \(or unset\), got '" + bad.lower()):
        compile_grad(f, [0.5, 0.25], backend=backend)
    assert compiled("python").simd is None  # Python replay never reads it


@needs_cc
def test_the_level_is_read_case_blind_and_without_spaces(monkeypatch):
    if "sse2" not in RUNS:
        pytest.skip("this CPU does not run SSE2")
    monkeypatch.setenv(native.SIMD_ENV, " SSE2 ")
    assert compiled().simd == "sse2 x2"


@needs_cc
def test_repr_generates_nothing_before_first_use(monkeypatch):
    """The library is built on first use: the repr says so rather than generating C (6 nodes:
    x, w, x * w, its sine, the constant 2.5 and the product)."""
    monkeypatch.delenv(native.SIMD_ENV, raising=False)
    w = Value(0.75)
    c = compile_grad(lambda x: (x * w).sin() * 2.5, [0.5], params=[w])
    builds = native.BUILDS[0]
    assert repr(c) == ("<Compiled 6 nodes, 1 input(s), 1 parameter(s), backend 'c' "
                       "(built on first use)>")
    assert not c._impl.generated() and native.BUILDS[0] == builds
    c.value_and_grad_batch([[0.1], [0.2]], input_grads=False)
    expected = native.simd()
    shown = f"{expected.name} x{expected.lanes}" if expected is not None else "scalar"
    assert repr(c).endswith(f"backend 'c' ({shown})>")
    assert c.simd == (None if expected is None else shown)

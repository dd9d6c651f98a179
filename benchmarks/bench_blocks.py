"""Block-of-rows C code (rows in SIMD lanes) against the per-row scalar code, in one run.

    python benchmarks/bench_blocks.py            # full run
    python benchmarks/bench_blocks.py --quick    # fewer repeats

For each instruction set this machine and compiler offer ($AUTOGRAD_LITE_SIMD=none, sse2,
avx2, avx512), prints the time of the C call alone (`al_vg` through ctypes on prepared
buffers: the generated arithmetic, no Python conversion of rows) for
1. bench_native's step graph: MLP(2, [16, 16, 1]) relu hinge loss, 100 two-moons rows, the
   parameters' gradients only (`input_grads=False`), per call and per row;
2. the digits graph: MLP(64, [32, 10]) tanh, cross-entropy, one sample per row (fit's traced
   sample loss), 1,347 rows, per row;
and the cold compile time of each (a fresh cache directory: generation and the C compiler).
Every variant's values and gradients are checked bit for bit against the scalar code's.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import struct
import sys
import tempfile
import time
import warnings
from array import array
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from autograd_lite import Value  # noqa: E402
from autograd_lite.compile import emit, native, vector  # noqa: E402
from autograd_lite.compile.program import _Program  # noqa: E402
from autograd_lite.compile.trace import _Graph  # noqa: E402


def hinge_graph() -> tuple[Callable[..., Any], list[float], list[Value], list[list[float]]]:
    import nn
    from nn.data import make_moons
    X, y = make_moons(100, noise=0.1, seed=0)
    model = nn.MLP(2, [16, 16, 1], activation="relu", seed=0)

    def hinge(x0: Value, x1: Value, t: Value) -> Value:
        return (model([x0, x1]) * -t + 1.0).relu()

    rows = [[float(a), float(b), 1.0 if t == 1 else -1.0] for (a, b), t in zip(X, y)]
    return hinge, rows[0], model.parameters(), rows


def digits_graph() -> tuple[Callable[..., Any], list[float], list[Value], list[list[float]]]:
    import nn
    from nn.compiled import _CrossEntropy, _sample_loss
    from nn.data import load_digits, standardize, train_test_split
    X, y = load_digits()
    Xtr, _, ytr, _ = train_test_split(X, y, test_size=0.25, seed=0)
    Xtr, _ = standardize(Xtr, Xtr)
    model = nn.MLP(64, [32, 10], activation="tanh", seed=0)
    enc = _CrossEntropy(10)
    try:  # fit's traced sample loss (its first argument: the model, or a getter of it)
        f = _sample_loss(lambda: model, enc, 64)
        f(*(Value(v) for v in [0.0] * 64 + list(enc.encode(ytr[0])) + [1.0]))
    except TypeError:
        f = _sample_loss(model, enc, 64)  # type: ignore[arg-type]
    rows = [[*map(float, x), *enc.encode(t), 1.0 / 32] for x, t in zip(Xtr, ytr)]
    return f, rows[0], model.parameters(), rows


def build(level: str, f: Callable[..., Any], x0: list[float], params: list[Value],
          input_grads: bool) -> tuple[Any, int, tuple[float, float], str | None]:
    """Generate and build (cold cache) the graph's C functions for `level` ("none": the scalar
    generator); (library, scratch doubles, (wall seconds, the compiler's CPU seconds), the
    source's instruction set)."""
    simd = None if level == "none" else vector.SIMDS[level]
    old = os.environ.get("XDG_CACHE_HOME")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["XDG_CACHE_HOME"] = tmp
        native.forget_loaded()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t, c0 = time.perf_counter(), os.times()
                graph = _Graph(f, x0, params, "bench", f.__name__ == "sample_loss")
                cemit = emit._CEmitter(len(graph.order))
                prog = _Program(graph, len(params), cemit, input_grads=input_grads)
                source, size, _ = emit.c_blocks_source(
                    prog, len(x0), len(params), len(graph.order), cemit.non_finite,
                    input_grads, simd=simd)
                lib = native.load(source, len(prog.forward) + len(prog.backward))
                seconds = time.perf_counter() - t
                c1 = os.times()
                cc = (c1.children_user - c0.children_user) + (c1.children_system -
                                                               c0.children_system)
        finally:
            if old is None:
                os.environ.pop("XDG_CACHE_HOME", None)
            else:
                os.environ["XDG_CACHE_HOME"] = old
    return lib, size, (seconds, cc), native.simd_of(source)


def caller(lib: Any, size: int, rows: list[list[float]], params: list[Value], nv: int
           ) -> tuple[Callable[[], float], Callable[[], list[bytes]]]:
    """A timed call of `al_vg` over all rows (parameter gradients only: no G), and the bits of
    the values and parameter-gradient sums of the last call."""
    n = len(rows)
    X = array("d", [v for r in rows for v in r])
    P = array("d", [p.data for p in params])
    V = array("d", bytes(8 * n * nv))
    PG = array("d", bytes(8 * len(P)))
    T = array("d", bytes(8 * (size + 64)))
    fail = ctypes.c_long(0)
    vp = ctypes.c_void_p
    lib.al_vg.argtypes = [ctypes.c_long, vp, vp, vp, vp, vp, ctypes.POINTER(ctypes.c_long), vp]
    keep = (X, P, V, PG, T)  # the buffers live as long as the caller
    ptr = [a.buffer_info()[0] for a in keep]

    def call() -> float:
        assert keep
        ctypes.memset(ptr[3], 0, 8 * len(P))
        t = time.perf_counter()
        rc = lib.al_vg(n, ptr[0], ptr[1], ptr[2], None, ptr[3], ctypes.byref(fail), ptr[4])
        t = time.perf_counter() - t
        assert rc == 0, (rc, fail.value)
        return t

    return call, lambda: [struct.pack("<d", v) for v in (*V, *PG)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    repeats = 30 if args.quick else 200
    levels = [lv for lv in native.SIMD_LEVELS
              if native.SIMD_LEVELS.index(lv) <= native.SIMD_LEVELS.index(native.cpu_simd())]
    print(f"CPU: {native.cpu_simd()}; levels measured: {', '.join(levels)}")
    print("| graph | code | cold build, full: wall / cc CPU s | without input grads | C call "
          "(best) | per row | vs scalar |")
    print("|---|---|---|---|---|---|---|")
    for name, make in (("MLP(2,[16,16,1]) relu hinge, 100 rows", hinge_graph),
                       ("digits MLP(64,[32,10]) CE, 1347 rows", digits_graph)):
        f, x0, params, rows = make()
        nv = 1 if "hinge" in name else 12  # digits: the loss, then aux (loss, 10 logits)
        built = []
        for level in levels:
            _, _, full, _ = build(level, f, x0, params, True)
            lib, size, part, simd = build(level, f, x0, params, False)
            built.append((level, simd, full, part, *caller(lib, size, rows, params, nv)))
        best = [float("inf")] * len(built)
        for _ in range(repeats if "hinge" in name else max(repeats // 10, 5)):
            for i, b in enumerate(built):  # interleaved: load on the machine hits all alike
                best[i] = min(best[i], b[4]())
        for i, (level, simd, full, part, _, bits) in enumerate(built):
            same = "bit-equal" if bits() == built[0][5]() else "DIFFERENT"
            print(f"| {name} | {level} -> {simd or 'scalar'} | {full[0]:.2f} / {full[1]:.2f} | "
                  f"{part[0]:.2f} / {part[1]:.2f} | {best[i] * 1e6:.1f} us | "
                  f"{best[i] / len(rows) * 1e9:.0f} ns | {best[0] / best[i]:.2f}x ({same}) |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

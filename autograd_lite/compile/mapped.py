"""`compile_map`: a scalar function of floats, traced once and run elementwise over arrays (one
C loop when a compiler is available), giving exactly the numbers the function gives on floats.

    from autograd_lite import compile_map, sqrt
    k = compile_map(lambda p, g, lr: p - lr * g, 3)
    (p_new,) = k(params, grads, 0.1)                  # arrays ("d") and scalars (broadcast)
    k(params, grads, 0.1, out=[params])              # in place, all or nothing

The function is traced once on Values (its graph becomes one C statement per node, through the
same emitters and native toolchain as `compile_grad`: no FMA contraction, libm calls, so each
element is the function's float result bit for bit); it must also run on plain floats (use
`autograd_lite`'s functions, which accept both, or take e.g. `sqrt` as an argument): that is the
Python path, used without a compiler and for any call whose inputs are not all finite or whose
C run raised an IEEE invalid, divide-by-zero or overflow flag (so Python's own errors, such as
ZeroDivisionError, and its numbers for inf are what the caller sees; such an error notes the
element that raised). Outputs are written only when every element is done.

Where the CPU and compiler offer a vector instruction set (`native.simd()`, as `compile_grad`'s
block code: $AUTOGRAD_LITE_SIMD chooses), the loop runs B elements per iteration in SIMD lanes
(`vector.VectorText` rewrites each statement; B = 4 with AVX2) and the last n % B by the scalar
loop, for calls whose inputs are arrays or scalars (`Mapped.simd` says which, "avx2 x4"): the
same IEEE operations on each element, so the same bits, flags and return codes (see `_Lanes`).

`fn` is traced once: numbers it reads from closures, globals or mutable state are frozen into
the C loop at that time, while the Python path calls `fn` as it is then, so a `fn` whose
constants change gives old numbers for finite inputs and new ones for a call with an inf. Pass
numbers that change as inputs (scalars broadcast), as `nn.optim`'s updates take `lr`.
"""

from __future__ import annotations

import ctypes
import math
import numbers
import re
import threading
from array import array
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from ..engine.value import Value, describe
from . import native, vector
from .emit import _CEmitter
from .program import _Program
from .rows import pinned
from .trace import _Graph

__all__ = ["Mapped", "compile_map"]


class _MapEmitter(_CEmitter):
    """C names for an elementwise kernel: inputs `x0..`, node k in the local `t{k}`."""

    @staticmethod
    def leaf(kind: str, i: int) -> str:
        return f"x{i}"

    @staticmethod
    def var(k: int) -> str:
        return f"t{k}"


def _c_source(prog: _Program, n_in: int, lanes: _Lanes | None = None) -> str:
    """`al_map(n, A, S, O)`: for r < n, inputs A[i][r * S[i]] (stride 0: a scalar), outputs
    O[j][r]; returns 1 when an input is not finite (nothing written), 2 when an IEEE flag was
    raised, else 0. The loops are `noinline` functions, so no computation leaves the flag
    window. With `lanes` (see `_Lanes`), a call whose strides are all 0 or 1 runs B elements
    per iteration and the last n % B by the scalar loop: the same outputs and return codes."""
    body = [f"    const double x{i} = a{i}[r * s{i}];" for i in range(n_in)]
    body += [f"    const double {v} = {e};" for v, e in prog.forward]
    body += [f"    o{j}[r] = {e};" for j, e in enumerate(prog.outputs)]
    n_out = len(prog.outputs)
    head = [f"  const double *a{i} = A[{i}]; const long s{i} = S[{i}];" for i in range(n_in)]
    head += [f"  double *o{j} = O[{j}];" for j in range(n_out)]
    sig = "(long n, double *const *A, const long *S, double *const *O)"
    rows = [f"static __attribute__((noinline)) void al_map_rows(long r0, {sig[1:]} {{", *head,
            "  for (long r = r0; r < n; r++) {", *body, "  }", "}"]
    if lanes is None:
        check = [f"  for (long r = 0; r < (S[{i}] ? n : 1); r++) "
                 f"if (!isfinite(A[{i}][r * S[{i}]])) return 1;" for i in range(n_in)]
        return "\n".join([*rows, f"int al_map{sig} {{", *check, "  feclearexcept(AL_BAD);",
                          "  al_map_rows(0, n, A, S, O);",
                          "  return fetestexcept(AL_BAD) ? 2 : 0;", "}", ""])
    return "\n".join([*lanes.head(), *rows, *lanes.functions(n_in, n_out),
                      f"int al_map{sig} {{",
                      "  long r0 = al_map_lanes(n, A, S, O);  /* -1: an input is not finite */",
                      "  if (r0 < 0) return 1;",
                      "  feclearexcept(AL_BAD);",
                      "  if (r0) r0 = al_map_vec(n, A, S, O);",
                      "  al_map_rows(r0, n, A, S, O);",
                      "  if (!fetestexcept(AL_BAD)) return 0;",
                      *lanes.after_flag(), "}", ""])


class _Lanes:
    """A kernel's loop body in SIMD lanes for one instruction set (`vector.Simd`, B lanes):
    each statement rewritten by `vector.VectorText` over B elements (inputs `vx{i}`, nodes
    `vt{k}`), `sqrt` as the vector instruction where the level has one (IEEE's correctly
    rounded square root: the C library's bits and flags), other library calls per lane.

    The vector code performs every operation the scalar loop performs on each element, and
    more only where a select computes both branches (`selects`). Without selects its IEEE flags
    are exactly the scalar loop's, so a flag is returned as it is; with them a flagged call
    runs every element again in the scalar loop, whose flags decide (so the outputs then must
    not share memory with the inputs). `al_map_lanes` sends a call to the scalar loop alone
    when a stride is not 0 or 1, or an output overlaps an input or another output other than
    as the very same array (the scalar loop's element-by-element order would show)."""

    #: The vector square root of each level (GCC and Clang builtins; AVX-512's in two halves:
    #: the two compilers' 512-bit builtins differ).
    _SQRT = {"sse2": "return (vd)__builtin_ia32_sqrtpd(a);",
             "avx2": "return (vd)__builtin_ia32_sqrtpd256(a);",
             "avx512": "typedef double v4 __attribute__((vector_size(32))); "
                       "union { vd v; v4 h[2]; } u = {a}; "
                       "u.h[0] = __builtin_ia32_sqrtpd256(u.h[0]); "
                       "u.h[1] = __builtin_ia32_sqrtpd256(u.h[1]); return u.v;"}

    def __init__(self, graph: _Graph, simd: vector.Simd) -> None:
        self.simd = simd
        prog = _Program(graph, 0, _CEmitter(len(graph.order)), input_grads=False)
        text = vector.VectorText()
        stmts = [(text.target(v), text.expr(e)) for v, e in prog.forward]  # or Unsupported
        outs = [text.expr(e) for e in prog.outputs]
        self.sqrt = self._SQRT.get(simd.name) if ("sqrt", 1) in text.calls else None
        self.calls = sorted(c for c in text.calls if not (self.sqrt and c == ("sqrt", 1)))
        self.selects = any("al_sel(" in e for e in [*(e for _, e in stmts), *outs])

        def local(code: str) -> str:
            code = _VREF.sub(lambda m: f"v{m.group(1).lower()}{m.group(2)}", code)
            return code.replace("al_v1_sqrt(", "al_vsqrt(") if self.sqrt else code

        self.stmts = [(local(v), local(e)) for v, e in stmts]
        self.outs = [local(e) for e in outs]

    def head(self) -> list[str]:
        """The prelude of vector code (its first line names the level: the cache key), the
        unaligned vector type `vu`, the square root and the per-lane library calls."""
        s = self.simd
        out = [s.prelude(),
               f"typedef double vu __attribute__((vector_size({8 * s.lanes}), aligned(8)));"]
        if self.sqrt:
            out.append(f"AL_IN vd al_vsqrt(vd a) {{ {self.sqrt} }}")
        return out + [s.lane_call(name, nargs) for name, nargs in self.calls]

    def functions(self, n_in: int, n_out: int) -> list[str]:
        """`al_finite(n, a, s)`: whether the input is finite (its bits: no flag); `al_map_lanes`:
        -1 when an input is not finite, else how many elements the vector loop may run (0: the
        scalar loop runs them all); `al_map_vec`: runs them."""
        b = self.simd.lanes
        sig = "(long n, double *const *A, const long *S, double *const *O)"
        out = ["static __attribute__((noinline)) AL_T int al_finite(long n, const double *a, "
               "long s) {",
               "  const vl top = (vl)al_bc(0.0) + 0x7ff0000000000000LL;  /* exponent all ones */",
               "  vl bad = (vl)al_bc(0.0);",
               "  long r = 0;",
               f"  if (s == 1) for (; r + {b} <= n; r += {b}) "
               "bad |= ((vl)*(const vu *)(a + r) & top) == top;",
               "  int ok = 1;",
               f"  for (int l = 0; l < {b}; l++) ok &= bad[l] == 0;",
               "  for (; r < (s ? n : 1); r++) ok &= isfinite(a[r * s]) != 0;",
               "  AL_VZ;", "  return ok;", "}",
               "static int al_apart(const double *p, long np, const double *q, long nq) {",
               "  uintptr_t a = (uintptr_t)p, b = (uintptr_t)q;",
               "  return a + 8 * (uintptr_t)np <= b || b + 8 * (uintptr_t)nq <= a;", "}",
               f"static long al_map_lanes{sig} {{"]
        out += [f"  if (!al_finite(n, A[{i}], S[{i}])) return -1;" for i in range(n_in)]
        out.append(f"  if (n < {b}) return 0;")
        for i in range(n_in):
            out.append(f"  if (S[{i}] != 0 && S[{i}] != 1) return 0;")
            for j in range(n_out):
                same = "" if self.selects else f" && !(S[{i}] && O[{j}] == A[{i}])"
                out.append(f"  if (!al_apart(O[{j}], n, A[{i}], S[{i}] ? n : 1){same}) "
                           "return 0;")
        out += [f"  if (!al_apart(O[{j}], n, O[{k}], n) && O[{j}] != O[{k}]) return 0;"
                for j in range(n_out) for k in range(j)]
        out += [f"  return n - n % {b};", "}"]
        # The vector loop; a scalar input is read from B copies of it, at stride 0.
        out.append(f"static __attribute__((noinline)) AL_T long al_map_vec{sig} {{")
        for i in range(n_in):
            out += [f"  double c{i}[{b}];",
                    f"  for (int l = 0; l < {b}; l++) c{i}[l] = A[{i}][0];",
                    f"  const double *a{i} = S[{i}] ? A[{i}] : c{i}; const long s{i} = S[{i}];"]
        out += [f"  double *o{j} = O[{j}];" for j in range(n_out)]
        out += ["  long r = 0;", f"  for (; r + {b} <= n; r += {b}) {{"]
        out += [f"    const vd vx{i} = *(const vu *)(a{i} + r * s{i});" for i in range(n_in)]
        out += [f"    const vd {v} = {e};" for v, e in self.stmts]
        out += [f"    *(vu *)(o{j} + r) = {e};" for j, e in enumerate(self.outs)]
        out += ["  }", "  AL_VZ;", "  return r;", "}"]
        return out

    def after_flag(self) -> list[str]:
        """`al_map`'s end after a raised flag: the scalar loop's flags decide."""
        if not self.selects:
            return ["  return 2;  /* exactly the scalar loop's flags */"]
        return ["  if (!r0) return 2;",
                "  feclearexcept(AL_BAD);  /* maybe only a select's other branch: */",
                "  al_map_rows(0, n, A, S, O);",
                "  return fetestexcept(AL_BAD) ? 2 : 0;"]


_VREF = re.compile(r"\bV([TX])\[(\d+)\]")
#: array's own typecode getter (an array subclass may shadow the attribute)
_TYPECODE: Any = array.__dict__["typecode"]
#: The array typecode of a C pointer (`al_map`'s tables of addresses).
_PTR = "Q" if ctypes.sizeof(ctypes.c_void_p) == 8 else "I"


def _lanes(graph: _Graph) -> _Lanes | None:
    """The vector form of the kernel for `native.simd()`'s instruction set, or None (no vector
    instruction set, text outside `vector.VectorText`'s dialect, or code past the block code's
    size limits: `native.BLOCKS_MAX_LINES`, `native.BLOCKS_MAX_BYTES`)."""
    simd = native.simd()
    if simd is None:
        return None
    try:
        lanes = _Lanes(graph, simd)
    except vector.Unsupported:
        return None
    if len(lanes.stmts) > native.BLOCKS_MAX_LINES or sum(
            len(e) for _, e in lanes.stmts) > native.BLOCKS_MAX_BYTES:
        return None
    return lanes


class Mapped:
    """An elementwise kernel made by `compile_map`: `k(*inputs, out=None)` over arrays of one
    length (scalars broadcast). `backend` is "c" (one native loop, in SIMD lanes where `simd`
    says so) or "python" (the function called on floats, element by element)."""

    def __init__(self, fn: Callable[..., Any], n_inputs: int,
                 example: Sequence[float] | None = None, backend: str = "auto") -> None:
        where = "compile_map"
        if not callable(fn):
            raise TypeError(f"{where}: fn must be callable, got {describe(fn)}")
        if isinstance(n_inputs, bool) or not isinstance(n_inputs, int) or n_inputs < 1:
            raise ValueError(f"{where}: n_inputs must be a positive int, got {n_inputs!r}")
        if backend not in ("auto", "c", "python"):
            raise ValueError(f"{where}: backend must be 'auto', 'c' or 'python', got "
                             f"{describe(backend)}")
        xs = [1.0] * n_inputs if example is None else [float(x) for x in example]
        if len(xs) != n_inputs:
            raise ValueError(f"{where}: example has {len(xs)} values for {n_inputs} inputs")
        self.fn = fn
        self.n_inputs = n_inputs
        arity: list[int] = []

        def traced(*vs: Value) -> tuple[Value, list[Value]]:
            res = fn(*vs)
            outs = list(res) if isinstance(res, (tuple, list)) else [res]
            if not outs:
                raise ValueError(f"{where}: fn returned no outputs")
            for j, o in enumerate(outs):
                if not isinstance(o, Value) and (
                        isinstance(o, bool) or not isinstance(o, numbers.Real)):
                    raise TypeError(f"{where}: fn's output {j} must be a Value or a real "
                                    f"number, got {describe(o)}")
            arity.append(len(outs))
            outs = [o if isinstance(o, Value) else Value(float(o)) for o in outs]
            return outs[0], outs[1:]

        graph = _Graph(traced, xs, (), where, has_aux=True)
        if graph.data_reads:
            raise ValueError(f"{where}: fn compared its inputs or read their data "
                             f"{graph.data_reads} time(s): an elementwise kernel cannot branch "
                             "on data (pass such choices as Python arguments, e.g. with "
                             "functools.partial)")
        self.n_outputs = arity[0]
        self.backend = "python"
        self._lib: Any = None
        self.c_source: str | None = None
        #: the C loop's SIMD lanes ("avx2 x4": 4 elements per iteration), None for scalar code
        self.simd: str | None = None
        if backend != "python":
            why = None
            missing = native.missing_template(graph.primitives())
            if missing is not None:
                why = f"primitive {missing.name!r} has no C template"
            else:
                emit = _MapEmitter(len(graph.order))
                prog = _Program(graph, 0, emit, input_grads=False)
                if emit.non_finite:
                    why = "fn holds a constant inf or nan"
                else:
                    lanes = _lanes(graph)
                    # The SIMD loop, else (no vector instruction set, or a compiler that
                    # refuses its code) the scalar loop alone.
                    for vec in ([lanes] if lanes is None else [lanes, None]):
                        self.c_source = _c_source(prog, n_inputs, vec)
                        try:
                            self._lib = native.load(self.c_source, len(prog.forward),
                                                    symbols=("al_map",))
                        except native.NativeUnavailableError as e:
                            why = str(e)
                            continue
                        why = None
                        self.simd = None if vec is None else \
                            f"{vec.simd.name} x{vec.simd.lanes}"
                        break
            if why is not None:
                if backend == "c":
                    raise native.NativeUnavailableError(f"compile_map(backend='c'): {why}")
            else:
                fn_c = self._lib.al_map
                ptr = ctypes.c_void_p
                fn_c.argtypes = [ctypes.c_long, ptr, ptr, ptr]
                fn_c.restype = ctypes.c_int
                self._run = fn_c
                self._in_t = ctypes.c_void_p * n_inputs
                self._stride_t = ctypes.c_long * n_inputs
                self._out_t = ctypes.c_void_p * self.n_outputs
                #: output scratch for calls with `out=` (another thread meanwhile: fresh ones)
                self._scratch = [array("d") for _ in range(self.n_outputs)]
                self._scratch_lock = threading.Lock()
                self.backend = "c"
                self._check_floats(xs)

    def _check_floats(self, xs: list[float]) -> None:
        """ValueError when the C loop does not give `fn`'s float results at the example: `fn`
        computes with something other than Python floats there (a numpy float32 constant does
        float32 arithmetic on floats, double arithmetic once traced), so the C path and the
        Python path (non-finite inputs, no compiler) would give one element different numbers."""
        got = [array("d", [0.0]) for _ in range(self.n_outputs)]
        if not all(map(math.isfinite, xs)) or not self._c_call(list(xs), 1, got):
            return  # an IEEE flag at the example: such calls take the Python path anyway
        try:
            want = self._python_call([array("d", [x]) for x in xs], 1)
        except Exception as e:
            e.add_note("compile_map: fn must also run on plain floats (its Python path)")
            raise
        for j, (g, w) in enumerate(zip(got, want)):
            if g.tobytes() != w.tobytes() and not (g[0] != g[0] and w[0] != w[0]):
                raise ValueError(
                    f"compile_map: fn's output {j} on floats at the example {xs} is {w[0]!r}, "
                    f"its traced computation gives {g[0]!r}: fn computes with something other "
                    "than Python floats (a numpy float32 constant?); convert such constants "
                    "with float() or pass them as inputs")

    def __repr__(self) -> str:
        lanes = f", {self.simd}" if self.simd else ""
        return f"<Mapped {self.n_inputs} -> {self.n_outputs} ({self.backend}{lanes})>"

    def _normalize(self, args: tuple[Any, ...]) -> tuple[list[Any], int]:
        """(the inputs: arrays and plain floats, their common length); TypeError / ValueError
        naming the input that is wrong."""
        if len(args) != self.n_inputs:
            raise TypeError(f"compiled map takes {self.n_inputs} inputs, got {len(args)}")
        vals = list(args)
        n = -1
        for i, a in enumerate(vals):
            t = type(a)
            if t is float:
                continue
            if t is not array:
                if isinstance(a, numbers.Real) and not isinstance(a, bool):
                    try:  # an int, a float subclass, a numpy scalar: its value as a double
                        vals[i] = float(a)
                    except OverflowError:
                        raise OverflowError(f"compiled map: input {i} is an int too large for "
                                            f"a float: {describe(a)}") from None
                    continue
                if not isinstance(a, array):
                    raise TypeError(f"compiled map: input {i} must be an array('d') or a "
                                    f"float, got {describe(a)}")
            # (an array subclass's own typecode / __len__ are not its buffer's)
            if (a.typecode if t is array else _TYPECODE.__get__(a)) != "d":
                raise TypeError(f"compiled map: input {i} must be an array('d') or a float, "
                                f"got {describe(a)}")
            size = len(a) if t is array else array.__len__(a)
            if n >= 0 and size != n:
                raise ValueError(f"compiled map: input {i} has {size} items, input 0.. "
                                 f"have {n}")
            n = size
        if n < 0:
            raise ValueError("compiled map: at least one input must be an array")
        return vals, n

    def __call__(self, *args: Any, out: Sequence[array[float]] | None = None
                 ) -> tuple[array[float], ...]:
        """The outputs, one array per output of fn: into `out` (arrays of the inputs' length,
        which may be the inputs themselves) when given, written only once every element is
        done; new arrays otherwise."""
        vals, n = self._normalize(args)
        if out is not None:
            out = list(out)
            if len(out) != self.n_outputs or not all(
                    (o.typecode == "d" and len(o) == n) if type(o) is array else
                    (isinstance(o, array) and _TYPECODE.__get__(o) == "d"
                     and array.__len__(o) == n) for o in out):
                raise TypeError(f"compiled map: out must be {self.n_outputs} array('d')s of "
                                f"{n} items")
        if self.backend == "c" and n:
            if out is not None and self._scratch_lock.acquire(blocking=False):
                try:  # results in this kernel's scratch arrays, copied into out on success
                    scratch = self._scratch
                    if len(scratch[0]) != n:
                        scratch[:] = [array("d", bytes(8 * n)) for _ in scratch]
                    if self._c_call(vals, n, scratch):
                        for o, r in zip(out, scratch):
                            o[:] = r
                        return tuple(out)
                finally:
                    self._scratch_lock.release()
            else:
                res = [array("d", bytes(8 * n)) for _ in range(self.n_outputs)]
                if self._c_call(vals, n, res):
                    if out is None:
                        return tuple(res)
                    for o, r in zip(out, res):
                        o[:] = r
                    return tuple(out)
        res = self._python_call(vals, n)
        if out is None:
            return tuple(res)
        for o, r in zip(out, res):
            o[:] = r
        return tuple(out)

    def _c_call(self, args: list[Any], n: int, res: list[array[float]]) -> bool:
        """The outputs by the C loop into `res`; False when the Python path must decide (a
        non-finite input or an IEEE flag: see the module)."""
        scalars = array("d", [a for a in args if type(a) is float])
        at = scalars.buffer_info()[0]
        addrs: list[int] = []
        strides: list[int] = []
        # Every input array pinned by a buffer export while C reads it: the call releases the
        # GIL, and another thread resizing one (append, del) would move it under the loop.
        # (`res` is this call's own: fresh arrays, or the scratch it holds the lock of.)
        # The length is checked again once pinned: another thread may have resized an input
        # since `_normalize` measured it (C would read past its end, or a freed buffer).
        pins: list[memoryview] = []
        try:
            for i, a in enumerate(args):
                if type(a) is float:
                    addrs.append(at)
                    strides.append(0)
                    at += 8
                else:
                    if type(a) is array:  # (the common case inline: a hot path)
                        pins.append(memoryview(a))
                        addr, size = a.buffer_info()
                    else:  # a subclass: its buffer's own address and length
                        pins.append(pinned(a, f"compiled map: input {i}"))
                        addr, size = array.buffer_info(a)
                    if size != n:
                        _resized(i, n, size)
                    addrs.append(addr)
                    strides.append(1)
            # The pointer and stride tables as arrays (cheaper to make than ctypes arrays).
            table_a = array(_PTR, addrs)
            table_s = array("l", strides)
            table_o = array(_PTR, [r.buffer_info()[0] for r in res])
            return self._run(n, table_a.buffer_info()[0], table_s.buffer_info()[0],
                             table_o.buffer_info()[0]) == 0
        finally:
            for pin in pins:
                pin.release()

    def _python_call(self, args: list[Any], n: int) -> list[array[float]]:
        fn = self.fn
        cols = [[a] * n if isinstance(a, float) else array.tolist(a) for a in args]
        for i, c in enumerate(cols):
            if len(c) != n:
                _resized(i, n, len(c))
        rows: list[Any] = []
        add = rows.append
        try:
            for xs in zip(*cols):
                add(fn(*xs))
        except Exception as e:
            e.add_note(f"(in element {len(rows)} of the compiled map's inputs)")
            raise
        if self.n_outputs == 1 and not (rows and isinstance(rows[0], (tuple, list))):
            return [array("d", rows)]
        return [array("d", col) for col in zip(*rows)] if rows else \
            [array("d") for _ in range(self.n_outputs)]


def _resized(i: int, n: int, size: int) -> NoReturn:
    """ValueError: input `i` has `size` items, not the `n` the call measured (another thread
    resized it during the call)."""
    raise ValueError(f"compiled map: input {i} changed length during the call ({n} -> {size} "
                     "items): another thread resized it")


def compile_map(fn: Callable[..., Any], n_inputs: int, *, example: Sequence[float] | None = None,
                backend: str = "auto") -> Mapped:
    """`fn(*floats) -> float or tuple of floats` as an elementwise kernel over arrays: traced
    once on Values (`example`: the trace's inputs, default all 1.0), run in C when a compiler
    exists (`backend="auto"`; `"c"` raises NativeUnavailableError otherwise, `"python"` never
    compiles), bit for bit fn's float results (see the module)."""
    return Mapped(fn, n_inputs, example, backend)

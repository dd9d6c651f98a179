"""The two backends that run a traced program, each an object chosen once by `Compiled`.

`PythonBackend` runs generated Python source; `CBackend` calls a generated C function that
loops over a batch of rows (`native` builds and loads it). Both offer the same operations:
one row's `forward` / `value_and_grad`, `carry` (parameter gradients added into given starting
values, for `backward`), and the batch sweeps `forward_batch` / `value_and_grad_batch` (with or
without input gradients). A row the replay cannot give the interpreter's answer for (a domain
error, an IEEE flag) runs in the interpreter (`reference.Reference`), which raises its error
or gives its numbers; errors in a batch carry "(in row r of the batch)".

Why one file past ~400 lines: it is one idea, the backend objects; the two must offer the same
operations with the same fallbacks, which is checked by reading them side by side.
"""

from __future__ import annotations

import contextlib
import ctypes
import threading
import warnings
from array import array
from collections.abc import Callable, Sequence
from typing import Any

from ..engine.value import Value
from . import emit, native, progress, vector
from .emit import _CEmitter
from .native import NativeUnavailableError, NativeUnavailableWarning
from .program import _Graph, _Program, exact
from .pysource import PythonReplay
from .reference import Reference
from .rows import Rows, check_nan, nan_error, note_row, pinned

Row = tuple[Any, tuple[float, ...]]


def batch_loop(rows: Rows, k: int, m: int, pd: Any, accumulate: array[float] | None,
               input_grads: bool, row_fn: Callable[[list[float], int], Row],
               fast: Callable[..., Any] | None = None
               ) -> tuple[list[Any], list[tuple[float, ...]] | None, Any]:
    """`value_and_grad_batch` one row at a time: `row_fn(xs, r)` gives a row's value and
    gradients; `fast(xs, pd)`, when given, a row's value and parameter gradients (its errors
    go to `row_fn`). `accumulate` is only written once every row is done."""
    values = []
    grads: list[tuple[float, ...]] | None = [] if input_grads else None
    # Each row's sums are added into accumulate's values in turn, as the C loop does (and
    # written back once every row is done).
    pg = [0.0] * m if accumulate is None else accumulate.tolist()
    for r in range(rows.n):
        xs = rows.row(r, k)
        g: tuple[float, ...] | None = None
        try:
            if fast is not None:
                try:
                    value, g = fast(xs, pd)
                except (ArithmeticError, ValueError):
                    g = None
                if g is not None:
                    pg = [a + b for a, b in zip(pg, g)]
            if g is None:
                value, g = row_fn(xs, r)
                pg = [a + b for a, b in zip(pg, g[k:])]
        except Exception as e:  # any error, the replay's own included (a user primitive)
            note_row(e, r)
            raise
        values.append(value)
        if grads is not None:
            grads.append(g[:k])
    if accumulate is not None:
        accumulate[:] = array("d", pg)
        return values, grads, accumulate
    return values, grads, tuple(pg)


class PythonBackend:
    """Python replay: the generated functions, the interpreter for a row they cannot do."""

    name = "python"
    checks_nan = False  #: rows are checked for NaN before they reach it

    def __init__(self, replay: PythonReplay, reference: Reference, params: list[Value]) -> None:
        self.replay = replay
        self.reference = reference
        self.params_ = params
        self.k, self.m = replay.n_inputs, replay.n_params
        self._vg = replay.fn("value_and_grad", announce=False)

    def params(self) -> Any:
        """The parameters' current data, as floats."""
        datas = [q.data for q in self.params_]
        if set(map(type, datas)) <= {float}:
            return datas
        return [exact(d) for d in datas]

    @staticmethod
    def param_values(sub: array[float]) -> Any:
        return sub.tolist()

    def forward(self, fl: list[float], pd: Any, sub: Sequence[float] | None,
                r: int | None) -> Any:
        try:
            return self.replay.fn("forward")(fl, pd)
        except (ArithmeticError, ValueError):
            # The interpreter is the reference: it raises its own error, or gives the value.
            return self.reference.forward_row(fl, r, self.reference.at(pd, sub))

    def value_and_grad(self, fl: list[float], pd: Any, sub: Sequence[float] | None,
                       r: int | None) -> Row:
        try:
            return self._vg(fl, pd)
        except (ArithmeticError, ValueError):
            return self.reference.interpret_row(fl, r, self.reference.at(pd, sub))

    def carry(self, fl: list[float], pd: Any, hs: list[float]) -> Row | None:
        """(value, parameter gradients added into `hs` one contribution at a time), or None
        where the interpreter must run (it raises its own error, or gives its numbers)."""
        try:
            return self.replay.fn("backward")(fl, pd, hs)
        except (ArithmeticError, ValueError):
            return None

    def forward_batch(self, rows: Rows, pd: Any, sub: array[float] | None) -> list[Any]:
        values = []
        for r in range(rows.n):
            try:
                values.append(self.forward(rows.row(r, self.k), pd, sub, r))
            except Exception as e:  # any error, the replay's own included (a user primitive)
                note_row(e, r)
                raise
        return values

    def value_and_grad_batch(self, rows: Rows, sub: array[float] | None,
                             accumulate: array[float] | None, input_grads: bool
                             ) -> tuple[list[Any], list[tuple[float, ...]] | None, Any]:
        pd = self.params() if sub is None else self.param_values(sub)
        # Without input gradients: its own (shorter) program; an error in it goes to the
        # interpreter, through the full program (which raises it again).
        fast = None if input_grads else self.replay.fn("value_and_param_grads")
        return batch_loop(rows, self.k, self.m, pd, accumulate, input_grads,
                          lambda xs, r: self.value_and_grad(xs, pd, sub, r), fast)


def c_program(graph: _Graph, n_inputs: int, n_params: int, input_grads: bool = True,
              flag_every_row: bool = False, simd: Any = "auto", scalar_rows: bool = True
              ) -> tuple[str, int, list[int], int, bool]:
    """The graph's C program (see `emit._c_source`): (source, scratch doubles, parameters the
    output depends on, statements, whether a constant is not finite). `flag_every_row`: send
    every row to the interpreter (the full program has a non-finite constant). `simd`: the
    instruction set of its blocks of rows (a `vector.Simd`; None: scalar code, one row at a
    time; "auto": `native.simd()`'s), see `emit.c_blocks_source` (and for `scalar_rows`)."""
    cemit = _CEmitter(len(graph.order))
    prog = _Program(graph, n_params, cemit, input_grads=input_grads)
    source, scratch, used = emit.c_blocks_source(
        prog, n_inputs, n_params, len(graph.order), cemit.non_finite or flag_every_row,
        input_grads=input_grads, simd=simd, scalar_rows=scalar_rows)
    return source, scratch, used, len(prog.forward) + len(prog.backward), cemit.non_finite


class _Library:
    """A loaded C library and its scratch space (shared, or fresh for a concurrent call)."""

    def __init__(self, source: str, n_lines: int, scratch: int,
                 symbols: tuple[str, ...] = ("al_vg", "al_fw")) -> None:
        lib = native.load(source, n_lines, symbols)
        self.vg, self.fw = lib.al_vg, lib.al_fw
        isa = native.simd_of(source)
        #: Block code without its scalar rows (see `emit.c_blocks_source`): its rows per block,
        #: and `need_rows()`, which lends it the scalar rows (False: they cannot be built).
        self.lanes = vector.SIMDS[isa].lanes if isa is not None and "void al_rows(" in source \
            else None
        self.need_rows: Callable[[], bool] | None = None
        ptr = ctypes.c_void_p
        self.vg.argtypes = [ctypes.c_long, ptr, ptr, ptr, ptr, ptr,
                            ctypes.POINTER(ctypes.c_long), ptr]
        self.fw.argtypes = [ctypes.c_long, ptr, ptr, ptr, ctypes.POINTER(ctypes.c_long), ptr]
        self.vg.restype = self.fw.restype = ctypes.c_int
        self.lib = lib  # (kept alive: the cache closes a library no one holds)
        self.nbytes = 8 * max(scratch, 1)
        self.scratch = array("d", bytes(self.nbytes))
        self.lock = threading.Lock()

    @property
    def rows(self) -> _Library | None:
        """The library lending this block library its scalar rows, or None. Held by the loaded
        library itself (shared by every Compiled of the same program: `native.load`), so it
        lives as long as the pointers to its functions do."""
        held: _Library | None = vars(self.lib).get("_al_rows")
        return held

    def call(self, fn: Any, *args: Any) -> int:
        """Call `fn` with scratch space: the shared one, or a fresh one when another thread
        is using it (ctypes releases the GIL during the call)."""
        if self.lock.acquire(blocking=False):
            try:
                return fn(*args, self.scratch.buffer_info()[0])
            finally:
                self.lock.release()
        scratch = array("d", bytes(self.nbytes))
        return fn(*args, scratch.buffer_info()[0])


_lending = threading.Lock()
#: Instruction sets whose block code failed to build in this process while scalar code built
#: (said once per instruction set: a NativeUnavailableWarning).
_warned_blocks: set[str] = set()


class _CProgram:
    """One C program of the graph, with or without input gradients: its source generated and
    its library built on first use (each once; a failed build is remembered, not retried).
    Block code (`simd`, decided when the Compiled was made: a later $AUTOGRAD_LITE_SIMD does
    not change it) that fails to build or load is replaced by scalar code, with a warning once
    per process and instruction set; only when that fails too has the program failed."""

    def __init__(self, graph: _Graph, k: int, m: int, input_grads: bool,
                 flag_every_row: bool, simd: vector.Simd | None = None) -> None:
        self.graph, self.k, self.m = graph, k, m
        self.input_grads, self.flag_every_row = input_grads, flag_every_row
        self.simd = simd
        self.rows_failed = False
        self.what = ("compiled function" if input_grads else
                     "compiled function (without input gradients)")
        self.source_: str | None = None
        self.scratch, self.n_lines = 0, 0
        self.used: list[int] = []
        self.unused_: list[int] | None = None  #: the parameters not in `used` (`unused`)
        self.non_finite = False
        self.lib: _Library | None = None
        self.failed: NativeUnavailableError | None = None
        self.warned = False
        self.show: progress.Setting | None = None  #: the Compiled's setting (`progress`)
        self._lock = threading.RLock()

    def source(self) -> str:
        """The C source, generated on first use."""
        with self._lock:
            if self.source_ is None:
                self.unused_ = None
                source, self.scratch, self.used, self.n_lines, self.non_finite = c_program(
                    self.graph, self.k, self.m, self.input_grads, self.flag_every_row,
                    self.simd, scalar_rows=False)
                self.source_ = source
            return self.source_

    def unused(self) -> list[int]:
        """The parameters the output does not depend on (C never writes their sums)."""
        with self._lock:
            self.source()
            if self.unused_ is None:
                used = set(self.used)
                self.unused_ = [j for j in range(self.m) if j not in used]
            return self.unused_

    def library(self, build: progress.Build | None = None) -> _Library:
        """The loaded library, built on first use (`build`: the caller's progress display,
        else its own); raises NativeUnavailableError when it cannot be (now or before)."""
        with self._lock:
            if self.lib is None:
                if self.failed is not None:
                    raise self.failed
                with contextlib.ExitStack() as stack:
                    if build is None:
                        build = stack.enter_context(progress.build(self.what, 2, self.show))
                    build.stage(f"generating C ({len(self.graph.order):,} nodes)")
                    source = self.source()
                    build.stage("compiling C")
                    try:
                        lib = _Library(source, self.n_lines, self.scratch)
                    except NativeUnavailableError as e:
                        if native.simd_of(source) is None:
                            self.failed = e
                            raise
                        lib = self._scalar_instead(e, build)
                    if lib.lanes is not None:
                        lib.need_rows = self._lend_rows
                    self.lib = lib
            return self.lib

    def _lend_rows(self) -> bool:
        """Build the scalar rows of the block library (the same program as scalar code, on
        its first need: a flagged block, a non-finite input) and lend them to
        it; False, warned once, when they cannot be built (the interpreter runs those rows)."""
        with self._lock:
            lib = self.lib
            if lib is None or lib.lanes is None or self.rows_failed:
                return False
            if lib.rows is not None:
                return True
            try:
                with progress.build(self.what + " (its scalar rows)", 2, self.show) as build:
                    build.stage(f"generating scalar C ({len(self.graph.order):,} nodes)")
                    source, scratch, _, n_lines, _ = c_program(
                        self.graph, self.k, self.m, self.input_grads, self.flag_every_row,
                        None)
                    build.stage("compiling scalar C")
                    if 8 * max(scratch, 1) > lib.nbytes:  # (cannot happen: the same slots)
                        raise NativeUnavailableError("the scalar rows need more scratch space "
                                                     "than the block code")
                    rows = _Library(source, n_lines, scratch,
                                    ("al_vg", "al_fw", "al_fw_rows", "al_vg_rows"))
            except NativeUnavailableError as e:
                self.rows_failed = True
                warnings.warn(f"{self.what}: the scalar rows of its C block code cannot be "
                              f"built ({e}); the rows they would run (a block with a raised "
                              "flag or a non-finite input) run in the interpreter",
                              NativeUnavailableWarning, stacklevel=6)
                return False
            ptr = ctypes.c_void_p
            lib.lib.al_rows.argtypes = [ptr, ptr]
            lib.lib.al_rows.restype = None
            with _lending:  # (the loaded library may be another Compiled's too)
                if lib.rows is None:
                    vars(lib.lib)["_al_rows"] = rows  # before the pointers: kept alive
                    lib.lib.al_rows(ctypes.cast(rows.lib.al_fw_rows, ptr),
                                    ctypes.cast(rows.lib.al_vg_rows, ptr))
            return True

    def _scalar_instead(self, error: NativeUnavailableError, build: progress.Build
                        ) -> _Library:
        """The block code failed with `error`: build the same program as scalar code (the same
        numbers, one row at a time), warn once per instruction set if that works; if it fails
        too, the program has failed with `error`."""
        isa = native.simd_of(self.source_ or "")
        build.stage("compiling scalar C")
        with self._lock:
            self.simd, self.source_ = None, None
            source = self.source()
        try:
            lib = _Library(source, self.n_lines, self.scratch)
        except NativeUnavailableError:
            self.failed = error
            raise error from None
        with self._lock:
            first = isa not in _warned_blocks
            _warned_blocks.add(isa or "")
        if first:
            warnings.warn(f"compiled function: the C block code ({isa}) cannot be built "
                          f"({error}); scalar C code is used (the same numbers, one row at "
                          "a time)", NativeUnavailableWarning, stacklevel=6)
        return lib


class CBackend:
    """Native replay: one C call per batch; rows it flags run in the interpreter.

    Two C programs: the full one (values, input and parameter gradients) and one without input
    gradients (`value_and_grad_batch(input_grads=False)`, training: fewer statements). Each is
    generated and built on first use, so a compiled `fit`, which never asks for input
    gradients, builds one library. A forward pass uses whichever is loaded (else builds the
    one without input gradients, the cheaper). `eager` (backend="c" asked for): the full
    library is built now, so a failed build raises NativeUnavailableError from `compile_grad`.
    A build that fails later warns once; its calls run as Python replay (the program without
    input gradients: the full library instead, when that one is loaded).
    """

    name = "c"
    checks_nan = True  #: the C function checks the rows for NaN itself (return code 3)

    def __init__(self, graph: _Graph, replay: PythonReplay, reference: Reference,
                 params: list[Value], non_finite: bool, eager: bool = False,
                 build: progress.Build | None = None) -> None:
        self.graph, self.replay, self.reference, self.params_ = graph, replay, reference, params
        self.k, self.m, self.nv = replay.n_inputs, replay.n_params, 1 + len(graph.aux)
        self.has_aux = replay.has_aux
        # The instruction set of the blocks of rows, decided now (a later change of
        # $AUTOGRAD_LITE_SIMD, even to a bad value, never reaches a build on first use).
        simd = native.simd()
        self.full = _CProgram(graph, self.k, self.m, True, non_finite, simd)
        self.cut = _CProgram(graph, self.k, self.m, False, non_finite, simd)
        self._python: PythonBackend | None = None
        self._lock = threading.RLock()
        self._pg_single_: array[float] | None = None
        if eager:
            self.full.library(build)

    @property
    def source(self) -> str:
        """The full program's C source (generated on first use)."""
        return self.full.source()

    def params_source(self) -> str:
        """The C source without input gradients, generated on first use."""
        return self.cut.source()

    @property
    def _lib(self) -> _Library:
        """The full program's library (built on first use; NativeUnavailableError if not)."""
        return self.full.library()

    def simd(self) -> str | None:
        """The instruction set of the C code's blocks ("avx2 x4": 4 rows per block), None
        for scalar code: read from the full program's source, or from the program without input
        gradients when only that one has been generated (a compiled fit's); generated now when
        neither has been."""
        source = self.full.source_ or self.cut.source_ or self.full.source()
        isa = native.simd_of(source)
        return None if isa is None else f"{isa} x{vector.SIMDS[isa].lanes}"

    def generated(self) -> bool:
        """Whether a C program has been generated (`simd` then costs nothing)."""
        return self.full.source_ is not None or self.cut.source_ is not None

    def _loaded(self, program: _CProgram) -> _Library | None:
        """`program`'s library, built on first use; None when it cannot be (warned once)."""
        try:
            return program.library()
        except NativeUnavailableError as e:
            with self._lock:
                if program.warned:
                    return None
                program.warned = True
            instead = "Python replay is used"
            if program is self.cut and self.full.lib is not None:
                instead = "the full program is used"
            kind = "" if program is self.full else " without input gradients"
            warnings.warn(f"compiled function: the C program{kind} cannot be built ({e}); "
                          f"{instead}", NativeUnavailableWarning, stacklevel=5)
            return None

    def _library(self, with_grad: bool, input_grads: bool) -> tuple[_Library | None, bool]:
        """The library a call runs on and whether it computes input gradients; None: Python
        replay (every library the call could use failed to build)."""
        if with_grad and input_grads:
            return self._loaded(self.full), True
        if with_grad:
            lib = self._loaded(self.cut)
            if lib is None and self.full.lib is not None:
                return self.full.lib, True  # its input gradients computed, then dropped
            return lib, False
        for program in (self.full, self.cut):  # a forward pass: any loaded library will do
            if program.lib is not None:
                return program.lib, True
        return self._loaded(self.cut), False

    def _fallback(self) -> PythonBackend:
        """Python replay, for the programs whose library could not be built."""
        with self._lock:
            if self._python is None:
                self._python = PythonBackend(self.replay, self.reference, self.params_)
            return self._python

    def _pg_single(self) -> array[float]:
        """One row's parameter gradients start from -0.0 (x + -0.0 is x, signed zeros
        included); a parameter the output does not depend on gets 0.0, as the interpreter."""
        if self._pg_single_ is None:
            self.full.source()
            pg = array("d", [0.0] * self.m)
            for j in self.full.used:
                pg[j] = -0.0
            self._pg_single_ = pg
        return self._pg_single_

    def params(self) -> Any:
        """The parameters' current data, as an array("d")."""
        try:
            return array("d", [q.data for q in self.params_])  # faster than map
        except TypeError:
            return array("d", [exact(q.data) for q in self.params_])

    @staticmethod
    def param_values(sub: array[float]) -> Any:
        return sub

    def forward(self, fl: list[float], pd: Any, sub: Sequence[float] | None,
                r: int | None) -> Any:
        lib, _ = self._library(False, False)
        if lib is None:
            return self._fallback().forward(fl, pd, sub, r)
        rows = Rows.of(array("d", fl), 1)
        return self.run(lib, False, rows, pd, subst=sub is not None, row=r)[0][0]

    def value_and_grad(self, fl: list[float], pd: Any, sub: Sequence[float] | None,
                       r: int | None) -> Row:
        lib, _ = self._library(True, True)
        if lib is None:
            return self._fallback().value_and_grad(fl, pd, sub, r)
        rows = Rows.of(array("d", fl), 1)
        values, grads, total = self.run(lib, True, rows, pd, single=True,
                                        subst=sub is not None, row=r)
        assert grads is not None
        return values[0], grads[0] + tuple(total)

    def carry(self, fl: list[float], pd: Any, hs: list[float]) -> Row | None:
        """As `PythonBackend.carry` (Python replay: one row, gradients added in turn)."""
        try:
            return self.replay.fn("backward")(fl, pd, hs)
        except (ArithmeticError, ValueError):
            return None

    def forward_batch(self, rows: Rows, pd: Any, sub: array[float] | None) -> list[Any]:
        lib, _ = self._library(False, False)
        if lib is None:
            check_nan(rows.data, self.k)  # (the C function would have)
            return self._fallback().forward_batch(rows, pd, sub)
        return self.run(lib, False, rows, pd, subst=sub is not None, batch=True)[0]

    def value_and_grad_batch(self, rows: Rows, sub: array[float] | None,
                             accumulate: array[float] | None, input_grads: bool
                             ) -> tuple[list[Any], list[tuple[float, ...]] | None, Any]:
        lib, lib_grads = self._library(True, input_grads)
        if lib is None:
            check_nan(rows.data, self.k)
            return self._fallback().value_and_grad_batch(rows, sub, accumulate, input_grads)
        pd = self.params() if sub is None else sub
        saved = None if accumulate is None else array("d", accumulate)
        try:
            return self.run(lib, True, rows, pd, accumulate, input_grads, lib_grads,
                            subst=sub is not None, batch=True)
        except BaseException:
            if accumulate is not None and saved is not None:
                accumulate[:] = saved  # rows before the failing one were added: undo
            raise

    def _outputs(self, V: array[float], n: int) -> list[Any]:
        if not self.has_aux:
            return V.tolist()
        nv, out = self.nv, V.tolist()
        return [(out[r * nv], tuple(out[r * nv + 1:(r + 1) * nv])) for r in range(n)]

    def run(self, lib: _Library, with_grad: bool, rows: Rows, pd: Sequence[float],
            accumulate: array[float] | None = None, input_grads: bool = True,
            lib_grads: bool = True, single: bool = False, subst: bool = False, batch: bool = False,
            row: int | None = None) -> tuple[list[Any], list[tuple[float, ...]] | None, Any]:
        """(values, input grads per row or None, param grads summed: a tuple, or `accumulate`)
        from `lib`'s C function (`lib_grads`: it computes input gradients, whether or not
        `input_grads` asks for them), which checks the inputs and parameters itself.
        A NaN input raises ValueError (before any row runs); rows that raised a flag or hold
        an inf, and every row when a parameter is not finite, run in the interpreter: with
        finite values in, every Python error and every non-finite result raises an IEEE flag in
        C, but a non-finite value in could reach, e.g., inf / 0 (Python raises, IEEE gives inf
        silently). `single`: one row's own gradients (the sum starts from -0.0, not 0.0).
        `subst`: `pd` was given by the caller, so the interpreter runs at it (`replay`), not
        at the parameters' `.data`. `batch`: errors name the row; `row`: the row this one-row
        call is (for a caller's batch)."""
        k, nv, m, n = self.k, self.nv, self.m, rows.n
        keep_grads = input_grads
        input_grads = lib_grads  # (the full program's input gradients: computed, then dropped)
        P = pd if isinstance(pd, array) and pd.typecode == "d" else array("d", pd)
        V = array("d", bytes(8 * n * nv))
        G = array("d", bytes(8 * n * k)) if with_grad and input_grads else None
        if accumulate is not None:
            PG = accumulate
        elif single:
            PG = array("d", self._pg_single())
        else:
            PG = array("d", bytes(8 * m))
        fail = ctypes.c_long(0)
        x0, v0 = rows.address, V.buffer_info()[0]
        g0 = G.buffer_info()[0] if G is not None else 0
        # The parameters and the sums pinned while C runs, their addresses and lengths read
        # once pinned (the caller checked them before: another thread may have resized one).
        with pinned(P, "param_data"), pinned(PG, "accumulate"):
            (p0, p_size), (pg0, pg_size) = array.buffer_info(P), array.buffer_info(PG)
            for name, size in (("param_data", p_size), ("accumulate", pg_size)):
                if size != m:
                    raise ValueError(f"{name} changed length during the call ({m} -> {size} "
                                     "items): another thread resized it")
            patched: dict[int, Row] = {}
            interpret_all = False
            lent_at = -1
            at: list[float] | None = None
            row_at: Sequence[float] | None
            start = 0
            while start < n:
                if interpret_all:
                    r = start
                else:
                    if with_grad:
                        rc = lib.call(lib.vg, n - start, x0 + 8 * k * start, p0,
                                      v0 + 8 * nv * start, g0 and g0 + 8 * k * start, pg0,
                                      ctypes.byref(fail))
                    else:
                        rc = lib.call(lib.fw, n - start, x0 + 8 * k * start, p0,
                                      v0 + 8 * nv * start, ctypes.byref(fail))
                    if rc == 0:
                        break
                    if rc == 4:  # block code asking for its scalar rows, from row *fail on
                        # Asked again at the row they were lent for (not plugged in: an
                        # interrupt between recording and plugging them): that row in the
                        # interpreter, never the same call again and again.
                        if start + fail.value != lent_at and lib.need_rows is not None \
                                and lib.need_rows():
                            start += fail.value
                            lent_at = start
                            continue
                        rc = 1  # (none: that row in the interpreter)
                    if rc == 3:
                        j = k * start + fail.value
                        if batch:
                            raise nan_error(j, k)
                        raise ValueError(f"compiled input {j % k}: got NaN, a Value needs a "
                                         "number (inf is allowed)")
                    interpret_all = rc == 2
                    r = start if interpret_all else start + fail.value
                xs = rows.row(r, k)
                where = r if batch else row
                if not subst:
                    row_at = self.reference.at(P, None)  # P, if another thread changed them
                else:
                    if at is None:
                        at = P.tolist()
                    row_at = at
                if with_grad:
                    value, g = self.reference.interpret_row(xs, where, row_at)
                    for j in range(m):
                        PG[j] += g[k + j]
                else:
                    value, g = self.reference.forward_row(xs, where, row_at), ()
                patched[r] = (value, g)
                start = r + 1
            values = self._outputs(V, n)
            grads = None
            if G is not None:
                gl = G.tolist()
                grads = [tuple(gl[r * k:(r + 1) * k]) for r in range(n)]
            for r, (value, g) in patched.items():
                values[r] = value
                if grads is not None:
                    grads[r] = g[:k]
        if accumulate is not None and n:
            # A parameter the output does not depend on: C never writes its sum, the
            # interpreter adds each row's 0.0 to it (a start of -0.0 becomes 0.0).
            for j in (self.full if lib is self.full.lib else self.cut).unused():
                PG[j] += 0.0
        total: Any = PG if accumulate is not None else tuple(PG.tolist())
        return values, grads if keep_grads else None, total

"""Compiled replay: trace a function's scalar graph once, then run it as straight-line floats.

Why one file past ~400 lines: `Compiled` is the public face and still holds the backend choice,
row marshalling and the interpreter fallbacks; splitting them into backend objects (Python, C)
chosen once is the planned next step (issue: native replay at the limit).

    from autograd_lite import compile_grad
    c = compile_grad(lambda x, y: (x * y).tanh(), [0.5, 2.0])
    value, (dx, dy) = c.value_and_grad([0.3, -1.0])     # no Values, no graph, no dispatch
    values, input_grads, param_grads = c.value_and_grad_batch([[0.3, -1.0], [1.0, 2.0]])

`compile_grad` calls `f` once with Values, takes the graph it recorded, and generates one
straight-line program: the forward pass over plain floats, then the reverse sweep unrolled (one
line per local derivative, in exactly `backward()`'s order, so the numbers are the same). Two
backends run it: `"c"` compiles it as a C function that loops over a whole batch of rows
(see `autograd_lite.compile.native`); `"python"` runs it as Python source. `"auto"` (the default)
picks C when a working compiler exists and every primitive in the graph has a C template.

The program is built from the graph only - node indices, the primitives' code templates and
float constants written exactly (converted with `float()`, then `float.__repr__` / hex literals)
- never from user text or a user object's repr. The Python source runs with `exec` in a
namespace holding only math functions and the primitives' own functions; a primitive without
a Python template (a user's) is called through its `forward` and `partials`.

The graph's structure is frozen at trace time: Python control flow on data in `f` (`if x > 0`,
`float(x)`, `x.data`) takes the branch of the example inputs forever. Branches inside primitives
(relu, abs, maximum) are fine: they are re-evaluated. Comparisons and `float()` on Values seen
while tracing set `Compiled.data_dependent` (and warn); `check=True` re-traces on every call
and raises `GraphChangedError` when the structure differs. A domain error at replay re-runs the
interpreter on that row, which raises exactly the error it would have raised (or, where the
replay only saw an IEEE flag, gives its numbers). Under `detect_anomaly()` every row runs in the
interpreter. Only the nodes the output depends on are replayed, and nodes that depend on no
input or parameter are folded into constants. `value_and_grad_batch(rows, input_grads=False)`
(training: only the parameters' gradients are used) replays a second program whose reverse
sweep keeps only the statements that lead to a parameter: the same numbers, fewer statements.

The contract (docs/compiled.md): inputs and the parameters' data are read at every call;
everything else f reads is baked in at the trace. Parameters must be leaves (ValueError). The
trace records which nodes it made (`core.record_nodes`): a computed Value made before it that
depends on a parameter (the interpreter reads its stored data; replay would recompute it) is a
ValueError naming it. `backward` adds into a nonzero `.grad` contribution by contribution, as
the interpreter does (bit for bit).
`param_data=` is never written into the shared `.data` (the interpreter re-runs the traced graph
with fresh leaves at those values), so threads may share a Compiled; a failing batch leaves
`accumulate` as it was, and its error carries "(in row r of the batch)" on every backend.
"""

from __future__ import annotations

import ctypes
import math
import struct
import threading
import warnings
from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from itertools import chain
from typing import Any

from ..engine import ops
from ..engine.errors import AutogradError
from ..engine.modes import anomaly_enabled, enable_grad
from ..engine.traversal import grad
from ..engine.value import Primitive, Value, _leaf, describe, to_float
from . import native
from .emit import _c_source, _CEmitter, _PyEmitter, _python_source
from .native import NativeUnavailableError, NativeUnavailableWarning
from .program import _Graph, _Program, check_leaf, exact

BACKENDS = ("auto", "c", "python")


class GraphChangedError(AutogradError, RuntimeError):
    """`check=True` found that `f` records a different graph for these inputs than at trace."""


def foreign_node_error(where: str, node: Value) -> ValueError:
    """The error for a computed Value that f did not make but that depends on a parameter."""
    label = f" {node.label!r}" if node.label else ""
    op = node._prim.name if node._prim is not None else "an op"
    e = ValueError(
        f"{where}: f uses a Value{label} (made by {op!r}, data {node.data!r}) "
        "that was computed from a parameter before the trace: the interpreter uses its stored "
        "data, replay would recompute it from the parameter's current data. Compute it inside "
        "f (e.g. a property: self.w * 3.0 at every call), or detach it (Value(v.data)) if it "
        "is meant as a constant")
    e.foreign_node = node  # type: ignore[attr-defined]  # (read by nn's implicit caches)
    return e


class DataDependenceWarning(UserWarning):
    """`f` compared Values or took `float()` of one while tracing: its branches are frozen."""


_warned_no_compiler = [False]


class Compiled:
    """A traced function as straight-line float code: `forward`, `value_and_grad`, `backward`,
    and their batch forms `forward_batch`, `value_and_grad_batch`.

    Gradients come in the order: one per input, then one per parameter. Parameters are read
    from their `.data` at every call, so an optimizer's updates are seen. `backend` is "c"
    (native, a loop over rows in C) or "python" (Python replay).
    """

    def __init__(self, f: Callable[..., Any], example_inputs: Sequence[Any],
                 params: Sequence[Value] = (), check: bool = False,
                 has_aux: bool = False, backend: str = "auto") -> None:
        where = "compile_grad"
        if not callable(f):
            raise TypeError(f"{where}: f must be callable, got {describe(f)}")
        if backend not in BACKENDS:
            raise ValueError(f"{where}: backend must be one of {BACKENDS}, got "
                             f"{describe(backend)}")
        xs = [exact(x.data) if isinstance(x, Value) else to_float(x, f"{where} input {i}")
              for i, x in enumerate(example_inputs)]
        self.params = list(params)
        for j, q in enumerate(self.params):
            if not isinstance(q, Value):
                raise TypeError(f"{where}: params[{j}] must be a Value, got {describe(q)}")
            check_leaf(q, f"{where}: params[{j}]")
        if len(set(self.params)) != len(self.params):
            raise ValueError(f"{where}: a parameter is listed twice")
        self.f = f
        self.check = bool(check)
        self.has_aux = bool(has_aux)
        self.n_inputs = len(xs)
        graph = _Graph(f, xs, self.params, where, self.has_aux)
        if graph.foreign:
            raise foreign_node_error(where, graph.foreign[0])
        self._signature = graph.signature
        self.n_nodes = len(graph.order)
        self.n_aux = len(graph.aux)
        self.data_dependent = graph.data_reads > 0
        if self.data_dependent:
            warnings.warn(
                f"{where}: f compared Values, called float() on one or read .data "
                f"{graph.data_reads} time(s) while tracing; Python branches on data are frozen "
                "at the example inputs (use check=True to detect a changed graph)",
                DataDependenceWarning, stacklevel=3)
        n_params = len(self.params)
        namespace: dict[str, Any] = dict(ops.PY_NAMES, K=[], P=[])
        self._namespace = namespace
        emit = _PyEmitter(namespace)
        self.source = _python_source(_Program(graph, n_params, emit), self.n_inputs, n_params,
                                     True, self.has_aux)
        # The forward-only source is generated now (the graph is not kept) but compiled on
        # first use: training needs only value_and_grad.
        self.forward_source = _python_source(_Program(graph, n_params, emit), self.n_inputs,
                                             n_params, False, self.has_aux)
        self.c_source: str | None = None
        #: The C source without input gradients (`value_and_grad_batch(input_grads=False)`),
        #: built into its own library on first use.
        self.c_source_params: str | None = None
        self._lib: Any = None
        self._lib_params: Any = None
        # Lazy builds (and `_build`'s use of the shared namespace) happen under this lock.
        self._lazy_lock = threading.RLock()
        self.backend = "python"
        if backend != "python":
            self._lib = self._native(graph, backend)
        #: The traced graph, kept: Python replay without input gradients is generated from it
        #: on first use, and the interpreter re-runs it with `param_data` substituted for the
        #: parameters (see `_replay`) rather than writing them into the shared `.data`.
        self._graph = graph
        del graph
        self._vg: Callable[..., Any] | None = None
        self._vgp: Callable[..., Any] | None = None
        self._vgc: Callable[..., Any] | None = None
        if self._lib is None:
            self._vg = self._build(self.source, "value_and_grad")
        self._fw: Callable[..., Any] | None = None

    def _native(self, graph: _Graph, backend: str) -> Any:
        """The loaded C library, or None (auto: Python replay; warns once if no compiler)."""
        missing = native.missing_template(graph.primitives())
        why = None
        if missing is not None:
            why = (f"primitive {missing.name!r} has no C template (give its record a `c` "
                   "template, or use backend='python')")
        if why is None:
            found = native.find_compiler()
            if isinstance(found, str):
                why = found
                if backend == "auto" and not _warned_no_compiler[0]:
                    _warned_no_compiler[0] = True
                    warnings.warn(f"compile_grad: using Python replay, {why}",
                                  NativeUnavailableWarning, stacklevel=4)
        if why is None:
            cemit = _CEmitter(len(graph.order))
            prog = _Program(graph, len(self.params), cemit)
            if cemit.non_finite and backend == "auto":
                # A constant inf/nan could reach inf / 0 without an IEEE flag: Python replay
                # (with "c", every row is flagged and runs in the interpreter instead).
                return None
            m = len(self.params)
            self.c_source, scratch, used = _c_source(prog, self.n_inputs, m, len(graph.order),
                                                     cemit.non_finite)
            self._n_lines = len(prog.forward) + len(prog.backward)
            try:
                lib = self._load(self.c_source, self._n_lines)
            except NativeUnavailableError as e:
                if backend == "c":
                    raise
                warnings.warn(f"compile_grad: using Python replay: {e}",
                              NativeUnavailableWarning, stacklevel=4)
                return None
            self.backend = "c"
            # The sweep without input gradients: its own source (and library, on first use).
            prog = _Program(graph, m, _CEmitter(len(graph.order)), input_grads=False)
            self.c_source_params, scratch_p, _ = _c_source(
                prog, self.n_inputs, m, len(graph.order), cemit.non_finite, input_grads=False)
            self._n_lines_params = len(prog.forward) + len(prog.backward)
            self._scratch_bytes = 8 * max(scratch, scratch_p, 1)
            self._scratch = array("d", bytes(self._scratch_bytes))
            self._scratch_lock = threading.Lock()
            # One row's parameter gradients start from -0.0 (x + -0.0 is x, signed zeros
            # included); a parameter the output does not depend on gets 0.0, as the interpreter.
            self._pg_single = array("d", [0.0] * m)
            for j in used:
                self._pg_single[j] = -0.0
            return lib
        if backend == "c":
            raise NativeUnavailableError(f"compile_grad(backend='c'): {why}")
        return None

    @staticmethod
    def _load(source: str, n_lines: int) -> Any:
        """Build (or find in the cache) and load a generated C source; set its signatures."""
        lib = native.load(source, n_lines)
        vg, fw = lib.al_vg, lib.al_fw
        ptr = ctypes.c_void_p
        vg.argtypes = [ctypes.c_long, ptr, ptr, ptr, ptr, ptr, ctypes.POINTER(ctypes.c_long), ptr]
        fw.argtypes = [ctypes.c_long, ptr, ptr, ptr, ctypes.POINTER(ctypes.c_long), ptr]
        vg.restype = fw.restype = ctypes.c_int
        return lib

    def _params_lib(self) -> Any:
        """The library without input gradients, built on first use; None when it cannot be
        built or loaded now (a full disk): the full program serves, with one warning."""
        with self._lazy_lock:
            if self._lib_params is None:
                assert self.c_source_params is not None
                try:
                    self._lib_params = self._load(self.c_source_params, self._n_lines_params)
                except NativeUnavailableError as e:
                    self._lib_params = False
                    warnings.warn(f"compiled function: the program without input gradients "
                                  f"cannot be built ({e}); the full program is used",
                                  NativeUnavailableWarning, stacklevel=4)
        return self._lib_params or None

    def _params_fn(self) -> Callable[..., Any]:
        """Python replay without input gradients, generated and compiled on first use."""
        with self._lazy_lock:
            if self._vgp is None:
                prog = _Program(self._graph, len(self.params), _PyEmitter(self._namespace),
                                input_grads=False)
                self._vgp = self._build(_python_source(prog, self.n_inputs, len(self.params),
                                                       True, self.has_aux),
                                        "value_and_param_grads")
        return self._vgp

    def _forward_fn(self) -> Callable[..., Any]:
        """Python replay's forward-only function, compiled on first use."""
        with self._lazy_lock:
            if self._fw is None:
                self._fw = self._build(self.forward_source, "forward")
        return self._fw

    def _build(self, source: str, what: str) -> Callable[..., Any]:
        """Compile generated source (never user text) into its function `fn` (under the lock:
        two threads must not exchange their `fn`s through the shared namespace)."""
        with self._lazy_lock:
            exec(compile(source, f"<autograd_lite.compile: {what}>", "exec"), self._namespace)
            return self._namespace.pop("fn")

    def __repr__(self) -> str:
        return (f"<Compiled {self.n_nodes} nodes, {self.n_inputs} input(s), "
                f"{len(self.params)} parameter(s), backend {self.backend!r}>")

    def same_graph(self, xs: Sequence[Any]) -> bool:
        """Re-trace f at `xs`: True when it records exactly the traced graph (structure, every
        constant bit for bit, the same parameters) without reading data. The guard for
        callers that cannot otherwise tell whether what f reads has changed since the trace
        (it costs one interpreted forward pass)."""
        try:
            fl, _ = self._args(xs)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                graph = _Graph(self.f, fl, self.params, "compiled function", self.has_aux)
        except Exception:  # not inputs of f, or f fails at them now: not the traced function
            return False
        return graph.data_reads == 0 and not graph.foreign and graph.signature == self._signature

    # ---- arguments ---------------------------------------------------------------------------
    def _params(self) -> Any:
        """The parameters' current data: an array("d") for C, floats for Python replay."""
        if self._lib is not None:
            try:
                return array("d", [q.data for q in self.params])  # faster than map
            except TypeError:
                pass
        datas = [q.data for q in self.params]
        if set(map(type, datas)) <= {float}:
            return datas
        return [exact(d) for d in datas]

    def _args(self, xs: Sequence[Any]) -> tuple[list[float], list[float]]:
        if isinstance(xs, (str, bytes, bytearray, Mapping, AbstractSet)) or not (
                hasattr(xs, "__len__") and hasattr(xs, "__getitem__")):
            raise TypeError(f"compiled function: inputs must be a sequence of "
                            f"{self.n_inputs} real numbers, got {describe(xs)}")
        if len(xs) != self.n_inputs:
            raise ValueError(f"compiled function takes {self.n_inputs} inputs, got {len(xs)}")
        fl = [x if type(x) is float and x == x else to_float(x, f"compiled input {i}")
              for i, x in enumerate(xs)]
        return fl, self._params()

    def _param_data(self, param_data: Sequence[Any]) -> array[float]:
        """`param_data` as an array("d") of one plain float per parameter (checked)."""
        m = len(self.params)
        if isinstance(param_data, (str, bytes, bytearray, Mapping, AbstractSet)) or not (
                hasattr(param_data, "__len__") and hasattr(param_data, "__getitem__")):
            raise TypeError(f"param_data must be a sequence of {m} real numbers, got "
                            f"{describe(param_data)}")
        if len(param_data) != m:
            raise ValueError(f"compiled function has {m} parameters, param_data has "
                             f"{len(param_data)}")
        if isinstance(param_data, array) and param_data.typecode == "d":
            return param_data
        if set(map(type, param_data)) <= {float, int}:  # (not bool: not a real number here)
            try:
                return array("d", param_data)
            except OverflowError:
                pass
        return array("d", [exact(v) if isinstance(v, float) else to_float(v, f"param_data[{j}]")
                           for j, v in enumerate(param_data)])

    def _rows(self, rows: Any, check_nan: bool = True) -> tuple[array[float], int]:
        """Rows as one flat array of doubles: a sequence of rows (lists, tuples, `array`s,
        1-D numpy arrays), or a 2-D buffer of real numbers (numpy of any float or int dtype;
        bool is not a real number: TypeError). A NaN raises ValueError (`check_nan=False`:
        the C function checks, see `_c_run`)."""
        k = self.n_inputs
        if isinstance(rows, (str, bytes, bytearray, Mapping, AbstractSet)):
            raise TypeError(f"compiled function: rows must be a sequence of rows of {k} real "
                            f"numbers (a list of lists, or a 2-D array), got {describe(rows)}")
        try:
            mv: memoryview | None = memoryview(rows)
        except (TypeError, ValueError):  # no buffer (numpy raises ValueError for some dtypes)
            mv = None
        if mv is not None and mv.format == "O":  # Python objects: each one checked below
            mv = None
        if mv is not None:
            if mv.format.lstrip("@=<>!") not in _REAL_FORMATS:
                dtype = getattr(rows, "dtype", None)
                got = f"dtype {dtype}" if dtype is not None else f"format {mv.format!r}"
                raise TypeError(f"compiled function: rows must hold real numbers (float or "
                                f"int), got a buffer of {got}")
            if mv.ndim != 2 or mv.shape is None or mv.shape[1] != k:
                raise ValueError(f"compiled function: rows must be a 2-D array of shape "
                                 f"(n, {k}), got shape {mv.shape}")
            n = mv.shape[0]
            if n == 0 or k == 0:  # no numbers to read (a function of no inputs: n rows)
                return array("d"), n
            if mv.format in ("d", "@d") and mv.c_contiguous:
                buf = array("d")
                buf.frombytes(mv.cast("B"))
            else:
                try:
                    nested: list[Any] = mv.tolist()
                    items = list(chain.from_iterable(nested))
                except (NotImplementedError, TypeError, ValueError):  # e.g. big-endian
                    items = [v for r in rows for v in r]
                buf = array("d", [exact(v) if isinstance(v, float) else
                                  to_float(v, f"compiled input {j % k} of row {j // k}")
                                  for j, v in enumerate(items)])
            if check_nan:
                self._check_nan(buf)
            return buf, n
        if not isinstance(rows, Iterable):
            raise TypeError(f"compiled function: rows must be a sequence of rows of {k} real "
                            f"numbers (a list of lists, or a 2-D array), got {describe(rows)}")
        rows = list(rows)
        n = len(rows)
        if set(map(type, rows)) <= {list, tuple} and set(map(len, rows)) <= {k}:
            pass  # the common case, checked in bulk
        else:
            self._check_rows(rows)
        items = list(chain.from_iterable(rows))
        flat: array[float] | None = None
        if set(map(type, items)) <= {float, int}:
            try:
                flat = array("d", items)
            except OverflowError:
                flat = None
        if flat is None:
            flat = array("d", [to_float(v, f"compiled input {j % k} of row {j // k}")
                               for j, v in enumerate(items)])
        if check_nan:
            self._check_nan(flat)
        return flat, n

    def _check_rows(self, rows: list[Any]) -> None:
        k = self.n_inputs
        for i, row in enumerate(rows):
            if isinstance(row, (str, bytes, bytearray, Mapping, AbstractSet)) or not (
                    hasattr(row, "__len__") and hasattr(row, "__getitem__")) or getattr(
                    row, "ndim", 1) != 1:
                raise TypeError(f"compiled function: row {i} must be a sequence of {k} real "
                                f"numbers, got {describe(row)}")
            if len(row) != k:
                raise ValueError(f"compiled function takes {k} inputs, got {len(row)} in "
                                 f"row {i}")

    def _check_nan(self, flat: array[float]) -> None:
        total = sum(flat)
        if total == total:
            return
        for j, v in enumerate(flat):
            if v != v:
                self._nan_error(j)

    def _nan_error(self, j: int) -> None:
        """Raise the error for a NaN at index `j` of the flat rows."""
        k = self.n_inputs
        e = ValueError(f"compiled input {j % k} of row {j // k}: got NaN, a Value needs a "
                       "number (inf is allowed)")
        e.add_note(_row_note(j // k))
        raise e

    def _at(self, pd: Sequence[float], sub: Sequence[float] | None) -> Sequence[float] | None:
        """The parameter values the interpreter must run at for a call that read `pd`: `sub`
        (given by the caller), else None (f reads the parameters themselves) when their data
        still is `pd`, else `pd` (another thread changed them during the call: the batch stays
        at the values it started with)."""
        if sub is not None:
            return sub
        now = [q.data for q in self.params]
        same = all(a == b and (a != 0.0 or math.copysign(1.0, a) == math.copysign(1.0, b))
                   or (a != a and b != b) for a, b in zip(now, pd))
        return None if same else list(pd)

    # ---- the reference -----------------------------------------------------------------------
    def _trace_checked(self, xs: list[float]) -> _Graph:
        """f traced at `xs` (with `check=True`, a changed structure raises)."""
        graph = _Graph(self.f, xs, self.params, "compiled function", self.has_aux)
        if self.check and graph.signature != self._signature:
            raise GraphChangedError(
                "compiled function: f records a different graph than at trace time ("
                f"{_what_changed(self._signature, graph.signature)}): a constant it reads or "
                "its control flow changed; call compile_grad again, or use the interpreter")
        return graph

    def _replay(self, xs: list[float], pd: Sequence[float], fresh: bool = False
                ) -> tuple[list[Value], list[Value], Value, list[Value]]:
        """The traced graph rebuilt by the interpreter (each op applied to Values) with fresh
        leaves for the inputs and for the parameters at `pd`: (inputs, parameters, output,
        aux). The parameters' shared `.data` is neither read nor written, so another thread
        using them meanwhile sees nothing; the ops, their order and so their errors and
        numbers are f's at those values (its structure is frozen at the trace, as replay's)."""
        g = self._graph
        if self.check:
            self._trace_checked(xs)  # the structure check reads f; the numbers come from here
        inputs = [_leaf(x) for x in xs]
        params = [_leaf(exact(d)) for d in pd]
        new: dict[Value, Value] = {}
        const: set[Value] = set()
        with enable_grad():
            for node in g.order:
                r = g.role.get(node)
                if r is not None:
                    new[node] = inputs[r[1]] if r[0] == "x" else params[r[1]]
                elif node._prim is None or all(q in const for q in node.parents):
                    const.add(node)  # a constant of the trace (no input or parameter in it)
                    # `fresh`: a copy, so that a backward pass writes no traced node.
                    new[node] = _leaf(node._d) if fresh else node
                else:
                    new[node] = node._prim(*[new[q] for q in node.parents], *node.params)
        return inputs, params, new[g.out], [new[v] for v in g.aux]

    def _interpret(self, xs: list[float], pd: Sequence[float] | None = None
                   ) -> tuple[Any, tuple[float, ...]]:
        """The reference: run f with Values and take gradients with the interpreter (at the
        parameter values `pd`, when given, on the traced graph: see `_replay`)."""
        if pd is None:
            graph = self._trace_checked(xs)
            inputs, params, out, aux = graph.inputs, self.params, graph.out, graph.aux
        else:
            inputs, params, out, aux = self._replay(xs, pd)
        gs = grad(out, inputs + params, allow_unused=True, materialize_grads=True)
        value: Any = out.data
        if self.has_aux:
            value = (value, tuple(v.data for v in aux))
        return value, tuple(gs)

    def _interpret_row(self, xs: list[float], r: int | None,
                       pd: Sequence[float] | None = None) -> tuple[Any, tuple[float, ...]]:
        try:
            return self._interpret(xs, pd)
        except Exception as e:
            if r is not None:
                _note_row(e, r)
            raise

    def _forward_row(self, xs: list[float], r: int | None,
                     pd: Sequence[float] | None = None) -> Any:
        """The interpreter's forward value (no backward pass: an error in it is not ours)."""
        try:
            if pd is None:
                graph = self._trace_checked(xs)
                out, aux = graph.out, graph.aux
            else:
                _, _, out, aux = self._replay(xs, pd)
        except Exception as e:
            if r is not None:
                _note_row(e, r)
            raise
        if self.has_aux:
            return out.data, tuple(v.data for v in aux)
        return out.data

    # ---- one row -----------------------------------------------------------------------------
    def forward(self, xs: Sequence[Any]) -> Any:
        """f(*xs) as a float (with has_aux: `(value, aux floats)`)."""
        fl, pd = self._args(xs)
        return self._forward_at(fl, pd, None, None)

    def _forward_at(self, fl: list[float], pd: Any, sub: Sequence[float] | None,
                    r: int | None) -> Any:
        """One row's forward value at parameter data `pd` (`sub`: the same, given by the
        caller, so the interpreter substitutes it); `r`: the row, named in errors."""
        if self.check or anomaly_enabled():
            return self._forward_row(fl, r, self._at(pd, sub))
        if self._lib is not None:
            return self._c_run(False, array("d", fl), 1, pd, subst=sub is not None,
                               row=r)[0][0]
        try:
            return self._forward_fn()(fl, pd)
        except (ArithmeticError, ValueError):
            # The interpreter is the reference: it raises its own error, or gives the value.
            return self._forward_row(fl, r, self._at(pd, sub))

    def value_and_grad(self, xs: Sequence[Any]) -> tuple[Any, tuple[float, ...]]:
        """(f(*xs), gradients): d f / d xs[i] for each input, then d f / d params[j].

        With has_aux, the value is `(f's Value as a float, tuple of aux floats)`, as in JAX.
        """
        fl, pd = self._args(xs)
        return self._value_and_grad_at(fl, pd, None, None)

    def _value_and_grad_at(self, fl: list[float], pd: Any, sub: Sequence[float] | None,
                           r: int | None) -> tuple[Any, tuple[float, ...]]:
        """One row's value and gradients at parameter data `pd` (see `_forward_at`)."""
        if anomaly_enabled():
            return self._interpret_row(fl, r, self._at(pd, sub))
        if self._lib is not None:
            values, grads, total = self._c_run(True, array("d", fl), 1, pd, single=True,
                                               subst=sub is not None, row=r)
            assert grads is not None
            value, result = values[0], grads[0] + tuple(total)
        else:
            assert self._vg is not None
            try:
                value, result = self._vg(fl, pd)
            except (ArithmeticError, ValueError):
                return self._interpret_row(fl, r, self._at(pd, sub))  # its error, or its result
        if self.check:
            ref = self._interpret_row(fl, r, self._at(pd, sub))
            if not _close(ref, (value, result)):
                raise GraphChangedError(
                    f"compiled function disagrees with the interpreter at {fl}: "
                    f"{(value, result)} vs {ref}")
        return value, result

    def backward(self, xs: Sequence[Any]) -> Any:
        """Like `f(*xs).backward()` for the parameters: add their gradients to `.grad`, bit
        for bit as the interpreter does (each contribution added to `.grad` in turn)."""
        fl, pd = self._args(xs)
        start = [q.grad for q in self.params]
        if all(type(h) is float and h == 0.0 for h in start):
            # From zero, adding the sum or each contribution in turn are the same numbers.
            value, grads = self._value_and_grad_at(fl, pd, None, None)
            for q, gq in zip(self.params, grads[self.n_inputs:]):
                q.grad += gq
            return value
        hs = [exact(h) for h in start]
        totals: Sequence[float] | None = None
        if not (self.check or anomaly_enabled()):
            try:
                value, totals = self._carry_fn()(fl, pd, hs)
            except (ArithmeticError, ValueError):
                totals = None  # the interpreter raises its own error, or gives its numbers
        if totals is None:
            inputs, params, out, aux = self._replay(fl, self._at(pd, None) or pd, fresh=True)
            for leaf, h in zip(params, hs):
                leaf.grad = h
            out.backward()
            totals = [leaf.grad for leaf in params]
            value = (out.data, tuple(v.data for v in aux)) if self.has_aux else out.data
        for q, t in zip(self.params, totals):
            q.grad = t
        return value

    def _carry_fn(self) -> Callable[..., Any]:
        """Python replay whose parameter gradients start from given values (`backward`)."""
        with self._lazy_lock:
            if self._vgc is None:
                prog = _Program(self._graph, len(self.params), _PyEmitter(self._namespace),
                                input_grads=False, carry=True)
                self._vgc = self._build(_python_source(prog, self.n_inputs, len(self.params),
                                                       True, self.has_aux, carry=True),
                                        "backward")
        return self._vgc

    # ---- batches -----------------------------------------------------------------------------
    def forward_batch(self, rows: Any, *, param_data: Sequence[float] | None = None
                      ) -> list[Any]:
        """f at every row of `rows` (a sequence of rows of real numbers, or a 2-D array of
        floats or ints): the values (with has_aux, `(value, aux floats)` per row).
        `param_data`: parameter values to use instead of the parameters' `.data`."""
        native_run = self._lib is not None and not (self.check or anomaly_enabled())
        flat, n = self._rows(rows, check_nan=not native_run)
        sub = None if param_data is None else self._param_data(param_data)
        pd: Any = self._params() if sub is None else (
            sub if self._lib is not None else sub.tolist())
        k = self.n_inputs
        if native_run:
            return self._c_run(False, flat, n, pd, subst=sub is not None, batch=True)[0]
        values = []
        for r in range(n):
            try:
                values.append(self._forward_at(flat[r * k:(r + 1) * k].tolist(), pd, sub, r))
            except Exception as e:  # any error, the replay's own included (a user primitive)
                _note_row(e, r)
                raise
        return values

    def value_and_grad_batch(self, rows: Any, *, param_data: Sequence[float] | None = None,
                             accumulate: array[float] | None = None, input_grads: bool = True
                             ) -> tuple[list[Any], list[tuple[float, ...]] | None,
                                        tuple[float, ...]]:
        """(values, input gradients per row, parameter gradients summed over the rows).

        The parameter gradients are those of the sum of f over the rows (added in row order);
        divide by the number of rows for a mean. With the C backend the loop over rows runs in
        C: one native call for the whole batch. `param_data`: parameter values to use instead
        of reading the parameters' `.data` (read once for several calls; the parameters are
        never written, so threads may share a Compiled, each with its own `param_data`);
        `accumulate`: an `array("d")` of one float per parameter that this batch's sums are
        added into, so several calls sum without Python loops (the third result is then
        `accumulate`; when the batch raises, `accumulate` is left as it was).
        `input_grads=False`: the input gradients are neither computed nor returned (the second
        result is None), for training, where only the parameters' are used; the values and
        parameter gradients are the same numbers. An error in row r carries the note
        "(in row r of the batch)", whichever backend ran it.
        """
        native_run = self._lib is not None and not (self.check or anomaly_enabled())
        m = len(self.params)
        if accumulate is not None and (not isinstance(accumulate, array) or
                                       accumulate.typecode != "d" or len(accumulate) != m):
            raise TypeError(f"accumulate must be an array('d') of {m} floats, got "
                            f"{describe(accumulate)}")
        sub = None if param_data is None else self._param_data(param_data)
        if sub is not None and accumulate is not None and _overlap(sub, accumulate):
            sub = array("d", sub)  # read as it was: the rows' sums are written into accumulate
        flat, n = self._rows(rows, check_nan=not native_run)
        if native_run:
            pd = self._params() if sub is None else sub
            saved = None if accumulate is None else array("d", accumulate)
            try:
                return self._c_run(True, flat, n, pd, accumulate, bool(input_grads),
                                   subst=sub is not None, batch=True)
            except BaseException:
                if accumulate is not None and saved is not None:
                    accumulate[:] = saved  # rows before the failing one were added: undo
                raise
        return self._python_batch(flat, n, sub, accumulate, bool(input_grads))

    def _python_batch(self, flat: array[float], n: int, sub: array[float] | None,
                      accumulate: array[float] | None, input_grads: bool
                      ) -> tuple[list[Any], list[tuple[float, ...]] | None, Any]:
        """`value_and_grad_batch` by Python replay (or, with check / anomaly, the interpreter
        row by row): `accumulate` is only written once every row is done."""
        k, m = self.n_inputs, len(self.params)
        pd: Any = self._params() if sub is None else (
            sub if self._lib is not None else sub.tolist())
        values = []
        grads: list[tuple[float, ...]] | None = [] if input_grads else None
        # Each row's sums are added into accumulate's values in turn, as the C loop does (and
        # written back once every row is done).
        pg = [0.0] * m if accumulate is None else accumulate.tolist()
        # Python replay without input gradients: its own (shorter) program; an error in it
        # goes to the interpreter, through the full program (which raises it again).
        fast = None if (input_grads or self.check or anomaly_enabled()
                        or self._lib is not None) else self._params_fn()
        for r in range(n):
            xs = flat[r * k:(r + 1) * k].tolist()
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
                    value, g = self._value_and_grad_at(xs, pd, sub, r)
                    pg = [a + b for a, b in zip(pg, g[k:])]
            except Exception as e:  # any error, the replay's own included (a user primitive)
                _note_row(e, r)
                raise
            values.append(value)
            if grads is not None:
                grads.append(g[:k])
        if accumulate is not None:
            accumulate[:] = array("d", pg)
            return values, grads, accumulate
        return values, grads, tuple(pg)

    # ---- the C calls -------------------------------------------------------------------------
    def _outputs(self, V: array[float], n: int) -> list[Any]:
        nv = 1 + self.n_aux
        if not self.has_aux:
            return V.tolist()
        out = V.tolist()
        return [(out[r * nv], tuple(out[r * nv + 1:(r + 1) * nv])) for r in range(n)]

    def _call(self, fn: Any, *args: Any) -> int:
        """Call a C function with scratch space: the shared one, or a fresh one when another
        thread is using it (ctypes releases the GIL during the call)."""
        if self._scratch_lock.acquire(blocking=False):
            try:
                return fn(*args, self._scratch.buffer_info()[0])
            finally:
                self._scratch_lock.release()
        scratch = array("d", bytes(self._scratch_bytes))
        return fn(*args, scratch.buffer_info()[0])

    def _c_run(self, with_grad: bool, flat: array[float], n: int, pd: Sequence[float],
               accumulate: array[float] | None = None, input_grads: bool = True,
               single: bool = False, subst: bool = False, batch: bool = False,
               row: int | None = None
               ) -> tuple[list[Any], list[tuple[float, ...]] | None, Any]:
        """(values, input grads per row or None, param grads summed: a tuple, or `accumulate`)
        from the C function, which checks the inputs and parameters itself (see `_c_source`).
        A NaN input raises ValueError (before any row runs); rows that raised a flag or hold
        an inf, and every row when a parameter is not finite, run in the interpreter: with
        finite values in, every Python error and every non-finite result raises an IEEE flag in
        C, but a non-finite value in could reach, e.g., inf / 0 (Python raises, IEEE gives inf
        silently). `single`: one row's own gradients (the sum starts from -0.0, not 0.0).
        `subst`: `pd` was given by the caller, so the interpreter runs at it (`_replay`), not
        at the parameters' `.data`. `batch`: errors name the row; `row`: the row this one-row
        call is (for a caller's batch)."""
        k, nv, m = self.n_inputs, 1 + self.n_aux, len(self.params)
        lib = self._lib
        keep_grads = input_grads
        if with_grad and not input_grads:
            lib = self._params_lib()
            if lib is None:  # the full program: its input gradients computed, then dropped
                lib, input_grads = self._lib, True
        P = pd if isinstance(pd, array) and pd.typecode == "d" else array("d", pd)
        V = array("d", bytes(8 * n * nv))
        G = array("d", bytes(8 * n * k)) if with_grad and input_grads else None
        if accumulate is not None:
            PG = accumulate
        elif single:
            PG = array("d", self._pg_single)
        else:
            PG = array("d", bytes(8 * m))
        fail = ctypes.c_long(0)
        x0, p0, v0 = flat.buffer_info()[0], P.buffer_info()[0], V.buffer_info()[0]
        g0 = G.buffer_info()[0] if G is not None else 0
        pg0 = PG.buffer_info()[0]
        patched: dict[int, tuple[Any, tuple[float, ...]]] = {}
        interpret_all = False
        at: list[float] | None = None
        row_at: Sequence[float] | None
        start = 0
        while start < n:
            if interpret_all:
                r = start
            else:
                if with_grad:
                    rc = self._call(lib.al_vg, n - start, x0 + 8 * k * start, p0,
                                    v0 + 8 * nv * start, g0 and g0 + 8 * k * start, pg0,
                                    ctypes.byref(fail))
                else:
                    rc = self._call(lib.al_fw, n - start, x0 + 8 * k * start, p0,
                                    v0 + 8 * nv * start, ctypes.byref(fail))
                if rc == 0:
                    break
                if rc == 3:
                    j = k * start + fail.value
                    if batch:
                        self._nan_error(j)
                    raise ValueError(f"compiled input {j % k}: got NaN, a Value needs a "
                                     "number (inf is allowed)")
                interpret_all = rc == 2
                r = start if interpret_all else start + fail.value
            xs = flat[r * k:(r + 1) * k].tolist()
            where = r if batch else row
            if not subst:
                row_at = self._at(P, None)  # P, if another thread changed the parameters
            else:
                if at is None:
                    at = P.tolist()
                row_at = at
            if with_grad:
                value, g = self._interpret_row(xs, where, row_at)
                for j in range(m):
                    PG[j] += g[k + j]
            else:
                value, g = self._forward_row(xs, where, row_at), ()
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
        total: Any = PG if accumulate is not None else tuple(PG.tolist())
        return values, grads if keep_grads else None, total


def _what_changed(old: list[Any], new: list[Any]) -> str:
    """The first difference between two graph signatures (`_Graph.signature`), in words."""
    def show(entry: Any) -> str:
        kind = entry[0] if isinstance(entry, tuple) and entry else None
        if kind == "c":
            return f"the constant {struct.unpack('<d', entry[1])[0]!r}" \
                if isinstance(entry[1], bytes) else f"the constant {entry[1][1]!r}"
        if kind == "x":
            return f"input {entry[1]}"
        if kind == "p":
            return f"parameter {entry[1]}"
        if isinstance(kind, Primitive):
            ps = [struct.unpack("<d", q)[0] if isinstance(q, bytes) else q[1]
                  for q in entry[2]]
            shown = f"({', '.join(map(repr, ps))})" if ps else ""
            return f"{kind.name}{shown} of nodes {list(entry[1])}"
        return f"outputs {list(entry)}"

    for k, (a, b) in enumerate(zip(old, new)):
        if a != b:
            return f"node {k} was {show(a)}, now {show(b)}"
    return f"{len(new) - 1} nodes now, {len(old) - 1} at trace time"


def _overlap(a: array[float], b: array[float]) -> bool:
    """Whether two arrays share memory (one is the other: C would read what it writes)."""
    (pa, na), (pb, nb) = a.buffer_info(), b.buffer_info()
    return na > 0 and nb > 0 and pa < pb + 8 * nb and pb < pa + 8 * na


def _row_note(r: int) -> str:
    """The note every backend adds to an error raised while running row `r` of a batch."""
    return f"(in row {r} of the batch)"


def _note_row(e: BaseException, r: int) -> None:
    """Add row `r`'s note to `e`, once."""
    note = _row_note(r)
    if note not in getattr(e, "__notes__", ()):
        e.add_note(note)


#: memoryview formats of real numbers: ints of every width, half, single, double and long
#: double floats (numpy's float128, read as its float64 value, as `Value(x)` reads it).
_REAL_FORMATS = frozenset("bBhHiIlLqQnNefdg")


def _close(a: tuple[Any, tuple[float, ...]], b: tuple[Any, tuple[float, ...]]) -> bool:
    def flat(r: tuple[Any, tuple[float, ...]]) -> tuple[float, ...]:
        v = r[0]
        return (v[0], *v[1], *r[1]) if isinstance(v, tuple) else (v, *r[1])

    xs = flat(a)
    ys = flat(b)
    return len(xs) == len(ys) and all(
        x == y or (x != x and y != y) or math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)
        for x, y in zip(xs, ys))


def compile_grad(f: Callable[..., Any], example_inputs: Sequence[Any],
                 params: Sequence[Value] = (), check: bool = False,
                 has_aux: bool = False, *, backend: str = "auto") -> Compiled:
    """Trace `f(*inputs)` once at `example_inputs` and compile its forward and gradients.

    `params`: Values used inside `f` (model weights) whose current data is read at each call
    and whose gradients are returned after the inputs'. Other leaves `f` uses are frozen as
    constants. `check=True` compares every call with the interpreter (slow; for debugging).
    `has_aux=True`: f returns `(scalar Value, Values)`; the aux Values' data come back with
    the value (e.g. a model's outputs next to its loss). `backend`: "c" (native code from the
    system C compiler; raises NativeUnavailableError saying why when it cannot), "python"
    (Python replay), or "auto" (C when possible, else Python; see `Compiled.backend`).
    """
    return Compiled(f, example_inputs, params, check, has_aux, backend)

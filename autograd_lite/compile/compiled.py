"""Compiled replay: trace a function's scalar graph once, then run it as straight-line floats.

    from autograd_lite import compile_grad
    c = compile_grad(lambda x, y: (x * y).tanh(), [0.5, 2.0])
    value, (dx, dy) = c.value_and_grad([0.3, -1.0])     # no Values, no graph, no dispatch
    values, input_grads, param_grads = c.value_and_grad_batch([[0.3, -1.0], [1.0, 2.0]])

`compile_grad` calls `f` once with Values, takes the graph it recorded, and generates one
straight-line program: the forward pass over plain floats, then the reverse sweep unrolled (one
line per local derivative, in exactly `backward()`'s order, so the numbers are the same). Two
backends run it: `"c"` compiles it as a C function that loops over a whole batch of rows
(see `autograd_lite.compile.native`); `"python"` runs it as Python source. `"auto"` (the default)
picks C when a working compiler exists and every primitive in the graph has a C template. The
choice is made when compiling; each C library (with input gradients, and without them for
training) is generated and built on first use, so a compiled `fit` builds one (`backends`);
with `"c"` asked for, the full one is built at once, so a failed build raises there.
`Compiled.simd` names the instruction set of the C code's blocks of rows ("avx2 x4").

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
trace tells its own nodes by their generation stamps (`trace._Graph`: a trace starts a new
generation): a computed Value stamped earlier that depends on a parameter (the interpreter reads
its stored data; replay would recompute it) is a ValueError naming it. `backward` adds into a
nonzero `.grad` contribution by contribution, as the interpreter does (bit for bit).
`param_data=` is never written into the shared `.data` (the interpreter re-runs the traced graph
with fresh leaves at those values), so threads may share a Compiled; a failing batch leaves
`accumulate` as it was, and its error carries "(in row r of the batch)" on every backend.
"""

from __future__ import annotations

import functools
import math
import warnings
from array import array
from collections.abc import Callable, Sequence
from typing import Any

from ..engine.modes import anomaly_enabled
from ..engine.traversal import topo_order
from ..engine.value import Value, describe, to_float
from . import native, progress
from .backends import CBackend, PythonBackend, batch_loop
from .native import NativeUnavailableError, NativeUnavailableWarning
from .program import _Graph, check_leaf, exact, non_finite_constant
from .progress import Build
from .pysource import PythonReplay
from .reference import GraphChangedError, Reference, close
from .rows import as_inputs, as_param_data, as_rows, note_row, overlap

__all__ = ["BACKENDS", "Compiled", "DataDependenceWarning", "GraphChangedError",
           "compile_grad", "foreign_node_error"]

BACKENDS = ("auto", "c", "python")


def foreign_node_error(where: str, node: Value) -> ValueError:
    """The error for a computed Value that f did not make but that depends on a parameter."""
    label = f" {node.label!r}" if node.label else ""
    op = node._prim.name if node._prim is not None else "an op"
    e = ValueError(
        f"{where}: f uses a Value{label} (made by {op!r}, data {node.data!r}) "
        "that was computed from a parameter before the trace (or outside it, by another "
        "thread while it ran): the interpreter uses its stored "
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
                 has_aux: bool = False, backend: str = "auto",
                 progress_shown: bool | None = None) -> None:
        where = "compile_grad"
        if progress_shown is not None and not isinstance(progress_shown, bool):
            raise TypeError(f"{where}: progress must be None, True or False, got "
                            f"{describe(progress_shown)}")
        self._show = progress.Setting(progress_shown)
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
        # A build still running after progress.THRESHOLD seconds shows its stages.
        with progress.build("compile_grad", 3, self._show) as build:
            build.stage("tracing f")
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
            #: The traced graph is kept: the interpreter re-runs it with `param_data` substituted
            #: for the parameters (`Reference.replay`) rather than writing them into the shared
            #: `.data`, and the programs not needed yet are generated from it on first use.
            self._reference = Reference(f, self.params, graph, self.check, self.has_aux)
            self._python = PythonReplay(graph, self.n_inputs, len(self.params), self.has_aux)
            self._python.show = self._show
            #: The backend, chosen once: a `CBackend` or a `PythonBackend`.
            self._impl: CBackend | PythonBackend = self._choose(graph, backend, build)
            if isinstance(self._impl, CBackend):  # its libraries, built on first use
                self._impl.full.show = self._impl.cut.show = self._show

    @property
    def progress(self) -> bool | None:
        """Whether a long build of this function's code (at `compile_grad`, or on first use)
        shows its progress: None (the default) where someone watches (a terminal, Jupyter),
        True always, False never. Settable: `fit(progress=False)` sets it for its builds."""
        return self._show.value

    @progress.setter
    def progress(self, value: bool | None) -> None:
        if value is not None and not isinstance(value, bool):
            raise TypeError(f"Compiled.progress must be None, True or False, got "
                            f"{describe(value)}")
        self._show.value = value

    @property
    def backend(self) -> str:
        """"c" (native, a loop over rows in C) or "python" (Python replay): the backend chosen
        at compile time (a C library that fails to build later warns, and runs Python replay)."""
        return self._impl.name

    def _choose(self, graph: _Graph, backend: str, build: Build
                ) -> CBackend | PythonBackend:
        """The C backend when asked for or possible, else Python replay (auto: warns once
        when there is no compiler; "c": NativeUnavailableError saying why it cannot). The
        checks are made now (templates, the compiler and its vector code, constants); the C
        libraries are built on first use, except with "c", where the full one is built now so
        that a failed build raises here."""
        why = None
        if backend != "python":
            missing = native.missing_template(graph.primitives())
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
                # A constant inf/nan could reach inf / 0 without an IEEE flag: with "auto",
                # Python replay (with "c", every row is flagged and runs in the interpreter).
                non_finite = non_finite_constant(graph)
                if not (non_finite and backend == "auto"):
                    build.stage("probing vector code")
                    native.simd()  # (probed once per process; a bad $AUTOGRAD_LITE_SIMD raises)
                    return CBackend(graph, self._python, self._reference, self.params,
                                    non_finite, eager=backend == "c", build=build)
            elif backend == "c":
                raise NativeUnavailableError(f"compile_grad(backend='c'): {why}")
        build.stage(f"generating Python ({len(graph.order):,} nodes)")
        self._python.pieces("value_and_grad")
        build.stage("compiling Python")
        return PythonBackend(self._python, self._reference, self.params)

    @property
    def source(self) -> str:
        """The Python replay's source (value and gradients), generated from the graph only."""
        return self._python.source("value_and_grad")

    @property
    def forward_source(self) -> str:
        """The Python replay's forward-only source."""
        return self._python.source("forward")

    @property
    def c_source(self) -> str | None:
        """The C source (None with Python replay), generated on first use (not built)."""
        return self._impl.source if isinstance(self._impl, CBackend) else None

    @property
    def c_source_params(self) -> str | None:
        """The C source without input gradients (`value_and_grad_batch(input_grads=False)`),
        generated on first use (None with Python replay); its library is built on first use."""
        return self._impl.params_source() if isinstance(self._impl, CBackend) else None

    @property
    def simd(self) -> str | None:
        """The instruction set of the native code and its rows per block ("avx2 x4",
        "sse2 x2"), or None for scalar C code and Python replay: read from the generated C
        source (generated now if no program has been yet; see docs/compiled.md)."""
        return self._impl.simd() if isinstance(self._impl, CBackend) else None

    def __repr__(self) -> str:
        backend = repr(self.backend)
        if isinstance(self._impl, CBackend):  # (never generates code: a repr costs nothing)
            simd = self.simd if self._impl.generated() else "built on first use"
            backend += f" ({simd or 'scalar'})"
        return (f"<Compiled {self.n_nodes} nodes, {self.n_inputs} input(s), "
                f"{len(self.params)} parameter(s), backend {backend}>")

    def same_graph(self, xs: Sequence[Any]) -> bool:
        """Re-trace f at `xs`: True when it records exactly the traced graph (structure, every
        constant bit for bit, the same parameters) without reading data. The guard for
        callers that cannot otherwise tell whether what f reads has changed since the trace
        (it costs one interpreted forward pass)."""
        try:
            fl = as_inputs(xs, self.n_inputs)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                graph = _Graph(self.f, fl, self.params, "compiled function", self.has_aux)
        except Exception:  # not inputs of f, or f fails at them now: not the traced function
            return False
        return graph.data_reads == 0 and not graph.foreign and graph.signature == self._signature

    def _interpreted(self) -> bool:
        """Whether every row runs in the interpreter now (`check=True`, `detect_anomaly()`)."""
        return self.check or anomaly_enabled()

    # ---- one row -----------------------------------------------------------------------------
    def forward(self, xs: Sequence[Any]) -> Any:
        """f(*xs) as a float (with has_aux: `(value, aux floats)`)."""
        return self._forward_at(as_inputs(xs, self.n_inputs), self._impl.params(), None, None)

    def _forward_at(self, fl: list[float], pd: Any, sub: Sequence[float] | None,
                    r: int | None) -> Any:
        """One row's forward value at parameter data `pd` (`sub`: the same, given by the
        caller, so the interpreter substitutes it); `r`: the row, named in errors."""
        if self._interpreted():
            return self._reference.forward_row(fl, r, self._reference.at(pd, sub))
        return self._impl.forward(fl, pd, sub, r)

    def value_and_grad(self, xs: Sequence[Any]) -> tuple[Any, tuple[float, ...]]:
        """(f(*xs), gradients): d f / d xs[i] for each input, then d f / d params[j].

        With has_aux, the value is `(f's Value as a float, tuple of aux floats)`, as in JAX.
        """
        fl = as_inputs(xs, self.n_inputs)
        return self._value_and_grad_at(fl, self._impl.params(), None, None)

    def _value_and_grad_at(self, fl: list[float], pd: Any, sub: Sequence[float] | None,
                           r: int | None) -> tuple[Any, tuple[float, ...]]:
        """One row's value and gradients at parameter data `pd` (see `_forward_at`)."""
        if anomaly_enabled():
            return self._reference.interpret_row(fl, r, self._reference.at(pd, sub))
        value, result = self._impl.value_and_grad(fl, pd, sub, r)
        if self.check:
            ref = self._reference.interpret_row(fl, r, self._reference.at(pd, sub))
            if not close(ref, (value, result)):
                raise GraphChangedError(
                    f"compiled function disagrees with the interpreter at {fl}: "
                    f"{(value, result)} vs {ref}")
        return value, result

    def backward(self, xs: Sequence[Any]) -> Any:
        """Like `f(*xs).backward()` for the parameters: add their gradients to `.grad`, bit
        for bit as the interpreter does (each contribution added to `.grad` in turn)."""
        fl, pd = as_inputs(xs, self.n_inputs), self._impl.params()
        start = [q.grad for q in self.params]
        if all(type(h) is float and h == 0.0 for h in start):
            # From zero, adding the sum or each contribution in turn are the same numbers.
            value, grads = self._value_and_grad_at(fl, pd, None, None)
            reached = self._reached if any(math.copysign(1.0, h) < 0.0 for h in start) \
                else None  # (a -0.0 .grad: backward() leaves an unreached one as it is)
            for j, (q, gq) in enumerate(zip(self.params, grads[self.n_inputs:])):
                if reached is None or j in reached:
                    q.grad += gq
            return value
        hs = [exact(h) for h in start]
        done: tuple[Any, Sequence[float]] | None = (
            None if self._interpreted() else self._impl.carry(fl, pd, hs))
        if done is None:  # the interpreter raises its own error, or gives its numbers
            done = self._reference.carried_backward(fl, self._reference.at(pd, None) or pd, hs)
        value, totals = done
        for q, t in zip(self.params, totals):
            q.grad = t
        return value

    @functools.cached_property
    def _reached(self) -> frozenset[int]:
        """The parameters (their indices) that the output depends on: those `backward()`
        adds to (one not reached keeps its `.grad`, a -0.0 included). Found once: the
        traced graph does not change."""
        graph = self._reference.graph
        return frozenset(graph.role[v][1] for v in topo_order([graph.out])
                         if graph.role.get(v, ("",))[0] == "p")

    # ---- batches -----------------------------------------------------------------------------
    def forward_batch(self, rows: Any, *, param_data: Sequence[float] | None = None
                      ) -> list[Any]:
        """f at every row of `rows` (a sequence of rows of real numbers, or a 2-D array of
        floats or ints): the values (with has_aux, `(value, aux floats)` per row).
        `param_data`: parameter values to use instead of the parameters' `.data`."""
        interpreted = self._interpreted()
        data = as_rows(rows, self.n_inputs, nan_check=interpreted or not self._impl.checks_nan)
        sub = None if param_data is None else as_param_data(param_data, len(self.params))
        pd = self._impl.params() if sub is None else self._impl.param_values(sub)
        if not interpreted:
            return self._impl.forward_batch(data, pd, sub)
        values = []
        for r in range(data.n):
            try:
                values.append(self._forward_at(data.row(r, self.n_inputs), pd, sub, r))
            except Exception as e:  # any error, the replay's own included (a user primitive)
                note_row(e, r)
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
        "(in row r of the batch)", whichever backend ran it. `rows` may be a 2-D buffer
        (numpy, memoryview): C-contiguous doubles reach C without a copy (see `rows`).
        """
        interpreted = self._interpreted()
        m = len(self.params)
        if accumulate is not None and (  # (a subclass's own typecode / __len__ are not its
                not isinstance(accumulate, array) or  # buffer's: the C loop writes the buffer)
                array.typecode.__get__(accumulate) != "d" or array.__len__(accumulate) != m):
            raise TypeError(f"accumulate must be an array('d') of {m} floats, got "
                            f"{describe(accumulate)}")
        sub = None if param_data is None else as_param_data(param_data, m)
        if sub is not None and accumulate is not None and overlap(sub, accumulate):
            sub = array("d", sub)  # read as it was: the rows' sums are written into accumulate
        data = as_rows(rows, self.n_inputs, nan_check=interpreted or not self._impl.checks_nan)
        if not interpreted:
            return self._impl.value_and_grad_batch(data, sub, accumulate, bool(input_grads))
        pd = self._impl.params() if sub is None else self._impl.param_values(sub)
        return batch_loop(data, self.n_inputs, m, pd, accumulate, bool(input_grads),
                          lambda xs, r: self._value_and_grad_at(xs, pd, sub, r))

    def scan_steps(self, rows: Any, order: Sequence[int], batch_size: int, *,
                   params: array[float], update: Any, args: Sequence[Any],
                   outputs: Sequence[array[float]], grad: array[float] | None = None,
                   column: int | None = None, column_values: array[float] | None = None,
                   reverse: bool = False, aux_sum: int | None = None,
                   decide: tuple[Any, ...] | None = None, codes: Sequence[int] | None = None,
                   finite: bool = False, counter: array[int] | None = None) -> Any:
        """Training steps over index batches in one call (a scan, as `jax.lax.scan` of a
        train step): batch b is the rows `order[b * batch_size:(b + 1) * batch_size]` of
        `rows` (a 2-D buffer, one row of this function's inputs per sample); for each, the
        parameter gradients summed over its rows at `params` (as `value_and_grad_batch`,
        starting from 0.0), then `update` (a `compile_map` kernel, e.g. an optimizer step)
        called with `args` - each "params", "grad" (this batch's sums), a float, a state
        `array('d')` of one float per parameter, or `("per_batch", array('d'))` of one value per
        batch - its results copied into `outputs` (`params` or state arrays given in args).
        `order` and `codes`: ints, as a sequence or a 1-D integer buffer (a numpy array).

        `column` / `column_values`: that input of every row of batch b is set to
        `column_values[b]` (e.g. 1/n for a short last batch). `reverse`: a batch's rows run
        last to first (its gradients summed in that order, as a reverse sweep over a batch
        mean adds them). `aux_sum`: the aux output summed over each batch's rows, in index
        order (first value, then `+=`); `decide` with `codes` (one int per row of `rows`):
        count rows whose `("argmax", first, count)` of aux outputs (the first maximum) or
        `("threshold", index, t)` (1 if above t, else 0) equals their code. `grad` (an
        array('d')): receives the last batch's gradient sums. `finite`: a batch whose aux sum or
        gradients are not finite (or whose gradients' absolute sum passes 2**1020, near
        overflow) is not done. `counter` (an array('q') of one int): 1 added as
        each batch is committed, so a caller interrupted after the call (KeyboardInterrupt)
        knows how many batches its arrays hold.

        Returns `ScanResult(done, sums, correct)`. Each batch is all or nothing; the scan stops
        at the first batch it cannot do on its fast path (a row the native step flags, a
        kernel call that needs its Python path, an error, `finite`): `done` says how many were
        done, and the caller runs that batch its own way. With the C backend and a C kernel the
        scan is one native call; otherwise the same steps in Python: the same numbers.
        """
        from .scan import scan_steps
        return scan_steps(self, rows, order, batch_size, params=params, update=update,
                          args=args, outputs=outputs, grad=grad, column=column,
                          column_values=column_values, reverse=reverse, aux_sum=aux_sum,
                          decide=decide, codes=codes, finite=finite, counter=counter)


def compile_grad(f: Callable[..., Any], example_inputs: Sequence[Any],
                 params: Sequence[Value] = (), check: bool = False,
                 has_aux: bool = False, *, backend: str = "auto",
                 progress: bool | None = None) -> Compiled:
    """Trace `f(*inputs)` once at `example_inputs` and compile its forward and gradients.

    `params`: Values used inside `f` (model weights) whose current data is read at each call
    and whose gradients are returned after the inputs'. Other leaves `f` uses are frozen as
    constants. `check=True` compares every call with the interpreter (slow; for debugging).
    `has_aux=True`: f returns `(scalar Value, Values)`; the aux Values' data come back with
    the value (e.g. a model's outputs next to its loss). `backend`: "c" (native code from the
    system C compiler; raises NativeUnavailableError saying why when it cannot), "python"
    (Python replay), or "auto" (C when possible, else Python; see `Compiled.backend`).
    `progress`: whether a build that takes more than a second shows its stages (None: where
    someone watches, a terminal or Jupyter; see `Compiled.progress`).
    """
    return Compiled(f, example_inputs, params, check, has_aux, backend, progress)

"""`Compiled.scan_steps`: many training steps (an epoch) in one call, each step a batch of rows
gathered by index from one table, its parameter gradients summed by the compiled function and
applied by a `compile_map` kernel (an optimizer update), committed batch by batch.

    res = c.scan_steps(table, order, 32, params=P, update=sgd, args=("params", "grad", 0.1),
                       outputs=(P,), aux_sum=0)
    res.done, res.sums, res.correct           # batches done, per-batch aux sums and scores

With the C backend and a C kernel the whole scan is one native call: a hand-written, generic
driver (`DRIVER`, no derivative code: it calls the compiled step and the kernel through their
function pointers) gathers each batch's rows, zeroes the gradient sums, runs the step, sums an
aux output over the batch's rows, counts correct decisions, runs the kernel and copies its
outputs into their arrays. Otherwise (Python replay, no compiler, `check=True`, anomaly mode)
the same steps run in Python through `value_and_grad_batch` and the kernel's own call: the same
numbers. Each batch is all or nothing; the scan stops at the first batch it cannot do on its
fast path (a row the step flags: NaN, inf, an IEEE flag; with `finite`, a non-finite aux sum or
gradient; a kernel call that needs its Python path) and says how many it did: the caller runs
that batch its own way and scans on from the next one.

Why one file past ~400 lines: it is one idea, the scan: its argument checks, the C driver and
the Python loop that must give the same numbers are read side by side here.
"""

from __future__ import annotations

import ctypes
import math
import numbers
import threading
from array import array
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from ..engine.value import describe
from . import native
from .backends import CBackend
from .mapped import Mapped
from .rows import as_rows, overlap

if TYPE_CHECKING:
    from .compiled import Compiled

__all__ = ["DRIVER", "ScanResult", "scan_steps"]

_TYPECODE = array.typecode  # (array's own getter: a subclass cannot redefine it)


class ScanResult(NamedTuple):
    """What `Compiled.scan_steps` did: `done` batches (all, or those before the first it could
    not do), and for each of them the sum of the `aux_sum` output over its rows (in index
    order) and the number of rows whose decision matched their code (empty lists when not
    asked for)."""

    done: int
    sums: list[float]
    correct: list[int]


#: The driver: generic C, no per-op code. Returns the number of batches done.
DRIVER = r"""#include <string.h>
typedef int (*al_step_fn)(long, const double *, const double *, double *, double *, double *,
                          long *, double *);
typedef int (*al_map_fn)(long, double *const *, const long *, double *const *);

/* Every gradient finite and their absolute sum far from overflow (so any sum of them is). */
static int al_finite(const double *g, long m) {
  double s = 0.0;
  for (long j = 0; j < m; j++) {
    if (!isfinite(g[j])) return 0;
    s += g[j] < 0.0 ? -g[j] : g[j];
  }
  return s <= 0x1p1020;
}

long al_scan(al_step_fn step, double *T, const double *table, long n_rows, long k,
             const long long *order, long n_order, long bs, int reverse,
             long column, const double *column_values,
             const double *P, long m, double *X, double *V, long nv, double *G, double *PG,
             long sum_col, double *sums, int decide, long dcol, long dcount, double thr,
             const long long *codes, long long *correct, int finite,
             al_map_fn map, long n_args, const double *const *base, const long *per_batch,
             double **A, const long *S, long n_out, double *const *O, double *const *commit,
             double *grad, long long *counter) {
  long nb = (n_order + bs - 1) / bs;
  for (long i = 0; i < n_order; i++)  /* every index checked before any batch runs */
    if (order[i] < 0 || order[i] >= n_rows) return -1 - i;
  for (long b = 0; b < nb; b++) {
    long s0 = b * bs, n = n_order - s0 < bs ? n_order - s0 : bs;
    for (long r = 0; r < n; r++) {
      long long src = order[reverse ? s0 + n - 1 - r : s0 + r];
      memcpy(X + r * k, table + src * k, (size_t)k * sizeof(double));
      if (column >= 0) X[r * k + column] = column_values[b];
    }
    memset(PG, 0, (size_t)m * sizeof(double));
    long fail = 0;
    if (step(n, X, P, V, G, PG, &fail, T)) return b;
    double s = 0.0;
    long long c = 0;
    for (long q = 0; q < n; q++) {  /* the batch's rows in index order */
      const double *v = V + (reverse ? n - 1 - q : q) * nv;
      if (sum_col >= 0) s = q ? s + v[sum_col] : v[sum_col];
      if (decide) {
        long long pred = 0;
        if (decide == 1) {  /* the first maximum: a later value must be strictly greater */
          long best = 0;
          for (long i = 1; i < dcount; i++) if (v[dcol + i] > v[dcol + best]) best = i;
          pred = best;
        } else {
          pred = v[dcol] > thr;
        }
        c += codes[order[s0 + q]] == pred;
      }
    }
    if (finite && ((sum_col >= 0 && !isfinite(s)) || !al_finite(PG, m))) return b;
    for (long i = 0; i < n_args; i++) A[i] = (double *)base[i] + (per_batch[i] ? b : 0);
    if (map(m, A, S, O)) return b;
    for (long j = 0; j < n_out; j++) memcpy(commit[j], O[j], (size_t)m * sizeof(double));
    if (grad) memcpy(grad, PG, (size_t)m * sizeof(double));
    if (sums) sums[b] = s;
    if (correct) correct[b] = c;
    if (counter) counter[0] += 1;
  }
  return nb;
}
"""

_driver: list[Any] = []  #: [the loaded al_scan] or [None] when it cannot be built
_driver_lock = threading.Lock()


def _load_driver() -> Any:
    """The driver's C function (built once per process through native's trusted cache), or
    None when it cannot be built (no compiler): the scan then runs in Python."""
    with _driver_lock:
        if not _driver:
            try:
                lib = native.load(DRIVER, 40, symbols=("al_scan",))
            except native.NativeUnavailableError:
                _driver.append(None)
            else:
                fn = lib.al_scan
                p, lg, d = ctypes.c_void_p, ctypes.c_long, ctypes.c_double
                fn.argtypes = [p, p, p, lg, lg, p, lg, lg, ctypes.c_int, lg, p, p, lg, p, p, lg,
                               p, p, lg, p, ctypes.c_int, lg, lg, d, p, p, ctypes.c_int,
                               p, lg, p, p, p, p, lg, p, p, p, p]
                fn.restype = lg
                _driver.append((fn, lib))
        return None if _driver[0] is None else _driver[0][0]


def _forget_driver() -> None:
    """Build the driver again at the next scan (tests: after changing the toolchain)."""
    with _driver_lock:
        _driver.clear()


def _is_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _buffer_is(a: Any, code: str, n: int | None) -> bool:
    """Whether `a` is an array of typecode `code` (and `n` items), read from its buffer, not
    from attributes a subclass may redefine (C reads the buffer)."""
    if type(a) is array:
        return a.typecode == code and (n is None or len(a) == n)
    if not isinstance(a, array):
        return False
    with memoryview(a) as mv:
        return mv.format == code and (n is None or mv.nbytes == 8 * n)


def _ints(seq: Any, what: str, copy: bool = False) -> array[int]:
    """`seq` (ints) as an array('q'); TypeError for anything else (bools included). `copy`:
    always a new array (C reads its values as row indices: another thread must not write
    them while it runs)."""
    if _buffer_is(seq, "q", None):
        if type(seq) is array:
            return array("q", seq) if copy else seq
        return array("q", bytes(memoryview(seq)))
    if not isinstance(seq, (str, bytes, bytearray, Sequence)):
        seq = _int_buffer(seq, seq)  # a 1-D buffer of ints (numpy's arange): its values
    if isinstance(seq, (str, bytes)) or not isinstance(seq, Sequence):
        raise TypeError(f"scan_steps: {what} must be a sequence of ints, got {describe(seq)}")
    if not set(map(type, seq)) <= {int}:  # (checked one by one only when not plain ints)
        for v in seq:
            if not _is_int(v):
                raise TypeError(f"scan_steps: {what} must hold ints, got {describe(v)}")
    try:
        return array("q", seq)
    except (OverflowError, TypeError):
        raise ValueError(f"scan_steps: {what} holds an int beyond 64 bits") from None


def _int_buffer(seq: Any, default: Any) -> Any:
    """The values (Python ints) of a 1-D buffer of integers (not bools), else `default`."""
    try:
        with memoryview(seq) as mv:
            if mv.ndim == 1 and mv.format.lstrip("@=<>!") in _INT_FORMATS:
                return mv.tolist()
    except NotImplementedError:  # (memoryview's tolist: a non-native byte order)
        if getattr(getattr(seq, "dtype", None), "kind", None) in ("i", "u") and \
                getattr(seq, "ndim", None) == 1:
            return seq.tolist()  # (numpy's, in any byte order)
    except (TypeError, ValueError):  # (no buffer)
        pass
    return default


_INT_FORMATS = frozenset("bBhHiIlLqQnN")


def _doubles(a: Any, n: int, what: str) -> array[float]:
    if not _buffer_is(a, "d", n):
        raise TypeError(f"scan_steps: {what} must be an array('d') of {n} floats, got "
                        f"{describe(a)}")
    return a


class _Plan:
    """The checked arguments of one scan."""

    def __init__(self, c: Compiled, rows: Any, order: Any, batch_size: Any, params: Any,
                 update: Any, args: Any, outputs: Any, grad: Any, column: Any,
                 column_values: Any, reverse: Any, aux_sum: Any, decide: Any, codes: Any,
                 finite: Any, counter: Any) -> None:
        k, m = c.n_inputs, len(c.params)
        self.k, self.m = k, m
        self.rows = as_rows(rows, k, nan_check=False)
        n_rows = self.rows.n
        # (a copy: its range is checked once, by `check_order` or the C driver)
        self.order = _ints(order, "order", copy=True)
        if not _is_int(batch_size) or batch_size < 1:
            raise ValueError(f"scan_steps: batch_size must be a positive int, got "
                             f"{describe(batch_size)}")
        # (a batch larger than the order is the order: C's long never sees 2**64, 0 after
        # ctypes' truncation, a division by zero)
        self.bs = min(int(batch_size), max(len(self.order), 1))
        self.nb = -(-len(self.order) // self.bs)  # (not len(order): a Sequence's own)
        self.params = _doubles(params, m, "params")
        if not isinstance(update, Mapped):
            raise TypeError(f"scan_steps: update must be a Mapped kernel (compile_map), got "
                            f"{describe(update)}")
        self.update = update
        if isinstance(args, (str, bytes)) or not isinstance(args, Sequence):
            raise TypeError(f"scan_steps: args must be a sequence, got {describe(args)}")
        args = list(args)  # (its items, however many its __len__ says)
        if len(args) != update.n_inputs:
            raise ValueError(f"scan_steps: update takes {update.n_inputs} inputs, args has "
                             f"{len(args)}")
        self.args: list[Any] = []  # "params", "grad", a float, a state array, ("per_batch", a)
        states: list[array[float]] = []
        for i, a in enumerate(args):
            if isinstance(a, str) and a in ("params", "grad"):
                self.args.append(a)
            elif isinstance(a, tuple) and len(a) == 2 and a[0] == "per_batch":
                self.args.append(("per_batch", _doubles(a[1], self.nb, f"args[{i}][1]")))
            elif isinstance(a, array):
                states.append(_doubles(a, m, f"args[{i}]"))
                self.args.append(a)
            elif isinstance(a, numbers.Real) and not isinstance(a, bool):
                self.args.append(float(a))
            else:
                raise TypeError(f"scan_steps: args[{i}] must be 'params', 'grad', a float, an "
                                f"array('d') of {m} floats or ('per_batch', array('d') of "
                                f"{self.nb} floats), got {describe(a)}")
        if not isinstance(outputs, (str, bytes)) and isinstance(outputs, Sequence):
            outputs = list(outputs)
        if isinstance(outputs, (str, bytes)) or not isinstance(outputs, list) or \
                len(outputs) != update.n_outputs:
            raise TypeError(f"scan_steps: outputs must be {update.n_outputs} array('d')s, got "
                            f"{describe(outputs)}")
        for j, o in enumerate(outputs):
            if not (o is self.params or any(o is s for s in states)):
                raise ValueError(f"scan_steps: outputs[{j}] must be params or a state array "
                                 "given in args")
            if any(o is q for q in outputs[:j]):
                raise ValueError(f"scan_steps: outputs[{j}] is listed twice")
        self.outputs = list(outputs)
        self.grad = None if grad is None else _doubles(grad, m, "grad")
        if self.grad is not None and any(overlap(self.grad, a) for a in [self.params, *states]):
            raise ValueError("scan_steps: grad must not share memory with params or a state "
                             "array")
        if (column is None) != (column_values is None):
            raise TypeError("scan_steps: column and column_values go together")
        self.column = -1
        self.column_values: array[float] | None = None
        if column is not None:
            if not _is_int(column) or not 0 <= column < k:
                raise ValueError(f"scan_steps: column must be an input index 0 to {k - 1}, "
                                 f"got {describe(column)}")
            self.column = int(column)
            self.column_values = _doubles(column_values, self.nb, "column_values")
        if not isinstance(reverse, bool):
            raise TypeError(f"scan_steps: reverse must be a bool, got {describe(reverse)}")
        self.reverse = reverse
        if not isinstance(finite, bool):
            raise TypeError(f"scan_steps: finite must be a bool, got {describe(finite)}")
        self.finite = finite
        if counter is not None and not _buffer_is(counter, "q", 1):
            raise TypeError(f"scan_steps: counter must be an array('q') of one int, got "
                            f"{describe(counter)}")
        self.counter = counter
        n_aux = c.n_aux if c.has_aux else 0
        self.aux_sum = -1
        if aux_sum is not None:
            if not _is_int(aux_sum) or not 0 <= aux_sum < n_aux:
                raise ValueError(f"scan_steps: aux_sum must be an aux index 0 to {n_aux - 1}, "
                                 f"got {describe(aux_sum)}")
            self.aux_sum = int(aux_sum)
        elif finite:
            raise ValueError("scan_steps: finite=True needs aux_sum (the loss to check)")
        self.decide = 0
        self.dcol, self.dcount, self.thr = 0, 1, 0.0
        self.codes: array[int] | None = None
        if decide is not None:
            self._decision(decide, n_aux)
            if codes is None:
                raise TypeError("scan_steps: decide needs codes (one int per row)")
            self.codes = _ints(codes, "codes")
            if len(self.codes) != n_rows:  # (an array of our own: its len is its buffer's)
                raise ValueError(f"scan_steps: codes has {len(self.codes)} ints for {n_rows} "
                                 "rows")
        elif codes is not None:
            raise TypeError("scan_steps: codes without decide")

    def _decision(self, decide: Any, n_aux: int) -> None:
        kind = decide[0] if isinstance(decide, tuple) and len(decide) == 3 else None
        if kind == "argmax":
            _, first, count = decide
            if not (_is_int(first) and _is_int(count) and count >= 1 and first >= 0
                    and first + count <= n_aux):
                raise ValueError(f"scan_steps: decide ('argmax', first, count) must name aux "
                                 f"outputs within 0 to {n_aux - 1}, got {decide!r}")
            self.decide, self.dcol, self.dcount = 1, int(first), int(count)
        elif kind == "threshold":
            _, index, t = decide
            if not (_is_int(index) and 0 <= index < n_aux):
                raise ValueError(f"scan_steps: decide ('threshold', index, t) must name an aux "
                                 f"output 0 to {n_aux - 1}, got {decide!r}")
            if not isinstance(t, (float, int)) or isinstance(t, bool) or float(t) != t:
                raise TypeError(f"scan_steps: the threshold must be a float, got {describe(t)}")
            self.decide, self.dcol, self.thr = 2, int(index), float(t)
        else:
            raise TypeError(f"scan_steps: decide must be ('argmax', first, count) or "
                            f"('threshold', index, t), got {describe(decide)}")

    def check_order(self, first_bad: int | None = None) -> None:
        """ValueError naming an index of `order` out of the rows' range (the first, when the
        C driver found it: `first_bad`)."""
        order, n_rows = self.order, self.rows.n
        if first_bad is None:
            if not len(order) or (min(order) >= 0 and max(order) < n_rows):
                return
            first_bad = next(i for i, v in enumerate(order) if not 0 <= v < n_rows)
        raise ValueError(f"scan_steps: order[{first_bad}] = {order[first_bad]} is not a row "
                         f"index (the rows are 0 to {n_rows - 1})")

    def kernel_args(self, b: int, grads: array[float]) -> list[Any]:
        """The kernel's inputs for batch `b`."""
        out: list[Any] = []
        for a in self.args:
            if a == "params":
                out.append(self.params)
            elif a == "grad":
                out.append(grads)
            elif isinstance(a, tuple):
                out.append(a[1][b])
            else:
                out.append(a)
        return out


def scan_steps(c: Compiled, rows: Any, order: Any, batch_size: Any, *, params: Any,
               update: Any, args: Any, outputs: Any, grad: Any = None, column: Any = None,
               column_values: Any = None, reverse: Any = False, aux_sum: Any = None,
               decide: Any = None, codes: Any = None, finite: Any = False,
               counter: Any = None) -> ScanResult:
    """`Compiled.scan_steps` (see its docstring)."""
    plan = _Plan(c, rows, order, batch_size, params, update, args, outputs, grad, column,
                 column_values, reverse, aux_sum, decide, codes, finite, counter)
    if plan.nb == 0:
        return ScanResult(0, [], [])
    impl = c._impl
    if isinstance(impl, CBackend) and plan.update.backend == "c" and plan.m and plan.k \
            and not c._interpreted():
        lib, lib_grads = impl._library(True, False)
        fn = _load_driver() if lib is not None else None
        if lib is not None and fn is not None:
            return _native(plan, impl, lib, lib_grads, fn)
    return _python(c, plan)


def _far_from_overflow(grads: array[float]) -> bool:
    """The driver's `al_finite`: every gradient finite and their absolute sum, added in
    order, at most 2**1020 (an inf or a NaN makes the sum inf or NaN)."""
    total = 0.0
    for g in grads:
        total += abs(g)
    return total <= 2.0 ** 1020


def _python(c: Compiled, plan: _Plan) -> ScanResult:
    """The scan in Python: per batch, `value_and_grad_batch` and the kernel's call."""
    plan.check_order()
    k, m, bs = plan.k, plan.m, plan.bs
    table = memoryview(plan.rows.data).cast("B") if plan.rows.n and k else memoryview(b"")
    step = 8 * k
    sums: list[float] = []
    correct: list[int] = []
    order = plan.order
    for b in range(plan.nb):
        idx = order[b * bs:(b + 1) * bs]
        n = len(idx)
        seq = reversed(idx) if plan.reverse else idx
        buf = array("d")
        buf.frombytes(b"".join([table[i * step:(i + 1) * step] for i in seq]))
        if plan.column_values is not None:
            value = plan.column_values[b]
            for j in range(plan.column, n * k, k):
                buf[j] = value
        grads = array("d", bytes(8 * m))
        try:
            values, _, _ = c.value_and_grad_batch(
                memoryview(buf).cast("B").cast("d", [n, k]) if k else [[]] * n,
                param_data=plan.params, accumulate=grads, input_grads=False)
        except Exception:  # the caller's own path raises it again (or decides otherwise)
            break
        if plan.reverse:
            values = values[::-1]
        s = 0.0
        if plan.aux_sum >= 0:
            a = plan.aux_sum
            s = values[0][1][a]
            for v in values[1:]:
                s += v[1][a]
        if plan.finite and not (math.isfinite(s) and _far_from_overflow(grads)):
            break
        hits = 0
        if plan.codes is not None:
            codes = plan.codes
            for i, (_, aux) in zip(idx, values):
                if plan.decide == 1:
                    o = aux[plan.dcol:plan.dcol + plan.dcount]
                    best = 0
                    for j in range(1, len(o)):
                        if o[j] > o[best]:
                            best = j
                    pred = best
                else:
                    pred = int(aux[plan.dcol] > plan.thr)
                hits += codes[i] == pred
        try:
            plan.update(*plan.kernel_args(b, grads), out=plan.outputs)
        except Exception:
            break
        if plan.grad is not None:
            plan.grad[:] = grads
        if plan.counter is not None:
            plan.counter[0] += 1
        sums.append(s)
        correct.append(hits)
    return ScanResult(len(sums), sums if plan.aux_sum >= 0 else [],
                      correct if plan.codes is not None else [])


def _address(a: Any) -> int:
    """Where an array's items are (array's own method: a subclass cannot redirect it)."""
    address, n = array.buffer_info(a)
    return address if n else 0


def _native(plan: _Plan, impl: CBackend, lib: Any, lib_grads: bool, fn: Any) -> ScanResult:
    """The scan as one call of the C driver (the step's scratch held as `_Library.call` does:
    the shared one, or a fresh one when another thread uses it)."""
    pins = _pin(plan)  # (before any address is taken)
    try:
        return _pinned(plan, impl, lib, lib_grads, fn)
    finally:
        for pin in pins:
            pin.release()


def _pin(plan: _Plan) -> list[memoryview]:
    """Every buffer C reads or writes pinned while it runs (the call releases the GIL: another
    thread resizing an array would move it), each checked again once pinned: another thread
    may have resized one since `_Plan` measured it (C would read or write past its end)."""
    m, nb = plan.m, plan.nb
    sized: list[tuple[str, Any, str, int]] = [("params", plan.params, "d", m)]
    sized += [(f"outputs[{j}]", o, "d", m) for j, o in enumerate(plan.outputs)]
    for i, a in enumerate(plan.args):
        if isinstance(a, tuple):
            sized.append((f"args[{i}][1]", a[1], "d", nb))
        elif isinstance(a, array):
            sized.append((f"args[{i}]", a, "d", m))
    for what, extra, code, n in (("grad", plan.grad, "d", m),
                                 ("column_values", plan.column_values, "d", nb),
                                 ("codes", plan.codes, "q", plan.rows.n),
                                 ("counter", plan.counter, "q", 1)):
        if extra is not None:
            sized.append((what, extra, code, n))
    pins: list[memoryview] = []
    try:
        for what, a, code, n in sized:
            pin = memoryview(a)
            pins.append(pin)
            if _TYPECODE.__get__(a) != code or array.buffer_info(a)[1] != n or \
                    pin.obj is not a:
                raise ValueError(f"scan_steps: {what} changed during the call (another thread "
                                 "resized it, or its buffer is not its array's own)")
        try:
            pins.append(memoryview(plan.rows.keep))
        except TypeError:
            pass
    except BaseException:
        for pin in pins:
            pin.release()
        raise
    return pins


def _pinned(plan: _Plan, impl: CBackend, lib: Any, lib_grads: bool, fn: Any) -> ScanResult:
    """`_native` with every buffer pinned."""
    k, m, bs, nb = plan.k, plan.m, plan.bs, plan.nb
    nv = impl.nv
    n = min(bs, len(plan.order))
    X = array("d", bytes(8 * max(n * k, 1)))
    V = array("d", bytes(8 * n * nv))
    G = array("d", bytes(8 * max(n * k, 1))) if lib_grads else None
    PG = array("d", bytes(8 * max(m, 1)))
    sums = array("d", bytes(8 * nb))
    correct = array("q", bytes(8 * nb))
    update = plan.update
    n_args, n_out = update.n_inputs, update.n_outputs
    scalars = array("d", [a for a in plan.args if type(a) is float] or [0.0])
    bases, per_batch, strides = [], array("l"), array("l")
    at = _address(scalars)
    for a in plan.args:
        if a == "params":
            bases.append(_address(plan.params) if m else at)
            per_batch.append(0)
            strides.append(1)
        elif a == "grad":
            bases.append(_address(PG))
            per_batch.append(0)
            strides.append(1)
        elif isinstance(a, tuple):
            bases.append(_address(a[1]))
            per_batch.append(1)
            strides.append(0)
        elif type(a) is float:
            bases.append(at)
            at += 8
            per_batch.append(0)
            strides.append(0)
        else:
            bases.append(_address(a) if m else _address(scalars))
            per_batch.append(0)
            strides.append(1)
    scratch = [array("d", bytes(8 * max(m, 1))) for _ in range(n_out)]
    ptrs = ctypes.c_void_p * max(n_args, n_out, 1)
    base_t, A_t = ptrs(*bases), ptrs()
    O_t = ptrs(*[_address(s) for s in scratch])
    commit_t = ptrs(*[_address(o) if m else 0 for o in plan.outputs])
    step_addr = ctypes.cast(lib.vg, ctypes.c_void_p).value
    map_addr = ctypes.cast(update._run, ctypes.c_void_p).value
    cv = plan.column_values
    codes = plan.codes

    def call(T: int) -> int:
        return int(fn(step_addr, T, plan.rows.address, plan.rows.n, k, _address(plan.order),
                      len(plan.order), bs, int(plan.reverse), plan.column,
                      _address(cv) if cv is not None else 0, _address(plan.params), m,
                      _address(X), _address(V), nv, _address(G) if G is not None else 0,
                      _address(PG), plan.aux_sum + 1 if plan.aux_sum >= 0 else -1,
                      _address(sums), plan.decide, plan.dcol + 1, plan.dcount, plan.thr,
                      _address(codes) if codes is not None else 0, _address(correct),
                      int(plan.finite), map_addr, n_args, base_t, _address(per_batch), A_t,
                      _address(strides), n_out, O_t, commit_t,
                      _address(plan.grad) if plan.grad is not None else 0,
                      _address(plan.counter) if plan.counter is not None else 0))

    if lib.lock.acquire(blocking=False):
        try:
            done = call(lib.scratch.buffer_info()[0])
        finally:
            lib.lock.release()
    else:
        fresh = array("d", bytes(lib.nbytes))
        done = call(fresh.buffer_info()[0])
    if done < 0:
        plan.check_order(-1 - done)
    return ScanResult(done, sums[:done].tolist() if plan.aux_sum >= 0 else [],
                      correct[:done].tolist() if codes is not None else [])

"""Tracing a function's graph: run it once on fresh Values, watch what it does, keep the graph.

Two things only a tracer needs, kept here rather than in the engine:

* Reads of data (`count_data_reads`): user code that takes a Value's number out (`.data`,
  `float()`, `item()`, a format spec) or orders it (truth, `<`, `<=`, `>`, `>=`) may branch on
  it, and a replay freezes that branch. While a count is active anywhere, those methods of
  `Value`, and a user subclass's own versions of them (its `data` property, its `__float__`),
  are replaced by counting wrappers (the plain ones again after the last count ends);
  a read is counted when the code that made it is not this package's own (the caller's frame)
  and it happens in the counting context (a ContextVar: other threads and tasks do not count).
  The engine's methods read the slot `_d` and call nothing else, so each read is seen once.
* The nodes a trace made: every node is stamped with its generation (`generation(v)`); while
  a trace runs, nodes made in its context are stamped with generations it owns
  (`owned_generations`), and nodes made anywhere else (another thread computing a node from a
  parameter meanwhile, before or during the trace) never are: a computed node with another
  stamp is not the trace's own (`_Graph.foreign`). Outside traces the engine stamps nodes
  with one shared generation, at no cost per node.
"""

from __future__ import annotations

import contextlib
import struct
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from typing import Any

from ..engine.modes import enable_grad
from ..engine.traversal import topo_order
from ..engine.value import Primitive, Value, describe, generation, owned_generations, to_float


# ---- reads of data while tracing ------------------------------------------------------------
class DataReads:
    """How often user code read Values' data (`.data`, comparisons, `float()`) in one trace;
    `numbers`: the reads that took the number itself out (`.data`, `float()`, `item()`, format),
    not only an ordering of it."""

    __slots__ = ("count", "numbers")

    def __init__(self) -> None:
        self.count = 0
        self.numbers = 0


_READS: ContextVar[DataReads | None] = ContextVar("autograd_lite_data_reads", default=None)
_reads_get = _READS.get
_ACTIVE = [0]  # counts active anywhere (the wrappers are installed while it is > 0)
_LOCK = threading.Lock()

#: The methods through which a Value's number leaves it: those that take the number out, and
#: those that only order it.
NUMBER_READS = ("data", "__float__", "item", "__format__")
ORDER_READS = ("__bool__", "__lt__", "__le__", "__gt__", "__ge__")
_PLAIN: dict[str, Any] = {name: Value.__dict__[name] for name in NUMBER_READS + ORDER_READS}


def _note(number: bool) -> None:
    """Count a read by the caller of the wrapper that calls this, if it is user code inside a
    count (`number`: the number itself was taken out, not only ordered)."""
    counter = _reads_get()
    if counter is not None:
        module = sys._getframe(2).f_globals.get("__name__", "")
        if module.partition(".")[0] != "autograd_lite":  # not autograd_lite_helpers
            counter.count += 1
            counter.numbers += number


def _counting(name: str, plain: Any = None) -> Any:
    """The counting wrapper of Value's reading method `name` (or of `plain`, a subclass's own
    version of it); None for what cannot be wrapped (not a property or a function)."""
    plain = _PLAIN[name] if plain is None else plain
    if name == "data":
        if not isinstance(plain, property) or plain.fget is None:
            return None
        get = plain.fget

        def read(self: Value) -> float:
            _note(True)
            return get(self)

        return property(read, plain.fset, plain.fdel, doc=plain.__doc__)
    if not callable(plain):
        return None
    if name == "__format__":
        def fmt(self: Value, spec: str) -> str:
            if spec:
                _note(True)
            return plain(self, spec)

        return fmt
    number = name in NUMBER_READS

    def wrapper(self: Value, *args: Any) -> Any:
        _note(number)
        return plain(self, *args)

    wrapper.__name__ = name
    wrapper.__doc__ = plain.__doc__
    return wrapper


_COUNTING: dict[str, Any] = {name: _counting(name) for name in _PLAIN}
#: A user subclass's own reading methods (`data` or `__float__` overridden), replaced while
#: counting: the originals, to put back when the last count ends.
_SHADOWED: dict[type, dict[str, Any]] = {}


def _install(methods: dict[str, Any]) -> None:
    for name, method in methods.items():
        setattr(Value, name, method)


def _wrap_subclasses() -> None:
    """Wrap the reading methods that subclasses of Value (a user's, not this package's) define
    themselves: a read through one of them never reaches Value's wrapper. Every count's start
    looks (another thread's count may be running since before the class was made); a subclass
    made inside the traced function itself is not seen."""
    todo = list(Value.__subclasses__())
    seen: set[type] = set()
    while todo:
        cls = todo.pop()
        if cls in seen:
            continue
        seen.add(cls)
        todo.extend(cls.__subclasses__())
        if cls in _SHADOWED or cls.__module__.split(".")[0] == "autograd_lite":
            continue  # wrapped by a count still running, or this package's own
        for name in _PLAIN:
            own = cls.__dict__.get(name)
            if own is None:
                continue
            wrapped = _counting(name, own)
            if wrapped is None:
                continue
            try:
                setattr(cls, name, wrapped)
            except (TypeError, AttributeError):  # a metaclass that refuses: left as it is
                continue
            _SHADOWED.setdefault(cls, {})[name] = own


def _unwrap_subclasses() -> None:
    for cls, methods in _SHADOWED.items():
        for name, own in methods.items():
            setattr(cls, name, own)
    _SHADOWED.clear()


@contextlib.contextmanager
def count_data_reads() -> Iterator[DataReads]:
    """Count, in this context only, user code's reads of any Value's data while inside.

    Used by `compile_grad` to spot Python control flow on data (frozen in a replay). While a
    count is active anywhere, Value's reading methods count (slower), then the plain ones again.
    """
    counter = DataReads()
    token = _READS.set(counter)
    counted = False
    try:
        with _LOCK:
            _ACTIVE[0] += 1
            counted = True
            if _ACTIVE[0] == 1:
                _install(_COUNTING)
            _wrap_subclasses()
        yield counter
    finally:
        # Also when wrapping failed half-way: the last count out puts every method back.
        with _LOCK:
            if counted:
                _ACTIVE[0] -= 1
            if _ACTIVE[0] == 0:
                _install(_PLAIN)
                _unwrap_subclasses()
        _READS.reset(token)


# ---- the traced graph -------------------------------------------------------------------------
def _bits(x: Any) -> Any:
    """A constant as a key that tells 0.0 from -0.0 and equals itself when NaN (its bytes)."""
    return struct.pack("<d", x) if type(x) is float else (type(x).__name__, x)


class _Graph:
    """The traced graph: topological order, leaf roles and a structural signature."""

    def __init__(self, f: Callable[..., Any], xs: Sequence[float], params: Sequence[Value],
                 where: str, has_aux: bool = False) -> None:
        inputs = [Value(x) for x in xs]
        # Nodes stamped with one of `own.gens` were made by the trace, in this context only;
        # reads of .data, comparisons and float() by f itself, in this context only.
        with owned_generations() as own, count_data_reads() as reads, enable_grad():
            result = f(*inputs)
        self.data_reads = int(reads.count)
        aux: list[Value] = []
        if has_aux:
            if not (isinstance(result, tuple) and len(result) == 2):
                raise TypeError(f"{where}: with has_aux, f must return (Value, aux), got "
                                f"{describe(result)}")
            result, extra = result
            items = [extra] if isinstance(extra, Value) or not isinstance(extra, Sequence) \
                else list(extra)
            aux = [v if isinstance(v, Value) else Value(to_float(v, f"{where} aux[{i}]"))
                   for i, v in enumerate(items)]
        if not isinstance(result, Value):
            raise TypeError(f"{where}: f must return a Value (a scalar), got {describe(result)}")
        self.out = result
        self.aux = aux
        self.inputs = inputs
        # The output's nodes come first, in topo_order([out])'s order; aux-only nodes after.
        self.order = topo_order([result, *aux])
        role: dict[Value, tuple[str, int]] = {v: ("x", i) for i, v in enumerate(inputs)}
        for j, p in enumerate(params):
            role.setdefault(p, ("p", j))
        self.role = role
        index = {v: k for k, v in enumerate(self.order)}
        sig: list[Any] = []
        for node in self.order:
            op = node._prim
            if op is None:
                sig.append(role.get(node) or ("c", _bits(node._d)))
            else:
                sig.append((op, tuple(index[p] for p in node.parents),
                            tuple(map(_bits, node.params))))
        sig.append(tuple(index[v] for v in aux))
        self.signature = sig
        # Computed nodes f did not make (a Value computed from a parameter before the trace):
        # the interpreter reads their stored data, replay would recompute them from the
        # parameters' current data. Those that depend on an input or a parameter are refused
        # (`Compiled`); the others are constants, as any Value that is not a parameter.
        live: set[Value] = set()
        self.foreign: list[Value] = []
        for node in self.order:
            if node in role or any(q in live for q in node.parents):
                live.add(node)
                if node._prim is not None and generation(node) not in own.gens:
                    self.foreign.append(node)

    def primitives(self) -> list[Primitive]:
        """The distinct primitives of the graph, in order of first appearance."""
        seen: dict[Primitive, None] = {}
        for node in self.order:
            if node._prim is not None:
                seen.setdefault(node._prim)
        return list(seen)


__all__ = ["DataReads", "count_data_reads", "NUMBER_READS", "ORDER_READS"]

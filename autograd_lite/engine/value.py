"""`Value`, the graph node, and `Primitive`, the one record an operation needs.

Why one file past ~400 lines: `Value` and `Primitive` are one idea, a node and the record that
makes it: both build nodes with the one constructor `_node` (a record's call; its body is
inlined, a call less per node, in the hot paths: a record's `apply1` and `apply2` and Value's
add and mul), and a record's partials are checked on Values here.

A node stores its data, its gradient, its label, the primitive that made it and its parents.
To keep a node small (it is the unit of memory), parents live in two slots instead of a tuple:

* leaf:                                   _prim is None, _a and _b are None
* one input, at most one parameter:      _a is the parent, _b the parameter (or None)
* two inputs, no parameter:               _a and _b are the parents
* any other arity:                        _a is the tuple of parents, _b the tuple of parameters

`Value.parents` and `Value.params` present this as ordered tuples; nothing outside this module
and the traversal reads the slots. The sixth slot, `_g`, holds the generation the node was made
in (`generation(v)`), or `(generation, label)` for a labelled node (`label` is a property).

A node is of the class of its op's first Value operand (`_node`'s `cls`): a subclass of Value
(the micrograd drop-in) keeps its kind of node through every op, numbers lifted to its class.

This module imports nothing above it. Value's operators apply the built-in records, which the
table (`autograd_lite.engine.ops`) binds here when it loads (`bind_table`); `backward()` and
numpy's entry call what the traversal and the engine package bind (`_LAYERS`). Tracing
(`autograd_lite.compile.trace`) observes reads of a node's number by wrapping the methods that
let it out (`data`, `__float__`, `item`, `__format__`, `__bool__`, the ordering comparisons):
they read the slot `_d` and nothing else, so a wrapper sees each read once.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import math
import numbers
import threading
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast, overload

from .errors import AnomalyError
from .modes import anomaly_enabled, grad_enabled, ieee_enabled, no_grad

if TYPE_CHECKING:
    from .errors import Number
    from .traversal import Step


_UNARY, _BINARY, _NARY = 1, 2, 3
V = TypeVar("V", bound="Value")
_INF = math.inf
_LN2, _LN10 = math.log(2.0), math.log(10.0)


def describe(x: object) -> str:
    """Short text for an offending input in an error message: its type and value."""
    if isinstance(x, Value):
        return repr(x)
    try:
        text = repr(x)
    except Exception:  # noqa: BLE001 - a hostile __repr__ must not hide the real error
        text = f"<{type(x).__name__} object>"
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(x).__name__} {text}"


def to_float(x: object, where: str) -> float:
    """Convert a user's number to float, or raise TypeError/ValueError naming `where` and `x`."""
    if type(x) is float:
        if x != x:
            raise ValueError(f"{where}: got NaN, a Value needs a number (inf is allowed)")
        return x
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise TypeError(f"{where} needs a real number, got {describe(x)}")
    try:
        f = float(x)
    except OverflowError:
        raise OverflowError(f"{where}: {describe(x)} is too large for a float") from None
    if type(f) is not float:  # a hostile __float__ returning a float subclass
        f = float.__float__(f)
    if f != f:
        raise ValueError(f"{where}: got NaN, a Value needs a number (inf is allowed)")
    return f


class Value:
    """A scalar node of the computation graph: `data`, accumulated `grad`, and how it was made.

    Values compare and hash by identity (a node, not a number); `float(v)` gives the data.
    Ordering comparisons (`<`, `>`, ...) compare data and are not differentiable.
    """

    # The float lives in the slot `_d`: the engine's hot paths read and write it directly;
    # users go through the `data` property, which checks what they assign. The same for `_gr`
    # and `grad`. Six slots: with a seventh a node takes the next allocation size (96 bytes
    # instead of 80 with its garbage-collector header), which costs memory, cache and the
    # collector's time on every node; so a label, rare on op nodes, shares `_g`.
    __slots__ = ("_d", "_gr", "_prim", "_a", "_b", "_g")

    _d: float
    _gr: float  # the gradient: the hot paths use the slot, users the checked `grad` property
    _prim: Primitive | None
    _a: Any  # see the module docstring: a parent, or the tuple of parents
    _b: Any  # the second parent, the parameter, or the tuple of parameters
    _g: Any  # the generation it was made in (see `new_generation`), or (generation, label)

    def __init__(self, data: Number, label: str = "") -> None:
        # A user's leaf, checked; the engine makes its nodes with `_node` and `_leaf` instead.
        if not isinstance(label, str):
            raise TypeError(f"Value label must be a str, got {describe(label)}")
        self._d = to_float(data, "Value")
        self._gr = 0.0
        self._prim = None
        self._a = None
        self._b = None
        # odd: a user's leaf (see `new_generation`)
        self._g = (_GEN + 1, label) if label else _GEN + 1

    @property
    def label(self) -> str:
        """A name for pictures, tapes and reprs ("" for none)."""
        g = self._g
        return g[1] if type(g) is tuple else ""

    @label.setter
    def label(self, text: str) -> None:
        if not isinstance(text, str):
            raise TypeError(f"Value label must be a str, got {describe(text)}")
        gen = generation(self)
        self._g = (gen, text) if text else gen

    @property
    def data(self) -> float:
        """The node's number, always a float. Assigning converts a real number (an int, a numpy
        scalar) to float and raises TypeError for anything else (a str, a bool, a Value)."""
        return self._d

    @data.setter
    def data(self, value: float) -> None:
        self._d = value if type(value) is float else _assigned_float(value)

    @property
    def grad(self) -> float:
        """d(output)/d(this node), accumulated by backward; None means "no gradient yet" (as
        PyTorch's). Assigning converts a real number (an int, a numpy scalar) to float, allows
        None and raises TypeError for anything else (a str, a bool, a Value)."""
        return self._gr

    @grad.setter
    def grad(self, value: float | None) -> None:
        self._gr = value if type(value) is float else _assigned_grad(value)  # type: ignore[assignment]

    def __bool__(self) -> bool:
        """Truth of the data, as PyTorch's `bool(tensor)`: False for 0.0, True otherwise."""
        return self._d != 0.0

    # ---- structure -------------------------------------------------------------------------
    @property
    def op(self) -> Primitive | None:
        """The primitive that produced this node, None for a leaf."""
        return self._prim

    @property
    def is_leaf(self) -> bool:
        """True for nodes made by the user (or under no_grad), not by an op."""
        return self._prim is None

    @property
    def parents(self) -> tuple[Value, ...]:
        """The inputs of the op that made this node, in argument order (`a + a` has two)."""
        op = self._prim
        if op is None:
            return ()
        kind = op._kind
        if kind == _BINARY:
            return (self._a, self._b)
        if kind == _UNARY:
            return (self._a,)
        return cast("tuple[Value, ...]", self._a)

    @property
    def params(self) -> tuple[float, ...]:
        """The op's static, non-differentiable parameters (the exponent of `x ** 3`, ...)."""
        op = self._prim
        if op is None or op.nparams == 0:
            return ()
        if op._kind == _NARY:
            return cast("tuple[float, ...]", self._b)
        return (self._b,)

    def detach(self) -> Value:
        """A new leaf of this node's class with the same data and label, cut off from this
        graph."""
        return _leaf(self._d, self.label, self.__class__)

    def item(self) -> float:
        """The data as a float (PyTorch's spelling)."""
        return self._d

    def zero_grad(self) -> None:
        """Reset this node's gradient to 0.0."""
        self.grad = 0.0

    def __float__(self) -> float:
        return self._d

    def __format__(self, spec: str) -> str:
        """`f"{v:.3f}"` formats the data; an empty spec gives the repr, as `str(v)`."""
        if not spec:
            return repr(self)
        return format(self._d, spec)

    def __repr__(self) -> str:
        label = f", label={self.label!r}" if self.label else ""
        op = f", op={self._prim.name!r}" if self._prim is not None else ""
        return f"Value(data={self._d!r}, grad={self._gr!r}{label}{op})"

    # ---- ordering on data (identity equality is kept from object) -------------------------
    def __lt__(self, other: Value | Number) -> bool:
        return self._d < _data(other, "<")

    def __le__(self, other: Value | Number) -> bool:
        return self._d <= _data(other, "<=")

    def __gt__(self, other: Value | Number) -> bool:
        return self._d > _data(other, ">")

    def __ge__(self, other: Value | Number) -> bool:
        return self._d >= _data(other, ">=")

    __hash__ = object.__hash__

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A subclass must hash by identity, as Value does: the engine keeps nodes in sets and
        dicts, so a hash by data (or none, which defining `__eq__` alone gives) would merge
        distinct nodes, or fail deep in backward."""
        super().__init_subclass__(**kwargs)
        if cast(Any, cls).__hash__ is not object.__hash__:
            raise TypeError(
                f"Value subclass {cls.__qualname__} must hash by identity (a graph node, not "
                "a number: the engine keeps nodes in sets); drop its __hash__, and with an "
                "__eq__ of its own set __hash__ = Value.__hash__")

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        """`copy.deepcopy`: the whole graph behind this node, each node copied once, without
        recursion (a chain of any depth); primitive records are shared, not copied."""
        return cast("Self", _copy_graph(self, memo))

    def __copy__(self) -> Self:
        """`copy.copy`: a node of this class with the same slots (its parents shared) and
        attributes, made in the same generation as this one."""
        c: Self = _new(self.__class__)
        for name in _slot_names(type(self)):
            try:
                object.__setattr__(c, name, object.__getattribute__(self, name))
            except AttributeError:  # an unset slot stays unset
                continue
        extra = getattr(self, "__dict__", None)
        if extra:
            c.__dict__.update(extra)
        return c

    def __setstate__(self, state: Any) -> None:
        """`pickle.loads`: the slots and attributes as saved, but the generation stamp (only
        meaningful in the process that made it) set to the oldest one, keeping a user's leaf
        odd: a loaded node counts as made before any transform or trace now running, as a
        Value closed over does (a stamp from a longer session would pass for one of theirs)."""
        attrs, slots = state if type(state) is tuple and len(state) == 2 else (state, None)
        if attrs:
            self.__dict__.update(attrs)
        slots = dict(slots or {})
        label = slots.pop("label", None)  # a slot of its own in earlier versions
        for name, x in slots.items():
            object.__setattr__(self, name, x)
        g: Any = getattr(self, "_g", 0)
        odd = (g[0] if type(g) is tuple else g) & 1
        text = g[1] if type(g) is tuple else label or ""
        self._g = (odd, text) if text else odd

    # ---- arithmetic: primitives, and sugar composed from them ------------------------------
    # Every result is made by `_node` (or its inlined body), of the class of the first Value
    # operand (a number operand becomes a leaf of that class), so a subclass (the micrograd
    # drop-in) keeps its kind of node through every op. add and mul are the hottest ops: their
    # forward (the table's `operator.add`/`mul`, which cannot raise on floats) and `_node` are
    # inlined here, saving two calls; the result is the same.
    def __add__(self, other: Value | Number) -> Self:
        cls = self.__class__  # what the node reports (as `detach`, `2 + v`), not type()
        if type(other) is not Value:
            other = const(other, "add", cls)
        d = self._d + other._d
        if d - d != 0.0:
            _forward_anomaly(ADD, (self._d, other._d), d)
        if _node is not _node_plain:  # a trace runs: stamped by context
            return _node(cls, ADD, d, self, other)
        v = _new(cls)  # `_node`, inlined
        v._d = d
        v._gr = 0.0
        v._g = _GEN
        if grad_enabled():
            v._prim = ADD
            v._a = self
            v._b = other
        else:
            v._prim = v._a = v._b = None
        return v

    def __radd__(self, other: Number) -> Self:
        return ADD.apply2(const(other, "add", self.__class__), self)  # type: ignore[return-value]

    def __mul__(self, other: Value | Number) -> Self:
        cls = self.__class__
        if type(other) is not Value:
            other = const(other, "mul", cls)
        d = self._d * other._d
        if d - d != 0.0:
            _forward_anomaly(MUL, (self._d, other._d), d)
        if _node is not _node_plain:
            return _node(cls, MUL, d, self, other)
        v = _new(cls)
        v._d = d
        v._gr = 0.0
        v._g = _GEN
        if grad_enabled():
            v._prim = MUL
            v._a = self
            v._b = other
        else:
            v._prim = v._a = v._b = None
        return v

    def __rmul__(self, other: Number) -> Self:
        return MUL.apply2(const(other, "mul", self.__class__), self)  # type: ignore[return-value]

    def __neg__(self) -> Self:
        return NEG.apply1(self)

    def __pos__(self) -> Self:
        return self

    def __sub__(self, other: Value | Number) -> Self:
        return self + -(other if type(other) is Value else const(other, "sub", self.__class__))

    def __rsub__(self, other: Number) -> Self:
        return const(other, "sub", self.__class__) + -self  # type: ignore[return-value]

    def __pow__(self, other: Value | Number) -> Self:
        t = type(other)  # `param`'s two common cases first, inlined: `x ** 2`, `x ** 0.5`
        if t is int and -(2**53) <= other <= 2**53:
            return POWC.apply1(self, float(other))
        if t is float and other == other:
            return POWC.apply1(self, other)
        if isinstance(other, Value):
            return POW.apply2(self, other)
        return POWC.apply1(self, param(other, "pow"))

    def __rpow__(self, other: Number) -> Self:
        return RPOW.apply1(self, param(other, "pow"))

    def __truediv__(self, other: Value | Number) -> Self:
        return DIV.apply2(
            self, other if type(other) is Value else const(other, "div", self.__class__))

    def __rtruediv__(self, other: Number) -> Self:
        return DIV.apply2(const(other, "div", self.__class__), self)  # type: ignore[return-value]

    def __abs__(self) -> Self:
        return ABS.apply1(self)

    # Methods for the unary primitives (each also a function in autograd_lite).
    def exp(self) -> Self:
        """e ** self."""
        return EXP.apply1(self)

    def log(self) -> Self:
        """Natural logarithm; raises ValueError for data <= 0."""
        return LOG.apply1(self)

    def log1p(self) -> Self:
        """log(1 + self), accurate near 0; raises ValueError for data <= -1."""
        return LOG1P.apply1(self)

    def tanh(self) -> Self:
        """Hyperbolic tangent."""
        return TANH.apply1(self)

    def sigmoid(self) -> Self:
        """Logistic sigmoid 1 / (1 + e^-x), stable for large |x|."""
        return SIGMOID.apply1(self)

    def relu(self) -> Self:
        """max(x, 0); derivative 0 at 0 (as in PyTorch)."""
        return RELU.apply1(self)

    def leaky_relu(self, negative_slope: float = 0.01) -> Self:
        """x for x > 0, negative_slope * x otherwise."""
        return LEAKY_RELU.apply1(self, param(negative_slope, "leaky_relu"))

    def softplus(self) -> Self:
        """log(1 + e^x), stable for large |x|."""
        return SOFTPLUS.apply1(self)

    def sin(self) -> Self:
        """Sine."""
        return SIN.apply1(self)

    def cos(self) -> Self:
        """Cosine."""
        return COS.apply1(self)

    def sqrt(self) -> Self:
        """Square root; raises ValueError for data < 0."""
        return SQRT.apply1(self)

    def abs(self) -> Self:
        """|x|; derivative 0 at 0 (as in PyTorch)."""
        return ABS.apply1(self)

    def maximum(self, other: Value | Number) -> Value:
        """max(self, other); a tie splits the gradient evenly (as in PyTorch and JAX)."""
        return MAXIMUM(self, other)

    def minimum(self, other: Value | Number) -> Value:
        """min(self, other); a tie splits the gradient evenly (as in PyTorch and JAX)."""
        return MINIMUM(self, other)

    # numpy calls a method of this name on each element of an object array (`np.exp2(arr)`):
    # compositions of primitives, as numpy_interop's table has them for a bare Value.
    def fabs(self) -> Self:
        """|x| (numpy's name for object arrays)."""
        return ABS.apply1(self)

    def exp2(self) -> Self:
        """2 ** x."""
        return RPOW.apply1(self, 2.0)

    def log2(self) -> Self:
        """log(x) / log(2); raises ValueError for data <= 0."""
        return LOG.apply1(self) / _LN2

    def log10(self) -> Self:
        """log(x) / log(10); raises ValueError for data <= 0."""
        return LOG.apply1(self) / _LN10

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        """numpy ufuncs with a primitive record nodes (`np.maximum(v, 0.0)`); others raise
        (`autograd_lite.engine.numpy_interop`, loaded by numpy's first call)."""
        return _LAYERS.array_ufunc(ufunc, method, inputs, kwargs)

    # ---- backward (the traversal lives in autograd_lite.engine.traversal, a layer above) ---------
    def backward(self, gradient: Number = 1.0, retain_graph: bool | None = None,
                 create_graph: bool = False, inputs: Sequence[Value] | None = None) -> None:
        """Accumulate d(self)/d(leaf) * gradient into every leaf's `.grad`.

        Interior nodes' `.grad` are reset first, then filled with this pass's gradients, so
        calling it twice doubles the leaves' gradients and leaves interior ones as after one call.
        PyTorch's keywords: `retain_graph` is accepted (a graph is never freed by backward);
        `inputs=[...]` accumulates into those Values only; `create_graph=True` is not possible
        with float `.grad`s (use `grad(..., create_graph=True)`).
        """
        if create_graph:
            raise TypeError("backward(create_graph=True): .grad holds floats; use "
                            "autograd_lite.grad(output, inputs, create_graph=True) for "
                            "differentiable gradients")
        _LAYERS.backward(self, gradient, inputs)

    def backward_steps(self, gradient: Number = 1.0) -> Iterator[Step]:
        """Generator of `Step` records, one per node, in the order `backward()` processes them."""
        return _LAYERS.backward_steps(self, gradient)


class _NumberRead(BaseException):
    """A probe's number was taken out (private: `on_values` catches it; a BaseException so
    that a user's `except Exception` in a partial cannot hide it)."""


class _Probe(Value):
    """A stand-in for a node while a user's partial is checked (`on_values`): it computes as
    a Value (its results are probes too) and compares as one, but taking its number out
    (`.data`, `float()`, `item()`, a format spec) raises `_NumberRead`."""

    __slots__ = ()

    @property
    def data(self) -> float:
        """Refused: see the class."""
        raise _NumberRead

    @data.setter
    def data(self, value: float) -> None:
        raise _NumberRead

    def item(self) -> float:
        raise _NumberRead

    def __float__(self) -> float:
        raise _NumberRead

    def __format__(self, spec: str) -> str:
        if spec:
            raise _NumberRead
        return repr(self)


# ---- what the layers above bind -------------------------------------------------------------
class _Bound:
    """The entry points of the engine's upper layers that Value calls, bound by those layers
    when they load, so this module imports nothing above it: the traversal binds `backward`
    and `backward_steps`, the engine package `array_ufunc` (numpy_interop, loaded on numpy's
    first call). The built-in records Value's operators apply are bound by the table
    (`bind_table`), as module globals, read on the hot path without an attribute lookup."""

    backward: Callable[[Value, object, Sequence[Value] | None], None]
    backward_steps: Callable[[Value, object], Iterator[Step]]
    array_ufunc: Callable[[Any, str, tuple[Any, ...], dict[str, Any]], Any]


_LAYERS = _Bound()

ADD: Primitive
MUL: Primitive
NEG: Primitive
DIV: Primitive
POW: Primitive
POWC: Primitive
RPOW: Primitive
ABS: Primitive
EXP: Primitive
LOG: Primitive
LOG1P: Primitive
TANH: Primitive
SIGMOID: Primitive
SOFTPLUS: Primitive
RELU: Primitive
LEAKY_RELU: Primitive
SIN: Primitive
COS: Primitive
SQRT: Primitive
MAXIMUM: Primitive
MINIMUM: Primitive
_TABLE: dict[str, Primitive] = {}


def bind_table(table: dict[str, Primitive]) -> None:
    """Bind the built-in records that Value's operators and methods apply (called once, by the
    table, `autograd_lite.engine.ops`, which is a layer above this module)."""
    global ADD, MUL, NEG, DIV, POW, POWC, RPOW, ABS, EXP, LOG, LOG1P, TANH, SIGMOID
    global SOFTPLUS, RELU, LEAKY_RELU, SIN, COS, SQRT, MAXIMUM, MINIMUM
    ADD, MUL, NEG, DIV = table["add"], table["mul"], table["neg"], table["div"]
    POW, POWC, RPOW, ABS = table["pow"], table["powc"], table["rpow"], table["abs"]
    EXP, LOG, LOG1P, TANH = table["exp"], table["log"], table["log1p"], table["tanh"]
    SIGMOID, SOFTPLUS, RELU = table["sigmoid"], table["softplus"], table["relu"]
    LEAKY_RELU, SIN, COS, SQRT = table["leaky_relu"], table["sin"], table["cos"], table["sqrt"]
    MAXIMUM, MINIMUM = table["maximum"], table["minimum"]
    _TABLE.update(table)

#: The generation new nodes are stamped with (`Value._g`). A function transform starts a new
#: one for its level, so a node stamped earlier was made before the level's variables and
#: cannot depend on them: the level's traversals stop there, and reaching one tells the level
#: that its function used Values from outside (a closure, an enclosing level in another thread).
#: Generations are even; a user's leaf (`Value(...)`) is stamped one more (odd), so that a
#: transform can tell it from the engine's constants and its own variables.
#: `_GEN` is also the last generation started anywhere, and never one a trace owns (below).
_GEN = 0
_GEN_LOCK = threading.Lock()
#: The last generation a transform's level started (`new_generation`), in any context.
_LEVEL = 0


class OwnGenerations:
    """The generations a trace owns (`gens`): started in its context while it runs, so a node
    stamped with one was made there; `latest`, the one its context stamps nodes with now;
    `outer`, an enclosing trace in the same context (which owns them too)."""

    __slots__ = ("gens", "latest", "outer")

    def __init__(self, outer: OwnGenerations | None) -> None:
        self.gens: set[int] = set()
        self.latest = 0
        self.outer = outer


#: The trace running in this context (thread, task), if any (`owned_generations`).
_OWN: ContextVar[OwnGenerations | None] = ContextVar("autograd_lite_own_generations",
                                                     default=None)
_own_get = _OWN.get
_OWNING = [0]  # traces running anywhere (`_node` stamps by context while it is > 0)


def generation(v: Value) -> int:
    """The generation `v` was made in (its `_g`, which also holds a label when it has one)."""
    g = v._g
    return g if type(g) is int else g[0]


def _claim(own: OwnGenerations) -> int:
    """Start a generation owned by `own` (and the traces enclosing it); the shared stamp
    `_GEN` moves past it, so no other context stamps a node with it. Under `_GEN_LOCK`."""
    global _GEN
    g = _GEN + 2
    _GEN = g + 2
    t: OwnGenerations | None = own
    while t is not None:
        t.gens.add(g)
        t.latest = g
        t = t.outer
    return g


def new_generation() -> int:
    """Start a new generation of nodes and return its number (every node made from now on is
    stamped with it or a later one, in any thread)."""
    global _GEN, _LEVEL
    own = _own_get()
    with _GEN_LOCK:
        if own is None:
            _GEN += 2
            g = _GEN
        else:  # inside a trace: a generation of the trace's own
            g = _claim(own)
        _LEVEL = g
        return g


@contextlib.contextmanager
def owned_generations() -> Iterator[OwnGenerations]:
    """While inside, nodes made in this context are stamped with generations that this trace
    owns (`gens`), and nodes made elsewhere (another thread, another context) never are.

    Used by the tracer to tell the nodes its function made from nodes another thread computed
    meanwhile. While a trace runs anywhere, every node's stamp looks up its context (slower);
    outside traces `_node` stamps with `_GEN` directly."""
    global _node
    own = OwnGenerations(_own_get())
    with _GEN_LOCK:
        _OWNING[0] += 1
        _node = _node_by_context
    token = _OWN.set(own)
    try:
        with _GEN_LOCK:
            _claim(own)
        yield own
    finally:
        _OWN.reset(token)
        with _GEN_LOCK:
            _OWNING[0] -= 1
            if _OWNING[0] == 0:
                _node = _node_plain


_new = object.__new__


def _leaf(data: float, label: str = "", cls: type[Value] | None = None) -> Value:
    """A leaf Value from data the engine produced itself (no validation: it is a float), of
    class `cls` (a Value subclass such as the micrograd drop-in) or Value."""
    v: Value = _new(cls or Value)
    v._d = data
    v._gr = 0.0
    v._g = (_GEN, label) if label else _GEN
    v._prim = None
    v._a = None
    v._b = None
    return v


def _node(cls: type[V], op: Primitive, data: float, a: Any, b: Any) -> V:
    """The one constructor of op results: a node of class `cls` (the class of the op's first
    Value operand, so a subclass keeps its kind of node) made by `op` with parents `a`, `b`
    (see the module docstring for the slots), or a leaf under no_grad.

    Callers check a non-finite `data` against the inputs (`_forward_anomaly`) first. While a
    trace runs anywhere, `_node` is `_node_by_context` instead (`owned_generations`).

    Its body is inlined in the hot paths (`Value.__add__`, `Value.__mul__`,
    `Primitive.apply1`, `Primitive.apply2`: a call less per node), which call `_node` only
    while a trace runs (`_node is not _node_plain`); a change here goes there too."""
    v: V = _new(cls)
    v._d = data
    v._gr = 0.0
    v._g = _GEN
    if grad_enabled():
        v._prim = op
        v._a = a
        v._b = b
    else:
        v._prim = v._a = v._b = None
    return v


_node_plain = _node


def _node_by_context(cls: type[V], op: Primitive, data: float, a: Any, b: Any) -> V:
    """`_node` while a trace runs anywhere: in a trace's context, the node is stamped with the
    trace's own generation (a fresh one after a level started elsewhere, so the stamp still
    follows every level begun before the node); elsewhere, with `_GEN`, which no trace owns."""
    v: V = _new(cls)
    v._d = data
    v._gr = 0.0
    own = _own_get()
    if own is None:
        v._g = _GEN
    else:
        if own.latest < _LEVEL:
            with _GEN_LOCK:
                _claim(own)
        v._g = own.latest
    if grad_enabled():
        v._prim = op
        v._a = a
        v._b = b
    else:
        v._prim = v._a = v._b = None
    return v


def _forward_anomaly(op: Primitive, inputs: tuple[float, ...], out: float) -> None:
    """Under detect_anomaly(), raise where an op makes a non-finite value from finite inputs."""
    if anomaly_enabled() and all(math.isfinite(x) for x in inputs):
        raise AnomalyError(f"{op.name} produced the non-finite value {out!r}"
                           + (f" from {_format_args(inputs)}" if inputs else ""))


def const(x: object, op: str, cls: type[Value] | None = None) -> Value:
    """Lift a number operand of `op` to a leaf Value (of class `cls`, default Value), or raise
    TypeError naming op and x."""
    if type(x) is float and x == x:
        return _leaf(x, "", cls)
    if isinstance(x, Value):
        return x
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise TypeError(f"{op}: operand must be a Value or a real number, got {describe(x)}")
    return _leaf(to_float(x, op), "", cls)


def param(x: object, op: str) -> float:
    """Check a static number parameter (an exponent, a slope) of `op`."""
    if type(x) is float and x == x:
        return x
    if type(x) is int and -(2**53) <= x <= 2**53:  # exactly representable: `x ** 2`
        return float(x)
    if isinstance(x, Value):
        raise TypeError(f"{op}: parameter must be a plain number, got {describe(x)}")
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise TypeError(f"{op}: parameter must be a real number, got {describe(x)}")
    return to_float(x, op)


def _assigned_float(value: object) -> float:
    """`v.data = value` for a value that is not a float: a real number converted, NaN and inf
    allowed (an update can make them), anything else a TypeError naming it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        hint = " (use its .data)" if isinstance(value, Value) else ""
        raise TypeError(f"Value.data must be a real number, got {describe(value)}{hint}")
    try:
        f = float(value)
    except OverflowError:
        raise OverflowError(f"Value.data: {describe(value)} is too large for a float") from None
    return f if type(f) is float else float.__float__(f)


def _assigned_grad(value: object) -> float | None:
    """`v.grad = value` for a value that is not a float: None ("no gradient yet"), a real number
    converted (NaN and inf allowed), anything else a TypeError naming it."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        hint = " (use its .data)" if isinstance(value, Value) else ""
        raise TypeError(f"Value.grad must be a real number or None, got {describe(value)}{hint}")
    try:
        f = float(value)
    except OverflowError:
        raise OverflowError(f"Value.grad: {describe(value)} is too large for a float") from None
    return f if type(f) is float else float.__float__(f)


def _data(x: object, op: str) -> float:
    if isinstance(x, Value):
        return x._d
    return to_float(x, op)


def _format_args(args: Sequence[Any]) -> str:
    return ", ".join(repr(a) for a in args)


Interval = tuple[float, float]
#: Code for compiled replay: the forward's expression (partials derived, see
#: autograd_lite.engine.derive), or a hand-written `(forward, (partial, ...))` pair.
Template = str | tuple[str, tuple[str, ...]]


class Primitive:
    """One differentiable operation and everything the engine knows about it, in one record.

    `partials[i](out, *inputs, *params)` returns d out / d inputs[i]. It is written with
    operators and autograd_lite functions, so called with floats it gives a float (plain
    backward) and called with Values it records a graph (`create_graph=True`, higher order).
    Calling a primitive with any Value argument records a node; with plain numbers only it
    returns a float, so the same function serves floats and Values.

    The other fields serve the rest of the package; a user's primitive gets defaults:
    `symbol` (pictures and tapes; `{0}` is the first parameter; default the name), `domain`
    (per input, the open interval where the op is defined and smooth enough for gradient
    checks: strategies sample there; default all reals), `param_domain` (per parameter, the
    interval strategies draw from; default [-2, 2]), `defaults` (default values of trailing
    parameters, e.g. leaky_relu's slope), `kink` (`(*inputs, *params) -> float`, the distance
    to the nearest kink, tie or singular point; strategies keep away from it), `mask` (a zero
    local derivative masks the upstream gradient, even inf or nan, as PyTorch's relu and max
    masks do), `ieee` (the forward with IEEE results, inf or nan, where `forward` raises a
    domain error: used while differentiating, so backward gives inf where the true
    derivative is infinite), `py` and `c` (the forward's expression in Python and C for
    compiled replay, over `{a}` `{b}` `{p}`; the partials' code is derived from `partials`, and
    without one the forward's is derived too when it is written with operators; a primitive
    with nothing derivable is called through its functions, or not compiled to C), `accumulate` (a
    specialised `(node, upstream)` that adds the node's contributions to its parents'
    `.grad`: the hot ops' fast path; default built from `partials`), `function` (exposed as a
    function by name, e.g. in the CLI's expression language; False for operators),
    `param_names` (the parameters' keyword names, `leaky_relu(x, negative_slope=0.2)`; default
    the forward function's own).
    """

    __slots__ = ("name", "forward", "partials", "nargs", "nparams", "_kind", "doc", "symbol",
                 "domain", "param_domain", "defaults", "kink", "mask", "ieee", "py", "c",
                 "accumulate", "function", "param_names")

    name: str
    forward: Callable[..., float]
    partials: tuple[Callable[..., Any], ...]
    nargs: int
    nparams: int
    _kind: int
    doc: str
    symbol: str
    domain: tuple[Interval, ...]
    param_domain: tuple[Interval, ...]
    defaults: tuple[float, ...]
    kink: Callable[..., float] | None
    mask: bool
    ieee: Callable[..., float] | None
    py: Template | None
    c: Template | None
    accumulate: Callable[[Value, float], None]
    function: bool
    param_names: tuple[str, ...]

    def __init__(
        self,
        name: str,
        forward: Callable[..., float],
        partials: Sequence[Callable[..., Any]],
        nparams: int = 0,
        doc: str = "",
        *,
        symbol: str | None = None,
        domain: Sequence[Interval] | None = None,
        param_domain: Sequence[Interval] | None = None,
        defaults: Sequence[float] = (),
        kink: Callable[..., float] | None = None,
        mask: bool = False,
        ieee: Callable[..., float] | None = None,
        py: Template | None = None,
        c: Template | None = None,
        accumulate: Callable[[Value, float], None] | None = None,
        function: bool = True,
        param_names: Sequence[str] | None = None,
    ) -> None:
        if not name or not isinstance(name, str):
            raise TypeError(f"primitive name must be a non-empty str, got {describe(name)}")
        if not callable(forward):
            raise TypeError(
                f"primitive {name!r}: forward must be callable, got {describe(forward)}")
        partials = tuple(partials)
        if not partials:
            raise TypeError(f"primitive {name!r} needs one partial derivative per input, got none")
        for i, d in enumerate(partials):
            if not callable(d):
                raise TypeError(f"primitive {name!r}: partial {i} is not callable: {describe(d)}")
        if isinstance(nparams, bool) or not isinstance(nparams, int) or nparams < 0:
            raise TypeError(f"primitive {name!r}: nparams must be an int >= 0, got {nparams!r}")
        nargs = len(partials)
        if nargs == 1 and nparams <= 1:
            kind = _UNARY
        elif nargs == 2 and nparams == 0:
            kind = _BINARY
        else:
            kind = _NARY
        self.name = name
        self.forward = forward
        self.partials = tuple(d if _own(d) else _float_partial(d, name, i)
                              for i, d in enumerate(partials))
        self.nargs = nargs
        self.nparams = nparams
        self._kind = kind
        self.doc = doc or getattr(forward, "__doc__", None) or f"The {name} primitive."
        self.symbol = name if symbol is None else symbol
        self.domain = _intervals(domain, nargs, (-_INF, _INF), name, "domain")
        self.param_domain = _intervals(param_domain, nparams, (-2.0, 2.0), name, "param_domain")
        self.defaults = tuple(float(d) for d in defaults)
        if len(self.defaults) > nparams:
            raise TypeError(f"primitive {name!r}: {len(self.defaults)} defaults for "
                            f"{nparams} parameter(s)")
        self.kink = kink
        self.mask = bool(mask)
        self.ieee = ieee
        self.py = py
        self.c = c
        self.accumulate = accumulate or _accumulator(self)
        self.function = bool(function)
        self.param_names = _param_names(param_names, forward, nargs, nparams, name)

    def __repr__(self) -> str:
        return f"<primitive {self.name} ({self.nargs} input(s), {self.nparams} parameter(s))>"

    def __copy__(self) -> Primitive:
        """A record is the op itself (tables and the micrograd drop-in key on its identity):
        `copy.copy` and `copy.deepcopy` return the record, as they do for functions."""
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Primitive:
        return self

    def __reduce_ex__(self, protocol: Any) -> Any:
        """A built-in primitive pickles by name (unpickled as the same record); a user's by
        its fields, as any object."""
        if _TABLE.get(self.name) is self:
            return (_builtin_primitive, (self.name,))
        return super().__reduce_ex__(protocol)

    def label(self, params: Sequence[float] = ()) -> str:
        """How a node of this op reads in pictures and tapes: `+`, `tanh`, `**3`, `2**`."""
        text = self.symbol
        shown = [f"{p:g}" for p in params]
        if "{" in text:
            return text.format(*shown)
        return f"{text}({', '.join(shown)})" if shown else text

    # ---- forward ---------------------------------------------------------------------------
    def _run(self, datas: tuple[float, ...], params: tuple[Any, ...]) -> float:
        """Call the forward function, naming this op and its inputs in any arithmetic error.

        While differentiating (IEEE mode), a domain error gives the `ieee` forward's inf/nan.
        """
        try:
            out = self.forward(*datas, *params)
        except (ArithmeticError, ValueError) as e:
            if self.ieee is not None and ieee_enabled():
                return float(self.ieee(*datas, *params))
            raise type(e)(f"{self.name}({_format_args(datas + params)}): {e}") from e
        if type(out) is not float:
            if isinstance(out, bool) or not isinstance(out, numbers.Real):
                raise TypeError(
                    f"{self.name}({_format_args(datas + params)}): forward returned "
                    f"{describe(out)}, expected a real number"
                )
            out = float(out)
        return out

    def apply1(self, a: V, p: Any = None) -> V:
        """Fast path for a one-input primitive on a Value (with its one parameter, if any)."""
        try:
            data = self.forward(a._d) if p is None else self.forward(a._d, p)
        except (ArithmeticError, ValueError):
            data = self._run((a._d,), () if p is None else (p,))
        if data - data != 0.0:
            _forward_anomaly(self, (a._d,), data)
        cls = a.__class__  # as Value's ops: the class the operand reports
        if _node is not _node_plain:  # a trace runs: stamped by context
            return _node(cls, self, data, a, p)
        # `_node`, inlined: the hot paths (this, apply2, add and mul) save a call per node
        v = _new(cls)
        v._d = data
        v._gr = 0.0
        v._g = _GEN
        if grad_enabled():
            v._prim = self
            v._a = a
            v._b = p
        else:
            v._prim = v._a = v._b = None
        return v

    def apply2(self, a: V, b: Value) -> V:
        """Fast path for a two-input primitive on two Values."""
        try:
            data = self.forward(a._d, b._d)
        except (ArithmeticError, ValueError):
            data = self._run((a._d, b._d), ())
        if data - data != 0.0:
            _forward_anomaly(self, (a._d, b._d), data)
        cls = a.__class__
        if _node is not _node_plain:
            return _node(cls, self, data, a, b)
        v = _new(cls)
        v._d = data
        v._gr = 0.0
        v._g = _GEN
        if grad_enabled():
            v._prim = self
            v._a = a
            v._b = b
        else:
            v._prim = v._a = v._b = None
        return v

    def _positional(self, args: tuple[Any, ...], named: dict[str, Any]) -> tuple[Any, ...]:
        """`args` with the parameters given by name put in their places (defaults between)."""
        n = self.nargs
        given = list(args[n:])
        by_index: dict[int, Any] = {}
        for name, value in named.items():
            if name not in self.param_names:
                raise TypeError(f"{self.name}() got an unexpected keyword argument {name!r} "
                                f"(parameters: {', '.join(self.param_names) or 'none'})")
            j = self.param_names.index(name)
            if j < len(given):
                raise TypeError(f"{self.name}() got multiple values for {name!r}")
            by_index[j] = value
        first_default = self.nparams - len(self.defaults)
        for j in range(len(given), max(by_index) + 1):
            if j in by_index:
                given.append(by_index[j])
            elif j >= first_default:
                given.append(self.defaults[j - first_default])
            else:
                raise TypeError(f"{self.name}() missing parameter {self.param_names[j]!r}")
        return (*args[:n], *given)

    @overload
    def __call__(self, x: Value, /, *rest: Value | Number, **named: Number) -> Value: ...
    @overload
    def __call__(self, x: Number, y: Value, /, *rest: Value | Number,
                 **named: Number) -> Value: ...
    @overload
    def __call__(self, x: Number, /, *rest: Number, **named: Number) -> float: ...

    def __call__(self, /, *args: Any, **named: Any) -> Value | float:
        """Apply to Values (records a node) or to plain numbers (returns a float).

        Parameters may also be given by name (`leaky_relu(x, negative_slope=0.2)`), as the
        record's `param_names` spell them."""
        if named:
            args = self._positional(args, named)
        n, k = self.nargs, self.nparams
        given = len(args)
        if not n + k - len(self.defaults) <= given <= n + k:
            want = f"{n} input(s) and {k} parameter(s)"
            if self.defaults:
                want += f" ({len(self.defaults)} optional)"
            raise TypeError(f"{self.name}() takes {want}, got {given} argument(s)")
        inputs = args[:n]
        params: tuple[float, ...] = ()
        try:
            if k:
                given_params = args[n:]
                missing = k - len(given_params)
                params = tuple(param(p, self.name) for p in given_params)
                params += self.defaults[len(self.defaults) - missing:] if missing else ()
            if not any(isinstance(x, Value) for x in inputs):
                datas = tuple(to_float(x, self.name) for x in inputs)
                return self._run(datas, params)
        except TypeError:
            # An operand that is not a number may apply the op itself: derive.Sym prints
            # code (the only one in the package; the protocol costs nothing on numbers).
            hook = next((getattr(type(x), "__al_apply__", None) for x in args
                         if hasattr(type(x), "__al_apply__")), None)
            if hook is None:
                raise
            return hook(self, args, {})  # type: ignore[no-any-return]
        cls = next(type(x) for x in inputs if isinstance(x, Value))  # the first Value's class
        values = tuple(x if isinstance(x, Value) else const(x, self.name, cls) for x in inputs)
        datas = tuple(v._d for v in values)
        data = self._run(datas, params)
        if data - data != 0.0:
            _forward_anomaly(self, datas, data)
        kind = self._kind
        if kind == _UNARY:
            return _node(cls, self, data, values[0], params[0] if k else None)
        if kind == _BINARY:
            return _node(cls, self, data, values[0], values[1])
        return _node(cls, self, data, values, params)


def _param_names(given: Sequence[str] | None, forward: Callable[..., float], nargs: int,
                 nparams: int, name: str) -> tuple[str, ...]:
    """The parameters' keyword names: as given, else the forward function's own, else p0..."""
    if given is not None:
        names = tuple(given)
        if len(names) != nparams or not all(isinstance(s, str) and s for s in names):
            raise TypeError(f"primitive {name!r}: param_names needs {nparams} names, "
                            f"got {given!r}")
        return names
    try:
        sig = list(inspect.signature(forward).parameters.values())
    except (TypeError, ValueError):
        sig = []
    names = tuple(p.name for p in sig[nargs:nargs + nparams]
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))
    return names if len(names) == nparams else tuple(f"p{j}" for j in range(nparams))


def _intervals(given: Sequence[Interval] | None, n: int, default: Interval, name: str,
               what: str) -> tuple[Interval, ...]:
    if given is None:
        return (default,) * n
    out = tuple((float(lo), float(hi)) for lo, hi in given)
    if len(out) != n or any(not lo < hi for lo, hi in out):
        raise TypeError(f"primitive {name!r}: {what} needs {n} intervals (lo < hi), got {given!r}")
    return out


def _accumulator(op: Primitive) -> Callable[[Value, float], None]:
    """The default `accumulate` of `op`: every local partial first, then `parent.grad += g * d`.

    All locals are computed before any gradient changes, so when a partial raises (a float
    division by zero, an overflow) the traversal can redo the node in IEEE mode without adding
    anything twice. A masking op adds 0.0 where its local derivative is 0.0.
    """
    partials = op.partials
    mask = op.mask
    if op._kind == _UNARY:
        d = partials[0]
        if op.nparams:
            def acc1p(node: Value, g: float) -> None:
                a = node._a
                local = d(node._d, a._d, node._b)
                a._gr += 0.0 if mask and local == 0.0 else g * local
            return acc1p

        def acc1(node: Value, g: float) -> None:
            a = node._a
            local = d(node._d, a._d)
            a._gr += 0.0 if mask and local == 0.0 else g * local
        return acc1
    if op._kind == _BINARY:
        da, db = partials

        def acc2(node: Value, g: float) -> None:
            a = node._a
            b = node._b
            out, x, y = node._d, a._d, b._d
            la = da(out, x, y)
            lb = db(out, x, y)
            a._gr += 0.0 if mask and la == 0.0 else g * la
            b._gr += 0.0 if mask and lb == 0.0 else g * lb
        return acc2

    def accn(node: Value, g: float) -> None:
        parents = node._a
        args = [v._d for v in parents]
        args.extend(node._b)
        out = node._d
        locals_ = [d(out, *args) for d in partials]
        for v, local in zip(parents, locals_):
            v._gr += 0.0 if mask and local == 0.0 else g * local
    return accn


def _builtin_primitive(name: str) -> Primitive:
    """The built-in record called `name` (how a pickled built-in primitive is read back)."""
    return _TABLE[name]


_SLOTS: dict[type, tuple[str, ...]] = {}


def _slot_names(cls: type) -> tuple[str, ...]:
    """Every slot of `cls` and its bases, base first (what a copy must carry over)."""
    known = _SLOTS.get(cls)
    if known is not None:
        return known
    names: list[str] = []
    for klass in reversed(cls.__mro__):
        slots = klass.__dict__.get("__slots__", ())
        for name in (slots,) if isinstance(slots, str) else slots:
            if name not in ("__dict__", "__weakref__") and name not in names:
                names.append(name)
    _SLOTS[cls] = tuple(names)
    return _SLOTS[cls]


def _copy_graph(root: Value, memo: dict[int, Any]) -> Value:
    """Deep-copy the graph reachable from `root` (parents, Value parameters or gradients)
    iteratively: every node is created first and put in `memo`, then its slots are filled
    with the copies of the nodes they name; primitive records and numbers are shared."""
    import copy

    order: list[Value] = []
    stack: list[Any] = [root]
    seen: set[int] = set()
    while stack:
        v = stack.pop()
        if id(v) in seen or id(v) in memo:
            continue
        seen.add(id(v))
        order.append(v)
        for name in _slot_names(type(v)):
            x = getattr(v, name, None)
            t = type(x)
            if t is float or t is str or x is None:
                continue
            if isinstance(x, Value):
                stack.append(x)
            elif t is tuple:
                stack.extend(e for e in x if isinstance(e, Value))
    for v in order:
        memo[id(v)] = _new(type(v))
    memo.setdefault(id(memo), []).extend(order)  # keep the originals alive, as deepcopy does

    def mapped(x: Any) -> Any:
        if isinstance(x, Value):
            return memo[id(x)]
        if type(x) is tuple:
            return tuple(mapped(e) for e in x)
        if x is None or type(x) in (float, int, str, bool) or isinstance(x, Primitive):
            return x
        return copy.deepcopy(x, memo)

    for v in order:
        c = memo[id(v)]
        for name in _slot_names(type(v)):
            try:
                x = getattr(v, name)
            except AttributeError:  # an unset slot stays unset
                continue
            t = type(x)
            if t is float or t is str or x is None:
                setattr(c, name, x)
            elif isinstance(x, Value):
                setattr(c, name, memo[id(x)])
            else:
                setattr(c, name, mapped(x))
        extra = getattr(v, "__dict__", None)
        if extra is not None:
            c.__dict__.update(copy.deepcopy(extra, memo))
    return cast(Value, memo[id(root)])


def primitive(
    name: str | None = None, *partials: Callable[..., Any], nparams: int = 0, **fields: Any
) -> Callable[[Callable[..., float]], Primitive]:
    """Declare a user primitive: `@primitive("cube", lambda out, x: 3 * x**2)` over `def cube(x)`.

    Give one partial derivative per input, each `(out, *inputs, *params) -> d out / d input`,
    written with operators or autograd_lite functions so that it also works on Values. Other
    record fields (`symbol`, `domain`, `kink`, ...; see `Primitive`) are keywords. The result
    gets backward, higher-order derivatives, forward mode, compiled replay, rendering,
    stepping and gradient checks.
    """

    def wrap(forward: Callable[..., float]) -> Primitive:
        return Primitive(name or forward.__name__, forward, partials, nparams=nparams,
                         doc=forward.__doc__ or "", **fields)

    return wrap


def _own(d: Callable[..., Any]) -> bool:
    """Whether a partial is this package's own (its results are floats already: no wrapper)."""
    return str(getattr(d, "__module__", "")).split(".")[0] == "autograd_lite"


def _float_partial(d: Callable[..., Any], name: str, i: int) -> Callable[..., Any]:
    """A user's partial whose numbers come back as plain floats: a numpy scalar (np.float64,
    np.float32), int or bool from it would otherwise flow into `.grad`, tangents and pages.
    Values (differentiating with create_graph) pass through; anything else is a TypeError."""

    @functools.wraps(d)
    def partial(*args: Any) -> Any:
        r = d(*args)
        if type(r) is float or isinstance(r, Value) or hasattr(type(r), "__al_apply__"):
            return r  # a number, a graph, or code (derive.Sym)
        if isinstance(r, float | int):  # np.float64 is a float, bool an int
            return float(r)
        if isinstance(r, numbers.Real) or hasattr(type(r), "__float__"):  # np.float32, 0-d arrays
            try:
                return float(r)
            except (TypeError, ValueError):
                pass
        raise TypeError(f"primitive {name!r}: partial derivative {i} returned {describe(r)}, "
                        "expected a real number (or a Value when differentiating a derivative)")

    def on_values(*args: Any) -> Any:
        """The partial on Values (differentiating a derivative): a plain number computed from
        a Value's number (`math.cos(x)`, `x.data`) would make every higher derivative through
        it silently 0, so it raises. A constant (`1.0`), or one chosen by comparing Values
        (`1.0 if x > 0 else 0.0`), is a true derivative and passes: a plain result is checked
        by calling the partial again on probes, stand-ins whose number cannot be taken out."""
        r = partial(*args)
        if isinstance(r, Value) or hasattr(type(r), "__al_apply__"):
            return r
        probes = [_leaf(x._d, "", _Probe) if isinstance(x, Value) else x for x in args]
        try:
            with no_grad():
                partial(*probes)
        except _NumberRead:
            raise TypeError(
                f"primitive {name!r}: partial derivative {i} read a Value's number (float(), "
                f".data, math.*) and returned the plain number {r!r}, so higher derivatives "
                "through it would be silently wrong (0); write the partial with operators "
                "and autograd_lite functions (autograd_lite.cos(x), not math.cos(x)) so that "
                "on Values it records a graph") from None
        return r

    partial.on_values = on_values  # type: ignore[attr-defined]
    return partial


__all__ = ["Value", "Primitive", "primitive"]

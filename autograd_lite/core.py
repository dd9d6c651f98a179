"""`Value`, the graph node, and `Primitive`, the one declaration an operation needs.

A node stores its data, its gradient, its label, the primitive that made it and its parents.
To keep a node small (it is the unit of memory), parents live in two slots instead of a tuple:

* leaf:                    _prim is None, _a and _b are None
* unary primitive:         _a is the parent, _b holds the static parameters (or None)
* binary primitive:        _a and _b are the parents
* primitive of arity >= 3: _a is the tuple of parents, _b holds the static parameters

`Value.parents` and `Value.params` present this as ordered tuples; nothing outside this module
and the backward pass reads the slots.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import Any

from ._mode import grad_enabled

Number = int | float

_UNARY, _BINARY, _NARY = 1, 2, 3


class AutogradError(Exception):
    """Base of the engine's own errors."""


class AnomalyError(AutogradError, FloatingPointError):
    """Raised in `detect_anomaly()` when a backward rule produces a non-finite gradient."""


class UnusedInputError(AutogradError, ValueError):
    """Raised by `grad` when an input does not reach the output and `allow_unused` is False."""


def describe(x: object) -> str:
    """Short text for an offending input in an error message: its type and value."""
    if isinstance(x, Value):
        return repr(x)
    text = repr(x)
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
    if f != f:
        raise ValueError(f"{where}: got NaN, a Value needs a number (inf is allowed)")
    return f


class Value:
    """A scalar node of the computation graph: `data`, accumulated `grad`, and how it was made.

    Values compare and hash by identity (a node, not a number); `float(v)` gives the data.
    Ordering comparisons (`<`, `>`, ...) compare data and are not differentiable.
    """

    __slots__ = ("data", "grad", "label", "_prim", "_a", "_b")

    data: float
    grad: float
    label: str

    def __init__(self, data: Number, label: str = "") -> None:
        # A user's leaf, checked; the engine makes its nodes with `_node` and `_leaf` instead.
        if not isinstance(label, str):
            raise TypeError(f"Value label must be a str, got {describe(label)}")
        self.data = to_float(data, "Value")
        self.grad = 0.0
        self.label = label
        self._prim = None
        self._a = None
        self._b = None

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
        return self._a

    @property
    def params(self) -> tuple[Any, ...]:
        """The op's static, non-differentiable parameters (the exponent of `x ** 3`, ...)."""
        op = self._prim
        if op is None or op.nparams == 0:
            return ()
        if op.nparams == 1:
            return (self._b,)
        return self._b

    def detach(self) -> Value:
        """A new leaf with the same data and label, cut off from this graph."""
        return _leaf(self.data, self.label)

    def item(self) -> float:
        """The data as a float (PyTorch's spelling)."""
        DATA_READS[0] += 1
        return self.data

    def zero_grad(self) -> None:
        """Reset this node's gradient to 0.0."""
        self.grad = 0.0

    def __float__(self) -> float:
        DATA_READS[0] += 1
        return self.data

    def __repr__(self) -> str:
        label = f", label={self.label!r}" if self.label else ""
        op = f", op={self._prim.name!r}" if self._prim is not None else ""
        return f"Value(data={self.data!r}, grad={self.grad!r}{label}{op})"

    # ---- ordering on data (identity equality is kept from object) -------------------------
    def __lt__(self, other: Value | Number) -> bool:
        return self.data < _data(other, "<")

    def __le__(self, other: Value | Number) -> bool:
        return self.data <= _data(other, "<=")

    def __gt__(self, other: Value | Number) -> bool:
        return self.data > _data(other, ">")

    def __ge__(self, other: Value | Number) -> bool:
        return self.data >= _data(other, ">=")

    __hash__ = object.__hash__

    # ---- arithmetic: primitives, and sugar composed from them ------------------------------
    # add and mul are the hottest ops: their forward (operator.add/mul in the table, which
    # cannot raise on floats) is inlined here, saving a call per node; the result is the same.
    def __add__(self, other: Value | Number) -> Value:
        if type(other) is not Value:
            other = const(other, "add")
        # `_node(ADD, self.data + other.data, self, other)`, inlined: the hottest line.
        v = _alloc(Value)
        v.data = self.data + other.data
        v.grad = 0.0
        v.label = ""
        if grad_enabled():
            v._prim = ADD
            v._a = self
            v._b = other
        else:
            v._prim = v._a = v._b = None
        return v

    def __radd__(self, other: Number) -> Value:
        c = const(other, "add")
        return _node(ADD, c.data + self.data, c, self)

    def __mul__(self, other: Value | Number) -> Value:
        if type(other) is not Value:
            other = const(other, "mul")
        # `_node(MUL, self.data * other.data, self, other)`, inlined: the hottest line.
        v = _alloc(Value)
        v.data = self.data * other.data
        v.grad = 0.0
        v.label = ""
        if grad_enabled():
            v._prim = MUL
            v._a = self
            v._b = other
        else:
            v._prim = v._a = v._b = None
        return v

    def __rmul__(self, other: Number) -> Value:
        c = const(other, "mul")
        return _node(MUL, c.data * self.data, c, self)

    def __neg__(self) -> Value:
        return NEG.apply1(self)

    def __pos__(self) -> Value:
        return self

    def __sub__(self, other: Value | Number) -> Value:
        return self + -(other if type(other) is Value else const(other, "sub"))

    def __rsub__(self, other: Number) -> Value:
        return const(other, "sub") + -self

    def __pow__(self, other: Value | Number) -> Value:
        if type(other) is Value:
            return POW.apply2(self, other)
        return POWC.apply1(self, param(other, "pow"))

    def __rpow__(self, other: Number) -> Value:
        return RPOW.apply1(self, param(other, "pow"))

    def __truediv__(self, other: Value | Number) -> Value:
        other = other if type(other) is Value else const(other, "div")
        if other.data == 0.0:
            raise ZeroDivisionError(f"div: division by zero, denominator {other!r}")
        return self * other**-1

    def __rtruediv__(self, other: Number) -> Value:
        if self.data == 0.0:
            raise ZeroDivisionError(f"div: division by zero, denominator {self!r}")
        return const(other, "div") * self**-1

    def __abs__(self) -> Value:
        return ABS.apply1(self)

    # Methods for the unary primitives (each also a function in autograd_lite).
    def exp(self) -> Value:
        """e ** self."""
        return EXP.apply1(self)

    def log(self) -> Value:
        """Natural logarithm; raises ValueError for data <= 0."""
        return LOG.apply1(self)

    def log1p(self) -> Value:
        """log(1 + self), accurate near 0; raises ValueError for data <= -1."""
        return LOG1P.apply1(self)

    def tanh(self) -> Value:
        """Hyperbolic tangent."""
        return TANH.apply1(self)

    def sigmoid(self) -> Value:
        """Logistic sigmoid 1 / (1 + e^-x), stable for large |x|."""
        return SIGMOID.apply1(self)

    def relu(self) -> Value:
        """max(x, 0); derivative 0 at 0 (as in PyTorch)."""
        return RELU.apply1(self)

    def leaky_relu(self, negative_slope: float = 0.01) -> Value:
        """x for x > 0, negative_slope * x otherwise."""
        return LEAKY_RELU.apply1(self, param(negative_slope, "leaky_relu"))

    def softplus(self) -> Value:
        """log(1 + e^x), stable for large |x|."""
        return SOFTPLUS.apply1(self)

    def sin(self) -> Value:
        """Sine."""
        return SIN.apply1(self)

    def cos(self) -> Value:
        """Cosine."""
        return COS.apply1(self)

    def sqrt(self) -> Value:
        """Square root; raises ValueError for data < 0."""
        return SQRT.apply1(self)

    def abs(self) -> Value:
        """|x|; derivative 0 at 0 (as in PyTorch)."""
        return ABS.apply1(self)

    def maximum(self, other: Value | Number) -> Value:
        """max(self, other); a tie splits the gradient evenly (as in PyTorch and JAX)."""
        return MAXIMUM(self, other)

    def minimum(self, other: Value | Number) -> Value:
        """min(self, other); a tie splits the gradient evenly (as in PyTorch and JAX)."""
        return MINIMUM(self, other)

    # ---- backward (implemented in autograd_lite.backward) ----------------------------------
    def backward(self, gradient: Number = 1.0) -> None:
        """Accumulate d(self)/d(leaf) * gradient into every leaf's `.grad`.

        Interior nodes' `.grad` are reset first, then filled with this pass's gradients, so
        calling it twice doubles the leaves' gradients and leaves interior ones as after one call.
        """
        _bw.backward(self, gradient)

    def backward_steps(self, gradient: Number = 1.0) -> Any:
        """Generator of `Step` records, one per node, in the order `backward()` processes them."""
        return _bw.backward_steps(self, gradient)


_alloc = object.__new__


def _leaf(data: float, label: str = "") -> Value:
    """A leaf Value from data the engine produced itself (no validation: it is a float)."""
    v = _alloc(Value)
    v.data = data
    v.grad = 0.0
    v.label = label
    v._prim = None
    v._a = None
    v._b = None
    return v


def _node(op: Primitive, data: float, a: Any, b: Any) -> Value:
    """A node made by `op` (a leaf under no_grad): the one constructor of the hot path.

    Filling the slots here instead of calling `Value(...)` saves the `__init__` frame.
    """
    v = _alloc(Value)
    v.data = data
    v.grad = 0.0
    v.label = ""
    if grad_enabled():
        v._prim = op
        v._a = a
        v._b = b
    else:
        v._prim = v._a = v._b = None
    return v


def const(x: object, op: str) -> Value:
    """Lift a number operand of `op` to a leaf Value, or raise TypeError naming op and x."""
    if type(x) is float and x == x:
        return _leaf(x)
    if isinstance(x, Value):
        return x
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise TypeError(f"{op}: operand must be a Value or a real number, got {describe(x)}")
    return _leaf(to_float(x, op))


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


#: How many times a Value's data was read by a comparison or float(): compile_grad counts
#: them while tracing, to spot Python control flow on data (frozen in a compiled replay).
DATA_READS = [0]


def _data(x: object, op: str) -> float:
    DATA_READS[0] += 1
    if isinstance(x, Value):
        return x.data
    return to_float(x, op)


def _format_args(args: Sequence[Any]) -> str:
    return ", ".join(repr(a) for a in args)


class Primitive:
    """One differentiable operation: a forward function on floats and one partial per input.

    `partials[i](out, *args, *params)` returns d out / d args[i]. It is written with ordinary
    operators and autograd_lite functions, so called with floats it gives a float (plain
    backward) and called with Values it records a graph (`create_graph=True`, higher order).
    Calling a primitive with any Value argument records a node; with plain numbers only it
    returns a float, so the same function serves floats and Values.
    """

    __slots__ = ("name", "forward", "partials", "nargs", "nparams", "_kind", "doc")

    def __init__(
        self,
        name: str,
        forward: Callable[..., float],
        partials: Sequence[Callable[..., Any]],
        nparams: int = 0,
        doc: str = "",
    ) -> None:
        if not name or not isinstance(name, str):
            raise TypeError(f"primitive name must be a non-empty str, got {describe(name)}")
        if not callable(forward):
            raise TypeError(f"primitive {name!r}: forward must be callable, got {forward!r}")
        partials = tuple(partials)
        if not partials:
            raise TypeError(f"primitive {name!r} needs one partial derivative per input, got none")
        for i, d in enumerate(partials):
            if not callable(d):
                raise TypeError(f"primitive {name!r}: partial {i} is not callable: {describe(d)}")
        if not isinstance(nparams, int) or nparams < 0:
            raise TypeError(f"primitive {name!r}: nparams must be an int >= 0, got {nparams!r}")
        nargs = len(partials)
        if nargs == 2 and nparams:
            kind = _NARY  # a binary op with parameters needs the general layout
        else:
            kind = {1: _UNARY, 2: _BINARY}.get(nargs, _NARY)
        self.name = name
        self.forward = forward
        self.partials = partials
        self.nargs = nargs
        self.nparams = nparams
        self._kind = kind
        self.doc = doc or getattr(forward, "__doc__", None) or f"The {name} primitive."

    def __repr__(self) -> str:
        return f"<primitive {self.name} ({self.nargs} input(s), {self.nparams} parameter(s))>"

    # ---- forward ---------------------------------------------------------------------------
    def _run(self, datas: tuple[float, ...], params: tuple[Any, ...]) -> float:
        """Call the forward function, naming this op and its inputs in any arithmetic error."""
        try:
            out = self.forward(*datas, *params)
        except (ArithmeticError, ValueError) as e:
            raise type(e)(f"{self.name}({_format_args(datas + params)}): {e}") from e
        if type(out) is not float:
            if isinstance(out, bool) or not isinstance(out, numbers.Real):
                raise TypeError(
                    f"{self.name}({_format_args(datas + params)}): forward returned "
                    f"{describe(out)}, expected a real number"
                )
            out = float(out)
        return out

    def apply1(self, a: Value, p: Any = None) -> Value:
        """Fast path for a unary primitive on a Value (with its one parameter, if any)."""
        try:
            data = self.forward(a.data) if p is None else self.forward(a.data, p)
        except (ArithmeticError, ValueError):
            data = self._run((a.data,), () if p is None else (p,))
        # `_node(self, data, a, p)`, inlined: every unary method comes through here.
        v = _alloc(Value)
        v.data = data
        v.grad = 0.0
        v.label = ""
        if grad_enabled():
            v._prim = self
            v._a = a
            v._b = p
        else:
            v._prim = v._a = v._b = None
        return v

    def apply2(self, a: Value, b: Value) -> Value:
        """Fast path for a binary primitive on two Values."""
        try:
            data = self.forward(a.data, b.data)
        except (ArithmeticError, ValueError):
            data = self._run((a.data, b.data), ())
        return _node(self, data, a, b)

    def __call__(self, *args: Any) -> Any:
        """Apply to Values (records a node) or to plain numbers (returns a float)."""
        n, k = self.nargs, self.nparams
        if len(args) != n + k:
            raise TypeError(
                f"{self.name}() takes {n} input(s) and {k} parameter(s), "
                f"got {len(args)} argument(s)"
            )
        inputs, params = args[:n], args[n:]
        params = tuple(param(p, self.name) for p in params) if k else ()
        if not any(isinstance(x, Value) for x in inputs):
            datas = tuple(to_float(x, self.name) for x in inputs)
            return self._run(datas, params)
        values = tuple(x if isinstance(x, Value) else const(x, self.name) for x in inputs)
        data = self._run(tuple(v.data for v in values), params)
        kind = self._kind
        if kind == _UNARY:
            return _node(self, data, values[0], params[0] if k else None)
        if kind == _BINARY:
            return _node(self, data, values[0], values[1])
        return _node(self, data, values, params)


def primitive(
    name: str | None = None, *partials: Callable[..., Any], nparams: int = 0
) -> Callable[[Callable[..., float]], Primitive]:
    """Declare a user primitive: `@primitive("cube", lambda out, x: 3 * x**2)` over `def cube(x)`.

    Give one partial derivative per input, each `(out, *inputs, *params) -> d out / d input`,
    written with operators or autograd_lite functions so that it also works on Values. The
    result gets backward, higher-order derivatives, rendering and gradient checks.
    """

    def wrap(forward: Callable[..., float]) -> Primitive:
        return Primitive(name or forward.__name__, forward, partials, nparams=nparams,
                         doc=forward.__doc__ or "")

    return wrap


# The built-in table and the backward pass import this module; bind their names late.
from . import backward as _bw  # noqa: E402
from .ops import (  # noqa: E402
    ABS,
    ADD,
    COS,
    EXP,
    LEAKY_RELU,
    LOG,
    LOG1P,
    MAXIMUM,
    MINIMUM,
    MUL,
    NEG,
    POW,
    POWC,
    RELU,
    RPOW,
    SIGMOID,
    SIN,
    SOFTPLUS,
    SQRT,
    TANH,
)

__all__ = ["Value", "Primitive", "primitive", "AutogradError", "AnomalyError", "UnusedInputError"]

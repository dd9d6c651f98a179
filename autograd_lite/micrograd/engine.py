"""micrograd's `Value`, running on autograd-lite's engine.

Change `from micrograd.engine import Value` to `from autograd_lite.micrograd.engine import Value`
and micrograd code (micrograd 0.1.0 and the lecture's Value) runs unchanged: `Value(data,
_children=(), _op='', label='')`, `.data`, `.grad`, `._prev`, `._op` ('+', '*', '**2', 'ReLU',
'tanh', 'exp'), `._backward()`, `relu() tanh() exp()`, `backward()`, the operators, and
micrograd's repr `Value(data=..., grad=...)`. `a - b`, `-a` and `a / b` build micrograd's own
graphs (`a + (b * -1)`, `a * b**-1`), so forward values are micrograd's to the last bit.

The class is a thin subclass of `autograd_lite.Value` (no extra slots): `draw_graph`,
`backward_steps`, `grad`, `autograd_lite.testing.gradcheck` and `compile_grad` take its nodes.

Where micrograd is wrong, this one is right (the engine's behaviour):

* `backward()` is iterative: graphs thousands of nodes deep do not raise RecursionError.
* `backward()` resets interior gradients first, so calling it twice doubles the leaves'
  gradients only (micrograd also doubles, wrongly, every interior node's, and feeds those
  doubled values into the leaves: `a*a + 1` at a=2 gives 12 instead of 8 on the second call).
* `a + a` and `a * a` keep both edges in the engine (micrograd's `_prev` is a set; it still
  is here, for micrograd code that reads it).
* `tanh` is `math.tanh` (the lecture's `(e^2x - 1)/(e^2x + 1)` overflows above x ~ 355).
* Bad input raises a clear TypeError/ValueError at the operation (`Value('a')`, `v + 'a'`,
  `log` of a negative number), never a later confusing failure.

Other differences: `data` and `grad` are always floats (`Value(2)` prints `Value(data=2.0,
grad=0.0)` where micrograd prints `Value(data=2, grad=0)`); `_op` of `x ** 2.0` is `'**2'`
(micrograd keeps the `.0`); `Value ** Value`, comparisons and the engine's other methods
(`log`, `sigmoid`, ...) work, where micrograd raises; nodes cannot be built by hand, so
`Value(x, _children=...)` raises TypeError (use the operators, or declare a primitive with
`autograd_lite.primitive`). Every op gives a node of its first Value operand's class, so engine
functions on drop-in Values (`autograd_lite.exp(v)`) give drop-in Values; a plain
`autograd_lite.Value` that code mixes in stays what it is (in `_prev` too), on either side of
an operator: `plain - v` is the engine's `plain - v`, not a number minus `v`.
"""

from __future__ import annotations

from typing import Any

from autograd_lite import PRIMITIVES
from autograd_lite import Value as _Node
from autograd_lite.engine.traversal import contribution, local_partials
from autograd_lite.engine.value import const as _const

Number = int | float

_ADD = PRIMITIVES["add"]
_MUL = PRIMITIVES["mul"]
_POW = PRIMITIVES["pow"]
_POWC = PRIMITIVES["powc"]

#: micrograd's and the lecture's `_op` strings, keyed by the engine's primitive records.
_SYMBOLS = {
    _ADD: "+",
    _MUL: "*",
    _POW: "**",
    PRIMITIVES["relu"]: "ReLU",
    PRIMITIVES["tanh"]: "tanh",
    PRIMITIVES["exp"]: "exp",
}



def _exponent(p: float) -> str:
    """micrograd writes `x ** 2` as '**2': integral exponents print without '.0'."""
    return str(int(p)) if p.is_integer() and abs(p) < 2**53 else repr(p)


def _number(x: object, op: str) -> float:
    """A number operand of `op` as a float, or the engine's TypeError/ValueError naming op and x."""
    return x if type(x) is float and x == x else _const(x, op).data


class Value(_Node):
    """A scalar node with micrograd's API: `data`, `grad`, `_prev`, `_op`, `backward()`.

    Results of its operations are drop-in Values too (the engine makes a node of its first
    Value operand's class). Compares and hashes by identity, as micrograd's does.
    """

    __slots__ = ()

    def __init__(self, data: Number, _children: tuple[Any, ...] = (), _op: str = "",
                 label: str = "") -> None:
        if _children or _op:
            raise TypeError(
                "Value(data, _children, _op): building a node by hand is not supported by the "
                "autograd-lite engine (its nodes get their derivative from a primitive); use "
                "the operators, or declare an operation with autograd_lite.primitive"
            )
        _Node.__init__(self, data, label)

    # ---- micrograd's structure -------------------------------------------------------------
    @property
    def _prev(self) -> set[Value]:
        """The parents as a set, as micrograd keeps them (`parents` keeps order and repeats)."""
        return set(self.parents)  # type: ignore[arg-type]

    @property
    def _op(self) -> str:
        """micrograd's op string: '' for a leaf, '+', '*', '**2', 'ReLU', 'tanh', 'exp', ..."""
        op = self.op
        if op is None:
            return ""
        if op is _POWC:
            return "**" + _exponent(self.params[0])
        symbol = _SYMBOLS.get(op)
        if symbol is not None:
            return symbol
        symbol = getattr(op, "symbol", None)  # the engine's own picture text, when it has one
        if isinstance(symbol, str) and symbol:
            try:
                return symbol.format(*self.params)
            except (IndexError, KeyError, ValueError):
                return symbol
        return op.name

    def _backward(self) -> None:
        """This node's step of the chain rule, as micrograd's closure: add `grad` times each
        local derivative into the parents' `grad` (the lecture calls it by hand), with the
        engine's own rule (masks, IEEE values)."""
        op = self.op
        if op is None:
            return
        for p, local in zip(self.parents, local_partials(self)):
            p._gr += contribution(self._gr, local, op.mask)

    def __repr__(self) -> str:
        return f"Value(data={self.data}, grad={self.grad})"

    # ---- operators: the engine's own, except where micrograd builds another graph --------
    # Python calls a subclass's reflected method before the left operand's own one, so these
    # are also reached for `plain - dropin` with a plain engine Value on the left: that Value is
    # no number to lift (taking its data would cut it from the graph), so the engine's own op
    # on the left operand builds the node (NotImplemented hands it back to Python).
    def __radd__(self, other: Number) -> Value:  # other + self, micrograd's order: self + other
        if isinstance(other, _Node):
            return NotImplemented
        return self + other

    def __rmul__(self, other: Number) -> Value:  # other * self, micrograd's order: self * other
        if isinstance(other, _Node):
            return NotImplemented
        return self * other

    def __neg__(self) -> Value:  # -self
        return self * -1

    def __sub__(self, other: _Node | Number) -> Value:  # self - other
        return self + (-(other if isinstance(other, _Node) else _number(other, "sub")))

    def __rsub__(self, other: Number) -> Value:  # other - self
        if isinstance(other, _Node):
            return NotImplemented
        return _number(other, "sub") + (-self)

    def __truediv__(self, other: _Node | Number) -> Value:  # self / other
        if not isinstance(other, _Node):
            other = _number(other, "div")
            if other == 0.0:
                raise ZeroDivisionError(f"div: division by zero, {self!r} / {other!r}")
        return self * other**-1

    def __rtruediv__(self, other: Number) -> Value:  # other / self
        if isinstance(other, _Node):
            return NotImplemented
        return _number(other, "div") * self**-1


__all__ = ["Value"]

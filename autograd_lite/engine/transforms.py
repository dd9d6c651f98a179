"""Function transforms that compose: `value_and_grad`, `hessian`, `hvp`, `jvp`, `jacfwd`,
`jacrev` here (this package's original spellings), and the machinery that
`autograd_lite.engine.func` (JAX's and torch.func's spellings) shares.

Why one file past ~400 lines: forward mode, the levels that keep nested transforms apart and
the pytree handling share `Level` and the depth counter; split, every transform would import
all three.

One idea: a transform call is a *level*. It gives each input it differentiates its own
variable, runs the function one level deeper, and differentiates with respect to its own
variables only. Everything is recorded on the one tape of Values, so levels compose:

* At the top (no enclosing transform, only numbers given) results are floats, as before.
* Inside an enclosing transform, when given Values, or when the function's output reaches a
  user's Value or a running level's variable made before the level began (a closure; an
  enclosing transform seen from a worker thread), the level is *traced*: its variables for
  Value inputs are identity nodes (`lift`) over them, it differentiates with
  `create_graph=True` (reverse) or pushes Value tangents (forward), and returns Values. The
  enclosing level then differentiates through the inner one's work. Under `no_grad()` the
  results are constants (torch.func's rule).
* Each level starts a generation of nodes (`core.new_generation`); its walks stop at older
  nodes, which cannot depend on its variables, so an inner transform costs what its own
  function records, not the whole tape before it.

Why this is right (perturbation confusion, Siskind and Pearlmutter): the inner level asks for
d out / d (its own variables). Its `lift` node is a distinct node from the outer Value it
wraps, so a closed-over outer Value is a constant for the inner level (the traversal stops at
its variables) and stays connected for the outer one. Using the outer Value itself as the
inner variable would add the closure's dependence into the inner derivative: the naive bug.

Forward mode walks the recorded graph once per tangent direction with the table's partials
(`traversal.tangents`, on floats or, for outer levels, on Values), so every primitive, a user's
included, works in both modes. Results and arguments may be nested lists, tuples and dicts
(pytrees, as in JAX) of numbers and Values.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from typing import Any

from .modes import enable_grad, grad_enabled, ieee_mode
from .traversal import _grad, tangents, topo_order, topo_since
from .value import Primitive, Value, _leaf, describe, generation, new_generation, to_float

Outputs = Value | Sequence[Value]

#: How many transform calls are running the user's function right now (JAX's trace stack,
#: reduced to its depth: every level is a tape of Values, told apart by its own variables).
_DEPTH: ContextVar[int] = ContextVar("autograd_lite_transform_depth", default=0)


def _identity(x: float) -> float:
    """x itself: the forward of `lift`."""
    return x


#: A level's own variable over a Value from an enclosing level: the same number, a distinct
#: node, derivative 1. Not in `PRIMITIVES`: only transforms make it.
LIFT = Primitive("lift", _identity, (lambda out, x: 1.0,), doc="a transform's own variable",
                 symbol="lift", function=False, py=("{a}", ("1.0",)), c=("{a}", ("1.0",)))


class ArgnumsError(IndexError, ValueError):
    """`argnums` names an argument that does not exist (ValueError as in JAX, IndexError as
    in HIPS autograd and earlier versions of this package)."""


class TreeMismatchError(TypeError, ValueError):
    """A tangent or cotangent whose structure (containers, dict keys, lengths, array shapes)
    differs from its primal's or output's (JAX raises TypeError for jvp, ValueError for vjp)."""


# ---- pytrees ------------------------------------------------------------------------------
# A structure ("spec") is None for a leaf, else `(kind, meta, children)`: kind is the container's
# type (dict, OrderedDict, defaultdict, list, tuple, a namedtuple class), `_ARRAY` (meta: the
# shape) or `_NONE` (None: an empty subtree, as in JAX). A dict's children are in sorted-key
# order, as JAX flattens them, so `{"a": .., "b": ..}` and `{"b": .., "a": ..}` have one
# structure; an OrderedDict keeps its own order (JAX too).
_ARRAY = "ndarray"
_NONE = "None"


def _dict_keys(tree: dict[Any, Any]) -> list[Any]:
    """A dict's keys in the order its leaves are flattened: sorted (JAX), else as inserted."""
    if type(tree) is not dict and isinstance(tree, OrderedDict):
        return list(tree)
    try:
        return sorted(tree)
    except TypeError:  # keys that do not sort (mixed types): insertion order, matched by key
        return list(tree)


def _flatten(tree: Any, leaves: list[Any]) -> Any:
    """Append the leaves of nested lists/tuples/dicts/numpy arrays to `leaves`; return their
    structure."""
    if isinstance(tree, dict):
        keys = _dict_keys(tree)
        meta = (keys, getattr(tree, "default_factory", None))
        return (type(tree), meta, [_flatten(tree[k], leaves) for k in keys])
    if isinstance(tree, list | tuple):
        return (type(tree), None, [_flatten(t, leaves) for t in tree])
    if tree is None:
        return (_NONE, None, [])
    if _is_array(tree):  # numpy, without importing it: arrays are flattened element by element
        return (_ARRAY, tree.shape, [_flatten(t, leaves) for t in tree.ravel().tolist()])
    leaves.append(tree)
    return None


def _is_array(x: Any) -> bool:
    """A numpy array (a subclass such as `ValueArray` too), without importing numpy."""
    np = sys.modules.get("numpy")
    return np is not None and isinstance(x, np.ndarray)


def _kind_name(spec: Any) -> str:
    """How a structure reads in an error message."""
    if spec is None:
        return "a number"
    kind, meta, children = spec
    if kind is _ARRAY:
        return f"an array of shape {tuple(meta)}"
    if kind is _NONE:
        return "None"
    if isinstance(kind, type) and issubclass(kind, dict):
        return f"a {kind.__name__} with keys {meta[0]!r}"
    return f"a {kind.__name__} of length {len(children)}"


def _flatten_as(spec: Any, tree: Any, where: str) -> list[Any]:
    """The leaves of `tree`, which must have the structure `spec` (a tangent for its primal, a
    cotangent for its output): dicts matched by key, arrays by shape; else a
    TreeMismatchError naming `where` and both structures."""
    out: list[Any] = []
    # (spec, subtree, path): iterative, so a deep structure cannot hit the recursion limit
    todo: list[tuple[Any, Any, str]] = [(spec, tree, where)]
    while todo:
        sp, t, path = todo.pop()
        if sp is None:
            if _is_array(t) and t.shape == ():
                t = t.item()
            elif isinstance(t, list | tuple | dict) or t is None or _is_array(t):
                raise TreeMismatchError(f"{path}: expected a number (as the primal/output "
                                        f"there), got {_kind_name(_flatten(t, []))}")
            out.append(t)
            continue
        kind, meta, children = sp
        if kind is _NONE:
            if t is not None:
                raise TreeMismatchError(f"{path}: expected None (as the primal/output "
                                        f"there), got {describe(t)}")
            continue
        if kind is _ARRAY:
            if not _is_array(t):
                raise TreeMismatchError(f"{path}: expected {_kind_name(sp)}, got {describe(t)}")
            if tuple(t.shape) != tuple(meta):
                raise TreeMismatchError(f"{path}: expected {_kind_name(sp)}, got shape "
                                 f"{tuple(t.shape)}")
            items = t.ravel().tolist()
            todo.extend(reversed([(c, x, f"{path}[{i}]") for i, (c, x) in
                                  enumerate(zip(children, items))]))
            continue
        if issubclass(kind, dict):
            keys = meta[0]
            if not isinstance(t, dict):
                raise TreeMismatchError(f"{path}: expected {_kind_name(sp)}, got {describe(t)}")
            if set(t) != set(keys) or len(t) != len(keys):
                raise TreeMismatchError(f"{path}: expected {_kind_name(sp)}, got keys "
                                 f"{_dict_keys(t)!r}")
            todo.extend(reversed([(c, t[k], f"{path}[{k!r}]") for k, c in zip(keys, children)]))
            continue
        if type(t) is not kind:
            if not isinstance(t, list | tuple):
                raise TreeMismatchError(f"{path}: expected {_kind_name(sp)}, got {describe(t)}")
            raise TreeMismatchError(f"{path}: expected {_kind_name(sp)}, got a {type(t).__name__} "
                            "(JAX and torch.func tell lists and tuples apart too)")
        if len(t) != len(children):
            raise TreeMismatchError(f"{path}: expected {_kind_name(sp)}, got length {len(t)}")
        todo.extend(reversed([(c, x, f"{path}[{i}]") for i, (c, x) in
                              enumerate(zip(children, t))]))
    return out


def _unflatten(spec: Any, leaves: Iterator[Any]) -> Any:
    """Rebuild a structure made by `_flatten` from an iterator over new leaves."""
    if spec is None:
        return next(leaves)
    kind, meta, children = spec
    if kind is _NONE:
        return None
    items = [_unflatten(c, leaves) for c in children]
    if kind is _ARRAY:
        return _array(meta, items)
    if kind is list or kind is tuple:
        return kind(items)
    if isinstance(kind, type) and issubclass(kind, dict):
        keys, factory = meta
        if kind is dict:
            return dict(zip(keys, items))
        if factory is not None:  # a defaultdict keeps its factory
            made = kind(factory)
            made.update(zip(keys, items))
            return made
        try:
            return kind(zip(keys, items))
        except TypeError:
            return dict(zip(keys, items))
    if hasattr(kind, "_fields"):  # a namedtuple
        return kind(*items)
    return kind(items)


def _array(shape: tuple[int, ...], items: list[Any]) -> Any:
    """An array of `shape` from its elements: floats give a float array, float arrays of one
    shape stack (a Jacobian's shape is the output's then the input's, as in JAX), anything
    else (Values) an object array."""
    import numpy as np  # an array was given, so numpy is loaded

    if all(isinstance(i, float) for i in items):
        return np.array(items, dtype=float).reshape(shape)
    first: Any = items[0] if items else None
    if _is_array(first) and first.dtype != object and all(
            _is_array(i) and i.shape == first.shape and i.dtype != object for i in items):
        return np.stack(items).reshape(tuple(shape) + first.shape)
    from .numpy_interop import ValueArray  # elementwise ufuncs through the engine's table

    out = np.empty(len(items), dtype=object)
    for k, item in enumerate(items):
        out[k] = item
    return out.reshape(shape).view(ValueArray)


def _leaves(tree: Any) -> list[Any]:
    out: list[Any] = []
    _flatten(tree, out)
    return out


def _has_value(tree: Any) -> bool:
    return any(isinstance(x, Value) for x in _leaves(tree))


# ---- levels -------------------------------------------------------------------------------
def tracing_depth() -> int:
    """How many transforms are running the user's function around this point (0 at the top)."""
    return _DEPTH.get()


def _run(f: Callable[..., Any], args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    """Call `f` one level deeper, recording (whatever the caller's grad mode)."""
    token = _DEPTH.set(_DEPTH.get() + 1)
    try:
        with enable_grad():
            return f(*args, **kwargs)
    finally:
        _DEPTH.reset(token)


def _variable(x: Any, where: str) -> Value:
    """This level's own variable for an input: a fresh leaf for a number, `lift(x)` for a Value."""
    if isinstance(x, Value):
        with enable_grad():
            return LIFT.apply1(x)
    return _leaf(to_float(x, where))


def _argnums(argnums: int | Sequence[int] | None, n: int, where: str) -> list[int]:
    """Check `argnums` (an int, a non-empty sequence of ints, or None for all) against `n`."""
    if argnums is None:
        return list(range(n))
    if isinstance(argnums, bool) or not isinstance(argnums, int | list | tuple):
        raise TypeError(f"{where}: argnums must be an int or a tuple of ints, "
                        f"got {describe(argnums)}")
    nums = [argnums] if isinstance(argnums, int) else list(argnums)
    if not nums:
        raise ValueError(f"{where}: argnums must be non-empty (JAX and torch.func refuse () too)")
    for k in nums:
        if isinstance(k, bool) or not isinstance(k, int):
            raise TypeError(f"{where}: argnums must hold ints, got {describe(k)}")
        if not -n <= k < n:
            raise ArgnumsError(f"{where}: argnums {k!r} out of range for {n} argument(s)")
    normal = [k % n for k in nums]
    if len(set(normal)) != len(normal):
        raise ValueError(f"{where}: argnums {argnums!r} names an argument twice; torch.func "
                         "refuses repeats (and JAX fails on them): give each position once")
    return normal


class Level:
    """One transform call: the arguments `f` is called with (its own variables in the
    differentiated positions) and whether results are Values (`traced`) or floats.

    A level starts a generation of nodes (`gen`): its traversals stop at older nodes, which
    cannot depend on its variables (so an inner transform costs what its own function records,
    not the whole tape before it). Results are traced (differentiable Values) inside another
    transform, when given Values, or when the function's output reaches an older node: a Value
    closed over (as torch.func keeps it connected) or an enclosing level's variable seen from
    another thread, where the depth is 0. Under `no_grad()` the level is `detached`: results
    are constants (leaf Values where they would be traced, else floats), as torch.func's.
    """

    def __init__(self, args: Sequence[Any], nums: Sequence[int], where: str,
                 lift_rest: bool = False, extra: Any = ()) -> None:
        self.where = where
        self.gen = new_generation()
        self.detached = not grad_enabled()
        #: results are Values (`boxed`); differentiable ones (`traced`) unless detached
        self.boxed = _DEPTH.get() > 0 or _has_value((args, extra))
        self.traced = self.boxed and not self.detached
        self.order: list[Value] = []
        self.args = list(args)
        self.variables: list[Value] = []
        self.spans: dict[int, tuple[Any, int, int]] = {}
        for k in dict.fromkeys(nums):
            leaves: list[Any] = []
            spec = _flatten(args[k], leaves)
            start = len(self.variables)
            self.variables.extend(_variable(x, f"{where} argument {k}") for x in leaves)
            self.spans[k] = (spec, start, len(self.variables))
            self.args[k] = _unflatten(spec, iter(self.variables[start:]))
        if lift_rest:  # this package's original transforms: every number becomes a Value
            for k, a in enumerate(args):
                if k not in self.spans and not isinstance(a, Value):
                    self.args[k] = _leaf(to_float(a, f"{where} argument {k}"))

    def run(self, f: Callable[..., Any], kwargs: dict[str, Any] | None = None) -> Any:
        """`f` at this level's arguments (its variables are live meanwhile, for any thread)."""
        ids = [id(v) for v in self.variables]
        with _LIVE_LOCK:
            for i in ids:
                _LIVE[i] = _LIVE.get(i, 0) + 1
        try:
            return _run(f, self.args, kwargs or {})
        finally:
            with _LIVE_LOCK:
                for i in ids:
                    if _LIVE[i] == 1:
                        del _LIVE[i]
                    else:
                        _LIVE[i] -= 1

    def watch(self, outs: Sequence[Value | float]) -> list[Value]:
        """Order the nodes this level made for `outs` (kept as `order`) and trace the level if
        they reach an older node (see the class docstring)."""
        roots = [o for o in outs if isinstance(o, Value)]
        order, stops = topo_since(roots, self.gen) if roots else ([], [])
        if stops and not self.boxed and _connects(stops):
            self.boxed = True
            self.traced = not self.detached
        self.order = order
        return order

    def pull(self, outs: Sequence[Value | float], seeds: Sequence[Any],
             traced: bool | None = None, watched: bool = False) -> list[Any]:
        """Reverse mode with respect to this level's variables (`watched`: `outs` are among
        those given to `watch`, whose order is reused)."""
        return pullback(outs, seeds, self.variables, self.traced if traced is None else traced,
                        self.order if watched else None, self.gen)

    def finish(self, xs: Sequence[Any]) -> list[Any]:
        """Results as this level returns them (`result` of each)."""
        return [self.result(x) for x in xs]

    def shaped(self, flat: Sequence[Any], nums: Sequence[int], single: bool) -> Any:
        """Per-variable results arranged as the arguments in `nums` (a tuple unless `single`)."""
        parts = []
        for k in nums:
            spec, start, end = self.spans[k]
            parts.append(_unflatten(spec, iter(flat[start:end])))
        return parts[0] if single else tuple(parts)

    def result(self, x: Any) -> Any:
        """A number or Value as this level returns it: a Value if traced, a constant leaf if
        boxed but detached (no_grad), else a float."""
        if self.traced or not self.boxed:
            return as_result(x, self.traced)
        return _leaf(x.data if isinstance(x, Value) else float(x))


#: ids of the variables of the levels whose function is running, in any thread (a count: the
#: same variable may run twice at once); a level elsewhere whose output reaches one of them is
#: inside that level's computation even though its own depth is 0 (a worker thread).
_LIVE: dict[int, int] = {}
_LIVE_LOCK = threading.Lock()


def _connects(stops: list[Value]) -> bool:
    """Whether Values made before a level, which its output reaches, tie it to something that
    can be differentiated: a user's leaf (`Value(...)`, as torch.func keeps a closed-over
    tensor that requires grad connected) or a running level's variable. Constants and the
    variables of levels that have returned are not."""
    seen: set[Value] = set()
    todo = list(stops)
    while todo:
        node = todo.pop()
        if node in seen:
            continue
        seen.add(node)
        if id(node) in _LIVE:
            return True
        if node._prim is None:
            if generation(node) & 1:
                return True
            continue
        todo.extend(node.parents)
    return False


def as_result(x: Any, traced: bool) -> Any:
    """`x` (a number or Value) as a Value when `traced`, a float otherwise."""
    if traced:
        return x if isinstance(x, Value) else _leaf(float(x))
    return x.data if isinstance(x, Value) else float(x)


def out_leaves(out: Any, where: str) -> tuple[list[Value | float], Any]:
    """The function's result as flat leaves (Values or float constants) and its structure."""
    leaves: list[Any] = []
    spec = _flatten(out, leaves)
    for i, v in enumerate(leaves):
        if not isinstance(v, Value):
            try:
                leaves[i] = to_float(v, where)
            except TypeError:
                raise TypeError(
                    f"{where}: the function must return a Value, a number, or lists/tuples/"
                    f"dicts of them; got {describe(out)}") from None
    return leaves, spec


def scalar_out(out: Any, where: str) -> Value | float:
    """The function's result as one scalar (a Value or a float constant), checked."""
    outs, spec = out_leaves(out, where)
    zero_dim = spec is not None and spec[0] is _ARRAY and spec[1] == ()  # a 0-d array
    if (spec is not None and not zero_dim) or len(outs) != 1:
        raise TypeError(f"{where}: the function must return one scalar (a Value), "
                        f"got {describe(out)}")
    return outs[0]


def split_aux(out: Any, has_aux: bool, where: str) -> tuple[Any, Any]:
    """`(output, aux)` of a function called with `has_aux`, checked."""
    if not has_aux:
        return out, None
    if not isinstance(out, list | tuple) or len(out) != 2:
        raise TypeError(f"{where}(has_aux=True): the function must return a pair "
                        f"(output, aux), got {describe(out)}")
    return out[0], out[1]


def aux_result(aux: Any, traced: bool) -> Any:
    """Auxiliary output: unchanged when traced, its Values read as floats at the top level."""
    leaves: list[Any] = []
    spec = _flatten(aux, leaves)
    if traced or not any(isinstance(x, Value) for x in leaves):
        return aux
    return _unflatten(spec, iter(x.data if isinstance(x, Value) else x for x in leaves))


# ---- the two directions -------------------------------------------------------------------
def pullback(outs: Sequence[Value | float], seeds: Sequence[Any], wrt: Sequence[Value],
             traced: bool, order: list[Value] | None = None, since: int = 0) -> list[Any]:
    """d(sum of outs * seeds) / d wrt: reverse mode, differentiable (Values) when traced.

    Over `order` if given (a topological order holding every node between `outs` and `wrt`),
    else the nodes of generation `since` or later (all nodes if 0)."""
    pairs = [(o, s) for o, s in zip(outs, seeds) if isinstance(o, Value)]
    if not pairs or not wrt:
        return [as_result(0.0, traced) for _ in wrt]
    roots = [o for o, _ in pairs]
    if order is None:
        order = topo_since(roots, since)[0] if since else topo_order(roots)
    if traced:
        with enable_grad(), ieee_mode():
            gs = _grad(roots, list(wrt), [s for _, s in pairs], True, order)
    else:
        gs = _grad(roots, list(wrt), [s.data if isinstance(s, Value) else s for _, s in pairs],
                   False, order)
    return [as_result(0.0 if g is None else g, traced) for g in gs]


def push(outs: Sequence[Value | float], seeds: dict[Value, Any], traced: bool,
         order: list[Value] | None = None) -> list[Any]:
    """Tangents of `outs` given the seeded variables' tangents: forward mode (`order`: the
    outputs' topological order from the variables on, as `Level.watch` makes it)."""
    if order is None:
        roots = [o for o in outs if isinstance(o, Value)]
        order = topo_order(roots) if roots else []
    tan = tangents(order, seeds, graph=traced)
    return [as_result(tan.get(o, 0.0) if isinstance(o, Value) else 0.0, traced) for o in outs]


def _tangent(t: Any, where: str) -> Any:
    return t if isinstance(t, Value) else to_float(t, where)


# ---- this package's original spellings, now composable --------------------------------------
def value_and_grad(f: Callable[..., Value], argnums: int | Sequence[int] = 0) -> Callable[..., Any]:
    """`f` -> a function returning `(f(*args), df/d args[argnums])`, as in JAX.

    `argnums` an int gives one gradient; a sequence gives a tuple. An argument `f` does not
    use has gradient 0.0. Floats at the top level; Values (differentiable) inside another
    transform or when called with Values. Keyword arguments go to `f` undifferentiated.
    """
    single = isinstance(argnums, int)

    def wrapped(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
        nums = _argnums(argnums, len(args), "value_and_grad")
        level = Level(args, nums, "value_and_grad", lift_rest=True, extra=kwargs)
        out = scalar_out(level.run(f, kwargs), "value_and_grad")
        level.watch([out])
        gs = level.finish(level.pull([out], [1.0], watched=True))
        return level.result(out), level.shaped(gs, nums, single)

    return wrapped


def hessian(f: Callable[..., Value], inputs: Sequence[Any]) -> list[list[Any]]:
    """The matrix of second derivatives of scalar `f` at `inputs` (reverse over reverse)."""
    level = Level(list(inputs), range(len(inputs)), "hessian")
    out = scalar_out(level.run(f), "hessian")
    level.watch([out])
    first = level.pull([out], [1.0], True, watched=True)
    return [level.finish(level.pull([g], [1.0])) for g in first]


def hvp(f: Callable[..., Value], inputs: Sequence[Any], vector: Sequence[Any],
        mode: str = "rev-rev") -> list[Any]:
    """Hessian-vector product H(inputs) @ vector without forming H.

    `mode="rev-rev"`: differentiate (grad f) . vector in reverse mode; `"fwd-rev"`: push
    `vector` forward through the gradient's graph (`jvp` of grad f). The same numbers up to
    rounding; fwd-rev needs no second reverse pass.
    """
    if mode not in ("rev-rev", "fwd-rev"):
        raise ValueError(f"hvp: mode must be 'rev-rev' or 'fwd-rev', got {mode!r}")
    if len(vector) != len(inputs):
        raise ValueError(f"hvp: {len(inputs)} inputs but a vector of length {len(vector)}")
    if mode == "fwd-rev":
        def gradient(*ys: Value) -> list[Any]:
            return pullback([scalar_out(f(*ys), "hvp")], [1.0], _leaves(list(ys)), True)

        return jvp(gradient, list(inputs), list(vector))[1]  # type: ignore[no-any-return]
    level = Level(list(inputs), range(len(inputs)), "hvp", extra=list(vector))
    v = [_tangent(x, f"hvp vector[{i}]") for i, c in enumerate(vector)
         for x in _flatten_as(level.spans[i][0], c, f"hvp: vector[{i}]")]
    out = scalar_out(level.run(f), "hvp")
    level.watch([out])
    first = level.pull([out], [1.0], True, watched=True)
    return level.finish(level.pull(first, v))


def jvp(f: Callable[..., Outputs], primals: Sequence[Any],
        tangents_in: Sequence[Any]) -> tuple[Any, Any]:
    """Forward mode, JAX's contract: `(f(*primals), J(primals) @ tangents)`.

    `f` takes one argument per primal and returns a Value (both results are scalars), or a
    list (or other pytree) of them (both results have that structure). The graph `f` records
    is walked once in topological order, each node's tangent the sum of its local partials
    times its parents' tangents.
    """
    return jvp_core(f, primals, tangents_in, "jvp")[:2]


def jvp_core(f: Callable[..., Any], primals: Sequence[Any], tangents_in: Sequence[Any],
             where: str, kwargs: dict[str, Any] | None = None,
             has_aux: bool = False) -> tuple[Any, Any, Any]:
    """`(f(*primals), J @ tangents, aux)`: forward mode at one level."""
    for name, seq in (("primals", primals), ("tangents", tangents_in)):
        if not isinstance(seq, list | tuple):
            raise TypeError(f"{where}: {name} must be a tuple or list (one entry per "
                            f"argument of f), got {describe(seq)}")
    if len(tangents_in) != len(primals):
        raise ValueError(f"{where}: {len(primals)} primals but {len(tangents_in)} tangents")
    level = Level(list(primals), range(len(primals)), where, extra=(list(tangents_in), kwargs))
    ts: list[Any] = []
    for i, t in enumerate(tangents_in):
        leaves = _flatten_as(level.spans[i][0], t, f"{where}: tangents[{i}]")
        ts.extend(_tangent(x, f"{where} tangents[{i}]") for x in leaves)
    out, aux = split_aux(level.run(f, kwargs), has_aux, where)
    outs, spec = out_leaves(out, where)
    order = level.watch(outs)
    dots = level.finish(push(outs, dict(zip(level.variables, ts)), level.traced, order))
    values = [level.result(o) for o in outs]
    return (_unflatten(spec, iter(values)), _unflatten(spec, iter(dots)),
            aux_result(aux, level.traced))


def _jacobian(f: Callable[..., Any], args: Sequence[Any], nums: list[int], where: str,
              forward: bool, kwargs: dict[str, Any] | None = None, has_aux: bool = False,
              lift_rest: bool = False) -> tuple[Level, list[list[Any]], Any, Any]:
    """Rows (one per output leaf) of d output / d variable: the level, rows, structure, aux.

    Forward: the graph is recorded once and walked once per variable (one column each);
    reverse: one pass per output leaf (one row each).
    """
    level = Level(args, nums, where, lift_rest=lift_rest, extra=kwargs)
    out, aux = split_aux(level.run(f, kwargs), has_aux, where)
    outs, spec = out_leaves(out, where)
    n = len(level.variables)
    order = level.watch(outs)
    if forward:
        columns = [push(outs, {v: 1.0}, level.traced, order) for v in level.variables]
        rows = [[columns[j][i] for j in range(n)] for i in range(len(outs))]
    else:
        rows = [level.pull([o], [1.0], watched=True) for o in outs]
    return level, [level.finish(r) for r in rows], spec, aux_result(aux, level.traced)


def _jac_old(f: Callable[..., Outputs], argnums: int | Sequence[int] | None, where: str,
             forward: bool) -> Callable[..., Any]:
    def jacobian(*args: Any, **kwargs: Any) -> Any:
        nums = _argnums(argnums, len(args), where)
        _, rows, spec, _ = _jacobian(f, args, nums, where, forward, kwargs, lift_rest=True)
        return rows[0] if spec is None else rows

    return jacobian


def jacfwd(f: Callable[..., Outputs], argnums: int | Sequence[int] | None = None
           ) -> Callable[..., Any]:
    """`f` -> a function giving the Jacobian by forward mode: one tangent walk per input.

    Rows are outputs, columns the inputs in `argnums` (default: all arguments); for a
    single-Value `f` the result is one row (a list). Cheap when inputs are few.
    """
    return _jac_old(f, argnums, "jacfwd", True)


def jacrev(f: Callable[..., Outputs], argnums: int | Sequence[int] | None = None
           ) -> Callable[..., Any]:
    """`f` -> a function giving the Jacobian by reverse mode: one `grad` per output row.

    The same layout as `jacfwd`. Cheap when outputs are few.
    """
    return _jac_old(f, argnums, "jacrev", False)

"""`Module`: the base of every model, with named parameters and a JSON state (never pickle).

A module's parameters are found by walking its attributes in the order they were assigned:
a `Value` is a parameter, a `Module` is a child, and a list or tuple is walked item by item
(names get the index: `layers.0.neurons.3.w.1`). Anything else (strings, numbers) is ignored.
"""

from __future__ import annotations

import json
import math
import numbers
import os
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from autograd_lite import Value

from .fitted import fitted_state

#: Written into saved files, checked when loading, so a foreign JSON file fails clearly.
FORMAT = "autograd-lite.nn.state"
VERSION = 1


def _walk(prefix: str, obj: Any) -> Iterator[tuple[str, Value]]:
    if isinstance(obj, Value):
        yield prefix, obj
    elif isinstance(obj, Module):
        yield from obj._named(prefix)
    elif isinstance(obj, list | tuple):
        for i, item in enumerate(obj):
            yield from _walk(f"{prefix}.{i}" if prefix else str(i), item)


#: A cluster path for draw_graph: cluster names, outermost first.
Path = tuple[str, ...]


class _Clusters:
    """What a module tree says about draw_graph's clusters, found from its structure (no name
    is parsed): each parameter's path and, per module owning parameters, its own path."""

    def __init__(self) -> None:
        self.paths: dict[Value, Path] = {}
        self.owned: dict[str, tuple[Path, set[Value]]] = {}  # module name -> (path, its Values)

    def module(self, m: Module, name: str, outer: Path, listed: bool) -> None:
        # A module that is an item of a list (`layers.0`, `neurons.3`) is a level of its own;
        # one held by an attribute (`encoder`) is one only for the Values it holds itself.
        path = outer + (name,) if listed and name else outer
        own = path if not name or (path and path[-1] == name) else path + (name,)
        for attr, obj in vars(m).copy().items():
            if not attr.startswith("_"):
                self.item(obj, f"{name}.{attr}" if name else attr, path, own, False)

    def item(self, obj: Any, name: str, path: Path, own: Path, listed: bool) -> None:
        if isinstance(obj, Value):
            if obj not in self.paths:  # a tied parameter stays with its first module
                self.paths[obj] = own
                if own:
                    self.owned.setdefault(own[-1], (own, set()))[1].add(obj)
        elif isinstance(obj, Module):
            self.module(obj, name, path, listed)
        elif isinstance(obj, list | tuple):
            for i, x in enumerate(obj):
                self.item(x, f"{name}.{i}", path, own, True)

    def output_of(self, v: Value) -> Path | None:
        """The path of the module whose output `v` is: v carries the module's name as its
        label (as a Neuron's output does) and is computed from that module's parameters,
        found before reaching another module's output (so a second model with the same names
        is not taken for this one)."""
        owner = self.owned.get(v.label) if v.op is not None and v.label else None
        if owner is None:
            return None
        path, mine = owner
        todo, seen = deque(v.parents), {v}
        while todo:
            u = todo.popleft()
            if u in mine:
                return path
            if u in seen or u.op is None or (u.label and u.label in self.owned):
                continue
            seen.add(u)
            todo.extend(u.parents)
        return None


def _describe(x: object) -> str:
    text = repr(x)
    return f"{type(x).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def _preview(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


class Module:
    """Base class: subclasses assign parameters (Values) and children (Modules) as attributes.

    `named_parameters()` yields `(dotted_name, Value)` in attribute-assignment order, which
    for the built-in models is layer by layer, neuron by neuron, weights then bias.
    """

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Value]]:
        """Yield `(dotted_name, parameter)` pairs, e.g. `("layers.0.neurons.3.w.1", Value)`.

        A Value reachable twice (a tied weight) is yielded once, under its first name.
        """
        seen: set[Value] = set()
        for name, p in self._named(prefix):
            if p not in seen:
                seen.add(p)
                yield name, p

    def _named(self, prefix: str) -> Iterator[tuple[str, Value]]:
        for name, obj in vars(self).copy().items():
            if name.startswith("_"):
                continue
            yield from _walk(f"{prefix}.{name}" if prefix else name, obj)

    def parameters(self) -> list[Value]:
        """Every parameter, in the same fixed order as `named_parameters()`."""
        return [p for _, p in self.named_parameters()]

    def label_parameters(self) -> None:
        """Set each parameter's `.label` to its dotted name (done by the built-in models)."""
        for name, p in self.named_parameters():
            p.label = name

    def graph_clusters(self) -> Callable[[Value], Path | None]:
        """Where `draw_graph` groups this model's nodes: a function of a Value giving its
        cluster path, or None to let the drawing's rules place it (docs/rendering.md).

        `draw_graph(loss, modules=model)` calls this; `clusters=model.graph_clusters()` is the
        same. Clusters follow the module tree: each module that is an item of a list is a
        cluster named by its dotted name inside the ones holding it (an MLP's
        `("layers.0", "layers.0.neurons.3")`), and a parameter sits in the innermost module
        holding it; a Neuron's output (labelled with the neuron's name) ends its cluster.
        Parameters of no such module (an RNNCell's) are placed outside every cluster.
        """
        found = _Clusters()
        found.module(self, "", (), False)
        paths, output_of = found.paths, found.output_of

        def place(v: Value) -> Path | None:
            path = paths.get(v)
            return path if path is not None else output_of(v)

        return place

    def zero_grad(self, set_to_none: bool = False) -> None:
        """Reset every parameter's `.grad` to 0.0 (call before each backward); with
        `set_to_none`, to None ("no gradient yet", PyTorch's default), which optimizers skip."""
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            else:
                p.zero_grad()

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The computation; subclasses override it. `module(x)` calls it."""
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # ---- state: plain JSON-able data --------------------------------------------------------
    def state_dict(self) -> dict[str, float]:
        """`{dotted_name: float}` for every parameter, in parameter order (JSON-able)."""
        return {name: p.data for name, p in self.named_parameters()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Copy `state` into the parameters; everything is checked first, so a bad state
        raises (KeyError for missing or extra names, TypeError for an entry that is not a real
        number, ValueError for NaN or an infinity) and leaves the model unchanged.

        Entries may be any real number (`int`, `float`, `numpy.float32`, `Fraction`) or a
        Value, as `Value()` accepts them.
        """
        named = list(self.named_parameters())
        new = _check_state(state, [name for name, _ in named], type(self).__name__)
        for (_, p), value in zip(named, new):
            p.data = value

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the parameters to `path` as JSON (floats written exactly, by repr), with the
        loss and decision rule of the model's last `fit` (an optional "fitted" entry), so a
        loaded model predicts and evaluates as the saved one did."""
        state = self.state_dict()
        bad = [n for n, v in state.items() if not math.isfinite(v)]
        if bad:
            raise ValueError(f"cannot save {type(self).__name__}: non-finite parameters "
                             f"{_preview(bad)}")
        doc: dict[str, Any] = {"format": FORMAT, "version": VERSION,
                               "model": type(self).__name__, "parameters": state}
        fitted = getattr(self, "_nn_fitted", None)
        if isinstance(fitted, dict):  # fit's loss and decision rule: plain JSON data
            doc["fitted"] = fitted
        with open(path, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1, allow_nan=False)
            f.write("\n")

    def load(self, path: str | os.PathLike[str]) -> Module:
        """Read parameters saved by `save(path)` (and the fitted loss and decision rule, when
        the file has them) into this model and return it; a bad or mismatched file (another
        model class's state included) raises (ValueError for anything not a state file:
        binary, UTF-16, malformed, deeply nested or oversized JSON, duplicate names) naming
        the file, and leaves the model unchanged."""
        where = repr(os.fspath(path))
        named = list(self.named_parameters())
        doc = _read_json(path, where, _size_limit([name for name, _ in named]))
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise ValueError(f"{where} is not an autograd-lite model file "
                             f"(expected a JSON object with \"format\": {FORMAT!r})")
        version = doc.get("version")
        if type(version) is not int or version != VERSION:  # true == 1 and 1.0 == 1: refused
            raise ValueError(f"{where}: unsupported format version "
                             f"{version!r} (this version reads {VERSION})")
        if "parameters" not in doc:
            raise KeyError(f"{where} has no \"parameters\" entry")
        model = doc.get("model", type(self).__name__)
        names = [cls.__name__ for cls in type(self).__mro__]
        if type(model) is not str or model not in names:
            raise ValueError(f"{where} holds the state of a {model!r}, not of a "
                             f"{type(self).__name__}")
        fitted = doc.get("fitted")
        if fitted is not None:
            fitted_state(fitted, f"{where}: \"fitted\"")  # checked before anything changes
        try:
            self.load_state_dict(doc["parameters"])
        except (KeyError, TypeError, ValueError) as e:
            msg = e.args[0] if e.args else str(e)
            raise type(e)(f"{where}: {msg}") from None
        try:
            if fitted is not None:
                self._nn_fitted = fitted
            else:  # a file from before fit's rule was saved, or of a model never fitted
                vars(self).pop("_nn_fitted", None)
        except (AttributeError, TypeError):  # a module with __slots__: nothing remembered
            pass
        return self

    def to_torch(self) -> Any:
        """An equivalent float64 `torch.nn.Module` with this model's parameters copied (MLP,
        Layer, Neuron, RNNCell override this; see nn/torch_bridge.py). Needs torch installed.
        A module with no torch equivalent: TypeError naming its class."""
        raise TypeError(f"to_torch() converts MLP, Layer, Neuron and RNNCell, got "
                        f"{type(self).__name__}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self.parameters())} parameters)"


def _reject_constant(name: str) -> float:
    raise ValueError(f"non-finite number {name} in a model file")


#: A state file may hold this many bytes plus PER_PARAMETER_BYTES per parameter; `save`
#: writes about 40 + len(name) per parameter, so only a file that cannot be this model's
#: state (or is not a state file at all) is refused, before it is read into memory whole.
BASE_BYTES = 1 << 20
PER_PARAMETER_BYTES = 1 << 10


def _size_limit(names: list[str]) -> int:
    return BASE_BYTES + PER_PARAMETER_BYTES * len(names)


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json object hook: a name given twice is an error (json would keep the last silently)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate name {key!r} in a JSON object")
        out[key] = value
    return out


def _read_json(path: str | os.PathLike[str], where: str, limit: int) -> Any:
    """The JSON document in `path`, or ValueError naming the file and what is wrong with it."""
    with open(path, "rb") as f:
        raw = f.read(limit + 1)
    if len(raw) > limit:
        raise ValueError(f"{where} is larger than {limit} bytes, more than a state file of this "
                         "model can be; not loaded")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ValueError(f"{where} is UTF-16 text (it starts with a UTF-16 byte-order mark); "
                         "a state file is UTF-8 JSON, as save() writes it")
    if b"\x00" in raw:
        raise ValueError(f"{where} contains NUL bytes (UTF-16 text or binary data); a state "
                         "file is UTF-8 JSON, as save() writes it")
    try:
        text = raw.decode("utf-8-sig")  # a UTF-8 byte-order mark, as some editors add, is fine
    except UnicodeDecodeError as e:
        raise ValueError(f"{where} is not UTF-8 text (a binary file?): byte {e.start} is "
                         f"{raw[e.start:e.start + 1]!r}") from None
    try:
        return json.loads(text, parse_constant=_reject_constant,
                          object_pairs_hook=_unique_object)
    except json.JSONDecodeError as e:
        raise ValueError(f"{where} is not valid JSON: {e}") from None
    except RecursionError:
        raise ValueError(f"{where}: JSON nested too deeply to be a state file") from None
    except ValueError as e:  # non-finite constants, duplicate names, ints over 4300 digits
        raise ValueError(f"{where}: {e}") from None


def _check_state(state: object, names: list[str], model: str) -> list[float]:
    """The state's values as floats, in `names` order; raise before anything is assigned."""
    if not isinstance(state, Mapping):
        raise TypeError(f"{model} state must be a mapping of parameter names to numbers, "
                        f"got {_describe(state)}")
    wanted = set(names)
    missing = [n for n in names if n not in state]
    extra = [str(k) for k in state if k not in wanted]
    if missing or extra:
        parts = [f"state does not fit this {model} ({len(names)} parameters; "
                 f"the state has {len(state)})"]
        if missing:
            parts.append(f"missing {_preview(missing)}")
        if extra:
            parts.append(f"unexpected {_preview(extra)}")
        raise KeyError("; ".join(parts))
    out = []
    for n in names:
        out.append(_entry(state[n], n))
    return out


def _entry(v: object, name: str) -> float:
    """A state entry as a finite float: any real number (int, float, numpy scalars, Fraction)
    or a Value (its data), as `Value` accepts them; bool, NaN and infinities are refused."""
    if isinstance(v, Value):
        v = v.data
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError(f"state entry {name!r} must be a real number, got {_describe(v)}")
    try:
        f = float(v)
    except OverflowError:
        f = math.inf
    if not math.isfinite(f):
        raise ValueError(f"state entry {name!r} is not finite: {_describe(v)}")
    return f

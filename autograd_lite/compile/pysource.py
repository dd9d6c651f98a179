"""Python replay's programs: a traced graph's source, in pieces compiled one at a time
(`PythonReplay` builds each program on first use).

A program of up to `CHUNKED_ABOVE` nodes is one function over local variables (`v3 = v1 * v2`,
`emit._python_source`): the fastest to run. A longer one is cut into functions of `CHUNK`
statements, the same statements over the same local names; a value one function makes and a
later one reads passes through one list `T` (node k's value in `T[k]`, its gradient in
`T[n + k]`, as the C code's scratch array), loaded once per function that reads it, and a
driver calls them in order. `compile()` holds a whole function's syntax tree at once (~3 KB a
statement, and more than linear time): one piece at a time keeps a 10^5-node program's compile
small and linear (a 104,779-node random graph: peak RSS 565 -> 155 MB; a 10^6-node one 1.4 GB).
The statements, and so the numbers, are the same in both forms; the loads and stores between
pieces cost ~10-40% per call on a wide random graph (each node read anywhere later), less
on a layered one.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

from ..engine import ops
from . import progress
from .emit import _PyEmitter, _python_source
from .program import _Graph, _Program

#: Graphs with more nodes than this get the chunked form.
CHUNKED_ABOVE = 20_000
#: Statements per function in the chunked form.
CHUNK = 2_000


#: The names the Python emitter gives values (`v3`), inputs (`x0`), parameters (`p0`), their
#: gradients (`gv3`, `gx0`, `gp0`) and carried gradients (`h0`).
_NAME = re.compile(r"\b(?:g?[vxp]|h)\d+\b")


def program_source(graph: _Graph, namespace: dict[str, Any], name: str, n_inputs: int,
                   n_params: int, with_grad: bool, input_grads: bool, carry: bool,
                   has_aux: bool) -> list[str]:
    """The pieces of source defining `fn(x, p)` (`fn(x, p, h)` with `carry`; see `_Program`)
    for the graph: one piece, or chunk functions named after `name` and the driver last."""
    prog = _Program(graph, n_params, _PyEmitter(namespace), input_grads=input_grads,
                    carry=carry)
    n = len(graph.order)
    if n <= CHUNKED_ABOVE:
        return [_python_source(prog, n_inputs, n_params, with_grad, has_aux, carry=carry)]
    lines = [(v, f"{v} = {e}", e, False) for v, e in prog.forward]
    if with_grad:
        lines += [(v, f"{v} {'=' if new else '+='} {e}", e, not new)
                  for new, v, e in prog.backward]
    del prog.forward, prog.backward
    root = prog.outputs[0]
    if has_aux:  # (value, (aux, ...)), as JAX's has_aux
        root = f"({root}, ({''.join(o + ', ' for o in prog.outputs[1:])}))"
    ret = f"return {root}, ({''.join(o + ', ' for o in prog.grads)})" if with_grad \
        else f"return {root}"
    n_chunks = (len(lines) + CHUNK - 1) // CHUNK
    # Where each value is read last (the driver, chunk n_chunks, reads what it returns).
    reads: list[list[str]] = []
    last: dict[str, int] = {}
    for i, (target, _, expr, adds) in enumerate(lines):
        names = _NAME.findall(expr)
        if adds:
            names.append(target)
        reads.append(names)
        for v in names:
            last[v] = i // CHUNK
    for v in _NAME.findall(ret):
        last[v] = n_chunks
    args = "x, p, h, T" if carry else "x, p, T"
    pieces = []
    for c in range(n_chunks):
        chunk = range(c * CHUNK, min((c + 1) * CHUNK, len(lines)))
        here: dict[str, None] = {}  # (dicts, not sets: the source is the same at every run)
        loads: dict[str, None] = {}
        for i in chunk:
            loads.update((v, None) for v in reads[i] if v not in here)
            here[lines[i][0]] = None
        stores = [v for v in here if last.get(v, -1) > c]
        pieces.append("\n".join([f"def _{name}_{c}({args}):",
                                 *(f"    {v} = {_slot(v, n, n_inputs)}" for v in loads),
                                 *(f"    {lines[i][1]}" for i in chunk),
                                 *(f"    {_slot(v, n, n_inputs)} = {v}" for v in stores)]) + "\n")
        reads[chunk.start:chunk.stop] = [[] for _ in chunk]  # (freed as the chunks are done)
    size = 2 * n + n_inputs + n_params
    driver = ["def fn(x, p, h):" if carry else "def fn(x, p):", f"    T = [0.0] * {size}",
              *(f"    _{name}_{c}({args})" for c in range(n_chunks)),
              *(f"    {v} = {_slot(v, n, n_inputs)}"
                for v in dict.fromkeys(_NAME.findall(ret))),
              f"    {ret}"]
    pieces.append("\n".join(driver) + "\n")
    return pieces


def _slot(v: str, n: int, k: int) -> str:
    """Where a name lives between the chunks (`n` nodes, `k` inputs): T for values and
    gradients, the arguments for inputs, parameters and carried gradients."""
    if v[0] == "g":
        base = {"v": n, "x": 2 * n, "p": 2 * n + k}[v[1]]
        return f"T[{base + int(v[2:])}]"
    if v[0] == "v":
        return f"T[{v[1:]}]"
    return f"{v[0]}[{v[1:]}]"


#: The Python programs of a graph: name -> (with gradients, input gradients, carry).
_PY_KINDS = {"value_and_grad": (True, True, False), "forward": (False, True, False),
             "value_and_param_grads": (True, False, False), "backward": (True, False, True)}


class PythonReplay:
    """The graph's Python programs (see `_PY_KINDS`), each generated and compiled on first
    use. Generated source only (never user text) runs, in a namespace holding math functions
    and the primitives' own functions."""

    def __init__(self, graph: _Graph, n_inputs: int, n_params: int, has_aux: bool) -> None:
        self.graph = graph
        self.n_inputs, self.n_params, self.has_aux = n_inputs, n_params, has_aux
        self.namespace: dict[str, Any] = dict(ops.PY_NAMES, K=[], P=[])
        self._sources: dict[str, list[str]] = {}
        self._fns: dict[str, Callable[..., Any]] = {}
        self._lock = threading.RLock()  # two threads must not exchange `fn`s in the namespace
        self.show: progress.Setting | None = None  #: the Compiled's setting (`progress`)

    def pieces(self, kind: str) -> list[str]:
        """The source of program `kind` in pieces (`pysource`), generated on first use."""
        with self._lock:
            if kind not in self._sources:
                with_grad, input_grads, carry = _PY_KINDS[kind]
                self._sources[kind] = program_source(
                    self.graph, self.namespace, kind, self.n_inputs, self.n_params, with_grad,
                    input_grads, carry, self.has_aux)
            return self._sources[kind]

    def source(self, kind: str) -> str:
        """The source of program `kind`, generated on first use."""
        return "".join(self.pieces(kind))

    def fn(self, kind: str, announce: bool = True) -> Callable[..., Any]:
        """Program `kind` as a function, compiled on first use (a long build says so, unless
        `announce` is False: `compile_grad` announces its own)."""
        with self._lock:
            if kind not in self._fns:
                with progress.build(f"compiled function ({kind})", 2 if announce else 0,
                                    self.show) as b:
                    b.stage("generating Python")
                    pieces = self.pieces(kind)
                    b.stage("compiling Python")
                    for piece in pieces:  # one at a time: compile() holds a piece's tree
                        exec(compile(piece, f"<autograd_lite.compile: {kind}>", "exec"),
                             self.namespace)
                    self._fns[kind] = self.namespace.pop("fn")
            return self._fns[kind]

"""Emitters: the program as Python source or as a C function over a batch of rows."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ..engine import derive
from ..engine.value import Primitive
from . import native
from .program import exact

if TYPE_CHECKING:
    from .program import _Program


def py_template(op: Primitive) -> tuple[str, tuple[str, ...]] | None:
    """The Python code of `op`, derived from its record (see `autograd_lite.engine.derive`); None
    when not derivable: it is then called through its own functions."""
    return derive.templates(op, "py")


def _fmt(text: str, args: list[str], params: list[str], out: str = "") -> str:
    b = args[1] if len(args) > 1 else ""
    return text.format(a=args[0], b=b, p=params[0] if params else "", o=out)


class _PyEmitter:
    """Python source text for one node's forward expression and local partials."""

    def __init__(self, namespace: dict[str, Any]) -> None:
        self.consts: list[float] = namespace["K"]
        self.prims: list[Primitive] = namespace["P"]
        self.index: dict[Primitive, int] = {}

    @staticmethod
    def leaf(kind: str, i: int) -> str:
        return f"{kind}{i}"

    @staticmethod
    def var(k: int) -> str:
        return f"v{k}"

    @staticmethod
    def grad(k: int, name: str) -> str:
        return "g" + name

    @staticmethod
    def mask(g: str, local: str) -> str:
        return f"(0.0 if ({local}) == 0.0 else {g} * ({local}))"

    def literal(self, x: Any) -> str:
        """An exact literal: the repr of the plain float (round-trips), or `K[i]` if not finite."""
        f = exact(x)
        if math.isfinite(f):
            text = float.__repr__(f)
            return f"({text})" if text.startswith("-") else text
        self.consts.append(f)
        return f"K[{len(self.consts) - 1}]"

    def prim(self, op: Primitive) -> str:
        """`P[j]`: a primitive without a template, called through its own functions."""
        if op not in self.index:
            self.index[op] = len(self.prims)
            self.prims.append(op)
        return f"P[{self.index[op]}]"

    def forward(self, op: Primitive, args: list[str], pvals: tuple[Any, ...]) -> str:
        params = [self.literal(q) for q in pvals]
        t = py_template(op)
        if t is not None:
            return _fmt(t[0], args, params)
        # `_run` converts the result to float and names the op in errors, as the interpreter.
        return f"{self.prim(op)}._run(({', '.join(args)},), ({''.join(q + ',' for q in params)}))"

    def partial(self, op: Primitive, i: int, out: str, args: list[str],
                pvals: tuple[Any, ...]) -> str:
        params = [self.literal(q) for q in pvals]
        t = py_template(op)
        if t is not None:
            return _fmt(t[1][i], args, params, out)
        return f"{self.prim(op)}.partials[{i}]({', '.join([out, *args, *params])})"


class _CEmitter:
    """C expression text for one node (every primitive must have a C template). Every value
    lives in the scratch array T: node k's value in T[k], its gradient in T[n + k]."""

    def __init__(self, n_nodes: int) -> None:
        self.n = n_nodes
        self.non_finite = False  #: a constant is inf or nan (see `_native`)

    @staticmethod
    def leaf(kind: str, i: int) -> str:
        return f"x[{i}]" if kind == "x" else f"P[{i}]"

    @staticmethod
    def var(k: int) -> str:
        return f"T[{k}]"

    def grad(self, k: int, name: str) -> str:
        return f"T[{self.n + k}]"

    @staticmethod
    def mask(g: str, local: str) -> str:
        return f"(({local}) == 0.0 ? 0.0 : {g} * ({local}))"

    def literal(self, x: Any) -> str:
        f = exact(x)
        if not math.isfinite(f):
            self.non_finite = True
        return native.literal(f)

    def forward(self, op: Primitive, args: list[str], pvals: tuple[Any, ...]) -> str:
        t = native.c_template(op)
        assert t is not None
        return _fmt(t[0], args, [self.literal(q) for q in pvals])

    def partial(self, op: Primitive, i: int, out: str, args: list[str],
                pvals: tuple[Any, ...]) -> str:
        t = native.c_template(op)
        assert t is not None
        return _fmt(t[1][i], args, [self.literal(q) for q in pvals], out)


def _python_source(prog: _Program, n_inputs: int, n_params: int, with_grad: bool,
                   has_aux: bool, carry: bool = False) -> str:
    """`def fn(x, p)` returning the value (and the gradients tuple if `with_grad`); with
    `carry`, `def fn(x, p, h)`: `h`, the parameters' starting gradients (see `_Program`)."""
    lines = ["def fn(x, p, h):" if carry else "def fn(x, p):"]
    if n_inputs:
        lines.append("    " + "".join(f"x{i}, " for i in range(n_inputs)) + "= x")
    if n_params:
        lines.append("    " + "".join(f"p{j}, " for j in range(n_params)) + "= p")
        if carry:
            lines.append("    " + "".join(f"h{j}, " for j in range(n_params)) + "= h")
    lines += [f"    {v} = {e}" for v, e in prog.forward]
    root = prog.outputs[0]
    if has_aux:  # (value, (aux, ...)), as JAX's has_aux
        root = f"({root}, ({''.join(o + ', ' for o in prog.outputs[1:])}))"
    if not with_grad:
        lines.append(f"    return {root}")
        return "\n".join(lines) + "\n"
    lines += [f"    {v} {'=' if new else '+='} {e}" for new, v, e in prog.backward]
    lines.append(f"    return {root}, ({''.join(o + ', ' for o in prog.grads)})")
    return "\n".join(lines) + "\n"


#: Statements per C function: GCC's optimiser is superlinear in a function's size, so the
#: program is cut into functions of this many statements (compile time stays linear).
CHUNK = 400


def _c_source(prog: _Program, n_inputs: int, n_params: int, n_nodes: int,
              flag_every_row: bool = False, input_grads: bool = True
              ) -> tuple[str, int, list[int]]:
    """C source of two functions over a batch of `n` rows (row-major `X`, `n_inputs` per row),
    the number of doubles of scratch space T they need, and the indices of the parameters the
    output depends on (the others' gradients are 0.0 and never written):

    `al_vg(n, X, P, V, G, PG, fail, T)`: values (and aux) into V, input gradients into G (none
    when `input_grads` is False: `prog` has none), each row's parameter gradients added into PG
    (rows in order, straight from T); `al_fw(n, X, P, V, fail, T)`: values only. Both return
    0 when every row is done; 1 with `*fail` = the first row not done (an input is inf, or the
    row raised an IEEE invalid, divide-by-zero or overflow flag; the rows before it are done
    and added, that row's gradients are not); 2 when a parameter is not finite (no row run);
    3 with `*fail` = the index in X of a NaN (checked over the whole batch before any row).
    The statements live in `noinline` functions of CHUNK statements that read inputs,
    parameters and T and write T, so no computation can move out of the window between
    clearing and testing the flags; results are copied out of T by loops over index tables.
    """
    fwd = [f"  {v} = {e};" for v, e in prog.forward]
    bwd = [f"  {v} {'=' if new else '+='} {e};" for new, v, e in prog.backward]
    size = 2 * n_nodes

    def slot(expr: str, lines: list[str]) -> int:
        nonlocal size
        if expr.startswith("T[") and expr.endswith("]") and expr[2:-1].isdigit():
            return int(expr[2:-1])
        lines.append(f"  T[{size}] = {expr};")  # a leaf or a constant: copied into T
        size += 1
        return size - 1

    k_grads = n_inputs if input_grads else 0
    vslots = [slot(o, fwd) for o in prog.outputs]
    gslots = [slot(e, bwd) for e in prog.grads[:k_grads]]
    used = [(j, slot(e, bwd)) for j, e in enumerate(prog.grads[k_grads:]) if e != "0.0"]
    out: list[str] = []
    sig = "(const double *restrict x, const double *restrict P, double *restrict T)"

    def chunks(prefix: str, lines: list[str]) -> list[str]:
        names = []
        for c in range(0, len(lines), CHUNK):
            names.append(f"{prefix}{c // CHUNK}")
            out.append(f"static __attribute__((noinline)) void {names[-1]}{sig} {{")
            out.extend(lines[c:c + CHUNK])
            out.append("}")
        return [f"    {name}(x, P, T);" for name in names]

    def table(name: str, items: list[int]) -> None:
        out.append(f"static const long {name}[{max(len(items), 1)}] = "
                   f"{{{', '.join(map(str, items)) or '0'}}};")

    call_fw = chunks("al_f", fwd)
    call_bw = chunks("al_b", bwd)
    table("al_vs", vslots)
    table("al_gs", gslots)
    table("al_pj", [j for j, _ in used])
    table("al_ps", [t for _, t in used])
    nv, m = len(vslots), len(used)
    # Inputs and parameters are checked here, once: a NaN input is the caller's error, a
    # non-finite parameter or an inf input sends rows to the interpreter (see `_c_run`).
    check = [f"  for (long i = 0; i < n * {n_inputs}; i++) "
             "if (isnan(X[i])) { *fail = i; return 3; }",
             f"  for (long j = 0; j < {n_params}; j++) "
             "if (!isfinite(P[j])) { *fail = 0; return 2; }"]
    head = [f"    const double *x = X + r * {n_inputs};",
            f"    for (long i = 0; i < {n_inputs}; i++) "
            "if (!isfinite(x[i])) { *fail = r; return 1; }",
            "    feclearexcept(AL_BAD);"]
    if flag_every_row:  # a non-finite constant: every row goes to the interpreter
        head.append("    feraiseexcept(FE_INVALID);")
    store_v = f"    for (long i = 0; i < {nv}; i++) V[r * {nv} + i] = T[al_vs[i]];"
    test = "    if (fetestexcept(AL_BAD)) { *fail = r; return 1; }"
    store_g = [f"    for (long i = 0; i < {n_inputs}; i++) G[r * {n_inputs} + i] = "
               "T[al_gs[i]];"] if input_grads else []
    out += ["int al_fw(long n, const double *X, const double *P, double *V, long *fail, "
            "double *T) {", *check, "  for (long r = 0; r < n; r++) {", *head, *call_fw,
            store_v, test, "  }", "  return 0;", "}"]
    out += ["int al_vg(long n, const double *X, const double *P, double *V, double *G, "
            "double *PG, long *fail, double *T) {", *check,
            "  for (long r = 0; r < n; r++) {", *head, *call_fw, store_v, *call_bw, *store_g,
            test, f"    for (long j = 0; j < {m}; j++) PG[al_pj[j]] += T[al_ps[j]];",
            "  }", "  return 0;", "}", ""]
    return "\n".join(out), size, [j for j, _ in used]

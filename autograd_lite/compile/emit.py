"""Emitters: the program as Python source, or as C functions over a batch of rows (one row at a
time, or blocks of rows in SIMD lanes: `c_blocks_source`).

Why one file past ~400 lines: it is one idea, the program's statements written out as code;
the scalar and block C generators share their statements, slots and checks (`_CParts`), and
the block code's rows must stay interchangeable with the scalar code's, so they are read
together (the rewrite of one statement into vector text is `vector.py`)."""

from __future__ import annotations

import functools
import math
import re
from typing import TYPE_CHECKING, Any

from ..engine import derive
from ..engine.value import Primitive
from . import native, vector
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
#: program is cut into functions of this many statements (compile time stays linear). 100
#: rather than 400: the digits graph's block code builds in 3.1 s of compiler CPU instead of
#: 4.1 s (the scalar code in 1.3 s instead of 1.9 s), at the same run time (bench_blocks.py).
CHUNK = 100


class _CParts:
    """What the scalar and the block generators share: the statements, the slots of the
    outputs in T, the parameters the output depends on, and the input and parameter checks."""

    def __init__(self, prog: _Program, n_inputs: int, n_params: int, n_nodes: int,
                 input_grads: bool) -> None:
        self.fwd = [(v, "=", e) for v, e in prog.forward]
        self.bwd = [(v, "=" if new else "+=", e) for new, v, e in prog.backward]
        self.size = 2 * n_nodes
        k_grads = n_inputs if input_grads else 0
        self.vslots = [self._slot(o, self.fwd) for o in prog.outputs]
        self.gslots = [self._slot(e, self.bwd) for e in prog.grads[:k_grads]]
        self.used = [(j, self._slot(e, self.bwd)) for j, e in enumerate(prog.grads[k_grads:])
                     if e != "0.0"]
        self.k, self.n_params, self.input_grads = n_inputs, n_params, input_grads
        # Copies `T[a] = T[b]` (a gradient passed through an add, a value through a copy)
        # removed: T[a]'s readers read T[b] (see `_forward_copies`).
        alias = _forward_copies(self.fwd, self.bwd)
        self.vslots = [alias.get(t, t) for t in self.vslots]
        self.gslots = [alias.get(t, t) for t in self.gslots]
        self.used = [(j, alias.get(t, t)) for j, t in self.used]
        # T compacted: a slot is reused once its value is dead (see `_reuse_slots`).
        keep = [*self.vslots, *self.gslots, *(t for _, t in self.used)]
        slots, self.size = _reuse_slots(self.fwd + self.bwd, keep)

        def rename(text: str) -> str:
            return _T_REF.sub(lambda r: f"T[{slots[int(r.group(1))]}]", text)

        self.fwd = [(rename(v), o, rename(e)) for v, o, e in self.fwd]
        self.bwd = [(rename(v), o, rename(e)) for v, o, e in self.bwd]
        self.vslots = [slots[t] for t in self.vslots]
        self.gslots = [slots[t] for t in self.gslots]
        self.used = [(j, slots[t]) for j, t in self.used]

    def _slot(self, expr: str, lines: list[tuple[str, str, str]]) -> int:
        if expr.startswith("T[") and expr.endswith("]") and expr[2:-1].isdigit():
            return int(expr[2:-1])
        lines.append((f"T[{self.size}]", "=", expr))  # a leaf or a constant: copied into T
        self.size += 1
        return self.size - 1

    def checks(self) -> list[str]:
        """Inputs and parameters are checked once per call: a NaN input is the caller's error,
        a non-finite parameter or an inf input sends rows to the interpreter (see `_c_run`)."""
        return [f"  for (long i = 0; i < n * {self.k}; i++) "
                "if (isnan(X[i])) { *fail = i; return 3; }",
                f"  for (long j = 0; j < {self.n_params}; j++) "
                "if (!isfinite(P[j])) { *fail = 0; return 2; }"]

    def tables(self, out: list[str]) -> None:
        def table(name: str, items: list[int]) -> None:
            out.append(f"static const long {name}[{max(len(items), 1)}] = "
                       f"{{{', '.join(map(str, items)) or '0'}}};")

        table("al_vs", self.vslots)
        table("al_gs", self.gslots)
        table("al_pj", [j for j, _ in self.used])
        table("al_ps", [t for _, t in self.used])


class _CText:
    """A C program's text in the layout `native` splits into translation units compiled in
    parallel (`native.units`): a head every unit needs (types, lane helpers), the statement
    functions (`AL_CHUNK`: noinline, hidden, one per line of `pieces`), then the rest (their
    prototypes, the tables, the row loops and the entry points). One text, valid C as a whole:
    compiled as one unit or as several, the same functions with the same statements."""

    def __init__(self) -> None:
        self.head: list[str] = []
        self.pieces: list[str] = []
        self.protos: list[str] = []
        self.main: list[str] = []

    def chunks(self, prefix: str, lines: list[str], head: str, args: str,
               call: str = "") -> list[str]:
        """`lines` as noinline functions of CHUNK statements; the statements calling them
        (with the arguments `call`, by default the statements' own: `(x, P, T)` for scalar
        code, `(P, VT)` for block code)."""
        names = []
        for c in range(0, len(lines), CHUNK):
            names.append(f"{prefix}{c // CHUNK}")
            body = [f"AL_CHUNK {head}{names[-1]}{args} {{", *lines[c:c + CHUNK]]
            if head.startswith("AL_T"):
                body.append("  AL_VZ;")  # AVX code leaves the upper register halves clean
            self.pieces.append("\n".join([*body, "}"]))
            self.protos.append(f"AL_CHUNK {head}{names[-1]}{args};")
        if not head.startswith("AL_T"):
            return [f"    {name}{call or '(x, P, T)'};" for name in names]
        return [f"      {name}{call or '(P, VT)'};" for name in names]

    def text(self) -> str:
        return "\n".join([*self.head, native.PIECES_MARK, *self.pieces, native.MAIN_MARK,
                          *self.protos, *self.main, ""])


_FW_SIG = "(long n, const double *X, const double *P, double *V, long *fail, double *T)"
_VG_SIG = ("(long n, const double *X, const double *P, double *V, double *G, double *PG, "
           "long *fail, double *T)")


def _scalar_rows(parts: _CParts, out: _CText, flag_every_row: bool) -> None:
    """`al_fw_rows(r0, ...)` and `al_vg_rows(r0, ...)`: rows r0..n-1 one at a time (the flags
    cleared before and tested after each row), returning 0 or 1 with `*fail` = the row."""
    k, nv, m = parts.k, len(parts.vslots), len(parts.used)
    sig = "(const double *restrict x, const double *restrict P, double *restrict T)"
    call_fw = out.chunks("al_f", [f"  {v} {o} {e};" for v, o, e in parts.fwd], "void ", sig)
    call_bw = out.chunks("al_b", [f"  {v} {o} {e};" for v, o, e in parts.bwd], "void ", sig)
    head = [f"    const double *x = X + r * {k};",
            f"    for (long i = 0; i < {k}; i++) "
            "if (!isfinite(x[i])) { *fail = r; return 1; }",
            "    feclearexcept(AL_BAD);"]
    if flag_every_row:  # a non-finite constant: every row goes to the interpreter
        head.append("    feraiseexcept(FE_INVALID);")
    store_v = f"    for (long i = 0; i < {nv}; i++) V[r * {nv} + i] = T[al_vs[i]];"
    test = "    if (fetestexcept(AL_BAD)) { *fail = r; return 1; }"
    store_g = [f"    for (long i = 0; i < {k}; i++) G[r * {k} + i] = "
               "T[al_gs[i]];"] if parts.input_grads else []
    out.main += [f"int al_fw_rows(long r0, {_FW_SIG[1:]} {{",
            "  for (long r = r0; r < n; r++) {", *head, *call_fw, store_v, test, "  }",
            "  return 0;", "}"]
    out.main += [f"int al_vg_rows(long r0, {_VG_SIG[1:]} {{",
            "  for (long r = r0; r < n; r++) {", *head, *call_fw, store_v, *call_bw, *store_g,
            test, f"    for (long j = 0; j < {m}; j++) PG[al_pj[j]] += T[al_ps[j]];",
            "  }", "  return 0;", "}"]


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
    parts = _CParts(prog, n_inputs, n_params, n_nodes, input_grads)
    out = _CText()
    parts.tables(out.main)
    _scalar_rows(parts, out, flag_every_row)
    check = parts.checks()
    out.main += [f"int al_fw{_FW_SIG} {{", *check,
                 "  return al_fw_rows(0, n, X, P, V, fail, T);", "}"]
    out.main += [f"int al_vg{_VG_SIG} {{", *check,
                 "  return al_vg_rows(0, n, X, P, V, G, PG, fail, T);", "}"]
    return out.text(), parts.size, [j for j, _ in parts.used]


def c_blocks_source(prog: _Program, n_inputs: int, n_params: int, n_nodes: int,
                    flag_every_row: bool = False, input_grads: bool = True,
                    simd: Any = "auto", scalar_rows: bool = True
                    ) -> tuple[str, int, list[int]]:
    """`_c_source`'s functions, with the same arguments, results and return codes, computing
    B rows at a time in SIMD lanes (`native.simd()`'s choice, or `simd`: a `vector.Simd` or
    None), bit for bit as the scalar code: see `_c_blocks`. Scalar code when there is no
    vector instruction set, a constant is not finite, a template is outside the dialect
    `vector.VectorText` reads, or the program is too long (`native.BLOCKS_MAX_LINES`
    statements, or `native.BLOCKS_MAX_BYTES` of block code: its compile time).

    `scalar_rows=False`: block code without the scalar rows (half the compile time), which
    another library (the scalar program of the same `prog`: `_c_source`) lends it through
    `al_rows(al_fw_rows, al_vg_rows)`; until then, a block that needs them (a raised flag, a
    non-finite input) returns 4 with `*fail` = its first row (the rows before it done and
    added), and a short tail runs as a padded block. Once lent, its functions are
    `_c_source`'s, return codes included."""
    if simd == "auto":
        simd = native.simd()
    if len(prog.forward) + len(prog.backward) > native.BLOCKS_MAX_LINES:
        simd = None  # compile time: see BLOCKS_MAX_LINES
    if simd is None or flag_every_row:
        return _c_source(prog, n_inputs, n_params, n_nodes, flag_every_row, input_grads)
    try:
        blocks = _c_blocks(prog, n_inputs, n_params, n_nodes, input_grads, simd, scalar_rows)
    except vector.Unsupported:
        blocks = None
    if blocks is None or blocks[3] > native.BLOCKS_MAX_BYTES:
        return _c_source(prog, n_inputs, n_params, n_nodes, flag_every_row, input_grads)
    return blocks[:3]


def _lane_sums(used: list[tuple[int, int]], simd: vector.Simd, straight: bool) -> list[str]:
    """The body of a function adding a full block's parameter gradients into PG, rows in order
    (`t`: the block's vectors as doubles; `used`: (parameter, slot)): B consecutive parameters
    at a time as vectors (`Simd.lane_sums`: bench_native's MLP step 11.6 us against 14.5 us
    one parameter at a time), the others one by one (`PG[j] + t0 + t1 + ...`: C adds left to
    right). `straight`: one statement per line, slots known at compile time (for programs
    compiled at -O2: 2 us faster than loops there); else two loops over index tables (no
    compile time: the digits MLP's 2,410 parameters), as one item (never cut in two)."""
    b = simd.lanes
    groups: list[tuple[int, list[int]]] = []
    singles: list[tuple[int, int]] = []
    i = 0
    while i < len(used):
        group = used[i:i + b]
        if len(group) == b and all(j == group[0][0] + q for q, (j, _) in enumerate(group)):
            groups.append((group[0][0], [s for _, s in group]))
            i += b
        else:
            singles.append(used[i])
            i += 1
    src = "((const vd *)t)"
    if straight:
        return [*(simd.lane_sums(str(j0), [str(s) for s in slots], src) for j0, slots in groups),
                *(f"  PG[{j}] = PG[{j}]{''.join(f' + t[{s * b + q}]' for q in range(b))};"
                  for j, s in singles)]

    def table(name: str, items: list[int]) -> str:
        return (f"  static const long {name}[{max(len(items), 1)}] = "
                f"{{{', '.join(map(str, items)) or '0'}}};")

    slots = [f"al_gv[g * {b} + {q}]" for q in range(b)]
    # One item: `_CText.chunks` cuts its list every CHUNK items, and these lines are one loop.
    return ["\n".join([
        table("al_gj", [j0 for j0, _ in groups]),
        table("al_gv", [s for _, group in groups for s in group]),
        table("al_sj", [j for j, _ in singles]), table("al_ss", [s for _, s in singles]),
        f"  for (long g = 0; g < {len(groups)}; g++)",
        "  " + simd.lane_sums("al_gj[g]", slots, src),
        f"  for (long q = 0; q < {len(singles)}; q++) {{",
        f"    const double *u = t + al_ss[q] * {b}; double *p = PG + al_sj[q];",
        f"    *p = *p{''.join(f' + u[{q}]' for q in range(b))};", "  }"])]


def _c_blocks(prog: _Program, n_inputs: int, n_params: int, n_nodes: int,
              input_grads: bool, simd: vector.Simd, scalar_rows: bool = True
              ) -> tuple[str, int, list[int], int]:
    """Block code: each block of B rows is transposed into vectors (input i of the block's
    rows in `VX[i]`), its flags cleared once, every statement run once on vectors of B rows
    (`VT[k]`, aligned to a vector, in the scratch space), and its flags tested once. A clean
    block's values and gradients are copied out row by row and its parameter gradients added
    lane by lane, in row order (the same sums as the scalar code). A block with a non-finite
    input or a raised flag is re-run by the scalar rows (`al_vg_rows`), which find its first
    failing row and add the rows before it in order. The last n % B rows run as a block padded
    with copies of its last row (no flag a real row would not raise) when they fill more than
    half of one, else as scalar rows (B library calls per call node would cost more).
    Without `scalar_rows`, those rows are another library's, lent through `al_rows` (see
    `c_blocks_source`). Returns (text, scratch doubles, parameters used, the text's size with
    the scalar rows: what `native.BLOCKS_MAX_BYTES` limits).
    """
    parts = _CParts(prog, n_inputs, n_params, n_nodes, input_grads)
    text = vector.VectorText()
    b, k, nv, m = simd.lanes, parts.k, len(parts.vslots), len(parts.used)
    n_slots = parts.size
    # A small program, compiled at -O2: straight code for the parameters' sums, values in
    # locals (`_chunk_locals`); a larger one keeps its compile time (both cost the digits
    # MLP's -O1 build ~20% more compiler CPU for ~2% of run time).
    small = native.opt_level(len(prog.forward) + len(prog.backward)) == "-O2"

    keep = {*parts.vslots, *parts.gslots, *(t for _, t in parts.used)}
    names = _chunk_locals([parts.fwd, parts.bwd], keep) if small else {}

    def vec(lines: list[tuple[str, str, str]], at: int) -> list[str]:
        out = []
        for i, (v, o, e) in enumerate(lines, at):
            reads, target = names.get(i, ({}, None))
            expr = text.expr(e)
            if reads:
                expr = _VT_REF.sub(functools.partial(_renamed, reads), expr)
            if target is None:
                out.append(f"  {text.target(v)} {o} {expr};")
            else:
                out.append(f"  {'vd ' if o == '=' else ''}{target} {o} {expr};")
        return out

    vfwd, vbwd = vec(parts.fwd, 0), vec(parts.bwd, len(parts.fwd))
    # The vector scratch: n_slots vectors of nodes, then k of inputs, aligned to a vector.
    size = max(parts.size, b * (n_slots + k) + b)

    def assemble(scalar_rows: bool) -> str:
        out = _CText()
        out.head += [simd.prelude(), *(simd.lane_call(name, nargs)
                                       for name, nargs in sorted(text.calls))]
        out.head.append(f"#define VX (VT + {n_slots})")  # (the vector statements' inputs)
        parts.tables(out.main)
        if scalar_rows:
            _scalar_rows(parts, out, False)
            short = "2 * w > AL_LANES"
            rows_fw, rows_vg = "al_fw_rows(r, r + w, X, P, V, fail, T)", \
                "al_vg_rows(r, r + w, X, P, V, G, PG, fail, T)"
        else:  # lent by the scalar library: `al_rows`
            out.main += [f"typedef int (*al_fw_t)(long r0, {_FW_SIG[1:]};",
                         f"typedef int (*al_vg_t)(long r0, {_VG_SIG[1:]};",
                         "static al_fw_t volatile al_fw_rows;",
                         "static al_vg_t volatile al_vg_rows;",
                         "void al_rows(al_fw_t f, al_vg_t g) { al_fw_rows = f; al_vg_rows = g; }"]
            short = "(2 * w > AL_LANES || !al_vg_rows)"
            rows_fw = "al_fw_rows ? al_fw_rows(r, r + w, X, P, V, fail, T) : (*fail = r, 4)"
            rows_vg = "al_vg_rows ? al_vg_rows(r, r + w, X, P, V, G, PG, fail, T) : (*fail = r, 4)"
        sig = "(const double *restrict P, vd *restrict VT)"
        call_fw = out.chunks("al_vf", vfwd, "AL_T void ", sig)
        call_bw = out.chunks("al_vb", vbwd, "AL_T void ", sig)
        head = ["  vd *VT = (vd *)(((uintptr_t)T + sizeof(vd) - 1) & "
                "~(uintptr_t)(sizeof(vd) - 1));",
                f"  double *xv = (double *)(VT + {n_slots});",
                "  const double *t = (const double *)VT;",
                f"  for (long r = 0; r < n; r += {b}) {{",
                f"    long w = n - r < {b} ? n - r : {b};  /* the block's rows */",
                f"    const double *x = X + r * {k};",
                f"    int ok = {short};  /* a short tail: scalar rows (fewer library calls) */",
                f"    for (long i = 0; ok && i < w * {k}; i++) ok = isfinite(x[i]) != 0;",
                "    if (ok) {",
                # A short block's lanes past w repeat its last row: no flag a real row lacks.
                f"      for (long l = 0; l < {b}; l++) for (long i = 0; i < {k}; i++) "
                f"xv[i * {b} + l] = x[(l < w ? l : w - 1) * {k} + i];",
                "      AL_CLEAR;"]
        done_v = [f"        for (long l = 0; l < w; l++) for (long i = 0; i < {nv}; i++) "
                  f"V[(r + l) * {nv} + i] = t[al_vs[i] * {b} + l];"]
        done_g = [f"        for (long l = 0; l < w; l++) for (long i = 0; i < {k}; i++) "
                  f"G[(r + l) * {k} + i] = t[al_gs[i] * {b} + l];"] if input_grads else []
        # A full block's parameter gradients, added in row order: see `_lane_sums` (straight
        # code in a program compiled at -O2, loops, fewer than CHUNK lines, in a larger one).
        full = out.chunks("al_pg", _lane_sums(parts.used, simd, small), "AL_T void ",
                          "(double *restrict PG, const double *restrict t)", "(PG, t)")
        full = [f"  {c}" for c in full]
        done_pg = [f"        if (w == {b}) {{", *full, "        } else {",
                   f"        for (long j = 0; j < {m}; j++) {{",
                   f"          const double *u = t + al_ps[j] * {b}; double s = PG[al_pj[j]];",
                   "          for (long l = 0; l < w; l++) s += u[l];",
                   "          PG[al_pj[j]] = s;", "        }", "        }"]

        def driver(name: str, sig: str, calls: list[str], done: list[str], rows: str) -> None:
            # The flags: all cleared once (feclearexcept: the x87 unit's too), then the SSE
            # unit's per block (`AL_CLEAR`, inline: feclearexcept costs ~7% of a call). A
            # flag the x87 unit raised (a libm function) sends its block to the scalar rows,
            # which clear both per row: any later block starts with clean x87 flags again.
            out.main.extend([f"int {name}{sig} {{", *parts.checks(), "  feclearexcept(AL_BAD);",
                             *head, *calls,
                             "      if (!fetestexcept(AL_BAD)) {", *done, "        continue;",
                             "      }", "    }",
                             f"    int rc = {rows};", "    if (rc) return rc;", "  }",
                             "  return 0;", "}"])

        driver("al_fw", _FW_SIG, call_fw, done_v, rows_fw)
        driver("al_vg", _VG_SIG, call_fw + call_bw, done_v + done_g + done_pg, rows_vg)
        return out.text()

    text_ = assemble(scalar_rows)
    # Its size in bytes (BLOCKS_MAX_BYTES): with the scalar rows, lent or not.
    whole = len(text_) if scalar_rows else len(assemble(True))
    return text_, size, [j for j, _ in parts.used], whole


_T_REF = re.compile(r"(?<![A-Za-z_])T\[(\d+)\]")
_VT_REF = re.compile(r"(?<![A-Za-z_])VT\[(\d+)\]")


def _renamed(names: dict[int, str], ref: re.Match[str]) -> str:
    return names.get(int(ref.group(1)), ref.group(0))


def _chunk_locals(blocks: list[list[tuple[str, str, str]]], keep: set[int]
                  ) -> dict[int, tuple[dict[int, str], str | None]]:
    """The values of `blocks` (statement lists run one after another, each cut into functions
    of CHUNK statements) that can live in a local variable of their function instead of a
    slot of the scratch space: every reader of the value (up to the next `=` to its slot) in
    the function that computes it, and not read at the end (`keep`). Their stores are saved
    (~45% of the statements of bench_native's MLP step); the operations are the same.
    {statement index (over all blocks): ({slot read: local name}, the local name the
    statement writes, or None)}. Used in small programs only (compiled at -O2): at -O1 the
    digits MLP's build takes ~20% more compiler CPU with them, for ~2% of run time."""
    lines = [(b, i // CHUNK, line) for b, block in enumerate(blocks)
             for i, line in enumerate(block)]
    open_: dict[int, list[Any]] = {}  # slot -> [defining index, chunk, ok, references]
    local: dict[int, str] = {}  # defining index -> local name

    def close(inst: list[Any], live_out: bool) -> None:
        if inst[2] and not live_out:
            local[inst[0]] = f"l{inst[0]}"

    # per statement: (slot, its defining index) read, the defining index written
    refs: list[tuple[list[tuple[int, int]], int | None]] = []
    for j, (b, c, (v, o, e)) in enumerate(lines):
        t = int(v[2:-1])
        read = [int(x) for x in _T_REF.findall(e)]
        if o != "=":
            read.append(t)
        defs: list[tuple[int, int]] = []
        written: int | None
        for x in read:
            inst = open_.get(x)
            if inst is None:
                continue
            if (b, c) != inst[1]:
                inst[2] = False
            defs.append((x, inst[0]))
        if o == "=":
            if t in open_:
                close(open_[t], False)
            open_[t] = [j, (b, c), True]
            written = j
        else:
            written = open_[t][0] if t in open_ else None
        refs.append((defs, written))
    for t, inst in open_.items():
        close(inst, t in keep)
    out: dict[int, tuple[dict[int, str], str | None]] = {}
    for j, (defs, written) in enumerate(refs):
        reads = {x: local[d] for x, d in defs if d in local}
        target = local.get(written) if written is not None else None
        if reads or target is not None:
            out[j] = (reads, target)
    return out


def _forward_copies(*blocks: list[tuple[str, str, str]]) -> dict[int, int]:
    """Removes from `blocks` (statement lists run one after another, changed in place) each
    copy `T[a] = T[b]` after which neither slot is written again, and rewrites the later reads
    of T[a] as reads of T[b] (chains followed to their source): the same numbers, bit for bit
    (a copy rounds nothing), without the copy's load and store. Returns {a: b}: where the
    outputs read at the end are. bench_native's MLP step: 304 of 1,559 statements, ~10% of
    its block code's time (benchmarks/bench_blocks.py)."""
    lines = [line for block in blocks for line in block]
    last: dict[int, int] = {}
    for i, (v, _, _) in enumerate(lines):
        last[int(v[2:-1])] = i
    alias: dict[int, int] = {}

    def read(m: re.Match[str]) -> str:
        t = int(m.group(1))
        return f"T[{alias[t]}]" if t in alias else m.group(0)

    i = 0
    for block in blocks:
        kept = []
        for v, o, e in block:
            e = _T_REF.sub(read, e) if alias else e
            a = int(v[2:-1])
            m = _T_REF.fullmatch(e.strip()) if o == "=" else None
            if m is not None and last[a] == i and last.get(int(m.group(1)), -1) < i:
                alias[a] = int(m.group(1))
            else:
                kept.append((v, o, e))
            i += 1
        block[:] = kept
    return alias


def _reuse_slots(lines: list[tuple[str, str, str]], keep: list[int]
                 ) -> tuple[dict[int, int], int]:
    """Slots of T renumbered so that a value's slot is reused once nothing reads it any more
    (`keep`: read after the last statement): {old slot: new slot} and the number of slots.
    The digits graph's 14,648 slots become ~2,400 (the parameters' gradients, read at the
    end): 19 KB of scratch per row instead of 117 KB, 77 KB of AVX2 vectors per block instead
    of 470 KB: caches, not memory. The statements and their order are unchanged."""
    reads: list[list[int]] = []
    last: dict[int, int] = {}
    for i, (v, o, e) in enumerate(lines):
        r = [int(x) for x in _T_REF.findall(e)]
        t = int(_T_REF.fullmatch(v).group(1))  # type: ignore[union-attr]
        if o != "=":
            r.append(t)
        reads.append(r)
        for x in r:
            last[x] = i
        last.setdefault(t, i)
    end = len(lines)
    for x in keep:
        last[x] = end
    slots: dict[int, int] = {}
    free: list[int] = []
    count = 0
    for i, (v, _, _) in enumerate(lines):
        t = int(v[2:-1])
        if t not in slots:
            if free:
                slots[t] = free.pop()
            else:
                slots[t] = count
                count += 1
        for x in {*reads[i], t}:
            if last.get(x, end) <= i and x in slots:
                free.append(slots[x])
                last[x] = end + 1  # freed once
    for x in keep:  # an output no statement writes (cannot happen: `_slot` copies it)
        if x not in slots:
            slots[x] = count
            count += 1
    return slots, count

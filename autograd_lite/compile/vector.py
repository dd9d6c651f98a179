"""The C text of one statement rewritten over a block of rows: each operand a vector of B rows.

The scalar generator's expressions (the primitives' C templates, derived once from their
records in `autograd_lite.engine.derive`, filled with `T[k]`, `x[i]`, `P[j]` and exact literals)
are parsed and re-emitted for GCC/Clang vector types, so no derivative is written twice:
`+ - * /` and negation are the same IEEE operations per lane; a library call (`exp`, `pow`...)
becomes a call of that same function per lane (`al_v1_exp`); `fabs` clears the sign bit; a
comparison gives a lane mask and a branch `c ? a : b` on a mask is a bitwise select (both sides
computed). Parameters and constants stay scalars and are broadcast where they meet a vector.

A vector run performs every operation the scalar run performs on each lane (and maybe more: the
branch not taken), so the IEEE flags it raises are a superset of the scalar rows' flags: a
block whose flags are clean is exactly the scalar result, and a flagged block is re-run row by
row by the scalar code (see `emit._c_blocks`). Text this parser does not know (a cast, a
string, a user template with other syntax), text whose C types are not all double (a select
between two integer literals, a call of a function that returns an int or a float: `/` is then
C's integer division, or float arithmetic, in the scalar code) and text nested deeper than
Python's stack follows raise `Unsupported`: the graph then gets scalar code.
"""

from __future__ import annotations

import re

__all__ = ["Unsupported", "VectorText"]

_TOKEN = re.compile(r"\s*(?:(0[xX][0-9a-fA-F]*\.?[0-9a-fA-F]*[pP][+-]?\d+)"
                    r"|(\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)"
                    r"|([A-Za-z_]\w*)"
                    r"|(<=|>=|==|!=|\|\||&&|[-+*/<>!?:(),\[\]]))")
_LEAVES = {"T": "VT", "x": "VX"}  # vectors; P[j] (a parameter) stays a scalar
_NAMES = {"INFINITY", "NAN"}
_MAX_DEPTH = 200
#: The C library's functions of doubles that return a double: the only ones called per lane.
#: A lane call's result is a double in the vector code; a function returning an int
#: (`ilogb`), a float (`expf`) or a long double would be rounded, or divided, otherwise in
#: the scalar code (`ilogb(x) / 2` is C's integer division there): such text gets scalar code.
_DOUBLE_FUNCS = frozenset(
    "acos asin atan atan2 cos sin tan acosh asinh atanh cosh sinh tanh exp exp2 expm1 log "
    "log10 log1p log2 logb cbrt fabs hypot pow sqrt erf erfc lgamma tgamma ceil floor "
    "nearbyint rint round trunc fmod remainder copysign nextafter fdim fmax fmin fma ldexp "
    "scalbn".split())


class Unsupported(Exception):
    """C text outside the dialect of the templates: the graph gets scalar code."""


# An operand's kind: "v" a vector of doubles, "s" a scalar double, "i" a scalar that C may
# type as an integer (an integer literal, arithmetic on those, a call of an unknown function),
# "m" a lane mask, "b" a scalar condition.
_Item = tuple[str, str]
#: An array index in statement text, and the numbers that stand for them by position in a
#: statement's shape (past any index a graph can have; the parser reads them as indices).
_INDEX = re.compile(r"(?<![\w.])([TxP])\[(\d+)\]")
_HOLE = 10 ** 15
_HOLES = re.compile(r"(?<=\[)(1\d{15})(?=\])")


class VectorText:
    """Rewrites scalar statement text into vector text; collects the per-lane library calls
    used (`calls`: {(name, nargs)}) so their helpers can be emitted once."""

    def __init__(self) -> None:
        self.calls: set[tuple[str, int]] = set()
        self._toks: list[str] = []
        self._i = 0
        self._depth = 0
        #: statement shape (its array indices numbered by position) -> its vector text
        self._shapes: dict[str, str] = {}

    # ---- tokens --------------------------------------------------------------------------------
    def _lex(self, text: str) -> list[str]:
        out, pos = [], 0
        text = text.rstrip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None or m.end() == pos:
                raise Unsupported(f"cannot read {text[pos:pos + 20]!r}")
            out.append(m.group(m.lastindex or 0))
            pos = m.end()
        return out

    def _peek(self) -> str:
        return self._toks[self._i] if self._i < len(self._toks) else ""

    def _take(self, want: str | None = None) -> str:
        tok = self._peek()
        if not tok or (want is not None and tok != want):
            raise Unsupported(f"expected {want or 'more'}, got {tok!r}")
        self._i += 1
        return tok

    # ---- the public entry ----------------------------------------------------------------------
    def expr(self, text: str) -> str:
        """Vector text of a right-hand side (always a vector: scalars are broadcast). Parsed
        once per shape: statements that differ only in their array indices (`T[k]`, `x[i]`,
        `P[j]`: most of a graph's) share one parse, the indices put back by position."""
        found: list[str] = []

        def hole(m: re.Match[str]) -> str:
            found.append(m.group(2))
            return f"{m.group(1)}[{_HOLE + len(found) - 1}]"

        shape = _INDEX.sub(hole, text)
        vec = self._shapes.get(shape)
        if vec is None:
            vec = self._shapes[shape] = self._parse(shape)
        return _HOLES.sub(lambda m: found[int(m.group(1)) - _HOLE], vec) if found else vec

    def _parse(self, text: str) -> str:
        self._toks, self._i, self._depth = self._lex(text), 0, 0
        try:
            item = self._cond()
        except RecursionError:  # nesting that Python's stack cannot follow (see _MAX_DEPTH)
            raise Unsupported("expression nested too deeply") from None
        if self._i != len(self._toks):
            raise Unsupported(f"trailing {self._peek()!r}")
        return self._vec(item)

    @staticmethod
    def target(text: str) -> str:
        """`T[k]` -> `VT[k]` (the left-hand side of a statement)."""
        m = re.fullmatch(r"T\[(\d+)\]", text.strip())
        if m is None:
            raise Unsupported(f"cannot assign to {text!r}")
        return f"VT[{m.group(1)}]"

    # ---- conversions ---------------------------------------------------------------------------
    @staticmethod
    def _vec(item: _Item) -> str:
        code, kind = item
        if kind == "v":
            return code
        if kind in "si":
            return f"al_bc({code})"
        raise Unsupported("a condition used as a number")

    @staticmethod
    def _mask(item: _Item) -> str:
        code, kind = item
        if kind == "m":
            return code
        if kind == "b":
            return f"al_bm({code})"
        raise Unsupported("a number used as a condition")

    # ---- grammar (C's precedence, the subset the templates use) ---------------------------------
    def _cond(self) -> _Item:
        self._depth += 1
        if self._depth > _MAX_DEPTH:
            raise Unsupported("expression nested too deeply")
        c = self._logic("||")
        if self._peek() != "?":
            self._depth -= 1
            return c
        self._take("?")
        a = self._cond()
        self._take(":")
        b = self._cond()
        self._depth -= 1
        if a[1] not in "vsi" or b[1] not in "vsi":
            raise Unsupported("a branch that gives a condition")
        if c[1] == "b":  # a scalar condition: C's own ?:, only the branch taken is computed
            if a[1] in "si" and b[1] in "si":
                return f"({c[0]} ? {a[0]} : {b[0]})", "i" if a[1] == b[1] == "i" else "s"
            return f"({c[0]} ? {self._vec(a)} : {self._vec(b)})", "v"
        if c[1] != "m":
            raise Unsupported("a number used as a condition")
        if a[1] == b[1] == "i":  # an int in the scalar code (`(c ? 1 : 0) / 2` is 0 there)
            raise Unsupported("a select between two integers")
        return f"al_sel({c[0]}, {self._vec(a)}, {self._vec(b)})", "v"

    def _logic(self, op: str) -> _Item:
        sub = (lambda: self._logic("&&")) if op == "||" else self._cmp_eq
        left = sub()
        while self._peek() == op:
            self._take()
            right = sub()
            if left[1] == right[1] == "b":
                left = f"({left[0]} {op} {right[0]})", "b"
            else:
                bit = "|" if op == "||" else "&"
                left = f"({self._mask(left)} {bit} {self._mask(right)})", "m"
        return left

    def _cmp_eq(self) -> _Item:
        left = self._cmp_rel()
        while self._peek() in ("==", "!="):
            left = self._compare(left, self._take(), self._cmp_rel())
        return left

    def _cmp_rel(self) -> _Item:
        left = self._sum()
        while self._peek() in ("<", "<=", ">", ">="):
            left = self._compare(left, self._take(), self._sum())
        return left

    def _compare(self, a: _Item, op: str, b: _Item) -> _Item:
        if a[1] not in "vsi" or b[1] not in "vsi":
            raise Unsupported("a comparison of conditions")
        if a[1] in "si" and b[1] in "si":
            return f"({a[0]} {op} {b[0]})", "b"
        return f"((vl)({self._vec(a)} {op} {self._vec(b)}))", "m"

    def _sum(self) -> _Item:
        left = self._product()
        while self._peek() in ("+", "-"):
            left = self._arith(left, self._take(), self._product())
        return left

    def _product(self) -> _Item:
        left = self._unary()
        while self._peek() in ("*", "/"):
            left = self._arith(left, self._take(), self._unary())
        return left

    def _arith(self, a: _Item, op: str, b: _Item) -> _Item:
        if a[1] not in "vsi" or b[1] not in "vsi":
            raise Unsupported("arithmetic on a condition")
        if a[1] in "si" and b[1] in "si":
            return f"({a[0]} {op} {b[0]})", "i" if a[1] == b[1] == "i" else "s"
        return f"({self._vec(a)} {op} {self._vec(b)})", "v"

    def _unary(self) -> _Item:
        tok = self._peek()
        if tok in ("-", "+"):
            self._take()
            a = self._unary()
            if a[1] not in "vsi":
                raise Unsupported("a sign on a condition")
            return (f"(-{a[0]})", a[1]) if tok == "-" else a
        if tok == "!":
            self._take()
            a = self._unary()
            if a[1] == "b":
                return f"(!{a[0]})", "b"
            if a[1] == "m":
                return f"(~{a[0]})", "m"
            raise Unsupported("! on a number")
        return self._primary()

    def _primary(self) -> _Item:
        tok = self._take()
        if tok == "(":
            inner = self._cond()
            self._take(")")
            return f"({inner[0]})", inner[1]
        if tok[0].isdigit() or tok[0] == ".":
            return tok, "i" if tok.isdigit() else "s"
        if not (tok[0].isalpha() or tok[0] == "_"):
            raise Unsupported(f"unexpected {tok!r}")
        if self._peek() == "[":
            self._take("[")
            index = self._take()
            self._take("]")
            if not index.isdigit() or tok not in ("T", "x", "P"):
                raise Unsupported(f"unknown array {tok}[{index}]")
            if tok == "P":
                return f"P[{index}]", "s"
            return f"{_LEAVES[tok]}[{index}]", "v"
        if self._peek() == "(":
            return self._call(tok)
        if tok in _NAMES:
            return tok, "s"
        raise Unsupported(f"unknown name {tok!r}")

    def _call(self, name: str) -> _Item:
        self._take("(")
        args: list[_Item] = []
        if self._peek() != ")":
            args.append(self._cond())
            while self._peek() == ",":
                self._take(",")
                args.append(self._cond())
        self._take(")")
        if any(k not in "vsi" for _, k in args) or not args or len(args) > 3:
            raise Unsupported(f"call of {name} with {len(args)} argument(s)")
        if all(k in "si" for _, k in args):  # parameters and constants only: one scalar call
            return (f"{name}({', '.join(c for c, _ in args)})",
                    "s" if name in _DOUBLE_FUNCS else "i")
        if name not in _DOUBLE_FUNCS:
            raise Unsupported(f"{name} is not known to return a double")
        if name == "fabs" and len(args) == 1:
            return f"al_fabs({args[0][0]})", "v"
        self.calls.add((name, len(args)))
        return f"al_v{len(args)}_{name}({', '.join(self._vec(a) for a in args)})", "v"


class Simd:
    """An instruction set for block code: its name, rows per vector (B) and the GCC/Clang
    `target` attribute its functions carry ("" for x86-64's baseline SSE2). AVX code leaves
    the upper register halves clean (`vzeroupper`) at its exits and before library calls:
    dirty upper state slows every later SSE instruction and libm call of the process ~2x."""

    __slots__ = ("name", "lanes", "target")

    def __init__(self, name: str, lanes: int, target: str) -> None:
        self.name, self.lanes, self.target = name, lanes, target

    def __repr__(self) -> str:
        return f"Simd({self.name!r}, lanes={self.lanes})"

    @property
    def vzeroupper(self) -> bool:
        """Whether its code uses the upper halves of the vector registers (AVX and later)."""
        return bool(self.target)

    def prelude(self) -> str:
        """The types and primitives of block code: `vd` (B doubles), `vl` (a lane mask),
        `al_bc` (broadcast), `al_bm` (a scalar condition as a mask), `al_sel` (a bitwise
        select), `al_fabs` (the sign bit cleared), `vdu` (`vd` at any double's address),
        `AL_SHUF(a, b, i...)` (lanes picked from a and b), `AL_T` (the target attribute), `AL_VZ`
        (vzeroupper, or nothing) and `AL_CLEAR` (the SSE unit's invalid, divide-by-zero and
        overflow flags cleared, inline: x86's MXCSR)."""
        b = self.lanes
        attr = f'__attribute__((target("{self.target}")))' if self.target else ""
        vz = "__builtin_ia32_vzeroupper()" if self.vzeroupper else "(void)0"
        return "\n".join([
            f"/* autograd-lite block code: {self.name}, {b} rows per vector */",
            "#include <stdint.h>",
            # MXCSR's invalid (0x1), divide-by-zero (0x4) and overflow (0x8) flags; builtins
            # rather than <xmmintrin.h> (parsed by every unit: ~10 ms of compiler each)
            "#define AL_CLEAR __builtin_ia32_ldmxcsr(__builtin_ia32_stmxcsr() & ~0xdu)",
            f"#define AL_LANES {b}",
            f"#define AL_T {attr}",
            f"#define AL_VZ {vz}",
            "#define AL_IN static inline __attribute__((always_inline)) AL_T",
            f"typedef double vd __attribute__((vector_size({8 * b})));",
            f"typedef long long vl __attribute__((vector_size({8 * b})));",
            f"typedef double vdu __attribute__((vector_size({8 * b}), aligned(8)));",
            "#ifdef __clang__",
            "#define AL_SHUF(a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)",
            "#else",
            "#define AL_SHUF(a, b, ...) __builtin_shuffle(a, b, (vl){__VA_ARGS__})",
            "#endif",
            f"AL_IN vd al_bc(double s) {{ return (vd){{{', '.join(['s'] * b)}}}; }}",
            f"AL_IN vl al_bm(int c) {{ long long m = c ? -1 : 0; "
            f"return (vl){{{', '.join(['m'] * b)}}}; }}",
            "AL_IN vd al_sel(vl m, vd a, vd b) { return (vd)((m & (vl)a) | (~m & (vl)b)); }",
            f"AL_IN vd al_fabs(vd a) {{ long long k = 0x7fffffffffffffffLL; "
            f"return (vd)((vl)a & (vl){{{', '.join(['k'] * b)}}}); }}",
            ""])

    def lane_sums(self, j0: str, slots: list[str], src: str) -> str:
        """A C block adding B rows' gradients of B consecutive parameters into `PG[j0...]`,
        each in row order (j0 and slots: C index expressions): `src[slots[i]]` (a vector:
        parameter j0 + i, one row per lane) is
        transposed in registers (log2 B stages of `AL_SHUF`: vector i then holds row i's
        gradients of the B parameters) and the B rows are added to PG's B entries in turn,
        the same additions as `PG[j] + row0 + row1 + ...` per parameter, B at a time."""
        b = self.lanes
        assert len(slots) == b and b & (b - 1) == 0
        names = [f"{src}[{s}]" for s in slots]
        out = []
        h, stage = 1, 0
        while h < b:
            new = [""] * b
            for i in range(b):
                if (i // h) % 2:
                    continue
                x, y = names[i], names[i + h]
                lo = [k if (k // h) % 2 == 0 else b + k - h for k in range(b)]
                hi = [k + h if (k // h) % 2 == 0 else b + k for k in range(b)]
                new[i], new[i + h] = f"w{stage}_{i}", f"w{stage}_{i + h}"
                out.append(f"vd {new[i]} = AL_SHUF({x}, {y}, {', '.join(map(str, lo))});")
                out.append(f"vd {new[i + h]} = AL_SHUF({x}, {y}, {', '.join(map(str, hi))});")
            names, h, stage = new, 2 * h, stage + 1
        adds = " ".join(f"a = a + {n};" for n in names)
        return (f"  {{ {' '.join(out)} vdu *q = (vdu *)(PG + {j0}); vd a = *q; {adds} "
                "*q = a; }")

    @staticmethod
    def lane_call(name: str, nargs: int) -> str:
        """`al_v<nargs>_<name>`: the library function `name` called on each lane in turn (the
        same calls as the scalar code), upper register halves cleaned first."""
        params = ", ".join(f"vd a{i}" for i in range(nargs))
        unions = " ".join(f"union {{ vd v; double d[AL_LANES]; }} u{i} = {{a{i}}};"
                          for i in range(nargs))
        call = ", ".join(f"u{i}.d[l]" for i in range(nargs))
        return (f"static __attribute__((noinline)) AL_T vd al_v{nargs}_{name}({params}) {{\n"
                f"  {unions} union {{ vd v; double d[AL_LANES]; }} r;\n"
                "  AL_VZ;\n"
                f"  for (int l = 0; l < AL_LANES; l++) r.d[l] = {name}({call});\n"
                "  return r.v;\n}\n")


SIMDS = {"sse2": Simd("sse2", 2, ""), "avx2": Simd("avx2", 4, "avx2"),
         "avx512": Simd("avx512", 8, "avx512f")}

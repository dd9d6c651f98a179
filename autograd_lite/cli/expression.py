"""Expressions given as text, e.g. `"tanh(w*x + b)"`, built into a graph of Values without eval.

The text is parsed with `ast.parse(mode="eval")` and the tree is checked node by node: only
numbers, the given variable names, `+ - * / **`, unary `-`/`+` and calls of the engine's
functions by name (`exp`, `log`, `tanh`, ...) are allowed. Anything else raises
`ExpressionError` naming the offending piece and its position. Evaluation walks the checked
tree iteratively with the engine's operators, so `x * 2` builds exactly the nodes that the
Python code `x * 2` builds.
"""

from __future__ import annotations

import ast
import io
import keyword
import math
import tokenize
import unicodedata
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ..engine import ops
from ..engine.value import Primitive, Value

#: Functions an expression may call: name -> (function, allowed argument counts), from the
#: table: every primitive exposed as a function, its trailing parameters optional where the
#: record gives defaults (`leaky_relu(x)` or `leaky_relu(x, 0.2)`, the slope a number).
FUNCTIONS: dict[str, tuple[Primitive, tuple[int, ...]]] = {
    p.name: (p, tuple(range(p.nargs + p.nparams - len(p.defaults), p.nargs + p.nparams + 1)))
    for p in ops.PRIMITIVES.values() if p.function
}

MAX_LENGTH = 10_000  #: longest expression text accepted, in characters
MAX_NODES = 10_000  #: most syntax-tree nodes accepted (the graph is drawn, keep it drawable)
MAX_EXPONENT = 1_000.0  #: largest |exponent| of `**` (x ** 1e9 only overflows)

_BINOPS: dict[type, str] = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/",
                            ast.Pow: "**"}
_UNARY: dict[type, str] = {ast.USub: "-", ast.UAdd: "+"}
_OPERATOR_TEXT: dict[type, str] = {
    ast.FloorDiv: "//", ast.Mod: "%", ast.MatMult: "@", ast.LShift: "<<", ast.RShift: ">>",
    ast.BitOr: "|", ast.BitXor: "^", ast.BitAnd: "&", ast.Not: "not", ast.Invert: "~",
}
_KINDS: dict[type, str] = {
    ast.Attribute: "attribute access", ast.Subscript: "subscript", ast.Lambda: "lambda",
    ast.Compare: "comparison", ast.BoolOp: "boolean operator", ast.IfExp: "conditional expression",
    ast.Tuple: "tuple", ast.List: "list", ast.Dict: "dict", ast.Set: "set",
    ast.ListComp: "comprehension", ast.SetComp: "comprehension", ast.DictComp: "comprehension",
    ast.GeneratorExp: "generator expression", ast.Starred: "starred argument",
    ast.JoinedStr: "f-string", ast.NamedExpr: "assignment expression", ast.Await: "await",
    ast.Yield: "yield", ast.YieldFrom: "yield", ast.Slice: "slice",
}


#: Parts of a node (operators, contexts, keywords, ...) that the node itself accepts or rejects.
_JUDGED_BY_PARENT = (ast.operator, ast.unaryop, ast.cmpop, ast.boolop, ast.expr_context,
                     ast.keyword, ast.comprehension, ast.arguments, ast.arg)


class ExpressionError(ValueError):
    """Bad expression text or assignment: the message names the piece and where it is."""

    def __init__(self, message: str, text: str = "", line: int = 0, column: int = 0) -> None:
        self.message = message
        self.text = text
        self.line = line  #: 1-based line of the offending piece (0: no position)
        self.column = column  #: 1-based column, in characters
        super().__init__(self._format())

    def _format(self) -> str:
        if not self.line:
            return self.message
        lines = self.text.splitlines() or [""]
        where = (f"column {self.column}" if len(lines) == 1
                 else f"line {self.line}, column {self.column}")
        src = lines[self.line - 1] if self.line <= len(lines) else ""
        col = self.column
        if len(src) > 72:  # show a window around the column
            start = max(0, min(col - 36, len(src) - 72))
            src = ("..." if start else "") + src[start:start + 72] + \
                ("..." if start + 72 < len(src) else "")
            col = col - start + (3 if start else 0)
        caret = " " * (col - 1) + "^"
        return f"{self.message} at {where}\n  {src}\n  {caret}"


def _column(text: str, line: int, byte_col: int) -> int:
    """1-based character column from ast's 1-based line and 0-based UTF-8 byte offset."""
    lines = text.splitlines() or [""]
    src = lines[line - 1] if 0 < line <= len(lines) else ""
    return len(src.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore")) + 1


def _segment(text: str, node: ast.AST, limit: int = 40) -> str:
    seg = ast.get_source_segment(text, node) or type(node).__name__
    seg = " ".join(seg.split())
    return seg if len(seg) <= limit else seg[: limit - 3] + "..."


def _error(message: str, text: str, node: ast.AST) -> ExpressionError:
    line = getattr(node, "lineno", 1)
    return ExpressionError(message, text, line, _column(text, line, getattr(node, "col_offset", 0)))


def _operator_error(text: str, node: ast.BinOp | ast.UnaryOp, sym: str) -> ExpressionError:
    """Point at the operator itself: the first non-blank, non-paren character after the
    left operand (binary) or the node's start (unary)."""
    err = _error(f"operator {sym!r} is not allowed (use + - * / **)", text, node)
    if isinstance(node, ast.BinOp) and node.left.end_lineno == node.left.lineno:
        lines = text.splitlines()
        src = lines[node.left.end_lineno - 1].encode("utf-8")
        pos = node.left.end_col_offset or 0
        while pos < len(src) and src[pos:pos + 1] in (b" ", b")", b"\t"):
            pos += 1
        err = ExpressionError(err.message, text, node.left.end_lineno,
                              _column(text, node.left.end_lineno, pos))
    return err


#: Operators that need an operand after them: text ending in one is missing that operand.
_NEEDS_OPERAND = frozenset({"+", "-", "*", "/", "**", "//", "%", "@", "<<", ">>", "&", "|", "^",
                            "~"})


def _dangling_operator(text: str) -> ExpressionError | None:
    """For text that does not parse: "missing operand after '+'" at the operator, when the
    text ends in an operator (Python's own message points at column 1 for `x +`)."""
    last = None
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type not in (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER,
                                tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT):
                last = tok
    except (tokenize.TokenError, SyntaxError):  # an unclosed bracket at the end: keep the last
        pass
    if last is None or last.type != tokenize.OP or last.string not in _NEEDS_OPERAND:
        return None
    return ExpressionError(f"syntax error: missing operand after {last.string!r}", text,
                           last.start[0], last.start[1] + 1)


def _implicit_product(text: str) -> ExpressionError | None:
    """For text that does not parse: a number followed by a name (`2x`, `3 y`) is a product
    written as in maths; say to write `2*x`, at the number."""
    prev = None
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if (prev is not None and prev.type == tokenize.NUMBER and tok.type == tokenize.NAME
                    and not keyword.iskeyword(tok.string)):
                return ExpressionError(f"syntax error: a number followed by a name; to "
                                       f"multiply, write {prev.string}*{tok.string}", text,
                                       prev.start[0], prev.start[1] + 1)
            prev = tok
    except (tokenize.TokenError, SyntaxError):
        pass
    return None


def normalize_name(name: str) -> str:
    """A variable name as Python's parser reads it (NFKC: `ｘ` is `x`), so that names given as
    NAME=VALUE match the names in the expression text."""
    return unicodedata.normalize("NFKC", name)


def _number_literal(node: ast.AST) -> bool:
    """A number literal, possibly signed: `2`, `-0.5`, `+1e-3`."""
    while isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        node = node.operand
    return isinstance(node, ast.Constant) and type(node.value) in (int, float)


def _problem(text: str, node: ast.AST, names: frozenset[str]) -> ExpressionError | None:
    """The reason `node` is not allowed, or None when it is."""
    if isinstance(node, ast.Expression):
        return None
    if isinstance(node, ast.Constant):
        v = node.value
        if isinstance(v, bool) or v is None or v is Ellipsis:
            return _error(f"{v!r} is not a number", text, node)
        if isinstance(v, complex):
            return _error(f"complex number {_segment(text, node)} is not allowed", text, node)
        if not isinstance(v, int | float):
            return _error(f"{type(v).__name__} {_segment(text, node)} is not a number", text,
                          node)
        try:
            f = float(v)
        except OverflowError:
            f = math.inf
        if not math.isfinite(f):
            return _error(f"number {_segment(text, node)} is too large for a float", text, node)
        return None
    if isinstance(node, ast.Name):
        if node.id in names:
            return None
        if node.id in FUNCTIONS:
            return _error(f"function {node.id!r} used without calling it", text, node)
        known = ", ".join(sorted(names)) or "none given"
        return _error(f"unknown name {node.id!r} (variables: {known}; give a value as "
                      f"{node.id}=NUMBER)", text, node)
    if isinstance(node, ast.BinOp):
        if type(node.op) not in _BINOPS:
            sym = _OPERATOR_TEXT.get(type(node.op), type(node.op).__name__)
            return _operator_error(text, node, sym)
        return None
    if isinstance(node, ast.UnaryOp):
        if type(node.op) not in _UNARY:
            sym = _OPERATOR_TEXT.get(type(node.op), type(node.op).__name__)
            return _error(f"operator {sym!r} is not allowed (use + - * / **)", text, node)
        return None
    if isinstance(node, ast.Call):
        func = node.func
        if not isinstance(func, ast.Name):
            return _error(f"call of {_segment(text, func)!r} is not allowed: call a function "
                          f"by name ({', '.join(FUNCTIONS)})", text, node)
        if func.id not in FUNCTIONS:
            return _error(f"unknown function {func.id!r} (allowed: {', '.join(FUNCTIONS)})",
                          text, func)
        if node.keywords:
            kw = node.keywords[0]
            piece = f"{kw.arg}=" if kw.arg else "**"
            return _error(f"keyword argument {piece!r} is not allowed in {func.id}()", text, kw)
        counts = FUNCTIONS[func.id][1]
        if not any(isinstance(a, ast.Starred) for a in node.args) and len(node.args) not in counts:
            want = " or ".join(str(c) for c in counts)
            return _error(f"{func.id}() takes {want} argument(s), got {len(node.args)}", text,
                          node)
        prim = FUNCTIONS[func.id][0]
        for arg in node.args[prim.nargs:]:  # the op's static parameters (a slope, ...)
            if not _number_literal(arg):
                return _error(f"{func.id}()'s parameter must be a number literal", text, arg)
        return None
    if isinstance(node, ast.Name | ast.Attribute | ast.Subscript) and \
            not isinstance(node.ctx, ast.Load):
        return _error("assignment is not allowed", text, node)
    kind = _KINDS.get(type(node), type(node).__name__.lower())
    return _error(f"{kind} {_segment(text, node)!r} is not allowed", text, node)


def parse_expression(text: str, names: Iterable[str]) -> ast.Expression:
    """Parse `text` and check every node; raise ExpressionError for the first (leftmost)
    disallowed piece. `names` are the variables the expression may use."""
    if not isinstance(text, str):
        raise TypeError(f"expression must be a str, got {type(text).__name__}")
    text = text.strip()
    if not text:
        raise ExpressionError("empty expression")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"expression too long: {len(text)} characters (at most "
                              f"{MAX_LENGTH})")
    try:
        with warnings.catch_warnings():
            # e.g. "1if": Python warns and parses on; for us it is a syntax error.
            warnings.simplefilter("error", SyntaxWarning)
            tree = ast.parse(text, mode="eval")
    except SyntaxWarning as e:
        raise ExpressionError(f"syntax error: {e}") from None
    except SyntaxError as e:
        hint = _dangling_operator(text) or _implicit_product(text)
        if hint is not None:
            raise hint from None
        line = e.lineno or 1
        col = e.offset or 1
        raise ExpressionError(f"syntax error: {e.msg}", text, line, col) from None
    except (RecursionError, MemoryError):
        raise ExpressionError("expression nested too deeply to parse (Python's parser "
                              "limit); split it or use fewer terms") from None
    except ValueError as e:
        raise ExpressionError(f"cannot parse the expression: {e}") from None
    allowed = frozenset(names)
    problems = []
    called = set()  # function names of calls: the Call node checks them
    count = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            called.add(id(node.func))
        if isinstance(node, _JUDGED_BY_PARENT) or id(node) in called:
            continue
        count += 1
        if count > MAX_NODES:
            raise ExpressionError(f"expression too large: more than {MAX_NODES} terms and "
                                  "operations")
        err = _problem(text, node, allowed)
        if err is not None:
            problems.append(err)
    if problems:
        raise min(problems, key=lambda e: (e.line, e.column))
    return tree


def _children(node: ast.AST) -> list[ast.AST]:
    if isinstance(node, ast.BinOp):
        return [node.left, node.right]
    if isinstance(node, ast.UnaryOp):
        return [node.operand]
    if isinstance(node, ast.Call):
        return list(node.args)
    return []


_APPLY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b, ast.Pow: lambda a, b: a**b,
}


def _apply(text: str, node: ast.AST, args: list[Any], env: Mapping[str, Value]) -> Any:
    if isinstance(node, ast.Constant):
        return float(node.value)  # type: ignore[arg-type]  # checked: a real number literal
    if isinstance(node, ast.Name):
        return env[node.id]
    if isinstance(node, ast.UnaryOp):
        return -args[0] if isinstance(node.op, ast.USub) else args[0]
    try:
        if isinstance(node, ast.BinOp):
            a, b = args
            if isinstance(node.op, ast.Pow) and abs(float(b)) > MAX_EXPONENT:
                raise _error(f"exponent {float(b):g} in {_segment(text, node)!r} is too large "
                             f"(|exponent| <= {MAX_EXPONENT:g})", text, node.right)
            if not isinstance(a, Value) and not isinstance(b, Value):
                a = Value(a)  # two numbers: record the op on a constant leaf, so it is drawn
            return _APPLY[type(node.op)](a, b)
        assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        return FUNCTIONS[node.func.id][0](*args)
    except ExpressionError:
        raise
    except (ArithmeticError, ValueError, TypeError) as e:
        first = str(e).splitlines()[0]
        raise _error(f"cannot evaluate {_segment(text, node)!r}: {first}", text, node) from None


def build(text: str, variables: Mapping[str, Value | float]) -> Value:
    """The graph of expression `text` with `variables` (name -> Value or number) as leaves.

    Numbers are lifted to leaf Values labelled by their name. Evaluation is iterative (deep
    expressions cannot overflow the stack); engine errors (log of a negative, x / 0) become
    ExpressionError pointing at the sub-expression.
    """
    env: dict[str, Value] = {}
    for k, v in variables.items():
        name = normalize_name(k)
        if name in env:
            raise ExpressionError(f"variable {k!r} is given twice (as {name!r} after Unicode "
                                  "NFKC normalisation, as Python reads names)")
        env[name] = v if isinstance(v, Value) else Value(v, label=name)
    tree = parse_expression(text, env)
    text = text.strip()
    done: dict[int, Any] = {}
    stack: list[tuple[ast.AST, bool]] = [(tree.body, False)]
    while stack:
        node, ready = stack.pop()
        kids = _children(node)
        if kids and not ready:
            stack.append((node, True))
            stack.extend((k, False) for k in reversed(kids))
            continue
        done[id(node)] = _apply(text, node, [done.pop(id(k)) for k in kids], env)
    out = done[id(tree.body)]
    return out if isinstance(out, Value) else Value(out)


def parse_assignments(items: Sequence[str]) -> dict[str, float]:
    """`["x=1", "w=-2"]` -> `{"x": 1.0, "w": -2.0}`; ExpressionError for a malformed item,
    a name that is not an identifier or is a function's name, a repeat, or a non-number."""
    out: dict[str, float] = {}
    for item in items:
        name, eq, raw = item.partition("=")
        name = normalize_name(name.strip())  # as the parser reads the expression's names
        if not eq:
            raise ExpressionError(f"bad assignment {item!r}: expected NAME=NUMBER, e.g. x=1.5")
        if not name.isidentifier() or keyword.iskeyword(name):
            raise ExpressionError(f"bad assignment {item!r}: {name!r} is not a variable name")
        if name in FUNCTIONS:
            raise ExpressionError(f"bad assignment {item!r}: {name!r} is a function's name")
        if name in out:
            reads = f" ({item.partition('=')[0].strip()!r} reads as {name!r}, as in Python)" \
                if name != item.partition("=")[0].strip() else ""
            raise ExpressionError(f"bad assignment {item!r}: {name!r} is given twice{reads}")
        try:
            value = float(raw.strip())
        except ValueError:
            raise ExpressionError(f"bad assignment {item!r}: {raw.strip()!r} is not a number"
                                  ) from None
        if not math.isfinite(value):
            raise ExpressionError(f"bad assignment {item!r}: the value must be a finite number")
        out[name] = value
    return out

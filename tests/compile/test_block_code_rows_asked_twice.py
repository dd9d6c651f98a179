"""Block code whose scalar rows are recorded as lent but were never plugged into it (an interrupt
between the two steps of lending them) asks for them again at the same row: that row runs in
the interpreter and the call ends, with the interpreter's numbers (it never calls the block
code again and again from that row)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from autograd_lite.compile import native

HAVE = not isinstance(native.find_compiler(), str) and native.simd() is not None
pytestmark = pytest.mark.skipif(not HAVE, reason="needs a C compiler and vector code")

CHILD = textwrap.dedent("""
    import math, struct, sys
    from autograd_lite import Value, compile_grad
    sys.path.insert(0, sys.argv[1])
    from tests.oracles import interpret

    P = [Value(0.5), Value(2.0)]

    def f(x, y):
        return (x * P[0]).log() + y / x + (y * P[1]).exp().tanh()

    def bits(xs):
        return ["nan" if x != x else struct.pack("<d", x).hex() for x in xs]

    clean = [[0.3 + 0.05 * r, 0.2 + 0.1 * r] for r in range(16)]
    rows = [*clean[:9], [math.inf, 1.0], [1e-320, 1.0], *clean[9:]]
    c = compile_grad(f, [0.5, 0.25], params=P)
    c.value_and_grad_batch(clean, input_grads=False)
    c.forward_batch(clean)
    lib = c._impl.cut.lib
    assert lib.lanes is not None, "block code expected"
    vars(lib.lib)["_al_rows"] = object()  # recorded, never plugged in
    values, _, total = c.value_and_grad_batch(rows, input_grads=False)
    want = [interpret(f, r, P) for r in rows]
    assert bits(values) == bits([w[0] for w in want])
    sums = [0.0, 0.0]
    for w in want:
        sums = [a + g for a, g in zip(sums, w[1][2:])]
    assert bits(total) == bits(sums)
    assert bits(c.forward_batch(rows)) == bits([w[0] for w in want])
    print("ok")
""")


def test_rows_recorded_but_not_plugged_in_end_the_call_with_the_interpreters_numbers(
        tmp_path):
    root = str(__import__("pathlib").Path(__file__).resolve().parents[2])
    env = {"XDG_CACHE_HOME": str(tmp_path / "xdg"), "PATH": __import__("os").environ["PATH"],
           "PYTHONPATH": root}
    try:
        done = subprocess.run([sys.executable, "-c", CHILD, root], capture_output=True,
                              text=True, timeout=120, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail("the call asked for the scalar rows at the same row again and again")
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]

"""Costs around the function transforms: the engine's hot path (forward + backward on floats,
which must not pay for the transforms' bookkeeping), a user primitive's backward, a top-level
`func.grad` call, and inner transforms after a long history (each should cost what its own
function records, not the tape before it).

    python benchmarks/bench_transforms.py            # this tree
    PYTHONPATH=/path/to/other/tree python benchmarks/bench_transforms.py   # another revision
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import autograd_lite as al
from autograd_lite import Value, primitive
from autograd_lite.engine import func


@primitive("usersq", lambda out, x: 2.0 * x)
def usersq(x: float) -> float:
    return x * x


def best(fn: Callable[[], object], repeat: int = 5) -> float:
    """Best wall time of `repeat` runs, in seconds."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def hot_path(n: int = 100_000) -> None:
    """n steps of w * h + b, tanh: forward, then backward."""
    w, b = Value(0.5), Value(0.1)
    h = Value(0.3)
    for _ in range(n // 3):
        h = (w * h + b).tanh()
    h.backward()


def user_primitive(n: int = 30_000) -> None:
    x = Value(0.7)
    h = x
    for _ in range(n):
        h = usersq(h) * 0.5 + 0.1
    h.backward()


def top_level_grad(calls: int = 2_000) -> None:
    g = func.grad(lambda x: (x * x).sin() * x + 1.0)
    for i in range(calls):
        g(0.001 * i)


def nested_after_prefix(n: int, m: int) -> float:
    """The hostile review's case: seconds spent in m inner grads after n prefix nodes."""
    spent = [0.0]

    def outer(x: Value) -> Value:
        h = x
        for _ in range(n):
            h = al.sin(h) + 0.5 * h
        s: object = h * 0.0
        t = time.perf_counter()
        for j in range(m):
            s = s + func.grad(lambda y: y * y * h)(float(j))
        spent[0] = time.perf_counter() - t
        return s  # type: ignore[return-value]

    func.grad(outer)(0.3)
    return spent[0]


def main() -> None:
    print(f"{'case':44s} {'seconds':>9s}")  # best of 5 (inner: of 2)
    print(f"{'forward+backward, 100k nodes':44s} {best(hot_path):9.3f}")
    print(f"{'user primitive forward+backward, 90k nodes':44s} {best(user_primitive):9.3f}")
    print(f"{'top-level func.grad, 2000 calls':44s} {best(top_level_grad):9.3f}")
    for n in (2_000, 20_000):
        t = min(nested_after_prefix(n, 20) for _ in range(2))
        print(f"{f'one inner grad after {n} prefix nodes (ms)':44s} {t / 20 * 1000:9.3f}")
    assert math.isfinite(nested_after_prefix(10, 3))


if __name__ == "__main__":
    main()

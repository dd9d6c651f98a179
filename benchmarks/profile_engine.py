"""Where the time goes: profile build + backward of the wide graph and one MLP training step.

    python benchmarks/profile_engine.py [--nodes 200000] [--cprofile]

Uses pyinstrument (the `bench` extra) when installed, else cProfile. Also prints a split of
the wall time into build, topological order, the backward loop and teardown, with the cyclic
garbage collector on and off (the collector's share of building a graph is large: every node
is a tracked container).
"""

from __future__ import annotations

import argparse
import gc
import math
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from engines import float_reverse, run_program, wide_program  # noqa: E402

from autograd_lite import Value, topo_order  # noqa: E402


def split(leaves: list[float], prog: list[tuple[int, int, int]], collector: bool) -> list[float]:
    """ns per node of: build, topo_order alone, backward (its own order + loop), teardown."""
    n = len(leaves) + len(prog)
    gc.collect()
    if not collector:
        gc.disable()
    try:
        t0 = time.perf_counter()
        vals = run_program([Value(x) for x in leaves], prog, Value.tanh, Value.exp)
        t1 = time.perf_counter()
        order = topo_order([vals[-1]])
        t2 = time.perf_counter()
        del order
        t3 = time.perf_counter()
        vals[-1].backward()
        t4 = time.perf_counter()
        del vals
        t5 = time.perf_counter()
    finally:
        gc.enable()
    return [(t1 - t0) / n * 1e9, (t2 - t1) / n * 1e9, (t4 - t3) / n * 1e9, (t5 - t4) / n * 1e9]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=200_000)
    ap.add_argument("--cprofile", action="store_true", help="use cProfile even if pyinstrument")
    args = ap.parse_args()
    leaves, prog = wide_program(args.nodes)

    def floor() -> float:
        t = time.perf_counter()
        vals = run_program(leaves, prog, math.tanh, math.exp)
        float_reverse(vals, prog, len(leaves))
        return (time.perf_counter() - t) / (len(leaves) + len(prog)) * 1e9

    print("ns/node        build  topo_order  backward  teardown   (float floor, whole: "
          f"{min(floor() for _ in range(3)):.0f})")
    for collector in (True, False):
        rows = [split(leaves, prog, collector) for _ in range(3)]
        best = [min(col) for col in zip(*rows)]
        print(f"gc {'on ' if collector else 'off'}      " + "  ".join(f"{x:9.0f}" for x in best))

    def work() -> None:
        vals = run_program([Value(x) for x in leaves], prog, Value.tanh, Value.exp)
        vals[-1].backward()
        del vals

    try:
        if args.cprofile:
            raise ImportError
        from pyinstrument import Profiler
    except ImportError:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.runcall(work)
        pstats.Stats(prof).sort_stats("tottime").print_stats(12)
        return 0
    profiler = Profiler(interval=0.0005)
    profiler.start()
    work()
    profiler.stop()
    print(profiler.output_text(unicode=False, color=False, show_all=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Cold `compile_grad` against graph size: time and peak memory for wide random graphs.

Each measurement runs in a fresh child process (so peak memory is that compile's own) with an
empty native cache (so the C library is built, not found): the graph is built by `f` at the
trace, then compiled by the chosen backend. Reported per (nodes, backend): the graph's node
count, seconds for `compile_grad` (trace included) and for one `value_and_grad_batch` of 4
rows, the CPU time of this process during the compile (the C compiler's excluded), the peak
resident memory of the process (ru_maxrss) before and after the compile, and
the C compiler's own peak and CPU time (the children's ru_maxrss, ru_utime + ru_stime).

    python benchmarks/bench_compile_scale.py [--sizes 3000 30000] [--backends c python]

(3,000 operations make a graph of about 10,000 nodes; 30,000 about 100,000.)

The graph: `inputs` leaves, 16 parameters, then `nodes` random operations on earlier nodes
(tanh(a * b + c), sin(a + b), a * b, 0.5 * (a + b): every value stays in [-1, 1]) and their
sum, so every node is live, the graph is wide (a node reads any earlier one), and no
structure favours a backend.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def make_f(n_ops: int, seed: int = 0, n_params: int = 16):
    """A function of 4 inputs (and `n_params` parameters) recording about `n_ops` ops."""
    rng = random.Random(seed)
    plan = [(rng.randrange(4), rng.random(), rng.random(), round(rng.uniform(-1, 1), 3))
            for _ in range(n_ops)]

    def f(params, *xs):
        nodes = [*xs, *params]
        for kind, ra, rb, c in plan:
            a = nodes[int(ra * len(nodes))]
            b = nodes[int(rb * len(nodes))]
            if kind == 0:
                v = (a * b + c).tanh()
            elif kind == 1:
                v = (a + b).sin()
            elif kind == 2:
                v = a * b
            else:
                v = 0.5 * (a + b)
            nodes.append(v)
        total = nodes[0]
        for v in nodes[1:]:
            total = total + v
        return total

    return f


def child(n_ops: int, backend: str) -> dict[str, float]:
    """One cold compile in this (fresh) process: figures as a dict."""
    sys.path.insert(0, str(ROOT))
    from autograd_lite import Value, compile_grad

    ps = [Value(random.Random(j).uniform(-1, 1)) for j in range(16)]
    f = make_f(n_ops)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0, cpu0 = time.perf_counter(), time.process_time()
    c = compile_grad(lambda *xs: f(ps, *xs), [0.1, -0.2, 0.3, 0.4], params=ps, backend=backend)
    t1, cpu1 = time.perf_counter(), time.process_time()
    rows = [[0.1 * i, -0.2, 0.3, 0.4] for i in range(4)]
    c.value_and_grad_batch(rows)
    t2 = time.perf_counter()
    return {"nodes": c.n_nodes, "backend": c.backend, "compile_s": t1 - t0,
            "compile_cpu_s": cpu1 - cpu0,
            "first_batch_s": t2 - t1,
            "rss_before_mb": rss0 / 1024,
            "rss_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "cc_peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
            "cc_cpu_s": resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
            + resource.getrusage(resource.RUSAGE_CHILDREN).ru_stime}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[3_000, 30_000],
                        help="operations in the random graph (each is 1-3 nodes)")
    parser.add_argument("--backends", nargs="+", default=["c", "python"])
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(int(args.child[0]), args.child[1])))
        return
    print(f"{'ops':>8} {'nodes':>8} {'backend':>7} {'compile s':>9} {'its CPU s':>9} "
          f"{'1st batch s':>11} "
          f"{'RSS before MB':>13} {'RSS peak MB':>11} {'cc peak MB':>10} {'cc CPU s':>8}")
    for n in args.sizes:
        for backend in args.backends:
            with tempfile.TemporaryDirectory(prefix="al-bench-scale-") as tmp:
                env = dict(os.environ, XDG_CACHE_HOME=tmp, PYTHONPATH=str(ROOT))
                done = subprocess.run([sys.executable, __file__, "--child", str(n), backend],
                                      env=env, capture_output=True, text=True)
            if done.returncode != 0:
                print(f"{n:>8} {backend:>15} failed: {done.stderr.strip()[-300:]}")
                continue
            r = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"{n:>8} {r['nodes']:>8} {r['backend']:>7} {r['compile_s']:>9.2f} "
                  f"{r['compile_cpu_s']:>9.2f} "
                  f"{r['first_batch_s']:>11.3f} {r['rss_before_mb']:>13.0f} "
                  f"{r['rss_peak_mb']:>11.0f} {r['cc_peak_mb']:>10.0f} {r['cc_cpu_s']:>8.2f}",
                  flush=True)


if __name__ == "__main__":
    main()

"""What the native cache's checks cost: a warm-cache `compile_grad` of bench_native's MLP step.

Warm cache means the library is already on disk (built by an earlier process): each timed
call is a fresh `compile_grad` that traces, generates C, finds the library in the disk cache,
verifies it and loads it (the process's table of loaded libraries is emptied between calls,
as in a new process). The compiler probe runs once per process and is not timed.

    python benchmarks/bench_native_cache.py [--repeat 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from autograd_lite.compile import native  # noqa: E402
from benchmarks.bench_native import ours_step  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="al-bench-cache-") as tmp:
        os.environ["XDG_CACHE_HOME"] = tmp
        found = native.find_compiler()
        if isinstance(found, str):
            print(f"no C compiler: {found}")
            return
        ours_step("c")  # cold: builds both libraries into the cache
        builds = native.BUILDS[0]
        times = []
        for _ in range(args.repeat):
            native.forget_loaded()
            t0 = time.perf_counter()
            ours_step("c")
            times.append(time.perf_counter() - t0)
        assert native.BUILDS[0] == builds, "a warm-cache call rebuilt"
        inproc = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            ours_step("c")
            inproc.append(time.perf_counter() - t0)
    print(f"warm disk cache: compile_grad of the MLP step (hinge + L2), median of "
          f"{args.repeat}: {statistics.median(times) * 1e3:.1f} ms "
          f"(min {min(times) * 1e3:.1f} ms)")
    print(f"loaded in this process: median {statistics.median(inproc) * 1e3:.1f} ms "
          f"(min {min(inproc) * 1e3:.1f} ms)")


if __name__ == "__main__":
    main()

"""Cold compile of the digits graph, several times, and where its time goes.

    python benchmarks/bench_cold_compile.py                 # 5 runs of this tree
    python benchmarks/bench_cold_compile.py --runs 5 --against /tmp/base
                                                            # interleaved with another checkout
    python benchmarks/bench_cold_compile.py --stages        # one run, timed stage by stage

A cold compile is the first batch of a `fit(compiled=True)` on the digits MLP(64, [32, 10]) in a
fresh process whose XDG_CACHE_HOME is an empty folder (trace, C generation and build, load,
first-batch check, step): `bench_native_limits.py --worker-cold`, the figure of issue 23's
goal 2 (under 3 s). Each run prints its wall time, this process's CPU, the compiler's CPU
(child processes) and the 1-minute load average before it: the machine is shared, so read
the load with the wall time. `--against DIR` runs DIR's tree (e.g. `git archive REV | tar -x
-C DIR`) in turns with this one. `--stages` times the compiler probes, C generation, each
compiler process and the load, in one process.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def cold_run(root: Path) -> dict[str, Any]:
    """One cold compile with the tree at `root` (its package first on sys.path)."""
    with tempfile.TemporaryDirectory(prefix="al-cold-") as tmp:
        env = {**os.environ, "XDG_CACHE_HOME": tmp, "PYTHONPATH": str(root)}
        load = os.getloadavg()[0]
        done = subprocess.run([sys.executable, str(root / "benchmarks" / "bench_native_limits.py"),
                               "--worker-cold"], capture_output=True, text=True, env=env,
                              cwd=tmp, check=False)
    if done.returncode != 0:
        raise SystemExit(f"cold run failed in {root}: {done.stderr.strip()[-800:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["load"] = load
    return result


def stages() -> None:
    """One cold compile in this process, every stage of the build timed."""
    tmp = tempfile.mkdtemp(prefix="al-cold-")
    os.environ["XDG_CACHE_HOME"] = tmp
    sys.path.insert(0, str(HERE.parent))
    sys.path.insert(0, str(HERE))
    from autograd_lite.compile import backends, native

    log: list[tuple[str, float, float]] = []

    def timed(mod: Any, name: str, label: Any) -> None:
        real = getattr(mod, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t, c = time.perf_counter(), os.times()
            try:
                return real(*args, **kwargs)
            finally:
                c2 = os.times()
                cc = c2.children_user - c.children_user + c2.children_system - c.children_system
                text = label(args) if callable(label) else label
                log.append((text, time.perf_counter() - t, cc))

        setattr(mod, name, wrapper)

    def tool(args: Any) -> str:
        cmd = args[0]
        if cmd[0] == sys.executable:
            return "  child interpreter"
        what = Path(cmd[0]).name
        if "-c" in cmd:
            what += " (one unit)"
        elif any(a.endswith(".o") for a in cmd):
            what += " (link)"
        return "  " + what
    timed(native, "_run", tool)
    timed(native, "find_compiler", "compiler probe")
    timed(native, "simd", "vector-code probe")
    timed(backends, "c_program", "C generation")
    timed(native, "_build", "build (all units)")
    timed(native, "_dlopen", "load")
    import bench_native_limits as bnl

    import nn
    from nn.compiled import CompiledStep
    Xtr, _, ytr, _ = bnl.digits_data()
    model = nn.MLP(64, [32, 10], activation="tanh", seed=0)
    step = CompiledStep(model, nn.losses.cross_entropy, targets=ytr)
    t, c = time.perf_counter(), os.times()
    nn.fit(model, Xtr[:bnl.BATCH], ytr[:bnl.BATCH], loss=nn.losses.cross_entropy,
           optimizer=nn.Adam(model.parameters(), lr=bnl.DIGITS_LR), epochs=1,
           batch_size=bnl.BATCH, progress=False, step=step)
    wall, c2 = time.perf_counter() - t, os.times()
    print(f"load {os.getloadavg()[0]:.2f}; simd {getattr(step.compiled, 'simd', None)}")
    print("| stage | wall ms | children CPU ms |\n|---|---|---|")
    for text, w, cc in log:
        if w > 0.0005:
            print(f"| {text} | {w * 1e3:.1f} | {cc * 1e3:.0f} |")
    cc = c2.children_user - c.children_user + c2.children_system - c.children_system
    print(f"| first batch, total | {wall * 1e3:.1f} | {cc * 1e3:.0f} (this process: "
          f"{(c2.user - c.user + c2.system - c.system) * 1e3:.0f}) |")
    print("(children CPU is counted when a child is reaped: parallel units share it out)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--against", type=Path, help="another checkout, run in turns with this one")
    ap.add_argument("--stages", action="store_true")
    args = ap.parse_args()
    if args.stages:
        before = os.environ.get("XDG_CACHE_HOME")
        try:
            stages()
        finally:
            import shutil
            shutil.rmtree(os.environ["XDG_CACHE_HOME"], ignore_errors=True)
            if before is not None:
                os.environ["XDG_CACHE_HOME"] = before
        return 0
    trees = [("this tree", HERE.parent)]
    if args.against is not None:
        trees.insert(0, (f"{args.against}", args.against.resolve()))
    results: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in trees}
    print("| tree | run | load | wall s | compiler CPU s | this process CPU s |")
    print("|---|---|---|---|---|---|")
    for i in range(args.runs):
        for name, root in trees:
            r = cold_run(root)
            results[name].append(r)
            print(f"| {name} | {i + 1} | {r['load']:.2f} | {r['wall']:.2f} | {r['cc_cpu']:.2f} "
                  f"| {r['cpu']:.2f} |", flush=True)
    for name, rs in results.items():
        walls = [r["wall"] for r in rs]
        print(f"{name}: wall median {statistics.median(walls):.2f} s (min {min(walls):.2f}, "
              f"max {max(walls):.2f}); compiler CPU median "
              f"{statistics.median(r['cc_cpu'] for r in rs):.2f} s; load "
              f"{min(r['load'] for r in rs):.2f}-{max(r['load'] for r in rs):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

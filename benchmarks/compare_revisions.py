"""The interpreter's speed at two revisions, measured in one run, alternating, on one machine.

    python benchmarks/compare_revisions.py 6deca6b          # that revision vs the working tree
    python benchmarks/compare_revisions.py 6deca6b --rounds 5

Each figure is `run_all.py --worker` (a fresh process importing only that revision's engine,
CPU time, median of several repeats) run alternately for the two trees, so the machine's load
drifts over both alike; the table gives the median over rounds. The old revision is checked out
with `git worktree` into a temporary folder and removed afterwards.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIGURES = [  # (kind, engine, size, repeats, what, unit scale, unit)
    ("wide", "autograd-lite", 200_000, 5, "ns/node, build + backward + teardown, wide graph",
     1.0, "ns"),
    ("step", "autograd-lite", 0, 5, "ms per MLP(2, [16, 16, 1]) training step (interpreter)",
     1e3, "ms"),
]


def worker(tree: Path, kind: str, engine: str, size: int, repeats: int) -> float:
    """One timing in a fresh interpreter that imports the engine of `tree`."""
    env = {"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"}
    cmd = [sys.executable, str(tree / "benchmarks" / "run_all.py"), "--worker", kind, engine,
           str(size), str(repeats)]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False, cwd=tree)
    if done.returncode != 0:
        raise RuntimeError(f"{tree}: worker {kind} failed:\n{done.stderr}")
    return float(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("revision", help="the earlier revision (a commit or branch)")
    ap.add_argument("--rounds", type=int, default=3, help="alternations of old and new")
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="autograd-lite-rev-"))
    old = tmp / "old"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(old),
                    args.revision], check=True, capture_output=True)
    try:
        rows = []
        for kind, engine, size, repeats, what, scale, unit in FIGURES:
            before: list[float] = []
            after: list[float] = []
            for _ in range(args.rounds):
                before.append(worker(old, kind, engine, size, repeats) * scale)
                after.append(worker(ROOT, kind, engine, size, repeats) * scale)
            b, a = statistics.median(before), statistics.median(after)
            rows.append(f"| {what} | {b:,.1f} {unit} | {a:,.1f} {unit} | {a / b:.2f}x |")
        rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", args.revision],
                             capture_output=True, text=True, check=True).stdout.strip()
        print(f"| figure (median of {args.rounds} alternating rounds) | {rev} | working tree "
              "| after / before |")
        print("|---|---|---|---|")
        print("\n".join(rows))
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)],
                       check=False, capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

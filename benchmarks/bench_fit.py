"""A digits epoch with `fit(compiled=True)`: inside one `fit`, and as `fit(epochs=1)` called in a
loop (a loop with early stopping or plotting between calls), plus a cProfile of the loop.

MLP(64, [32, 10]) (tanh) on the 1,347 training digits, Adam(lr=0.01), batch 32, cross-entropy:
the workload of issue "Native replay at the arithmetic limit" (PyTorch's side of it is timed by
benchmarks/bench_native.py; not repeated here).

    .venv/bin/python benchmarks/bench_fit.py [--epochs 10] [--calls 10] [--profile]

Figures (CPU time of this process: the machine is shared): each epoch of one fit after the first
(the first traces, compiles and verifies), and each `fit(..., epochs=1)` call after the first,
median and best; the final test accuracy.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import time

clock = time.process_time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import nn  # noqa: E402
from nn.data import load_digits, standardize, train_test_split  # noqa: E402


def data() -> tuple[list, list, list, list]:
    """The digits split and standardised as bench_native does."""
    X, y = load_digits()
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, seed=0)
    Xtr, Xte = standardize(Xtr, Xte)
    return Xtr, Xte, ytr, yte


def one_fit(epochs: int) -> tuple[list[float], float]:
    """CPU seconds of each epoch of one fit (from one epoch's start to the next, as
    bench_native: the machine is shared, so CPU time, not wall time), and the test accuracy."""
    Xtr, Xte, ytr, yte = data()
    model = nn.MLP(64, [32, 10], activation="tanh", seed=0)
    opt = nn.Adam(model.parameters(), lr=0.01)
    starts: list[float] = []

    def mark(epoch: int) -> float:  # fit calls it at the start of each epoch
        starts.append(clock())
        return 0.01

    nn.fit(model, Xtr, ytr, loss="cross_entropy", optimizer=opt, epochs=epochs, batch_size=32,
           progress=False, compiled=True, lr_schedule=mark)
    starts.append(clock())
    _, acc = nn.evaluate(model, Xte, yte, compiled=True)
    return [b - a for a, b in zip(starts, starts[1:])], float(acc or 0.0)


def fit_loop(calls: int, profile: bool) -> tuple[list[float], float, str]:
    """CPU seconds of each `fit(epochs=1)` call, the test accuracy, a profile of calls 2.."""
    Xtr, Xte, ytr, yte = data()
    model = nn.MLP(64, [32, 10], activation="tanh", seed=0)
    opt = nn.Adam(model.parameters(), lr=0.01)
    times = []
    prof = cProfile.Profile(clock) if profile else None
    for i in range(calls):
        if prof is not None and i == 1:
            prof.enable()
        t = clock()
        nn.fit(model, Xtr, ytr, loss="cross_entropy", optimizer=opt, epochs=1, batch_size=32,
               progress=False, compiled=True, seed=i)
        times.append(clock() - t)
    text = ""
    if prof is not None:
        prof.disable()
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(18)
        text = out.getvalue()
    _, acc = nn.evaluate(model, Xte, yte, compiled=True)
    return times, float(acc or 0.0), text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--calls", type=int, default=10)
    ap.add_argument("--profile", action="store_true", help="print a cProfile of the fit loop")
    args = ap.parse_args()
    epochs, acc = one_fit(args.epochs)
    later = epochs[1:] or epochs
    print(f"one fit, {args.epochs} epochs: first epoch {epochs[0] * 1e3:.1f} ms; epochs 2..: "
          f"median {statistics.median(later) * 1e3:.1f} ms, best {min(later) * 1e3:.1f} ms; "
          f"test accuracy {acc:.3f}")
    times, acc, text = fit_loop(args.calls, args.profile)
    later = times[1:] or times
    print(f"fit(epochs=1) x {args.calls}: first call {times[0] * 1e3:.1f} ms; calls 2..: "
          f"median {statistics.median(later) * 1e3:.1f} ms, best {min(later) * 1e3:.1f} ms; "
          f"test accuracy {acc:.3f}")
    if text:
        print(text)


if __name__ == "__main__":
    main()

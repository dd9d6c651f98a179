"""What a compiled fit pays at each epoch boundary where user code runs (lr_schedule,
validation, a live plot), piece by piece, on bench_native's MLP(2, [16, 16, 1]) (337
parameters):

    python benchmarks/bench_epoch_sync.py            # a few seconds
    python benchmarks/bench_epoch_sync.py --cold     # ~30 s: a full gc.collect() before each sample

Pieces: the model-and-loss snapshot `_fresh` takes (nn.compiled `_Snapshot`), loading the flat
state (nn.flat `FlatState`, SGD with weight decay and Adam), writing it back (`store`, what
`sync` does), and the epoch itself: a fit of 20 batches per epoch with an lr_schedule (so it
syncs at every epoch), per step. CPU time of this process, pieces interleaved round by round,
medians of the rounds; load average before and after (the machine is shared).
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bench_native as bn  # noqa: E402

import nn  # noqa: E402
from nn.compiled import _Snapshot  # noqa: E402
from nn.flat import FlatState  # noqa: E402


def load() -> str:
    """The load average, as text."""
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def main() -> None:
    """Time each piece, interleaved, and print a table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--cold", action="store_true", help="gc.collect() before each sample")
    a = ap.parse_args()
    X, y = bn.moons()
    n = len(X)
    X, y = X * 20, y * 20
    model = nn.MLP(2, [16, 16, 1], activation="relu", seed=0)
    params = model.parameters()
    sgd = nn.SGD(params, lr=bn.LR, weight_decay=2 * bn.ALPHA)
    adam = nn.Adam(params, lr=0.01)
    nn.fit(model, X[:n], y[:n], loss=nn.losses.hinge, optimizer=adam, epochs=2, batch_size=n,
           shuffle=False, progress=False, compiled=True)  # Adam's state: floats
    watched = set(params)
    flats = {"sgd": FlatState(params, sgd, "auto"), "adam": FlatState(params, adam, "auto")}

    def store(kind: str) -> Callable[[], None]:
        flat = flats[kind]

        def run() -> None:
            flat.steps, flat.grad = 1, flat.data  # (as after a step: `store` writes all)
            flat.store()
        return run

    def epochs() -> float:
        h = nn.fit(model, X, y, loss=nn.losses.hinge, optimizer=sgd, epochs=6, batch_size=n,
                   shuffle=False, progress=False, compiled=True, lr_schedule=lambda e: bn.LR)
        return statistics.median(h.epoch_time[1:]) / 20

    pieces: dict[str, tuple[Callable[[], object], int]] = {
        "snapshot of model and loss (`_fresh`)": (
            lambda: _Snapshot((model, nn.losses.hinge), watched), 200),
        "FlatState load, SGD": (lambda: FlatState(params, sgd, "auto"), 200),
        "FlatState load, Adam": (lambda: FlatState(params, adam, "auto"), 200),
        "store (sync), SGD": (store("sgd"), 200),
        "store (sync), Adam": (store("adam"), 200),
    }
    times: dict[str, list[float]] = {k: [] for k in pieces}
    steps: list[float] = []
    before = load()
    for r in range(a.rounds):
        names = list(pieces)
        names = names[r % len(names):] + names[:r % len(names)]
        for name in names:
            f, k = pieces[name]
            total = 0.0
            if a.cold:  # each sample timed alone, after a collection
                for _ in range(k):
                    gc.collect()
                    t0 = time.process_time()
                    f()
                    total += time.process_time() - t0
            else:
                t0 = time.process_time()
                for _ in range(k):
                    f()
                total = time.process_time() - t0
            times[name].append(total / k)
        steps.append(epochs())
    print(f"Load average before {before}, after {load()}; CPU time, medians of {a.rounds} "
          f"rounds{' (cold: gc.collect() before each sample)' if a.cold else ''}.\n")
    print("| piece (per epoch boundary) | µs |\n|---|---|")
    for name, ts in times.items():
        print(f"| {name} | {statistics.median(ts) * 1e6:.1f} |")
    print(f"| fit(compiled=True) step, 20 per epoch, lr_schedule (syncs every epoch), "
          f"wall | {statistics.median(steps) * 1e6:.1f} |")


if __name__ == "__main__":
    main()

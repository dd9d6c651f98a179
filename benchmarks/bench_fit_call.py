"""What a `fit(..., epochs=1, compiled=True)` call costs besides its epoch (issue 23, goal 2's
"fit in a loop"), piece by piece: the digits MLP(64, [32, 10]) tanh, cross-entropy, Adam,
batch 32, 1,347 rows as lists (bench_native_limits' loop), and the guard's snapshot of
bench_native's moons MLP(2, [16, 16, 1]) that goal 1 pays after every sync.

    python benchmarks/bench_fit_call.py            # medians of 20 (CPU time of this process)

Each figure is the median CPU time of 20 calls after two warm-up fits (the fit call and its
epoch also in wall time, as History records epochs); the load average is printed: the machine
is shared.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bench_native_limits as limits  # noqa: E402

import nn  # noqa: E402
from autograd_lite import no_grad  # noqa: E402
from nn import arrays, compiled, train  # noqa: E402


def median_ms(f: Callable[[], object], n: int = 20) -> float:
    """Median CPU milliseconds of n calls of f."""
    times = []
    for _ in range(n):
        start = time.process_time()
        f()
        times.append(time.process_time() - start)
    return statistics.median(times) * 1e3


def main() -> None:
    """Print the per-call figures."""
    Xtr, _, ytr, _ = limits.digits_data()
    m = nn.MLP(64, [32, 10], activation="tanh", seed=0)
    opt = nn.Adam(m.parameters(), lr=0.01)
    epochs: list[float] = []

    def one() -> None:
        h = nn.fit(m, Xtr, ytr, loss=nn.losses.cross_entropy, optimizer=opt, epochs=1,
                   batch_size=32, progress=False, compiled=True)
        epochs.append(h.epoch_time[0])

    one()
    one()
    epochs.clear()
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    call = median_ms(one)
    walls = []
    for _ in range(20):
        start = time.perf_counter()
        one()
        walls.append(time.perf_counter() - start)
    wall = statistics.median(walls) * 1e3
    epoch = statistics.median(epochs[-20:]) * 1e3  # (wall time, as History records it)

    def forward() -> None:
        with no_grad():
            m(Xtr[0])

    def known() -> None:
        compiled.known_output(m, Xtr[0], lambda out: train.resolve_loss(
            nn.losses.cross_entropy, out, ytr, model=m))

    step = compiled._steps[m]["auto"]
    moons = nn.MLP(2, [16, 16, 1], activation="relu", seed=0)
    moons_params = set(moons.parameters())
    rows = [
        ("fit(epochs=1) per call (CPU)", call),
        ("fit(epochs=1) per call (wall)", wall),
        ("  its epoch (History.epoch_time, wall)", epoch),
        ("  the rest of the call (wall)", wall - epoch),
        ("rows(X): 1,347 x 64 floats checked and copied", median_ms(lambda: arrays.rows(Xtr))),
        ("targets(y)", median_ms(lambda: arrays.targets(ytr))),
        ("sample output by the interpreter (model(X[0]))", median_ms(forward)),
        ("sample output by known_output (one replayed row)", median_ms(known)),
        ("snapshot of the digits MLP and its loss",
         median_ms(lambda: compiled._Snapshot((m, step.loss_fn), step._param_set))),
        ("snapshot of the moons MLP and hinge (goal 1, per sync)",
         median_ms(lambda: compiled._Snapshot((moons, nn.losses.hinge), moons_params))),
    ]
    for name, ms in rows:
        print(f"{name:58s} {ms:7.3f} ms")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

"""micrograd 0.1.0 vs the drop-in (`autograd_lite.micrograd`) vs plain autograd-lite, on the
training loop of micrograd's demo notebook.

    python benchmarks/bench_micrograd_dropin.py             # 12 steps per engine
    python benchmarks/bench_micrograd_dropin.py --steps 4   # a smoke run

The loop is the demo's, verbatim in substance: 100 two-moons points (`make_moons(n_samples=100,
noise=0.1)` after `np.random.seed(1337); random.seed(1337)`), `MLP(2, [16, 16, 1])`, SVM
max-margin loss `(1 + -yi*scorei).relu()` averaged, L2 1e-4, `zero_grad`, `backward`, SGD with
`lr = 1.0 - 0.9*k/100`, accuracy. "plain autograd-lite" is micrograd's `nn` code on
`autograd_lite.Value` (the engine without the drop-in class). Each engine runs in a fresh
process; the figure is the median CPU time of one step (forward, loss, backward, update),
first step excluded. Two columns: Python's cyclic garbage collector on (how the demo runs) and
off (`gc.disable()`, with a `gc.collect()` between steps, outside the timing): micrograd's
closures make reference cycles, so it pays far more for the collector than the engine does.
The losses of every engine are checked against micrograd's (relative 1e-9) before any figure
is printed.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
ENGINES = ("micrograd", "dropin", "plain")
LABELS = {"micrograd": "micrograd 0.1.0", "dropin": "autograd_lite.micrograd (drop-in)",
          "plain": "plain autograd-lite (`autograd_lite.Value`)"}


def _plain_nn() -> tuple[Any, Any]:
    """micrograd's nn.py, line for line, on `autograd_lite.Value`."""
    from autograd_lite import Value

    class Neuron:
        def __init__(self, nin: int, nonlin: bool = True) -> None:
            self.w = [Value(random.uniform(-1, 1)) for _ in range(nin)]
            self.b = Value(0)
            self.nonlin = nonlin

        def __call__(self, x: Any) -> Any:
            act = sum((wi * xi for wi, xi in zip(self.w, x)), self.b)
            return act.relu() if self.nonlin else act

        def parameters(self) -> list[Any]:
            return self.w + [self.b]

    class Layer:
        def __init__(self, nin: int, nout: int, **kwargs: Any) -> None:
            self.neurons = [Neuron(nin, **kwargs) for _ in range(nout)]

        def __call__(self, x: Any) -> Any:
            out = [n(x) for n in self.neurons]
            return out[0] if len(out) == 1 else out

        def parameters(self) -> list[Any]:
            return [p for n in self.neurons for p in n.parameters()]

    class MLP:
        def __init__(self, nin: int, nouts: list[int]) -> None:
            sz = [nin] + nouts
            self.layers = [Layer(sz[i], sz[i + 1], nonlin=i != len(nouts) - 1)
                           for i in range(len(nouts))]

        def __call__(self, x: Any) -> Any:
            for layer in self.layers:
                x = layer(x)
            return x

        def parameters(self) -> list[Any]:
            return [p for layer in self.layers for p in layer.parameters()]

        def zero_grad(self) -> None:
            for p in self.parameters():
                p.grad = 0

    return Value, MLP


def worker(engine: str, steps: int, collector: bool) -> dict[str, Any]:
    """Run the demo loop for `steps` steps on `engine`; per-step CPU seconds and the log."""
    import numpy as np
    from sklearn.datasets import make_moons

    if engine == "micrograd":
        from micrograd.engine import Value
        from micrograd.nn import MLP
    elif engine == "dropin":
        from autograd_lite.micrograd.engine import Value
        from autograd_lite.micrograd.nn import MLP
    else:
        Value, MLP = _plain_nn()

    np.random.seed(1337)
    random.seed(1337)
    X, y = make_moons(n_samples=100, noise=0.1)
    y = y * 2 - 1
    model = MLP(2, [16, 16, 1])

    def loss() -> tuple[Any, float]:
        inputs = [list(map(Value, xrow)) for xrow in X]
        scores = list(map(model, inputs))
        losses = [(1 + -yi * scorei).relu() for yi, scorei in zip(y, scores)]
        data_loss = sum(losses) * (1.0 / len(losses))
        alpha = 1e-4
        reg_loss = alpha * sum(p * p for p in model.parameters())
        total_loss = data_loss + reg_loss
        accuracy = [(yi > 0) == (scorei.data > 0) for yi, scorei in zip(y, scores)]
        return total_loss, sum(accuracy) / len(accuracy)

    times, log = [], []
    gc.collect()
    if not collector:
        gc.disable()
    for k in range(steps):
        t0 = time.process_time()
        total_loss, acc = loss()
        model.zero_grad()
        total_loss.backward()
        learning_rate = 1.0 - 0.9 * k / 100
        for p in model.parameters():
            p.data -= learning_rate * p.grad
        times.append(time.process_time() - t0)
        log.append((float(total_loss.data), float(acc)))
        del total_loss
        if not collector:
            gc.collect()
    gc.enable()
    return {"engine": engine, "times": times, "log": log}


def _run(engine: str, steps: int, collector: bool) -> dict[str, Any]:
    cmd = [sys.executable, str(HERE), "--worker", engine, "--steps", str(steps),
           "--gc", "on" if collector else "off"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def _check_log(ref: list[list[float]], got: list[list[float]], name: str) -> None:
    for k, ((l0, a0), (l1, a1)) in enumerate(zip(ref, got)):
        if abs(l1 - l0) > 1e-9 * abs(l0) or a0 != a1:
            raise SystemExit(f"{name} disagrees with micrograd at step {k}: loss {l1!r} vs "
                             f"{l0!r}, accuracy {a1} vs {a0}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=12, help="training steps per engine (>= 2)")
    ap.add_argument("--worker", choices=ENGINES, help=argparse.SUPPRESS)
    ap.add_argument("--gc", choices=("on", "off"), default="on", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.steps < 2:
        ap.error("--steps must be at least 2 (the first step is not timed)")
    if args.worker:
        print(json.dumps(worker(args.worker, args.steps, args.gc == "on")))
        return

    ms: dict[tuple[str, bool], float] = {}
    for collector in (True, False):
        runs = {e: _run(e, args.steps, collector) for e in ENGINES}
        for e in ENGINES:
            _check_log(runs["micrograd"]["log"], runs[e]["log"], e)
            ms[e, collector] = 1000 * statistics.median(runs[e]["times"][1:])
    try:
        load = " ".join(f"{x:.2f}" for x in __import__("os").getloadavg())
    except OSError:  # pragma: no cover
        load = "n/a"
    print(f"Demo training loop, MLP(2, [16, 16, 1]) on 100 moons; median CPU ms per step over "
          f"{args.steps - 1} steps; Python {platform.python_version()}, load average {load}.")
    print("Losses and accuracies of every engine equal micrograd's at every step (rel 1e-9).\n")
    print("| engine | ms/step, GC on (as the demo runs) | vs micrograd | "
          "ms/step, GC off | vs micrograd |")
    print("|---|---|---|---|---|")
    for e in ENGINES:
        on, off = ms[e, True], ms[e, False]
        r_on = ms["micrograd", True] / on
        r_off = ms["micrograd", False] / off
        print(f"| {LABELS[e]} | {on:.1f} | {r_on:.1f}x | {off:.1f} | {r_off:.1f}x |")
    print(f"\ndrop-in / plain engine time: GC on {ms['dropin', True] / ms['plain', True]:.2f}, "
          f"GC off {ms['dropin', False] / ms['plain', False]:.2f}")


if __name__ == "__main__":
    main()

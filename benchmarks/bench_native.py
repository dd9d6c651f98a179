"""Native replay (compiled C over a batch) against Python replay and PyTorch, in one run.

    python benchmarks/bench_native.py            # full run
    python benchmarks/bench_native.py --quick    # fewer repeats

Prints a markdown table (medians of CPU time of this process; PyTorch with 1 thread and with
its default threads). Workloads (issue 12's goals):
1. one training step of MLP(2, [16, 16, 1]) (relu) on 100 two-moons points: hinge loss + L2,
   value and the parameters' gradients (`input_grads=False`: as PyTorch, no gradients for the
   data), SGD update;
2. one epoch of MLP(64, [32, 10]) (tanh) on the 1,347 training digits, batch 32,
   cross-entropy, Adam, after compiling; test accuracy after 4 epochs;
3. compile time of a 10,000-node graph (cold cache: a fresh cache directory).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from engines import run_program, wide_program  # noqa: E402
from run_all import clock, median_time  # noqa: E402  # the same CPU-time clock and medians

import autograd_lite as al  # noqa: E402
from autograd_lite import Value, compile_grad  # noqa: E402

ALPHA = 1e-4
LR = 0.5

def moons() -> tuple[list[list[float]], list[float]]:
    from nn.data import make_moons
    X, y = make_moons(100, noise=0.1, seed=0)
    return [list(map(float, x)) for x in X], [1.0 if t == 1 else -1.0 for t in y]


# ---- 1. MLP step -----------------------------------------------------------------------------
def ours_step(backend: str, model: Any = None) -> tuple[Callable[[], float], float]:
    """The step on `backend`: one batch call for the 100 hinge terms (the label is an input),
    one call for the L2 term, then SGD on the Values. Returns (step, compile seconds).
    `model`: an MLP(2, [16, 16, 1]) to train instead of the relu one made with seed 0."""
    import nn
    X, y = moons()
    if model is None:
        model = nn.MLP(2, [16, 16, 1], activation="relu", seed=0)
    params = model.parameters()

    def hinge(x0: Value, x1: Value, t: Value) -> Value:
        return (model([x0, x1]) * -t + 1.0).relu()

    def l2() -> Value:
        reg = params[0] * params[0]
        for p in params[1:]:
            reg = reg + p * p
        return reg * ALPHA

    t0 = time.perf_counter()
    c = compile_grad(hinge, [*X[0], y[0]], params=params, backend=backend)
    c_reg = compile_grad(l2, [], params=params, backend=backend)
    seconds = time.perf_counter() - t0
    rows = [[*x, t] for x, t in zip(X, y)]
    scale = 1.0 / len(rows)

    def step() -> float:
        values, _, g = c.value_and_grad_batch(rows, input_grads=False)
        reg, gr = c_reg.value_and_grad([])
        for p, a, b in zip(params, g, gr):
            p.data -= LR * (a * scale + b)
        return sum(values) * scale + reg

    return step, seconds


def torch_step(threads: int | None) -> Callable[[], float]:
    import torch
    if threads is not None:
        torch.set_num_threads(threads)
    X, y = moons()
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.ReLU(), torch.nn.Linear(16, 16),
                                torch.nn.ReLU(), torch.nn.Linear(16, 1)).double()
    xt = torch.tensor(X, dtype=torch.float64)
    yt = torch.tensor(y, dtype=torch.float64).unsqueeze(1)
    opt = torch.optim.SGD(model.parameters(), lr=LR)

    def step() -> float:
        loss = torch.relu(1 - yt * model(xt)).mean() + ALPHA * sum(
            (p * p).sum() for p in model.parameters())
        opt.zero_grad()
        loss.backward()
        opt.step()
        return float(loss)

    return step


# ---- 2. digits ---------------------------------------------------------------------------------
def digits(backend: str, epochs: int) -> dict[str, float]:
    """fit(compiled=True) on `backend`: seconds of epochs after the first (which traces the
    sample loss once, compiles it and verifies the first batch against the interpreter),
    first-epoch seconds, test accuracy."""
    import nn
    from nn.compiled import CompiledStep
    from nn.data import load_digits, standardize, train_test_split
    X, y = load_digits()
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, seed=0)
    Xtr, Xte = standardize(Xtr, Xte)
    model = nn.MLP(64, [32, 10], activation="tanh", seed=0)
    opt = nn.Adam(model.parameters(), lr=0.01)
    step = CompiledStep(model, nn.losses.cross_entropy, backend=backend, targets=ytr)
    starts: list[float] = []

    def mark(epoch: int) -> float:  # called by fit at the start of each epoch: CPU clock
        starts.append(clock())
        return 0.01

    t = clock()
    nn.fit(model, Xtr, ytr, loss=nn.losses.cross_entropy, optimizer=opt, epochs=epochs,
           batch_size=32, progress=False, step=step, lr_schedule=mark)
    total = clock() - t
    starts.append(clock())
    epoch_cpu = [b - a for a, b in zip(starts, starts[1:])]  # History.epoch_time is wall time
    acc = nn.accuracy(yte, nn.predict(model, Xte))
    return {"epoch": statistics.median(epoch_cpu[1:]), "first": epoch_cpu[0],
            "total": total, "acc": acc, "n_train": len(Xtr),
            "native": float(step.compiled is not None and step.compiled.backend == "c")}


def torch_digits(epochs: int, threads: int | None) -> dict[str, float]:
    import torch

    from nn.data import load_digits, standardize, train_test_split
    if threads is not None:
        torch.set_num_threads(threads)
    X, y = load_digits()
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, seed=0)
    Xtr, Xte = standardize(Xtr, Xte)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.Tanh(),
                                torch.nn.Linear(32, 10)).double()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    xt = torch.tensor(Xtr, dtype=torch.float64)
    yt = torch.tensor(ytr)
    import random
    order = list(range(len(Xtr)))
    rng = random.Random(0)
    times = []
    for _ in range(epochs):
        rng.shuffle(order)
        t = clock()
        idx = torch.tensor(order)
        for b in range(0, len(order), 32):
            sel = idx[b:b + 32]
            loss = torch.nn.functional.cross_entropy(model(xt[sel]), yt[sel])
            opt.zero_grad()
            loss.backward()
            opt.step()
        times.append(clock() - t)
    with torch.no_grad():
        pred = model(torch.tensor(Xte, dtype=torch.float64)).argmax(1).tolist()
    acc = sum(int(p == t) for p, t in zip(pred, yte)) / len(yte)
    return {"epoch": statistics.median(times[1:]), "acc": acc}


# ---- 3. compile time -------------------------------------------------------------------------
def compile_time(n: int = 10_000) -> dict[str, float]:
    """Seconds to trace, generate and build a `n`-node graph with a cold cache (wall, and the
    compiler's CPU time), and the optimisation level chosen."""
    from autograd_lite.compile import native
    leaves, prog = wide_program(n)
    old = os.environ.get("XDG_CACHE_HOME")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["XDG_CACHE_HOME"] = tmp
        native.forget_loaded()
        try:
            t, c0 = time.perf_counter(), os.times()
            c = compile_grad(lambda *xs: run_program(list(xs), prog, Value.tanh, Value.exp)[-1],
                             leaves, backend="c")
            wall, c1 = time.perf_counter() - t, os.times()
        finally:
            if old is None:
                os.environ.pop("XDG_CACHE_HOME", None)
            else:
                os.environ["XDG_CACHE_HOME"] = old
    cc_cpu = (c1.children_user - c0.children_user) + (c1.children_system - c0.children_system)
    lines = c.c_source.count("\n") if c.c_source else 0
    return {"nodes": c.n_nodes, "wall": wall, "cc_cpu": cc_cpu,
            "level": 1.0 if lines and native.opt_level(lines) != "-O0" else 0.0}


def have_torch() -> bool:
    import importlib.util
    return importlib.util.find_spec("torch") is not None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats and epochs")
    ap.add_argument("--out", default=None, help="also write the table to this file")
    args = ap.parse_args(argv)
    q = args.quick
    from autograd_lite.compile import native
    found = native.find_compiler()
    compiler = found if isinstance(found, str) else found[1].splitlines()[0]
    lines: list[str] = []

    def say(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    say(f"Native replay benchmark (autograd-lite {al.__version__}; compiler: {compiler}; "
        f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}). CPU time of this process, "
        "medians.")
    say()
    rep = 10 if q else 40
    step_ms: dict[str, float] = {}
    compile_s: dict[str, float] = {}
    for backend in ("python", "c"):
        if backend == "c" and isinstance(found, str):
            continue
        step, secs = ours_step(backend)
        step()
        step_ms[backend] = median_time(step, 3 if backend == "python" else rep) * 1e3
        compile_s[backend] = secs
    torch_ok = have_torch()
    if torch_ok:
        for label, threads in (("torch-1", 1), ("torch", None)):
            ts = torch_step(threads)
            ts()
            step_ms[label] = median_time(ts, rep) * 1e3
    epochs = 2 if q else 4
    dig = {b: digits(b, epochs) for b in ("python", "c") if b == "python" or
           not isinstance(found, str)}
    tdig = {}
    if torch_ok:
        tdig = {"torch-1": torch_digits(epochs, 1), "torch": torch_digits(epochs, None)}
    ct = compile_time() if not isinstance(found, str) else None

    def ms(x: float | None, d: int = 2) -> str:
        return "—" if x is None else f"{x:,.{d}f} ms"

    say("| workload | Python replay | C (native) | PyTorch float64, 1 thread | PyTorch, "
        "default threads | goal | met |")
    say("|---|---|---|---|---|---|---|")
    c_step = step_ms.get("c")
    best_torch = min((step_ms[k] for k in ("torch-1", "torch") if k in step_ms), default=None)
    say(f"| MLP(2,[16,16,1]) step, 100 moons, hinge + L2, value + param grads + SGD | "
        f"{ms(step_ms.get('python'))} | **{ms(c_step, 3)}** | {ms(step_ms.get('torch-1'), 3)} | "
        f"{ms(step_ms.get('torch'), 3)} | faster than PyTorch | "
        f"{_yes(c_step is not None and best_torch is not None and c_step < best_torch)} |")
    dp, dc = dig.get("python"), dig.get("c")
    say(f"| MLP(64,[32,10]) digits, one epoch ({dp['n_train'] if dp else 1347} images, batch "
        f"32, after compile) | {ms(dp['epoch'] * 1e3 if dp else None, 0)} | "
        f"**{ms(dc['epoch'] * 1e3 if dc else None, 1)}** | "
        f"{ms(tdig['torch-1']['epoch'] * 1e3 if tdig else None, 1)} | "
        f"{ms(tdig['torch']['epoch'] * 1e3 if tdig else None, 1)} | < 50 ms, test acc >= 95% | "
        f"{_yes(dc is not None and dc['epoch'] < 0.05 and dc['acc'] >= 0.95)} |")
    acc = " / ".join(f"{k} {v['acc']:.1%}" for k, v in [*dig.items(), *tdig.items()])
    say(f"| digits test accuracy after {epochs} epochs | {acc} | | | | | |")
    if ct:
        say(f"| compile time, {ct['nodes']:,}-node graph, cold cache | — | "
            f"**{ct['wall']:.2f} s** wall ({ct['cc_cpu']:.2f} s compiler CPU, "
            f"-O{int(ct['level'])}) | — | — | < 3 s | {_yes(ct['wall'] < 3.0)} |")
    say()
    say("Compile (trace + generate + build, warm cache for C if run before): MLP step "
        + ", ".join(f"{k} {v:.2f} s" for k, v in compile_s.items())
        + "; digits first epoch (traces the sample loss once, compiles, verifies one batch with "
        "the interpreter): "
        + ", ".join(f"{k} {v['first']:.1f} s" for k, v in dig.items()) + ".")
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")
    return 0


def _yes(ok: bool) -> str:
    return "yes" if ok else "NO"


if __name__ == "__main__":
    sys.exit(main())

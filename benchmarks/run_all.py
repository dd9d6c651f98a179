"""Benchmarks: autograd-lite against micrograd 0.1.0, plain floats and PyTorch, in one run.

    python benchmarks/run_all.py            # or: make bench
    python benchmarks/run_all.py --quick    # smaller sizes, fewer repeats (a smoke run)

Prints a markdown table (medians of several runs, and ratios) and writes it to
benchmarks/results.md with the machine it ran on. Exits non-zero only on errors. Figures:
1. ns per node: forward build + backward + teardown of a wide random graph of add, mul, tanh,
   exp and pow nodes (micrograd gets tanh and exp in its closure style; its teardown includes
   the cycle collector, which its closures need; ours and floats are freed by refcounting);
2. one training step of MLP(2, [16, 16, 1]) on 100 two-moons points, hinge loss + L2, SGD;
3. the longest chain `y = y*a + b` backward handles, and ours at 1e4, 1e5, 1e6 steps;
4. bytes per node for 1,000,000 nodes (tracemalloc, after backward: grads included);
5. compiled replay vs interpreter vs float floor, and the compiled MLP step;
6. training the 8x8 digits MLP to >= 95% test accuracy with and without compiled replay.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import math
import os
import platform
import random
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import engines  # noqa: E402
from engines import float_reverse, run_program, wide_program  # noqa: E402

import autograd_lite as al  # noqa: E402
from autograd_lite import Value, compile_grad  # noqa: E402

Row = list[str]


# CPU time of this process: on a shared machine, other processes' load disturbs it far less
# than wall time (torch is limited to one thread, so it is comparable).
clock = time.process_time


def median_time(fn: Callable[[], Any], repeats: int) -> float:
    """Median CPU seconds of `repeats` calls (a collection before each, untimed)."""
    times = []
    for _ in range(repeats):
        gc.collect()
        t = clock()
        fn()
        times.append(clock() - t)
    return statistics.median(times)


def in_fresh_process(kind: str, engine: str, size: int, repeats: int) -> float | None:
    """Run one timing in a new interpreter that imports only that engine, so that another
    engine's objects (torch has ~150,000) do not slow this one's garbage collector."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", kind, engine, str(size),
           str(repeats)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"worker {kind} {engine} failed:\n{done.stderr}")
    return float(done.stdout.strip().splitlines()[-1])


def machine() -> str:
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = " / load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = ""
    return (f"{model}, {os.cpu_count()} cores{load}; Python {platform.python_version()} "
            f"({platform.python_implementation()}) on {platform.system()} {platform.release()}")


def have(module: str) -> bool:
    """Whether `module` can be imported (without importing it here)."""
    return importlib.util.find_spec(module) is not None


def fmt(x: float | None, digits: int = 0) -> str:
    if x is None:
        return "—"
    return f"{x:,.{digits}f}"


# ---- 1. wide random graph ----------------------------------------------------------------
def wide_fn(engine: str, n: int) -> tuple[Callable[[], None], int]:
    """One build + backward + teardown of the wide graph in `engine`, and its node count."""
    leaves, prog = wide_program(n)
    nodes = len(leaves) + len(prog)
    if engine == "autograd-lite":
        def run() -> None:
            vals = run_program([Value(x) for x in leaves], prog, Value.tanh, Value.exp)
            vals[-1].backward()
            del vals
    elif engine == "floats":
        def run() -> None:
            vals = run_program(leaves, prog, math.tanh, math.exp)
            grads = float_reverse(vals, prog, len(leaves))
            del vals, grads
    elif engine == "micrograd":
        sys.setrecursionlimit(100_000)  # its recursive topological sort
        mv, mtanh, mexp = engines.micrograd_ops()

        def run() -> None:
            vals = run_program([mv(x) for x in leaves], prog, mtanh, mexp)
            vals[-1].backward()
            del vals
            gc.collect()  # its per-node closures form reference cycles
    elif engine == "torch":
        leaf, ttanh, texp = engines.torch_ops()

        def run() -> None:
            vals = run_program([leaf(x) for x in leaves], prog, ttanh, texp)
            vals[-1].backward()
            del vals
    else:
        raise ValueError(f"unknown engine {engine!r}")
    return run, nodes


def wide_runs(n: int, repeats: int) -> dict[str, float]:
    """ns per node of build + backward + teardown, per engine (median, each in its process)."""
    out: dict[str, float] = {}
    for engine in ("autograd-lite", "floats", "micrograd", "torch"):
        if engine in ("micrograd", "torch") and not have(engine):
            continue
        slow = engine in ("micrograd", "torch")
        out[engine] = in_fresh_process("wide", engine, n, 3 if slow else repeats)  # type: ignore[assignment]
    return out


def ours_makes_no_cycles(n: int = 20_000) -> bool:
    """True when a freed graph leaves nothing for the cycle collector (refcounting frees it)."""
    leaves, prog = wide_program(n)
    gc.collect()
    vals = run_program([Value(x) for x in leaves], prog, Value.tanh, Value.exp)
    vals[-1].backward()
    del vals
    return gc.collect() == 0


# ---- 2. MLP training step --------------------------------------------------------------------
def moons(n: int = 100) -> tuple[list[list[float]], list[int]]:
    try:
        from nn.data import make_moons
        X, y = make_moons(n, noise=0.1, seed=0)
        return [list(map(float, x)) for x in X], [1 if t == 1 else -1 for t in y]
    except ImportError:
        rng = random.Random(0)
        X, y = [], []
        for i in range(n):
            t = math.pi * (i % (n // 2)) / (n // 2)
            if i < n // 2:
                X.append([math.cos(t) + rng.gauss(0, 0.1), math.sin(t) + rng.gauss(0, 0.1)])
                y.append(-1)
            else:
                X.append([1 - math.cos(t) + rng.gauss(0, 0.1), 0.5 - math.sin(t)
                          + rng.gauss(0, 0.1)])
                y.append(1)
        return X, y


ALPHA = 1e-4


def micrograd_step(X: list[list[float]], y: list[int]) -> Callable[[], None]:
    from micrograd.engine import Value as MValue
    from micrograd.nn import MLP as MMLP

    random.seed(1337)
    model = MMLP(2, [16, 16, 1])

    def step() -> None:  # micrograd's demo.ipynb, one iteration
        inputs = [list(map(MValue, row)) for row in X]
        scores = list(map(model, inputs))
        losses = [(1 + -yi * si).relu() for yi, si in zip(y, scores)]
        data_loss = sum(losses) * (1.0 / len(losses))
        reg_loss = ALPHA * sum(p * p for p in model.parameters())
        total = data_loss + reg_loss
        model.zero_grad()
        total.backward()
        for p in model.parameters():
            p.data -= 0.5 * p.grad

    return step


def ours_model() -> tuple[Callable[[Any], Value], list[Value]]:
    """MLP(2, [16, 16, 1]) with relu (as micrograd's): nn's when available, else plain Values."""
    try:
        from nn import MLP
        model = MLP(2, [16, 16, 1], activation="relu", seed=0)
        return model, model.parameters()
    except ImportError:
        rng = random.Random(0)
        layers = []
        params: list[Value] = []
        for nin, nout in ((2, 16), (16, 16), (16, 1)):
            layer = [([Value(rng.uniform(-1, 1)) for _ in range(nin)], Value(0.0))
                     for _ in range(nout)]
            layers.append(layer)
            for w, b in layer:
                params += [*w, b]

        def model(x: Any) -> Value:
            h = list(x)
            for k, layer in enumerate(layers):
                out = [sum((wi * hi for wi, hi in zip(w, h)), b) for w, b in layer]
                h = out if k == 2 else [o.relu() for o in out]
            return h[0]

        return model, params


def ours_step(X: list[list[float]], y: list[int]) -> Callable[[], None]:
    model, params = ours_model()

    def step() -> None:
        scores = [model(x) for x in X]
        losses = [(s * -float(t) + 1.0).relu() for s, t in zip(scores, y)]
        data_loss = sum(losses[1:], losses[0]) * (1.0 / len(losses))
        reg = params[0] * params[0]
        for p in params[1:]:
            reg = reg + p * p
        total = data_loss + reg * ALPHA
        for p in params:
            p.grad = 0.0
        total.backward()
        for p in params:
            p.data -= 0.5 * p.grad

    return step


def compiled_step(X: list[list[float]], y: list[int]) -> tuple[Callable[[], None], float]:
    """The same step with compiled replay: one compiled function per label, plus the L2 term.

    Returns the step and the seconds spent compiling (paid once)."""
    model, params = ours_model()
    t = time.perf_counter()
    per_label = {
        label: compile_grad(lambda x0, x1, label=label: (model([x0, x1]) * -float(label)
                                                         + 1.0).relu(),
                            X[0], params=params)
        for label in (-1, 1)
    }

    def l2() -> Value:
        reg = params[0] * params[0]
        for p in params[1:]:
            reg = reg + p * p
        return reg * ALPHA

    reg_c = compile_grad(l2, [], params=params)
    seconds = time.perf_counter() - t
    n = len(X)
    scale = 1.0 / n

    def step() -> None:
        total = [0.0] * len(params)
        for x, t in zip(X, y):
            _, g = per_label[t].value_and_grad(x)
            total = list(map(float.__add__, total, g[2:]))
        _, gr = reg_c.value_and_grad([])
        for p, gs, gq in zip(params, total, gr):
            p.data -= 0.5 * (gs * scale + gq)

    return step, seconds


def step_fn(engine: str) -> Callable[[], None]:
    X, y = moons(100)
    if engine == "autograd-lite":
        return ours_step(X, y)
    if engine == "compiled":
        return compiled_step(X, y)[0]
    if engine == "native":  # one batch call in C (bench_native.py's step; Python if no compiler)
        from bench_native import ours_step as native_step
        return native_step("auto")[0]
    if engine == "micrograd":
        return micrograd_step(X, y)
    if engine == "torch":
        return torch_step(X, y)
    raise ValueError(f"unknown engine {engine!r}")


def worker(kind: str, engine: str, size: int, repeats: int) -> None:
    """`--worker`: print the median seconds (per node for "wide") of one timing."""
    if kind == "wide":
        run, nodes = wide_fn(engine, size)
        print(median_time(run, repeats) / nodes * 1e9)
    elif kind == "step":
        run = step_fn(engine)
        run()  # warm-up (torch's first call initialises its kernels)
        print(median_time(run, repeats))
    else:
        raise ValueError(f"unknown worker kind {kind!r}")


def torch_step(X: list[list[float]], y: list[int]) -> Callable[[], None]:
    import torch

    torch.manual_seed(0)
    torch.set_num_threads(1)  # tiny tensors: threads only add overhead on a shared machine
    model = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.ReLU(), torch.nn.Linear(16, 16),
                                torch.nn.ReLU(), torch.nn.Linear(16, 1)).double()
    xt = torch.tensor(X, dtype=torch.float64)
    yt = torch.tensor(y, dtype=torch.float64).unsqueeze(1)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)

    def step() -> None:
        scores = model(xt)
        loss = torch.relu(1 - yt * scores).mean() + ALPHA * sum(
            (p * p).sum() for p in model.parameters())
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


# ---- 3. long chains ------------------------------------------------------------------------
def micrograd_chain_limit() -> int:
    """The largest n for which micrograd's backward of `y = y*a + b` (n steps) works."""
    from micrograd.engine import Value as MValue

    def works(n: int) -> bool:
        a, b, y = MValue(0.5), MValue(0.1), MValue(1.0)
        for _ in range(n):
            y = y * a + b
        try:
            y.backward()
        except RecursionError:
            return False
        finally:
            del y
            gc.collect()
        return True

    old = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)  # Python's default, as a user has it
    try:
        lo, hi = 1, 4096
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if works(mid) else (lo, mid - 1)
    finally:
        sys.setrecursionlimit(old)
    return lo


def ours_chain(n: int) -> float:
    """Seconds to build, backward and free `y = y*a + b` for n steps."""
    def run() -> None:
        a, b, y = Value(0.999), Value(0.001), Value(1.0)
        for _ in range(n):
            y = y * a + b
        y.backward()
        del y
    return median_time(run, 3 if n < 10**6 else 1)


# ---- 4. memory -----------------------------------------------------------------------------
def bytes_per_node(n: int) -> dict[str, float]:
    """tracemalloc'd bytes per node after forward and backward, graph and grads alive."""
    leaves, prog = wide_program(n)
    nodes = len(leaves) + len(prog)
    out: dict[str, float] = {}

    def measure(name: str, build: Callable[[], Any]) -> None:
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        keep = build()
        used = tracemalloc.get_traced_memory()[0] - base
        tracemalloc.stop()
        del keep
        gc.collect()
        out[name] = used / nodes

    def ours() -> Any:
        vals = run_program([Value(x) for x in leaves], prog, Value.tanh, Value.exp)
        vals[-1].backward()
        return vals

    def floats() -> Any:
        vals = run_program(leaves, prog, math.tanh, math.exp)
        return vals, float_reverse(vals, prog, len(leaves))

    measure("autograd-lite", ours)
    measure("floats", floats)
    if have("micrograd"):
        mv, mtanh, mexp = engines.micrograd_ops()

        def micro() -> Any:
            vals = run_program([mv(x) for x in leaves], prog, mtanh, mexp)
            vals[-1].backward()
            return vals

        measure("micrograd", micro)
    return out


# ---- 5. compiled replay ----------------------------------------------------------------------
def replay_runs(n: int, repeats: int) -> dict[str, float]:
    leaves, prog = wide_program(n)
    nodes = len(leaves) + len(prog)
    t = time.perf_counter()
    c = compile_grad(lambda *xs: run_program(list(xs), prog, Value.tanh, Value.exp)[-1], leaves)
    compile_s = time.perf_counter() - t
    # Same numbers as the interpreter (the tests check this on random graphs; here once more).
    vals = run_program([Value(x) for x in leaves], prog, Value.tanh, Value.exp)
    vals[-1].backward()
    value, grads = c.value_and_grad(leaves)
    if value != vals[-1].data or any(g != v.grad for g, v in zip(grads, vals)):
        raise AssertionError("compiled replay disagrees with the interpreter")
    del vals

    def interp() -> None:
        vs = run_program([Value(x) for x in leaves], prog, Value.tanh, Value.exp)
        vs[-1].backward()
        del vs

    def floats() -> None:
        vs = run_program(leaves, prog, math.tanh, math.exp)
        float_reverse(vs, prog, len(leaves))

    res = {"compile_s": compile_s, "nodes": nodes}
    for name, fn in (("interpreter", interp), ("compiled", lambda: c.value_and_grad(leaves)),
                     ("floats", floats)):
        res[name] = median_time(fn, repeats) / nodes * 1e9
    return res


# ---- 6. digits -------------------------------------------------------------------------------
def digits_runs(epochs: int) -> dict[str, Any] | None:
    try:
        import nn
        from nn.data import load_digits, standardize, train_test_split
    except ImportError:
        return None
    import inspect
    if "compiled" not in inspect.signature(nn.fit).parameters:
        return None
    X, y = load_digits()
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, seed=0)
    Xtr, Xte = standardize(Xtr, Xte)
    out: dict[str, Any] = {}
    for compiled in (True, False):
        model = nn.MLP(64, [32, 10], activation="tanh", seed=0)
        opt = nn.Adam(model.parameters(), lr=0.01)
        t = time.perf_counter()
        nn.fit(model, Xtr, ytr, loss="cross_entropy", optimizer=opt, epochs=epochs,
               batch_size=32, progress=False, compiled=compiled)
        seconds = time.perf_counter() - t
        acc = nn.accuracy(yte, nn.predict(model, Xte))
        out["compiled" if compiled else "interpreter"] = (seconds, acc)
    return out


# ---- report ----------------------------------------------------------------------------------
def ratio(a: float | None, b: float | None) -> str:
    return "—" if a is None or b is None else f"{a / b:.1f}x"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    ap.add_argument("--skip-digits", action="store_true", help="skip the digits training")
    ap.add_argument("--out", default=str(HERE / "results.md"), help="markdown output file")
    ap.add_argument("--worker", nargs=4, metavar=("KIND", "ENGINE", "SIZE", "REPEATS"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        kind, engine, size, repeats = args.worker
        worker(kind, engine, int(size), int(repeats))
        return 0
    q = args.quick
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 100_000))  # micrograd's recursive sort
    lines: list[str] = []

    def say(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    say("## Benchmarks")
    say()
    say(f"Machine: {machine()}.")
    versions = [f"autograd-lite {al.__version__}"]
    from importlib.metadata import version
    for name in ("micrograd", "torch"):
        if have(name):
            versions.append(f"{name} {version(name)}")
    say(f"Engines: {', '.join(versions)}. Medians of several runs of CPU time, each engine "
        "timed in a fresh process; 'x' columns are ratios.")
    say()
    n_wide = 20_000 if q else 200_000
    wide = wide_runs(n_wide, 3 if q else 7)
    mg, ours, fl, th = (wide.get(k) for k in ("micrograd", "autograd-lite", "floats", "torch"))
    nocycles = ours_makes_no_cycles()
    X, y = moons(100)
    steps = {k: in_fresh_process("step", k, 0, r) for k, r in (
        ("autograd-lite", 3 if q else 7), ("compiled", 3 if q else 7), ("native", 20),
        ("micrograd", 1 if q else 3), ("torch", 20)) if k not in ("micrograd", "torch")
        or have(k)}
    cstep_compile = compiled_step(X, y)[1]
    limit = micrograd_chain_limit() if have("micrograd") else None
    chain = {n: ours_chain(n) for n in ((10**3, 10**4) if q else (10**4, 10**5, 10**6))}
    mem = bytes_per_node(50_000 if q else 1_000_000)
    rep = replay_runs(5_000 if q else 20_000, 3 if q else 5)
    digits_epochs = 1 if q else 4
    digits = None if args.skip_digits else digits_runs(digits_epochs)

    say("| figure | micrograd 0.1.0 | float floor | PyTorch CPU | autograd-lite | "
        "ours vs micrograd | ours vs floor | goal |")
    say("|---|---|---|---|---|---|---|---|")
    say(f"| ns/node, build + backward + teardown, wide random graph of {n_wide:,} nodes | "
        f"{fmt(mg)} | {fmt(fl)} | {fmt(th)} (0-d tensors) | **{fmt(ours)}** | "
        f"{ratio(mg, ours)} faster | {ratio(ours, fl)} | >= 6x faster, <= 4x floor |")
    ms = {k: v * 1e3 for k, v in steps.items()}
    say(f"| ms per training step, MLP(2, [16, 16, 1]), 100 moons, hinge + L2, SGD | "
        f"{fmt(ms.get('micrograd'), 1)} | — | {fmt(ms.get('torch'), 2)} (batched) | "
        f"**{fmt(ms['autograd-lite'], 1)}** (compiled: {fmt(ms['compiled'], 1)}; native C, "
        f"batched: {fmt(ms['native'], 3)}) | "
        f"{ratio(ms.get('micrograd'), ms['autograd-lite'])} faster (compiled: "
        f"{ratio(ms.get('micrograd'), ms['compiled'])}) | — | >= 15x faster |")
    top = max(chain)
    say(f"| longest chain `y = y*a + b` backward handles | {fmt(limit)} steps, then "
        f"RecursionError | — | — | **{top:,} steps**, no error | — | — | 1,000,000, linear |")
    say(f"| bytes per node, {(50_000 if q else 1_000_000):,} nodes (tracemalloc, after "
        f"backward) | {fmt(mem.get('micrograd'))} | {fmt(mem['floats'])} | — | "
        f"**{fmt(mem['autograd-lite'])}** | {ratio(mem.get('micrograd'), mem['autograd-lite'])} "
        f"smaller | {ratio(mem['autograd-lite'], mem['floats'])} | <= 150 |")
    say(f"| ns/node, compiled replay (value and all gradients), wide graph of "
        f"{rep['nodes']:,} nodes | — | {fmt(rep['floats'])} | — | **{fmt(rep['compiled'])}** "
        f"(interpreter {fmt(rep['interpreter'])}) | — | {ratio(rep['compiled'], rep['floats'])} "
        f"| <= 1.5x floor |")
    say()
    say("Chain of `y = y*a + b` in autograd-lite (build + backward + free): " + ", ".join(
        f"{n:,} steps {t:.3f} s ({t / n * 1e9:,.0f} ns/step)" for n, t in chain.items()) + ".")
    say(f"Compiling the {rep['nodes']:,}-node graph took {rep['compile_s']:.1f} s (paid once; "
        f"compiled replay is {ratio(rep['interpreter'], rep['compiled'])} faster than the "
        f"interpreter). Compiling the MLP step's functions took {cstep_compile:.2f} s.")
    say(f"autograd-lite's freed graphs leave no reference cycles: {nocycles}.")
    from bench_native import compile_time

    from autograd_lite.compile import native
    if not isinstance(native.find_compiler(), str):
        ct = compile_time()
        say(f"Native replay: MLP step in one C call per batch {fmt(ms['native'], 3)} ms vs "
            f"PyTorch batched {fmt(ms.get('torch'), 3)} ms (goal: faster: "
            f"{_yes(ms.get('torch') is not None and ms['native'] < ms['torch'])}); compiling a "
            f"{ct['nodes']:,}-node graph (cold cache) {ct['wall']:.2f} s wall, compiler CPU "
            f"{ct['cc_cpu']:.2f} s (goal < 3 s: {_yes(ct['wall'] < 3.0)}). See "
            "benchmarks/bench_native.py for the full comparison.")
    if digits:
        (ct, ca), (it, ia) = digits["compiled"], digits["interpreter"]
        say(f"Digits (8x8, MLP(64, [32, 10]) tanh, Adam lr 0.01, cross-entropy, batch 32, "
            f"{digits_epochs} epochs, 1,347 train "
            f"/ 450 test): compiled replay {ct:.1f} s ({ca:.1%} test accuracy), interpreter "
            f"{it:.1f} s ({ia:.1%}); {ratio(it, ct)} faster. Goal: >= 95% in < 60 s.")
    say()
    say("Goals: " + "; ".join([
        f"per node >= 6x faster than micrograd: {_yes(mg is not None and mg / ours >= 6)}",
        f"within 4x of the float floor: {_yes(ours / fl <= 4)}",
        f"MLP step >= 15x faster: {_yes('micrograd' in ms and ms['micrograd'] / ms['autograd-lite'] >= 15)}"  # noqa: E501
        f" (compiled: {_yes('micrograd' in ms and ms['micrograd'] / ms['compiled'] >= 15)})",
        f"1,000,000-step chain: {_yes(top >= 10**6)}",
        f"<= 150 bytes/node: {_yes(mem['autograd-lite'] <= 150)}",
        f"compiled within 1.5x of the floor: {_yes(rep['compiled'] / rep['floats'] <= 1.5)}",
    ] + ([f"digits >= 95% in < 60 s: {_yes(digits['compiled'][1] >= 0.95 and digits['compiled'][0] < 60)}"]  # noqa: E501
         if digits else [])) + ".")
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"\nwritten to {args.out}")
    return 0


def _yes(ok: bool) -> str:
    return "met" if ok else "NOT met"


if __name__ == "__main__":
    sys.exit(main())

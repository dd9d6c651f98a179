"""Native replay against the arithmetic limit and PyTorch: the goals' figures, in one run.

    python benchmarks/bench_native_limits.py                # full run (~3 minutes)
    python benchmarks/bench_native_limits.py --quick        # fewer rounds (a smoke run)
    python benchmarks/bench_native_limits.py --part step    # only the MLP step (or digits)
    python benchmarks/bench_native_limits.py --out benchmarks/results_native.md

Measures whatever autograd-lite is importable from this checkout, in one process, engines
interleaved round by round (the machine is shared: CPU time of this process, medians of
several rounds, load average printed before and after). Workloads:

1. bench_native's step: MLP(2, [16, 16, 1]) relu, hinge loss + L2 (alpha 1e-4), 100 moons,
   SGD lr 0.5. Engines: a hand-written C reference (benchmarks/reference_mlp.c: rows in SIMD
   lanes, built here with the system compiler; bit-equal to autograd-lite's step, checked
   before timing; a tanh variant too); bench_native's native-C step (`compile_grad` +
   `value_and_grad_batch` + a Python SGD loop), with the rows as lists (as bench_native) and
   as a numpy array; `fit(compiled=True)` on the moons repeated 20 times, batch 100, no
   shuffling (each batch is bench_native's; SGD with weight_decay = 2 alpha, the same
   gradient), timed per epoch inside one `fit`, divided by 20; PyTorch float64, 1 thread, as
   nn.Sequential + torch.optim.SGD and as lean tensors (raw weights, update under no_grad),
   initial weights copied from ours.
2. bench_native's digits epoch: MLP(64, [32, 10]) tanh, cross-entropy, Adam lr 0.01, batch
   32, 1,347 training images; `fit(compiled=True)` per epoch inside one `fit` (the first,
   which traces, compiles and verifies, excluded) and `fit(epochs=1)` called in a loop on
   one model (every call counted after the first); PyTorch 1 thread, same model (weights
   copied), optimizer and batching; test accuracy of each; cold compile (first batch of a
   `fit(compiled=True)` in a fresh process whose XDG_CACHE_HOME is an empty folder).

Then a table of the goals (native replay at the arithmetic limit): met / NOT met.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import warnings
from array import array
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import bench_native as bn  # noqa: E402
from run_all import clock, machine  # noqa: E402  # CPU time of this process

import autograd_lite as al  # noqa: E402

DIGITS_LR = 0.01
FIT_REPEAT = 20  # batches per epoch in the fit-style step, steps per scan_steps call
SCAN = f"bench_native C step, {FIT_REPEAT} per Compiled.scan_steps call"
BATCH = 32
_keep: list[Any] = []  # temporary folders and libraries that live as long as the process


# ---- the hand-written reference ------------------------------------------------------------
def build_reference() -> tuple[ctypes.CDLL | None, str]:
    """Build reference_mlp.c with the system compiler into a temporary folder and load it;
    (None, why) when there is no compiler or the build fails."""
    from autograd_lite.compile import native
    found = native.find_compiler()
    if isinstance(found, str):
        return None, found
    cmd = found[0]
    tmp = tempfile.TemporaryDirectory(prefix="al-reference-")
    _keep.append(tmp)
    lib_path = Path(tmp.name) / "reference_mlp.so"
    flags = ["-O2", "-shared", "-fPIC", "-ffp-contract=off", "-fno-fast-math"]
    done = subprocess.run([*cmd, *flags, "-o", str(lib_path), str(HERE / "reference_mlp.c"),
                           "-lm"], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return None, f"{' '.join(cmd)} failed: {done.stderr.strip()[:300]}"
    lib = ctypes.CDLL(str(lib_path))
    d = ctypes.POINTER(ctypes.c_double)
    lib.ref_steps.restype = ctypes.c_double
    lib.ref_steps.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_int, ctypes.c_long, d, d, d,
                              d, ctypes.c_double, ctypes.c_double, ctypes.c_int,
                              ctypes.POINTER(ctypes.c_int)]
    lib.ref_best_lanes.restype = ctypes.c_int
    lib.ref_n_params.restype = ctypes.c_int
    _keep.append(lib)
    return lib, f"{found[1].splitlines()[0]} {' '.join(flags)}"


class Reference:
    """The hand-written step on the moons, with its own copy of the initial parameters."""

    def __init__(self, lib: ctypes.CDLL, activation: str, lanes: int = 0) -> None:
        import nn
        X, y = bn.moons()
        self.lib, self.lanes, self.tanh = lib, lanes, int(activation == "tanh")
        self.n = len(X)
        self.X = (ctypes.c_double * (2 * self.n))(*[v for x in X for v in x])
        self.Y = (ctypes.c_double * self.n)(*y)
        params = nn.MLP(2, [16, 16, 1], activation=activation, seed=0).parameters()
        assert len(params) == lib.ref_n_params()
        self.P = (ctypes.c_double * len(params))(*[p.data for p in params])
        self.PG = (ctypes.c_double * len(params))()
        self.neumaier = int(sys.version_info >= (3, 12))  # sum() of floats is compensated

    def steps(self, reps: int) -> float:
        """Run `reps` steps; the last loss. Raises if the lanes are not supported."""
        fe = ctypes.c_int()
        loss = self.lib.ref_steps(reps, self.lanes, self.tanh, self.n, self.X, self.Y, self.P,
                                  self.PG, bn.LR, bn.ALPHA, self.neumaier, ctypes.byref(fe))
        if fe.value < 0:
            raise ValueError(f"{self.lanes} lanes not supported on this machine")
        return loss


def _steps(ref: Reference, reps: int) -> Callable[[], float]:
    return lambda: ref.steps(reps)


def check_reference(lib: ctypes.CDLL, activation: str, lanes: int) -> dict[str, bool]:
    """Whether 3 reference steps give bench_native's loss and parameters bit for bit, for its
    C step and its Python-replay step."""
    import nn
    out = {}
    for backend in ("c", "python"):
        model = nn.MLP(2, [16, 16, 1], activation=activation, seed=0)
        step, _ = bn.ours_step(backend, model=model)
        ref = Reference(lib, activation, lanes)
        ok = True
        for _ in range(3):
            ok = ok and step() == ref.steps(1) and \
                [p.data for p in model.parameters()] == list(ref.P)
        out[backend] = ok
    return out


def numpy_rows_step() -> Callable[[], float]:
    """bench_native's C step with the rows as one float64 numpy array instead of lists (a
    2-D buffer C may read in place); raises if this version refuses such rows."""
    import numpy as np

    import nn
    from autograd_lite import Value, compile_grad
    X, y = bn.moons()
    model = nn.MLP(2, [16, 16, 1], activation="relu", seed=0)
    params = model.parameters()

    def hinge(x0: Value, x1: Value, t: Value) -> Value:
        return (model([x0, x1]) * -t + 1.0).relu()

    def l2() -> Value:
        reg = params[0] * params[0]
        for p in params[1:]:
            reg = reg + p * p
        return reg * bn.ALPHA

    c = compile_grad(hinge, [*X[0], y[0]], params=params, backend="c")
    c_reg = compile_grad(l2, [], params=params, backend="c")
    rows = np.array([[*x, t] for x, t in zip(X, y)], dtype=np.float64)
    scale = 1.0 / len(rows)

    def step() -> float:
        values, _, g = c.value_and_grad_batch(rows, input_grads=False)
        reg, gr = c_reg.value_and_grad([])
        for p, a, b in zip(params, g, gr):
            p.data -= bn.LR * (a * scale + b)
        return sum(values) * scale + reg

    return step


def scan_step(steps: int) -> tuple[Callable[[], None], bool]:
    """bench_native's C step, `steps` of them in one `Compiled.scan_steps` call (the public
    API `fit(compiled=True)` runs its epochs with): the hinge terms' gradients summed over the
    100 rows in row order, then bench_native's SGD, p - LR * (g * (1/100) + (a p + a p)) with a
    = ALPHA (the L2 term's gradient as the engine adds it), as a `compile_map` kernel. Returns
    (run, bit-equal): `bit-equal` says whether 3 steps give bench_native's C step's parameters
    bit for bit (checked on fresh models before timing)."""
    import nn
    from autograd_lite import Value, compile_grad, compile_map

    def make() -> tuple[Callable[[int], None], array]:
        X, y = bn.moons()
        model = nn.MLP(2, [16, 16, 1], activation="relu", seed=0)
        params = model.parameters()

        def hinge(x0: Value, x1: Value, t: Value) -> Value:
            return (model([x0, x1]) * -t + 1.0).relu()

        c = compile_grad(hinge, [*X[0], y[0]], params=params, backend="c")
        n = len(X)
        flat = array("d", [v for x, t in zip(X, y) for v in (*x, t)])
        rows = memoryview(flat).cast("B").cast("d", [n, 3])
        pdata = array("d", [p.data for p in params])
        k = compile_map(lambda p, g, lr, s, a: p - lr * (g * s + (a * p + a * p)), 5,
                        backend="c")
        orders = {}

        def run(m: int) -> None:
            order = orders.get(m)
            if order is None:
                order = orders[m] = array("q", list(range(n)) * m)
            r = c.scan_steps(rows, order, n, params=pdata, update=k,
                             args=["params", "grad", bn.LR, 1.0 / n, bn.ALPHA],
                             outputs=[pdata])
            if r.done != m:
                raise RuntimeError(f"scan_steps did {r.done} of {m} steps")
        return run, pdata

    run3, pdata3 = make()
    run3(3)
    model = nn.MLP(2, [16, 16, 1], activation="relu", seed=0)
    step, _ = bn.ours_step("c", model=model)
    for _ in range(3):
        step()
    same = [struct.pack("<d", p.data) for p in model.parameters()] == [
        struct.pack("<d", v) for v in pdata3]
    run, _ = make()
    return (lambda: run(steps)), same


# ---- PyTorch's two forms of the step ---------------------------------------------------------
def torch_weights(model: Any) -> list[tuple[list[list[float]], list[float]]]:
    """(weight rows, biases) per layer of an nn.MLP: torch.nn.Linear's layout."""
    return [([[w.data for w in n.w] for n in layer.neurons], [n.b.data for n in layer.neurons])
            for layer in model.layers]


def torch_sequential_step(activation: str = "relu") -> Callable[[], float]:
    """nn.Sequential + torch.optim.SGD, L2 in the loss (bench_native's form), our weights."""
    import torch

    import nn
    X, y = bn.moons()
    act = torch.nn.ReLU if activation == "relu" else torch.nn.Tanh
    model = torch.nn.Sequential(torch.nn.Linear(2, 16), act(), torch.nn.Linear(16, 16), act(),
                                torch.nn.Linear(16, 1)).double()
    with torch.no_grad():
        for lin, (w, b) in zip([model[0], model[2], model[4]],
                               torch_weights(nn.MLP(2, [16, 16, 1], activation, seed=0))):
            lin.weight.copy_(torch.tensor(w, dtype=torch.float64))
            lin.bias.copy_(torch.tensor(b, dtype=torch.float64))
    xt = torch.tensor(X, dtype=torch.float64)
    yt = torch.tensor(y, dtype=torch.float64).unsqueeze(1)
    opt = torch.optim.SGD(model.parameters(), lr=bn.LR)

    def step() -> float:
        loss = torch.relu(1 - yt * model(xt)).mean() + bn.ALPHA * sum(
            (p * p).sum() for p in model.parameters())
        opt.zero_grad()
        loss.backward()
        opt.step()
        return float(loss.detach())

    return step


def torch_lean_step(activation: str = "relu") -> Callable[[], float]:
    """Raw weight tensors (stored transposed for addmm), the update under no_grad."""
    import torch

    import nn
    X, y = bn.moons()
    act = torch.relu if activation == "relu" else torch.tanh
    ps = []
    for w, b in torch_weights(nn.MLP(2, [16, 16, 1], activation, seed=0)):
        ps.append(torch.tensor(w, dtype=torch.float64).t().contiguous().requires_grad_())
        ps.append(torch.tensor(b, dtype=torch.float64).requires_grad_())
    w1, b1, w2, b2, w3, b3 = ps
    xt = torch.tensor(X, dtype=torch.float64)
    yt = torch.tensor(y, dtype=torch.float64).unsqueeze(1)

    def step() -> float:
        h = act(torch.addmm(b1, xt, w1))
        h = act(torch.addmm(b2, h, w2))
        out = torch.addmm(b3, h, w3)
        loss = torch.relu(1 - yt * out).mean() + bn.ALPHA * sum((p * p).sum() for p in ps)
        loss.backward()
        with torch.no_grad():
            for p in ps:
                p -= bn.LR * p.grad
                p.grad = None
        return float(loss.detach())

    return step


# ---- timing ------------------------------------------------------------------------------------
class Engine:
    """A timed thing: `run()` does `inner` steps; samples are CPU seconds per step."""

    def __init__(self, name: str, run: Callable[[], Any], inner: int) -> None:
        self.name, self.run, self.inner = name, run, inner
        self.samples: list[float] = []

    def sample(self) -> None:
        gc.collect()
        t = clock()
        self.run()
        self.samples.append((clock() - t) / self.inner)

    @property
    def median(self) -> float | None:
        return statistics.median(self.samples) if self.samples else None


def rounds_inside_fit(engines: list[Engine], n_rounds: int, fit_epoch: Callable[
        [Callable[[int], float]], Any], lr: float) -> list[float]:
    """Run `fit_epoch(schedule)` (a `fit` of n_rounds + 1 epochs); at the start of each epoch
    after the first, one sample of every engine (order rotated each round). Returns the CPU
    seconds of each of the fit's epochs after the first (the engines' time excluded)."""
    marks: list[float] = []
    epoch_times: list[float] = []

    def schedule(epoch: int) -> float:
        now = clock()
        if epoch >= 1:
            epoch_times.append(now - marks[-1])
            k = (epoch - 1) % max(len(engines), 1)
            for e in engines[k:] + engines[:k]:
                e.sample()
        gc.collect()
        marks.append(clock())
        return lr

    fit_epoch(schedule)
    epoch_times.append(clock() - marks[-1])
    return epoch_times[1:]


def load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


# ---- 1. the MLP step --------------------------------------------------------------------------
def step_figures(lib: ctypes.CDLL | None, n_rounds: int, torch_ok: bool) -> dict[str, Any]:
    import nn
    out: dict[str, Any] = {"checks": {}, "notes": []}
    engines: list[Engine] = []
    if lib is not None:
        best = lib.ref_best_lanes()
        out["lanes"] = best
        for act in ("relu", "tanh"):
            out["checks"][act] = check_reference(lib, act, 0)
            ref = Reference(lib, act)
            ref.steps(1)
            engines.append(Engine(f"reference {act}", _steps(ref, 200), 200))
        if best > 4:  # the AVX2 code too, for comparison
            out["checks"]["relu, 4 lanes"] = check_reference(lib, "relu", 4)
            ref4 = Reference(lib, "relu", 4)
            engines.append(Engine("reference relu, 4 lanes", _steps(ref4, 200), 200))
    for backend in ("c",):
        from autograd_lite.compile import native
        if isinstance(native.find_compiler(), str):
            break
        step, secs = bn.ours_step(backend)
        out["compile_step"] = secs
        step()

        def ten(step: Callable[[], float] = step) -> None:
            for _ in range(10):
                step()
        engines.append(Engine("bench_native C step", ten, 10))
        try:
            np_step = numpy_rows_step()
            np_step()
        except Exception as e:  # noqa: BLE001  # an older version: lists only
            out["notes"].append(f"rows as a numpy array refused: {type(e).__name__}: {e}")
        else:
            def ten_np(step: Callable[[], float] = np_step) -> None:
                for _ in range(10):
                    step()
            engines.append(Engine("bench_native C step, rows as a numpy array", ten_np, 10))
        try:
            scan, same = scan_step(FIT_REPEAT)
            scan()
        except Exception as e:  # noqa: BLE001  # an older version: no scan_steps
            out["notes"].append(f"Compiled.scan_steps unavailable: {type(e).__name__}: {e}")
        else:
            out["scan_bit_equal"] = same
            engines.append(Engine(SCAN, scan, FIT_REPEAT))
    if torch_ok:
        import torch
        torch.set_num_threads(1)
        seq, lean = torch_sequential_step(), torch_lean_step()
        ours_model = nn.MLP(2, [16, 16, 1], activation="relu", seed=0)
        ours0, _ = bn.ours_step("python", model=ours_model)
        first = (ours0(), seq(), lean())
        out["torch_first_loss_rel"] = max(abs(a - first[0]) / abs(first[0]) for a in first[1:])
        for name, f in (("PyTorch nn.Sequential + SGD", seq), ("PyTorch lean tensors", lean)):
            def ten_t(f: Callable[[], float] = f) -> None:
                for _ in range(10):
                    f()
            engines.append(Engine(name, ten_t, 10))

    # fit(compiled=True) on the moons repeated FIT_REPEAT times, no shuffling: each epoch is
    # FIT_REPEAT steps on exactly bench_native's batch; the engines run between its epochs
    # (an epoch boundary is a user-visible point where fit writes the parameters back).
    X, y = bn.moons()
    n = len(X)
    X, y = X * FIT_REPEAT, y * FIT_REPEAT
    model = nn.MLP(2, [16, 16, 1], activation="relu", seed=0)
    opt = nn.SGD(model.parameters(), lr=bn.LR, weight_decay=2 * bn.ALPHA)
    caught: list[str] = []

    def fit_epochs(schedule: Callable[[int], float]) -> None:
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            nn.fit(model, X, y, loss=nn.losses.hinge, optimizer=opt, epochs=n_rounds + 1,
                   batch_size=n, shuffle=False, progress=False, compiled=True,
                   lr_schedule=schedule)
        caught.extend(str(x.message) for x in w)

    for eng in engines:  # warm up
        eng.sample()
        eng.samples.clear()
    fit_times = rounds_inside_fit(engines, n_rounds, fit_epochs, bn.LR)
    out["notes"] += [f"fit step warning: {m}" for m in caught]
    out["fit_step"] = statistics.median(fit_times) / FIT_REPEAT
    out["fit_step_n"] = len(fit_times)
    out["engines"] = {e.name: (e.median, len(e.samples)) for e in engines}
    return out


# ---- 2. digits ---------------------------------------------------------------------------------
def digits_data() -> tuple[list[list[float]], list[list[float]], list[int], list[int]]:
    from nn.data import load_digits, standardize, train_test_split
    X, y = load_digits()
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, seed=0)
    Xtr, Xte = standardize(Xtr, Xte)
    return Xtr, Xte, ytr, yte


class TorchDigits:
    """PyTorch's digits epoch: the same MLP (our initial weights), Adam, batches of 32."""

    def __init__(self, Xtr: list[list[float]], ytr: list[int]) -> None:
        import random

        import torch

        import nn
        self.torch = torch
        w = torch_weights(nn.MLP(64, [32, 10], activation="tanh", seed=0))
        self.model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.Tanh(),
                                         torch.nn.Linear(32, 10)).double()
        with torch.no_grad():
            for lin, (wt, b) in zip([self.model[0], self.model[2]], w):
                lin.weight.copy_(torch.tensor(wt, dtype=torch.float64))
                lin.bias.copy_(torch.tensor(b, dtype=torch.float64))
        self.opt = torch.optim.Adam(self.model.parameters(), lr=DIGITS_LR)
        self.xt = torch.tensor(Xtr, dtype=torch.float64)
        self.yt = torch.tensor(ytr)
        self.order = list(range(len(Xtr)))
        self.rng = random.Random(0)

    def epoch(self) -> None:
        torch = self.torch
        self.rng.shuffle(self.order)
        idx = torch.tensor(self.order)
        for b in range(0, len(self.order), BATCH):
            sel = idx[b:b + BATCH]
            loss = torch.nn.functional.cross_entropy(self.model(self.xt[sel]), self.yt[sel])
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()

    def accuracy(self, Xte: list[list[float]], yte: list[int]) -> float:
        with self.torch.no_grad():
            pred = self.model(self.torch.tensor(Xte, dtype=self.torch.float64)).argmax(1)
        return sum(int(p == t) for p, t in zip(pred.tolist(), yte)) / len(yte)


def digits_figures(n_rounds: int, torch_ok: bool) -> dict[str, Any]:
    import nn
    Xtr, Xte, ytr, yte = digits_data()
    out: dict[str, Any] = {"n_train": len(Xtr), "notes": []}
    engines: list[Engine] = []
    tdig = None
    if torch_ok:
        tdig = TorchDigits(Xtr, ytr)
        tdig.epoch()  # warm-up epoch, as our first (compiling) one
        engines.append(Engine("PyTorch 1 thread", tdig.epoch, 1))
    loop_model = nn.MLP(64, [32, 10], activation="tanh", seed=0)
    loop_opt = nn.Adam(loop_model.parameters(), lr=DIGITS_LR)
    caught: list[str] = []

    def one_fit() -> None:
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            nn.fit(loop_model, Xtr, ytr, loss=nn.losses.cross_entropy, optimizer=loop_opt,
                   epochs=1, batch_size=BATCH, progress=False, compiled=True)
        caught.extend(str(x.message) for x in w)

    loop = Engine("fit(epochs=1) in a loop", one_fit, 1)
    loop_wall: list[float] = []
    loop_children: list[float] = []

    def one_fit_timed() -> None:  # wall and child processes' CPU too (a C build runs in one)
        t, c0 = time.perf_counter(), os.times()
        one_fit()
        c1 = os.times()
        loop_wall.append(time.perf_counter() - t)
        loop_children.append(c1.children_user - c0.children_user + c1.children_system
                             - c0.children_system)
    loop.run = one_fit_timed
    loop.sample()  # the first call: traces, compiles (warm cache unless first ever), verifies
    out["loop_first"] = (loop.samples.pop(), loop_wall.pop(), loop_children.pop())
    engines.append(loop)

    model = nn.MLP(64, [32, 10], activation="tanh", seed=0)
    opt = nn.Adam(model.parameters(), lr=DIGITS_LR)

    def fit_epochs(schedule: Callable[[int], float]) -> None:
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            t = clock()
            h = nn.fit(model, Xtr, ytr, loss=nn.losses.cross_entropy, optimizer=opt,
                       epochs=n_rounds + 1, batch_size=BATCH, progress=False, compiled=True,
                       lr_schedule=schedule)
            out["fit_total_cpu"] = clock() - t
            out["fit_first_wall"] = h.epoch_time[0]
        caught.extend(str(x.message) for x in w)

    times = rounds_inside_fit(engines, n_rounds, fit_epochs, DIGITS_LR)
    out["fit_epoch"] = statistics.median(times)
    out["fit_epoch_n"] = len(times)
    out["acc_fit"] = nn.accuracy(yte, nn.predict(model, Xte))
    out["acc_loop"] = nn.accuracy(yte, nn.predict(loop_model, Xte))
    out["epochs_fit"] = n_rounds + 1
    out["epochs_loop"] = len(loop.samples) + 1
    out["loop_epoch_self"] = loop.median
    out["loop_epoch"] = statistics.median(
        a + b for a, b in zip(loop.samples, loop_children)) if loop.samples else None
    out["loop_children"] = statistics.median(loop_children) if loop_children else None
    out["loop_epoch_wall"] = statistics.median(loop_wall) if loop_wall else None
    if tdig is not None:
        out["torch_epoch"] = engines[0].median
        out["acc_torch"] = tdig.accuracy(Xte, yte)
        out["epochs_torch"] = len(engines[0].samples) + 1
    out["notes"] += sorted({f"digits fit warning: {m}" for m in caught})
    return out


def cold_compile_worker() -> None:
    """In a fresh process with an empty cache: wall seconds of the first batch of a
    fit(compiled=True) on the digits (trace + C build + load + verify + step)."""
    import nn
    from nn.compiled import CompiledStep
    Xtr, _, ytr, _ = digits_data()
    model = nn.MLP(64, [32, 10], activation="tanh", seed=0)
    step = CompiledStep(model, nn.losses.cross_entropy, targets=ytr)
    c0, p0 = os.times(), clock()
    t = time.perf_counter()
    nn.fit(model, Xtr[:BATCH], ytr[:BATCH], loss=nn.losses.cross_entropy,
           optimizer=nn.Adam(model.parameters(), lr=DIGITS_LR), epochs=1, batch_size=BATCH,
           progress=False, step=step)
    wall = time.perf_counter() - t
    c1, p1 = os.times(), clock()
    compiled = step.compiled
    print(json.dumps({
        "wall": wall, "cc_cpu": (c1.children_user - c0.children_user) +
        (c1.children_system - c0.children_system), "cpu": p1 - p0,
        "backend": getattr(compiled, "backend", None), "nodes": getattr(compiled, "n_nodes", 0),
        "fallback": step.fallback}))


def cold_compile() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="al-cold-cache-") as tmp:
        env = {**os.environ, "XDG_CACHE_HOME": tmp}
        done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker-cold"],
                              capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        return {"error": done.stderr.strip()[-500:]}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# ---- the report -------------------------------------------------------------------------------
def us(x: float | None) -> str:
    return "—" if x is None else f"{x * 1e6:,.1f} µs"


def ms(x: float | None) -> str:
    return "—" if x is None else f"{x * 1e3:,.1f} ms"


def ratio(a: float | None, b: float | None) -> str:
    return "—" if a is None or b is None or b == 0 else f"{a / b:.2f}x"


def yes(ok: bool | None) -> str:
    return "—" if ok is None else ("met" if ok else "NOT met")



def report_step(step: dict[str, Any], ref_how: str, say: Callable[[str], None]) -> list[str]:
    """Print the step's table; return its goals' rows."""
    eng = step["engines"]

    def med(name: str) -> float | None:
        return eng.get(name, (None, 0))[0]

    ref = med("reference relu")
    fit_step = step.get("fit_step")
    t_seq, t_lean = med("PyTorch nn.Sequential + SGD"), med("PyTorch lean tensors")
    best_torch = min((t for t in (t_seq, t_lean) if t is not None), default=None)
    say("### MLP(2, [16, 16, 1]) step, 100 moons, hinge + L2, SGD (bench_native's)")
    say("")
    say("| engine | per step | vs hand-written relu | rounds |")
    say("|---|---|---|---|")
    labels = {"reference relu": f"hand-written C, relu ({step.get('lanes', '?')} rows per "
              "SIMD block)", "reference tanh": "hand-written C, tanh",
              "reference relu, 4 lanes": "hand-written C, relu, AVX2 (4 rows per block)"}
    for name, (m, n) in eng.items():
        say(f"| {labels.get(name, name)} | {us(m)} | {ratio(m, ref)} | {n} |")
    say(f"| fit(compiled=True) inside one fit (epochs of {FIT_REPEAT} batches of the 100 "
        f"moons) | {us(fit_step)} | "
        f"{ratio(fit_step, ref)} | {step.get('fit_step_n', 0)} |")
    say("")
    checks = step["checks"]
    if checks:
        say("Hand-written reference bit-equal to autograd-lite (loss and all 337 parameters "
            "after each of 3 steps, against bench_native's C step / Python-replay step): " +
            "; ".join(f"{k}: {'yes' if v['c'] else 'NO'} / {'yes' if v['python'] else 'NO'}"
                      for k, v in checks.items()) +
            f". Built with {ref_how}. Parameter gradients are added over rows in row order, "
            "as the generated code does.")
    else:
        say(f"Hand-written reference not built: {ref_how}.")
    if "torch_first_loss_rel" in step:
        say(f"PyTorch's first-step loss vs ours: relative difference "
            f"{step['torch_first_loss_rel']:.1e} (same weights, same step).")
    say("")
    goals = []
    if checks:
        exact = all(v["c"] and v["python"] for v in checks.values())
        said = "yes" if exact else "NO: its figures are not the limit"
        goals.append(f"| 1. hand-written reference bit-equal to autograd-lite's step (loss, "
                     f"parameters) | yes | {said} | {yes(exact)} |")
    if "scan_bit_equal" in step:
        say(f"bench_native's step by `Compiled.scan_steps` bit-equal to bench_native's C step "
            f"(all 337 parameters after 3 steps): {'yes' if step['scan_bit_equal'] else 'NO'}.")
        say("")
    for label, x in (("bench_native's C step", med("bench_native C step")),
                     ("bench_native's C step, numpy rows",
                      med("bench_native C step, rows as a numpy array")),
                     (f"bench_native's C step, {FIT_REPEAT} per scan_steps call", med(SCAN)),
                     ("fit(compiled=True) step", fit_step)):
        if x is None:
            continue
        r = None if ref is None else x / ref
        goals.append(f"| 1. MLP step ({label}) vs hand-written SIMD limit | <= 2x | "
                     f"{'—' if r is None else f'{r:.2f}x'} ({us(x)} vs {us(ref)}) | "
                     f"{yes(None if r is None else r <= 2.0)} |")
        f = None if best_torch is None else best_torch / x
        goals.append(f"| 1. MLP step ({label}) vs faster PyTorch form | >= 4x faster | "
                     f"{'—' if f is None else f'{f:.2f}x'} ({us(best_torch)}) | "
                     f"{yes(None if f is None else f >= 4.0)} |")
    return goals


def report_digits(dig: dict[str, Any], cold: dict[str, Any], say: Callable[[str], None]
                  ) -> list[str]:
    """Print the digits table and the compile times; return their goals' rows."""
    say("### Digits MLP(64, [32, 10]) tanh, cross-entropy, Adam lr 0.01, batch 32 "
        f"({dig['n_train']:,} training images)")
    say("")
    say("| engine | epoch | vs PyTorch 1 thread | test accuracy | epochs |")
    say("|---|---|---|---|---|")
    t_dig = dig.get("torch_epoch")
    say(f"| fit(compiled=True), inside one fit (first epoch excluded) | {ms(dig['fit_epoch'])} "
        f"| {ratio(dig['fit_epoch'], t_dig)} | {dig['acc_fit']:.1%} | {dig['epochs_fit']} |")
    say(f"| fit(epochs=1, compiled=True) called in a loop (first call excluded; CPU of this "
        f"process + child processes) | {ms(dig['loop_epoch'])} ({ms(dig['loop_epoch_self'])}"
        f" + {ms(dig['loop_children'])}), {ms(dig['loop_epoch_wall'])} wall | "
        f"{ratio(dig['loop_epoch'], t_dig)} | {dig['acc_loop']:.1%} | {dig['epochs_loop']} |")
    if t_dig is not None:
        say(f"| PyTorch float64, 1 thread | {ms(t_dig)} | 1.00x | {dig['acc_torch']:.1%} | "
            f"{dig['epochs_torch']} |")
    say("")
    lf = dig["loop_first"]
    say(f"First fit(compiled=True) epoch (trace, warm-cache build, verify): "
        f"{dig['fit_first_wall']:.2f} s wall; first fit(epochs=1) call: {lf[1]:.2f} s wall "
        f"({lf[0]:.2f} s CPU + {lf[2]:.2f} s in child processes).")
    if "error" in cold:
        say(f"Cold compile failed: {cold['error']}")
    else:
        say(f"Cold compile of the digits graph (first batch of fit(compiled=True) with an empty "
            f"cache, fresh process: trace + build + verify): {cold['wall']:.2f} s wall, CPU "
            f"{cold['cpu']:.2f} s in the process and {cold['cc_cpu']:.2f} s in the compiler, "
            f"{cold['nodes']:,} nodes, backend {cold['backend']}"
            + (f", fallback: {cold['fallback']}" if cold.get("fallback") else "") + ".")
    say("")
    goals = []
    for label, x in (("inside one fit", dig["fit_epoch"]), ("fit(epochs=1) loop",
                                                           dig["loop_epoch"])):
        r = None if x is None or t_dig is None else x / t_dig
        goals.append(f"| 2. digits epoch ({label}) vs PyTorch 1 thread | <= 0.5x | "
                     f"{'—' if r is None else f'{r:.2f}x'} ({ms(x)} vs {ms(t_dig)}) | "
                     f"{yes(None if r is None else r <= 0.5)} |")
    acc = min(dig["acc_fit"], dig["acc_loop"])
    goals.append(f"| 2. digits test accuracy (both) | >= 95% | {dig['acc_fit']:.1%} / "
                 f"{dig['acc_loop']:.1%} | {yes(acc >= 0.95)} |")
    if "error" not in cold:
        goals.append(f"| 2. cold compile of the digits graph | < 3 s | {cold['wall']:.2f} s "
                     f"wall (CPU {cold['cpu'] + cold['cc_cpu']:.2f} s with the compiler's) | "
                     f"{yes(cold['wall'] < 3.0 and cold['backend'] == 'c')} |")
    return goals


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run)")
    ap.add_argument("--out", default=None, help="also write the report to this file")
    ap.add_argument("--part", choices=("all", "step", "digits"), default="all",
                    help="only the MLP step, or only the digits (default: both)")
    ap.add_argument("--revision", default=None,
                    help="what is measured, for the report (default: git describe)")
    ap.add_argument("--worker-cold", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker_cold:
        cold_compile_worker()
        return 0
    import importlib.util
    torch_ok = importlib.util.find_spec("torch") is not None
    if torch_ok:
        import torch
        torch.set_num_threads(1)  # every PyTorch figure here is 1-thread
    lines: list[str] = []

    def say(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    load_before = load()
    revision = args.revision or "not a git checkout"
    if args.revision is None and shutil.which("git"):
        done = subprocess.run(["git", "-C", str(HERE.parent), "describe", "--always", "--dirty"],
                              capture_output=True, text=True, check=False)
        revision = done.stdout.strip() or revision
    lib, ref_how = build_reference()
    step = step_figures(lib, 8 if args.quick else 40, torch_ok) if args.part != "digits" \
        else None
    dig = digits_figures(2 if args.quick else 8, torch_ok) if args.part != "step" else None
    cold = cold_compile() if args.part != "step" else None
    load_after = load()

    versions = f"autograd-lite {al.__version__} ({revision})"
    if torch_ok:
        import torch
        threads = torch.get_num_threads()
        versions += f", PyTorch {torch.__version__} float64 {threads} thread{'s' * (threads > 1)}"
    say("## Native replay against the arithmetic limit")
    say()
    say(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {machine()}; {versions}. "
        f"Load average before {load_before}, after {load_after}. CPU time of this process, "
        "medians of rounds in which the engines take turns. "
        "Command: `python benchmarks/bench_native_limits.py`.")
    say()
    goals: list[str] = []
    notes: list[str] = []
    if step is not None:
        goals += report_step(step, ref_how, say)
        notes += step["notes"]
    if dig is not None and cold is not None:
        goals += report_digits(dig, cold, say)
        notes += dig["notes"]
    for note in notes:
        say(f"Note: {note}")
    say()
    say("### Goals")
    say()
    say("| goal | target | measured | |")
    say("|---|---|---|---|")
    for g in goals:
        say(g)
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")
        print(f"\nwritten to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

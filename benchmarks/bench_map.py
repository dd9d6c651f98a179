"""compile_map's C loop in SIMD lanes against its scalar loop: nn's optimizer kernels, in one run.

    python benchmarks/bench_map.py            # full run (~1 minute)
    python benchmarks/bench_map.py --quick    # fewer rounds (a smoke run)
    python benchmarks/bench_map.py --no-digits

For each instruction set this machine and compiler offer ("none": the scalar loop, sse2, avx2,
avx512; $AUTOGRAD_LITE_SIMD chooses at build time), nn.flat's own kernels (`optim.adam_update`
without weight decay, as the digits fit's Adam; `optim.sgd_update` with momentum, after its
first step) are built cold (an empty cache folder: generation and the C compiler, wall and
the compiler's CPU), then timed on 2,410 parameters (the digits MLP(64, [32, 10])) and
100,000: the C call alone (`al_map` through ctypes on prepared buffers) and the public call
(`k(*inputs, out=[...])`, as nn.flat's step makes it), CPU time of this process, levels
interleaved round by round (the machine is shared), on the same buffers; medians of the
rounds. Every level's outputs are checked bit for bit against the scalar loop's before timing.
On this machine (AMD EPYC, AVX-512) the "sse2" level's legacy-encoded (non-VEX) packed code
runs ~2.4x slower than the same code VEX-encoded (measured outside Python too): no gain there.

Then the digits epoch (fit(compiled=True), Adam lr 0.01, batch 32, 1,347 images): one `fit`
whose epochs alternate between the scalar and the default level's kernels (swapped in
nn.flat's kernel table at each epoch's start), CPU time per epoch, medians of each.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import warnings
from array import array
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from autograd_lite import Mapped  # noqa: E402
from autograd_lite.compile import native  # noqa: E402

SIZES = (2410, 100_000)
#: CPU time of this process (the machine is shared: wall time counts other processes' turns,
#: more for longer samples)
clock = time.process_time
#: (name, nn.flat kernel kind, structure flags)
KERNELS = [("Adam", "adam", (False,)), ("SGD momentum", "sgd", (False, True, False, False))]


def levels() -> list[str]:
    """'none' and every vector instruction set this CPU runs (the compiler's are probed)."""
    cpu = native.SIMD_LEVELS.index(native.cpu_simd())
    return ["none", *(lv for lv in native.SIMD_LEVELS[1:] if native.SIMD_LEVELS.index(lv) <= cpu)]


def build(kind: str, flags: tuple[bool, ...], level: str) -> tuple[Mapped, float, float]:
    """nn.flat's kernel built cold at `level`: (kernel, wall seconds, compiler CPU seconds)."""
    from nn import flat

    old_env = {k: os.environ.get(k) for k in (native.SIMD_ENV, "XDG_CACHE_HOME")}
    saved = dict(flat._kernels)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ[native.SIMD_ENV] = level
        os.environ["XDG_CACHE_HOME"] = tmp
        native.forget_loaded()
        flat._kernels.clear()
        native.simd()  # the probe of the level (once per process) is not the kernel's build
        try:
            c0, t = os.times(), time.perf_counter()
            k = flat._kernel(kind, flags, "c")
            wall, c1 = time.perf_counter() - t, os.times()
        finally:
            flat._kernels.clear()
            flat._kernels.update(saved)
            for key, v in old_env.items():
                if v is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = v
    got = k.simd.split()[0] if k.simd else "none"
    if got != level:
        raise RuntimeError(f"asked for {level}, built {got}")
    return k, wall, c1.children_user - c0.children_user + c1.children_system - c0.children_system


def inputs(kind: str, n: int, seed: int = 0) -> list[Any]:
    """nn.flat's step's inputs for `n` parameters (arrays and scalars)."""
    rng = random.Random(seed)

    def col(scale: float = 1.0) -> array[float]:
        return array("d", [rng.gauss(0.0, scale) for _ in range(n)])

    if kind == "adam":
        v = array("d", map(abs, col(1e-3)))
        from nn.optim import adam_corrections
        step_size, bc2 = adam_corrections(0.01, 0.9, 0.999, 17)
        return [col(), col(0.1), col(1e-2), v, step_size, bc2, 0.999, 0.1, 0.001, 1e-8, 0.0]
    return [col(), col(0.1), col(0.1), 0.1, 0.9, 1.0, 0.0]


class Timed:
    """One kernel at one level on one size: the C call alone and the public call."""

    def __init__(self, k: Mapped, args: list[Any], n: int) -> None:
        self.k, self.n, self.args = k, n, args
        self.outs = [array("d", bytes(8 * n)) for _ in range(k.n_outputs)]
        self.scalars = array("d", [a for a in args if type(a) is float])
        at = self.scalars.buffer_info()[0]
        addrs = []
        for a in args:
            if type(a) is float:
                addrs.append(at)
                at += 8
            else:
                addrs.append(a.buffer_info()[0])
        self.A = k._in_t(*addrs)
        self.S = k._stride_t(*(0 if type(a) is float else 1 for a in args))
        self.O = k._out_t(*(o.buffer_info()[0] for o in self.outs))
        self.c_us: list[float] = []
        self.call_us: list[float] = []
        # the public call's in-place outputs (not inputs: every call sees the same numbers)
        self.inplace = [array("d", bytes(8 * n)) for _ in range(k.n_outputs)]

    def outputs(self) -> list[bytes]:
        rc = self.k._run(self.n, self.A, self.S, self.O)
        if rc != 0:
            raise RuntimeError(f"al_map returned {rc}")
        return [o.tobytes() for o in self.outs]

    def sample(self, reps: int) -> None:
        run, n, A, S, outs = self.k._run, self.n, self.A, self.S, self.O
        t = clock()
        for _ in range(reps):
            run(n, A, S, outs)
        self.c_us.append((clock() - t) / reps * 1e6)
        k, args, out = self.k, self.args, self.inplace
        t = clock()
        for _ in range(reps):
            k(*args, out=out)
        self.call_us.append((clock() - t) / reps * 1e6)


def kernel_figures(rounds: int, say: Callable[[str], None]) -> list[str]:
    lvls = levels()
    rows = ["| kernel | level | cold build wall / compiler CPU | n | C call | ratio | public "
            "call | ratio |", "|---|---|---|---|---|---|---|---|"]
    for name, kind, flags in KERNELS:
        built = {lv: build(kind, flags, lv) for lv in lvls}
        for n in SIZES:
            # One set of input buffers for every level: the same memory layout (the scalar
            # loop's speed varies ~2x with the buffers' placement: 4K aliasing of its loads
            # and stores), each level's outputs checked and timed in turn.
            args = inputs(kind, n)
            timed = {lv: Timed(built[lv][0], args, n) for lv in lvls}
            want = timed["none"].outputs()
            for lv in lvls[1:]:
                if timed[lv].outputs() != want:
                    raise RuntimeError(f"{name} at {lv}: outputs differ from the scalar loop's")
            reps = max(3, 300_000 // n)
            for r in range(rounds):
                order = lvls[r % len(lvls):] + lvls[:r % len(lvls)]
                for lv in order:
                    timed[lv].sample(reps)
            base = timed["none"]
            for lv in lvls:
                t = timed[lv]
                c, call = statistics.median(t.c_us), statistics.median(t.call_us)
                rows.append(
                    f"| {name} | {built[lv][0].simd or 'scalar'} | {built[lv][1]:.2f} s / "
                    f"{built[lv][2]:.2f} s | {n:,} | {c:.1f} us | "
                    f"{statistics.median(base.c_us) / c:.2f}x | {call:.1f} us | "
                    f"{statistics.median(base.call_us) / call:.2f}x |")
            say(f"  {name} n={n:,} done (bit-equal at {', '.join(lvls[1:]) or 'no level'})")
    return rows


def digits_figures(epochs: int, say: Callable[[str], None]) -> list[str]:
    """A digits fit whose epochs alternate the scalar and the default level's Adam kernel."""
    import nn
    from nn import flat
    from nn.data import load_digits, standardize, train_test_split

    default = native.simd()
    if default is None:
        return ["(no vector instruction set: no digits comparison)"]
    kinds = {"scalar": build("adam", (False,), "none")[0],
             default.name: build("adam", (False,), default.name)[0]}
    X, y = load_digits()
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, seed=0)
    Xtr, Xte = standardize(Xtr, Xte)
    model = nn.MLP(64, [32, 10], activation="tanh", seed=0)
    opt = nn.Adam(model.parameters(), lr=0.01)
    names = list(kinds)
    per: dict[str, list[float]] = {k: [] for k in names}
    marks: list[tuple[float, str]] = []

    def schedule(epoch: int) -> float:
        now = time.process_time()
        if marks and epoch >= 2:  # epoch 0 traces and compiles
            per[marks[-1][1]].append(now - marks[-1][0])
        which = names[epoch % 2]
        flat._kernels[("adam", (False,), "auto")] = kinds[which]
        marks.append((time.process_time(), which))
        return 0.01

    saved = dict(flat._kernels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nn.fit(model, Xtr, ytr, loss=nn.losses.cross_entropy, optimizer=opt,
                   epochs=epochs + 1, batch_size=32, progress=False, compiled=True,
                   lr_schedule=schedule)
        per[marks[-1][1]].append(time.process_time() - marks[-1][0])
    finally:
        flat._kernels.clear()
        flat._kernels.update(saved)
    acc = nn.accuracy(yte, nn.predict(model, Xte))
    a, b = (statistics.median(per[k]) * 1e3 for k in names)
    batches = -(-len(Xtr) // 32)
    say(f"  digits: {sum(map(len, per.values()))} epochs timed, accuracy {acc:.3f}")
    return ["| digits epoch, Adam kernel | CPU ms (median) | epochs |", "|---|---|---|",
            f"| scalar loop | {a:.2f} | {len(per[names[0]])} |",
            f"| {kinds[names[1]].simd} | {b:.2f} | {len(per[names[1]])} |",
            f"| difference | {a - b:.2f} ms ({(a - b) / a * 100:.1f}% of the epoch; "
            f"{batches} optimizer calls per epoch) | |"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run)")
    ap.add_argument("--no-digits", action="store_true", help="skip the digits epoch")
    args = ap.parse_args(argv)

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    if isinstance(native.find_compiler(), str):
        print("no working C compiler: nothing to measure")
        return 1
    out = [f"# bench_map ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load {load}, "
           f"CPU {native.cpu_simd()})", ""]
    out += kernel_figures(3 if args.quick else 11, say)
    if not args.no_digits:
        out += ["", *digits_figures(6 if args.quick else 20, say)]
    out += ["", f"load after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}"]
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

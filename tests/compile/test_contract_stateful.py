"""A stateful property test of compiled replay's contract (docs/compiled.md): a model is built,
then mutated the ways users do (parameter values, plain-float attributes, a layer replaced,
added or removed), called with `param_data`, from a second thread, and with a batch whose row
raises; after every step every compiled entry point is compared with the interpreter on both
backends: `Compiled.forward/value_and_grad/forward_batch/value_and_grad_batch` (rebuilt when
something baked in changed, as the contract says; a `check=True` one built before must then
agree or raise GraphChangedError), `nn.compiled.outputs`, `predict`/`evaluate(compiled=True)`
and a `fit` step (`CompiledStep`, kept across steps so its own guard is exercised).

Values drawn for attributes come from small sets: each distinct graph costs a C compile, and the
library cache then serves repeats (CI's thorough profile stays well under a minute).
"""

from __future__ import annotations

import math
import threading
import warnings
from array import array

import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import nn
import nn.compiled
from autograd_lite import Value, compile_grad, no_grad, sqrt
from autograd_lite.compile import GraphChangedError, native

from ..oracles import interpret

HAVE_CC = not isinstance(native.find_compiler(), str)
BACKENDS = ("python", "c") if HAVE_CC else ("python",)
ROWS = [[0.1, 0.2, 0.5], [0.5, -0.3, -1.0], [1.0, 2.0, 0.25], [-1.5, 0.25, 0.0]]
BAD = [-20.0, 0.5, 1.0]  # sqrt(x0 + 10) of a negative number: the interpreter's ValueError
PARAM_VALUES = st.floats(-3.0, 3.0, allow_nan=False) | st.sampled_from([0.0, -0.0, 1e-300])


def within_ulp(a: float, b: float) -> bool:
    if a != a or b != b:
        return a != a and b != b
    return a == b or abs(a - b) <= math.ulp(max(abs(a), abs(b)))


def same(got, want) -> bool:
    """Equal to the last ulp, through nested tuples and lists."""
    if isinstance(want, (list, tuple)):
        return isinstance(got, (list, tuple)) and len(got) == len(want) and all(
            same(g, w) for g, w in zip(got, want))
    return within_ulp(got, want)


def outcome(fn, *args, **kwargs):
    """fn's result, or ("raised", type, message without notes) when it raises."""
    try:
        return fn(*args, **kwargs)
    except (ArithmeticError, ValueError) as e:
        return ("raised", type(e), str(e))


def make_act():
    """An output activation reading an attribute of its own function object (`act.k`)."""
    def act(v):
        return v * act.k
    act.k = 1.0
    return act


class Scaled(nn.Module):
    """An MLP behind a standardisation (`mean`, `temperature`: plain floats or numpy scalars
    read by forward), a shift read from a class used as a namespace (`cfg.shift`), an output
    activation with a function attribute, an optional Value computed from a parameter before
    the trace (`_cached`), and a sqrt that raises for x0 < -10 (a row that fails)."""

    def __init__(self) -> None:
        self.mlp = nn.MLP(2, [3, 1], activation="tanh", seed=0)
        self.mean = 0.0
        self.temperature = 1.0
        self.cfg = type("Config", (), {"shift": 0.0})
        self.act = make_act()
        self._cached: Value | None = None

    def forward(self, x):
        z = [sqrt(x[0] + 10.0) - self.mean,
             x[1] * (1.0 / float(self.temperature)) + self.cfg.shift]
        out = self.act(self.mlp(z))
        return out if self._cached is None else out + self._cached


class CompiledModelMachine(RuleBasedStateMachine):
    """A model, its explicitly compiled per-sample loss on each backend, the implicit caches."""

    @initialize()
    def build(self) -> None:
        self.cls = type("ScaledHere", (Scaled,), {})  # its own class: rules replace methods
        self.model = self.cls()
        self.explicit: dict[str, object] = {}
        self.checked = None  # a check=True Compiled from before the last baked-in change
        self.stale = True
        self.steps = {b: nn.compiled.CompiledStep(self.model, nn.losses.mse, backend=b)
                      for b in BACKENDS}
        self.opt = nn.SGD(self.model.parameters(), lr=0.0)

    # ---- the function and its interpreter ------------------------------------------------------
    def sample_loss(self, x0: Value, x1: Value, t: Value) -> Value:
        return (self.model([x0, x1]) - t) ** 2

    def reference(self, xs, pd=None):
        """The interpreter's (value, gradients) at `xs` (with the parameters at `pd`)."""
        params = self.model.parameters()
        saved = [p.data for p in params]
        try:
            if pd is not None:
                for p, d in zip(params, pd):
                    p.data = d
            return interpret(self.sample_loss, xs, params)
        finally:
            for p, d in zip(params, saved):
                p.data = d

    def reference_batch(self, rows, pd=None):
        refs = [outcome(self.reference, r, pd) for r in rows]
        for r, ref in enumerate(refs):
            if ref[0] == "raised":
                return ref, r
        k = len(rows[0]) if rows else 0
        total = [0.0] * len(self.model.parameters())
        for ref in refs:
            total = [a + b for a, b in zip(total, ref[1][k:])]
        return ([ref[0] for ref in refs], [ref[1][:k] for ref in refs], total), None

    def refused(self) -> bool:
        """Whether the model holds a Value computed before the trace from one of its current
        parameters (after a layer is replaced, its old parameter is a constant: accepted)."""
        cached = self.model._cached
        return cached is not None and not set(cached.parents).isdisjoint(
            self.model.parameters())

    def compiled(self, backend: str):
        """The explicit Compiled on `backend`, traced again after a baked-in change; None
        (after checking that compile_grad refuses it) while the model holds a Value computed
        from a parameter before the trace."""
        if self.refused():
            with pytest.raises(ValueError, match="computed from a parameter before the trace"):
                compile_grad(self.sample_loss, ROWS[0], params=self.model.parameters(),
                             backend=backend)
            return None
        if self.stale:
            params = self.model.parameters()
            self.explicit = {b: compile_grad(self.sample_loss, ROWS[0], params=params,
                                             backend=b) for b in BACKENDS}
            self.checked = compile_grad(self.sample_loss, ROWS[0], params=params, check=True,
                                        backend="python")
            self.stale = False
        return self.explicit[backend]

    def baked_change(self) -> None:
        """Something replay bakes in changed: a check=True function from before agrees with
        the interpreter or says the graph changed; explicit ones are traced again."""
        if self.checked is not None:
            try:
                got = self.checked.value_and_grad(ROWS[1])
            except (GraphChangedError, ValueError):  # (ValueError: a pre-trace Value)
                pass
            else:
                assert same(got, self.reference(ROWS[1]))
        self.stale = True

    # ---- mutations ------------------------------------------------------------------------------
    @rule(i=st.integers(0, 100), v=PARAM_VALUES)
    def set_parameter(self, i: int, v: float) -> None:
        params = self.model.parameters()
        params[i % len(params)].data = v

    # (np.float32 only where forward converts it: with float inputs, the interpreter's
    # `float - np.float32` is float32 arithmetic under numpy's NEP 50, a Value's is not.)
    @rule(v=st.sampled_from([0.0, -0.0, 0.5, np.float64(0.5), np.float64(-0.0)]))
    def set_mean(self, v: float) -> None:
        self.model.mean = v
        self.baked_change()

    @rule(v=st.sampled_from([1.0, -2.0, np.float32(-2.0), np.float32(0.25)]))
    def set_temperature(self, v: float) -> None:
        self.model.temperature = v
        self.baked_change()

    @rule(v=st.sampled_from([0.0, 0.75]))
    def set_class_namespace(self, v: float) -> None:
        self.model.cfg.shift = v  # an attribute of a class the model holds
        self.baked_change()

    @rule(v=st.sampled_from([1.0, -0.5]))
    def set_function_attribute(self, v: float) -> None:
        self.model.act.k = v
        self.baked_change()

    @rule(on=st.booleans())
    def replace_call_on_the_class(self, on: bool) -> None:
        if on:
            self.cls.__call__ = lambda self, x: self.forward(x) * 2.0
        elif "__call__" in vars(self.cls):
            del self.cls.__call__
        self.baked_change()

    @rule(i=st.integers(0, 100), on=st.booleans())
    def cache_a_value_from_a_parameter(self, i: int, on: bool) -> None:
        params = self.model.parameters()
        self.model._cached = params[i % len(params)] * 0.5 if on else None
        self.baked_change()

    @rule(backend=st.sampled_from(BACKENDS))
    def thread_changes_the_model_while_it_is_traced(self, backend: str) -> None:
        X = [row[:2] for row in ROWS]
        old = self.model.mean
        states = []
        for v in (old, 0.25):
            self.model.mean = v
            with no_grad():
                states.append([self.model(x).data for x in X])
        stop = [False]

        def flip() -> None:
            while not stop[0]:
                self.model.mean = 0.25 if self.model.mean is old else old

        t = threading.Thread(target=flip)
        t.start()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                nn.compiled._forward_cache.pop(self.model, None)  # a trace during the flips
                got = nn.compiled.outputs(self.model, X, backend)
        finally:
            stop[0] = True
            t.join()
        self.model.mean = old
        if got is not None:  # (the interpreter otherwise) every row from one state
            assert all(any(within_ulp(g, s[r]) for s in states) for r, g in enumerate(got))
        # Three unconfirmed traces leave an interpreter entry until the model changes: dropped,
        # so that the invariants see the compiled path again.
        nn.compiled._forward_cache.pop(self.model, None)
        self.baked_change()

    @rule(seed=st.integers(0, 2))
    def replace_first_layer(self, seed: int) -> None:
        self.model.mlp.layers[0] = nn.Layer(2, 3, activation="tanh", seed=seed)
        self.baked_change()

    @precondition(lambda self: len(self.model.mlp.layers) == 2)
    @rule()
    def add_layer(self) -> None:
        self.model.mlp.layers.insert(1, nn.Layer(3, 3, activation="tanh", seed=5))
        self.baked_change()

    @precondition(lambda self: len(self.model.mlp.layers) == 3)
    @rule()
    def remove_layer(self) -> None:
        del self.model.mlp.layers[1]
        self.baked_change()

    # ---- calls that are steps themselves ---------------------------------------------------------
    @precondition(lambda self: not self.refused())
    @rule(backend=st.sampled_from(BACKENDS), pd=st.data())
    def param_data(self, backend: str, pd) -> None:
        m = len(self.model.parameters())
        values = pd.draw(st.lists(PARAM_VALUES, min_size=m, max_size=m))
        before = [p.data for p in self.model.parameters()]
        c = self.compiled(backend)
        want, _ = self.reference_batch(ROWS, values)
        got = c.value_and_grad_batch(ROWS, param_data=values)
        assert same(got, want)
        assert same(c.forward_batch(ROWS, param_data=values), want[0])
        assert [p.data for p in self.model.parameters()] == before

    @precondition(lambda self: not self.refused())
    @rule(backend=st.sampled_from(BACKENDS), scale=st.sampled_from([0.5, -2.0]))
    def second_thread(self, backend: str, scale: float) -> None:
        c = self.compiled(backend)
        mine = [p.data for p in self.model.parameters()]
        theirs = [d * scale for d in mine]
        want_mine, _ = self.reference_batch(ROWS, mine)
        want_theirs, _ = self.reference_batch(ROWS, theirs)
        results: dict[str, object] = {}

        def run(name: str, pd: list[float]) -> None:
            for _ in range(5):
                results[name] = c.value_and_grad_batch(ROWS, param_data=pd)
                if not same(results[name], want_mine if name == "mine" else want_theirs):
                    return

        t = threading.Thread(target=run, args=("theirs", theirs))
        t.start()
        run("mine", mine)
        t.join()
        assert same(results["mine"], want_mine)
        assert same(results["theirs"], want_theirs)
        assert [p.data for p in self.model.parameters()] == mine

    @precondition(lambda self: not self.refused())
    @rule(backend=st.sampled_from(BACKENDS), at=st.integers(0, 4),
          input_grads=st.booleans())
    def failing_row(self, backend: str, at: int, input_grads: bool) -> None:
        rows = list(ROWS)
        rows.insert(at, BAD)
        c = self.compiled(backend)
        want, r = self.reference_batch(rows)
        assert r == at
        acc = array("d", [0.5] * len(self.model.parameters()))
        for call in (lambda: c.value_and_grad_batch(rows, accumulate=acc,
                                                    input_grads=input_grads),
                     lambda: c.forward_batch(rows)):
            with pytest.raises(ValueError) as info:
                call()
            assert (type(info.value), str(info.value)) == want[1:]
            assert f"(in row {at} of the batch)" in info.value.__notes__
        assert acc.tolist() == [0.5] * len(acc)
        X = [row[:2] for row in rows]
        with no_grad():
            want_p = outcome(lambda: [self.model(x).data for x in X])
        with pytest.raises(ValueError) as info:
            nn.predict(self.model, X, compiled=True)
        assert str(info.value) == want_p[2]

    # ---- after every step: every entry point equals the interpreter ----------------------------
    @invariant()
    def explicit_entry_points_equal_the_interpreter(self) -> None:
        if not hasattr(self, "model"):
            return
        want_batch, _ = self.reference_batch(ROWS)
        for backend in BACKENDS:
            c = self.compiled(backend)
            if c is None:  # refused: a Value computed from a parameter before the trace
                continue
            for row, value in zip(ROWS[:2], want_batch[0]):
                assert same(c.value_and_grad(row), self.reference(row))
                assert within_ulp(c.forward(row), value)
            assert same(c.forward_batch(ROWS), want_batch[0])
            assert same(c.value_and_grad_batch(ROWS), want_batch)
            values, none, total = c.value_and_grad_batch(ROWS, input_grads=False)
            assert none is None and same((values, total), (want_batch[0], want_batch[2]))

    @invariant()
    def implicit_caches_equal_the_interpreter(self) -> None:
        if not hasattr(self, "model"):
            return
        X = [row[:2] for row in ROWS]
        y = [row[2] for row in ROWS]
        with no_grad():
            want = [self.model(x).data for x in X]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (the interpreter's warning, for a pre-trace Value)
            for backend in BACKENDS:
                got = nn.compiled.outputs(self.model, X, backend)
                assert got is None and self.refused() or same(got, want)
            assert nn.evaluate(self.model, X, y, compiled=True) == nn.evaluate(self.model, X, y)
            assert nn.predict(self.model, X, compiled=True) == nn.predict(self.model, X)

    @invariant()
    def a_fit_step_equals_the_interpreters(self) -> None:
        if not hasattr(self, "model"):
            return
        X = [row[:2] for row in ROWS]
        y = [row[2] for row in ROWS]
        params = self.model.parameters()
        opt = nn.SGD(params, lr=0.0)  # the step's gradients, the parameters left as they are
        want_loss, want_outs = nn.train_batch(self.model, X, y, nn.losses.mse, opt)
        want_grads = [p.grad for p in params]
        for step in self.steps.values():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # (fit's warning when it gives up)
                loss, outs = step(self.model, X, y, nn.losses.mse, opt)
            assert math.isclose(loss, want_loss, rel_tol=1e-12, abs_tol=1e-300)
            assert all(math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-300)
                       for a, b in zip(outs, want_outs))
            assert all(math.isclose(p.grad, g, rel_tol=1e-12, abs_tol=1e-15)
                       for p, g in zip(params, want_grads))


# A sixth of the profile's examples: 6 runs of up to 10 steps locally, about 40 in CI.
CompiledModelMachine.TestCase.settings = settings(
    settings.default, max_examples=max(3, settings.default.max_examples // 6),
    stateful_step_count=10)
TestCompiledModel = CompiledModelMachine.TestCase

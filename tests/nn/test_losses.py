"""Losses against torch.nn.functional in float64: values and gradients on hypothesis inputs,
stability at extreme logits, and clear errors for bad shapes and labels."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from autograd_lite import Value
from nn import losses

torch = pytest.importorskip("torch")
F = torch.nn.functional
f64 = torch.float64


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def check(ours: Value, leaves: list[Value], ref, ref_leaf) -> None:
    """Compare the value and the gradient w.r.t. every prediction with torch's."""
    ours.backward()
    ref.backward()
    assert close(ours.data, ref.item()), (ours.data, ref.item())
    want = ref_leaf.grad.flatten().tolist()
    got = [v.grad for v in leaves]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert close(g, w), (got, want)


def batch(lo: float, hi: float, n=(1, 6)):
    return st.lists(st.floats(lo, hi), min_size=n[0], max_size=n[1])


@given(pred=batch(-5, 5), data=st.data(), reduction=st.sampled_from(["mean", "sum"]))
def test_mse_matches_torch(pred, data, reduction) -> None:
    target = data.draw(st.lists(st.floats(-5, 5), min_size=len(pred), max_size=len(pred)))
    vs = [Value(p) for p in pred]
    t = torch.tensor(pred, dtype=f64, requires_grad=True)
    check(losses.mse(vs, target, reduction=reduction), vs,
          F.mse_loss(t, torch.tensor(target, dtype=f64), reduction=reduction), t)


@given(rows=st.integers(1, 4), cols=st.integers(1, 3), data=st.data())
def test_mse_on_a_batch_of_vectors(rows, cols, data) -> None:
    pred = [data.draw(batch(-3, 3, (cols, cols))) for _ in range(rows)]
    target = [data.draw(batch(-3, 3, (cols, cols))) for _ in range(rows)]
    vs = [[Value(p) for p in r] for r in pred]
    t = torch.tensor(pred, dtype=f64, requires_grad=True)
    check(losses.mse(vs, target), [v for r in vs for v in r],
          F.mse_loss(t, torch.tensor(target, dtype=f64)), t)


@given(prob=batch(0.001, 0.999), data=st.data())
def test_bce_matches_torch(prob, data) -> None:
    target = data.draw(st.lists(st.sampled_from([0.0, 1.0, 0.25, 0.5]) | st.floats(0, 1),
                                min_size=len(prob), max_size=len(prob)))
    vs = [Value(p) for p in prob]
    t = torch.tensor(prob, dtype=f64, requires_grad=True)
    check(losses.binary_cross_entropy(vs, target), vs,
          F.binary_cross_entropy(t, torch.tensor(target, dtype=f64)), t)


@given(logit=batch(-40, 40), data=st.data())
def test_bce_with_logits_matches_torch(logit, data) -> None:
    target = data.draw(st.lists(st.sampled_from([0, 1]) | st.floats(0, 1),
                                min_size=len(logit), max_size=len(logit)))
    vs = [Value(z) for z in logit]
    t = torch.tensor(logit, dtype=f64, requires_grad=True)
    check(losses.binary_cross_entropy_with_logits(vs, target), vs,
          F.binary_cross_entropy_with_logits(t, torch.tensor(target, dtype=f64)), t)


def test_bce_with_logits_is_stable_at_huge_logits() -> None:
    vs = [Value(1000.0), Value(-1000.0), Value(800.0)]
    loss = losses.binary_cross_entropy_with_logits(vs, [0, 1, 1], reduction="sum")
    assert close(loss.data, 2000.0)
    loss.backward()
    assert [v.grad for v in vs] == [1.0, -1.0, 0.0]


@given(score=batch(-3, 3), data=st.data())
def test_hinge_matches_torch_formula(score, data) -> None:
    target = data.draw(st.lists(st.sampled_from([-1, 1]), min_size=len(score),
                                max_size=len(score)))
    assume(all(abs(1 - y * s) > 1e-9 for s, y in zip(score, target)))  # off the kink
    vs = [Value(s) for s in score]
    t = torch.tensor(score, dtype=f64, requires_grad=True)
    ref = torch.clamp(1 - torch.tensor(target, dtype=f64) * t, min=0).mean()
    check(losses.hinge(vs, target), vs, ref, t)


def logit_batches(lo: float = -10, hi: float = 10):
    @st.composite
    def draw(d):
        n = d(st.integers(1, 4))
        c = d(st.integers(2, 5))
        z = [d(st.lists(st.floats(lo, hi), min_size=c, max_size=c)) for _ in range(n)]
        y = [d(st.integers(0, c - 1)) for _ in range(n)]
        return z, y
    return draw()


@given(zy=logit_batches(-60, 60))
def test_cross_entropy_matches_torch(zy) -> None:
    z, y = zy
    vs = [[Value(v) for v in row] for row in z]
    t = torch.tensor(z, dtype=f64, requires_grad=True)
    check(losses.cross_entropy(vs, y), [v for r in vs for v in r],
          F.cross_entropy(t, torch.tensor(y)), t)


@given(zy=logit_batches())
def test_cross_entropy_single_sample_and_sum(zy) -> None:
    z, y = zy
    vs = [Value(v) for v in z[0]]
    t = torch.tensor(z[0], dtype=f64, requires_grad=True)
    check(losses.cross_entropy(vs, y[0], reduction="sum"), vs,
          F.cross_entropy(t.unsqueeze(0), torch.tensor(y[:1]), reduction="sum"), t)


def test_cross_entropy_is_stable_at_huge_logits() -> None:
    vs = [Value(1000.0), Value(-1000.0), Value(999.0)]
    loss = losses.cross_entropy(vs, 2)
    want = F.cross_entropy(torch.tensor([[1000.0, -1000.0, 999.0]], dtype=f64),
                           torch.tensor([2])).item()
    assert math.isfinite(loss.data) and close(loss.data, want)


@given(zy=logit_batches())
def test_multi_margin_matches_torch(zy) -> None:
    z, y = zy
    for row, label in zip(z, y):  # stay off the kinks of max(0, .)
        assume(all(abs(1 - row[label] + v) > 1e-9 for j, v in enumerate(row) if j != label))
    vs = [[Value(v) for v in row] for row in z]
    t = torch.tensor(z, dtype=f64, requires_grad=True)
    check(losses.multi_margin(vs, y), [v for r in vs for v in r],
          F.multi_margin_loss(t, torch.tensor(y)), t)


@given(z=batch(-80, 80, (1, 6)), data=st.data())
def test_softmax_and_log_softmax_match_torch(z, data) -> None:
    k = data.draw(st.integers(0, len(z) - 1))
    for ours_fn, ref_fn in ((losses.softmax, torch.softmax), (losses.log_softmax,
                                                              torch.log_softmax)):
        vs = [Value(v) for v in z]
        t = torch.tensor(z, dtype=f64, requires_grad=True)
        out = ours_fn(vs)
        ref = ref_fn(t, dim=0)
        for o, r in zip(out, ref.tolist()):
            assert close(o.data, r)
        check(out[k], vs, ref[k], t)
    assert close(sum(p.data for p in losses.softmax(z)), 1.0)


# ---- errors ------------------------------------------------------------------------------------

@pytest.mark.parametrize("call, exc, match", [
    (lambda: losses.mse([Value(1.0), Value(2.0)], [1.0]), ValueError, "2 predictions.*1 targets"),
    (lambda: losses.mse([[Value(1.0)]], [[1.0, 2.0]]), ValueError, r"predictions\[0\]"),
    (lambda: losses.mse([Value(1.0)], 1.0), ValueError, "shape"),
    (lambda: losses.mse([Value(1.0)], ["a"]), TypeError, "target"),
    (lambda: losses.mse([], []), ValueError, "empty"),
    (lambda: losses.mse(Value(1.0), 1.0, reduction="max"), ValueError, "reduction"),
    (lambda: losses.cross_entropy([Value(1.0), Value(2.0)], 2), ValueError, "out of range"),
    (lambda: losses.cross_entropy([Value(1.0), Value(2.0)], -1), ValueError, "out of range"),
    (lambda: losses.cross_entropy([[Value(1.0), Value(2.0)]], [0, 1]), ValueError,
     "1 logit vectors but 2 labels"),
    (lambda: losses.cross_entropy([[Value(1.0), Value(2.0)]], [1.0]), TypeError, "int"),
    (lambda: losses.cross_entropy([[Value(1.0), Value(2.0)]], [True]), TypeError, "int"),
    (lambda: losses.cross_entropy([], []), ValueError, "empty"),
    (lambda: losses.multi_margin([Value(1.0), Value(2.0)], 5), ValueError, "out of range"),
    (lambda: losses.binary_cross_entropy([Value(1.0)], [1]), ValueError, "with_logits"),
    (lambda: losses.binary_cross_entropy([Value(0.5)], [2]), ValueError, r"\[0, 1\]"),
    (lambda: losses.binary_cross_entropy_with_logits([Value(0.5)], [-1]), ValueError, "0, 1"),
    (lambda: losses.hinge([Value(0.5)], [0]), ValueError, "-1 or \\+1"),
    (lambda: losses.softmax([]), ValueError, "empty"),
])
def test_bad_inputs_raise_clearly(call, exc, match) -> None:
    with pytest.raises(exc, match=match):
        call()

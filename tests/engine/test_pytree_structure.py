"""Pytrees in transforms follow JAX: dicts flatten by sorted key, so a tangent or cotangent dict
is matched to its primal or output by key, whatever its insertion order; a tangent or
cotangent of another structure (other keys, a list for a dict, another length or array shape)
is refused with an error naming it; None is an empty subtree."""

from __future__ import annotations

import collections
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from autograd_lite import hvp
from autograd_lite.engine import func
from autograd_lite.engine.transforms import TreeMismatchError

KEYS = st.lists(st.text("abcdefgh", min_size=1, max_size=3), min_size=1, max_size=5, unique=True)
FLOATS = st.floats(-3.0, 3.0, allow_nan=False)


def _shuffled(d: dict[str, float], order: list[int]) -> dict[str, float]:
    keys = list(d)
    return {keys[i]: d[keys[i]] for i in order}


@given(KEYS.flatmap(lambda ks: st.tuples(
    st.just(ks), st.lists(FLOATS, min_size=len(ks), max_size=len(ks)),
    st.lists(FLOATS, min_size=len(ks), max_size=len(ks)), st.permutations(range(len(ks))))))
def test_jvp_matches_dict_tangents_by_key_not_by_order(case: tuple) -> None:
    keys, xs, ts, order = case
    coef = {k: float(i + 1) for i, k in enumerate(keys)}   # f = sum c_k p_k^2 p_first
    first = keys[0]
    primal = dict(zip(keys, xs))
    tangent = _shuffled(dict(zip(keys, ts)), order)

    def f(p: dict) -> object:
        return sum((coef[k] * p[k] * p[k] for k in keys), 0.0) * p[first]

    s = sum(coef[k] * primal[k] ** 2 for k in keys)
    want = sum(2 * coef[k] * primal[k] * tangent[k] for k in keys) * primal[first] \
        + s * tangent[first]
    value, got = func.jvp(f, (primal,), (tangent,))
    assert value == pytest.approx(s * primal[first], rel=1e-12, abs=1e-12)
    assert got == pytest.approx(want, rel=1e-12, abs=1e-9)
    # hvp goes through jvp of grad: the same key matching
    h = func.hvp(f, (primal,), (tangent,))
    assert set(h) == set(keys)


@given(KEYS.flatmap(lambda ks: st.tuples(
    st.just(ks), st.lists(FLOATS, min_size=len(ks), max_size=len(ks)),
    st.permutations(range(len(ks))))), FLOATS)
def test_vjp_matches_dict_cotangents_by_key_not_by_order(case: tuple, x: float) -> None:
    keys, cs, order = case
    scale = {k: float(i + 2) for i, k in enumerate(keys)}
    _, vjp_fn = func.vjp(lambda v: {k: scale[k] * v * v for k in keys}, x)
    cot = _shuffled(dict(zip(keys, cs)), order)
    (got,) = vjp_fn(cot)
    assert got == pytest.approx(sum(cot[k] * 2 * scale[k] * x for k in keys), rel=1e-12,
                                abs=1e-9)


def test_the_reviewers_reordered_dicts_give_jax_answers() -> None:
    p = {"a": 2.0, "b": 3.0}
    f = lambda q: q["a"] * q["a"] * q["b"]  # noqa: E731
    assert func.jvp(f, (p,), ({"b": 0.0, "a": 1.0},)) == (12.0, 12.0)   # JAX
    assert func.jvp(f, (p,), ({"b": 1.0, "a": 0.0},)) == (12.0, 4.0)
    _, fn = func.vjp(lambda x: {"u": x * x, "v": 10.0 * x}, 3.0)
    assert fn({"v": 1.0, "u": 0.0}) == (10.0,)
    assert func.hvp(f, (p,), ({"b": 1.0, "a": 0.0},)) == {"a": 4.0, "b": 0.0}
    assert hvp(f, [p], [{"b": 1.0, "a": 0.0}]) == [4.0, 0.0]   # the original spelling too
    assert hvp(f, [p], [{"b": 1.0, "a": 0.0}], mode="fwd-rev") == [4.0, 0.0]


def test_a_tangent_of_another_structure_is_refused_naming_it() -> None:
    p = {"a": 2.0, "b": 3.0}
    f = lambda q: q["a"] * q["b"]  # noqa: E731
    with pytest.raises(ValueError, match=r"jvp: tangents\[0\].*keys \['a', 'b'\].*\['p', 'q'\]"):
        func.jvp(f, (p,), ({"p": 1.0, "q": 0.0},))
    with pytest.raises(TypeError, match=r"tangents\[0\].*dict.*got list"):
        func.jvp(f, (p,), ([1.0, 0.0],))
    with pytest.raises(TypeError, match="lists and tuples apart"):
        func.jvp(lambda q: q[0], ([1.0, 2.0],), ((1.0, 0.0),))
    with pytest.raises(ValueError, match="length 3"):
        func.jvp(lambda q: q[0], ([1.0, 2.0],), ([1.0, 0.0, 0.0],))
    a = np.arange(6.0).reshape(2, 3)
    with pytest.raises(ValueError, match=r"shape \(2, 3\), got shape \(3, 2\)"):
        func.jvp(lambda x: np.sum(x * x), (a,), (np.ones((3, 2)),))
    with pytest.raises(TypeError, match="expected a number"):
        func.jvp(lambda x: x, (1.0,), (None,))
    _, fn = func.vjp(lambda x: x * 2.0, a)
    with pytest.raises(ValueError, match=r"vjp_fn: cotangent.*\(2, 3\).*\(6,\)"):
        fn(np.arange(6.0))
    with pytest.raises(TypeError, match="vjp_fn: cotangent"):
        fn([[0.0] * 3, [1.0] * 3])
    _, fn = func.vjp(lambda x: {"u": x, "v": x}, 1.0)
    with pytest.raises(ValueError, match=r"\['u', 'v'\]"):
        fn({"u": 1.0})
    assert issubclass(TreeMismatchError, TypeError) and issubclass(TreeMismatchError, ValueError)


def test_a_zero_d_array_tangent_stands_for_a_number() -> None:
    assert func.jvp(lambda x: x * x, (3.0,), (np.array(1.0),)) == (9.0, 6.0)


def test_none_is_an_empty_subtree_as_in_jax() -> None:
    assert func.grad(lambda p: p["w"] * 2.0)({"w": 1.0, "b": None}) == {"w": 2.0, "b": None}
    assert func.jvp(lambda p: p[0] * p[0], ([3.0, None],), ([1.0, None],)) == (9.0, 6.0)
    with pytest.raises(TypeError, match="expected None"):
        func.jvp(lambda p: p[0], ([3.0, None],), ([1.0, 0.0],))


def test_dict_kinds_come_back_as_given() -> None:
    od = collections.OrderedDict(b=2.0, w=3.0)
    g = func.grad(lambda p: p["w"] * p["b"])(od)
    assert type(g) is collections.OrderedDict and list(g) == ["b", "w"] and g == {"b": 3.0,
                                                                                  "w": 2.0}
    dd = collections.defaultdict(float, b=2.0, w=3.0)
    g = func.grad(lambda p: p["w"] * p["b"])(dd)
    assert type(g) is collections.defaultdict and g.default_factory is float
    assert dict(g) == {"b": 3.0, "w": 2.0}
    # keys that do not sort are matched by key as well
    mixed = {1: 2.0, "a": 3.0}
    assert func.jvp(lambda p: p[1] * p["a"], (mixed,), ({"a": 1.0, 1: 0.0},)) == (6.0, 2.0)


def test_repeated_argnums_are_refused() -> None:
    with pytest.raises(ValueError, match="twice"):
        func.grad(lambda a, b: a * a * b, argnums=(0, 0))(2.0, 3.0)
    with pytest.raises(ValueError, match="twice"):
        func.jacfwd(lambda a, b: a * b, argnums=(1, -1))(2.0, 3.0)
    assert func.grad(lambda a, b: math.e * a * b, argnums=(1, 0))(2.0, 3.0) == (
        math.e * 2.0, math.e * 3.0)

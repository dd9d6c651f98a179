"""Hostile state files and state dicts: every file that is not
a state file of this model raises ValueError naming the file, never a bare RecursionError or
UnicodeDecodeError, and the model is unchanged; `load_state_dict` takes any real number, as
`Value` does."""

from __future__ import annotations

import json
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from autograd_lite import Value
from nn import MLP
from nn.module import BASE_BYTES, PER_PARAMETER_BYTES


def good_text() -> str:
    doc = {"format": "autograd-lite.nn.state", "version": 1, "model": "MLP",
           "parameters": MLP(2, [3, 1], seed=6).state_dict()}
    return json.dumps(doc, indent=1)


def deep(n: int) -> str:
    return '{"format": "autograd-lite.nn.state", "version": 1, "parameters": ' + \
        "[" * n + "]" * n + "}"


BAD_BYTES = {
    "deeply nested array": lambda: deep(200_000).encode(),
    "deeply nested objects": lambda: ('{"a": ' * 200_000 + "1" + "}" * 200_000).encode(),
    "nested top-level arrays": lambda: ("[" * 100_000).encode(),
    "UTF-16 with BOM": lambda: good_text().encode("utf-16"),
    "UTF-16-LE, no BOM": lambda: good_text().encode("utf-16-le"),
    "UTF-16-BE, no BOM": lambda: good_text().encode("utf-16-be"),
    "UTF-32": lambda: good_text().encode("utf-32"),
    "binary": lambda: bytes(range(256)) * 4,
    "PNG header": lambda: b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR",
    "latin-1 text": lambda: good_text().replace('"MLP"', '"MLP \u00e9t\u00e9"').encode("latin-1"),
    "duplicate parameter": lambda: good_text().replace(
        '"layers.0.neurons.0.b": ', '"layers.0.neurons.0.b": 0.25,\n "layers.0.neurons.0.b": ',
        1).encode(),
    "duplicate format": lambda: good_text().replace(
        '"format": ', '"format": "other", "format": ', 1).encode(),
    "huge integer literal": lambda: good_text().replace(
        '"layers.0.neurons.0.b": 0.0', '"layers.0.neurons.0.b": ' + "9" * 5000).encode(),
}


@pytest.mark.parametrize("case", sorted(BAD_BYTES))
def test_hostile_file_is_a_value_error_naming_the_file(tmp_path, case) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(BAD_BYTES[case]())
    model = MLP(2, [3, 1], seed=5)
    before = model.state_dict()
    with pytest.raises(ValueError) as info:
        model.load(path)
    assert str(path) in str(info.value), info.value
    assert model.state_dict() == before


def test_messages_say_what_is_wrong(tmp_path) -> None:
    path = tmp_path / "s.json"
    model = MLP(2, [3, 1], seed=5)
    for data, match in ((BAD_BYTES["UTF-16 with BOM"](), "UTF-16"),
                        (BAD_BYTES["binary"](), "NUL bytes"),
                        (BAD_BYTES["latin-1 text"](), "not UTF-8"),
                        (BAD_BYTES["deeply nested array"](), "nested too deeply"),
                        (BAD_BYTES["duplicate parameter"](), "duplicate name "
                                                             "'layers.0.neurons.0.b'")):
        path.write_bytes(data)
        with pytest.raises(ValueError, match=match):
            model.load(path)


def test_oversized_file_is_refused_before_parsing(tmp_path) -> None:
    model = MLP(2, [3, 1], seed=5)
    limit = BASE_BYTES + PER_PARAMETER_BYTES * len(model.parameters())
    path = tmp_path / "big.json"
    text = good_text()
    path.write_text(text + " " * (limit + 1 - len(text)))  # valid JSON, just too large
    before = model.state_dict()
    with pytest.raises(ValueError, match="larger than") as info:
        model.load(path)
    assert str(path) in str(info.value) and model.state_dict() == before
    path.write_text(text + " " * (limit - len(text)))  # exactly at the limit: accepted
    assert model.load(path).state_dict() == MLP(2, [3, 1], seed=6).state_dict()


def test_utf8_byte_order_mark_is_accepted(tmp_path) -> None:
    path = tmp_path / "bom.json"
    path.write_bytes(good_text().encode("utf-8-sig"))
    assert MLP(2, [3, 1], seed=5).load(path).state_dict() == MLP(2, [3, 1], seed=6).state_dict()


def test_save_load_round_trip_still_exact(tmp_path) -> None:
    a, b = MLP(3, [4, 2], seed=1), MLP(3, [4, 2], seed=2)
    a.save(tmp_path / "a.json")
    assert b.load(tmp_path / "a.json").state_dict() == a.state_dict()


# ---- load_state_dict: any real number, as Value() takes it ---------------------------------

REALS = [3, np.float32(0.1), np.float64(-2.5), np.int64(7), np.int8(-3), Fraction(1, 3),
         np.float16(1.5), Value(0.75), 10**20, -0.0]


@pytest.mark.parametrize("x", REALS, ids=lambda x: type(x).__name__)
def test_load_state_dict_accepts_any_real_number(x) -> None:
    model = MLP(2, [1], seed=0)
    names = [n for n, _ in model.named_parameters()]
    model.load_state_dict({n: x for n in names})
    want = x.data if isinstance(x, Value) else Value(x).data
    assert all(p.data == want and type(p.data) is float for p in model.parameters())


@given(x=st.one_of(st.integers(-10**300, 10**300), st.floats(allow_nan=False,
                                                             allow_infinity=False),
                   st.fractions(max_denominator=10**6)))
def test_load_state_dict_takes_what_value_takes(x) -> None:
    model = MLP(1, [1], seed=0)
    model.load_state_dict({"layers.0.neurons.0.w.0": x, "layers.0.neurons.0.b": 0})
    assert model.parameters()[0].data == Value(x).data


@pytest.mark.parametrize("x, exc, match", [
    (True, TypeError, "real number, got bool"),
    (np.bool_(False), TypeError, "real number"),
    ("0.5", TypeError, "real number, got str"),
    (None, TypeError, "real number"),
    (1 + 2j, TypeError, "real number, got complex"),
    (math.nan, ValueError, "not finite"),
    (np.float32("nan"), ValueError, "not finite"),
    (math.inf, ValueError, "not finite"),
    (-np.inf, ValueError, "not finite"),
    (Fraction(10**400, 3), ValueError, "not finite"),
    (np.array([1.0, 2.0]), TypeError, "real number, got ndarray"),
])
def test_load_state_dict_rejects_non_reals_clearly(x, exc, match) -> None:
    model = MLP(2, [1], seed=0)
    before = model.state_dict()
    state = dict.fromkeys(before, 0.5)
    state["layers.0.neurons.0.w.1"] = x
    with pytest.raises(exc, match=match) as info:
        model.load_state_dict(state)
    assert "layers.0.neurons.0.w.1" in str(info.value)
    assert model.state_dict() == before

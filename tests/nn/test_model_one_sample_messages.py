"""A model takes one sample: a batch passed to it (a PyTorch habit) or X of the wrong width
says what happened and what to call, instead of a bare count."""

from __future__ import annotations

import re

import numpy as np
import pytest

import nn

BATCH = "a model takes one sample (a list of 3 numbers); for a batch use nn.predict(model, X)"


@pytest.mark.parametrize(("x", "what"), [
    (np.ones((5, 3)), "5 rows of 3"),
    ([[1, 2, 3]], "1 row of 3"),
    ([[1.0, 2.0], [3.0, 4.0]], "2 rows of 2"),
])
def test_a_batch_passed_to_a_model_says_use_predict(x, what):
    model = nn.MLP(3, [4, 1], seed=0)
    with pytest.raises(ValueError) as e:
        model(x)
    assert f"Layer expects 3 inputs, got {what}: " in str(e.value)
    assert str(e.value).endswith(BATCH)


@pytest.mark.parametrize("x", [np.ones((3, 3)), [[1, 2, 3]] * 3])
def test_a_square_batch_passed_to_a_model_says_use_predict(x):
    # As many rows as inputs: the count matches, the items are rows.
    model = nn.MLP(3, [2, 1], seed=0)
    with pytest.raises(TypeError, match=re.escape("3 rows of 3: " + BATCH)):
        model(x)


def test_one_sample_still_works_and_other_errors_are_unchanged():
    model = nn.MLP(3, [2, 1], seed=0)
    assert model([1, 2, 3]).data == model(np.array([1.0, 2.0, 3.0])).data
    with pytest.raises(ValueError, match=r"^Layer expects 3 inputs, got 2$"):
        model([1, 2])
    with pytest.raises(TypeError, match="real number"):
        model([1, 2, "a"])


@pytest.mark.parametrize("call", [
    lambda m, X, y: nn.fit(m, X, y, epochs=1, progress=False),
    lambda m, X, y: nn.evaluate(m, X, y),
    lambda m, X, y: nn.predict(m, X),
], ids=["fit", "evaluate", "predict"])
def test_x_of_the_wrong_width_names_its_columns(call):
    model = nn.MLP(3, [2, 1], seed=0)
    before = [p.data for p in model.parameters()]
    with pytest.raises(ValueError, match="X has 2 columns, but MLP takes 3 inputs per sample"):
        call(model, np.ones((4, 2)), [0, 1, 0, 1])
    assert [p.data for p in model.parameters()] == before

"""Tests for verification.engine.evaluators.sparse_moves: the column index of a layer's
input, the samples a weight moves, and the grouping of equal moves, each against a direct
computation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from verification.engine.evaluators.sparse_moves import equal_moves, input_columns, moved_samples


def _sparse_input(seed: int, levels: int) -> np.ndarray:
    """A (B, n) input with about half its entries zero and ``levels`` distinct magnitudes
    (few levels: values repeat like MNIST pixels; many: they hardly do)."""
    rng = np.random.default_rng(seed)
    batch, width = rng.integers(1, 7), rng.integers(1, 9)
    values = rng.integers(1, levels + 1, size=(batch, width)) / levels
    return np.where(rng.random((batch, width)) < 0.5, 0.0, values)


@given(st.integers(0, 2**31 - 1), st.sampled_from([3, 10**9]))
def test_columns_list_exactly_the_non_zero_entries(seed: int, levels: int) -> None:
    inputs = _sparse_input(seed, levels)
    indptr, samples, values, ids = input_columns(inputs)
    for i in range(inputs.shape[1]):
        part = slice(indptr[i], indptr[i + 1])
        assert samples[part].tolist() == np.flatnonzero(inputs[:, i]).tolist()
        assert values[part].tolist() == inputs[samples[part], i].tolist()
    if ids is not None:  # equal ids exactly for equal values
        assert np.array_equal(ids[:, None] == ids[None, :], values[:, None] == values[None, :])


def test_value_ids_only_when_values_repeat() -> None:
    repeating = np.array([[0.5, 0.5, 0.0, 0.5], [0.25, 0.25, 0.25, 0.0]])
    assert input_columns(repeating)[3] is not None
    distinct = np.arange(1.0, 9.0).reshape(2, 4)
    assert input_columns(distinct)[3] is None


@given(st.integers(0, 2**31 - 1))
def test_moved_samples_are_the_non_zero_inputs_of_each_row(seed: int) -> None:
    inputs = _sparse_input(seed, 5)
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, inputs.shape[1], size=int(rng.integers(0, 6)))
    columns = input_columns(inputs)
    p_idx, b_idx, pos = moved_samples(columns, rows)
    expected = [(p, b) for p, i in enumerate(rows) for b in np.flatnonzero(inputs[:, i])]
    assert list(zip(p_idx.tolist(), b_idx.tolist(), strict=True)) == expected
    assert np.array_equal(columns[2][pos], inputs[b_idx, rows[p_idx]])


@pytest.mark.parametrize("width", [3, 1 << 23])  # the scatter table, and np.unique beyond it
def test_equal_moves_group_exactly_the_identical_moves(width: int) -> None:
    rng = np.random.default_rng(1)
    n = 200
    b = rng.integers(0, 3, n)
    j = rng.integers(0, 3, n)
    t = np.array([0.5, -0.5, 0.5, 0.25])
    p = rng.integers(0, t.size, n)
    value_id = rng.integers(0, 2, n)
    first, inverse = equal_moves(b, j, t, p, value_id, width)
    moves = list(zip(b.tolist(), j.tolist(), t[p].tolist(), value_id.tolist(), strict=True))
    assert len(set(moves)) == first.size
    assert len({moves[k] for k in first.tolist()}) == first.size
    for k in range(n):
        assert moves[first[inverse[k]]] == moves[k]

"""Tests for funcnn.core.softmax: stability, the full Jacobian and the VJP."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import funcnn as fn

logits = hnp.arrays(
    np.float64,
    st.tuples(st.integers(1, 4), st.integers(1, 6)),
    elements=st.floats(-1e4, 1e4),
)


@given(logits)
def test_softmax_is_a_distribution_for_any_magnitude(z: np.ndarray) -> None:
    s = fn.softmax(z)
    assert np.isfinite(s).all() and (s >= 0).all()
    np.testing.assert_allclose(s.sum(axis=-1), 1, rtol=1e-12)
    np.testing.assert_allclose(np.exp(fn.log_softmax(z)), s, atol=1e-300, rtol=1e-12)
    assert np.isfinite(fn.log_softmax(z)).all()


@given(logits)
def test_jacobian_symmetric_rows_sum_to_zero(z: np.ndarray) -> None:
    J = fn.softmax_jacobian(fn.softmax(z))
    assert J.shape == (*z.shape, z.shape[-1])
    np.testing.assert_array_equal(J, np.swapaxes(J, -1, -2))
    np.testing.assert_allclose(J.sum(axis=-1), 0, atol=1e-15)


@given(logits, st.integers(0, 2**32 - 1))
def test_vjp_equals_jacobian_transpose_times_g(z: np.ndarray, seed: int) -> None:
    s = fn.softmax(z)
    g = np.random.default_rng(seed).normal(size=z.shape)
    expected = np.einsum("bij,bi->bj", fn.softmax_jacobian(s), g)
    np.testing.assert_allclose(fn.softmax_vjp(s, g), expected, rtol=1e-10, atol=1e-14)


def test_jacobian_known_value() -> None:
    s = np.array([0.5, 0.25, 0.25])
    expected = np.array(
        [[0.25, -0.125, -0.125], [-0.125, 0.1875, -0.0625], [-0.125, -0.0625, 0.1875]]
    )
    np.testing.assert_allclose(fn.softmax_jacobian(s), expected)


def test_float32_preserved() -> None:
    z = np.array([[80.0, -80.0, 0.0]], dtype=np.float32)
    for out in (fn.softmax(z), fn.log_softmax(z), fn.softmax_jacobian(fn.softmax(z))):
        assert out.dtype == np.float32 and np.isfinite(out).all()


def test_bad_inputs_are_clear_errors() -> None:
    with pytest.raises(fn.InvalidArgumentError, match=r"z: expected at least one class"):
        fn.softmax(np.empty((4, 0)))
    with pytest.raises(fn.ArgumentTypeError, match=r"z: expected a float32 or float64"):
        fn.log_softmax([1.0, 2.0])  # type: ignore[arg-type]
    with pytest.raises(fn.InvalidArgumentError, match=r"s: expected an array with at least 1"):
        fn.softmax_jacobian(np.float64(0.5))  # type: ignore[arg-type]
    with pytest.raises(fn.InvalidArgumentError, match=r"g: expected the shape of s"):
        fn.softmax_vjp(np.full((2, 3), 1 / 3), np.ones((2, 4)))

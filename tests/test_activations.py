"""Tests for funcnn.core.activations: values, derivatives, dtype and overflow behaviour."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import funcnn as fn
from tests.strategies import unknown_name

UNKNOWN_ACTIVATION = unknown_name(fn.ACTIVATIONS)

NAMES = sorted(fn.ACTIVATIONS)


def test_known_values() -> None:
    z = np.array([-2.0, 0.0, 3.0])
    np.testing.assert_allclose(fn.sigmoid(z), 1 / (1 + np.exp(-z)))
    np.testing.assert_array_equal(fn.relu(z), [0, 0, 3])
    np.testing.assert_allclose(fn.leaky_relu(z), [-0.02, 0, 3])
    np.testing.assert_allclose(fn.softplus(z), np.log1p(np.exp(z)))
    np.testing.assert_array_equal(fn.identity(z), z)
    np.testing.assert_allclose(fn.tanh(z), np.tanh(z))


def test_kink_conventions() -> None:
    zero = np.zeros(1)
    assert fn.relu_derivative(zero, fn.relu(zero))[0] == 0
    assert fn.leaky_relu_derivative(zero, fn.leaky_relu(zero))[0] == 0.01
    assert fn.ACTIVATIONS["relu"].kinks == (0.0,)
    assert fn.ACTIVATIONS["sigmoid"].kinks == ()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", NAMES)
def test_dtype_preserved_and_no_overflow_warning(name: str, dtype: Any) -> None:
    act = fn.ACTIVATIONS[name]
    z = np.array([-1e4, -80, -1, 0, 1, 80, 1e4], dtype=dtype)
    a = act.fn(z)
    d = act.derivative(z, a)
    assert a.dtype == dtype and d.dtype == dtype
    assert np.isfinite(a).all() and np.isfinite(d).all()


def test_sigmoid_saturates_exactly() -> None:
    z = np.array([-1e4, 1e4])
    np.testing.assert_array_equal(fn.sigmoid(z), [0.0, 1.0])
    assert fn.sigmoid(np.array([-700.0]))[0] == pytest.approx(np.exp(-700.0), rel=1e-12)


@pytest.mark.parametrize("name", NAMES)
@given(z=hnp.arrays(np.float64, st.integers(1, 20), elements=st.floats(-20, 20)))
def test_derivative_matches_central_difference(name: str, z: np.ndarray) -> None:
    act = fn.ACTIVATIONS[name]
    if act.kinks:
        z = z[np.abs(z) > 1e-4]
    h = 1e-6
    numeric = (act.fn(z + h) - act.fn(z - h)) / (2 * h)
    np.testing.assert_allclose(act.derivative(z, act.fn(z)), numeric, rtol=1e-6, atol=1e-8)


def test_unknown_activation() -> None:
    with pytest.raises(ValueError, match=f"unknown activation '{UNKNOWN_ACTIVATION}'"):
        fn.get_activation(UNKNOWN_ACTIVATION)


@pytest.mark.parametrize("name", sorted(fn.ACTIVATIONS))
def test_non_float_input_is_a_clear_error(name: str) -> None:
    """No silent promotion of integer arrays or lists: the argument is named."""
    act = fn.ACTIVATIONS[name]
    with pytest.raises(fn.ArgumentTypeError, match=r"z: expected float32 or float64"):
        act.fn(np.arange(3))  # type: ignore[arg-type]
    with pytest.raises(fn.ArgumentTypeError, match=r"z: expected a float32 or float64"):
        act.fn([1.0, -1.0])  # type: ignore[arg-type]
    assert act.fn(np.float32(1.5)).dtype == np.float32  # type: ignore[arg-type]

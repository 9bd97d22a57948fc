"""Tests for verification.engine.calibration: the measured constants of the pass condition."""

from __future__ import annotations

import numpy as np
import pytest

import funcnn as fn
from funcnn.errors import InvalidArgumentError
from funcnn.typing import Array, FloatArray, Params
from verification.engine.calibration import (
    GradFn,
    calibrate,
    error_estimate_ratio,
    float32_model_ratio,
    random_case,
)


def test_random_cases_are_float32_and_reproducible() -> None:
    a = random_case(np.random.default_rng(3))
    b = random_case(np.random.default_rng(3))
    assert a.spec == b.spec and a.loss == b.loss
    assert a.x.dtype == np.float32
    assert all(layer["W"].dtype == np.float32 for layer in a.params)
    np.testing.assert_array_equal(a.x, b.x)


def test_rounding_model_and_error_estimate_hold_on_correct_networks() -> None:
    result = calibrate(40, seed=11)
    assert result.float32_model.shape == (40,) == result.error_estimate.shape
    assert np.all(result.float32_model <= 1.0)
    assert np.all(result.error_estimate <= 1.0)
    assert "40 random networks" in result.summary()


def _scaled_grad(factor: float) -> GradFn:
    def grad(spec: fn.MLP, params: Params, x: FloatArray, y: Array, loss: str) -> Params:
        grads = fn.value_and_grad(spec, params, x, y, loss)[1]
        return [{k: v * v.dtype.type(factor) for k, v in layer.items()} for layer in grads]

    return grad


def test_ratios_expose_a_gradient_off_by_a_tenth_of_a_percent() -> None:
    rng = np.random.default_rng(5)
    case = random_case(rng)
    while case.loss == "softmax_then_cross_entropy":  # its float32 bound can be O(|g|)
        case = random_case(rng)
    assert float32_model_ratio(case) <= 1.0
    assert error_estimate_ratio(case) <= 1.0
    assert float32_model_ratio(case, _scaled_grad(1.001)) > 1.0
    assert error_estimate_ratio(case, grad_fn=_scaled_grad(1.001)) > 1.0


def test_calibrate_rejects_a_bad_count() -> None:
    with pytest.raises(InvalidArgumentError, match="networks"):
        calibrate(0)

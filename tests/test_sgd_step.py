"""Tests for funcnn.training.optimizers.sgd_step: the explicit, pure gradient step."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import funcnn as fn

PARAMS = [{"W": np.ones((2, 2), dtype=np.float32), "b": np.zeros(2, dtype=np.float32)}]
GRADS = [{"W": np.full((2, 2), 0.5, dtype=np.float32), "b": np.ones(2, dtype=np.float32)}]


def test_step_formula_dtype_and_purity() -> None:
    new = fn.sgd_step(PARAMS, GRADS, 0.1)
    np.testing.assert_allclose(new[0]["W"], 1 - 0.1 * 0.5)
    np.testing.assert_allclose(new[0]["b"], -0.1)
    assert new[0]["W"].dtype == np.float32
    np.testing.assert_array_equal(PARAMS[0]["W"], 1)
    assert new[0]["W"] is not PARAMS[0]["W"]


@pytest.mark.parametrize("lr", [0, -0.1, float("nan"), float("inf")])
def test_non_positive_or_non_finite_lr(lr: float) -> None:
    with pytest.raises(ValueError, match="lr: expected a finite number > 0"):
        fn.sgd_step(PARAMS, GRADS, lr)


@pytest.mark.parametrize("lr", ["0.1", None, True])
def test_lr_type(lr: Any) -> None:
    with pytest.raises(TypeError, match="lr"):
        fn.sgd_step(PARAMS, GRADS, lr)


def test_mismatched_grads() -> None:
    with pytest.raises(ValueError, match="grads: structure"):
        fn.sgd_step(PARAMS, [{"W": GRADS[0]["W"]}], 0.1)
    with pytest.raises(ValueError, match="grads: leaf 0 has shape"):
        fn.sgd_step(PARAMS, [{"W": np.ones(3, np.float32), "b": GRADS[0]["b"]}], 0.1)
    with pytest.raises(TypeError, match="grads: leaf 1 has dtype float64"):
        fn.sgd_step(PARAMS, [{"W": GRADS[0]["W"], "b": np.ones(2)}], 0.1)
    with pytest.raises(ValueError, match="grads leaf 0: expected finite"):
        fn.sgd_step(PARAMS, [{"W": np.full((2, 2), np.nan, np.float32), "b": GRADS[0]["b"]}], 0.1)

"""Tests for verification.engine.derivatives.numeric: scipy derivatives with honest error
estimates."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from funcnn.errors import InvalidArgumentError
from verification.engine.derivatives.numeric import (
    derivatives,
    richardson,
    stencil_rounding,
    stencil_weight_sum,
)


def _offsets(f: Any, x: Any) -> Any:
    def fn(k: Any, t: Any) -> Any:
        return f(x[k] + t) - f(x[k]), np.zeros(k.size, dtype=bool)

    return fn


@pytest.mark.parametrize("order", [2, 4, 6])
def test_error_estimate_covers_the_true_error(order: int) -> None:
    x = np.linspace(-3, 3, 25)
    d = derivatives(
        _offsets(np.exp, x), np.full(x.size, 1e-2), noise_scale=np.exp(3), order=order, maxiter=4
    )
    true_error = np.abs(d.value - np.exp(x))
    assert np.all(true_error <= d.error)
    assert np.all(np.isfinite(d.truncation)) and np.all(d.rounding > 0)
    assert set(np.unique(d.status)) <= {0, -1, -2}
    assert np.max(true_error / np.exp(x)) < {2: 1e-5, 4: 1e-9, 6: 1e-9}[order]


def test_steps_shrink_by_the_step_factor_per_iteration() -> None:
    x = np.array([0.5])
    d = derivatives(
        _offsets(np.sin, x), np.array([0.1]), noise_scale=1.0, maxiter=3, atol=0.0, rtol=0.0
    )
    # Never converged (zero tolerances): three iterations, steps 0.1, 0.05, 0.025.
    assert d.status[0] == -2
    assert d.step[0] == pytest.approx(0.025)
    assert d.nfev[0] == 1 + 4 + 2 + 2


def test_problems_are_told_apart_and_kinks_are_recorded() -> None:
    x = np.array([-1.0, 1e-4, 2.0])

    def fn(k: Any, t: Any) -> Any:
        moved = x[k] + t
        return np.abs(moved) - np.abs(x[k]), (moved > 0) != (x[k] > 0)

    d = derivatives(fn, np.full(3, 1e-2), noise_scale=2.0)
    assert d.kink.tolist() == [False, True, False]
    assert d.value[[0, 2]] == pytest.approx([-1.0, 1.0])


def test_one_sided_derivatives() -> None:
    x = np.zeros(2)

    def fn(k: Any, t: Any) -> Any:
        return np.abs(x[k] + t) + (x[k] + t) ** 2, np.zeros(k.size, dtype=bool)

    left = derivatives(fn, np.full(2, 1e-2), noise_scale=1.0, step_direction=-1)
    right = derivatives(fn, np.full(2, 1e-2), noise_scale=1.0, step_direction=1)
    assert left.value == pytest.approx([-1, -1], abs=1e-9)
    assert right.value == pytest.approx([1, 1], abs=1e-9)


def test_empty_and_bad_steps() -> None:
    d = derivatives(_offsets(np.exp, np.zeros(0)), np.zeros(0), noise_scale=1.0)
    assert d.value.size == 0
    with pytest.raises(InvalidArgumentError, match="steps"):
        derivatives(_offsets(np.exp, np.zeros(2)), np.array([1e-3, 0.0]), noise_scale=1.0)


def test_stencil_weights() -> None:
    assert stencil_weight_sum(2, 2.0, False) == pytest.approx(1.0)
    # Order 4 on +-h, +-h/2: (4/3 (f(h/2) - f(-h/2)) - 1/6 (f(h) - f(-h))) / h, sum |w| = 3.
    assert stencil_weight_sum(4, 2.0, False) == pytest.approx(3.0)
    assert stencil_weight_sum(4, 2.0, True) > stencil_weight_sum(4, 2.0, False)
    r = stencil_rounding(1.0, np.array([1e-3, 2e-3]), 4, 2.0, False)
    assert r[0] == pytest.approx(2 * r[1])


@given(st.floats(-5, 5), st.floats(1e-4, 1e-1))
def test_richardson_estimate_covers_the_true_error(x: float, step: float) -> None:
    value, error = richardson(lambda t: float(np.sin(x + t) + 0.1 * (x + t) ** 3), step)
    exact = np.cos(x) + 0.3 * x**2
    assert abs(value - exact) <= error


def test_richardson_rejects_bad_steps() -> None:
    with pytest.raises(InvalidArgumentError, match="step"):
        richardson(np.sin, 0.0)

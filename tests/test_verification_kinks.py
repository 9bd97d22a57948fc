"""Tests for verification.engine.derivatives.kinks: stencils crossing a relu kink are never
silently used."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import funcnn as fn
from verification.engine.bounds.tolerances import Tolerance
from verification.engine.network_check import check_network
from verification.engine.problems import check_problems


def _abs_problem(points: Any) -> Any:
    x = np.asarray(points, dtype=np.float64)

    def fn_(k: Any, t: Any) -> Any:
        moved = x[k] + t
        return np.abs(moved) - np.abs(x[k]), (moved > 0) != (x[k] > 0)

    return x, fn_


def _row(analytic: Any, points: Any) -> Any:
    x, fn_ = _abs_problem(points)
    return check_problems(
        "abs",
        "d|x|",
        x.shape,
        np.asarray(analytic, float),
        fn_,
        np.full(x.size, 1e-2),
        1.0,
        Tolerance(1e-12, 1e-8),
        np.float64,
    )


def test_point_on_the_kink_is_accepted_between_one_sided_derivatives() -> None:
    row = _row([0.3, 1.0, -1.0], [0.0, 2.0, -2.0])
    assert row.verdict == "subgradient" and row.subgradient == 1 and row.kinks == 1
    assert row.kinks_resolved == 0


def test_analytic_outside_the_one_sided_interval_fails() -> None:
    row = _row([1.5, 1.0], [0.0, 2.0])
    assert row.verdict == "fail" and row.worst_index == (0,)


def test_kink_near_the_point_is_cleared_by_a_smaller_step() -> None:
    row = _row([1.0, -1.0], [1e-4, -1e-5])
    assert row.verdict == "pass"
    assert row.kinks == 2 and row.kinks_resolved == 2 and row.subgradient == 0
    wrong = _row([1.0, 1.0], [1e-4, -1e-5])
    assert wrong.verdict == "fail" and wrong.worst_index == (1,)


def test_relu_network_with_a_unit_exactly_on_its_kink() -> None:
    spec = fn.MLP((2, 3, 1), "relu")
    rng = np.random.default_rng(0)
    params = fn.init(spec, rng, "normal:1")
    # The (0, 0) input meets zero biases: every hidden pre-activation is exactly 0.
    x = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([[0.0], [1.0], [1.0], [0.0]])
    report = check_network(spec, params, x, y, "mse")
    assert report.passed, report.table()
    bias = next(row for row in report.rows if row.tensor == "params[0]['b']")
    assert bias.verdict == "subgradient" and bias.subgradient >= 1


@pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
def test_kink_counts_are_reported_for_relu_networks(activation: str) -> None:
    spec = fn.MLP((20, 16, 4), activation)
    rng = np.random.default_rng(1)
    params = fn.init(spec, rng, "he_normal")
    x = rng.normal(size=(24, 20))
    y = rng.integers(0, 4, size=24)
    # Put sample 0's pre-activations within 1e-7 of the kink.
    z = x[:1] @ params[0]["W"] + params[0]["b"]
    params[0]["b"] = params[0]["b"] - z[0] + 1e-7 * rng.standard_normal(16)
    report = check_network(spec, params, x, y)
    assert report.passed, report.table()
    first = next(row for row in report.rows if row.tensor == "params[0]['W']")
    assert first.kinks > 0 and first.kinks_resolved + first.subgradient <= first.kinks

"""Tests for verification.engine.modes.screen: the three-call first pass of check_gradients
decides the entries of a correct black-box gradient, still catches a small error, and
refines only what it cannot decide."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import funcnn as fn
from funcnn.errors import ArgumentTypeError, InvalidArgumentError
from verification import Settings
from verification.engine.gradients import check_gradients

SPEC = fn.MLP((12, 8, 6, 5), "sigmoid")


def _black_box() -> tuple[Any, Any, Any, list[int]]:
    rng = np.random.default_rng(3)
    params = fn.init(SPEC, rng, "glorot_normal")
    x = rng.normal(size=(10, SPEC.n_in))
    y = rng.integers(0, SPEC.n_out, size=10)
    calls = [0]

    def loss_fn(p: Any) -> float:
        calls[0] += 1
        return fn.loss(SPEC, p, x, y)

    def grad_fn(p: Any) -> Any:
        return fn.value_and_grad(SPEC, p, x, y)[1]

    return params, loss_fn, grad_fn, calls


def test_screen_decides_a_correct_gradient_with_three_calls_per_entry() -> None:
    params, loss_fn, grad_fn, calls = _black_box()
    report = check_gradients(loss_fn, grad_fn, params, mode="full")
    assert report.passed, report.table()
    # One call for the loss at params, three per entry, and none refined.
    assert calls[0] <= 1 + 3 * SPEC.n_params + 3
    assert all(np.isfinite(row.error_estimate) for row in report.rows)
    calls[0] = 0
    slow = check_gradients(loss_fn, grad_fn, params, mode="full",
                           settings=Settings(screen=False))
    assert slow.passed
    assert calls[0] >= 6 * SPEC.n_params


@pytest.mark.parametrize("relative", [1e-6, 1e-3, -1.0])
def test_screen_still_fails_a_small_error_and_names_it(relative: float) -> None:
    params, loss_fn, grad_fn, _ = _black_box()

    def wrong(p: Any) -> Any:
        g = [{k: v.copy() for k, v in layer.items()} for layer in grad_fn(p)]
        scale = np.max(np.abs(g[1]["W"]))
        g[1]["W"][3, 2] += relative * scale
        return g

    report = check_gradients(loss_fn, wrong, params, mode="full")
    assert [row.tensor for row in report.failures] == ["params[1]['W']"], report.table()
    assert report.failures[0].worst_index == (3, 2)
    assert report.failures[0].n_failed == 1


def test_undecided_entries_are_refined_by_scipy() -> None:
    # A loss whose third derivative is huge at the step scale: the screen's error
    # estimate is too large to decide, so scipy refines the entry (more calls).
    calls = [0]

    def loss_fn(p: Any) -> float:
        calls[0] += 1
        return float(np.sum(np.sin(300.0 * p[0])) / 300.0)

    def grad_fn(p: Any) -> Any:
        return [np.cos(300.0 * p[0])]

    params = [np.array([0.1, 0.2])]
    report = check_gradients(loss_fn, grad_fn, params)
    assert report.passed, report.table()
    assert calls[0] > 1 + 3 * 2


def test_loss_that_changes_its_argument_is_rejected() -> None:
    def loss_fn(p: Any) -> float:
        value = float(np.sum(p[0] ** 2))
        p[0] *= 1.5
        return value

    with pytest.raises(InvalidArgumentError, match="loss_fn: changed the parameter arrays"):
        check_gradients(loss_fn, lambda p: [2 * p[0]], [np.array([1.0, 2.0])])


def test_screen_setting_must_be_a_bool() -> None:
    with pytest.raises(ArgumentTypeError, match="settings.screen"):
        check_gradients(lambda p: 0.0, lambda p: p, [np.zeros(2)],
                        settings=Settings(screen=1))  # type: ignore[arg-type]

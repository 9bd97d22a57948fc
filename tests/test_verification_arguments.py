"""Tests for verification.engine.common.arguments and the argument checks of the entry points: bad
arguments raise funcnn's own errors naming them; good ones pass through unchanged."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

import funcnn as fn
from verification import Settings, check_gradients, check_network
from verification.engine.bounds.settings import check_settings
from verification.engine.common.arguments import (
    check_callable,
    check_loss_value,
    check_nonnegative_number,
    check_seed,
    check_spec,
    require_finite,
)


def test_good_arguments_pass_through() -> None:
    assert check_callable("f", len) is len
    assert check_callable("f", None, optional=True) is None
    assert check_seed(np.int64(7)) == 7 and isinstance(check_seed(np.int64(7)), int)
    spec = fn.MLP((2, 1))
    assert check_spec(spec) is spec
    assert check_nonnegative_number("n", 0) == 0.0
    assert check_loss_value("loss_fn", np.array([2.5])) == 2.5
    assert check_loss_value("loss_fn", np.float32(1.5)) == 1.5
    settings = Settings(order=2, maxiter=2, step_factor=1.5, step_unit=1e-3)
    assert check_settings(settings) is settings
    assert check_settings(None) == Settings()


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: check_callable("grad_fn", 3), fn.ArgumentTypeError, "grad_fn: expected a"),
        (lambda: check_seed(True), fn.ArgumentTypeError, "seed: expected an int >= 0, got bool"),
        (lambda: check_seed(-2), fn.InvalidArgumentError, "seed: expected an int >= 0, got -2"),
        (lambda: check_spec((2, 1)), fn.ArgumentTypeError, "spec: expected an MLP, got tuple"),
        (lambda: check_nonnegative_number("n", float("inf")), fn.InvalidArgumentError, "n:"),
        (lambda: check_nonnegative_number("n", -1.0), fn.InvalidArgumentError, "got -1.0"),
        (lambda: check_nonnegative_number("n", "1"), fn.ArgumentTypeError, "got str"),
        (lambda: check_loss_value("loss_fn", "1e3"), fn.ArgumentTypeError, "got str"),
        (lambda: check_loss_value("loss_fn", 1j), fn.ArgumentTypeError, "got complex"),
        (lambda: check_loss_value("loss_fn", np.ones(2)), fn.ArgumentTypeError, "shape (2,)"),
        (lambda: check_settings(Settings(step_factor=1.0)), fn.InvalidArgumentError,
         "settings.step_factor: expected a finite number > 1"),
        (lambda: check_settings(Settings(step_unit=float("nan"))), fn.InvalidArgumentError,
         "settings.step_unit"),
        (lambda: check_settings(Settings(order=True)), fn.InvalidArgumentError, "settings.order"),
    ],
)
def test_bad_arguments_are_named(call: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error) as info:
        call()
    assert type(info.value) is error and message in str(info.value)


def test_require_finite_turns_overflow_into_nonfinite_error() -> None:
    big = np.array([1e200])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert require_finite("x", lambda: big * 1e200, lambda r: True)[0] == np.inf
        with pytest.raises(fn.NonFiniteError, match="x: overflows"):
            require_finite("x: overflows", lambda: big * big, lambda r: bool(np.isfinite(r)))


def test_nan_gradient_is_an_argument_error_not_a_warning() -> None:
    tree = {"a": np.array([1.0, 2.0])}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(fn.InvalidArgumentError, match=r"grad_fn: .*nan in params\['a'\]"):
            check_gradients(lambda p: float(p["a"] @ p["a"]),
                            lambda p: {"a": np.array([np.nan, 1.0])}, tree)


def test_check_network_overflow_is_a_nonfinite_error() -> None:
    spec = fn.MLP((3, 2))
    params = fn.init(spec, np.random.default_rng(0))
    y = np.array([0, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(fn.NonFiniteError, match="x: the float64 forward pass or loss"):
            check_network(spec, params, np.full((2, 3), 1e160), y, "mse")
        # Just below: finite, so checked, and nothing leaks as a warning.
        report = check_network(spec, params, np.full((2, 3), 1e100), y, "mse")
    assert report.rows and all(row.verdict in ("pass", "inconclusive") for row in report.rows)

"""Tests for checking a user's own pieces: activations (NaN derivatives, ranges, the
user's own value as reference, integer derivatives), losses, conformance columns, and
the catalogue package's name."""

from __future__ import annotations

import importlib
import types
from typing import Any

import numpy as np
import pytest

import funcnn as fn
import verification
import verification.catalogue.suite
from funcnn.errors import ArgumentTypeError, InvalidArgumentError
from verification.catalogue.activation_check import activation_points, check_activation
from verification.catalogue.loss_checks import check_cross_entropy, check_losses
from verification.external.conformance import check_conformance, textbook_value_and_grad


def _tanh_derivative_nan_above_3(z: Any, a: Any) -> Any:
    return np.where(z > 3, np.nan, 1 - a * a)


def test_nan_derivative_fails_at_its_index() -> None:
    act = fn.Activation("tanh_nan", fn.tanh, _tanh_derivative_nan_above_3)
    (row,) = check_activation("tanh_nan", activation=act).rows
    assert row.verdict == "fail"
    z = activation_points()
    assert row.n_failed == int(np.sum(z > 3))
    assert row.worst_index is not None and z[row.worst_index[0]] > 3
    assert np.isnan(row.analytic)
    assert "NaN or infinite" in row.hint


def test_exp_based_activation_passes_with_its_own_value_as_reference() -> None:
    def elu(z: Any) -> Any:
        return np.where(z > 0, z, np.expm1(np.minimum(z, 0.0)))

    act = fn.Activation("elu", elu, lambda z, a: np.where(z > 0, 1.0, a + 1.0), (0.0,))
    assert check_activation("elu", activation=act).passed
    exp = fn.Activation("exp", np.exp, lambda z, a: a)
    (row,) = check_activation("exp", activation=exp).rows
    assert row.passed, row
    assert "points where fn overflows in float64 left out" in row.note
    wrong = fn.Activation("exp", np.exp, lambda z, a: 1.01 * a)
    assert not check_activation("exp", activation=wrong).passed


def test_range_option_chooses_the_points() -> None:
    (row,) = check_activation("tanh", z_range=(-3, 3)).rows
    assert row.passed and row.n_checked == 121 + 4  # the grid on [-3, 3] and +-1e-3, 1e-8
    assert "z in [-3, 3]" in row.note
    (far,) = check_activation("sigmoid", z_range=(30, 40)).rows
    assert far.n_checked >= 801
    with pytest.raises(InvalidArgumentError, match="z_range"):
        check_activation("tanh", z_range=(3, -3))
    with pytest.raises(ArgumentTypeError, match="z_range"):
        check_activation("tanh", z_range="wide")  # type: ignore[arg-type]


def test_integer_derivative_is_rejected() -> None:
    act = fn.Activation("ramp", fn.relu, lambda z, a: (z > 0).astype(np.int64), (0.0,))
    with pytest.raises(ArgumentTypeError, match="activation.derivative: expected float"):
        check_activation("ramp", activation=act)


def _softmax(z: Any) -> Any:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _onehot(z: Any, y: Any) -> Any:
    return np.eye(z.shape[1])[y] if np.asarray(y).ndim == 1 else y


def _ce(z: Any, y: Any) -> tuple[float, Any]:
    p, t = _softmax(z), _onehot(z, y)
    return float(-np.mean(np.sum(t * np.log(p), axis=1))), (p - t) / z.shape[0]


def _ce_eps(z: Any, y: Any) -> tuple[float, Any]:
    # numpy-ml's mistake: the value of log(p + eps), the gradient of the exact loss.
    p, t = _softmax(z), _onehot(z, y)
    return float(-np.mean(np.sum(t * np.log(p + 1e-9), axis=1))), (p - t) / z.shape[0]


def _mse_times_outputs(z: Any, y: Any) -> tuple[float, Any]:
    # scikit-learn's MLPRegressor with several outputs: C times the loss's gradient.
    return float(np.mean(np.sum((z - y) ** 2, axis=1)) / 2), (z - y) / z.shape[0] * z.shape[1]


def test_user_losses_are_checked_against_their_own_value() -> None:
    good = check_losses(loss=fn.Loss("ce", _ce, "distribution"))
    assert good.passed and [row.tensor for row in good.rows] == [
        "dL/dz ce (labels)", "dL/dz ce (one-hot)"
    ]
    assert check_cross_entropy(targets="onehot", loss=fn.Loss("ce", _ce, "distribution")).passed
    eps = check_cross_entropy(loss=fn.Loss("ce_eps", _ce_eps, "distribution"))
    assert not eps.passed
    mse = check_losses(loss=fn.Loss("mse", _mse_times_outputs, "real"))
    (row,) = mse.failures
    assert "analytic = 10 x numeric" in row.hint
    with pytest.raises(ArgumentTypeError, match="loss: expected a funcnn.Loss"):
        check_losses(loss=_ce)  # type: ignore[arg-type]


def test_conformance_table_says_what_each_column_holds() -> None:
    spec = fn.MLP((4, 3, 2), "sigmoid")
    rng = np.random.default_rng(0)
    params = fn.init(spec, rng, "glorot_normal")
    x, y = rng.normal(size=(5, 4)), rng.integers(0, 2, 5)
    table = check_conformance(textbook_value_and_grad(spec), spec, params, x, y,
                              other_name="textbook").table()
    assert "columns (analytic a, numeric n):" in table
    assert "a = textbook, n = funcnn (cross rows)" in table
    assert "a = textbook's gradient, n = finite differences of the float64 loss" in table
    assert "a = funcnn's gradient, n = finite differences" in table


def test_catalogue_is_the_package_and_build_catalogue_the_function() -> None:
    assert isinstance(verification.catalogue, types.ModuleType)
    assert verification.catalogue is importlib.import_module("verification.catalogue")
    assert verification.catalogue.suite is importlib.import_module("verification.catalogue.suite")
    checks = verification.build_catalogue(quick=True)
    assert checks and all(callable(c.run) for c in checks)

"""Tests for verification.external.conformance: another implementation against funcnn and both
against finite differences."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import funcnn as fn
from verification.external.conformance import check_conformance, textbook_value_and_grad


def _problem(spec: fn.MLP, loss: str, dtype: Any) -> Any:
    rng = np.random.default_rng(0)
    params = fn.init(spec, rng, "glorot_normal", dtype=dtype)
    x = rng.normal(size=(9, spec.n_in)).astype(dtype)
    labels = rng.integers(0, spec.n_out, size=9)
    onehot = np.eye(spec.n_out, dtype=dtype)[labels]
    y = labels if loss in ("softmax_cross_entropy", "softmax_then_cross_entropy") else onehot
    return params, x, y


def _textbook_with(
    spec: fn.MLP, layer: int, key: str, edit: Callable[[Any], None], value_scale: float = 1.0
) -> Callable[[Any, Any, Any], Any]:
    """The textbook value_and_grad with ``edit`` applied to a copy of one gradient leaf
    and the loss value scaled: another implementation with a known mistake."""
    good = textbook_value_and_grad(spec)

    def other(p: Any, xx: Any, yy: Any) -> Any:
        value, grads = good(p, xx, yy)
        leaf = grads[layer][key].copy()
        edit(leaf)
        grads[layer][key] = leaf
        return value * value_scale, grads

    return other


@pytest.mark.parametrize("activation", sorted(fn.ACTIVATIONS))
@pytest.mark.parametrize("loss", sorted(fn.LOSSES))
def test_textbook_implementation_conforms(activation: str, loss: str) -> None:
    spec = fn.MLP((5, 6, 4), activation)
    for dtype in (np.float64, np.float32):
        params, x, y = _problem(spec, loss, dtype)
        report = check_conformance(textbook_value_and_grad(spec, loss), spec, params, x, y, loss)
        assert report.passed, report.table()
        checks = {row.check for row in report.rows}
        assert checks == {
            "conformance",
            "conformance: other vs numeric",
            "conformance: funcnn vs numeric",
        }


def test_a_wrong_implementation_is_named_and_funcnn_still_passes() -> None:
    spec = fn.MLP((5, 6, 4), "sigmoid")
    params, x, y = _problem(spec, "softmax_cross_entropy", np.float64)

    def flip(g: Any) -> None:
        g[2, 3] *= -1

    wrong = _textbook_with(spec, 1, "W", flip, value_scale=1.5)
    report = check_conformance(wrong, spec, params, x, y, other_name="wrong")
    failed = {(row.check, row.tensor) for row in report.failures}
    assert failed == {
        ("conformance", "loss value"),
        ("conformance", "params[1]['W']"),
        ("conformance: wrong vs numeric", "params[1]['W']"),
    }
    for row in report.failures[1:]:
        assert row.worst_index == (2, 3)


def test_a_non_finite_gradient_from_the_other_implementation_is_named() -> None:
    spec = fn.MLP((5, 6, 4), "tanh")
    params, x, y = _problem(spec, "softmax_cross_entropy", np.float64)

    def nan_at_4(g: Any) -> None:
        g[4] = np.nan

    nan_at = _textbook_with(spec, 0, "b", nan_at_4)
    with pytest.raises(fn.InvalidArgumentError) as caught:
        check_conformance(nan_at, spec, params, x, y, other_name="mine")
    message = str(caught.value)
    assert message.startswith("other: mine's gradient of params[0]['b'] is not finite")
    assert "(4,)" in message and "grad_fn" not in message

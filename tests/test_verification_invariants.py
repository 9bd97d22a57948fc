"""Tests for verification.catalogue.invariants: exact properties of backprop, held on funcnn and
failing on implementations that break them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import funcnn as fn
from funcnn.core import network
from verification.catalogue.invariants import check_invariants, check_softmax_jacobian_invariants

SPEC = fn.MLP((6, 5, 4), "tanh")


def _problem(dtype: Any = np.float64) -> Any:
    rng = np.random.default_rng(0)
    params = fn.init(SPEC, rng, dtype=dtype)
    x = rng.normal(size=(7, 6)).astype(dtype)
    y = rng.integers(0, 4, size=7)
    return params, x, y


def _failed(report: Any) -> set[str]:
    return {row.tensor for row in report.failures}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("loss", sorted(fn.LOSSES))
def test_funcnn_holds_every_invariant(dtype: Any, loss: str) -> None:
    params, x, y = _problem(dtype)
    if loss == "mse":
        y = np.eye(4, dtype=dtype)[y]
    report = check_invariants(SPEC, params, x, y, loss)
    assert report.passed, report.table()
    assert len(report.rows) == 5


def test_mutating_inputs_is_caught() -> None:
    params, x, y = _problem()

    def mutating(spec: Any, p: Any, xx: Any, yy: Any, loss: str) -> Any:
        out = network.value_and_grad(spec, p, xx, yy, loss)
        xx[0, 0] += 1.0
        return out

    assert "inputs not mutated" in _failed(
        check_invariants(SPEC, params, x, y, value_and_grad_fn=mutating)
    )


def test_nondeterminism_is_caught() -> None:
    params, x, y = _problem()
    calls = iter(range(100))

    def noisy(spec: Any, p: Any, xx: Any, yy: Any, loss: str) -> Any:
        value, grads = network.value_and_grad(spec, p, xx, yy, loss)
        grads[0]["b"] = grads[0]["b"] + 1e-16 * next(calls)
        return value, grads

    assert "deterministic" in _failed(check_invariants(SPEC, params, x, y, value_and_grad_fn=noisy))


def test_nonlinear_backward_is_caught() -> None:
    params, x, y = _problem()

    def affine(spec: Any, p: Any, trace: Any, g: Any) -> Any:
        grads = network.backward(spec, p, trace, g)
        grads[1]["b"] = grads[1]["b"] + 1e-9
        return grads

    failed = _failed(check_invariants(SPEC, params, x, y, backward_fn=affine))
    assert {
        "linear: zero upstream -> zero grads",
        "linear: upstream x (-1, 2^5, 2^-3) exact",
    } <= failed


def test_per_example_mismatch_is_caught() -> None:
    params, x, y = _problem()

    def sum_not_mean(spec: Any, p: Any, xx: Any, yy: Any, loss: str) -> Any:
        value, grads = network.value_and_grad(spec, p, xx, yy, loss)
        # A gradient that is right for one sample and 1% off for a batch.
        factor = 1.0 if len(xx) == 1 else 1.01
        return value, [{k: v * factor for k, v in layer.items()} for layer in grads]

    assert _failed(check_invariants(SPEC, params, x, y, value_and_grad_fn=sum_not_mean)) == {
        "per-example grads average to batch grad"
    }


def test_softmax_jacobian_invariants() -> None:
    z = np.random.default_rng(1).normal(size=(6, 9)) * 5
    assert check_softmax_jacobian_invariants(z).passed
    lopsided = check_softmax_jacobian_invariants(
        z, jacobian=lambda s: s[..., :, None] * (np.eye(s.shape[-1]) - 1.01 * s[..., None, :])
    )
    assert _failed(lopsided) == {"jacobian symmetric (bitwise)", "jacobian rows sum to 0"}
    diagonal = check_softmax_jacobian_invariants(
        z, jacobian=lambda s: s[..., :, None] * np.eye(s.shape[-1])
    )
    assert _failed(diagonal) == {"jacobian rows sum to 0"}

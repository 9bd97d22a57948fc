"""Accuracy at numerical extremes, against arbitrary-precision mpmath references.

Softmax, log-softmax, sigmoid, softplus and both cross-entropy paths must stay finite and
accurate for inputs of magnitude up to 1e4 in float64 and up to 80 in float32. The
reference is computed with 50 significant digits and rounded once to the tested dtype,
so results that underflow (sigmoid(-1e4)) are compared with what the dtype can hold.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import mpmath
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import funcnn as fn

mpmath.mp.dps = 60
LIMITS: dict[Any, float] = {np.float64: 1e4, np.float32: 80.0}
# A few ulps: each function here is a handful of correctly rounded operations.
RTOL: dict[Any, float] = {
    np.float64: 8 * float(np.finfo(np.float64).eps),
    np.float32: 8 * float(np.finfo(np.float32).eps),
}


def _reference(values: np.ndarray, f: Callable[[Any], Any], dtype: Any) -> np.ndarray:
    return np.array([float(f(mpmath.mpf(float(v)))) for v in values.ravel()], dtype=np.float64)


def _close(actual: np.ndarray, expected: np.ndarray, dtype: Any) -> None:
    tiny = np.finfo(dtype).tiny
    np.testing.assert_allclose(actual.astype(np.float64), expected, rtol=RTOL[dtype], atol=tiny)


def _elementwise(dtype: Any) -> st.SearchStrategy[np.ndarray]:
    limit = LIMITS[dtype]
    edges = [-limit, limit, 0.0, -limit / 2, limit / 2]
    values = st.lists(st.floats(-limit, limit) | st.sampled_from(edges), min_size=1, max_size=8)
    return values.map(lambda v: np.array(v, dtype=dtype))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@given(data=st.data())
def test_sigmoid_and_softplus(dtype: Any, data: st.DataObject) -> None:
    z = data.draw(_elementwise(dtype))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s, sp = fn.sigmoid(z), fn.softplus(z)
    assert s.dtype == dtype and sp.dtype == dtype
    _close(s, _reference(z, lambda v: 1 / (1 + mpmath.exp(-v)), dtype), dtype)
    _close(sp, _reference(z, lambda v: mpmath.log1p(mpmath.exp(v)), dtype), dtype)


def _mp_log_softmax(row: np.ndarray) -> list[Any]:
    values = [mpmath.mpf(float(v)) for v in row]
    lse = mpmath.log(mpmath.fsum(mpmath.exp(v) for v in values))
    return [v - lse for v in values]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@given(data=st.data())
def test_softmax_log_softmax_and_cross_entropy(dtype: Any, data: st.DataObject) -> None:
    limit = LIMITS[dtype]
    width = data.draw(st.integers(2, 6))
    rows = data.draw(
        st.lists(
            st.lists(st.floats(-limit, limit), min_size=width, max_size=width),
            min_size=1,
            max_size=3,
        )
    )
    z = np.array(rows, dtype=dtype)
    labels = np.array(
        data.draw(st.lists(st.integers(0, width - 1), min_size=len(rows), max_size=len(rows)))
    )
    ref_logp = np.array([[float(v) for v in _mp_log_softmax(r)] for r in z])
    logp = fn.log_softmax(z)
    assert np.isfinite(logp).all() and logp.dtype == dtype
    # log-softmax is a difference: its error is relative to the inputs' scale.
    scale = np.abs(z).max(axis=1, keepdims=True).astype(np.float64) + 1
    assert (np.abs(logp - ref_logp) <= RTOL[dtype] * scale).all()
    ref_p = np.array([[float(mpmath.exp(v)) for v in _mp_log_softmax(r)] for r in z])
    p = fn.softmax(z)
    assert np.isfinite(p).all()
    # exp turns log-softmax's absolute error into relative error of the same size.
    assert (np.abs(p - ref_p) <= RTOL[dtype] * scale * ref_p + np.finfo(dtype).tiny).all()
    ref_ce = -np.mean(ref_logp[np.arange(len(z)), labels])
    fused = fn.softmax_cross_entropy(z, labels)
    assert np.isfinite(fused)
    assert abs(fused - ref_ce) <= RTOL[dtype] * float(scale.max()) * 2
    explicit = fn.softmax_then_cross_entropy(z, labels)
    assert np.isfinite(explicit)
    assert np.isfinite(fn.softmax_then_cross_entropy_grad(z, labels)).all()
    clip = -np.log(np.finfo(dtype).tiny)
    assert explicit == pytest.approx(
        np.mean(np.minimum(-ref_logp[np.arange(len(z)), labels], clip)), rel=1e-5, abs=1e-5
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_explicit_path_at_probabilities_exactly_zero_and_one(dtype: Any) -> None:
    limit = LIMITS[dtype]
    z = np.array([[limit, -limit]], dtype=dtype)  # p = (1, 0) exactly in this dtype
    assert fn.softmax(z)[0, 1] == 0 and fn.softmax(z)[0, 0] == 1
    clipped = float(-np.log(np.finfo(dtype).tiny))
    assert fn.softmax_then_cross_entropy(z, np.array([1])) == pytest.approx(clipped, rel=1e-6)
    assert fn.softmax_then_cross_entropy(z, np.array([0])) == 0.0
    for label in (0, 1):
        grad = fn.softmax_then_cross_entropy_grad(z, np.array([label]))
        assert np.isfinite(grad).all()

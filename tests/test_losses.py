"""Tests for funcnn.core.losses: values, gradients, fused vs explicit paths, target checks."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import funcnn as fn


def _numeric_grad(f: Any, z: np.ndarray, h: float = 1e-6) -> np.ndarray:
    grad = np.zeros_like(z)
    for idx in np.ndindex(z.shape):
        zp, zm = z.copy(), z.copy()
        zp[idx] += h
        zm[idx] -= h
        grad[idx] = (f(zp) - f(zm)) / (2 * h)
    return grad


def test_softmax_cross_entropy_known_value() -> None:
    z = np.array([[0.0, 0.0], [np.log(3.0), 0.0]])
    y = np.array([0, 0])
    expected = (np.log(2) + np.log(4 / 3)) / 2
    assert fn.softmax_cross_entropy(z, y) == pytest.approx(expected, rel=1e-14)
    np.testing.assert_allclose(
        fn.softmax_cross_entropy_grad(z, y), np.array([[-0.5, 0.5], [-0.25, 0.25]]) / 2
    )


@given(st.integers(0, 2**32 - 1), st.sampled_from([1.0, 10.0, 100.0, 150.0]), st.booleans())
def test_fused_and_explicit_cross_entropy_agree(seed: int, scale: float, onehot: bool) -> None:
    # Logits in [-scale, scale]. The explicit path multiplies probabilities (s_i s_j in
    # the Jacobian), so it is exact only while those products stay normal floats: gaps
    # up to 300 give probabilities >= 1e-130 and products >= 1e-260.
    rng = np.random.default_rng(seed)
    z = rng.uniform(-scale, scale, size=(6, 10))
    labels = rng.integers(0, 10, size=6)
    y: np.ndarray = np.eye(10)[labels] if onehot else labels
    fused = fn.softmax_cross_entropy(z, y)
    explicit = fn.softmax_then_cross_entropy(z, y)
    assert explicit == pytest.approx(fused, rel=1e-12)
    g_fused = fn.softmax_cross_entropy_grad(z, y)
    g_explicit = fn.softmax_then_cross_entropy_grad(z, y)
    # Relative to the size of the terms each entry is computed from, (p sum(y) + y) / B:
    # that is |entry| itself except where p - y cancels (p of the true class near 1),
    # where no float64 evaluation of either path can be relatively accurate.
    target = y if onehot else np.eye(10)[labels]
    terms = (fn.softmax(z) * target.sum(axis=1, keepdims=True) + target) / len(z)
    assert (np.abs(g_fused - g_explicit) <= 1e-12 * terms).all()


@pytest.mark.parametrize("name", sorted(fn.LOSSES))
@pytest.mark.parametrize("labels", [True, False])
def test_gradients_match_central_differences(name: str, labels: bool) -> None:
    rng = np.random.default_rng(0)
    z = rng.normal(size=(4, 3))
    if labels:
        y: np.ndarray = rng.integers(0, 3, size=4)
    elif fn.LOSSES[name].target_kind == "distribution":
        y = rng.dirichlet(np.ones(3), size=4)
    else:
        y = rng.uniform(0, 1, size=(4, 3))
    loss = fn.get_loss(name)
    numeric = _numeric_grad(lambda v: loss.value_and_grad(v, y)[0], z)
    np.testing.assert_allclose(loss.value_and_grad(z, y)[1], numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", sorted(fn.LOSSES))
def test_float32_in_float32_out(name: str) -> None:
    z = np.random.default_rng(1).normal(size=(5, 4)).astype(np.float32)
    y = np.array([0, 1, 2, 3, 0])
    value, grad = fn.get_loss(name).value_and_grad(z, y)
    assert isinstance(value, float) and grad.dtype == np.float32


def test_explicit_loss_agrees_up_to_gap_700() -> None:
    z = np.array([[350.0, -350.0, 0.0], [-350.0, 350.0, 100.0]])
    y = np.array([1, 0])
    assert fn.softmax_then_cross_entropy(z, y) == pytest.approx(700.0, rel=1e-14)
    assert fn.softmax_cross_entropy(z, y) == pytest.approx(700.0, rel=1e-14)


def test_explicit_path_clips_zero_probabilities() -> None:
    z = np.array([[0.0, -2000.0]])
    value = fn.softmax_then_cross_entropy(z, np.array([1]))
    assert value == pytest.approx(-np.log(np.finfo(np.float64).tiny))
    assert np.isfinite(fn.softmax_then_cross_entropy_grad(z, np.array([1]))).all()


def test_mse_and_bce_known_values() -> None:
    z = np.array([[1.0, 2.0]])
    y = np.array([[0.0, 0.0]])
    assert fn.mse(z, y) == pytest.approx(2.5)
    np.testing.assert_allclose(fn.mse_grad(z, y), [[1.0, 2.0]])
    zb = np.array([[0.0]])
    assert fn.binary_cross_entropy(zb, np.array([1])) == pytest.approx(np.log(2))
    np.testing.assert_allclose(fn.binary_cross_entropy_grad(zb, np.array([1])), [[-0.5]])


def test_binary_cross_entropy_stable_for_huge_logits() -> None:
    z = np.array([[1e4], [-1e4]])
    assert fn.binary_cross_entropy(z, np.array([1, 0])) == 0.0
    assert fn.binary_cross_entropy(z, np.array([0, 1])) == pytest.approx(1e4)


@pytest.mark.parametrize(
    ("y", "error", "message"),
    [
        (np.array([0, 3]), ValueError, r"y: labels must lie in \[0, 3\), found 3"),
        (np.array([0, -1]), ValueError, "found -1"),
        (np.array([0]), ValueError, r"y: integer labels must have shape \(2,\)"),
        (np.array([0.0, 1.0]), ValueError, "class labels must be an integer array"),
        (np.array([[1.0, 0, 0], [0.5, 0, 0]]), ValueError, "row 1 sums to 0.5"),
        (np.array([[1.0, 0, 0], [np.nan, 0, 0]]), ValueError, "finite"),
        (np.array([[1, 0, 0], [0, 1, 0]], dtype=np.float32), TypeError, "dtype float64"),
        (np.array([True, False]), TypeError, "bool"),
    ],
)
def test_bad_targets(y: np.ndarray, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        fn.softmax_cross_entropy(np.zeros((2, 3)), y)


def test_bad_outputs_and_names() -> None:
    with pytest.raises(ValueError, match=r"z: expected a non-empty \(B, C\) array"):
        fn.mse(np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match="z: expected finite"):
        fn.mse(np.array([[np.inf]]), np.array([[0.0]]))
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        fn.get_loss("hinge")


# The paths through softmax probabilities clip them instead (tested below).
CLIPPING = {"softmax_then_cross_entropy", "softmax_binary_cross_entropy"}


@pytest.mark.parametrize("name", sorted(set(fn.LOSSES) - CLIPPING))
def test_a_loss_that_overflows_raises_nonfinite_error(name: str) -> None:
    """Finite outputs whose loss is not representable: NonFiniteError, no warning, no inf."""
    z = np.array([[1e308, -1e308]])
    y = np.array([[0.0, 1.0]]) if "binary" in name else np.array([1])
    with pytest.raises(fn.NonFiniteError, match=r"overflows float64"):
        getattr(fn, name)(z, y)


def test_a_large_but_representable_loss_is_returned() -> None:
    """The same huge logits with the right label have a loss of 0 and a finite gradient."""
    z = np.array([[1e308, -1e308]])
    assert fn.softmax_cross_entropy(z, np.array([0])) == 0.0
    assert np.all(np.isfinite(fn.softmax_cross_entropy_grad(z, np.array([0]))))


def test_the_explicit_path_clips_instead_of_overflowing() -> None:
    """A probability that underflows to 0 is clipped at tiny: loss -log(tiny), finite grad."""
    z = np.array([[1e308, -1e308]])
    value = fn.softmax_then_cross_entropy(z, np.array([1]))
    assert value == pytest.approx(-np.log(np.finfo(np.float64).tiny))
    assert np.all(np.isfinite(fn.softmax_then_cross_entropy_grad(z, np.array([1]))))
    t = np.array([[0.0, 1.0]])
    assert np.isfinite(fn.softmax_binary_cross_entropy(z, t))
    assert np.all(np.isfinite(fn.softmax_binary_cross_entropy_grad(z, t)))

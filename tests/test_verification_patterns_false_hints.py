"""A hint is stated only when its pattern explains every failing entry: the three wrong
hints issue 21 found on other people's code, each now silent, next to the case where the
same hint is right."""

from __future__ import annotations

import numpy as np

from verification.reporting.patterns import hints


def _hint(a: np.ndarray, n: np.ndarray, tol: float) -> str:
    bound = np.full(a.shape, tol)
    return hints(a, n, bound, np.abs(a - n) > bound)


def test_a_column_bias_failing_everywhere_is_not_one_failing_column() -> None:
    # (n, 1) biases: every entry is in column 0, so "only column 0 fails" says nothing.
    n = np.array([[0.3], [-0.2], [0.5], [0.1]])
    a = n + np.array([[0.05], [0.2], [-0.1], [0.07]])
    assert "only column" not in _hint(a, n, 1e-9)
    # In a matrix with several columns, one failing column is still named.
    w = np.arange(12.0).reshape(4, 3) / 7
    bad = w.copy()
    bad[:, 1] += np.array([0.05, 0.2, -0.1, 0.07])
    assert "only column 1 fails" in _hint(bad, w, 1e-9)


def test_one_entry_is_not_a_uniform_factor() -> None:
    # A bias gradient of one unit, not summed over the batch: one number, any ratio fits.
    a, n = np.array([-0.75]), np.array([0.7])
    text = _hint(a, n, 1e-9)
    assert "x numeric" not in text and "sign flip" not in text
    # Two clearly non-zero entries with one ratio are a factor.
    assert "analytic = -1.5 x numeric" in _hint(np.array([-1.5, 3.0]), np.array([1.0, -2.0]), 1e-9)


def test_nearly_equal_entries_in_the_same_order_are_not_reordered() -> None:
    # A correct GELU by another formula: each entry a little off, in the same order.
    n = np.linspace(-1, 1, 9)
    a = n + 1e-6 * np.cos(np.arange(9))
    assert "another order" not in _hint(a, n, 1e-7)
    # Truly reordered entries are named.
    assert "another order" in _hint(np.roll(n, 2), n, 1e-9)

"""Tests for funcnn.training._blas: the one-call ``W -= a.T @ g`` used by plain SGD in fit."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from funcnn.training._blas import fused_update_for


def _operands(rows: int, n_in: int, n_out: int, dtype: Any, seed: int = 1) -> tuple[Any, ...]:
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((n_in, n_out)).astype(dtype)
    a = rng.standard_normal((rows, n_in)).astype(dtype)
    g = rng.standard_normal((rows, n_out)).astype(dtype)
    return W, a, g


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(64, 784, 500), (128, 784, 128), (37, 100, 10), (2, 3, 1)])
def test_fused_update_matches_matmul_then_subtract_bit_for_bit(
    shape: tuple[int, int, int], dtype: Any
) -> None:
    update = fused_update_for(*shape, dtype)
    if update is None:
        pytest.skip("no bit-identical fused kernel for this numpy build and shape")
    W, a, g = _operands(*shape, dtype)
    expected = W.copy()
    expected -= np.matmul(a.T, g)
    update(W, a, g)
    np.testing.assert_array_equal(W, expected)
    assert W.dtype == dtype


def test_inputs_it_cannot_pass_to_blas_take_numpys_path() -> None:
    update = fused_update_for(16, 20, 8, np.float64)
    if update is None:
        pytest.skip("no fused kernel for this numpy build")
    W, a, g = _operands(16, 20, 8, np.float64)
    a_f = np.asfortranarray(a)  # same values, another memory layout
    g_view = np.repeat(g, 2, axis=0)[::2]  # strided
    expected = W - np.matmul(a.T, g)
    update(W, a_f, g_view)
    np.testing.assert_array_equal(W, expected)
    # A kernel made for float64 never reads float32 memory as float64.
    W32, a32, g32 = _operands(16, 20, 8, np.float32)
    expected32 = W32 - np.matmul(a32.T, g32)
    update(W32, a32, g32)
    np.testing.assert_array_equal(W32, expected32)


def test_no_kernel_for_other_dtypes_or_empty_shapes() -> None:
    assert fused_update_for(4, 3, 2, np.float16) is None
    assert fused_update_for(4, 3, 2, np.int64) is None
    assert fused_update_for(0, 3, 2, np.float32) is None


def test_the_self_test_runs_once_per_shape_dtype_and_thread_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import funcnn.training._blas as blas

    calls: list[Any] = []
    real = blas._make

    def counting_make(gemm: Any, dtype: Any) -> Any:
        calls.append(dtype)
        return real(gemm, dtype)

    monkeypatch.setattr(blas, "_make", counting_make)
    blas._self_tested.cache_clear()
    first = fused_update_for(9, 7, 5, np.float64)
    if first is None:
        pytest.skip("no fused kernel for this numpy build")
    assert fused_update_for(9, 7, 5, np.float64) is first
    assert len(calls) == 1
    # Another thread count may order the product differently: tested afresh.
    monkeypatch.setattr(blas, "_blas_threads", lambda: 10_000)
    fused_update_for(9, 7, 5, np.float64)
    assert len(calls) == 2
    blas._self_tested.cache_clear()


def test_remembered_addresses_follow_the_arrays_actually_passed() -> None:
    """The update remembers operand addresses by id, weakly: arrays that die and are
    replaced (ids reused), views at other offsets, and the same arrays again must all be
    updated exactly as numpy would. Planted: keying the address by id alone (a dead
    array's id reused by a new one) wrote into freed memory and crashed this test."""
    update = fused_update_for(8, 12, 6, np.float64)
    if update is None:
        pytest.skip("no bit-identical fused kernel for this numpy build and shape")
    rng = np.random.default_rng(5)
    for trial in range(200):
        W, a, g = _operands(8, 12, 6, np.float64, seed=trial)
        big = np.concatenate([a, a])  # a view into the middle of a larger array
        view = big[3:11]
        view[...] = a
        expected = W - np.matmul(a.T, g)
        update(W, view if trial % 2 else a, g)
        np.testing.assert_array_equal(W, expected)
        again = W - np.matmul(a.T, g)
        update(W, a, g)  # the same arrays, addresses remembered
        np.testing.assert_array_equal(W, again)
        del W, a, g, big, view
        rng.standard_normal(3)

"""Tests for funcnn.training._blas: the one-call ``W -= a.T @ g`` used by plain SGD in fit."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from funcnn.training._blas import MIN_ENTRIES_COMPARED, fused_update_for, operand_sets


def _operands(rows: int, n_in: int, n_out: int, dtype: Any, seed: int = 1) -> tuple[Any, ...]:
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((n_in, n_out)).astype(dtype)
    a = rng.standard_normal((rows, n_in)).astype(dtype)
    g = rng.standard_normal((rows, n_out)).astype(dtype)
    return W, a, g


# Shapes fit meets (MNIST layers, XOR, partial batches) and shapes whose fused product
# differs from matmul-then-subtract on some CPUs (long batches split into blocks; one
# output or input unit, where numpy calls gemv): whatever the self-test selects on this
# machine must hold on fresh operands, and what it rejects is simply not fused.
SWEEP = [(64, 784, 500), (128, 784, 128), (37, 100, 10), (4, 2, 3), (2, 2, 2), (8, 6, 9),
         (300, 20, 10), (400, 30, 20), (600, 30, 20), (1000, 10, 5), (513, 7, 3)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SWEEP)
def test_a_selected_fused_update_matches_matmul_then_subtract_on_fresh_operands(
    shape: tuple[int, int, int], dtype: Any
) -> None:
    update = fused_update_for(*shape, dtype)
    if update is None:
        return  # rejected here: fit keeps matmul and -=, nothing to compare
    fresh = [_operands(*shape, dtype, seed=seed) for seed in range(1, 4)]
    fresh += operand_sets(*shape, np.dtype(dtype), seed=99)  # other draws than the self-test's
    for W, a, g in fresh:
        expected = W.copy()
        expected -= np.matmul(a.T, g)
        update(W, a, g)
        np.testing.assert_array_equal(W, expected)
        assert W.dtype == dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(2, 3, 1), (4, 3, 1), (8, 2, 1), (4, 1, 3), (1, 5, 4)])
def test_shapes_where_numpy_leaves_gemm_are_never_fused(
    shape: tuple[int, int, int], dtype: Any
) -> None:
    # numpy computes these with gemv or an outer product, not gemm: another kernel, so
    # another summation order on some CPUs (AMD EPYC: 1 ulp in a third of the entries).
    assert fused_update_for(*shape, dtype) is None


@pytest.mark.parametrize("every", [13, 97])
def test_the_self_test_rejects_a_kernel_wrong_in_rare_entries(
    monkeypatch: pytest.MonkeyPatch, every: int
) -> None:
    """A stand-in kernel that is off by one ulp in about one entry in ``every`` (chosen by
    the bits of the result, so by the operand values) must be rejected for every shape;
    the exact stand-in must be accepted. (Kernels that really differ, differ in at least
    8% of the entries; see funcnn.training._blas.)"""
    import funcnn.training._blas as blas

    def rarely_wrong(gemm: Any, dtype: Any) -> Any:
        def update(W: Any, a: Any, g: Any) -> None:
            W -= np.matmul(a.T, g)
            bits = W.view(np.uint64 if W.dtype == np.float64 else np.uint32)
            hit = (bits >> 3) % every == 0
            W[hit] = np.nextafter(W[hit], np.inf)
        return update

    def exact(gemm: Any, dtype: Any) -> Any:
        def update(W: Any, a: Any, g: Any) -> None:
            W -= np.matmul(a.T, g)
        return update

    monkeypatch.setattr(blas, "_gemm", lambda kind: object())
    for make, selected in [(rarely_wrong, False), (exact, True)]:
        monkeypatch.setattr(blas, "_make", make)
        blas._self_tested.cache_clear()
        for dtype in (np.float32, np.float64):
            for shape in [(2, 2, 2), (4, 2, 3), (8, 6, 9), (128, 784, 128)]:
                assert (fused_update_for(*shape, dtype) is not None) == selected, shape
    blas._self_tested.cache_clear()


def test_the_self_test_compares_enough_entries_in_both_value_ranges() -> None:
    for shape in [(2, 2, 2), (4, 2, 3), (128, 784, 128)]:
        sets = operand_sets(*shape, np.dtype(np.float64))
        n_in, n_out = shape[1:]
        assert len(sets) * n_in * n_out >= min(MIN_ENTRIES_COMPARED, 256 * n_in * n_out)
        assert len(sets) >= 2
        # Alternately normal and scaled over 2^-20..2^20: both value ranges are tried.
        spreads = [float(np.ptp(np.log2(np.abs(a)))) for _, a, _ in sets[:2]]
        assert spreads[1] > spreads[0] + 20


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
    for shape in [(0, 3, 2), (4, 0, 2), (4, 3, 0)]:
        assert fused_update_for(*shape, np.float32) is None


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

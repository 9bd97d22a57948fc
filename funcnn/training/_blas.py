"""``W -= a.T @ g`` as one BLAS call, through the BLAS library numpy itself uses.

Plain SGD in :func:`funcnn.fit` subtracts each layer's (already ``lr``-scaled) weight
gradient ``a.T @ g`` from ``W``. numpy has no ``matmul`` that accumulates into its
output, so that costs a product into a buffer and then a pass over ``W`` and the buffer;
BLAS's ``gemm`` computes ``C = alpha A B + beta C`` in the product's own pass. This module
calls ``cblas_sgemm``/``cblas_dgemm`` with ``alpha = -1, beta = 1`` from the OpenBLAS
that numpy's wheels bundle (``numpy.libs/libscipy_openblas64_*.so``, 64-bit integers), so
the product runs on the same library and thread pool as every other numpy product.

It is an optimisation only, and used only where it changes nothing:
:func:`fused_update_for` runs both ways once on random operands of the exact shape and
dtype and returns the fused kernel only if the results are bit for bit identical (the
operation order of a BLAS product depends on its shapes, kernel and thread count, not on
the values). Any other numpy build, an unfamiliar library, a shape whose bits differ:
``None``, and the caller keeps ``matmul`` and ``-=``.
"""

from __future__ import annotations

import ctypes
import glob
import os
import weakref
from collections.abc import Callable
from functools import cache, lru_cache
from typing import Any

import numpy as np

from funcnn.typing import FloatArray

__all__ = ["FusedUpdate", "fused_update_for"]

FusedUpdate = Callable[[FloatArray, FloatArray, FloatArray], None]
"""``update(W, a, g)``: ``W -= a.T @ g`` in place, for C-contiguous ``W`` (n_in, n_out),
``a`` (r, n_in) and ``g`` (r, n_out) of one dtype."""

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112


@cache
def _library() -> Any:
    """numpy's bundled OpenBLAS (64-bit integers) with the symbols used here, or None."""
    pattern = os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs",
                           "libscipy_openblas64_*.so")
    for path in sorted(glob.glob(pattern)):
        try:
            lib = ctypes.CDLL(path)
            for name in ("scipy_cblas_sgemm64_", "scipy_cblas_dgemm64_",
                         "scipy_openblas_get_num_threads64_"):
                getattr(lib, name)
        except (OSError, AttributeError):
            continue
        lib.scipy_openblas_get_num_threads64_.argtypes = []
        lib.scipy_openblas_get_num_threads64_.restype = ctypes.c_int
        return lib
    return None


def _blas_threads() -> int:
    """The thread count numpy's OpenBLAS runs with now (threadpoolctl may change it)."""
    lib = _library()
    return 0 if lib is None else int(lib.scipy_openblas_get_num_threads64_())


@cache
def _gemm(kind: str) -> Any:
    """numpy's bundled ``scipy_cblas_{s,d}gemm64_``, or None."""
    lib = _library()
    if lib is None:
        return None
    fn = getattr(lib, f"scipy_cblas_{kind}gemm64_")
    real = ctypes.c_float if kind == "s" else ctypes.c_double
    i64, ptr = ctypes.c_int64, ctypes.c_void_p
    fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, i64, i64, i64, real, ptr,
                   i64, ptr, i64, real, ptr, i64]
    fn.restype = None
    return fn


def _make(gemm: Any, dtype: np.dtype[Any]) -> FusedUpdate:
    # A training loop hands the same arrays (its params and buffers) every step, and
    # ``arr.ctypes.data`` costs microseconds: remember each array's address, weakly (a
    # dead array's id may come back, but then its weak reference no longer matches).
    seen: dict[int, tuple[weakref.ref[FloatArray], int]] = {}

    def address(arr: FloatArray) -> int:
        known = seen.get(id(arr))
        if known is not None and known[0]() is arr:
            return known[1]
        if len(seen) >= 64:
            seen.clear()
        pointer = int(arr.ctypes.data)
        seen[id(arr)] = (weakref.ref(arr), pointer)
        return pointer

    def update(W: FloatArray, a: FloatArray, g: FloatArray) -> None:
        n_in, n_out = W.shape
        if not (
            W.dtype == a.dtype == g.dtype == dtype
            and a.shape == (g.shape[0], n_in)
            and g.shape[1] == n_out
            and W.flags.c_contiguous and W.flags.writeable
            and a.flags.c_contiguous and g.flags.c_contiguous
        ):
            # BLAS reads raw memory: anything but the layout it was given to expect
            # takes numpy's path (the same bits where the fused call is used at all).
            W -= np.matmul(a.T, g)
            return
        gemm(_ROW_MAJOR, _TRANS, _NO_TRANS, n_in, n_out, a.shape[0], -1.0, address(a),
             n_in, address(g), n_out, 1.0, address(W), n_out)

    return update


def fused_update_for(rows: int, n_in: int, n_out: int, dtype: Any) -> FusedUpdate | None:
    """The fused ``W -= a.T @ g`` for these shapes and dtype if it gives exactly the bits
    of ``W -= np.matmul(a.T, g)`` here, else None.

    The self-test's verdict is kept per shape, dtype and BLAS thread count (a product's
    operation order depends on all three), so repeated ``fit`` calls pay for it once.
    """
    dt = np.dtype(dtype)
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)) or min(rows, n_in, n_out) < 1:
        return None
    return _self_tested(rows, n_in, n_out, dt, _blas_threads())


@lru_cache(maxsize=256)
def _self_tested(
    rows: int, n_in: int, n_out: int, dt: np.dtype[Any], threads: int
) -> FusedUpdate | None:
    gemm = _gemm("s" if dt == np.float32 else "d")
    if gemm is None:
        return None
    update = _make(gemm, dt)
    rng = np.random.default_rng(0)
    W = rng.standard_normal((n_in, n_out)).astype(dt)
    a = rng.standard_normal((rows, n_in)).astype(dt)
    g = (rng.standard_normal((rows, n_out)) * 1e-2).astype(dt)
    expected = W - np.matmul(a.T, g)
    fused = W.copy()
    update(fused, a, g)
    return update if np.array_equal(fused, expected) else None

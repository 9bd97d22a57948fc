"""``W -= a.T @ g`` as one BLAS call, through the BLAS library numpy itself uses.

Plain SGD in :func:`funcnn.fit` subtracts each layer's (already ``lr``-scaled) weight
gradient ``a.T @ g`` from ``W``. numpy has no ``matmul`` that accumulates into its
output, so that costs a product into a buffer and then a pass over ``W`` and the buffer;
BLAS's ``gemm`` computes ``C = alpha A B + beta C`` in the product's own pass. This module
calls ``cblas_sgemm``/``cblas_dgemm`` with ``alpha = -1, beta = 1`` from the OpenBLAS
that numpy's wheels bundle (``numpy.libs/libscipy_openblas64_*.so``, 64-bit integers), so
the product runs on the same library and thread pool as every other numpy product.

It is an optimisation only, and used only where it changes nothing, decided at run time
on the machine at hand (OpenBLAS picks its kernels by CPU, so what holds on one machine
need not hold on another):

- Where numpy itself leaves ``gemm`` (an operand with one row or column: numpy calls
  ``gemv`` or forms an outer product), the two sides run different kernels, so such
  shapes are never fused.
- For every other shape, :func:`fused_update_for` runs both ways on many random operand
  sets of the exact shape and dtype (normal values, and normal values scaled by 2^-20
  to 2^20), comparing :data:`MIN_ENTRIES_COMPARED` entries (at least 1024 where ``W``
  is tiny), and returns the fused kernel
  only if every one is bit for bit identical. A BLAS product's operation order depends
  on its shapes, kernel and thread count, not on the values; where the two orders differ
  (a long batch that BLAS splits into blocks, accumulating into ``W`` block by block; a
  different kernel), measured on AMD EPYC (Haswell kernels) over 800 random shapes, at
  least 8% of the entries of every operand set differ, so a differing shape passes the
  self-test with probability below ``0.92 ** 1024 < 1e-37``.

Any other numpy build, an unfamiliar library, a shape whose bits differ: ``None``, and
the caller keeps ``matmul`` and ``-=``.
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

__all__ = ["MIN_ENTRIES_COMPARED", "FusedUpdate", "fused_update_for"]

FusedUpdate = Callable[[FloatArray, FloatArray, FloatArray], None]
"""``update(W, a, g)``: ``W -= a.T @ g`` in place, for C-contiguous ``W`` (n_in, n_out),
``a`` (r, n_in) and ``g`` (r, n_out) of one dtype."""

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112

MIN_ENTRIES_COMPARED = 2048
"""The self-test compares at least this many entries of ``W`` (over several operand sets)."""
_MIN_SETS, _MAX_SETS = 2, 256


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

    ``rows``, ``n_in`` and ``n_out`` must each be at least 2 (see the module docstring).
    The self-test's verdict is kept per shape, dtype and BLAS thread count (a product's
    operation order depends on all three), so repeated ``fit`` calls pay for it once.
    """
    dt = np.dtype(dtype)
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)) or min(rows, n_in, n_out) < 2:
        return None
    return _self_tested(rows, n_in, n_out, dt, _blas_threads())


def operand_sets(
    rows: int, n_in: int, n_out: int, dt: np.dtype[Any], seed: int = 0
) -> list[tuple[FloatArray, FloatArray, FloatArray]]:
    """``(W, a, g)`` operand sets for the self-test, half standard normal and half
    ``normal * 2^k``, ``k`` uniform in -20..20 (magnitudes far apart expose any change
    of summation order): enough sets to compare :data:`MIN_ENTRIES_COMPARED` entries of
    ``W``, at least 2 and at most 256."""
    rng = np.random.default_rng(seed)
    sets = min(_MAX_SETS, max(_MIN_SETS, -(-MIN_ENTRIES_COMPARED // (n_in * n_out))))
    sizes = (n_in * n_out, rows * n_in, rows * n_out)
    values = rng.standard_normal((sets, sum(sizes)))
    values[1::2] *= np.exp2(rng.integers(-20, 21, values[1::2].shape))
    values = values.astype(dt)
    w_end, a_end = sizes[0], sizes[0] + sizes[1]
    return [(v[:w_end].reshape(n_in, n_out), v[w_end:a_end].reshape(rows, n_in),
             v[a_end:].reshape(rows, n_out)) for v in values]


@lru_cache(maxsize=256)
def _self_tested(
    rows: int, n_in: int, n_out: int, dt: np.dtype[Any], threads: int
) -> FusedUpdate | None:
    gemm = _gemm("s" if dt == np.float32 else "d")
    if gemm is None:
        return None
    update = _make(gemm, dt)
    for W, a, g in operand_sets(rows, n_in, n_out, dt):
        expected = W - np.matmul(a.T, g)
        update(W, a, g)
        if not np.array_equal(W, expected):
            return None
    return update

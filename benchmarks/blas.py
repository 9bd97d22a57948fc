"""Two BLAS libraries in one hot loop: numpy's OpenBLAS and scipy's, each with a thread pool.

numpy and scipy wheels each bundle their own OpenBLAS (``threadpool_info`` lists both).
Each keeps its own worker threads, which busy-wait for a while after every call. A loop
that alternates ``np.matmul`` with a ``scipy.linalg.blas`` routine therefore runs each
call while the other library's threads are still spinning on the same cores; with as
many threads as cores the calls can become tens of times slower. This section times
scenario A's two largest products per step, both through numpy, against the same work
with the weight-gradient product done by scipy's ``sgemm``.
"""

from __future__ import annotations

import numpy as np

from benchmarks.harness import Quiet, Row, interleaved_times, median, ratio_row

__all__ = ["run_blas_mix"]


def run_blas_mix(reps: int, steps: int = 200, quiet: Quiet | None = None) -> list[Row]:
    """``steps`` steps of ``X @ W`` and ``X.T @ g``: numpy only vs numpy + scipy BLAS."""
    from scipy.linalg import blas

    rng = np.random.default_rng(0)
    X = rng.random((128, 784), dtype=np.float32)
    W = (rng.random((784, 128), dtype=np.float32) - 0.5) * 0.01
    g = (rng.random((128, 128), dtype=np.float32) - 0.5) * 0.01
    Z = np.empty((128, 128), dtype=np.float32)
    gW = np.empty((784, 128), dtype=np.float32)
    gemm = blas.get_blas_funcs("gemm", dtype=np.float32)

    def numpy_only(_: int) -> None:
        for _ in range(steps):
            np.matmul(X, W, out=Z)
            np.matmul(X.T, g, out=gW)

    def mixed(_: int) -> None:
        for _ in range(steps):
            np.matmul(X, W, out=Z)
            # gW^T = g^T X, written into the Fortran-ordered view of gW: no copy.
            gemm(1.0, g.T, X.T, trans_b=True, c=gW.T, overwrite_c=True)

    # Not interleaved: scipy's threads, once woken, would slow the numpy-only baseline too.
    t = interleaved_times({"numpy": numpy_only}, reps, quiet=quiet)
    t |= interleaved_times({"mixed": mixed}, reps, quiet=quiet)
    us = {name: [s / steps * 1e6 for s in seconds] for name, seconds in t.items()}
    note = "X @ W and X.T @ g at batch 128 (scenario A's layer 1), float32"
    return [
        Row(
            "blas",
            "blas.numpy_only",
            "both products via numpy",
            median(us["numpy"]),
            "us/step",
            None,
            note,
            tuple(us["numpy"]),
        ),
        Row(
            "blas",
            "blas.mixed",
            "X.T @ g via scipy.linalg.blas.sgemm instead",
            median(us["mixed"]),
            "us/step",
            None,
            note,
            tuple(us["mixed"]),
        ),
        ratio_row("blas", "blas.mixed/numpy_only", "mixed / numpy only", us["mixed"], us["numpy"]),
    ]

"""How the checks use the machine's cores: elementwise work split across our own thread
pool, BLAS kept to one thread.

The perturbed evaluations are dominated by transcendental functions (exp, expit, tanh)
on large arrays; numpy releases the GIL inside ufunc loops, so :func:`rowwise` splits
them by rows across a small pool, one thread per core. Their matrix products are small
(32 rows), where a multi-threaded BLAS gains nothing and, on a busy machine, loses a
great deal: OpenBLAS threads spin while they wait for a core, and a 1 ms product was
measured at 30-100 ms with two other processes running. :func:`single_threaded_blas`
therefore limits BLAS to one thread for the duration of a check, through
``threadpoolctl`` when it is installed (it is optional; without it BLAS is left as
configured). The limit is restored on exit.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import cache
from typing import Any

import numpy as np

from funcnn.typing import Array

__all__ = ["PARALLEL_MIN", "WORKERS", "rowwise", "single_threaded_blas"]

WORKERS = max(1, min(4, os.cpu_count() or 1))
"""Threads of the pool (one per core, at most 4)."""

PARALLEL_MIN = 1 << 18
"""Elements below which splitting an elementwise call across threads does not pay."""


@cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="verification")


def rowwise(fn: Callable[..., Any], *arrays: Array) -> Any:
    """``fn(*arrays)`` for a row-wise ``fn``, split by rows across the pool.

    ``fn`` must treat rows independently and return an array or a tuple of arrays with
    one row per input row; the pieces are concatenated along axis 0, so the result is
    the same as ``fn(*arrays)``.
    """
    rows = arrays[0].shape[0]
    work = max(a.size for a in arrays)
    if WORKERS == 1 or work < PARALLEL_MIN or rows < WORKERS:
        return fn(*arrays)
    bounds = np.linspace(0, rows, WORKERS + 1).astype(int)
    parts = list(
        _pool().map(
            lambda k: fn(*(a[bounds[k] : bounds[k + 1]] for a in arrays)), range(WORKERS)
        )
    )
    if isinstance(parts[0], tuple):
        return tuple(np.concatenate(pieces, axis=0) for pieces in zip(*parts, strict=True))
    return np.concatenate(parts, axis=0)


@cache
def _controller() -> Any:
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    return ThreadpoolController()


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Limit BLAS to one thread inside the block (a no-op without ``threadpoolctl``)."""
    controller = _controller()
    if controller is None:
        yield
        return
    with controller.limit(limits=1, user_api="blas"):
        yield

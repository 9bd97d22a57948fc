"""The benchmark data: MNIST through funcnn's own loader, as float32 rows in [0, 1].

If the loader is missing or cannot find the data, the suite falls back to random data of
MNIST's shape and says so (times depend on shapes, not on pixel values, but the losses
reported alongside then mean nothing).
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["Dataset", "load", "load_seconds"]

N_TRAIN, N_TEST, N_PIXELS, N_CLASSES = 60000, 10000, 784, 10


@dataclass(frozen=True)
class Dataset:
    """``x_*`` float32 ``(N, 784)`` in [0, 1]; ``y_*`` int64 ``(N,)``; ``source`` says where
    they came from (``"funcnn.data.mnist.load_mnist"`` or a note on the random fallback)."""

    x_train: NDArray[np.float32]
    y_train: NDArray[np.int64]
    x_test: NDArray[np.float32]
    y_test: NDArray[np.int64]
    source: str

    @property
    def is_mnist(self) -> bool:
        """Whether this is the real data set."""
        return self.source.startswith("funcnn.data.mnist")


def _raw_mnist() -> tuple[Any, Any, Any, Any]:
    mnist = importlib.import_module("funcnn.data.mnist")
    (x_train, y_train), (x_test, y_test) = mnist.load_mnist(download=False, progress=False)
    return x_train, y_train, x_test, y_test


def _prepare(images: NDArray[Any]) -> NDArray[np.float32]:
    mnist = importlib.import_module("funcnn.data.mnist")
    rows: NDArray[np.float32] = mnist.scale(mnist.flatten(images), np.float32)
    return rows


def load(limit: int | None = None) -> Dataset:
    """MNIST (the first ``limit`` training and test samples when given), or random data."""
    try:
        x_train, y_train, x_test, y_test = _raw_mnist()
        if limit is not None:
            x_train, y_train = x_train[:limit], y_train[:limit]
            x_test, y_test = x_test[:limit], y_test[:limit]
        return Dataset(
            _prepare(x_train),
            y_train.astype(np.int64),
            _prepare(x_test),
            y_test.astype(np.int64),
            "funcnn.data.mnist.load_mnist",
        )
    except Exception as exc:  # any failure: the fallback is announced, not silent
        note = f"random data of MNIST's shape (loading MNIST failed: {type(exc).__name__}: {exc})"
        print(f"NOTE: {note}")
        rng = np.random.default_rng(0)
        n_train = N_TRAIN if limit is None else min(limit, N_TRAIN)
        n_test = N_TEST if limit is None else min(limit, N_TEST)
        return Dataset(
            rng.random((n_train, N_PIXELS), dtype=np.float32),
            rng.integers(0, N_CLASSES, n_train, dtype=np.int64),
            rng.random((n_test, N_PIXELS), dtype=np.float32),
            rng.integers(0, N_CLASSES, n_test, dtype=np.int64),
            note,
        )


def load_seconds() -> float | str:
    """Wall time of one ``load_mnist()`` call from the gz files, or why it failed."""
    try:
        start = time.perf_counter()
        _raw_mnist()
        return time.perf_counter() - start
    except Exception as exc:  # reported as a skipped row
        return f"{type(exc).__name__}: {exc}"

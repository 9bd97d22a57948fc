"""Inputs for the network checks: real MNIST samples when the data is present, random
inputs otherwise.

The data is looked up through :func:`funcnn.data.mnist.load_mnist` with downloading turned
off, so a check never touches the network; when the module, the files or a valid copy
is missing, inputs are uniform on [0, 1) from the check's own generator instead. Which
one was used is reported with every batch.
"""

from __future__ import annotations

import zlib
from functools import cache
from typing import Any

import numpy as np

from funcnn.typing import FloatArray, IntArray

__all__ = ["Batch", "dtype_name", "mnist_test_images", "problem_rng", "sample_batch"]

Batch = tuple[FloatArray, IntArray, str]
"""``(x (B, n_in) float64, labels (B,) int64, source)`` with source ``"mnist"`` or
``"random"``."""


@cache
def mnist_test_images() -> tuple[FloatArray, IntArray] | None:
    """MNIST's test images flattened and scaled to [0, 1] (float64) and labels, or None.

    Cached: loaded at most once per process, never downloaded.
    """
    try:
        from funcnn.data.mnist import load_mnist

        _, (x_test, y_test) = load_mnist(download=False, progress=False)
    except (ImportError, OSError, ValueError, TypeError, RuntimeError):
        return None
    images = np.asarray(x_test, dtype=np.float64).reshape(len(x_test), -1) / 255.0
    return images, np.asarray(y_test, dtype=np.int64)


def sample_batch(
    n_in: int, n_out: int, batch: int, rng: np.random.Generator, *, use_mnist: bool = True
) -> Batch:
    """A batch for a network with ``n_in`` inputs and ``n_out`` outputs.

    With ``n_in == 784`` and MNIST available (and ``use_mnist``): ``batch`` test images
    drawn by ``rng`` and their digits (modulo ``n_out``). Otherwise ``x ~ U[0, 1)`` and
    labels uniform in ``[0, n_out)`` (``[0, 2)`` for one output), both from ``rng``.
    """
    data = mnist_test_images() if (use_mnist and n_in == 784) else None
    if data is not None:
        images, labels = data
        pick = rng.choice(len(images), size=batch, replace=False)
        return images[pick].copy(), labels[pick] % max(n_out, 2), "mnist"
    x = rng.random((batch, n_in))
    y = rng.integers(0, max(n_out, 2), size=batch)
    return x, y.astype(np.int64), "random"



def problem_rng(seed: int, name: str) -> np.random.Generator:
    """A generator for one check: the same seed and name always give the same bits."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def dtype_name(dtype: Any) -> str:
    """The dtype's name, e.g. ``"float64"``."""
    return str(np.dtype(dtype))

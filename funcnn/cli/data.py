"""MNIST for the command line: loaded, cut to ``--limit`` samples, scaled to [0, 1]."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from funcnn.cli.errors import UsageError
from funcnn.errors import FuncnnError
from funcnn.typing import Array, FloatArray

__all__ = ["MNIST_CLASSES", "MNIST_INPUTS", "load_data", "prepare"]

MNIST_INPUTS = 784
MNIST_CLASSES = 10


def load_data(
    args: argparse.Namespace, limit: int | None, quiet: bool
) -> tuple[tuple[Array, Array], tuple[Array, Array]]:
    """MNIST as uint8 ``((x_train, y_train), (x_test, y_test))``, cut to ``limit`` samples."""
    from funcnn.data.mnist import load_mnist

    try:
        (x_train, y_train), (x_test, y_test) = load_mnist(
            args.data_dir, download=not args.no_download, progress=not quiet
        )
    except (FuncnnError, OSError) as exc:
        if args.data_dir is None:
            raise
        raise UsageError(f"--data-dir: {exc}") from exc
    if limit is not None:
        if limit > len(x_train):
            raise UsageError(f"--limit: {limit} exceeds the {len(x_train)} training samples")
        x_train, y_train = x_train[:limit], y_train[:limit]
        x_test, y_test = x_test[:limit], y_test[:limit]
    return (x_train, y_train.astype(np.int64)), (x_test, y_test.astype(np.int64))


def prepare(images: Array, dtype: np.dtype[Any]) -> FloatArray:
    """uint8 images ``(N, 28, 28)`` as rows in [0, 1] of ``dtype``, without a float64 detour."""
    out: FloatArray = images.reshape(len(images), -1).astype(dtype)
    out /= dtype.type(255)
    return out

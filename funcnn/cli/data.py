"""MNIST for the command line: loaded, cut to ``--limit`` / ``--test-limit`` samples, scaled
to [0, 1]."""

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
    args: argparse.Namespace,
    limit: int | None,
    quiet: bool,
    test_limit: int | None = None,
    flags: tuple[str, str] = ("--limit", "--test-limit"),
) -> tuple[tuple[Array, Array], tuple[Array, Array]]:
    """MNIST as uint8 ``((x_train, y_train), (x_test, y_test))``: the first ``limit``
    training and the first ``test_limit`` test samples (``None``: all); ``flags`` name
    the two limits in errors."""
    from funcnn.data.mnist import MnistNotFoundError, load_mnist

    try:
        (x_train, y_train), (x_test, y_test) = load_mnist(
            args.data_dir, download=not args.no_download, progress=not quiet
        )
    except MnistNotFoundError as exc:  # said in the flags the user typed
        raise UsageError(
            f"MNIST not found in {', '.join(map(str, exc.searched))}, and --no-download is "
            "set: pass --data-dir DIR (a directory with the four files) or set FUNCNN_DATA=DIR, "
            "or drop --no-download to download it"
        ) from None
    except (FuncnnError, OSError) as exc:
        if args.data_dir is None:
            raise
        raise UsageError(f"--data-dir: {exc}") from exc
    if limit is not None:
        if limit > len(x_train):
            raise UsageError(f"{flags[0]}: {limit} exceeds the {len(x_train)} training samples")
        x_train, y_train = x_train[:limit], y_train[:limit]
    if test_limit is not None:
        if test_limit > len(x_test):
            raise UsageError(f"{flags[1]}: {test_limit} exceeds the {len(x_test)} test samples")
        x_test, y_test = x_test[:test_limit], y_test[:test_limit]
    return (x_train, y_train.astype(np.int64)), (x_test, y_test.astype(np.int64))


def prepare(images: Array, dtype: np.dtype[Any]) -> FloatArray:
    """uint8 images ``(N, 28, 28)`` as rows in [0, 1] of ``dtype``, without a float64 detour."""
    out: FloatArray = images.reshape(len(images), -1).astype(dtype)
    out /= dtype.type(255)
    return out

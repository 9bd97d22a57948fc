"""Preparing MNIST-like arrays: flatten, scale, standardize, one-hot labels, a random split.

Every helper returns new arrays (:func:`flatten` a view) and never modifies its inputs;
bad input raises :class:`funcnn.InvalidArgumentError` or :class:`funcnn.ArgumentTypeError`
naming the argument.
"""

from __future__ import annotations

import math
from typing import Any, TypeAlias, cast

import numpy as np
from numpy.typing import NDArray

from funcnn.core.validation import check_float_dtype, check_positive_int, ensure_array
from funcnn.errors import ArgumentTypeError, InvalidArgumentError, NonFiniteError

__all__ = [
    "MNIST_MEAN",
    "MNIST_STD",
    "flatten",
    "one_hot",
    "scale",
    "standardize",
    "train_validation_split",
]

MNIST_MEAN = 0.1307
"""Mean of the training pixels after scaling to [0, 1]."""

MNIST_STD = 0.3081
"""Standard deviation of the training pixels after scaling to [0, 1]."""

U8Array: TypeAlias = NDArray[np.uint8]


def _check_array(name: str, value: Any) -> NDArray[Any]:
    if not isinstance(value, np.ndarray):
        raise ArgumentTypeError(f"{name}: expected a numpy array, got {type(value).__name__}")
    return value


def _check_pixels(name: str, x: Any) -> U8Array:
    arr = _check_array(name, x)
    if arr.dtype != np.uint8:
        raise ArgumentTypeError(f"{name}: expected uint8 pixels 0-255, got dtype {arr.dtype}")
    return cast(U8Array, arr)


def flatten(x: NDArray[Any]) -> NDArray[Any]:
    """Images ``(N, 28, 28)`` as rows ``(N, 784)``; generally ``(N, ...)`` to ``(N, prod(...))``.

    Same dtype; a view of ``x`` when ``x`` is contiguous (no copy), so it is as writable
    as ``x``. ``(N, D)`` input comes back unchanged in shape. Needs ``x.ndim >= 2``.

        >>> import numpy as np
        >>> import funcnn as fn
        >>> fn.flatten(np.zeros((5, 28, 28), dtype=np.uint8)).shape
        (5, 784)
    """
    arr = _check_array("x", x)
    if arr.ndim < 2:
        raise InvalidArgumentError(
            f"x: expected a batch of samples (N, ...) with at least 2 dimensions, got shape "
            f"{arr.shape}"
        )
    # math.prod, not -1: numpy cannot infer -1 for an empty batch (0, 28, 28).
    return arr.reshape(arr.shape[0], math.prod(arr.shape[1:]))


def scale(x: U8Array, dtype: Any = np.float64) -> NDArray[np.floating[Any]]:
    """uint8 pixels 0-255 as floats in [0, 1] (``x / 255``), a new array of ``x``'s shape.

    ``dtype``: ``np.float32`` or ``np.float64`` (the default, as :func:`funcnn.init`).

        >>> import numpy as np
        >>> import funcnn as fn
        >>> fn.scale(np.array([0, 51, 255], dtype=np.uint8))
        array([0. , 0.2, 1. ])
        >>> fn.scale(np.array([255], dtype=np.uint8), np.float32).dtype
        dtype('float32')
    """
    pixels = _check_pixels("x", x)
    dt = check_float_dtype("dtype", dtype)
    out: NDArray[np.floating[Any]] = pixels.astype(dt)
    out /= dt.type(255)
    return out


def standardize(
    x: NDArray[Any],
    dtype: Any = None,
    *,
    mean: float = MNIST_MEAN,
    std: float = MNIST_STD,
) -> NDArray[np.floating[Any]]:
    """``(x / 255 - mean) / std`` for uint8 pixels, ``(x - mean) / std`` for floats in [0, 1].

    A new array of ``x``'s shape. The defaults are MNIST's training mean 0.1307 and std
    0.3081, so standardized training pixels have mean ~0 and std ~1. ``dtype``
    (``np.float32`` or ``np.float64``) defaults to float64 for uint8 input and to ``x``'s
    own dtype for float input. Float input must be finite and in [0, 1] (already scaled);
    other dtypes are rejected. :class:`funcnn.NonFiniteError` if ``mean`` or ``std`` push
    the result out of the dtype's range (e.g. ``std=1e-320``).

        >>> import numpy as np
        >>> import funcnn as fn
        >>> np.round(fn.standardize(np.array([0, 255], dtype=np.uint8), mean=0.5, std=0.5), 12)
        array([-1.,  1.])
        >>> float(np.round(fn.standardize(np.array([0.1307]))[0], 12))   # MNIST's mean -> 0
        0.0
    """
    arr = _check_array("x", x)
    for name, value in (("mean", mean), ("std", std)):
        if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
            raise ArgumentTypeError(f"{name}: expected a number, got {value!r}")
        if not math.isfinite(float(value)):
            raise InvalidArgumentError(f"{name}: expected a finite number, got {value}")
    if not float(std) > 0:
        raise InvalidArgumentError(f"std: expected a number > 0, got {std}")
    if arr.dtype == np.uint8:
        out = scale(cast(U8Array, arr), np.float64 if dtype is None else dtype)
    elif arr.dtype in (np.float32, np.float64):
        dt = check_float_dtype("dtype", arr.dtype if dtype is None else dtype)
        lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)
        if not (lo >= 0 and hi <= 1):  # NaN fails both
            raise InvalidArgumentError(
                f"x: float pixels must be finite and in [0, 1], found values in [{lo}, {hi}] "
                "(pass raw pixels as uint8, or scale them first with scale(x))"
            )
        out = arr.astype(dt, copy=True)
    else:
        raise ArgumentTypeError(
            f"x: expected uint8 pixels or float32/float64 values in [0, 1], got {arr.dtype}"
        )
    # Finite arguments can still leave the dtype's range: a mean or std beyond float32, a
    # std so small that (x - mean) / std overflows or that rounds to 0. The arithmetic runs
    # with those warnings off and the result is checked once instead.
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        out -= out.dtype.type(mean)
        out /= out.dtype.type(std)
    if out.size and not np.isfinite(out).all():
        raise NonFiniteError(
            f"std: (x - mean) / std is not representable in {out.dtype} for mean={mean}, "
            f"std={std}; expected a std that keeps the result finite (MNIST's is {MNIST_STD})"
        )
    return out


def one_hot(labels: Any, n_classes: int = 10, dtype: Any = np.float64) -> NDArray[Any]:
    """Integer ``labels`` of shape ``S`` as one-hot rows, shape ``S + (n_classes,)``.

    ``labels`` (e.g. ``(N,)``) must be integers in ``[0, n_classes)``; the result (e.g.
    ``(N, n_classes)``) has ``dtype`` (float64 by default; float32, or any numeric dtype),
    with a single 1 per row and 0 elsewhere. Out-of-range labels raise
    :class:`InvalidArgumentError` naming ``labels``, the value and its index.

        >>> import numpy as np
        >>> import funcnn as fn
        >>> fn.one_hot(np.array([0, 2]), n_classes=3)
        array([[1., 0., 0.],
               [0., 0., 1.]])
    """
    arr = ensure_array("labels", labels)
    if arr.dtype.kind not in "iu":
        raise ArgumentTypeError(f"labels: expected integer class labels, got dtype {arr.dtype}")
    n = check_positive_int("n_classes", n_classes)
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise ArgumentTypeError(f"dtype: not a numpy dtype: {dtype!r}") from exc
    if dt.kind not in "biuf":
        raise ArgumentTypeError(f"dtype: expected a numeric dtype, got {dt}")
    if arr.size:
        bad = (arr < 0) | (arr >= n)
        if bad.any():
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            index = where[0] if len(where) == 1 else where
            raise InvalidArgumentError(
                f"labels: must lie in [0, {n}) for n_classes={n}, found {int(arr[where])} "
                f"at index {index}"
            )
    out: NDArray[Any] = np.eye(n, dtype=dt)[arr.astype(np.intp, copy=False)]
    return out


def train_validation_split(
    x: NDArray[Any],
    y: NDArray[Any],
    rng: np.random.Generator,
    *,
    n_validation: int = 10_000,
) -> tuple[tuple[NDArray[Any], NDArray[Any]], tuple[NDArray[Any], NDArray[Any]]]:
    """Split ``(x, y)`` into ``(x_train, y_train), (x_val, y_val)`` at random, using ``rng``.

    ``x`` ``(N, ...)`` and ``y`` ``(N, ...)`` must have the same number of samples ``N``;
    ``n_validation`` of them (10,000 by default, MNIST's usual 50,000/10,000 split), drawn
    uniformly without replacement from ``rng`` (one ``rng.permutation(N)``, so the same
    seed gives the same split), form the validation set and the other ``N - n_validation``
    the training set. Both keep the samples' original order and their dtypes; the results
    are new arrays.

        >>> import numpy as np
        >>> import funcnn as fn
        >>> x, y = np.arange(20.0).reshape(10, 2), np.arange(10)
        >>> (x_train, y_train), (x_val, y_val) = fn.train_validation_split(
        ...     x, y, np.random.default_rng(0), n_validation=3)
        >>> x_train.shape, x_val.shape
        ((7, 2), (3, 2))
        >>> sorted(np.concatenate([y_train, y_val]).tolist()) == list(range(10))
        True
        >>> bool((np.diff(y_val) > 0).all())                  # the original order is kept
        True
    """
    xa = _check_array("x", x)
    ya = _check_array("y", y)
    if not isinstance(rng, np.random.Generator):
        raise ArgumentTypeError(
            f"rng: expected a numpy.random.Generator (np.random.default_rng(seed)), got "
            f"{type(rng).__name__}"
        )
    if xa.ndim == 0 or ya.ndim == 0 or xa.shape[0] != ya.shape[0]:
        raise InvalidArgumentError(
            f"x, y: expected the same number of samples, got shapes {xa.shape} and {ya.shape}"
        )
    n = xa.shape[0]
    k = check_positive_int("n_validation", n_validation)
    if k >= n:
        raise InvalidArgumentError(
            f"n_validation: must be less than the number of samples {n}, got {k}"
        )
    perm = rng.permutation(n)
    val_idx = np.sort(perm[:k])
    train_idx = np.sort(perm[k:])
    return (xa[train_idx], ya[train_idx]), (xa[val_idx], ya[val_idx])

"""Argument checks shared by the public functions.

Every check raises one of funcnn's own errors with a message that names the argument,
what was expected and what arrived. Nothing is broadcast, cast or clipped silently: a
check either returns its argument (possibly as a view with a canonical shape) or raises.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from funcnn.errors import ArgumentTypeError, InvalidArgumentError, NonFiniteError
from funcnn.typing import Array, FloatArray

__all__ = [
    "all_finite",
    "check_finite",
    "check_float_array",
    "check_float_dtype",
    "check_learning_rate",
    "check_positive_int",
    "check_result_finite",
    "check_targets",
    "ensure_array",
    "overflow_error",
]

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def ensure_array(name: str, value: Any) -> Array:
    """``value`` as a numpy array; lists and scalars are converted, other objects rejected."""
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, list | tuple | int | float | np.generic):
        try:
            return np.asarray(value)
        except ValueError as exc:
            # numpy refuses nested sequences of unequal lengths ("inhomogeneous shape").
            raise InvalidArgumentError(
                f"{name}: expected a rectangular array; nested sequences have unequal "
                f"lengths ({exc})"
            ) from None
    raise ArgumentTypeError(f"{name}: expected a numpy array, got {type(value).__name__}")


def check_float_dtype(name: str, dtype: Any) -> np.dtype[Any]:
    """``dtype`` as a numpy dtype, which must be float32 or float64."""
    try:
        dt: np.dtype[Any] = np.dtype(dtype)
    except TypeError as exc:
        raise ArgumentTypeError(f"{name}: expected float32 or float64, got {dtype!r}") from exc
    if dt not in _FLOAT_DTYPES:
        raise ArgumentTypeError(f"{name}: expected float32 or float64, got {dt}")
    return dt


def check_float_array(name: str, a: Any, min_ndim: int = 0) -> FloatArray:
    """``a`` if it is a float32/float64 array (or numpy scalar) with ``min_ndim``+ axes.

    The check of the exported primitives (activations, softmax, dense): cheap, so it
    can sit in front of every call, and strict, so a list or an integer array is a
    clear error instead of a silently promoted result.
    """
    if isinstance(a, np.generic):
        a = np.asarray(a)
    if not isinstance(a, np.ndarray):
        raise ArgumentTypeError(
            f"{name}: expected a float32 or float64 numpy array, got {type(a).__name__}"
        )
    if a.dtype not in _FLOAT_DTYPES:
        raise ArgumentTypeError(f"{name}: expected float32 or float64, got dtype {a.dtype}")
    if a.ndim < min_ndim:
        raise InvalidArgumentError(
            f"{name}: expected an array with at least {min_ndim} axes, got shape {a.shape}"
        )
    return a


_SMALL = 4096
"""Arrays up to this many elements are tested elementwise (a tiny temporary beats the
dot product's error-state bookkeeping)."""


def all_finite(a: Array) -> bool:
    """Whether ``a`` holds no NaN or infinity, in one read of ``a`` and no temporaries.

    For a contiguous float array one BLAS dot product ``a . a`` decides it (any NaN or
    inf makes it non-finite); only when that overflows, for small arrays, or for other
    layouts, does the elementwise test run.
    """
    if a.size > _SMALL and a.dtype.kind == "f" and a.flags.c_contiguous:
        flat = a.reshape(-1)
        with np.errstate(all="ignore"):
            if math.isfinite(float(np.dot(flat, flat))):
                return True
    return bool(np.isfinite(a).all())


def check_finite(name: str, a: Array) -> None:
    """Raise ``InvalidArgumentError`` if ``a`` holds NaN or infinity, naming the first."""
    if a.size and not all_finite(a):
        bad = np.argwhere(~np.isfinite(a))[0]
        where = tuple(int(i) for i in bad)
        raise InvalidArgumentError(
            f"{name}: expected finite values, found {a[where]} at index {where}"
        )


def check_result_finite(what: str, dtype: np.dtype[Any], *results: Any) -> None:
    """Raise ``NonFiniteError`` unless every result (floats or arrays) is finite.

    Called after a computation on finite, validated inputs, run under
    ``np.errstate(all="ignore")``: a non-finite result then means the true value is not
    representable in ``dtype``, and the caller must hear it rather than get inf or NaN.
    """
    for result in results:
        finite = all_finite(result) if isinstance(result, np.ndarray) else math.isfinite(result)
        if not finite:
            raise overflow_error(what, dtype)


def overflow_error(what: str, dtype: np.dtype[Any]) -> NonFiniteError:
    """The error for a result that overflowed ``dtype`` although the inputs are finite."""
    return NonFiniteError(
        f"{what}: the result overflows {dtype} although the inputs are finite; "
        "scale the inputs or parameters down"
    )


def _as_int(value: Any) -> int | None:
    """``value`` as an ``int`` if it is one: a Python or numpy integer, or a 0-d integer
    array (like an optimizer's ``state["count"]``); ``None`` for anything else, bools too."""
    if isinstance(value, bool | np.bool_):
        return None
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, np.ndarray) and value.shape == () and value.dtype.kind in "iu":
        return int(value)
    return None


def check_positive_int(name: str, value: Any) -> int:
    """``value`` as an ``int`` > 0: a Python or numpy integer, or a 0-d integer array;
    bools, floats and non-positive values are rejected."""
    number = _as_int(value)
    if number is None:
        raise ArgumentTypeError(f"{name}: expected a positive integer, got {value!r}")
    if number <= 0:
        raise InvalidArgumentError(f"{name}: expected a positive integer, got {number}")
    return number


def check_count(name: str, value: Any) -> int:
    """``value`` as an ``int`` >= 0 (a step or count), accepted as :func:`check_positive_int`
    accepts integers."""
    number = _as_int(value)
    if number is None:
        raise ArgumentTypeError(f"{name}: expected a non-negative integer, got {value!r}")
    if number < 0:
        raise InvalidArgumentError(f"{name}: expected a non-negative integer, got {number}")
    return number


def check_learning_rate(lr: Any, name: str = "lr") -> float:
    """``lr`` as a finite float > 0."""
    if isinstance(lr, bool) or not isinstance(lr, int | float | np.integer | np.floating):
        raise ArgumentTypeError(f"{name}: expected a positive number, got {lr!r}")
    value = float(lr)
    if not math.isfinite(value) or value <= 0:
        raise InvalidArgumentError(f"{name}: expected a finite number > 0, got {value}")
    return value


def check_targets(
    y: Any,
    batch: int,
    n_classes: int,
    dtype: np.dtype[Any],
    kind: str,
    name: str = "y",
) -> Array:
    """Validate labels or targets for a batch of ``batch`` outputs of width ``n_classes``.

    Integer labels of shape ``(batch,)`` must lie in ``[0, n_classes)`` (``{0, 1}`` when
    ``n_classes == 1`` and ``kind`` is not ``"distribution"``) and are returned as int64.
    Float targets must have shape ``(batch, n_classes)``, the outputs' ``dtype``, finite
    values, and fit ``kind``:
    ``"distribution"`` (non-negative rows summing to 1, for cross-entropy),
    ``"probability"`` (values in [0, 1], for binary cross-entropy) or ``"real"``.
    """
    arr = ensure_array(name, y)
    if arr.dtype.kind in "iu":
        if arr.shape != (batch,):
            raise InvalidArgumentError(
                f"{name}: integer labels must have shape ({batch},), got {arr.shape}"
            )
        upper = 2 if n_classes == 1 and kind != "distribution" else n_classes
        if arr.size and (arr.min() < 0 or arr.max() >= upper):
            bad = arr[(arr < 0) | (arr >= upper)][0]
            raise InvalidArgumentError(f"{name}: labels must lie in [0, {upper}), found {int(bad)}")
        return arr.astype(np.int64, copy=False)
    if arr.dtype.kind == "b":
        raise ArgumentTypeError(f"{name}: expected integer labels or float targets, got bool")
    if arr.dtype.kind != "f":
        raise ArgumentTypeError(
            f"{name}: expected integer labels or float targets, got dtype {arr.dtype}"
        )
    if arr.ndim == 1:
        raise InvalidArgumentError(
            f"{name}: float targets must have shape ({batch}, {n_classes}); got {arr.shape} "
            "(class labels must be an integer array)"
        )
    if arr.shape != (batch, n_classes):
        raise InvalidArgumentError(
            f"{name}: targets must have shape ({batch}, {n_classes}), got {arr.shape}"
        )
    if arr.dtype != dtype:
        raise ArgumentTypeError(f"{name}: targets must have dtype {dtype}, got {arr.dtype}")
    check_finite(name, arr)
    targets: FloatArray = arr
    if kind == "distribution":
        if (targets < 0).any():
            raise InvalidArgumentError(f"{name}: target probabilities must be >= 0")
        sums = targets.sum(axis=1)
        tol = 1e-3 if dtype == np.float32 else 1e-6
        bad_rows = np.flatnonzero(np.abs(sums - 1) > tol)
        if bad_rows.size:
            row = int(bad_rows[0])
            raise InvalidArgumentError(
                f"{name}: each target row must sum to 1 (one-hot or a distribution); "
                f"row {row} sums to {float(sums[row])}"
            )
    elif kind == "probability":
        if (targets < 0).any() or (targets > 1).any():
            raise InvalidArgumentError(f"{name}: binary targets must lie in [0, 1]")
    elif kind != "real":
        raise InvalidArgumentError(f"kind: unknown target kind {kind!r}")
    return targets

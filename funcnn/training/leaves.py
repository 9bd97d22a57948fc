"""Checks and arithmetic on parameter leaves, shared by :func:`funcnn.sgd_step` and the
optimizers: leaves that must match the params, hyperparameter ranges, the update step."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from funcnn.core.pytree import TreeDef, tree_flatten
from funcnn.core.validation import check_finite
from funcnn.errors import ArgumentTypeError, InvalidArgumentError
from funcnn.typing import Array

__all__ = [
    "check_fraction",
    "check_like",
    "check_non_negative",
    "descend",
    "dot_finite",
    "param_leaves",
]


def dot_finite(g: Array) -> bool:
    """Whether ``sum(g * g)`` is finite: then no square overflows (the cheap test)."""
    flat = g.reshape(-1)
    with np.errstate(all="ignore"):
        return bool(np.isfinite(np.dot(flat, flat)))


def descend(p: Array, d: Array, lr: float, out: Array, step: Array | None = None) -> None:
    """``out = p - lr * d`` in two passes and no temporary, ``lr * d`` going through
    ``step`` (default ``out``; either may alias ``d``): the one update step that
    :func:`sgd_step` and every optimizer end with."""
    step = out if step is None else step
    np.multiply(d, lr, out=step)
    np.subtract(p, step, out=out)


def check_like(
    name: str, tree: Any, ref_leaves: list[Any], ref_def: TreeDef, *, finite: bool = False
) -> list[Array]:
    """The leaves of ``tree``, checked to match ``ref`` in structure, shapes and dtypes."""
    leaves, treedef = tree_flatten(tree)
    if treedef != ref_def:
        raise InvalidArgumentError(f"{name}: structure {treedef} does not match params {ref_def}")
    for index, (p, g) in enumerate(zip(ref_leaves, leaves, strict=True)):
        if not isinstance(g, np.ndarray):
            raise ArgumentTypeError(
                f"{name}: leaf {index} is a {type(g).__name__}, expected a numpy array"
            )
        p_shape, p_dtype = getattr(p, "shape", None), getattr(p, "dtype", None)
        if g.shape != p_shape:
            raise InvalidArgumentError(
                f"{name}: leaf {index} has shape {g.shape}, params has {p_shape}"
            )
        if g.dtype != p_dtype:
            raise ArgumentTypeError(
                f"{name}: leaf {index} has dtype {g.dtype}, params has {p_dtype}"
            )
        if finite:
            check_finite(f"{name} leaf {index}", g)
    return leaves


def param_leaves(params: Any, *, finite: bool = True) -> tuple[list[Array], TreeDef]:
    leaves, treedef = tree_flatten(params)
    if not leaves:
        raise InvalidArgumentError("params: expected at least one array, got an empty pytree")
    for index, leaf in enumerate(leaves):
        if not isinstance(leaf, np.ndarray):
            raise ArgumentTypeError(
                f"params: leaf {index} is a {type(leaf).__name__}, expected a numpy array"
            )
        if leaf.dtype not in (np.float32, np.float64):
            raise ArgumentTypeError(
                f"params: leaf {index} has dtype {leaf.dtype}, expected float32 or float64"
            )
        if finite:
            check_finite(f"params leaf {index}", leaf)
    return leaves, treedef


def check_fraction(name: str, value: Any, *, allow_zero: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ArgumentTypeError(f"{name}: expected a number in [0, 1), got {value!r}")
    number = float(value)
    low_ok = number >= 0 if allow_zero else number > 0
    if not (math.isfinite(number) and low_ok and number < 1):
        interval = "[0, 1)" if allow_zero else "(0, 1)"
        raise InvalidArgumentError(f"{name}: expected a number in {interval}, got {number}")
    return number


def check_non_negative(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ArgumentTypeError(f"{name}: expected a finite number >= 0, got {value!r}")
    number = float(value)
    if not (math.isfinite(number) and number >= 0):
        raise InvalidArgumentError(f"{name}: expected a finite number >= 0, got {number}")
    return number

"""check_activation: an activation's derivative against finite differences of its own
value, at points spread over a range of inputs."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from funcnn.core.activations import ACTIVATIONS, Activation, get_activation
from funcnn.errors import ArgumentTypeError, InvalidArgumentError
from funcnn.typing import FloatArray, IntArray
from verification.catalogue.data import dtype_name
from verification.engine.bounds.error_model import derivative_rounding
from verification.engine.bounds.tolerances import (
    MODEL_SAFETY,
    STEP_UNIT,
    Tolerance,
    eps_of,
    rtol_for,
)
from verification.engine.common.arguments import check_float_dtype
from verification.engine.problems import check_problems
from verification.reporting.report import Report

__all__ = [
    "DEFAULT_RANGE",
    "activation_points",
    "check_activation",
]


DEFAULT_RANGE = (-1e6, 1e6)
"""The inputs :func:`check_activation` covers unless told otherwise."""


def activation_points(
    dtype: Any = np.float64, z_range: tuple[float, float] = DEFAULT_RANGE
) -> FloatArray:
    """Where activation derivatives are checked, in ``dtype``, sorted: 801 points on
    ``[-20, 20]`` (0 included), ``+-1e-3``, ``+-1e-8`` and magnitudes up to ``1e6``, those
    inside ``z_range = (lo, hi)``, plus ``lo`` and ``hi``; 801 points evenly spread on
    ``[lo, hi]`` when that range misses ``[-20, 20]``."""
    lo, hi = z_range
    big = np.array([25.0, 30.0, 40.0, 50.0, 100.0, 500.0, 700.0, 1e3, 1e4, 1e6])
    small = np.array([1e-3, 1e-8])
    grid = np.linspace(-20.0, 20.0, 801)
    if hi < -20.0 or lo > 20.0:
        grid = np.linspace(lo, hi, 801)
    points = np.concatenate([grid, big, -big, small, -small])
    points = np.concatenate([points[(points >= lo) & (points <= hi)], [lo, hi]]).astype(dtype)
    out: FloatArray = np.unique(points)
    return out


def _check_range(z_range: Any) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in z_range)
    except (TypeError, ValueError):
        raise ArgumentTypeError(
            f"z_range: expected a pair (lo, hi) of numbers, got {z_range!r}"
        ) from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise InvalidArgumentError(f"z_range: expected finite lo < hi, got ({lo}, {hi})")
    return lo, hi


def check_activation(
    name: str,
    dtype: Any = np.float64,
    *,
    activation: Activation | None = None,
    check: str | None = None,
    z_range: tuple[float, float] = DEFAULT_RANGE,
) -> Report:
    """``activation.derivative(z, fn(z))`` in ``dtype`` against scipy derivatives of
    ``activation.fn`` in float64 at :func:`activation_points` within ``z_range``.

    ``activation`` (a :class:`funcnn.Activation`) defaults to funcnn's activation
    ``name``; it is the function under test: its own ``fn``, evaluated in float64, is
    the reference whose finite differences its ``derivative`` must match. Points where
    ``fn`` itself overflows in float64 (e.g. ``exp`` beyond 709) are left out and counted in
    the note. A NaN or infinite derivative fails, with the worst index at it; an integer
    derivative is rejected. Stencils crossing one of its ``kinks`` are handled as in
    :mod:`verification.engine.derivatives.kinks` (at a kink the derivative must lie between
    the one-sided ones).

        >>> import numpy as np
        >>> import funcnn as fn
        >>> check_activation("tanh").passed
        True
        >>> wrong = fn.Activation("my_tanh", np.tanh, lambda z, a: 1 - a)   # forgot the square
        >>> check_activation("my_tanh", activation=wrong).passed
        False
    """
    dtype = check_float_dtype("dtype", dtype)
    lo, hi = _check_range(z_range)
    if activation is not None and not isinstance(activation, Activation):
        raise ArgumentTypeError(
            f"activation: expected a funcnn Activation or None, got {type(activation).__name__}"
        )
    act = activation or get_activation(name)
    check = check or f"activation/{name}/{dtype_name(dtype)}"
    z_all = activation_points(dtype, (lo, hi))
    with np.errstate(over="ignore", invalid="ignore"):
        base_all = np.asarray(act.fn(z_all.astype(np.float64)), dtype=np.float64)
    keep = np.isfinite(base_all)
    z, z64, base = z_all[keep], z_all[keep].astype(np.float64), base_all[keep]
    analytic = _derivative(act, z)
    kinks = np.asarray(act.kinks, dtype=np.float64)

    def fn(k: IntArray, t: FloatArray) -> tuple[FloatArray, Any]:
        moved = z64[k] + t
        flags = np.zeros(k.size, dtype=bool)
        for kink in kinks:
            flags |= (moved > kink) != (z64[k] > kink)
        with np.errstate(over="ignore", invalid="ignore"):
            return act.fn(moved) - base[k], flags

    tol = _tolerance(act, z, z64, base, dtype)
    steps = STEP_UNIT * np.maximum(1.0, np.abs(z64))
    noise = np.abs(base) + np.finfo(np.float64).tiny
    row = check_problems(check, "derivative", z.shape, analytic, fn, steps, noise, tol, dtype)
    note = f"z in [{lo:g}, {hi:g}], {z.size} points; index into z"
    if z.size < z_all.size:
        note += f"; {z_all.size - z.size} points where fn overflows in float64 left out"
    return Report((replace(row, note=note),), {})


def _derivative(act: Activation, z: FloatArray) -> FloatArray:
    """The derivative under test at ``z`` as float64; integers are a type error."""
    with np.errstate(all="ignore"):
        raw = np.asarray(act.derivative(z, act.fn(z)))
    if raw.dtype.kind != "f":
        raise ArgumentTypeError(
            f"activation.derivative: expected float values, got dtype {raw.dtype} "
            "(an integer derivative is truncated; return floats)"
        )
    if raw.shape != z.shape:
        raise InvalidArgumentError(
            f"activation.derivative: expected shape {z.shape} (one value per input), got "
            f"{raw.shape}"
        )
    out: FloatArray = raw.astype(np.float64)
    return out


def _tolerance(
    act: Activation, z: FloatArray, z64: FloatArray, base: FloatArray, dtype: Any
) -> Tolerance:
    """The derivative's rounding in ``dtype``, and underflow below the dtype's tiny.

    funcnn's activations have a rounding model each (:func:`derivative_rounding`); a
    user's is assumed to compute its derivative from the activation value, inheriting
    its rounding: ``3 u (|a| + |d|)``.
    """
    u = eps_of(dtype) / 2
    with np.errstate(all="ignore"):
        d_mag = np.abs(np.asarray(act.derivative(z64, base), dtype=np.float64))
        a_mag = np.abs(np.asarray(act.fn(z), dtype=np.float64))
    d_mag = np.where(np.isfinite(d_mag), d_mag, 0.0)
    a_mag = np.where(np.isfinite(a_mag), a_mag, 0.0)
    if ACTIVATIONS.get(act.name) is act:
        model = derivative_rounding(act.name, a_mag, d_mag, u)
    else:
        model = 3 * u * (a_mag + d_mag)
    return Tolerance(MODEL_SAFETY * model + float(np.finfo(np.dtype(dtype)).tiny),
                     rtol_for(dtype))

"""check_activation: an activation's derivative against finite differences of its own
value, at points spread over a range of inputs."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from funcnn.core.activations import Activation, get_activation
from funcnn.errors import ArgumentTypeError
from funcnn.typing import FloatArray, IntArray
from verification.arguments import check_float_dtype
from verification.data import dtype_name
from verification.error_model import derivative_rounding
from verification.problems import check_problems
from verification.report import Report
from verification.tolerances import (
    MODEL_SAFETY,
    STEP_UNIT,
    Tolerance,
    eps_of,
    rtol_for,
)

__all__ = [
    "activation_points",
    "check_activation",
]


def activation_points(dtype: Any = np.float64) -> FloatArray:
    """Where activation derivatives are checked: 801 points on [-20, 20] (0 included),
    ``+-1e-3``, ``+-1e-8`` and large magnitudes up to ``1e6``; in ``dtype``, sorted."""
    grid = np.linspace(-20.0, 20.0, 801)
    big = np.array([25.0, 30.0, 40.0, 50.0, 100.0, 500.0, 700.0, 1e3, 1e4, 1e6])
    small = np.array([1e-3, 1e-8])
    points = np.concatenate([grid, big, -big, small, -small]).astype(dtype)
    out: FloatArray = np.unique(points)
    return out


def check_activation(
    name: str,
    dtype: Any = np.float64,
    *,
    activation: Activation | None = None,
    check: str | None = None,
) -> Report:
    """``activation.derivative(z, fn(z))`` in ``dtype`` against scipy derivatives of
    ``fn`` in float64 at :func:`activation_points`.

    ``activation`` defaults to funcnn's; its ``fn`` is the reference function, its
    ``derivative`` is what is checked. Stencils crossing one of its ``kinks`` are handled
    as in :mod:`verification.kinks` (at a kink the derivative must lie between the
    one-sided ones).
    """
    dtype = check_float_dtype("dtype", dtype)
    if activation is not None and not isinstance(activation, Activation):
        raise ArgumentTypeError(
            f"activation: expected a funcnn Activation or None, got {type(activation).__name__}"
        )
    act = activation or get_activation(name)
    check = check or f"activation/{name}/{dtype_name(dtype)}"
    z = activation_points(dtype)
    z64 = z.astype(np.float64)
    analytic = np.asarray(act.derivative(z, act.fn(z)), dtype=np.float64)
    base = act.fn(z64)
    kinks = np.asarray(act.kinks, dtype=np.float64)

    def fn(k: IntArray, t: FloatArray) -> tuple[FloatArray, Any]:
        moved = z64[k] + t
        flags = np.zeros(k.size, dtype=bool)
        for kink in kinks:
            flags |= (moved > kink) != (z64[k] > kink)
        return act.fn(moved) - base[k], flags

    u = eps_of(dtype) / 2
    d_exact = np.abs(np.asarray(act.derivative(z64, base)))
    a_mag = np.abs(np.asarray(act.fn(z), dtype=np.float64))
    # The derivative's rounding in dtype, and underflow below the dtype's tiny.
    atol = MODEL_SAFETY * derivative_rounding(act.name, a_mag, d_exact, u)
    tol = Tolerance(atol + float(np.finfo(np.dtype(dtype)).tiny), rtol_for(dtype))
    steps = STEP_UNIT * np.maximum(1.0, np.abs(z64))
    noise = np.abs(base) + np.finfo(np.float64).tiny
    row = check_problems(check, "derivative", z.shape, analytic, fn, steps, noise, tol, dtype)
    return Report((replace(row, note=f"z in [-1e6, 1e6], {z.size} points; index into z"),), {})



"""Numerical derivatives of a perturbed loss, from ``scipy.differentiate.derivative``.

Every numerical derivative in the suite is one scalar problem ``d/dt F_k(t)`` at
``t = 0``: ``F_k(t) = L(theta + t e_i)`` for a coordinate, ``L(theta + t v)`` for a
direction, or one output of a small function. ``scipy.differentiate.derivative`` solves all
of them in one vectorised call: it asks for ``F`` at a whole array of offsets at once, which
a :class:`~verification.engine.evaluators.perturbed.PerturbedLoss` evaluates in bulk, and it
passes the problem number ``k`` along as an ``args`` array, compressed with the unfinished
problems, so each call knows which coordinate every offset belongs to.

What scipy gives per problem: the estimate ``df`` from a central (or one-sided) stencil
of order ``order``, refined each iteration by shrinking the step by ``step_factor``; an
error estimate ``|df - df_previous|``; and a status. Its defaults do not suit
parameters: ``initial_step=0.5`` is far outside the region where a network's loss is
polynomial, and the default ``atol`` (the smallest normal number) is unreachable where
the true derivative is 0. Callers here pass steps sized in units of the inputs a
coordinate moves and tolerances derived from the check's own tolerance
(:mod:`verification.engine.bounds.tolerances`).

scipy's error estimate measures how much the answer moved between the last two step
sizes; it says little about rounding once the step is small. :func:`stencil_rounding`
adds the rounding bound ``eps * |F| * sum|w| / h`` of the final stencil, so the error
reported is ``truncation + rounding``. :func:`richardson` is the fallback for callables
scipy cannot drive (not vectorisable): central differences at ``h`` and ``h/2``,
Richardson-extrapolated, with the same two-part error estimate.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.differentiate import derivative

from funcnn.errors import InvalidArgumentError
from funcnn.typing import FloatArray, IntArray

__all__ = [
    "STATUS_TEXT",
    "Derivative",
    "OffsetFunction",
    "derivatives",
    "richardson",
    "stencil_rounding",
    "stencil_weight_sum",
]

BoolArray = NDArray[np.bool_]

OffsetFunction = Callable[[IntArray, FloatArray], tuple[FloatArray, BoolArray]]
"""``fn(k, t) -> (F_k(t) - F_k(0), kink flags)``, elementwise over arrays ``k`` and ``t``."""

STATUS_TEXT = {
    0: "converged",
    -1: "error grew (rounding took over); best estimate kept",
    -2: "not converged within maxiter",
    -3: "non-finite value",
    -4: "stopped by callback",
    1: "in progress",
}
"""scipy.differentiate status codes."""

_EPS64 = float(np.finfo(np.float64).eps)


@dataclass(frozen=True)
class Derivative:
    """Numerical derivatives of ``m`` scalar problems, with what is known about each.

    All arrays have shape ``(m,)``. ``error = truncation + rounding``: ``truncation`` is
    scipy's ``|df - df_previous|`` (``nan`` if only one iteration ran), ``rounding`` the
    float64 rounding bound of the final stencil. ``step`` is the largest offset of the
    final stencil, ``status`` scipy's code (see :data:`STATUS_TEXT`), ``kink`` whether
    any evaluated point changed the activation pattern.
    """

    value: FloatArray
    error: FloatArray
    truncation: FloatArray
    rounding: FloatArray
    step: FloatArray
    status: NDArray[np.int32]
    nfev: NDArray[np.int32]
    kink: BoolArray

    def take(self, where: IntArray | BoolArray) -> Derivative:
        """The sub-result at ``where`` (indices or mask)."""
        return Derivative(
            **{name: getattr(self, name)[where] for name in self.__dataclass_fields__}
        )

    def put(self, where: IntArray | BoolArray, other: Derivative) -> Derivative:
        """A copy with the entries at ``where`` replaced by ``other``'s."""
        fields: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            arr = getattr(self, name).copy()
            arr[where] = getattr(other, name)
            fields[name] = arr
        return replace(self, **fields)


@cache
def stencil_weight_sum(order: int, step_factor: float, one_sided: bool) -> float:
    """``sum |w|`` of scipy's finite-difference weights (derivative ~ ``sum w f / h``).

    Mirrors the stencil of ``scipy.differentiate.derivative``: central points
    ``+-h / c**k`` (k < order/2), or one-sided points ``h / sqrt(c)**k`` (k < order).
    """
    n = (order + 1) // 2
    if not one_sided:
        i = np.arange(-n, n + 1)
        offsets = np.sign(i) / step_factor ** (np.abs(i) - 1.0)
    else:
        i = np.arange(2 * n + 1)
        offsets = np.sign(i) / math.sqrt(step_factor) ** (i - 1.0)
    A = np.vander(offsets, increasing=True).T
    b = np.zeros(2 * n + 1)
    b[1] = 1.0
    weights = np.linalg.solve(A, b)
    return float(np.sum(np.abs(weights)))


def stencil_rounding(
    noise_scale: float | FloatArray, step: FloatArray, order: int, step_factor: float,
    one_sided: bool,
) -> FloatArray:
    """Rounding bound of a stencil derivative: ``4 eps |F| sum|w| / h``.

    Each function value carries a relative rounding error of a few ``eps`` (the factor 4
    allows for the handful of roundings in a forward pass); the stencil multiplies them
    by its weights and divides by the step.
    """
    wsum = stencil_weight_sum(order, step_factor, one_sided)
    out: FloatArray = 4.0 * _EPS64 * noise_scale * wsum / np.abs(step)
    return out


def derivatives(
    fn: OffsetFunction,
    steps: FloatArray,
    *,
    noise_scale: float | FloatArray,
    order: int = 4,
    maxiter: int = 3,
    step_factor: float = 2.0,
    atol: float = 0.0,
    rtol: float = 0.0,
    step_direction: int | IntArray = 0,
) -> Derivative:
    """Derivatives at ``t = 0`` of the ``m = steps.size`` problems ``fn(k, .)``.

    ``steps`` (m,) are scipy's ``initial_step`` per problem; ``noise_scale`` (scalar or
    (m,)) the magnitude of ``F`` whose rounding bounds each evaluation's noise;
    ``atol``/``rtol`` its
    convergence tolerances (a problem stops refining once ``error < atol + rtol|df|``;
    the first iteration has no error estimate, so at least two always run when
    ``maxiter >= 2``). ``step_direction``: 0 central, +1/-1 one-sided (scalar or (m,)).
    """
    steps = np.asarray(steps, dtype=np.float64)
    m = steps.size
    if m == 0:
        empty = np.zeros(0)
        return Derivative(
            empty, empty, empty, empty, empty, np.zeros(0, np.int32), np.zeros(0, np.int32),
            np.zeros(0, dtype=bool),
        )
    if not np.all(np.isfinite(steps)) or np.any(steps <= 0):
        raise InvalidArgumentError("steps: expected finite positive initial steps")
    kink = np.zeros(m, dtype=bool)

    def f(t: FloatArray, k: FloatArray) -> FloatArray:
        k_b, t_b = np.broadcast_arrays(k, t)
        out = np.zeros(t_b.shape)
        moved = t_b != 0
        if moved.any():
            problems = k_b[moved].astype(np.int64)
            values, flags = fn(problems, t_b[moved])
            out[moved] = values
            kink[problems[flags]] = True
        return out

    direction = np.broadcast_to(np.asarray(step_direction), (m,))
    res = derivative(
        f,
        np.zeros(m),
        args=(np.arange(m),),
        tolerances={"atol": atol, "rtol": rtol},
        maxiter=maxiter,
        order=order,
        initial_step=steps,
        step_factor=step_factor,
        step_direction=direction,
    )
    final_step = steps / step_factor ** np.maximum(res.nit - 1, 0)
    one_sided = direction != 0
    rounding = np.where(
        one_sided,
        stencil_rounding(noise_scale, final_step, order, step_factor, True),
        stencil_rounding(noise_scale, final_step, order, step_factor, False),
    )
    truncation = np.asarray(res.error, dtype=np.float64)
    return Derivative(
        value=np.asarray(res.df, dtype=np.float64),
        error=truncation + rounding,
        truncation=truncation,
        rounding=rounding,
        step=final_step,
        status=np.asarray(res.status, dtype=np.int32),
        nfev=np.asarray(res.nfev, dtype=np.int32),
        kink=kink,
    )


def richardson(
    fn: Callable[[float], float], step: float, *, noise_scale: float | None = None
) -> tuple[float, float]:
    """Derivative at 0 of a scalar, non-vectorised ``fn`` and its error estimate.

    Central differences ``D(h) = (f(h) - f(-h)) / 2h`` at ``h`` and ``h/2`` combine into
    the fourth-order ``(4 D(h/2) - D(h)) / 3``; the error estimate is the truncation
    ``|D(h) - D(h/2)| / 3`` (the error of ``D(h/2)``, an upper estimate of the
    extrapolated value's) plus the rounding ``eps |f| / (h/2)``.
    """
    if not (math.isfinite(step) and step > 0):
        raise InvalidArgumentError(f"step: expected a finite positive step, got {step}")
    values = [fn(s) for s in (step, -step, step / 2, -step / 2)]
    d_h = (values[0] - values[1]) / (2 * step)
    d_h2 = (values[2] - values[3]) / step
    scale = max(abs(v) for v in values) if noise_scale is None else noise_scale
    estimate = (4 * d_h2 - d_h) / 3
    error = abs(d_h - d_h2) / 3 + 4 * _EPS64 * scale / (step / 2)
    return float(estimate), float(error)

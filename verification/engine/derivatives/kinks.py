"""Kinks: finite differences whose stencil crosses a relu or leaky-relu kink.

relu and leaky relu are not differentiable at 0. Our functions are pure, so a perturbed
evaluation can report whether its activation pattern (the ``z > 0`` masks of every kinked
layer) differs from the pattern at the unperturbed point; the evaluators in
:mod:`verification.engine.evaluators.perturbed` do exactly that for every point of every
stencil, which is stricter than comparing ``theta - h`` with ``theta + h`` only. A flagged
derivative is never used as it is:

1. it is recomputed with steps shrunk by :data:`SHRINK` (64, then 4096 times smaller):
   a kink at a distance ``d > 0`` from the point is then outside the stencil and the
   function is smooth (and differentiable) in it; most flags end here (*resolved*);
2. if the stencil still crosses a kink at the smallest step, the point sits on it (to
   float64 resolution): the left and right derivatives are computed with one-sided
   stencils (scipy ``step_direction=-1`` and ``+1``) and the analytic value is accepted
   only if it lies between them, within tolerance (verdict ``subgradient``), else the
   entry fails. The row reports how many entries took each route.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from funcnn.typing import FloatArray, IntArray
from verification.engine.derivatives.numeric import Derivative, OffsetFunction, derivatives

__all__ = ["SHRINK", "KinkResolution", "resolve_kinks"]

BoolArray = NDArray[np.bool_]

SHRINK = (64.0, 4096.0)
"""Successive step reductions for a stencil that crossed a kink."""


@dataclass(frozen=True)
class KinkResolution:
    """Derivatives after kink handling, with what happened to each entry.

    ``derivative`` holds the final central estimates; ``flagged`` the entries whose
    first stencil crossed a kink, ``resolved`` those a smaller step cleared, and
    ``at_kink`` those left on a kink, for which ``left`` and ``right`` hold one-sided
    derivatives (``nan`` elsewhere) with their error estimates.
    """

    derivative: Derivative
    flagged: BoolArray
    resolved: BoolArray
    at_kink: BoolArray
    left: FloatArray
    right: FloatArray
    left_error: FloatArray
    right_error: FloatArray


def resolve_kinks(
    fn: OffsetFunction,
    steps: FloatArray,
    first: Derivative,
    *,
    noise_scale: float | FloatArray,
    order: int,
    maxiter: int,
    step_factor: float,
    atol: float,
    rtol: float,
) -> KinkResolution:
    """Handle every flagged entry of ``first`` (computed by ``fn`` with ``steps``)."""
    m = steps.size
    flagged = first.kink.copy()
    result = first
    pending = np.flatnonzero(flagged)
    for shrink in SHRINK:
        if pending.size == 0:
            break
        sub = _restrict(fn, pending)
        again = derivatives(
            sub, steps[pending] / shrink, noise_scale=_take(noise_scale, pending), order=order,
            maxiter=maxiter, step_factor=step_factor, atol=atol, rtol=rtol,
        )
        result = result.put(pending, again)
        pending = pending[again.kink]
    at_kink = np.zeros(m, dtype=bool)
    at_kink[pending] = True
    resolved = flagged & ~at_kink
    left = np.full(m, np.nan)
    right = np.full(m, np.nan)
    left_error = np.full(m, np.nan)
    right_error = np.full(m, np.nan)
    if pending.size:
        sub = _restrict(fn, pending)
        small = steps[pending] / SHRINK[-1]
        for direction, value, error in ((-1, left, left_error), (1, right, right_error)):
            side = derivatives(
                sub, small, noise_scale=_take(noise_scale, pending), order=order, maxiter=maxiter,
                step_factor=step_factor, atol=atol, rtol=rtol, step_direction=direction,
            )
            value[pending] = side.value
            error[pending] = side.error
    return KinkResolution(result, flagged, resolved, at_kink, left, right, left_error, right_error)


def _take(values: float | FloatArray, members: IntArray) -> float | FloatArray:
    """``values[members]`` for a per-problem array, ``values`` itself for a scalar."""
    if np.ndim(values) == 0:
        return values
    out: FloatArray = np.asarray(values)[members]
    return out


def _restrict(fn: OffsetFunction, members: IntArray) -> OffsetFunction:
    """``fn`` seen through a renumbering: problem ``k`` of the result is ``members[k]``."""

    def sub(k: IntArray, t: FloatArray) -> tuple[FloatArray, BoolArray]:
        return fn(members[k], t)

    return sub

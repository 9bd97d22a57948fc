"""A three-evaluation first pass for losses that cost a whole call per point.

A black-box ``loss_fn`` pays a full forward pass for every perturbed point, so full mode
on a large network is dominated by the number of points per coordinate. scipy's nested
order-4 stencils need 6 to 8 points before they have an error estimate. The screen here
needs 3: ``F(-h)``, ``F(h)`` and ``F(2h)`` (``F(0)`` is the loss itself) give

- the cubic-interpolation derivative ``(-2F(-h) - 3F(0) + 6F(h) - F(2h)) / 6h``
  (truncation ``h^3 F'''' / 12``), the value reported, and
- the central difference ``(F(h) - F(-h)) / 2h`` (truncation ``h^2 F''' / 6``); their
  difference estimates the truncation of the less accurate one, an upper estimate of
  the reported value's, to which the stencil's float64 rounding bound is added.

An entry is *decided* by the screen when that error estimate is small against the
tolerance (``k e <= SCREEN_SLACK (atol + rtol |n|)``, so the estimate cannot be what
makes it pass) and the comparison is clear: a pass, or a miss by more than
``SCREEN_CLEAR`` times the bound. Every other entry (and every entry whose points
crossed a kink) is refined by the scipy path of :mod:`verification.engine.modes.compare`, which
also gives failures a second opinion. On a correct gradient almost every entry is
decided after 3 calls.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from funcnn.typing import FloatArray, IntArray
from verification.engine.bounds.tolerances import EPS64, Tolerance
from verification.engine.derivatives.kinks import KinkResolution
from verification.engine.derivatives.numeric import Derivative, OffsetFunction
from verification.engine.modes.compare import Numeric, no_kinks

__all__ = ["SCREEN_CLEAR", "SCREEN_SLACK", "SCREEN_STEP", "decided", "merge", "screen"]

BoolArray = NDArray[np.bool_]

SCREEN_STEP = 1e-4
"""Screen step per unit of ``max(1, |theta_i|)``: near the optimum ``(eps |F| / F''')^(1/3)``
of a central difference for losses of order 1, where rounding and truncation balance."""

SCREEN_SLACK = 16.0
"""How far ``k`` times the screen's error estimate may exceed ``atol + rtol |n|``."""

SCREEN_CLEAR = 4.0
"""A screened entry fails outright only when ``|a - n|`` exceeds its bound this often."""

_WEIGHT_SUM = 2.0
"""``sum |w|`` of the cubic stencil ``(-2, -3, 6, -1) / 6`` at ``(-h, 0, h, 2h)``."""


def screen(fn: OffsetFunction, steps: FloatArray, noise_scale: float | FloatArray) -> Derivative:
    """Derivatives at 0 of the problems ``fn(k, .)`` from three points each."""
    m = steps.size
    k = np.tile(np.arange(m), 3)
    values, flags = fn(k, np.concatenate([-steps, steps, 2 * steps]))
    f_minus, f_plus, f_two = values.reshape(3, m)
    with np.errstate(over="ignore", invalid="ignore"):
        central = (f_plus - f_minus) / (2 * steps)
        cubic = (-2 * f_minus + 6 * f_plus - f_two) / (6 * steps)
        truncation = np.abs(central - cubic)
    kink: BoolArray = np.any(np.asarray(flags, dtype=bool).reshape(3, m), axis=0, keepdims=False)
    rounding = 4.0 * EPS64 * np.asarray(noise_scale) * _WEIGHT_SUM / steps
    return Derivative(
        value=cubic,
        error=truncation + rounding,
        truncation=truncation,
        rounding=np.broadcast_to(rounding, (m,)).copy(),
        step=2 * steps,
        status=np.zeros(m, dtype=np.int32),
        nfev=np.full(m, 3, dtype=np.int32),
        kink=kink,
    )


def decided(analytic: FloatArray, first: Derivative, tol: Tolerance) -> BoolArray:
    """Entries whose verdict a refined numerical derivative could not change."""
    v = first.value
    with np.errstate(over="ignore", invalid="ignore"):
        diff = np.abs(analytic - v)
        bound = tol.bound(v, first.error)
        small_error = tol.k * first.error <= SCREEN_SLACK * (tol.atol + tol.rtol * np.abs(v))
        clear = (diff <= bound) | (diff > SCREEN_CLEAR * bound)
    out: BoolArray = np.isfinite(v) & np.isfinite(diff) & ~first.kink & small_error & clear
    return out


def merge(first: Derivative, members: IntArray, refined: Numeric) -> Numeric:
    """``first`` with the entries ``members`` (and their kink handling) from ``refined``."""
    base = no_kinks(first.put(members, refined.derivative))
    bool_fields = [base.flagged.copy(), base.resolved.copy(), base.at_kink.copy()]
    float_fields = [base.left.copy(), base.right.copy(), base.left_error.copy(),
                    base.right_error.copy()]
    new = refined.kinks
    for arr, values in zip(bool_fields, (new.flagged, new.resolved, new.at_kink), strict=True):
        arr[members] = values
    for farr, fvalues in zip(
        float_fields, (new.left, new.right, new.left_error, new.right_error), strict=True
    ):
        farr[members] = fvalues
    flagged, resolved, at_kink = bool_fields
    left, right, left_error, right_error = float_fields
    kinks = KinkResolution(base.derivative, flagged, resolved, at_kink, left, right, left_error,
                           right_error)
    return Numeric(kinks.derivative, kinks)

"""Tolerances of the gradient checks, derived from the dtype and the error estimates.

An analytic derivative ``a`` passes against a numerical one ``n`` with error estimate
``e`` when::

    |a - n| <= atol + rtol * |n| + k * e

with, for an analytic gradient computed in a dtype with machine epsilon ``eps``:

- ``k = K_ERROR = 2``. ``e`` is scipy's step-refinement error estimate plus the float64
  rounding bound of the final stencil (:mod:`verification.engine.derivatives.numeric`). Both
  are estimates, not bounds, hence the margin of 2; measured on 1,500 random correct float64
  networks (``python -m verification.engine.calibration``), the true numerical error ``|a -
  n|`` stays below 0.54 e (median over networks of the worst entry 0.05 e).
- ``rtol = sqrt(eps)``: 1.5e-8 for float64, 3.5e-4 for float32. It only has to cover
  what neither ``atol`` nor ``e`` models; half the dtype's digits is the conventional
  margin and is still tight enough that any real mistake (a wrong term, sign or scale)
  overshoots it by orders of magnitude.
- ``atol``, per entry: ``MODEL_SAFETY = 2`` times the first-order running error bound of
  the analytic gradient in that dtype (:mod:`verification.engine.bounds.error_model`), for funcnn
  networks and loss/activation checks; this is what lets float32 entries that pass
  through saturated sigmoids, cancel, or sit within rounding of a relu kink pass on
  correct code without loosening every other entry. The factor 2 covers the neglected
  second-order terms. Measured by the same command, ``|g32 - g64|`` never exceeded the
  bound itself in 1,500 random float32 networks, saturated ones included; it comes
  within 1% of it only on the explicit ``softmax_then_cross_entropy`` path, where
  float32 probabilities underflow and the bound is the whole lost term (36 networks).
  Below float64 the bound is capped at ``sqrt(eps)`` times the tensor's largest
  gradient wherever funcnn's own computation in that dtype stays within that (the
  running bound alone reaches 50 times the gradient on deep wide tanh networks, and
  would pass a gradient of zeros; see
  :func:`verification.engine.bounds.error_model.cap_by_measurement`).
  For an arbitrary ``grad_fn`` without a model, ``atol = sqrt(eps) * max |a|`` over the
  tensor: entries are then compared at the tensor's own scale.

Step sizes: scipy's nested central stencils of order ``ORDER = 4``, refined by
``STEP_FACTOR = 2``; the initial step is ``STEP_UNIT / s`` per coordinate, where ``s`` is
how far a unit step moves the pre-activations (``max |a|`` of the layer input for a
weight, 1 for a bias) and ``STEP_UNIT = 4 eps64**(1/5) ~ 3e-3``, the classic optimum
``eps**(1/(order + 1))`` of an order-4 formula with a safety factor of 4 (the second
iteration halves it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from funcnn.typing import FloatArray

__all__ = [
    "EPS64",
    "K_ERROR",
    "MAXITER",
    "MODEL_SAFETY",
    "ORDER",
    "STEP_FACTOR",
    "STEP_UNIT",
    "Tolerance",
    "eps_of",
    "inconclusive",
    "relative_floor",
    "rtol_for",
]

EPS64 = float(np.finfo(np.float64).eps)
"""Machine epsilon of float64, the precision of every numerical reference."""

K_ERROR = 2.0
"""Multiplier of the numerical error estimate in the pass condition."""

MODEL_SAFETY = 2.0
"""Multiplier of the analytic gradient's first-order rounding bound (its ``atol``)."""

ORDER = 4
"""Order of scipy's central difference stencil."""

STEP_FACTOR = 2.0
"""scipy's step reduction per iteration."""

MAXITER = 3
"""scipy iterations at most: the first has no error estimate, the second usually
converges, the third refines the few that did not."""

STEP_UNIT = 4 * EPS64 ** (1 / (ORDER + 1))
"""Initial step, in units of pre-activation change (~3e-3)."""

INCONCLUSIVE_FRACTION = 0.01
"""A numerical derivative whose ``k * error`` exceeds this fraction of the tensor's
gradient scale cannot tell a right entry from a wrong one: it is reported as
inconclusive, never silently passed."""


def eps_of(dtype: Any) -> float:
    """Machine epsilon of a float dtype."""
    return float(np.finfo(np.dtype(dtype)).eps)


def rtol_for(dtype: Any) -> float:
    """``sqrt(eps)`` of the dtype the analytic gradient was computed in."""
    return math.sqrt(eps_of(dtype))


def relative_floor(dtype: Any, scale: float) -> float:
    """Denominator floor of the reported relative error: ``sqrt(eps) * scale``.

    ``scale`` is the tensor's gradient scale (``max |numeric|``); relative errors of
    entries far below it are measured against it, not against their own tiny size.
    """
    return max(rtol_for(dtype) * scale, float(np.finfo(np.float64).tiny))


@dataclass(frozen=True)
class Tolerance:
    """``atol`` (scalar or per entry), ``rtol`` and ``k`` of one comparison.

    For example:

        >>> from verification import Tolerance
        >>> Tolerance(atol=1e-8, rtol=1e-6)
        Tolerance(atol=1e-08, rtol=1e-06, k=2.0)
    """

    atol: FloatArray | float
    rtol: float
    k: float = K_ERROR

    def bound(self, numeric: FloatArray, error: FloatArray) -> FloatArray:
        """``atol + rtol |numeric| + k error``, elementwise."""
        out: FloatArray = self.atol + self.rtol * np.abs(numeric) + self.k * error
        return out

    @staticmethod
    def for_model(dtype: Any, model_bound: FloatArray) -> Tolerance:
        """Tolerance for an analytic gradient whose rounding is bounded by ``model_bound``."""
        return Tolerance(MODEL_SAFETY * np.asarray(model_bound, dtype=np.float64), rtol_for(dtype))

    @staticmethod
    def for_scale(dtype: Any, scale: float) -> Tolerance:
        """Tolerance without an error model: ``atol = sqrt(eps) * scale``."""
        return Tolerance(rtol_for(dtype) * scale, rtol_for(dtype))


def inconclusive(
    truncation: FloatArray, rounding: FloatArray, scale: float | FloatArray, k: float = K_ERROR
) -> NDArray[np.bool_]:
    """Entries whose numerical derivative cannot decide the check.

    That is when ``k * error`` exceeds :data:`INCONCLUSIVE_FRACTION` of the tensor's
    gradient ``scale`` *and* the error is not just float64 rounding (``truncation >
    rounding``): the function is not smooth at the step scale. A derivative whose error
    is pure rounding is as good as float64 allows and stays decisive, even for a tensor
    whose gradients are all below that floor (it then shows that they are).
    """
    trunc = np.nan_to_num(truncation, nan=np.inf)
    out: NDArray[np.bool_] = (k * (trunc + rounding) > INCONCLUSIVE_FRACTION * scale) & (
        trunc > rounding
    )
    return out

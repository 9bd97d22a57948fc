"""The rounding-error bound of a loss gradient whose formula the error model has not
read: any :class:`~funcnn.Loss` beyond funcnn's built-in ones (a new registry entry, a
user's own loss), derived from measurements of its own gradient.

The built-in losses have hand-derived models in
:mod:`verification.engine.bounds.error_model`
(:func:`~verification.engine.bounds.error_model.loss_gradient_error`), which calls
this module for every other loss, so that a new loss needs no entry there.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from funcnn.core.losses import Loss
from funcnn.typing import FloatArray

__all__ = ["DERIVED_OPS", "derived_loss_error"]

DERIVED_OPS = 8
"""Roundings, relative to the gradient's own size, allowed in a loss gradient whose
formula the error model has not read (:func:`derived_loss_error`)."""


def derived_loss_error(
    loss: Loss, z: FloatArray, ez: FloatArray, t: FloatArray, u: float, tiny: float
) -> tuple[FloatArray, FloatArray]:
    """``(|dL/dz|, error bound)`` for a loss known only by its own ``value_and_grad``.

    Derived, conservatively, from three measurements of the loss's gradient ``g`` on
    these logits ``z`` and dense targets ``t`` (B, C):

    - sensitivity: ``2 max |g(z +- r) - g(z)|`` with ``r = ez + 4 u (|z| + |t|)``, the
      logits' own error plus the rounding of the inputs to the dtype; this is the
      second-derivative term of the built-in models, and where a kink lies within
      ``r`` it is the whole change of the gradient across it;
    - the formula's rounding: :data:`DERIVED_OPS` ``u |g|``, plus what the loss's
      gradient in the dtype of ``u`` (float32, float16) actually differs from its float64
      gradient here, doubled and capped at ``sqrt(eps) max |g|`` (so a gradient that is
      wrong only in the low dtype is not excused beyond the dtype's half digits);
    - underflow: ``tiny / B``.
    """
    batch = z.shape[0]
    g = _own_gradient(loss, z, t)
    reach = ez + 4 * u * (np.abs(z) + np.abs(t))
    shift = np.maximum(np.abs(_own_gradient(loss, z + reach, t) - g),
                       np.abs(_own_gradient(loss, z - reach, t) - g))
    err = 2 * shift + DERIVED_OPS * u * np.abs(g) + tiny / batch
    low = _dtype_of_roundoff(u)
    if low is not None:
        with np.errstate(all="ignore"):
            in_low = _own_gradient(loss, z.astype(low), t.astype(low))
            at_low = _own_gradient(loss, z.astype(low).astype(np.float64), t)
        measured = np.abs(in_low - at_low)
        cap = np.sqrt(2 * u) * float(np.max(np.abs(g), initial=0.0))
        err = err + np.where(np.isfinite(measured), np.minimum(2 * measured, cap), cap)
    return np.abs(g), err


def _own_gradient(loss: Loss, z: FloatArray, t: FloatArray) -> FloatArray:
    """``loss``'s own gradient at ``z`` for dense targets ``t``, as float64."""
    with np.errstate(all="ignore"):
        grad = loss.value_and_grad(z, t.astype(z.dtype))[1]
    return np.asarray(grad, dtype=np.float64)


def _dtype_of_roundoff(u: float) -> np.dtype[Any] | None:
    """The float dtype below float64 whose unit roundoff is ``u``, if any."""
    for dtype in (np.float32, np.float16):
        if u == float(np.finfo(dtype).eps) / 2:
            return np.dtype(dtype)
    return None

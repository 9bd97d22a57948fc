"""Independent float64 per-sample loss values, batched over any leading axes, and the
hidden activations the perturbed evaluators run.

The gradient checks evaluate a network's loss at many perturbed parameter vectors at
once, so they need each sample's loss, not only the batch mean that
:mod:`funcnn.core.losses` returns. These are written from the formulas in that module's
docstring, not by calling it, so a slip in funcnn's loss value cannot hide in the
reference; :func:`batch_loss` is compared with ``funcnn.core.network.loss`` before any check
trusts it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from funcnn.core.activations import get_activation
from funcnn.errors import InvalidArgumentError
from funcnn.typing import Array, FloatArray

__all__ = [
    "REFERENCE_LOSSES",
    "batch_loss",
    "dense_targets",
    "noise_scale",
    "per_sample_loss",
    "reference_activation",
    "sigmoid64",
]

REFERENCE_LOSSES = (
    "binary_cross_entropy",
    "mse",
    "softmax_binary_cross_entropy",
    "softmax_cross_entropy",
    "softmax_then_cross_entropy",
)
"""funcnn loss names this module has an independent per-sample formula for."""

_TINY = np.finfo(np.float64).tiny
_EPSNEG = np.finfo(np.float64).epsneg


def sigmoid64(z: FloatArray) -> FloatArray:
    """Logistic sigmoid ``1 / (1 + exp(-z))`` of a float64 array, as a new array.

    numpy's vectorised ``exp`` makes this about 3x faster than ``scipy.special.expit``
    (funcnn's sigmoid), which matters when a check evaluates the sigmoid on millions of
    perturbed pre-activations; it is within a few ulps of ``expit``. ``exp(-z)`` overflows
    to ``inf`` only for ``z < -709``, where the result, 0, is the sigmoid rounded to
    float64's normal range.
    """
    with np.errstate(over="ignore"):
        out: FloatArray = np.exp(np.negative(z))
    out += 1.0
    np.reciprocal(out, out=out)
    return out


def reference_activation(name: str) -> Callable[[FloatArray], FloatArray]:
    """The float64 hidden activation ``name`` as the evaluators compute it: funcnn's own
    function, except the sigmoid, for which :func:`sigmoid64` is faster."""
    if name == "sigmoid":
        return sigmoid64
    fn: Callable[[FloatArray], FloatArray] = get_activation(name).fn
    return fn


def dense_targets(y: Array, batch: int, n_out: int) -> FloatArray:
    """float64 targets ``(batch, n_out)``: one-hot for integer labels, else ``y`` cast.

    With ``n_out == 1`` integer labels are the 0/1 target itself, as in funcnn.
    """
    arr = np.asarray(y)
    if arr.dtype.kind in "iu":
        if n_out == 1:
            return arr.astype(np.float64).reshape(batch, 1)
        onehot = np.zeros((batch, n_out), dtype=np.float64)
        onehot[np.arange(batch), arr] = 1.0
        return onehot
    out: FloatArray = arr.astype(np.float64).reshape(batch, n_out)
    return out


def _log_softmax(z: FloatArray) -> FloatArray:
    shifted = z - np.max(z, axis=-1, keepdims=True)
    out: FloatArray = shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))
    return out


def per_sample_loss(name: str, z: FloatArray, t: FloatArray) -> FloatArray:
    """Each sample's loss for logits ``z`` (..., C) and dense targets ``t`` (..., C).

    Returns shape ``z.shape[:-1]`` in float64; the batch loss is the mean over the batch
    axis. ``name`` is one of :data:`REFERENCE_LOSSES`.
    """
    if name in ("softmax_cross_entropy", "softmax_then_cross_entropy"):
        logp = _log_softmax(z)
        if name == "softmax_then_cross_entropy":
            # funcnn clips p at the smallest normal number on the explicit path.
            logp = np.maximum(logp, np.log(_TINY))
        out: FloatArray = -np.sum(t * logp, axis=-1)
        return out
    if name == "mse":
        diff = z - t
        out = np.mean(diff * diff, axis=-1)
        return out
    if name == "binary_cross_entropy":
        out = np.mean(np.logaddexp(0.0, z) - t * z, axis=-1)
        return out
    if name == "softmax_binary_cross_entropy":
        p = np.clip(np.exp(_log_softmax(z)), _TINY, 1 - _EPSNEG)
        out = -np.mean(t * np.log(p) + (1 - t) * np.log1p(-p), axis=-1)
        return out
    raise InvalidArgumentError(
        f"loss: no reference formula for {name!r}; expected one of {list(REFERENCE_LOSSES)}"
    )


def batch_loss(name: str, z: FloatArray, y: Any) -> float:
    """Mean loss over the batch for logits ``z`` (B, C) and labels or targets ``y``."""
    batch, n_out = z.shape
    t = dense_targets(y, batch, n_out)
    return float(np.mean(per_sample_loss(name, z.astype(np.float64), t)))


def noise_scale(name: str, z: FloatArray, t: FloatArray) -> float:
    """The magnitude whose float64 rounding bounds the noise of one batch-loss evaluation.

    ``mean_b(|loss_b| + max_c |z_bc|)``: each sample's loss is computed from its logits
    with a few roundings relative to both. Softmax binary cross-entropy adds
    ``mean((1 - t) p / (1 - p))``: ``log(1 - p)`` for ``p`` near 1 inherits the rounding
    of ``p`` magnified by ``p / (1 - p)``, which can hide a whole derivative.
    """
    z64 = np.asarray(z, dtype=np.float64)
    ell = per_sample_loss(name, z64, t)
    scale = float(np.mean(np.abs(ell) + np.max(np.abs(z64), axis=-1)))
    if name == "softmax_binary_cross_entropy":
        p = np.clip(np.exp(_log_softmax(z64)), _TINY, 1 - _EPSNEG)
        scale += float(np.mean((1 - t) * p / (1 - p)))
    return scale
